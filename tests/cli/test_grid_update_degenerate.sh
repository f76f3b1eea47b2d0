# Grid updates from samples on degenerate data, through the whole program (CSV files made
# here, `distkan train` under mpirun): every run exits 0 with a finite final loss and
# strictly increasing knots in final_state.bin, and the trainer explains what it did.
#  (a) a constant input column: that input's grid is kept, and said so;
#  (b) data far outside [model] grid_range: the first layer's knots move onto the data;
#  (c) grid_eps = 0 with 90% of a column tied: grid_eps raised for that input, and said so;
#  (d) 3 training rows for G = 10 (13 coefficients): underdetermined fits, on 1 rank and on
#      3 ranks owning one row each, which agree; also with grid_eps = 0 (eps raised too);
#  (e) a single sample per update: every input kept;
#  (f) a column whose range is two float64 ulps: no strictly increasing knots, grid kept;
#  (g) float32, a column whose knots collide only when rounded to float: grid kept;
#  (h) a PDE: the boundary points' tied face coordinates are not update samples;
#  (i) float32, k = 7, a column spread over 1e-5: knots too close for the basis, grid kept;
#  (j) float64, k = 1, a subnormal column: knots too close, grid kept before LAPACK sees it;
#  (k) such knots from an extension after updates, on 2 ranks: one error, exit 1, no abort;
#  (l) float32, k = 7, a column spread over 1e7: knots too wide apart for the basis, grid kept.
source "$(dirname "$0")/../lib.sh"

# check_knots DIR: every knot row of DIR/final_state.bin is finite and strictly increasing
# (precision and layout from DIR/summary.json); the rows' first and last knots go to DIR.knots.
check_knots() {
    local dir=$1 dtype args
    dtype=$(sed -n 's/^ *"precision": "\(float[0-9]*\)".*/\1/p' "$dir/summary.json")
    args=$(awk 'function val(key,   i) { i = index($0, "\"" key "\": "); return substr($0, i + length(key) + 4) + 0 }
        /"final_params_layout"/ { part = 1 } /"final_state_layout"/ { part = 2 }
        part == 1 && /"in":/ { ins[np++] = val("in") }
        part == 2 && /"knots":/ { off[ns] = val("knots"); nk[ns++] = val("n_knots") }
        END { printf "%d", ns; for (l = 0; l < ns; l++) printf " %d %d %d", off[l], ins[l], nk[l] }' "$dir/summary.json")
    "$CHECK_KNOTS" "$dir/final_state.bin" "$dtype" $args > "$dir.knots" \
        || { cat "$dir.knots"; fail "$dir: knots are not finite and strictly increasing"; }
}

# knot_span DIR LAYER INPUT: "first last" knot of that row (after check_knots).
knot_span() {
    sed -n "s/^layer $2 input $3: knots \[\(.*\), \(.*\)\]$/\1 \2/p" "$1.knots"
}

# train NAME NP CONFIG ARGS...: a run that must succeed, with a finite final loss.
train() {
    local name=$1 np=$2 cfg=$3; shift 3
    run_ranks "$np" train "$cfg" --run-dir "$name" "$@" > "$name.log" 2>&1 || { cat "$name.log"; fail "$name failed"; }
    local loss
    loss=$(json_number "$name/summary.json" final_loss)
    awk -v a="$loss" 'BEGIN { exit !(a ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) }' || fail "$name: final loss '$loss' is not finite"
    check_knots "$name"
}

# expect_counters NAME UPDATES KEPT EPS_RAISED UNDERDETERMINED: NAME/metrics.jsonl has
# UPDATES grid_update events, each with these counters.
expect_counters() {
    local name=$1 updates=$2 want="$3 $4 $5" lines
    lines=$(grep '"event": "grid_update"' "$name/metrics.jsonl" \
        | sed 's/.*"inputs_kept": \([0-9]*\), "inputs_eps_raised": \([0-9]*\), "inputs_underdetermined": \([0-9]*\).*/\1 \2 \3/')
    [ "$(printf '%s\n' "$lines" | grep -c .)" -eq "$updates" ] || fail "$name: expected $updates grid updates"
    [ "$(printf '%s\n' "$lines" | sort -u)" = "$want" ] \
        || { printf '%s\n' "$lines"; fail "$name: expected kept, eps_raised, underdetermined = $want in every update"; }
}

# expect_line NAME TEXT: NAME.log has a line containing TEXT (fixed string).
expect_line() {
    grep -qF -- "$2" "$1.log" || { cat "$1.log"; fail "$1: no line with '$2'"; }
}

# close A B TOL: |A - B| <= TOL.
close() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'
}

# A small network, plain Adam, three grid updates (before steps 1, 6 and 11).
cat > base.ini <<'EOF'
[model]
widths = 2,3,1
grid = 5
k = 3
seed = 1

[train]
optimizer = adam
steps = 20
lr = 0.01
batch = 0
log_every = 1000

[grid]
update_every = 5
update_until = 12
update_samples = 100

[fit]
train_size = 0
test_size = 0
EOF

# (a) Column c is 0.5 in every row: layer 0 input 1 keeps its initial grid, -1..1 with
# G = 5 and k = 3 (knots -2.2 .. 2.2); the varying column gets knots from its samples.
awk 'BEGIN { print "x,c,y"; for (i = 0; i < 60; i++) { x = -1 + 2 * i / 59; printf "%.17g,0.5,%.17g\n", x, sin(3 * x) } }' > const.csv
train const 2 base.ini --set fit.csv=const.csv
expect_line const "1 input kept, 0 with grid_eps raised, 0 underdetermined, 0 refitted with anchors: layer 0 input 1: all 60 samples equal 0.5: grid kept"
expect_counters const 3 1 0 0
read -r lo hi <<< "$(knot_span const 0 1)"
close "$lo" -2.2 1e-12 && close "$hi" 2.2 1e-12 || fail "const: the constant input's knots moved to [$lo, $hi]"
echo "ok (a): constant input kept: $(grep -m 1 'inputs\? kept' const.log)"

# (b) x in [3, 7] and z in [-5, -2], far outside grid_range -1,1, with L-BFGS. After the
# updates the first layer's inner knots are the data range, so the extended knots are
# [3 - 3 h, 7 + 3 h] with h = 4/5 and [-5 - 3 h, -2 + 3 h] with h = 3/5. No degenerate input.
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 60; i++) { x = 3 + 4 * i / 59; z = -5 + 3 * ((i * 37) % 60) / 59
                                                       printf "%.17g,%.17g,%.17g\n", x, z, sin(x) + 0.1 * z } }' > outside.csv
train outside 1 base.ini --set fit.csv=outside.csv --set train.optimizer=lbfgs --set lbfgs.steps=15
expect_counters outside 3 0 0 0
grep -q "inputs\? kept" outside.log && { cat outside.log; fail "outside: an input was reported degenerate"; }
read -r lo hi <<< "$(knot_span outside 0 0)"
assert_less "$lo" 3 "outside: first knot of x"
assert_less 7 "$hi" "outside: last knot of x"
close "$lo" 0.6 1e-9 && close "$hi" 9.4 1e-9 || fail "outside: x knots [$lo, $hi], expected [0.6, 9.4]"
echo "ok (b): data outside grid_range: x knots [$lo, $hi], final loss $(json_number outside/summary.json final_loss)"
read -r lo hi <<< "$(knot_span outside 0 1)"
close "$lo" -6.8 1e-9 && close "$hi" -0.2 1e-9 || fail "outside: z knots [$lo, $hi], expected [-6.8, -0.2]"
# Without grid updates the same data trains on the initial grid, where the spline terms
# vanish: the run's header says which input leaves the grid and what to do.
train outside_fixed 1 base.ini --set fit.csv=outside.csv --set grid.update_every=0 --set train.steps=5
expect_line outside_fixed "warning: the training inputs leave [model] grid_range [-1, 1]: input 0 ('x') spans [3"
expect_line outside_fixed "(2 of 2 inputs outside); spline terms fade out beyond the grid"
! grep -q "leave \[model\] grid_range" outside.log || fail "outside: a run with grid updates warned about the grid range"
# In float32, data ending exactly at grid_range's ends (-0.1 and 0.1, neither a float) are
# the floats nearest them, as are the grid's end knots: inside, no warning (there was one).
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 60; i++) { x = -0.1 + 0.2 * i / 59; z = -0.1 + 0.2 * ((i * 37) % 60) / 59
                                                       printf "%.17g,%.17g,%.17g\n", x, z, x + z } }' > edges.csv
train edges32 1 base.ini --set fit.csv=edges.csv --set grid.update_every=0 --set train.steps=2 \
    --set model.precision=float32 --set model.grid_range=-0.1,0.1
! grep -q "leave \[model\] grid_range" edges32.log || { cat edges32.log; fail "edges32: data at the float32 grid's ends were called outside"; }
echo "ok (b'): without grid updates the inputs outside the grid are named"

# (c) grid_eps = 0, column t is 0.25 in 90 of 100 rows: the quantile knots collapse, so
# grid_eps is raised to 0.01 for that input only.
awk 'BEGIN { print "x,t,y"; for (i = 0; i < 100; i++) { x = -1 + 2 * i / 99; t = i % 10 == 3 ? x : 0.25
                                                        printf "%.17g,%.17g,%.17g\n", x, t, x * x + t } }' > tied.csv
train tied 2 base.ini --set fit.csv=tied.csv --set model.grid_eps=0
expect_line tied "0 inputs kept, 1 with grid_eps raised, 0 underdetermined, 0 refitted with anchors: layer 0 input 1: 90 of the 100 samples are tied (11 distinct values for 5 intervals): grid_eps raised to 0.01"
expect_counters tied 3 0 1 0
echo "ok (c): tied samples: $(grep -m 1 'grid_eps raised to' tied.log)"

# (d) 3 training rows, batch 3, G = 10: every input (2 in layer 0, 3 in layer 1) has 3
# distinct samples for 13 coefficients. 3 ranks own one row each and agree with 1 rank.
printf 'x,z,y\n-0.5,0.3,0.2\n0.1,-0.7,-0.4\n0.8,0.6,0.9\n' > few.csv
few=(--set fit.csv=few.csv --set model.grid=10 --set train.batch=3)
for np in 1 3; do
    train "few$np" "$np" base.ini "${few[@]}"
    expect_line "few$np" "0 inputs kept, 0 with grid_eps raised, 5 underdetermined, 0 refitted with anchors: layer 0 input 0: fit of rank 3 for 13 coefficients (3 distinct samples): minimum-norm solution"
    expect_counters "few$np" 3 0 0 5
done
for f in final_params.bin final_state.bin; do
    "$COMPARE_PARAMS" few1/$f few3/$f float64 1e-10 || fail "few: $f of 3 ranks differs from 1 rank"
done
# The same with grid_eps = 0: 3 quantiles for 10 intervals collapse, so eps is raised as well.
for np in 1 3; do
    train "few_eps0_$np" "$np" base.ini "${few[@]}" --set model.grid_eps=0
    expect_line "few_eps0_$np" "0 inputs kept, 5 with grid_eps raised, 5 underdetermined, 0 refitted with anchors: layer 0 input 0: 3 samples for 10 intervals put quantile knots closer than 0.01 of the uniform spacing: grid_eps raised to 0.01"
    expect_counters "few_eps0_$np" 3 0 5 5
done
"$COMPARE_PARAMS" few_eps0_1/final_params.bin few_eps0_3/final_params.bin float64 1e-10 \
    || fail "few, grid_eps 0: 3 ranks differ from 1 rank"
echo "ok (d): 3 samples for 13 coefficients: $(grep -m 1 'underdetermined:' few3.log | cut -c1-120)..."

# (e) update_samples = 1: a single sample spans no interval, every input is kept.
train one 3 base.ini "${few[@]}" --set grid.update_samples=1
expect_line one "5 inputs kept, 0 with grid_eps raised, 0 underdetermined, 0 refitted with anchors: layer 0 input 0: all 1 samples equal"
expect_counters one 3 5 0 0
# Every row still has the initial knots: -1..1 with G = 10 and k = 3 gives -1.6 .. 1.6.
while read -r row; do
    read -r lo hi <<< "$row"
    close "$lo" -1.6 1e-12 && close "$hi" 1.6 1e-12 || fail "one: a kept grid moved to [$lo, $hi]"
done < <(sed -n 's/^layer .* knots \[\(.*\), \(.*\)\]$/\1 \2/p' one.knots)
[ "$(wc -l < one.knots)" -eq 5 ] || fail "one: expected 5 knot rows"
echo "ok (e): one sample: every input kept"
# (f) Column x spans two float64 ulps at 1e8: its quantile knots, 1e-9 apart at most, do
# not increase strictly in float64, so that input keeps its initial grid.
printf 'x,z,y\n1e8,0.3,0.2\n100000000.0000000149,-0.7,-0.4\n100000000.0000000298,0.6,0.9\n' > narrow.csv
train narrow 1 base.ini "${few[@]}" --set fit.csv=narrow.csv
expect_line narrow "layer 0 input 0: samples in [1e+08, 1e+08] give no strictly increasing knots: grid kept"
grep -q '"event": "grid_update".*"inputs_kept": [1-5],' narrow/metrics.jsonl || fail "narrow: no input counted as kept"
read -r lo hi <<< "$(knot_span narrow 0 0)"
close "$lo" -1.6 1e-12 && close "$hi" 1.6 1e-12 || fail "narrow: the narrow input's knots moved to [$lo, $hi]"
echo "ok (f): range of two ulps: $(grep -m 1 -o 'layer 0 input 0: samples in[^;]*' narrow.log)"

# (g) float32, column x = 100 + 2e-5 (i mod 4): 4 distinct float32 values spanning 8 of
# their ulps, for G = 10: the knots increase in float64 but collide when stored as float32,
# so that input keeps its grid (it used to get repeated knots).
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 40; i++) { z = -1 + 2 * i / 39; printf "%.17g,%.17g,%.17g\n", 100 + 2e-5 * (i % 4), z, z * z } }' > f32.csv
train f32 2 base.ini --set fit.csv=f32.csv --set model.grid=10 --set model.precision=float32
expect_line f32 "layer 0 input 0: knots in [99.9999817, 100.000079] are not strictly increasing in float32: grid kept"
grep -q '"event": "grid_update".*"inputs_kept": 1,' f32/metrics.jsonl || fail "f32: the float32 collision is not counted as kept"
echo "ok (g): float32 knot collision: $(grep -m 1 -o 'layer 0 input 0: knots in[^;]*' f32.log)"

# (h) A PDE's boundary points share a coordinate per face: as update samples they piled the
# knots up at the box's edges and the residual's second derivatives blew up (G = 200: loss
# 2.0 -> 148). The update takes interior points only: its loss moves little.
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_pde.ini" --run-dir pde_faces --set model.grid=200 \
    --set train.optimizer=adam --set train.steps=1 --set grid.update_every=1 --set pde.interior_points=3000 \
    --set pde.boundary_points=400 --set pde.resample_every=0 --set grid.update_samples=3400 > pde_faces.log \
    || { cat pde_faces.log; fail "pde_faces: the run failed"; }
check_knots pde_faces
read -r before after < <(sed -n 's/.*"event": "grid_update".*"loss_before": \([^,]*\), "loss_after": \([^,]*\),.*/\1 \2/p' pde_faces/metrics.jsonl)
[ -n "$after" ] || { cat pde_faces/metrics.jsonl; fail "pde_faces: no grid update logged"; }
awk -v a="$before" -v b="$after" 'BEGIN { exit !(b < 1.1 * a) }' || fail "pde_faces: the update moved the loss $before -> $after"
grep -q "grid update at step 1 (G 200, 3000 samples)" pde_faces.log || fail "pde_faces: the update did not take the 3000 interior points"
echo "ok (h): PDE update from interior points only: loss $before -> $after at G = 200"

# (i) float32, k = 7, a column spread over [0, 1e-5]: quantile knots there would be about
# 1e-6 apart, below the 3.1e-5 that degree 7 allows in float32 (the basis's derivatives
# of order 7 would overflow, and the loss become NaN): that input keeps its grid.
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 40; i++) { z = -1 + 2 * i / 39; printf "%.17g,%.17g,%.17g\n", 1e-5 * i / 39, z, z * z } }' > narrow.csv
train narrow 1 base.ini --set fit.csv=narrow.csv --set model.precision=float32 --set model.k=7
expect_line narrow "that k = 7 allows in float32 (the basis's derivatives would overflow): grid kept"
grep -q '"event": "grid_update".*"inputs_kept": 1,' narrow/metrics.jsonl || fail "narrow: the input is not counted as kept"
echo "ok (i): knots too close for k = 7 in float32: $(grep -m 1 -o 'layer 0 input 0: knots in[^;]*' narrow.log)"

# (j) float64, k = 1, a column of subnormal numbers (up to 1e-309; awk cannot compute them,
# so they are written as text): knots that close would
# take LAPACK's SVD to a scale where it did not stop (the run hung, SIGTERM included; here
# CTest's time limit would fail it): that input keeps its grid before any fit.
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 40; i++) { z = -1 + 2 * i / 39; printf "%de-312,%.17g,%.17g\n", 25 * i, z, z * z } }' > subnormal.csv
train subnormal 1 base.ini --set fit.csv=subnormal.csv --set model.k=1
expect_line subnormal "that k = 1 allows in float64 (the basis's derivatives would overflow): grid kept"
echo "ok (j): subnormal samples in float64: $(grep -m 1 -o 'layer 0 input 0: knots in[^;]*' subnormal.log)"

# (k) The same limit at a grid extension: float32, k = 7, updates move the first layer's
# knots onto a column spread over [0, 1e-3] (about 2e-4 apart for G = 5), and the schedule
# then extends to G = 50: knots 1.9e-5 apart, below the limit. Every rank refines the same
# model and fails alike, so on 2 ranks the error is reported once and the ranks end
# together with exit 1 (it used to end the job through MPI_Abort, one traceback per rank).
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 100; i++) { x = 1e-3 * i / 99; z = -1 + 2 * ((i * 37) % 100) / 99
                                                        printf "%.9g,%.9g,%.9g\n", x, z, x + z * z } }' > narrow_ext.csv
status=0
run_ranks 2 train base.ini --run-dir narrow_ext --set fit.csv=narrow_ext.csv --set model.precision=float32 \
    --set model.k=7 --set grid.schedule=5,50 --set grid.steps=10,10 --set grid.update_until=6 > narrow_ext.log 2>&1 \
    || status=$?
[ "$status" -eq 1 ] || { cat narrow_ext.log; fail "narrow_ext: exit $status, expected 1"; }
[ "$(grep -c 'error (every rank stopped here): .*grid extension to G = 50: layer 0 input 0 has knots' narrow_ext.log)" -eq 1 ] \
    || { cat narrow_ext.log; fail "narrow_ext: expected the extension's error once, for every rank"; }
! grep -q "MPI_ABORT\|rank [01]: error" narrow_ext.log || { cat narrow_ext.log; fail "narrow_ext: the job was aborted"; }
echo "ok (k): knots too close after an extension, 2 ranks: $(grep -o 'would be [^,]* apart[^(]*' narrow_ext.log)"

# (l) float32, k = 7, a column in seconds over [0, 1e7]: quantile knots there would be about
# 2e6 apart, above the 3.2e4 that degree 7 allows in float32 (the pieces' powers of the
# spacing would overflow, and the loss become NaN): that input keeps its grid.
awk 'BEGIN { print "x,z,y"; for (i = 0; i < 40; i++) { z = -1 + 2 * i / 39; printf "%.17g,%.17g,%.17g\n", 1e7 * i / 39, z, z * z } }' > wide.csv
train wide 1 base.ini --set fit.csv=wide.csv --set model.precision=float32 --set model.k=7
expect_line wide "layer 0 input 0: knots in [-"
expect_line wide "apart, above the 3.18e+04 that k = 7 allows in float32 (the powers of the spacing in the basis's pieces would overflow; scale the inputs): grid kept"
grep -q '"event": "grid_update".*"inputs_kept": [1-9],' wide/metrics.jsonl || fail "wide: the input is not counted as kept"
echo "ok (l): knots too wide apart for k = 7 in float32: $(grep -m 1 -o 'layer 0 input 0: knots in[^;]*' wide.log)"

echo "grid updates on degenerate data: explained, counted, finite, strictly increasing knots"

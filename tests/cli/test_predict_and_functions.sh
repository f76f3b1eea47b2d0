# `distkan predict` and `distkan functions` on a real run's final checkpoint.
#  - predict on the PDE's evaluation grid reproduces the run's own rel_l2 and max_err, with
#    the exact solution computed here (awk), independently of distkan's evaluation code;
#  - functions writes every edge of every layer at the requested points, over each
#    input's grid range or the given one;
#  - bad command lines exit 2, bad models and points exit 1 naming the file, and an
#    existing --out file survives every failure.
source "$(dirname "$0")/../lib.sh"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"

run_ranks 2 train "$pde" --run-dir run --set pde.eval_grid=21 --set grid.schedule=5,7 --set grid.steps=20,15 \
    --set grid.update_every=10 --set checkpoint.every=10 --set checkpoint.keep=10 > train.log || { cat train.log; fail "the training run failed"; }

# The evaluation grid of a 2-D PDE: 21 x 21 points on [-1,1]^2, both ends included, the
# first coordinate varying slowest (tasks/dk_collocation.c).
awk 'BEGIN { n = 21; print "x,y";
             for (i = 0; i < n; i++) for (j = 0; j < n; j++) {
                 x = (i == n - 1) ? 1 : -1 + 2 * (i / (n - 1)); y = (j == n - 1) ? 1 : -1 + 2 * (j / (n - 1));
                 printf "%.17g,%.17g\n", x, y } }' > grid.csv
"$DISTKAN" predict run grid.csv --out pred.csv 2> predict.log || { cat predict.log; fail "predict failed"; }
grep -q "441 points evaluated with run/checkpoints/ckpt-" predict.log || { cat predict.log; fail "predict's report"; }
[ "$(head -n 1 pred.csv)" = "x,y,out" ] || fail "predict's header: $(head -n 1 pred.csv)"
[ "$(wc -l < pred.csv)" -eq 442 ] || fail "predict wrote $(wc -l < pred.csv) lines, expected 442"
read -r rel max < <(awk -F, 'NR > 1 { pi = 3.14159265358979323846; u = sin(pi * $1) * sin(pi * $2 * $2);
                                       d = $3 - u; n += d * d; s += u * u; if (d < 0) d = -d; if (d > m) m = d }
                             END { printf "%.17g %.17g\n", sqrt(n / s), m }' pred.csv)
want_rel=$(json_number run/summary.json rel_l2)
want_max=$(json_number run/summary.json max_err)
awk -v a="$rel" -v b="$want_rel" -v c="$max" -v d="$want_max" \
    'BEGIN { exit !(a - b <= 1e-12 * b && b - a <= 1e-12 * b && c == d) }' \
    || fail "rel_l2 $rel and max_err $max from predict's outputs, the run reported $want_rel and $want_max"
echo "ok: predict on the evaluation grid: rel_l2 $rel (run: $want_rel), max_err $max (run: $want_max)"

# Derivatives: the columns are there, and the first derivatives agree with central
# differences of predict's own outputs along x.
awk 'BEGIN { print "x,y"; h = 1e-5; for (p = 0; p < 7; p++) { x = -0.9 + 0.3 * p; y = 0.37 - 0.1 * p;
             printf "%.17g,%.17g\n%.17g,%.17g\n%.17g,%.17g\n", x, y, x + h, y, x - h, y } }' > fd.csv
"$DISTKAN" predict run/checkpoints fd.csv --derivatives --out fd_pred.csv 2> /dev/null || fail "predict --derivatives failed"
[ "$(head -n 1 fd_pred.csv)" = "x,y,out,d_out/d_x,d_out/d_y,d2_out/d_x^2,d2_out/d_y^2" ] \
    || fail "predict --derivatives' header: $(head -n 1 fd_pred.csv)"
awk -F, 'NR > 1 { r = (NR - 2) % 3; u[r] = $3; if (r == 0) d = $4;
                  if (r == 2) { fd = (u[1] - u[2]) / 2e-5; e = fd - d; if (e < 0) e = -e;
                                if (e > 1e-6 * (1 + (d < 0 ? -d : d))) { print "point", NR, d, fd; bad = 1 } } }
         END { exit bad }' fd_pred.csv || fail "d_out/d_x disagrees with differences of out"
# The outputs are the same numbers with or without --derivatives (the plain forward's).
"$DISTKAN" predict run grid.csv --derivatives 2> /dev/null | cut -d, -f1-3 | cmp -s - pred.csv \
    || fail "predict --derivatives wrote other outputs than predict"
echo "ok: predict --derivatives: du/dx matches central differences at 7 points; outputs as without it"

# functions: [2,4,1] has 8 + 4 edges.
"$DISTKAN" functions run --points 33 --out phi.csv 2> functions.log || { cat functions.log; fail "functions failed"; }
[ "$(head -n 1 phi.csv)" = "layer,input,output,x,phi,base,spline,mask" ] || fail "functions' header"
[ "$(wc -l < phi.csv)" -eq $(( 12 * 33 + 1 )) ] || fail "functions wrote $(wc -l < phi.csv) lines"
grep -q "12 edge functions at 33 points each" functions.log || { cat functions.log; fail "functions' report"; }
# After grid updates, each input's x runs over its own fitted range, not over [-1, 1].
awk -F, 'NR > 1 && $1 == 1 { if ($4 < lo || n == 0) lo = $4; if ($4 > hi || n == 0) hi = $4; n++ }
         END { exit !(n == 4 * 33 && (lo != -1 || hi != 1)) }' phi.csv \
    || fail "layer 1's x range should be its updated grid's"
# phi = mask (base + spline), row by row.
awk -F, 'NR > 1 { e = $5 - $8 * ($6 + $7); if (e < 0) e = -e; if (e > 1e-15 * (1 + ($5 < 0 ? -$5 : $5))) bad = 1 }
         END { exit bad }' phi.csv || fail "phi is not mask (base + spline)"
"$DISTKAN" functions run --points 3 --range -4,5 > range.csv 2> /dev/null || fail "functions --range failed"
awk -F, 'NR > 1 { c[$4]++ } END { exit !(c[-4] == 12 && c[0.5] == 12 && c[5] == 12 && length(c) == 3) }' range.csv \
    || fail "functions --range -4,5 --points 3 should give x = -4, 0.5, 5 on every edge"
# Under mpirun rank 0 alone writes: the same table, once.
run_ranks 2 functions run --points 33 --out phi_mpi.csv 2> /dev/null || fail "functions under mpirun failed"
cmp -s phi.csv phi_mpi.csv || fail "functions under mpirun -np 2 wrote another table"
echo "ok: functions: 12 edges x 33 points, updated ranges, phi = mask (base + spline), --range, under mpirun"

# Errors. The earlier output must survive each of them.
cp pred.csv kept.csv
expect_failure 2 "predict needs a MODEL" "$DISTKAN" predict run
expect_failure 2 "unknown option '--points'" "$DISTKAN" predict run grid.csv --points 5
expect_failure 2 "--points '1'" "$DISTKAN" functions run --points 1
expect_failure 2 "--points 'x'" "$DISTKAN" functions run --points x
expect_failure 2 "--range '3,2'" "$DISTKAN" functions run --range 3,2
expect_failure 2 "--range '1'" "$DISTKAN" functions run --range 1
# Blanks around values (a quoted argument) are taken alike on either side.
"$DISTKAN" functions run --points ' 3 ' --range ' -1 , 1 ' > spaced.csv 2> /dev/null || fail "blanks around values refused"
"$DISTKAN" functions run --points 3 --range -1,1 > plain.csv 2> /dev/null || fail "functions --points 3 failed"
cmp -s spaced.csv plain.csv || fail "blanks around values changed the table"
expect_failure 2 "unexpected argument 'extra'" "$DISTKAN" functions run extra
expect_failure 1 "nowhere: No such file" "$DISTKAN" predict nowhere grid.csv --out pred.csv
# A path of about PATH_MAX: the message still ends with the cause.
long=$(printf 'd%.0s' $(seq 250)); long="$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long/$long"
expect_failure 1 "$long: No such file or directory \(expected a checkpoint file" "$DISTKAN" predict "$long" grid.csv
printf 'x\n0.5\n' > one_column.csv
expect_failure 1 "one_column.csv:1: 1 column, but the model .* takes 2 inputs" \
    "$DISTKAN" predict run one_column.csv --out pred.csv
printf 'x,y\n0.5,0.1\n0.2,oops\n' > bad_row.csv
expect_failure 1 "bad_row.csv:3: column 2 \('y'\)" "$DISTKAN" predict run bad_row.csv --out pred.csv
mkdir empty
expect_failure 1 "empty holds no checkpoint" "$DISTKAN" functions empty --out pred.csv
cmp -s pred.csv kept.csv || fail "a failed predict changed the earlier pred.csv"
[ ! -e pred.csv.partial ] || fail "a failed predict left pred.csv.partial"
# A damaged checkpoint given by name is refused, naming the damaged part.
ckpt=$(ls run/checkpoints/ckpt-*.dkc | tail -n 1)
cp "$ckpt" damaged.dkc
size=$(stat -c %s damaged.dkc)
printf '\x55' | dd of=damaged.dkc bs=1 seek=$(( size - 5 )) conv=notrunc 2> /dev/null
expect_failure 1 "damaged.dkc: tensor .* checksum mismatch" "$DISTKAN" functions damaged.dkc --out pred.csv
cmp -s pred.csv kept.csv || fail "a failed functions changed the earlier pred.csv"
echo "ok: usage errors exit 2, bad models and points exit 1 naming the file; pred.csv kept"

# Where the table goes. The points file itself is refused; a link is followed (the file it
# names is replaced, the link stays); special files are written as streams; a pipe cannot
# be the points file (it is read twice).
cp grid.csv grid_copy.csv
expect_failure 2 "is the points file grid_copy.csv itself" "$DISTKAN" predict run grid_copy.csv --out grid_copy.csv
cmp -s grid.csv grid_copy.csv || fail "predict changed its points file"
ln -s pred.csv link.csv
"$DISTKAN" predict run grid.csv --out link.csv 2> /dev/null || fail "predict through a link failed"
[ -L link.csv ] || fail "the link was replaced by a file"
cmp -s pred.csv kept.csv || fail "the table written through the link differs"
# A replaced file keeps its permissions (a private table stays private); a new one is 0644
# less the umask.
cp kept.csv private.csv && chmod 600 private.csv
"$DISTKAN" predict run grid.csv --out private.csv 2> /dev/null || fail "predict over a private file failed"
[ "$(stat -c %a private.csv)" = 600 ] || fail "the replaced file's mode became $(stat -c %a private.csv)"
"$DISTKAN" predict run grid.csv --out fresh_table.csv 2> /dev/null || fail "predict to a new file failed"
[ "$(stat -c %a fresh_table.csv)" = "$(printf '%o' $((0644 & ~$(umask))))" ] \
    || fail "a new table has mode $(stat -c %a fresh_table.csv), umask $(umask)"
mkdir linked && ln -s linked/new.csv dangling.csv
"$DISTKAN" predict run grid.csv --out dangling.csv 2> /dev/null || fail "predict through a dangling link failed"
[ -L dangling.csv ] && cmp -s linked/new.csv kept.csv || fail "a dangling link's target was not written as the table"
"$DISTKAN" predict run grid.csv --out /dev/stdout 2> /dev/null | cmp -s - kept.csv || fail "--out /dev/stdout"
"$DISTKAN" predict run grid.csv --out /dev/null 2> /dev/null || fail "--out /dev/null failed"
expect_failure 2 "/dev/stdin is not a regular file: CSV data is read twice" \
    bash -c "cat grid.csv | '$DISTKAN' predict run /dev/stdin"
# Beyond the file size limit (ulimit -f: 8 KiB, the table is about 24 KiB) the write fails
# with EFBIG: exit 1 naming the cause, no partial table, the earlier file as it was.
cp kept.csv limited.csv
rc=0; (ulimit -f 8; exec "$DISTKAN" predict run grid.csv --out limited.csv) 2> limited.err || rc=$?
[ "$rc" -eq 1 ] || { cat limited.err; fail "predict beyond the file size limit exited $rc, expected 1"; }
grep -q "File too large" limited.err || { cat limited.err; fail "the size limit's message does not name the cause"; }
[ ! -e limited.csv.partial ] || fail "the size limit left limited.csv.partial"
cmp -s limited.csv kept.csv || fail "the size limit changed the earlier limited.csv"
echo "ok: beyond the file size limit: exit 1, $(grep -o 'File too large' limited.err), no partial, earlier file kept"
# Nor may the table replace a trained model or a run's files: the checkpoint it reads (by
# its name or another), any checkpoint name, a run's outputs, logs, lock file and note.
cp -r run guarded
ckpt=guarded/checkpoints/ckpt-000000000035.dkc
cp "$ckpt" model_copy.bin
sums=$(cat guarded/checkpoints/* guarded/config.ini guarded/summary.json model_copy.bin | cksum)
expect_failure 2 "--out $ckpt is a distkan checkpoint" "$DISTKAN" predict guarded grid.csv --out "$ckpt"
expect_failure 2 "--out model_copy.bin is a distkan checkpoint" "$DISTKAN" functions model_copy.bin --out model_copy.bin
expect_failure 2 "ckpt-000000000099.dkc is a checkpoint's name" \
    "$DISTKAN" predict guarded grid.csv --out guarded/checkpoints/ckpt-000000000099.dkc
for f in config.ini summary.json final_params.bin metrics.jsonl; do
    expect_failure 2 "--out guarded/$f would replace the $f of the run in guarded" \
        "$DISTKAN" functions guarded --out guarded/$f
done
expect_failure 2 "--out guarded/.distkan.lock: .distkan.lock is the lock file of runs in guarded" \
    "$DISTKAN" functions guarded --out guarded/.distkan.lock
expect_failure 2 "--out guarded/.distkan.checkpoints: .distkan.checkpoints is where a run notes its checkpoint" \
    "$DISTKAN" functions guarded --out guarded/.distkan.checkpoints
# Also where the lock file is gone (a scratch purge) and in results set aside: two of a
# run's outputs, or a stopped run's log, mark a run's directory; its log is guarded too.
cp -r run unlocked && rm -f unlocked/.distkan.lock
expect_failure 2 "--out unlocked/summary.json would replace the summary.json of the run in unlocked" \
    "$DISTKAN" functions guarded --out unlocked/summary.json
mkdir stopped && printf '{"step": 1}\n' > stopped/metrics.jsonl.partial
expect_failure 2 "--out stopped/metrics.jsonl.partial would replace the metrics.jsonl.partial of the run in stopped" \
    "$DISTKAN" functions guarded --out stopped/metrics.jsonl.partial
[ "$(cat stopped/metrics.jsonl.partial)" = '{"step": 1}' ] || fail "a refused --out changed a stopped run's log"
# A directory that is not there is named as given, not the temporary file's name.
expect_failure 1 "--out nodir/x.csv: cannot use the directory nodir: No such file or directory" \
    "$DISTKAN" functions guarded --out nodir/x.csv
grep -q "partial" err.txt && fail "the message names the temporary file: $(cat err.txt)"
mkdir own && printf '[train]\nsteps = 5\n' > own/config.ini
"$DISTKAN" functions guarded --out own/summary.json 2> /dev/null || fail "a directory with only a config.ini was taken for a run's"
ln -s guarded/summary.json summary_link.json
expect_failure 2 "--out summary_link.json would replace the summary.json of the run" \
    "$DISTKAN" predict guarded grid.csv --out summary_link.json
[ "$(cat guarded/checkpoints/* guarded/config.ini guarded/summary.json model_copy.bin | cksum)" = "$sums" ] \
    || fail "a refused --out changed the run's files"
ls guarded/checkpoints | grep -qv '^ckpt-0000000000[1-3][05]\.dkc$' && fail "a refused --out left a file: $(ls guarded/checkpoints)"
"$DISTKAN" predict guarded grid.csv --out guarded/pred.csv 2> /dev/null || fail "a new file in the run directory was refused"
cmp -s guarded/pred.csv kept.csv || fail "the table in the run directory differs"
# A column named like the outputs: the outputs take another name.
printf 'x,out\n0.5,0.5\n' > named.csv
"$DISTKAN" predict run named.csv 2> /dev/null | head -n 1 | grep -qx 'x,out,predicted' || fail "output name clash"
printf 'x,d_out/d_x\n0.5,0.5\n' > named_d.csv
"$DISTKAN" predict run named_d.csv --derivatives 2> /dev/null | head -n 1 \
    | grep -qx 'x,d_out/d_x,predicted,d_predicted/d_x,d_predicted/d_d_out/d_x,d2_predicted/d_x^2,d2_predicted/d_d_out/d_x^2' \
    || fail "a column named like a derivative: $("$DISTKAN" predict run named_d.csv --derivatives 2> /dev/null | head -n 1)"
# Every usual name taken (a 2-input model, its target column included): the outputs become
# out_v2. Inputs that share a name cannot label derivative columns: refused, nothing written.
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir two --set train.steps=2 > /dev/null \
    || fail "the 2-input run failed"
printf 'out,predicted,model_out\n0.1,0.2,2\n' > taken.csv
"$DISTKAN" predict two taken.csv 2> /dev/null | head -n 1 | grep -qx 'out,predicted,model_out,out_v2' \
    || fail "all usual output names taken: $("$DISTKAN" predict two taken.csv 2> /dev/null | head -n 1)"
# Several outputs with every usual name taken: out0_v2, out1_v2 (out_v20 read as version 20).
awk 'BEGIN { print "x,a,b"; for (i = 0; i < 40; i++) { x = -1 + 2 * i / 39; printf "%.17g,%.17g,%.17g\n", x, x * x, -x } }' \
    > two_targets.csv
printf '[model]\nwidths = 1,3,2\n[train]\nsteps = 2\n[fit]\ncsv = two_targets.csv\ntarget_columns = 2\ntrain_size = 0\ntest_size = 0\n' \
    > two_out.ini
"$DISTKAN" train two_out.ini --run-dir two_out > /dev/null || fail "the 2-output run failed"
printf 'out0,predicted1,model_out0\n0.1,0.2,2\n' > taken2.csv
"$DISTKAN" predict two_out taken2.csv --derivatives 2> /dev/null | head -n 1 \
    | grep -qx 'out0,predicted1,model_out0,out0_v2,out1_v2,d_out0_v2/d_out0,d2_out0_v2/d_out0^2,d_out1_v2/d_out0,d2_out1_v2/d_out0^2' \
    || fail "2 outputs, usual names taken: $("$DISTKAN" predict two_out taken2.csv --derivatives 2> /dev/null | head -n 1)"
# Points beyond the model's grid for an input ([-1, 1], with k = 3 extension intervals of
# h = 0.4: [-2.2, 2.2]) draw one warning per such input on stderr, naming its column and
# counting the points where the spline basis has lost more than 0.1% of its weight,
# ((1 - |x|)/h)^3 / 6 within the first extension interval: x = -3, 2.5 (past the extended
# grid) and 1.2 (0.021), not 1.01 (2.6e-6, nor y = 1.01). The table is as before, row by
# row (a row's values depend on that row alone).
printf 'x,y\n-3,0.5\n0.2,0.1\n2.5,-0.3\n1,-1\n1.01,1.01\n1.2,0\n' > beyond.csv
"$DISTKAN" predict two beyond.csv > beyond_pred.csv 2> beyond.log || { cat beyond.log; fail "predict beyond the grid failed"; }
grep -qxF "distkan: warning: the points of beyond.csv leave the model's grid for input 0 ('x'), [-1, 1]: the input spans [-3, 2.5] (3 of 6 points far enough outside for the spline terms to lose more than 0.1% of their weight); spline terms fade out beyond the grid, and vanish k = 3 knot intervals past it (outside [-2.2, 2.2]): there the model extrapolates" beyond.log \
    || { cat beyond.log; fail "no warning for points beyond the grid of input x"; }
[ "$(grep -c warning beyond.log)" -eq 1 ] || { cat beyond.log; fail "input y (at most 1.01) was warned of"; }
for row in 2 3 4 5 6 7; do
    sed -n "1p;${row}p" beyond.csv > one_row.csv
    "$DISTKAN" predict two one_row.csv 2> /dev/null | sed -n 2p | cmp -s - <(sed -n "${row}p" beyond_pred.csv) \
        || fail "row $row of the table beyond the grid differs from its own prediction"
done
"$DISTKAN" predict two taken.csv 2>&1 > /dev/null | grep -q "leave the model's grid" \
    && fail "points inside the grid were warned of"
printf 'x,x\n0.1,0.2\n' > same.csv
expect_failure 1 "same.csv:1: columns 1 and 2 are both named 'x'" "$DISTKAN" predict two same.csv --derivatives \
    --out same_out.csv
[ ! -e same_out.csv ] || fail "a refused predict wrote its --out file"
"$DISTKAN" predict two same.csv > /dev/null 2>&1 || fail "inputs sharing a name were refused without --derivatives"
# Ranges at the ends of the doubles stay finite; subnormal bounds are numbers too.
"$DISTKAN" functions run --points 5 --range -1e308,1e308 2> /dev/null | awk -F, 'NR > 1 && ($4 + 0 != $4 || $4 ~ /nan|inf/) { bad = 1 }
    END { exit bad }' || fail "functions --range -1e308,1e308 printed non-finite x"
"$DISTKAN" functions run --points 2 --range -1,1e-320 > /dev/null 2>&1 || fail "--range -1,1e-320 was refused"
echo "ok: --out: the points file refused, links followed, special files streamed; names distinct"

# A run directory whose run had its own [checkpoint] dir: its config.ini says where the
# checkpoints are (a relative dir is taken from here, where the run would have started),
# even when a checkpoints/ beside it holds an earlier run's (here: an older step's) model.
[ "$(ls run/checkpoints | head -n 1)" = ckpt-000000000010.dkc ] || fail "expected checkpoints from step 10 on: $(ls run/checkpoints)"
cp -r run custom_run
mv custom_run/checkpoints custom_ckpts
mkdir custom_run/checkpoints
cp run/checkpoints/ckpt-000000000010.dkc custom_run/checkpoints/
sed -i '/^\[checkpoint\]/,/^\[/ s|^dir = .*|dir = custom_ckpts|' custom_run/config.ini
grep -qx 'dir = custom_ckpts' custom_run/config.ini || fail "config.ini has no [checkpoint] dir line to set"
"$DISTKAN" predict custom_run grid.csv --out custom_pred.csv 2> custom.log || { cat custom.log; fail "predict on a run with its own checkpoint dir"; }
grep -q "evaluated with custom_ckpts/ckpt-000000000035.dkc" custom.log || { cat custom.log; fail "predict's report names another checkpoint"; }
! grep -q warning custom.log || { cat custom.log; fail "a warning for the run's own final checkpoint"; }
cmp -s custom_pred.csv kept.csv || fail "predict through [checkpoint] dir wrote another table"
mv custom_ckpts moved_ckpts
expect_failure 1 "custom_run: its config.ini sets \[checkpoint\] dir = custom_ckpts, which is not a directory from here" \
    "$DISTKAN" predict custom_run grid.csv --out custom_pred.csv
# A run started elsewhere with a relative [checkpoint] dir: from here that dir does not
# resolve, and the absolute path its start noted in the run directory is taken.
mkdir started_there
(cd started_there && "$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir there --set train.steps=3 \
    --set checkpoint.dir=rel_ckpts > /dev/null) || fail "the run with a relative checkpoint dir failed"
"$DISTKAN" predict started_there/there grid.csv --out there.csv 2> there.log || { cat there.log; fail "predict on a run started elsewhere"; }
grep -q "evaluated with $PWD/started_there/rel_ckpts/ckpt-000000000003.dkc" there.log || { cat there.log; fail "not the noted checkpoint"; }
# Also where a directory of that name here holds another run's checkpoints (a run started
# here with the same relative [checkpoint] dir): the note decides, not the name.
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir here_run --set train.steps=7 \
    --set checkpoint.dir=rel_ckpts > /dev/null || fail "the run here with the same relative checkpoint dir failed"
"$DISTKAN" predict started_there/there grid.csv --out there_again.csv 2> there_again.log || { cat there_again.log; fail "predict failed"; }
grep -q "evaluated with $PWD/started_there/rel_ckpts/ckpt-000000000003.dkc" there_again.log \
    || { cat there_again.log; fail "a same-named directory here was taken over the run's noted one"; }
cmp -s there.csv there_again.csv || fail "the run's table changed with another run's checkpoints here"
# A run whose newest checkpoint is older than its end ([checkpoint] final = false): the
# model is that checkpoint's, and predict says so.
cp -r run early_run
rm early_run/checkpoints/ckpt-00000000003[05].dkc
"$DISTKAN" predict early_run grid.csv --out early_pred.csv 2> early.log || { cat early.log; fail "predict on early_run"; }
grep -q "warning: the run in early_run ended at step 35 (its summary.json), but the newest checkpoint in early_run/checkpoints is step 20" early.log \
    || { cat early.log; fail "no warning that the checkpoint is older than the run's end"; }
! cmp -s early_pred.csv kept.csv || fail "step 20's model gave step 35's table"
# inspect takes a run directory too, and lists the checkpoints predict would choose from.
"$DISTKAN" inspect run > inspect_run.txt || { cat inspect_run.txt; fail "inspect on a run directory"; }
[ "$(head -n 1 inspect_run.txt)" = "checkpoints of the run in run: run/checkpoints" ] || fail "inspect run: $(head -n 1 inspect_run.txt)"
grep -qx "4 of 4 checkpoints valid" inspect_run.txt || fail "inspect run: $(tail -n 1 inspect_run.txt)"
expect_failure 1 "empty holds no checkpoints \(ckpt-<step>.dkc\) and is no run directory" "$DISTKAN" inspect empty
echo "ok: a run directory's [checkpoint] dir is found through its config.ini; an older checkpoint than the run's end is named"

# Interrupted (SIGTERM) while reading or writing: no .partial is left behind.
awk 'BEGIN { print "x,y"; for (i = 0; i < 1000000; i++) printf "%.6f,%.6f\n", (i % 1999) / 1000 - 1, (i % 997) / 500 - 1 }' > big.csv
# `timeout` signals twice (the process, then its group): the second must not cut the
# handler short. Three moments: while reading, while writing, near the end.
for t in 0.4 0.9 1.4; do
    rc=0; timeout -s TERM "$t" "$DISTKAN" predict run big.csv --derivatives --out big_pred.csv 2> /dev/null || rc=$?
    [ ! -e big_pred.csv.partial ] || fail "SIGTERM after ${t}s left big_pred.csv.partial (exit $rc)"
    echo "ok: SIGTERM after ${t}s (exit $rc) left no partial table"
done
# A signal ignored when the tool starts (nohup's SIGHUP) stays ignored: the table is written
# whole. (The guard above used to handle SIGHUP regardless, and died of it, exit 129.)
rm -f nohup_pred.csv
( trap '' HUP; exec "$DISTKAN" predict run big.csv --derivatives --out nohup_pred.csv 2> /dev/null ) &
pid=$!
for _ in $(seq 200); do [ -e nohup_pred.csv.partial ] && break; sleep 0.05; done
kill -HUP "$pid" 2> /dev/null || true
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "predict with SIGHUP ignored died of SIGHUP (exit $rc)"
[ "$(wc -l < nohup_pred.csv)" -eq 1000001 ] || fail "predict with SIGHUP ignored wrote $(wc -l < nohup_pred.csv) lines"
echo "ok: SIGHUP, ignored as under nohup, did not end predict"
# Two tools writing the same --out at once: the partial file is renamed by name, so the one
# whose NAME.partial the other replaced must not commit it (it used to put the other's
# half-written table in place and report success). Whatever the timing, a reported success
# leaves a whole table; here the second writer is killed once the first has finished.
rm -f race.csv race.csv.partial
"$DISTKAN" predict run big.csv --derivatives --out race.csv > /dev/null 2> race_a.err &
a=$!
for _ in $(seq 200); do [ -e race.csv.partial ] && break; sleep 0.05; done
"$DISTKAN" predict run big.csv --derivatives --out race.csv > /dev/null 2> race_b.err &
b=$!
rc_a=0; wait "$a" || rc_a=$?
kill -KILL "$b" 2> /dev/null || true
wait "$b" 2> /dev/null || true
if [ "$rc_a" -eq 0 ]; then
    [ "$(wc -l < race.csv)" -eq 1000001 ] && [ -z "$(tail -c 1 race.csv)" ] ||
        fail "the first writer reported success with a table of $(wc -l < race.csv) lines"
    echo "ok: the first writer finished before the second replaced its partial file"
else
    grep -q "another process writing the same --out replaced this one's race.csv.partial" race_a.err ||
        { cat race_a.err; fail "the first writer failed without naming the clash"; }
    echo "ok: the first writer, whose partial file the second replaced, wrote nothing and said why"
fi

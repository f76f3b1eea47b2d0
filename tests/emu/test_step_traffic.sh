# What one training step asks of the GPU besides kernels, counted by the CUDA emulator
# (DK_EMU_STATS): the issue's "no host round trip inside a step except the scalars that
# logging needs" and the brief's "no allocation in the training step", checked without a
# GPU. Each case runs the same config for 10 and for 30 steps; the difference over the 20
# extra steps is what steps cost, set-up and the final evaluation cancelling out.
# Registered only in CUDA emulator builds (tests/CMakeLists.txt).
source "$(dirname "$0")/../lib.sh"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"

# largest DIR: each counter's largest value over the ranks' count files in DIR (every rank
# does the same work), sorted by name.
largest() {
    cat "$1"/counts.* | awk '{ if ($2 > m[$1]) m[$1] = $2 } END { for (k in m) print k, m[k] }' | sort
}

# per_step NAME RANKS CONFIG STEP_KEY [--set K=V ...]: runs it with STEP_KEY = 10 and 30
# and leaves the per-step counts in NAME.per_step ("counter value" lines).
per_step() {
    local name=$1 np=$2 cfg=$3 key=$4
    shift 4
    for n in 10 30; do
        mkdir -p "$name.$n.stats"
        DK_EMU_STATS="$PWD/$name.$n.stats/counts" run_ranks "$np" train "$cfg" --run-dir "$name.$n" \
            --set dist.device=cuda --set train.log_every=1000 "$@" --set "$key=$n" > "$name.$n.log" 2>&1 ||
            { cat "$name.$n.log"; fail "$name: the $n-step run failed"; }
        grep -q '^device: [^c]' "$name.$n.log" || fail "$name: did not run on the (emulated) GPU"
        [ "$(ls "$name.$n.stats" | wc -l)" -eq "$np" ] || fail "$name: expected $np count files"
    done
    join <(largest "$name.10.stats") <(largest "$name.30.stats") |
        awk '{ printf "%s %g\n", $1, ($3 - $2) / 20 }' > "$name.per_step"
    echo "$name, per step: $(tr '\n' ' ' < "$name.per_step")"
}
count() { awk -v k="$2" '$1 == k { print $2 }' "$1.per_step"; }
# at_most NAME COUNTER LIMIT WHY
at_most() {
    local v
    v=$(count "$1" "$2")
    [ -n "$v" ] || fail "$1: no counter $2"
    awk -v v="$v" -v l="$3" 'BEGIN { exit !(v <= l) }' || fail "$1: $2 = $v per step, at most $3 expected: $4"
}
no_allocation() {
    for c in device_allocs device_frees pinned_allocs pinned_frees; do
        at_most "$1" "$c" 0 "steps allocate nothing"
    done
}

# Adam: one read-back of the loss scalars per step (4 of them), one control word sent,
# and no other wait.
per_step adam 1 "$fit" train.steps
no_allocation adam
at_most adam host_waits 1 "the loss read-back is the step's only wait"
at_most adam d2h_bytes 32 "only the 4 loss scalars come back"
at_most adam h2d_bytes 8 "only the control word goes to the device"

per_step pde 1 "$pde" train.steps --set train.optimizer=adam --set pde.resample_every=0
no_allocation pde
at_most pde host_waits 1 "the loss read-back is the PDE step's only wait"
at_most pde d2h_bytes 32 "only the 4 loss scalars come back"

# L-BFGS: the host needs the scalars of its decisions (line search, convergence, which
# pairs to keep), never a vector; and its two-loop recursion waits for nothing, so the
# waits per step do not grow with the history it runs over.
per_step lbfgs5 1 "$fit" lbfgs.steps --set train.optimizer=lbfgs --set lbfgs.history=5
per_step lbfgs25 1 "$fit" lbfgs.steps --set train.optimizer=lbfgs --set lbfgs.history=25
params=$(sed -n 's/^  "param_count": \([0-9]*\),$/\1/p' lbfgs5.30/summary.json)
[ -n "$params" ] || fail "no param_count in lbfgs5.30/summary.json"
for h in lbfgs5 lbfgs25; do
    no_allocation $h
    at_most $h d2h_bytes $((8 * params / 2)) "scalars only, no vector of $params parameters comes back"
done
w5=$(count lbfgs5 host_waits) w25=$(count lbfgs25 host_waits)
e5=$(count lbfgs5 d2h_copies) e25=$(count lbfgs25 d2h_copies)
awk -v a="$w5" -v b="$w25" 'BEGIN { exit !(b <= a + 1) }' ||
    fail "L-BFGS waits $w5 per step with history 5, $w25 with history 25: the two-loop recursion waits for the host"
echo "ok: L-BFGS waits $w5 per step with history 5, $w25 with 25 (read-backs $e5, $e25)"

# Two ranks sharing the GPU through MPI staging: the gradient goes through the host once
# each way per step, and nothing else does.
per_step staged 2 "$fit" train.steps
no_allocation staged
grad_bytes=$(( (params + 4) * 8 ))
at_most staged d2h_bytes $((grad_bytes + 32)) "the gradient (staging) and the loss scalars"
at_most staged h2d_bytes $((grad_bytes + 8)) "the summed gradient and the control word"
at_most staged host_waits 3 "staging out, staging back, the loss read-back"
echo "ok: steps allocate nothing and send only scalars (and, staged, the gradient) through the host"

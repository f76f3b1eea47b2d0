# A checkpoint resumes on another number of ranks: 2 -> 1 and 1 -> 2. Batch and collocation
# counts are global, so only the split changes, and the run continues within rounding of
# the uninterrupted one: the loss logged right after the resume and the final parameters
# agree to 1e-9 relative, for a mini-batch fit and for a PDE with resampling (which crosses
# a resampling and the switch to L-BFGS after the resume).
source "$(dirname "$0")/../lib.sh"
mpi="$SOURCE_DIR/tests/mpi"

# loss_at FILE STEP: the loss of the training log line of that step in metrics.jsonl.
loss_at() { sed -n "s/^{\"step\": $2, \"phase\": \"[a-z]*\", \"grid\": [0-9]*, \"loss\": \([-0-9.eE+]*\).*/\1/p" "$1"; }

check() {
    local name=$1 from=$2 to=$3 ckpt_step=$4 log_step=$5 cfg=$6
    local dir="$name.$from-to-$to"
    run_ranks "$from" train "$cfg" --run-dir "$dir/straight" --set checkpoint.every="$ckpt_step" \
        --set checkpoint.keep=1000 > "$dir.straight.log" \
        || { cat "$dir.straight.log"; fail "$dir: the run failed"; }
    run_ranks "$to" train "$cfg" --run-dir "$dir/same" > "$dir.same.log" || fail "$dir: the reference run failed"
    local ckpt
    ckpt=$(printf '%s/straight/checkpoints/ckpt-%012d.dkc' "$dir" "$ckpt_step")
    [ -f "$ckpt" ] || fail "$dir: no checkpoint at step $ckpt_step"
    run_ranks "$to" train "$cfg" --run-dir "$dir/resumed" --resume "$ckpt" > "$dir.resumed.log" \
        || { cat "$dir.resumed.log"; fail "$dir: resuming on $to ranks failed"; }
    grep -q "written by $from rank" "$dir.resumed.log" || fail "$dir: the resume does not report the old world size"
    grep -q "resumes on $to" "$dir.resumed.log" || fail "$dir: the resume does not note the new world size"
    local straight resumed
    straight=$(loss_at "$dir/straight/metrics.jsonl" "$log_step")
    resumed=$(loss_at "$dir/resumed/metrics.jsonl" "$log_step")
    [ -n "$straight" ] && [ -n "$resumed" ] || fail "$dir: no loss logged at step $log_step"
    awk -v a="$straight" -v b="$resumed" 'BEGIN { d = (a - b) / a; exit !(d < 1e-9 && d > -1e-9) }' \
        || fail "$dir: loss at step $log_step: $resumed resumed vs $straight uninterrupted"
    "$COMPARE_PARAMS" "$dir/straight/final_params.bin" "$dir/resumed/final_params.bin" float64 1e-9 \
        || fail "$dir: final parameters differ from the uninterrupted run on $from ranks"
    "$COMPARE_PARAMS" "$dir/same/final_params.bin" "$dir/resumed/final_params.bin" float64 1e-9 \
        || fail "$dir: final parameters differ from the uninterrupted run on $to ranks"
    echo "ok: $dir: loss at step $log_step $straight vs $resumed"
}

check fit 2 1 20 30 "$mpi/small_fit.ini"
check fit 1 2 20 30 "$mpi/small_fit.ini"
check pde 2 1 5 10 "$mpi/small_pde.ini"
check pde 1 2 15 25 "$mpi/small_pde.ini"

# Another thread count changes the kernels' summation order as another world size changes
# the split: the resume says so, and says nothing where both stay.
ckpt=$(printf 'fit.1-to-2/straight/checkpoints/ckpt-%012d.dkc' 20)
run_ranks 1 train "$mpi/small_fit.ini" --run-dir threads2 --resume "$ckpt" --set dist.threads=2 > threads2.log \
    || { cat threads2.log; fail "resuming with 2 threads failed"; }
grep -q "written with \[dist\] threads = 1 and resumes with 2: .*rounding only" threads2.log \
    || { cat threads2.log; fail "the resume does not note the new thread count"; }
run_ranks 1 train "$mpi/small_fit.ini" --run-dir threads1 --resume "$ckpt" > threads1.log \
    || { cat threads1.log; fail "resuming on the same ranks and threads failed"; }
! grep -q "note:" threads1.log || { cat threads1.log; fail "a note where neither ranks nor threads changed"; }
echo "ok: a resume with another thread count says its results agree to rounding only"

# Resuming on the same number of ranks repeats the uninterrupted run bit for bit.
#
# For each scenario and for 1 and 2 ranks: one run writes a checkpoint every few updates
# and goes to the end; then a run is resumed from each of its checkpoints (in its own run
# directory) and finishes. Every resumed run must end with final_params.bin and
# final_state.bin byte-identical to the uninterrupted run's, the same summary.json (less
# wall times), and its checkpoints must equal the uninterrupted run's at the same steps in
# every tensor byte and every manifest field but the metadata (compare_ckpt). A run that
# wrote no checkpoints at all gives the same bytes too: writing them perturbs nothing.
#
# Scenarios: Adam on mini-batches; L-BFGS; a grid schedule 3 -> 6 -> 12 with grid updates,
# Adam then L-BFGS, resumed from checkpoints before, on and after both stage changes and
# the switch to L-BFGS; a PDE with collocation points redrawn every 10 steps, Adam then
# L-BFGS, resumed across resamplings; and the grid schedule in float32 with 2 threads.
source "$(dirname "$0")/../lib.sh"
mpi="$SOURCE_DIR/tests/mpi"
shopt -s nullglob

summary_without_times() { grep -v -e '"wall_s"' -e '"config"' "$1"; }

check_scenario() {
    local name=$1 np=$2 every=$3; shift 3
    local cfg=$1; shift
    local dir="$name.np$np"
    run_ranks "$np" train "$cfg" "$@" --run-dir "$dir/plain" --set checkpoint.final=false > "$dir.plain.log" \
        || { cat "$dir.plain.log"; fail "$dir: the plain run failed"; }
    run_ranks "$np" train "$cfg" "$@" --run-dir "$dir/straight" --set checkpoint.every="$every" \
        --set checkpoint.keep=1000 > "$dir.straight.log" || { cat "$dir.straight.log"; fail "$dir: the run failed"; }
    for f in final_params.bin final_state.bin; do
        cmp -s "$dir/plain/$f" "$dir/straight/$f" || fail "$dir: writing checkpoints changed $f"
    done
    local n=0
    for ckpt in "$dir"/straight/checkpoints/ckpt-*.dkc; do
        local step
        step=$(basename "$ckpt" .dkc | sed 's/^ckpt-0*//')
        [ -n "$step" ] || step=0
        local out="$dir/from$step"
        run_ranks "$np" train "$cfg" "$@" --run-dir "$out" --set checkpoint.every="$every" \
            --set checkpoint.keep=1000 --resume "$ckpt" > "$out.log" \
            || { cat "$out.log"; fail "$dir: resuming from step $step failed"; }
        grep -q "resuming from $ckpt: step $step" "$out.log" || { cat "$out.log"; fail "$out: no resume message"; }
        for f in final_params.bin final_state.bin; do
            cmp -s "$dir/straight/$f" "$out/$f" \
                || fail "$dir: resumed from step $step, $f differs from the uninterrupted run"
        done
        diff <(summary_without_times "$dir/straight/summary.json") <(summary_without_times "$out/summary.json") \
            || fail "$dir: resumed from step $step, summary.json differs"
        for later in "$out"/checkpoints/ckpt-*.dkc; do
            "$COMPARE_CKPT" "$dir/straight/checkpoints/$(basename "$later")" "$later" > /dev/null \
                || fail "$dir: resumed from step $step, checkpoint $(basename "$later") differs"
        done
        n=$((n + 1))
    done
    [ "$n" -ge 3 ] || fail "$dir: only $n checkpoints to resume from"
    echo "ok: $dir: $n resumes, each bit-identical to the uninterrupted run"
}

for np in 1 2; do
    check_scenario adam "$np" 15 "$mpi/small_fit.ini"
    check_scenario lbfgs "$np" 8 "$mpi/small_fit.ini" --set train.optimizer=lbfgs --set lbfgs.steps=30
    # Stages end at updates 30 and 60, Adam at 40: checkpoints every 10 land on all three.
    check_scenario grid "$np" 10 "$mpi/small_grid.ini"
    # Points are redrawn before steps 11, 21, 31; Adam ends at 20.
    check_scenario pde "$np" 5 "$mpi/small_pde.ini"
done
# float32 parameters with the float64 L-BFGS iterate beside them, 2 threads per rank.
check_scenario float32 2 10 "$mpi/small_grid.ini" --set model.precision=float32 --set dist.threads=2

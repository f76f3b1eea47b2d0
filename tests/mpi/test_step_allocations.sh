# The brief's "no allocation in the training step", counted: distkan_alloc_counted is distkan
# with its own code's malloc, calloc, realloc, aligned_alloc, posix_memalign, strdup, the
# stdio and directory streams it opens, getline and realpath counted
# (tests/tools/alloc_count.c). Each case runs one config for 10 and for
# 30 steps on 2 ranks, logging and evaluating every 5 steps; set-up, the final outputs and
# the end-of-run checkpoint are the same in both, so any difference is what the 20 extra
# steps (with their logs, evaluations, resamplings and grid updates) allocated. It must
# be 0 on every rank.
#
# DK_STEP_ALLOC_DEVICE=cuda runs it on the GPU path (tests/gpu/test_train_gpu_host_allocations.sh:
# 2 ranks sharing a GPU through MPI staging); tests/emu/test_step_traffic.sh checks that
# path's device allocations.
source "$(dirname "$0")/../lib.sh"
: "${DISTKAN_ALLOC_COUNTED:?the counting build of distkan}"
device=${DK_STEP_ALLOC_DEVICE:-cpu}
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"

# per_step NAME CONFIG STEP_KEY [--set K=V ...]: fails unless the 10- and 30-step runs made
# the same number of each kind of allocation on each rank.
per_step() {
    local name=$1 cfg=$2 key=$3
    shift 3
    for n in 10 30; do
        mkdir -p "$name.$n.counts"
        DK_ALLOC_STATS="$PWD/$name.$n.counts/rank" "$MPIEXEC" --oversubscribe -np 2 "$DISTKAN_ALLOC_COUNTED" \
            train "$cfg" --run-dir "$name.$n" --set dist.device="$device" --set train.log_every=5 \
            --set checkpoint.every=0 "$@" --set "$key=$n" > "$name.$n.log" 2>&1 ||
            { cat "$name.$n.log"; fail "$name: the $n-step run failed"; }
        grep -q "^device: $( [ "$device" = cpu ] && echo cpu || echo '[^c]')" "$name.$n.log" ||
            fail "$name: did not run on device $device: $(grep '^device:' "$name.$n.log")"
        [ -s "$name.$n.counts/rank.0" ] && [ -s "$name.$n.counts/rank.1" ] || fail "$name: no counts written"
    done
    # A run that allocated nothing at all would be a counter that does not count.
    awk '$2 > 0 { found = 1 } END { exit !found }' "$name.10.counts/rank.0" ||
        fail "$name: no allocation counted at all (is the counting build wrapping malloc?)"
    for rank in 0 1; do
        if ! diff "$name.10.counts/rank.$rank" "$name.30.counts/rank.$rank" > "$name.diff"; then
            cat "$name.diff"
            fail "$name: rank $rank allocated during the 20 extra steps (10 steps: <, 30 steps: >)"
        fi
    done
    echo "ok: $name: $(tr '\n' ' ' < "$name.10.counts/rank.0")(the same for 10 and 30 steps)"
}

# On a GPU (where device time is scarce) the cases marked "cpu" are left out: each code
# path is still covered there by one case.
cpu_only() { [ "$device" = cpu ]; }
# Adam on mini-batches (4 per rank), float64 and float32.
per_step adam "$fit" train.steps
cpu_only && per_step adam_f32 "$fit" train.steps --set model.precision=float32
# Full-batch L-BFGS: line searches, the two-loop recursion, the history ring wrapping.
per_step lbfgs "$fit" train.steps --set train.optimizer=lbfgs --set lbfgs.history=3
# The PDE loss (second-order kernels), with its collocation points redrawn every 10 steps.
cpu_only && per_step pde_adam "$pde" train.steps --set lbfgs.steps=5
per_step pde_lbfgs "$pde" lbfgs.steps --set train.steps=5
# Grid updates from samples every 5 steps (2 vs 6 of them), including the anchored refits
# of a wide grid at grid_eps = 1 and a float32 network's collision check.
cpu_only && per_step grid_update "$fit" train.steps --set grid.update_every=5
cpu_only && per_step grid_update_pde "$pde" train.steps --set lbfgs.steps=5 --set grid.update_every=5
per_step grid_update_wide "$fit" train.steps --set grid.update_every=5 --set model.widths=2,7,3,1 \
    --set model.grid=40 --set model.grid_eps=1 --set grid.update_samples=500 --set model.precision=float32
grep -q "refitted with anchors: layer" grid_update_wide.30.log || fail "grid_update_wide: no anchored refit happened"

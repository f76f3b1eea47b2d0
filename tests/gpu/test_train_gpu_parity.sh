# End-to-end training on the GPU against the CPU reference, 20 steps each: Adam fitting,
# Adam then L-BFGS fitting over several batches, a Poisson PDE through the jet kernels with
# L-BFGS, in float64 and float32; and two GPU runs give identical bytes. The figure is
# compare_params's: the largest parameter difference over the largest parameter.
#
# Twenty optimiser steps amplify rounding, so each case is held to the distance that a
# mere change of rounding moves the CPU run itself, measured in the same test:
#   float64: the CPU run on one rank against two (two ranks only reorder each batch's sums;
#     measured 3e-12 for the L-BFGS fit, 5e-13 for the PDE);
#   float32: the CPU float32 run against the float64 run (measured 1.9e-7 after 20 Adam
#     steps of the fit, 2.5e-7 for the PDE; Adam normalises each update, so the relative
#     rounding error of a small gradient becomes an absolute parameter error: before the
#     CPU kernels kept small basis values accurate, tests/unit/test_kan_basis_accuracy.c,
#     it was 6e-5);
# the GPU run must lie within max(1e-12 | 1e-5, 4x that distance) of the CPU run, and in
# float32 also of the float64 run: in float32 that is the flat 1e-5. A faulty kernel or
# step is off by orders of magnitude more; no implementation with its own summation order
# can be held closer in float64.
source "$(dirname "$0")/gpu_lib.sh"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"
relative() { sed -n 's/.*: \([0-9.e+-]*\) (tolerance.*/\1/p'; }
train() { # RUN_DIR RANKS DEVICE DTYPE CONFIG SET...
    local dir=$1 np=$2 dev=$3 dtype=$4 cfg=$5
    shift 5
    run_ranks "$np" train "$cfg" --run-dir "$dir" --set dist.device="$dev" --set model.precision="$dtype" "$@" \
        > "$dir.log" || fail "$dir: run failed (see $dir.log)"
    if [ "$dev" = cuda ]; then
        grep -q '^device: [^c]' "$dir.log" || fail "$dir: did not run on a GPU"
    fi
}
check() { # NAME DTYPE CONFIG SET...
    local name=$1 dtype=$2 cfg=$3
    shift 3
    train "$name.cpu" 1 cpu "$dtype" "$cfg" "$@"
    train "$name.gpu" 1 cuda "$dtype" "$cfg" "$@"
    local sens tol flat what
    if [ "$dtype" = float64 ]; then
        train "$name.cpu2" 2 cpu float64 "$cfg" "$@"
        sens=$("$COMPARE_PARAMS" "$name.cpu/final_params.bin" "$name.cpu2/final_params.bin" float64 1 | relative)
        flat=1e-12 what="CPU 1 rank vs 2 ranks"
    else
        train "$name.ref64" 1 cpu float64 "$cfg" "$@"
        sens=$("$COMPARE_PARAMS" "$name.cpu/final_params.bin" "$name.ref64/final_params.bin" float32/float64 1 |
            relative)
        flat=1e-5 what="CPU float32 vs float64"
    fi
    [ -n "$sens" ] || fail "$name: no $what distance"
    tol=$(awk -v f="$flat" -v r="$sens" 'BEGIN { t = 4 * r; printf "%.3g", (t > f ? t : f) }')
    echo "$name: $what $sens; tolerance $tol"
    "$COMPARE_PARAMS" "$name.gpu/final_params.bin" "$name.cpu/final_params.bin" "$dtype" "$tol" \
        || fail "$name: GPU and CPU parameters differ beyond $tol"
    if [ "$dtype" = float32 ]; then
        "$COMPARE_PARAMS" "$name.gpu/final_params.bin" "$name.ref64/final_params.bin" float32/float64 "$tol" \
            || fail "$name: GPU float32 parameters differ from float64 beyond $tol"
    fi
}
check adam_f64 float64 "$fit" --set train.steps=20
check adam_f32 float32 "$fit" --set train.steps=20
check lbfgs_f64 float64 "$fit" --set train.optimizer=adam_then_lbfgs --set train.steps=10 --set lbfgs.steps=10
check pde_f64 float64 "$pde" --set train.steps=10 --set lbfgs.steps=10
check pde_f32 float32 "$pde" --set train.steps=20 --set train.optimizer=adam
# The second run sums its gradient through NCCL (one rank: a copy), which comm = auto skips
# for a single rank: the training loop's NCCL path, and it changes no bit. (The CUDA
# emulator has no NCCL: there it takes the MPI path.)
grep -q "all-reduce: none (one rank)" adam_f64.gpu.log || fail "one GPU rank with comm = auto: $(grep '^device:' adam_f64.gpu.log)"
comm=nccl
"$DISTKAN" device | grep -q "CUDA emulator" && comm=mpi
run_ranks 1 train "$fit" --run-dir again.gpu --set dist.device=cuda --set model.precision=float64 \
    --set train.steps=20 --set dist.comm=$comm > again.log || fail "second GPU run (comm = $comm) failed"
[ "$comm" = mpi ] || grep -q "all-reduce: NCCL" again.log || fail "comm = nccl did not use NCCL: $(grep '^device:' again.log)"
"$COMPARE_PARAMS" adam_f64.gpu/final_params.bin again.gpu/final_params.bin float64 0 \
    || fail "two GPU runs (no all-reduce, then comm = $comm) are not bitwise identical"
echo "GPU matches CPU over 20 steps (Adam, Adam+L-BFGS, PDE; float64 and float32, tolerances above); GPU runs repeat bitwise, through NCCL too"

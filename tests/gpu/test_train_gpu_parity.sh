# 20 end-to-end training steps on the GPU agree with the CPU reference: float64 to 1e-12
# and float32 to 1e-5 relative (compare_params: the largest parameter difference over the
# largest parameter), for Adam fitting, Adam then L-BFGS fitting over several batches, and
# a Poisson PDE through the jet kernels with L-BFGS; and two GPU runs give identical bytes.
source "$(dirname "$0")/gpu_lib.sh"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"
check() { # NAME CONFIG DTYPE TOL SET...
    local name=$1 cfg=$2 dtype=$3 tol=$4
    shift 4
    run_ranks 1 train "$cfg" --run-dir "$name.cpu" --set dist.device=cpu --set model.precision="$dtype" "$@" \
        > "$name.cpu.log" || fail "$name: CPU run failed"
    run_ranks 1 train "$cfg" --run-dir "$name.gpu" --set dist.device=cuda --set model.precision="$dtype" "$@" \
        > "$name.gpu.log" || fail "$name: GPU run failed (see $name.gpu.log)"
    grep -q '^device: NVIDIA\|^device: .*GPU\|^device: [^c]' "$name.gpu.log" || fail "$name: did not run on a GPU"
    "$COMPARE_PARAMS" "$name.cpu/final_params.bin" "$name.gpu/final_params.bin" "$dtype" "$tol" \
        || fail "$name: GPU and CPU parameters differ beyond $tol"
}
check adam_f64 "$fit" float64 1e-12 --set train.steps=20
check adam_f32 "$fit" float32 1e-5 --set train.steps=20
check lbfgs_f64 "$fit" float64 1e-12 --set train.optimizer=adam_then_lbfgs --set train.steps=10 --set lbfgs.steps=10
check pde_f64 "$pde" float64 1e-12 --set train.steps=10 --set lbfgs.steps=10
check pde_f32 "$pde" float32 1e-5 --set train.steps=20 --set train.optimizer=adam
run_ranks 1 train "$fit" --run-dir again.gpu --set dist.device=cuda --set model.precision=float64 \
    --set train.steps=20 > again.log || fail "second GPU run failed"
"$COMPARE_PARAMS" adam_f64.gpu/final_params.bin again.gpu/final_params.bin float64 0 \
    || fail "two GPU runs are not bitwise identical"
echo "GPU matches CPU over 20 steps (Adam, Adam+L-BFGS, PDE; float64 1e-12, float32 1e-5); GPU runs repeat bitwise"

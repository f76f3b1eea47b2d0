# The GPU benchmarks' code paths on the CUDA emulator, at toy sizes: bench_gpu_layer (its
# GPU-vs-CPU check and table, no PyTorch) and bench/gpu/bench_pde_gpu.sh (GPU and 2-rank
# CPU runs of the same PDE, which must end with the same loss), so that a benchmark broken
# by a change shows here, not in the few minutes of a GPU session. Timings mean nothing.
# Registered only in CUDA emulator builds (tests/CMakeLists.txt), with BENCH_DIR set.
source "$(dirname "$0")/../lib.sh"
: "${BENCH_DIR:?BENCH_DIR (the bench directory of the build) is not set: run through ctest}"
"$BENCH_DIR/bench_gpu_layer" --quick --no-torch --n 32 --G 5 --batch 256 --max-reps 1 --target-seconds 0.01 \
    --md layer.md > layer.txt 2>&1 || { cat layer.txt; fail "bench_gpu_layer exited non-zero"; }
cat layer.txt
grep -q '^| *float64 *| *32 *| *5 *|' layer.md ||
    { cat layer.md; fail "bench_gpu_layer wrote no float64 row into its markdown table"; }
POINTS=300 STEPS=2 bash "$SOURCE_DIR/bench/gpu/bench_pde_gpu.sh" "$BENCH_DIR/.." pde > pde.txt 2>&1 ||
    { cat pde.txt; fail "bench_pde_gpu.sh exited non-zero"; }
cat pde.txt
gpu_loss=$(awk '/^GPU, 1 rank/ { print $(NF-1) }' pde.txt)
cpu_loss=$(awk '/^CPU, / { print $(NF-1) }' pde.txt)
[ -n "$gpu_loss" ] && [ "$gpu_loss" = "$cpu_loss" ] ||
    fail "PDE benchmark: GPU run's last loss '$gpu_loss', CPU run's '$cpu_loss' (the same to 6 digits expected)"
echo "ok: bench_gpu_layer and bench_pde_gpu.sh ran on the emulator; PDE last loss $gpu_loss on both"

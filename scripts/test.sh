#!/usr/bin/env bash
# Builds distkan (installing missing packages first) and runs the whole test suite:
# CMocka unit tests, command-line tests, real multi-rank mpirun tests and a short fuzzing
# run of the checkpoint reader; then the unit tests once more in an
# AddressSanitizer + UBSan build (BUILD_DIR_ASAN, default build-asan); then the GPU tests on
# the CUDA emulator, also under the sanitizers (BUILD_DIR_EMU, default build-emu).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Open MPI refuses to run as root unless told; tests run as whoever calls them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure "$@"

# The unit tests again under AddressSanitizer and UBSan (leaks included): the checkpoint
# corruption matrix feeds the reader every truncation and byte flip of a file, which is
# where an out-of-bounds read would show, and the others drive the kernels, the config
# parser and the CSV reader over their edge cases. Only those tests are built (plus the
# library they link): the command-line and MPI tests would report Open MPI's own leaks.
asan=${BUILD_DIR_ASAN:-build-asan}
# CPU only: the sanitizers instrument host C code, and nvcc does not take their flags.
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISTKAN_SANITIZE=ON -DDISTKAN_CUDA=OFF > /dev/null
targets=()
for src in tests/unit/test_*.c; do
    targets+=("$(basename "$src" .c)")
done
cmake --build "$asan" -j "$(nproc)" --target "${targets[@]}"
ctest --test-dir "$asan" --output-on-failure -R '^unit\.'

# The GPU tests on the CUDA emulator (tests/emu): the CUDA kernels' own source and the GPU
# training path compiled for the CPU, under AddressSanitizer and UBSan, against the CPU
# reference. It checks the kernels' logic (indices, shared memory, barriers, shuffles),
# not the GPU: these tests are called emu.*, and the gpu.* ones above stay skipped
# without a GPU. Needs nvcc's NCCL (header and library) only, as the main build does.
emu=${BUILD_DIR_EMU:-build-emu}
nccl_h=""
for dir in ${NCCL_ROOT:+"$NCCL_ROOT/include"} /usr/local/cuda/include /usr/include; do
    [ -f "$dir/nccl.h" ] && nccl_h=$dir/nccl.h && break
done
if [ -z "$nccl_h" ]; then
    echo "CUDA emulator tests skipped: NCCL's nccl.h not found (set NCCL_ROOT)"
    exit 0
fi
cmake -S . -B "$emu" -DCMAKE_BUILD_TYPE=Release -DDISTKAN_SANITIZE=ON -DDISTKAN_CUDA_EMULATOR=ON > /dev/null
targets=(distkan distkan_alloc_counted compare_params compare_ckpt comm_device bench_gpu_layer emu_selftest)
for src in tests/gpu/test_*.c; do
    targets+=("$(basename "$src" .c)")
done
cmake --build "$emu" -j "$(nproc)" --target "${targets[@]}"
ctest --test-dir "$emu" --output-on-failure -L '^emu$'

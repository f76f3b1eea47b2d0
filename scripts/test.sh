#!/usr/bin/env bash
# Builds distkan (installing missing packages first) and runs the whole test suite:
# CMocka unit tests, command-line tests, real multi-rank mpirun tests and a short fuzzing
# run of the checkpoint reader; then the checkpoint unit tests once more in an
# AddressSanitizer + UBSan build (BUILD_DIR_ASAN, default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Open MPI refuses to run as root unless told; tests run as whoever calls them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure "$@"

# The checkpoint tests again under AddressSanitizer and UBSan: the corruption matrix feeds
# the reader every truncation and byte flip of a file, which is where an out-of-bounds
# read would show. Only those tests are built (plus the library they link).
asan=${BUILD_DIR_ASAN:-build-asan}
# CPU only: the sanitizers instrument host C code, and nvcc does not take their flags.
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDISTKAN_SANITIZE=ON -DDISTKAN_CUDA=OFF > /dev/null
targets=()
for src in tests/unit/test_ckpt_*.c tests/unit/test_crc32c.c; do
    targets+=("$(basename "$src" .c)")
done
cmake --build "$asan" -j "$(nproc)" --target "${targets[@]}"
ctest --test-dir "$asan" --output-on-failure -R '^unit\.test_(ckpt_|crc32c)'

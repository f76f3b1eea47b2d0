#!/usr/bin/env bash
# Builds bench_kan_layer and runs the kernel benchmark: fused KAN layer vs the dense-basis
# baselines (C + OpenBLAS, and efficient-kan in PyTorch when torch is importable).
# Writes the table into docs/bench_kernels.md, keeping the hand-written analysis there.
#
#   scripts/bench_kernels.sh               full run (about 10 minutes on 2 cores)
#   scripts/bench_kernels.sh --quick       seconds; prints only, docs/ left alone
#   scripts/bench_kernels.sh --no-compile  any other flag goes to the program (--help)
#
# BUILD_DIR (default build/) must be a Release build: timings of any other build would
# be meaningless. PYTHON (default python3) is the interpreter that runs the torch side.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
sanitize="$(sed -n 's/^DISTKAN_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [ "$build_type" != "Release" ] || [ "$sanitize" = "ON" ]; then
  echo "bench_kernels.sh: $build is a '$build_type' build (sanitize: ${sanitize:-OFF});" \
       "benchmark a Release build, e.g. BUILD_DIR=build-release $0" >&2
  exit 2
fi
cmake --build "$build" --target bench_kan_layer -j"$(nproc)"

md=(--md "$root/docs/bench_kernels.md")
for a in "$@"; do
  # A smoke run's numbers must not replace the table of a full run.
  if [ "$a" = "--quick" ]; then md=(); fi
done
exec "$build/bench/bench_kan_layer" --python "${PYTHON:-python3}" "${md[@]}" "$@"

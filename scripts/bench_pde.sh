#!/usr/bin/env bash
# Builds bench_pde_step and runs the PDE-step benchmark: one physics-informed training step
# (jet forward, Laplacian residual, jet backward, boundary term) of distkan against nested
# reverse-mode autodiff in PyTorch (when torch is importable). Writes the table into
# docs/bench_pde.md, keeping the hand-written analysis there.
#
#   scripts/bench_pde.sh               full run (about 15 minutes on 2 cores, most of it torch)
#   scripts/bench_pde.sh --quick       seconds; prints only, docs/ left alone
#   scripts/bench_pde.sh --no-compile  any other flag goes to the program (--help)
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
  echo "bench_pde.sh: $build is a '$build_type' build (sanitize: ${sanitize:-OFF});" \
       "benchmark a Release build, e.g. BUILD_DIR=build-release $0" >&2
  exit 2
fi
cmake --build "$build" --target bench_pde_step -j"$(nproc)"

md=(--md "$root/docs/bench_pde.md")
for a in "$@"; do
  # A smoke run's numbers must not replace the table of a full run.
  if [ "$a" = "--quick" ]; then md=(); fi
done
exec "$build/bench/bench_pde_step" --python "${PYTHON:-python3}" "${md[@]}" "$@"

#!/usr/bin/env bash
# Shared by the benchmark scripts: builds one benchmark program in a Release build and runs
# it, writing its table into a docs/ file unless the run is a --quick smoke run.
#
#   scripts/bench_run.sh LABEL TARGET DOC [program flags...]
#
# BUILD_DIR (default build/) must be a Release build without sanitizers: timings of any
# other build would be meaningless. PYTHON (default python3) runs the torch side.
set -euo pipefail

label=$1 target=$2 doc=$3
shift 3
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
sanitize="$(sed -n 's/^DISTKAN_SANITIZE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [ "$build_type" != "Release" ] || [ "$sanitize" = "ON" ]; then
  echo "$label: $build is a '$build_type' build (sanitize: ${sanitize:-OFF});" \
       "benchmark a Release build, e.g. BUILD_DIR=build-release $label" >&2
  exit 2
fi
cmake --build "$build" --target "$target" -j"$(nproc)"

md=(--md "$root/$doc")
for a in "$@"; do
  # A smoke run's numbers must not replace the table of a full run.
  if [ "$a" = "--quick" ]; then md=(); fi
done
exec "$build/bench/$target" --python "${PYTHON:-python3}" "${md[@]}" "$@"

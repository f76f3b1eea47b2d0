#!/usr/bin/env bash
# Installs distkan's Debian dependencies that are missing (idempotent; as root or through
# sudo) and builds it into build/ (Release). Re-running only rebuilds what changed.
#
#   scripts/setup.sh            install what is missing, configure, build
#   BUILD_DIR=out scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config
          libopenmpi-dev openmpi-bin      # MPI: the CPU all-reduce and the launcher
          libcmocka-dev                   # unit tests
          libinih-dev                     # config files
          liblapacke-dev libopenblas-dev  # least squares for spline fits; BLAS for the benchmark baseline
          protobuf-c-compiler             # protoc-c: C code for the checkpoint manifest schema
          libprotobuf-c-dev               # the protobuf-c runtime that code links against
          clang libclang-rt-dev)          # libFuzzer and sanitizer runtimes for scripts/fuzz.sh

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo > /dev/null; then
        sudo=(sudo)
    else
        echo "setup: missing packages (${missing[*]}) and neither root nor sudo is available" >&2
        exit 1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)"
echo "setup: built $build/distkan"

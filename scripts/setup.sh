#!/usr/bin/env bash
# Installs distkan's Debian dependencies that are missing (idempotent; as root or through
# password-less sudo) and builds it into build/ (Release). Re-running only rebuilds what
# changed. Without root, with every required package there, it builds (the optional ones
# are only warned of); on a system without dpkg it builds with what is installed.
#
#   scripts/setup.sh            install what is missing, configure, build
#   BUILD_DIR=out scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

required=(build-essential cmake pkg-config
          libopenmpi-dev openmpi-bin      # MPI: the CPU all-reduce and the launcher
          libcmocka-dev                   # unit tests
          libinih-dev                     # config files
          liblapacke-dev libopenblas-dev  # least squares for spline fits; BLAS for the benchmark baseline
          protobuf-c-compiler             # protoc-c: C code for the checkpoint manifest schema
          libprotobuf-c-dev)              # the protobuf-c runtime that code links against
optional=(clang libclang-rt-dev)          # libFuzzer for scripts/fuzz.sh (its smoke test skips without)

if ! command -v dpkg-query > /dev/null; then
    # Not Debian: the build finds what is there, and CMake names what is not.
    echo "setup: no dpkg-query (not a Debian system): install the equivalents of ${required[*]} yourself;" \
         "configuring with what is installed" >&2
else
    installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2> /dev/null)" = "install ok installed" ]; }
    missing=() missing_optional=()
    for p in "${required[@]}"; do installed "$p" || missing+=("$p"); done
    for p in "${optional[@]}"; do installed "$p" || missing_optional+=("$p"); done
    sudo=() can_install=1
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then sudo=(sudo -n); else can_install=0; fi
    fi
    if [ ${#missing[@]} -gt 0 ] && [ "$can_install" -eq 0 ]; then
        echo "setup: missing packages (${missing[*]}), and neither root nor password-less sudo is available" \
             "to install them: ask your administrator, or run this as root" >&2
        exit 1
    fi
    wanted=("${missing[@]}")
    [ "$can_install" -eq 0 ] || wanted+=("${missing_optional[@]}")
    if [ ${#wanted[@]} -gt 0 ]; then
        echo "setup: installing ${wanted[*]}"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
             "${wanted[@]}"; then
            [ ${#missing[@]} -eq 0 ] || exit 1
            echo "setup: warning: could not install ${wanted[*]} (optional)" >&2
        fi
    elif [ ${#missing_optional[@]} -gt 0 ]; then
        echo "setup: warning: ${missing_optional[*]} not installed (optional: the fuzz smoke test will skip)" >&2
    fi
fi

build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j "$(nproc)"
echo "setup: built $build/distkan"

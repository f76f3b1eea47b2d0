#!/usr/bin/env bash
# Builds distkan (installing missing packages first) and runs the whole test suite:
# CMocka unit tests, command-line tests and real multi-rank mpirun tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Open MPI refuses to run as root unless told; tests run as whoever calls them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure "$@"

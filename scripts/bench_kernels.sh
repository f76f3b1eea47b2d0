#!/usr/bin/env bash
# Builds bench_kan_layer and runs the kernel benchmark: fused KAN layer vs the dense-basis
# baselines (C + OpenBLAS, and efficient-kan in PyTorch when torch is importable).
# Writes the table into docs/bench_kernels.md, keeping the hand-written analysis there.
#
#   scripts/bench_kernels.sh               full run (about 10 minutes on 2 cores)
#   scripts/bench_kernels.sh --quick       seconds; prints only, docs/ left alone
#   scripts/bench_kernels.sh --no-compile  any other flag goes to the program (--help)
#
# BUILD_DIR (default build/) must be a Release build; PYTHON (default python3) runs the
# torch side (see scripts/bench_run.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/bench_run.sh" "$0" bench_kan_layer docs/bench_kernels.md "$@"

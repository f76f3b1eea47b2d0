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
# BUILD_DIR (default build/) must be a Release build; PYTHON (default python3) runs the
# torch side (see scripts/bench_run.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/bench_run.sh" "$0" bench_pde_step docs/bench_pde.md "$@"

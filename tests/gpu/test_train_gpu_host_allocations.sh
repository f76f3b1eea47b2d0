# The GPU path allocates no host memory in a training step or a grid update either:
# tests/mpi/test_step_allocations.sh with [dist] device = cuda.
source "$(dirname "$0")/gpu_lib.sh"
DK_STEP_ALLOC_DEVICE=cuda exec bash "$SOURCE_DIR/tests/mpi/test_step_allocations.sh" "$SCRATCH"

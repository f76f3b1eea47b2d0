# The GPU path allocates no host memory in a training step or a grid update either:
# tests/mpi/test_step_allocations.sh with [dist] device = cuda.
source "$(dirname "$0")/gpu_lib.sh"
# The CUDA runtime is linked in statically, so its own mallocs are counted with distkan's:
# loaded eagerly, its kernels' modules are read at start-up, not at a kernel's first launch
# in one of the extra steps (which the runtime's default, lazy loading, would count there).
CUDA_MODULE_LOADING=EAGER DK_STEP_ALLOC_DEVICE=cuda exec bash "$SOURCE_DIR/tests/mpi/test_step_allocations.sh" "$SCRATCH"

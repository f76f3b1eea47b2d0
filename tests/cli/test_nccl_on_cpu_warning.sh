# [dist] comm = nccl under device = auto, on a rank that sees no GPU, runs on the CPU with
# MPI's all-reduce: the header says the key went unused instead of dropping it silently.
# CUDA_VISIBLE_DEVICES= hides any GPU, so the test means the same on the GPU machine (and
# in a build without CUDA, where auto says so instead).
source "$(dirname "$0")/../lib.sh"
printf '[train]\nsteps = 2\n[fit]\ntrain_size = 64\ntest_size = 16\n[dist]\ncomm = nccl\n' > fit.ini
CUDA_VISIBLE_DEVICES= "$DISTKAN" train fit.ini --run-dir nccl > nccl.log || { cat nccl.log; fail "training failed"; }
grep -q "^device: cpu (device = auto: " nccl.log || { cat nccl.log; fail "not a CPU run"; }
grep -q "^warning: \[dist\] comm = nccl is not used: the ranks compute on CPUs, whose gradients are summed with MPI$" \
    nccl.log || { cat nccl.log; fail "no warning that comm = nccl is unused"; }
CUDA_VISIBLE_DEVICES= "$DISTKAN" train fit.ini --run-dir mpi --set dist.comm=mpi > mpi.log || fail "comm = mpi failed"
! grep -q "comm = " mpi.log || { cat mpi.log; fail "a warning for comm = mpi on the CPU"; }
echo "ok: comm = nccl on a CPU run is warned of"

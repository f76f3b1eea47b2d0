# The MPI backend with device buffers staged through pinned host memory, 2 and 3 ranks
# sharing one GPU (what NCCL before 2.30 refuses): exact sums, broadcasts (several staging
# chunks) and start/wait buckets on every rank.
source "$(dirname "$0")/comm_lib.sh"
# Every rank on the first visible GPU, however many there are.
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES%%,*}
for np in 2 3; do
    comm_ranks "$np" mpi || fail "comm_device mpi on $np ranks sharing a GPU exited non-zero"
    grep -q '^PASS' run.txt || fail "no PASS line on $np ranks"
done

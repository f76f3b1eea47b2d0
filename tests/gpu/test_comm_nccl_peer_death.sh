# A peer that hangs or dies before an NCCL all-reduce: the job ends (no hang) well within
# CTest's timeout, non-zero, naming a rank. A hanging peer: rank 0 reports after
# DISTKAN_COMM_TIMEOUT=20 s (blocking call, and start/wait through the watchdog). A dead
# peer: NCCL's error, our timeout or mpirun (which ends a job whose rank exits before
# MPI_Finalize), whichever comes first. Needs two NCCL ranks: skipped where they would share
# a GPU that NCCL refuses to share.
source "$(dirname "$0")/comm_lib.sh"
require_nccl_ranks 2
export DISTKAN_COMM_TIMEOUT=20
expect_job_end 200 'distkan: rank 0 \(host .*, GPU [0-9]+\): NCCL all-reduce (failed|did not complete in 20 s)' \
    2 nccl --peer hang
expect_job_end 200 'distkan: rank 0 \(host .*, GPU [0-9]+\): NCCL all-reduce (failed|\(started asynchronously\) did not complete in 20 s)' \
    2 nccl --peer hang-async
expect_job_end 200 'distkan: rank 0 \(host .*\): NCCL all-reduce|Process name: .*,1\]' \
    2 nccl --peer die

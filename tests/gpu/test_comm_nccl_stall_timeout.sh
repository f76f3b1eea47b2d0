# An NCCL all-reduce that cannot complete (the compute stream it waits for is stalled by a
# host callback that sleeps) ends the job within DISTKAN_COMM_TIMEOUT, with one line naming
# the rank, host and GPU: the blocking call by polling, an asynchronous start/wait (the
# caller then blocks in cudaStreamSynchronize) through the watchdog thread.
source "$(dirname "$0")/comm_lib.sh"
export DISTKAN_COMM_TIMEOUT=5
expect_job_end 120 'distkan: rank 0 \(host .*, GPU [0-9]+\): NCCL all-reduce did not complete in 5 s' 1 nccl --stall sync
expect_job_end 120 'distkan: rank 0 \(host .*, GPU [0-9]+\): NCCL all-reduce \(started asynchronously\) did not complete in 5 s' \
    1 nccl --stall async

# Two NCCL ranks: every device collective equals its closed form exactly on both ranks.
# With one GPU the ranks share it, which needs NCCL 2.30+ (NCCL_MULTI_RANK_GPU_ENABLE=1);
# older NCCL refuses ("Duplicate GPU detected") and the test is skipped.
source "$(dirname "$0")/comm_lib.sh"
require_nccl_ranks 2
comm_ranks 2 nccl || fail "comm_device nccl on 2 ranks exited non-zero"
grep -q '^PASS' run.txt || fail "no PASS line"

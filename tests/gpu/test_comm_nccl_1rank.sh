# One NCCL rank: device all-reduces (float32 and float64, 1 to 2^23+5 values), broadcasts and
# start/wait buckets equal their closed forms exactly, and host buffers still reduce.
source "$(dirname "$0")/comm_lib.sh"
comm_ranks 1 nccl || fail "comm_device nccl on 1 rank exited non-zero"
grep -q '^PASS' run.txt || fail "no PASS line"

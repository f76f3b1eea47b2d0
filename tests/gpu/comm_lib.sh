# Shared by tests/gpu/test_comm_*.sh (sourced): lib.sh, then a probe of the GPU and NCCL
# through the comm_device program (no MPI), exiting 77 when no CUDA device is visible.
# Sets GPUS (device count) and NCCL_CODE (NCCL's version code, e.g. 22809 for 2.28.9).
source "$(dirname "$0")/../lib.sh"
: "${COMM_DEVICE:?COMM_DEVICE (the comm_device test program) is not set: run through ctest}"
probe_rc=0
"$COMM_DEVICE" --probe > probe.txt 2>&1 || probe_rc=$?
if [ "$probe_rc" -eq 77 ]; then
    cat probe.txt
    exit 77
fi
[ "$probe_rc" -eq 0 ] || { cat probe.txt; fail "comm_device --probe exited $probe_rc"; }
GPUS=$(sed -n 's/^devices=\([0-9]*\).*/\1/p' probe.txt)
NCCL_CODE=$(sed -n 's/.* nccl=\([0-9]*\).*/\1/p' probe.txt)
echo "probe: $GPUS GPU(s), NCCL version code $NCCL_CODE"

# require_nccl_ranks NP: NP NCCL ranks need a GPU each; otherwise the test is skipped (77),
# unless DK_TEST_NCCL_SHARED_GPU=1 and NCCL is 2.30 or later, which lets ranks share a GPU
# (NCCL_MULTI_RANK_GPU_ENABLE=1). That is opt-in: NCCL calls it experimental, and two
# contexts time-sliced on one GPU without MPS may crawl, so scripts/gpu_check.sh runs it
# last, in a step of its own.
require_nccl_ranks() {
    local np=$1
    [ "$GPUS" -ge "$np" ] && return 0
    if [ "$NCCL_CODE" -ge 23000 ] && [ "${DK_TEST_NCCL_SHARED_GPU:-0}" = 1 ]; then
        export NCCL_MULTI_RANK_GPU_ENABLE=1
        return 0
    fi
    echo "$np NCCL ranks on $GPUS GPU(s), NCCL $NCCL_CODE: NCCL refuses ranks sharing a GPU (\"Duplicate GPU" \
        "detected\"), and 2.30 and later allow it (NCCL_MULTI_RANK_GPU_ENABLE=1) only as an experiment, which these" \
        "tests run with DK_TEST_NCCL_SHARED_GPU=1: skipped"
    exit 77
}

# comm_ranks NP ARGS...: comm_device under mpirun; a run the program itself skipped
# (its output ends a line with ": skipped") exits 77.
comm_ranks() {
    local np=$1; shift
    local rc=0
    "$MPIEXEC" --oversubscribe -np "$np" "$COMM_DEVICE" "$@" > run.txt 2>&1 || rc=$?
    cat run.txt
    if [ "$rc" -ne 0 ] && grep -q ': skipped$' run.txt; then exit 77; fi
    return "$rc"
}

# expect_job_end SECONDS PATTERN NP ARGS...: comm_device under mpirun must end non-zero
# within SECONDS (no hang), with stderr/stdout matching PATTERN.
expect_job_end() {
    local limit=$1 pattern=$2 np=$3; shift 3
    local rc=0 start=$SECONDS
    timeout "$limit" "$MPIEXEC" --oversubscribe -np "$np" "$COMM_DEVICE" "$@" > end.txt 2>&1 || rc=$?
    local took=$((SECONDS - start))
    [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || { cat end.txt; fail "'$*' on $np rank(s) hung (killed after ${limit} s)"; }
    [ "$rc" -ne 0 ] || { cat end.txt; fail "'$*' on $np rank(s) exited 0"; }
    if [ "$rc" -eq 77 ] || grep -q ': skipped$' end.txt; then cat end.txt; exit 77; fi
    grep -qE -- "$pattern" end.txt || { cat end.txt; fail "'$*': output lacks /$pattern/"; }
    echo "ok: '$*' on $np rank(s) ended in ${took} s, exit $rc: $(grep -m1 -E -- "$pattern" end.txt)"
}

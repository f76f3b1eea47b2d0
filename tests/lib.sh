# Shared helpers for the scripted tests (sourced). CTest passes DISTKAN, COMPARE_PARAMS, CHECK_KNOTS,
# MPIEXEC and SOURCE_DIR in the environment and a scratch directory as $1.
set -euo pipefail
SCRATCH=${1:?scratch directory}
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cd "$SCRATCH"

fail() { echo "FAIL: $*" >&2; exit 1; }

# run_ranks NP ARGS...: distkan under mpirun with NP ranks; output to stdout.
run_ranks() {
    local np=$1; shift
    "$MPIEXEC" --oversubscribe -np "$np" "$DISTKAN" "$@"
}

# json_number FILE KEY: the number after "KEY": in a flat JSON file.
json_number() {
    sed -n "s/^ *\"$2\": *\([-0-9.eE+]*\).*/\1/p" "$1" | head -n 1
}

# assert_less A B MESSAGE: numeric A < B.
assert_less() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }' || fail "$3: $1 is not below $2"
}

# expect_failure CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN.
expect_failure() {
    local code=$1 pattern=$2; shift 2
    local rc=0
    "$@" > out.txt 2> err.txt || rc=$?
    [ "$rc" -eq "$code" ] || { cat out.txt err.txt; fail "'$*' exited $rc, expected $code"; }
    grep -qE -- "$pattern" err.txt || { cat err.txt; fail "'$*': stderr lacks /$pattern/"; }
    echo "ok: exit $rc, $(head -n 1 err.txt)"
}

# How long a test waits for a background run to reach a point (its first log lines): long,
# since a loaded machine or a Debug build may take half a minute to start a run; the wait
# ends as soon as the point is reached. DK_TEST_WAIT_S overrides.
DK_TEST_WAIT_S=${DK_TEST_WAIT_S:-120}

# wait_for_lines FILE PATTERN N: until FILE holds N lines matching PATTERN; returns 1 when
# DK_TEST_WAIT_S seconds have passed first.
wait_for_lines() {
    local file=$1 pattern=$2 n=$3 deadline=$((SECONDS + DK_TEST_WAIT_S)) c
    while [ "$SECONDS" -lt "$deadline" ]; do
        c=$(grep -c -- "$pattern" "$file" 2> /dev/null || true)
        [ "${c:-0}" -ge "$n" ] && return 0
        sleep 0.05
    done
    return 1
}

# stop_train_after N DIR LOG ARGS...: `distkan train ARGS` (its run directory DIR, output to
# LOG) stopped by SIGTERM once DIR's log holds N training lines; fails unless it stopped
# cleanly (exit 0, a stop line).
stop_train_after() {
    local lines=$1 dir=$2 log=$3 rc=0
    shift 3
    "$DISTKAN" train "$@" > "$log" 2>&1 &
    local pid=$!
    wait_for_lines "$dir/metrics.jsonl.partial" '"phase"' "$lines" ||
        { kill -KILL "$pid" 2> /dev/null; cat "$log"; fail "$dir: the run did not start logging in ${DK_TEST_WAIT_S} s"; }
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] && grep -q "^stopped by SIGTERM" "$log" || { cat "$log"; fail "$dir: not stopped cleanly (exit $rc)"; }
}

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

# stop_train_after N DIR LOG ARGS...: `distkan train ARGS` (its run directory DIR, output to
# LOG) stopped by SIGTERM once DIR's log holds N training lines; fails unless it stopped
# cleanly (exit 0, a stop line).
stop_train_after() {
    local lines=$1 dir=$2 log=$3 logging=0 rc=0
    shift 3
    "$DISTKAN" train "$@" > "$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 400); do
        [ "$(cat "$dir/metrics.jsonl.partial" 2> /dev/null | grep -c '"phase"')" -ge "$lines" ] && { logging=1; break; }
        sleep 0.05
    done
    [ "$logging" -eq 1 ] || fail "$dir: the run did not start logging"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] && grep -q "^stopped by SIGTERM" "$log" || { cat "$log"; fail "$dir: not stopped cleanly (exit $rc)"; }
}

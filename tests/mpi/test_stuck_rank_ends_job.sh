# A rank that is alive but stuck (here: stopped with SIGSTOP mid-run) would leave its peers
# waiting in their next collective until the job's wall time. With DISTKAN_MPI_TIMEOUT = 6
# the peers end the job within seconds, naming themselves and the collective; the
# checkpoints written before stay readable. A job stopped as a whole (Slurm's suspend) is
# not mistaken for a stuck rank, even when its other ranks had already been waiting in a
# collective: after SIGCONT it finishes with the same result as a run never stopped. A
# malformed DISTKAN_MPI_TIMEOUT is a usage error; 0 means no limit.
source "$(dirname "$0")/../lib.sh"
cat > long.ini <<INI
[model]
widths = 2,4,1
grid = 5
seed = 3
[train]
steps = 400000
log_every = 100
[fit]
train_size = 240
test_size = 60
[checkpoint]
every = 200
keep = 2
INI
pids=()
cleanup() { for p in "${pids[@]}"; do kill -CONT "$p" 2> /dev/null || true; kill -KILL "$p" 2> /dev/null || true; done; }
trap cleanup EXIT

# start_job NAME ARGS...: mpirun with 3 ranks in the background; sets job (mpirun's pid)
# and pids (the ranks'), once the run has logged its first steps.
start_job() {
    local name=$1; shift
    DISTKAN_MPI_TIMEOUT=6 "$MPIEXEC" --oversubscribe -np 3 "$DISTKAN" train long.ini --run-dir "$name" "$@" \
        > "$name.out" 2> "$name.err" &
    job=$!
    for _ in $(seq 1 300); do
        grep -q "step *200/" "$name.out" 2> /dev/null && break
        kill -0 "$job" 2> /dev/null || { cat "$name.out" "$name.err"; fail "$name ended before its first steps"; }
        sleep 0.1
    done
    mapfile -t pids < <(pgrep -P "$job")
    [ "${#pids[@]}" -eq 3 ] || fail "$name: expected 3 rank processes under mpirun, found ${#pids[@]}"
}

# wait_bounded SECONDS: waits for $job at most SECONDS; sets rc (124 if it had to be killed).
wait_bounded() {
    local i
    for i in $(seq 1 $(($1 * 10))); do
        kill -0 "$job" 2> /dev/null || break
        sleep 0.1
    done
    if kill -0 "$job" 2> /dev/null; then
        kill -KILL "$job" 2> /dev/null || true
        rc=124
    else
        rc=0
        wait "$job" || rc=$?
    fi
}

# 1. One rank stopped: the others end the job.
start_job stuck
kill -STOP "${pids[2]}"
t0=$(date +%s)
wait_bounded 60
elapsed=$(($(date +%s) - t0))
cleanup
[ "$rc" -ne 124 ] || { cat stuck.err; fail "the job still waited 60 s after a rank was stopped"; }
[ "$rc" -ne 0 ] || fail "a job with a stuck rank exited 0"
grep -qE "rank [0-9]+ \(host .*\): error: waited [0-9]+ s in collective [0-9]+ of this process, MPI_[A-Za-z]+.*DISTKAN_MPI_TIMEOUT" \
    stuck.err || { cat stuck.err; fail "no message naming the waiting rank and the collective"; }
echo "ok: stuck rank: exit $rc after ${elapsed} s: $(grep -m1 'waited' stuck.err | cut -c1-120)..."
last=$(ls stuck/checkpoints/ckpt-*.dkc | tail -n 1)
"$DISTKAN" inspect "$last" > /dev/null || fail "the checkpoint written before the stop, $last, is unreadable"
echo "ok: $last is intact"

# 2. The whole job stopped for 3 timeouts, then continued: not a stuck rank. One rank is
# stopped first, so that the others are already waiting in a collective when the rest of
# the job stops: the time it stays stopped must not count as their waiting.
steps=10000
start_job suspended --set train.steps=$steps --set checkpoint.every=2500
kill -STOP "${pids[2]}"
sleep 1.5
kill -STOP "${pids[0]}" "${pids[1]}"
sleep 18
kill -CONT "${pids[@]}"
wait_bounded 120
[ "$rc" -eq 0 ] || { cat suspended.err; fail "a job suspended as a whole and continued exited $rc"; }
run_ranks 3 train long.ini --run-dir straight --set train.steps=$steps --set checkpoint.every=2500 \
    > straight.out 2> straight.err ||
    fail "the uninterrupted run failed"
cmp -s suspended/final_params.bin straight/final_params.bin ||
    fail "the suspended run's parameters differ from the uninterrupted run's"
echo "ok: suspended 18 s (timeout 6 s) and continued: finished, parameters bit for bit those of a run never stopped"

# 3. A malformed limit.
DISTKAN_MPI_TIMEOUT=soon expect_failure 2 "DISTKAN_MPI_TIMEOUT = 'soon': expected a number of seconds >= 0" \
    run_ranks 2 train long.ini --run-dir bad --set train.steps=1

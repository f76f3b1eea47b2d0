# One run per directory: while a run is training, a second run started in its run
# directory, or naming its checkpoint directory as [checkpoint] dir, is refused with exit
# code 2 on every rank and a message naming the holder (pid, host, start time), before it
# touches anything: the first run's checkpoints are not moved aside or pruned, its
# temporary files are not deleted and its log gets no foreign lines. The lock goes with
# its process, even one killed with SIGKILL, so the next run proceeds.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/slow_pde.ini"

# wait_for_log DIR: until DIR's run has logged two training lines.
wait_for_log() {
    wait_for_lines "$1/metrics.jsonl.partial" '"phase"' 2 || fail "$1: the run did not start logging in ${DK_TEST_WAIT_S} s"
}

# A checkpoint after every update, so that checkpoints, their temporary files and pruning
# are busy for the whole run; long enough (about 15 s) to outlast the attempts below.
"$DISTKAN" train "$cfg" --run-dir shared --set train.steps=4000 --set checkpoint.every=1 --set checkpoint.keep=2 \
    > first.log 2> first.err &
pid=$!
trap 'kill "$pid" 2> /dev/null || true' EXIT # a failing check must not leave it writing the scratch
wait_for_log shared

holder="pid $pid on host $(hostname), started [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC"
expect_failure 2 "run directory shared is in use by another distkan run \($holder\)" \
    run_ranks 2 train "$cfg" --run-dir shared --set train.steps=4000 --set checkpoint.every=1 --set checkpoint.keep=2
[ "$(grep -c 'in use by another distkan run' err.txt)" -eq 1 ] || { cat err.txt; fail "expected the message once"; }
kill -0 "$pid" 2> /dev/null || fail "the first run ended before the second one tried: lengthen it"
expect_failure 2 "checkpoint directory shared/checkpoints is in use by another distkan run \($holder\)" \
    "$DISTKAN" train "$cfg" --run-dir new/other --set checkpoint.dir=shared/checkpoints
[ ! -e new ] || { ls -laR new; fail "the refused run created its run directory"; }
kill -0 "$pid" 2> /dev/null || fail "the first run ended before the third one tried: lengthen it"
# A resume into the busy directory is refused too, without announcing that it resumes. Its
# checkpoint is a copy of one of the first run's (which prunes as it goes: retried).
for _ in $(seq 1 20); do
    ckpts=(shared/checkpoints/ckpt-*.dkc) # sorted; the newest may be pruned before cp
    cp "${ckpts[-1]}" copy.dkc 2> /dev/null && break
    sleep 0.05
done
[ -s copy.dkc ] || fail "could not copy a checkpoint of the first run"
expect_failure 2 "run directory shared is in use by another distkan run \($holder\)" \
    "$DISTKAN" train "$cfg" --run-dir shared --resume copy.dkc
! grep -q "resuming from" out.txt || { cat out.txt; fail "a refused resume announced that it was resuming"; }
kill -0 "$pid" 2> /dev/null || fail "the first run ended before the fourth one tried: lengthen it"

rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat first.log first.err; fail "the first run failed (exit $rc) after the others tried its directory"; }
ls -d shared/checkpoints/earlier-* 2> /dev/null && fail "the refused runs moved the first run's checkpoints aside"
steps=$(sed -n 's/^  "steps": \([0-9]*\),$/\1/p' shared/summary.json)
[ "${steps:-0}" -gt 4000 ] || fail "the first run's summary.json has steps = '$steps', expected its 4000 Adam steps and some L-BFGS"
[ "$(cd shared/checkpoints && ls ckpt-*)" = "$(printf 'ckpt-%012d.dkc\n' $((steps - 1)) "$steps")" ] \
    || { ls -la shared/checkpoints; fail "the kept checkpoints are not exactly the first run's last two"; }
"$DISTKAN" inspect shared/checkpoints > inspect.txt || { cat inspect.txt; fail "a checkpoint of the first run is invalid"; }
# One checkpoint event per update, in order, and training lines in increasing order: the
# log holds the first run's lines only, each once.
[ "$(grep '"event": "checkpoint"' shared/metrics.jsonl | sed 's/^{"step": \([0-9]*\),.*/\1/')" = "$(seq 1 "$steps")" ] \
    || fail "metrics.jsonl's checkpoint events are not exactly steps 1..$steps"
grep '"phase"' shared/metrics.jsonl | sed 's/^{"step": \([0-9]*\),.*/\1/' \
    | awk 'NR > 1 && $1 <= last { bad = 1 } { last = $1 } END { exit bad || NR < 80 }' \
    || fail "metrics.jsonl's training lines are not one series in increasing step order"
echo "ok: three runs refused while the first ran; the first run's checkpoints and log are intact"

# A scratch purge deletes the (never modified) lock files under a running run: the run
# notices before its next checkpoint prunes the directory, locks it again and says so, so
# that a second run is still refused. (Before, the second run got in, moved the first
# run's checkpoints aside, and the first pruned the second's.)
"$DISTKAN" train "$cfg" --run-dir purged --set train.steps=4000 --set checkpoint.every=1 --set checkpoint.keep=2 \
    > purged.log 2> purged.err &
pid=$!
wait_for_log purged
rm purged/.distkan.lock purged/checkpoints/.distkan.lock
wait_for_lines purged.err 'was removed or replaced while this run held it' 2 || true
[ "$(grep -c 'was removed or replaced while this run held it' purged.err)" -eq 2 ] \
    || { cat purged.err; fail "the run did not notice both lock files gone"; }
expect_failure 2 "run directory purged is in use by another distkan run \(pid $pid on host" \
    "$DISTKAN" train "$cfg" --run-dir purged --set train.steps=20
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat purged.log purged.err; fail "the purged run failed (exit $rc)"; }
ls -d purged/checkpoints/earlier-* 2> /dev/null && fail "the refused run moved the purged run's checkpoints aside"
echo "ok: lock files deleted under a run are noticed and taken again"

# A finished run has released its directory.
"$DISTKAN" train "$cfg" --run-dir shared --set train.steps=20 --set lbfgs.steps=5 > again.log \
    || { cat again.log; fail "a run in the directory of a finished run failed"; }

# A run killed with SIGKILL leaves no stale lock.
"$DISTKAN" train "$cfg" --run-dir crashed > crashed.log 2>&1 &
pid=$!
wait_for_log crashed
kill -KILL "$pid"
wait "$pid" 2> /dev/null || true # the "Killed" notice of bash
"$DISTKAN" train "$cfg" --run-dir crashed --set train.steps=20 --set lbfgs.steps=5 > after_crash.log \
    || { cat after_crash.log; fail "a run in the directory of a killed run failed"; }
grep -q "^done: 25 steps" after_crash.log || { cat after_crash.log; fail "the run after the crash did not finish"; }
echo "ok: the lock is released at exit and by a SIGKILL"

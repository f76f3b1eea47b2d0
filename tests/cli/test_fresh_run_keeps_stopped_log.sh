# A fresh run in a directory that holds an unfinished run (stopped by a signal: its
# checkpoints and its metrics.jsonl.partial) moves that run's checkpoints and its training
# log, byte for byte, into checkpoints/earlier-<time>/ before it starts its own log, also
# when [checkpoint] dir is on another file system (the log is copied there). A resumed run
# that skips a corrupt newest checkpoint sets the log of the history it abandons aside too.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/slow_pde.ini"

# stop_run DIR ARGS...: a run in DIR stopped by SIGTERM once it has logged 4 training lines.
stop_run() {
    local dir=$1
    shift
    stop_train_after 4 "$dir" "$dir.log" "$cfg" --run-dir "$dir" --set checkpoint.every=20 "$@"
}

# fresh_run_keeps DIR CKPT_DIR ARGS...: a stopped run in DIR, then a fresh one; the first's
# log and checkpoints are found unchanged in CKPT_DIR/earlier-*/.
fresh_run_keeps() {
    local dir=$1 ckdir=$2
    shift 2
    stop_run "$dir" "$@"
    local log_md5 ckpt_md5
    log_md5=$(md5sum < "$dir/metrics.jsonl.partial")
    ckpt_md5=$(cat "$ckdir"/ckpt-*.dkc | md5sum)
    "$DISTKAN" train "$cfg" --run-dir "$dir" --set train.steps=20 --set lbfgs.steps=5 "$@" > "$dir.fresh.log" \
        || { cat "$dir.fresh.log"; fail "$dir: the fresh run failed"; }
    grep -q "^note: the training log of an earlier unfinished run, $dir/metrics.jsonl.partial, moved to $ckdir/earlier-" \
        "$dir.fresh.log" || { cat "$dir.fresh.log"; fail "$dir: no note about the earlier log"; }
    local aside
    aside=$(ls -d "$ckdir"/earlier-*)
    [ "$(md5sum < "$aside/metrics.jsonl.partial")" = "$log_md5" ] || fail "$dir: the stopped run's log was not kept as it was"
    [ "$(cat "$aside"/ckpt-*.dkc | md5sum)" = "$ckpt_md5" ] || fail "$dir: the stopped run's checkpoints were not kept"
    [ "$(sed 's/^{"step": \([0-9]*\),.*/\1/' "$dir/metrics.jsonl" | sort -n | tail -n 1)" -eq 25 ] \
        || fail "$dir: the fresh run's log holds lines beyond its own 25 steps"
    [ ! -e "$dir/metrics.jsonl.partial" ] || fail "$dir: a partial log is left after the fresh run finished"
    echo "ok: $dir: the stopped run's log ($(grep -c '"phase"' "$aside/metrics.jsonl.partial") lines) and checkpoints are in $aside"
}

fresh_run_keeps run run/checkpoints

# Checkpoints on another file system than the run directory, where a rename cannot move.
shm=/dev/shm/distkan-test-$$
if [ -d /dev/shm ] && mkdir "$shm" 2> /dev/null; then
    trap 'rm -rf "$shm"' EXIT
    if [ "$(stat -c %d "$shm")" != "$(stat -c %d .)" ]; then
        fresh_run_keeps other "$shm/ck" --set checkpoint.dir="$shm/ck"
    else
        echo "note: /dev/shm is on the same file system: the copy across file systems is not exercised"
    fi
fi

# Resumed past a corrupt newest checkpoint: the history after the older one goes aside
# with its log; the new log carries the lines up to the older checkpoint.
stop_run resumed --set checkpoint.keep=10
newest=$(ls resumed/checkpoints/ckpt-*.dkc | tail -n 1)
older=$(ls resumed/checkpoints/ckpt-*.dkc | tail -n 2 | head -n 1)
older_step=$((10#$(basename "$older" .dkc | sed 's/ckpt-//')))
log_md5=$(md5sum < resumed/metrics.jsonl.partial)
printf '\x55' | dd of="$newest" bs=1 seek=20 conv=notrunc status=none
"$DISTKAN" train "$cfg" --run-dir resumed --set checkpoint.every=20 --set checkpoint.keep=10 --resume latest \
    > resumed.again.log 2> resumed.again.err || { cat resumed.again.log resumed.again.err; fail "the resume failed"; }
grep -q "^resuming from $older: step $older_step," resumed.again.log || { cat resumed.again.log; fail "not resumed from $older"; }
aside=$(ls -d resumed/checkpoints/earlier-*)
[ "$(md5sum < "$aside/metrics.jsonl.partial")" = "$log_md5" ] || fail "resumed: the abandoned log was not kept as it was"
[ -f "$aside/$(basename "$newest")" ] || fail "resumed: the corrupt checkpoint was not kept aside"
grep -q "^{\"step\": $older_step, \"event\": \"checkpoint\"" resumed/metrics.jsonl || fail "resumed: lines up to the checkpoint not carried"
echo "ok: resumed from step $older_step past a corrupt newest checkpoint; the abandoned log is in $aside"

# A fresh run where a run finished: that run's results (log, summary, final parameters) are
# replaced when the new run ends, and kept in earlier-<time>/, byte for byte. A resume
# that abandons part of a finished history (past a corrupt final checkpoint) keeps them too.
small="$SOURCE_DIR/tests/mpi/small_fit.ini"
"$DISTKAN" train "$small" --run-dir done --set train.steps=30 --set checkpoint.every=10 > done.log || fail "done: first run"
sums=$(cd done && md5sum config.ini summary.json final_params.bin final_state.bin metrics.jsonl)
"$DISTKAN" train "$small" --run-dir done --set train.steps=20 > done.fresh.log || fail "done: the fresh run failed"
grep -q "^note: the results of an earlier run in done (5 files: its log, summary and final parameters), which this run replaces when it ends, are kept in done/checkpoints/earlier-" \
    done.fresh.log || { cat done.fresh.log; fail "done: no note about the earlier results"; }
aside=$(ls -d done/checkpoints/earlier-*)
[ "$(cd "$aside" && md5sum config.ini summary.json final_params.bin final_state.bin metrics.jsonl)" = "$sums" ] \
    || fail "done: the finished run's results were not kept as they were"
[ "$(json_number done/summary.json steps)" = 20 ] || fail "done: the fresh run's summary is not its own"
echo "ok: a fresh run keeps the finished run's results in $aside"
"$DISTKAN" train "$small" --run-dir hist --set train.steps=30 --set checkpoint.every=10 --set checkpoint.keep=5 > hist.log \
    || fail "hist: first run"
log_md5=$(md5sum < hist/metrics.jsonl)
printf '\x55' | dd of=hist/checkpoints/ckpt-000000000030.dkc bs=1 seek=20 conv=notrunc status=none
"$DISTKAN" train "$small" --run-dir hist --set train.steps=40 --set checkpoint.every=10 --set checkpoint.keep=5 \
    --resume latest > hist.again.log 2> hist.again.err || { cat hist.again.log hist.again.err; fail "hist: the resume failed"; }
aside=$(ls -d hist/checkpoints/earlier-*)
[ "$(md5sum < "$aside/metrics.jsonl")" = "$log_md5" ] || fail "hist: the abandoned history's finished log was not kept"
echo "ok: a resume past a corrupt final checkpoint keeps the abandoned history's finished log in $aside"

# A fresh run over a stopped run, failing before it saves anything: the stopped run's
# checkpoints stay in place; its log went aside at the fresh run's start, where the resume
# finds it (by the length and CRC-32C its checkpoint recorded) and carries it on; the
# failed run's own log is set aside in turn, not overwritten.
stop_run over
ckpts=$(ls over/checkpoints/ckpt-*.dkc)
rc=0
"$DISTKAN" train "$cfg" --run-dir over --set train.lr=1e300 --set checkpoint.every=20 > over.fail.log 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat over.fail.log; fail "over: the diverging fresh run exited $rc, expected 1"; }
[ "$(ls over/checkpoints/ckpt-*.dkc)" = "$ckpts" ] || fail "over: the failed run moved the stopped run's checkpoints"
stopped_log=$(ls over/checkpoints/earlier-*/metrics.jsonl.partial)
failed_md5=$(md5sum < over/metrics.jsonl.partial)
"$DISTKAN" train "$cfg" --run-dir over --set checkpoint.every=20 --resume latest > over.again.log 2> over.again.err \
    || { cat over.again.log over.again.err; fail "over: resuming the stopped run failed"; }
grep -q "^note: the training log up to step [0-9]* is carried over from $stopped_log" over.again.log \
    || { cat over.again.log over.again.err; fail "over: the stopped run's log was not found aside"; }
[ "$(head -n 1 over/metrics.jsonl)" = "$(head -n 1 "$stopped_log")" ] || fail "over: the log does not continue the stopped run's"
step=$(sed -n 's/^resuming from .*: step \([0-9]*\),.*/\1/p' over.again.log)
grep -q "^{\"step\": $step, \"event\": \"checkpoint\"" over/metrics.jsonl || fail "over: lines up to step $step not carried"
found=0
for f in over/checkpoints/earlier-*/metrics.jsonl.partial; do [ "$(md5sum < "$f")" = "$failed_md5" ] && found=1; done
[ "$found" -eq 1 ] || fail "over: the failed run's log was overwritten, not set aside"
echo "ok: over: a failed fresh run left the stopped run resumable, its log carried from $stopped_log"

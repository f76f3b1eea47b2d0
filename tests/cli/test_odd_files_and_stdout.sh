# Files that are not what they seem, and an output that cannot be written:
# - a symbolic or hard link named like a run's partial log, pointing at a file elsewhere:
#   the run replaces the name, and the file it pointed at keeps its bytes;
# - a FIFO under that name: the run replaces it too, instead of waiting for a reader;
# - a command whose standard output cannot be written (/dev/full) exits 1 saying so, for
#   every command that prints (check, keys, inspect, --help, --version, device);
# - a training run whose progress reader goes away (`| head -n 3`) trains on to the end
#   and writes its results, warning once, instead of dying of SIGPIPE without a checkpoint.
source "$(dirname "$0")/../lib.sh"
# A copy in the scratch directory: the commands below are word-split strings, and the
# source tree's path may hold spaces.
cp "$SOURCE_DIR/tests/mpi/small_fit.ini" small_fit.ini
cfg=small_fit.ini
opts=(--set train.steps=5 --set checkpoint.every=5)

echo precious > precious.txt
cp precious.txt expected.txt
mkdir symlinked hardlinked fifo
ln -s ../precious.txt symlinked/metrics.jsonl.partial
ln precious.txt hardlinked/metrics.jsonl.partial
mkfifo fifo/metrics.jsonl.partial
for dir in symlinked hardlinked fifo; do
    rc=0
    timeout 60 "$DISTKAN" train "$cfg" "${opts[@]}" --run-dir "$dir" > "$dir.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { cat "$dir.log"; fail "training with a $dir metrics.jsonl.partial failed (exit $rc)"; }
    cmp -s precious.txt expected.txt || fail "the run in $dir/ wrote into the file its partial log named"
    [ -f "$dir/metrics.jsonl" ] && [ ! -L "$dir/metrics.jsonl" ] && grep -q '"step": 5' "$dir/metrics.jsonl" \
        || fail "$dir/: no log of its own"
    echo "ok: $dir metrics.jsonl.partial replaced, the file elsewhere untouched"
done

for cmd in "check $cfg" "keys" "keys --markdown" "inspect symlinked" "--help" "--version" "device"; do
    rc=0
    # shellcheck disable=SC2086
    "$DISTKAN" $cmd > /dev/full 2> err.txt || rc=$?
    [ "$rc" -eq 1 ] && grep -q "cannot write to standard output: No space left on device" err.txt \
        || { cat err.txt; fail "distkan $cmd > /dev/full: exit $rc"; }
    echo "ok: distkan $cmd > /dev/full: exit 1, $(head -n 1 err.txt)"
done

# A run directory that is a symbolic link loop, or a link to nowhere: the cause is named
# (it was "exists and is not a directory").
ln -s loop_b loop_a && ln -s loop_a loop_b && ln -s nowhere dangling
expect_failure 1 "cannot use 'loop_a' as a directory: Too many levels of symbolic links" \
    "$DISTKAN" train "$cfg" --run-dir loop_a --set train.steps=1
expect_failure 1 "cannot use 'dangling' as a directory: No such file or directory" \
    "$DISTKAN" train "$cfg" --run-dir dangling --set train.steps=1

{ "$DISTKAN" train "$cfg" --run-dir piped --set train.steps=300 --set train.log_every=1 2> piped.err; echo $? > piped.rc; } \
    | head -n 3 > /dev/null
rc=$(cat piped.rc)
[ "$rc" -eq 0 ] || { cat piped.err; fail "a training run piped into head exited $rc"; }
grep -q '"steps": 300,' piped/summary.json || { cat piped.err; fail "the piped run did not finish"; }
[ "$(grep -c "warning: the progress output cannot be written (Broken pipe): training goes on" piped.err)" -eq 1 ] \
    || { cat piped.err; fail "the piped run did not warn once that its progress is lost"; }
echo "ok: a run piped into head trains to the end and says so once"

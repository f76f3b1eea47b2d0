# A run directory or checkpoint directory the run cannot write in (here: mode 555, for a
# process without root's CAP_DAC_OVERRIDE) stops the run at set-up with exit 1, naming the
# directory and the option that chose it, before any training step. Before, an existing
# writable lock file let the run train to its first checkpoint and fail there.
source "$(dirname "$0")/../lib.sh"
# A copy in the scratch directory: the commands below are word-split strings, and the
# source tree's path may hold spaces.
cp "$SOURCE_DIR/tests/mpi/small_fit.ini" small_fit.ini
cfg=small_fit.ini
if [ "$(id -u)" = 0 ]; then
    command -v setpriv > /dev/null || { echo "root without setpriv: permissions cannot be enforced: skipped"; exit 77; }
    as_user() { setpriv --bounding-set -dac_override,-dac_read_search "$@"; }
else
    as_user() { "$@"; }
fi
as_user true 2> /dev/null || { echo "setpriv cannot drop capabilities here: skipped"; exit 77; }
mkdir probe && chmod 555 probe
if as_user touch probe/x 2> /dev/null; then
    chmod 755 probe
    echo "permissions are not enforced here: skipped"; exit 77
fi
chmod 755 probe
trap 'chmod -R u+w . 2> /dev/null' EXIT

"$DISTKAN" train "$cfg" --run-dir run --set train.steps=5 > first.log || fail "the first run failed"
check() { # WHAT DIR PATTERN
    chmod 555 "$2"
    local rc=0
    as_user "$DISTKAN" train "$cfg" --run-dir run --set train.steps=50 --resume latest > out.txt 2> err.txt || rc=$?
    chmod 755 "$2"
    [ "$rc" -eq 1 ] || { cat out.txt err.txt; fail "$1 not writable: exit $rc, expected 1"; }
    grep -q "$3" err.txt || { cat err.txt; fail "$1 not writable: no message naming it"; }
    ! grep -q "step 10/50" out.txt || fail "$1 not writable: the run trained before failing"
    echo "ok: $1 not writable: exit 1 at set-up: $(head -n 1 err.txt | sed 's/.*error: [^ ]*: //')"
}
check "checkpoint directory" run/checkpoints "cannot create files in the checkpoint directory 'run/checkpoints' (\[checkpoint\] dir): Permission denied"
check "run directory" run "cannot create files in the run directory 'run' (--run-dir, else \[output\] run_dir): Permission denied"
# A training log the resume cannot read stops it: going on would drop the history.
chmod 000 run/metrics.jsonl
rc=0
as_user "$DISTKAN" train "$cfg" --run-dir run --set train.steps=50 --resume latest > out.txt 2> err.txt || rc=$?
chmod 644 run/metrics.jsonl
[ "$rc" -eq 1 ] || { cat out.txt err.txt; fail "unreadable log: exit $rc, expected 1"; }
grep -q "cannot read run/metrics.jsonl, the .*training log.*: Permission denied" err.txt \
    || { cat err.txt; fail "unreadable log: no message naming it"; }
echo "ok: an unreadable training log stops the resume, naming it"
# An unreadable newest checkpoint stops --resume latest and predict, naming it: it is not
# damaged, and skipping it for the one before would give up the steps between them.
newest=$(ls run/checkpoints/ckpt-*.dkc | tail -n 1)
chmod 000 "$newest"
printf 'x0,x1\n0.1,0.2\n' > points.csv
for cmd in "train $cfg --run-dir run --set train.steps=50 --resume latest" "predict run points.csv"; do
    rc=0
    as_user "$DISTKAN" $cmd > out.txt 2> err.txt || rc=$?
    [ "$rc" -eq 1 ] || { chmod 644 "$newest"; cat out.txt err.txt; fail "unreadable checkpoint, ${cmd%% *}: exit $rc, expected 1"; }
    grep -q "cannot open checkpoint $newest: Permission denied (not skipped for an older checkpoint" err.txt \
        || { chmod 644 "$newest"; cat err.txt; fail "unreadable checkpoint, ${cmd%% *}: no message naming it"; }
done
chmod 644 "$newest"
[ -f "$newest" ] || fail "the unreadable checkpoint was moved"
echo "ok: an unreadable newest checkpoint stops the resume and predict, naming it"
# In a [checkpoint] dir other runs share, an unreadable file may be theirs: skipped with a
# warning. Run "a" writes there, run "b" a newer checkpoint that this user cannot read (and
# sets a's aside); predict on "a" finds a's own, and a new run "c" with --resume auto (no
# log yet) starts afresh, instead of failing on it.
"$DISTKAN" train "$cfg" --run-dir a --set checkpoint.dir=shared --set train.steps=5 > a.log || fail "run a failed"
"$DISTKAN" train "$cfg" --run-dir b --set checkpoint.dir=shared --set train.steps=9 --set model.seed=2 > b.log \
    || fail "run b failed"
theirs=shared/ckpt-000000000009.dkc
[ -f "$theirs" ] || fail "run b wrote no $theirs: $(ls shared)"
chmod 000 "$theirs"
trap 'chmod -R u+w . 2> /dev/null; chmod -R a+r shared 2> /dev/null' EXIT
as_user "$DISTKAN" predict a points.csv > /dev/null 2> a.err || { cat a.err; fail "shared: predict a failed"; }
grep -q "skipping checkpoint $theirs: cannot be opened: Permission denied (in a directory other runs share" a.err \
    || { cat a.err; fail "shared: predict did not say why it skipped $theirs"; }
rc=0
as_user "$DISTKAN" train "$cfg" --run-dir c --set checkpoint.dir=shared --set train.steps=3 --resume auto \
    > c.log 2> c.err || rc=$?
[ "$rc" -eq 0 ] || { cat c.log c.err; fail "shared: --resume auto beside another run's unreadable checkpoint: exit $rc"; }
grep -q "starting a new run" c.log || { cat c.log; fail "shared: --resume auto did not start a new run"; }
echo "ok: in a shared checkpoint directory another run's unreadable checkpoint is skipped, said so"
"$DISTKAN" train "$cfg" --run-dir run --set train.steps=50 --resume latest > again.log || fail "the writable resume failed"
# The first run's line (its last step, 5), then the resumed run's 10, 20, ..., 50.
[ "$(grep '"phase"' run/metrics.jsonl | sed 's/^{"step": \([0-9]*\),.*/\1/' | tr '\n' ' ')" = "5 10 20 30 40 50 " ] \
    || fail "the resumed log's steps: $(grep '"phase"' run/metrics.jsonl | cut -c1-20)"
echo "unwritable run and checkpoint directories are refused at set-up"

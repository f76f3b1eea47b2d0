# The final outputs of a run (config.ini, final_params.bin, final_state.bin, summary.json,
# metrics.jsonl) replace an earlier run's as one set: when one of them cannot be written
# (its .partial name is taken by a directory) or cannot be put in place (its name is
# taken by a directory: refused at set-up, before any training), the run fails naming it,
# every file of the earlier run is byte-identical to before, no .partial of the set is left
# behind but the log of a run that trained (kept for diagnosis), and once the obstacle is
# gone the next run replaces them all.
source "$(dirname "$0")/../lib.sh"
outputs="config.ini final_params.bin final_state.bin summary.json metrics.jsonl"
printf '[model]\nwidths = 2,3,1\n[train]\nsteps = 20\nlog_every = 5\n' > first.ini
"$DISTKAN" train first.ini --run-dir out > first.log || { cat first.log; fail "the first run failed"; }
(cd out && md5sum $outputs) > first.md5
# A second run whose every output differs from the first's (another grid: other knots too).
second() { "$DISTKAN" train first.ini --run-dir out --set model.grid=4 --set model.seed=9 "$@"; }

# check_first_intact CASE [before-training]: the first run's files are all unchanged, and
# no stray partials; the failed run's log is kept, unless it failed before training.
check_first_intact() {
    (cd out && md5sum --quiet -c ../first.md5) || fail "$1: the earlier run's files were changed"
    for f in config.ini final_params.bin final_state.bin summary.json; do
        [ ! -f "out/$f.partial" ] || fail "$1: out/$f.partial was left behind"
    done
    ls out/*.previous.* 2> /dev/null && fail "$1: a backup of the earlier files was left behind"
    if [ "${2:-}" = before-training ]; then
        [ ! -e out/metrics.jsonl.partial ] || fail "$1: the run started training (it wrote a log)"
    else
        [ -f out/metrics.jsonl.partial ] || fail "$1: the failed run's log was not kept for diagnosis"
    fi
    echo "ok: $1: the earlier run's five files are unchanged"
}

# An output's name is a directory: found at set-up, before hours of training are spent.
mv out/summary.json summary.json.saved
mkdir out/summary.json
touch out/summary.json/inside
expect_failure 1 "out/summary\.json' is a directory" second
mv out/summary.json/inside . && rmdir out/summary.json && mv summary.json.saved out/summary.json
check_first_intact "summary.json occupied by a directory" before-training

# A .partial that cannot be created, after two that were written.
mkdir out/final_state.bin.partial
expect_failure 1 "out/final_state\.bin\.partial" second
[ -d out/final_state.bin.partial ] || fail "the obstacle directory was removed"
rmdir out/final_state.bin.partial
check_first_intact "final_state.bin.partial occupied by a directory"

# The log's own name taken: the same. (The log the previous case kept goes first, so that
# a new one would show.)
rm out/metrics.jsonl.partial
mv out/metrics.jsonl metrics.jsonl.saved
mkdir out/metrics.jsonl
expect_failure 1 "out/metrics\.jsonl' is a directory" second
rmdir out/metrics.jsonl && mv metrics.jsonl.saved out/metrics.jsonl
check_first_intact "metrics.jsonl occupied by a directory" before-training

# A file that cannot be renamed (immutable), which no check before the renames can see:
# the renames done before it are undone. Where chattr is not allowed, skipped.
if chattr +i out/final_state.bin 2> /dev/null; then
    trap 'chattr -i out/final_state.bin 2> /dev/null || true' EXIT # else the next run cannot clear the scratch dir
    rc=0
    second > immutable.log 2> immutable.err || rc=$?
    chattr -i out/final_state.bin
    [ "$rc" -eq 1 ] && grep -q "out/final_state\.bin" immutable.err || { cat immutable.err; fail "immutable: exit $rc"; }
    check_first_intact "final_state.bin immutable"
else
    echo "note: chattr +i is not allowed here: the undo of a failed rename is not exercised"
fi

# Nothing in the way: the second run replaces every file.
second > second.log || { cat second.log; fail "the second run failed with nothing in its way"; }
for f in $outputs; do
    grep -q "^$(cd out && md5sum "$f")\$" first.md5 && fail "$f was not replaced"
done
grep -q '"grid": 4,' out/summary.json || fail "summary.json is not the second run's"
ls out/*.partial out/*.previous.* 2> /dev/null && fail "partial or backup files left after a successful run"
echo "ok: with nothing in its way the second run replaced all five files"

# A run that fails (here: diverges to a non-finite loss) leaves the results an earlier run
# saved in the same directory untouched, and, failing before it saved anything, its
# checkpoints where they were.
source "$(dirname "$0")/../lib.sh"
printf '[model]\nwidths = 2,3,1\n[train]\nsteps = 20\nlog_every = 5\n' > ok.ini
"$DISTKAN" train ok.ini --run-dir out > first.log
cp out/final_params.bin before.bin
cp out/summary.json before.json
rc=0
"$DISTKAN" train ok.ini --run-dir out --set train.lr=1e300 --set train.steps=50 > second.log 2> err.txt || rc=$?
[ "$rc" -ne 0 ] || fail "a diverging run exited 0"
grep -q "loss" err.txt || { cat err.txt; fail "no message about the loss"; }
cmp -s before.bin out/final_params.bin || fail "final_params.bin was overwritten by a failed run"
cmp -s before.json out/summary.json || fail "summary.json was overwritten by a failed run"
echo "failed run (exit $rc) left the earlier results intact"

# A fresh run that fails before it saves anything (no checkpoint yet) leaves the earlier
# run usable from its directory: its checkpoints stay where they were (no earlier-*/ made),
# predict and inspect find its model, and a resume continues its history with its own
# training log (the failed run's metrics.jsonl.partial, newer, is not taken for it).
"$DISTKAN" train ok.ini --run-dir kept --set checkpoint.every=10 --set train.log_every=1 > kept1.log \
    || { cat kept1.log; fail "the first run in kept/ failed"; }
(cd kept/checkpoints && md5sum ckpt-*.dkc) > kept_ckpts.md5
cp kept/metrics.jsonl kept_log.jsonl
printf 'x0,x1\n0.1,0.2\n-0.5,0.7\n' > points.csv
"$DISTKAN" predict kept points.csv --out pred_before.csv 2> /dev/null || fail "predict before the failed run"
rc=0
"$DISTKAN" train ok.ini --run-dir kept --set train.lr=1e300 --set train.steps=50 --set checkpoint.every=10 \
    > kept2.log 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat kept2.log; fail "the diverging run in kept/ exited $rc, expected 1"; }
(cd kept/checkpoints && md5sum -c --quiet ../../kept_ckpts.md5) || fail "the failed run moved or changed the checkpoints"
[ -z "$(ls -d kept/checkpoints/earlier-* 2> /dev/null)" ] || fail "the failed run set the history aside: $(ls kept/checkpoints)"
"$DISTKAN" predict kept points.csv --out pred_after.csv 2> /dev/null || fail "predict after the failed run"
cmp -s pred_before.csv pred_after.csv || fail "predict gives another model after the failed run"
"$DISTKAN" inspect kept > /dev/null || fail "inspect of the run directory after the failed run"
"$DISTKAN" train ok.ini --run-dir kept --set train.steps=25 --set checkpoint.every=10 --set train.log_every=1 \
    --resume latest > kept3.log 2> kept3.err || { cat kept3.log kept3.err; fail "resuming the earlier run failed"; }
grep -q "resuming from kept/checkpoints/ckpt-000000000020.dkc: step 20" kept3.log || { cat kept3.log; fail "not resumed from step 20"; }
cmp -s kept_log.jsonl <(head -c "$(stat -c %s kept_log.jsonl)" kept/metrics.jsonl) \
    || fail "the resumed log does not begin with the earlier run's log"
grep -q "warning" kept3.err && { cat kept3.err; fail "resuming warned"; }
echo "a fresh run that failed before saving left the earlier run usable: checkpoints, predict, resume, log"
# One that fails after its first checkpoint had set the earlier history aside then, as it
# said; its own checkpoint is the directory's newest.
rc=0
"$DISTKAN" train ok.ini --run-dir kept --set train.lr=1e100 --set checkpoint.every=1 > kept4.log 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat kept4.log; fail "the run failing at step 2 exited $rc, expected 1"; }
grep -q "note: 3 checkpoints of an earlier run in kept/checkpoints are not from this run's history: moved to" kept4.log \
    || { cat kept4.log; fail "no note of the history set aside"; }
[ "$(ls kept/checkpoints/earlier-*/ckpt-*.dkc | wc -l)" -eq 3 ] || fail "the earlier checkpoints are not aside"
[ "$(cd kept/checkpoints && ls ckpt-*.dkc)" = "ckpt-000000000001.dkc" ] || fail "not only the failed run's checkpoint left"
echo "a run that failed after its first checkpoint had set the earlier history aside"

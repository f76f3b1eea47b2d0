# A run that fails (here: diverges to a non-finite loss) leaves the results an earlier run
# saved in the same directory untouched.
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

# A run killed while it replaced its outputs (NAME -> NAME.previous.<pid>, NAME.partial ->
# NAME, name after name) leaves a mix; the next run in the directory repairs it before it
# writes there: half-way, the earlier set is put back (the new files it had placed
# removed, the log kept); with every new file placed, the new set stays and the .previous
# files go; .previous files of several processes are an error that touches nothing.
# The states are built by hand, as the kill would leave them (pid 4242424 is not running).
source "$(dirname "$0")/../lib.sh"
outputs="config.ini final_params.bin final_state.bin summary.json metrics.jsonl"
printf '[model]\nwidths = 2,3,1\n[train]\nsteps = 5\nlog_every = 5\n' > a.ini
"$DISTKAN" train a.ini --run-dir out > a.log || { cat a.log; fail "the first run failed"; }
(cd out && md5sum $outputs) > old.md5
# A later run that fails at its first step, after set-up (where the repair happens).
failing() { "$DISTKAN" train a.ini --run-dir out --set train.lr=1e300 > failing.log 2> failing.err; }

# Killed half-way: config.ini and final_params.bin replaced, the other three not yet.
for f in config.ini final_params.bin; do mv "out/$f" "out/$f.previous.4242424"; echo new > "out/$f"; done
for f in final_state.bin summary.json metrics.jsonl; do echo new > "out/$f.partial"; done
failing && fail "the failing run succeeded"
grep -q "were being replaced by process 4242424 when it ended; the earlier set is back in place" failing.err \
    || { cat failing.err; fail "half-way: no note"; }
(cd out && md5sum --quiet -c ../old.md5) || fail "half-way: the earlier outputs were not restored"
ls out/*.previous.* 2> /dev/null && fail "half-way: .previous files left"
for f in config.ini final_params.bin final_state.bin summary.json; do
    [ ! -e "out/$f.partial" ] || fail "half-way: out/$f.partial left"
done
echo "ok: half-way: the earlier set is back"

# Killed after the new set was placed, while removing the old files: the new set stays.
rm -f out/metrics.jsonl.partial
for f in $outputs; do cp "out/$f" "out/$f.old"; echo "new $f" > "out/$f"; done
mv out/config.ini.old out/config.ini.previous.4242424
mv out/summary.json.old out/summary.json.previous.4242424
rm out/*.old
failing && fail "the failing run succeeded"
grep -q "its new set was complete and stays" failing.err || { cat failing.err; fail "complete: no note"; }
for f in $outputs; do [ "$(cat "out/$f")" = "new $f" ] || fail "complete: out/$f is not the new one"; done
ls out/*.previous.* 2> /dev/null && fail "complete: .previous files left"
echo "ok: complete: the new set stays"

# Two processes' leftovers: refused, nothing touched.
echo a > out/config.ini.previous.4242424
echo b > out/summary.json.previous.4242425
state() { find out -maxdepth 1 -type f ! -name .distkan.lock -exec md5sum {} + | sort; } # the lock names its holder
before=$(state)
rc=0
failing || rc=$?
[ "$rc" -eq 1 ] || { cat failing.err; fail "several pids: exit $rc, expected 1"; }
grep -q "several earlier runs" failing.err || { cat failing.err; fail "several pids: no message"; }
[ "$before" = "$(state)" ] || fail "several pids: the directory was changed"
echo "interrupted replacements are repaired: half-way -> earlier set, complete -> new set; mixes refused"

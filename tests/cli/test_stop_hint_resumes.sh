# After a stop signal, the printed hint is one a user can follow literally: it names the
# run directory and the checkpoint directory, and the same command line (here with
# --run-dir and a --set that moves the checkpoints) plus --resume latest continues from
# the stop checkpoint and finishes the run.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/slow_pde.ini"
args=("$cfg" --run-dir elsewhere --set checkpoint.dir=ckpts --set checkpoint.every=0)

"$DISTKAN" train "${args[@]}" > stopped.log 2> stopped.err &
pid=$!
logging=0
for _ in $(seq 1 400); do
    [ "$(cat elsewhere/metrics.jsonl.partial 2> /dev/null | grep -c '"phase"')" -ge 2 ] && { logging=1; break; }
    sleep 0.05
done
[ "$logging" -eq 1 ] || fail "the run did not start logging"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || { cat stopped.log stopped.err; fail "the stopped run exited $rc"; }
hint=$(grep '^stopped by SIGTERM at step ' stopped.log) || { cat stopped.log; fail "no stop line"; }
step=$(echo "$hint" | sed -n 's/^stopped by SIGTERM at step \([0-9]*\) of .*/\1/p')
echo "$hint" | grep -qF "resume with: the same command line plus --resume latest (run directory elsewhere, checkpoints in ckpts)" \
    || fail "the hint does not say how to resume this run: $hint"
[ -f "$(printf 'ckpts/ckpt-%012d.dkc' "$step")" ] || fail "no checkpoint of step $step in ckpts/"

# The stopped run has no config.ini yet: its directory still leads the tools to ckpts/ (the
# note its start left), and to the stop checkpoint.
"$DISTKAN" inspect elsewhere > inspect.out 2> inspect.err || { cat inspect.out inspect.err; fail "inspect of the stopped run failed"; }
grep -q "^checkpoints of the run in elsewhere: .*ckpts$" inspect.out || { cat inspect.out; fail "inspect did not find ckpts/"; }
grep -q "^valid    .*ckpts/ckpt-0*$step.dkc  step $step," inspect.out || { cat inspect.out; fail "inspect did not list the stop checkpoint"; }

# Following the hint.
"$DISTKAN" train "${args[@]}" --resume latest > resumed.log || { cat resumed.log; fail "the resumed run failed"; }
grep -q "^resuming from ckpts/ckpt-0*$step.dkc: step $step," resumed.log \
    || { cat resumed.log; fail "following the hint did not resume from the stop checkpoint"; }
grep -q '"steps": 1600,' elsewhere/summary.json || fail "the resumed run did not finish"
echo "ok: $hint: followed, it resumed from step $step and finished"

# After a stop signal, the printed hint is one a user can follow literally: it names the
# run directory and the checkpoint directory (relative ones with the working directory they
# are taken from), and the same command line (here with
# --run-dir and a --set that moves the checkpoints) plus --resume latest continues from
# the stop checkpoint and finishes the run; for a run started with --resume auto, the same
# command line as it was.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/slow_pde.ini"
args=("$cfg" --run-dir elsewhere --set checkpoint.dir=ckpts --set checkpoint.every=0)

# stop_after_two_lines RUN_DIR LOG ARGS...: trains, stops the run by SIGTERM once it has
# logged twice, and sets hint and step from its stop line.
stop_after_two_lines() {
    stop_train_after 2 "$@"
    hint=$(grep '^stopped by SIGTERM at step ' "$2")
    step=$(echo "$hint" | sed -n 's/^stopped by SIGTERM at step \([0-9]*\) of .*/\1/p')
}

stop_after_two_lines elsewhere stopped.log "${args[@]}"
echo "$hint" | grep -qF "resume with: the same command line plus --resume latest (run directory elsewhere, checkpoints in ckpts; from $PWD)" \
    || fail "the hint does not say how to resume this run (relative paths: from where): $hint"
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

# A job script with --resume auto (a requeueable job's first start): the hint says that the
# same command line goes on, and it does (adding --resume latest would give the option twice).
auto=("$cfg" --run-dir auto_run --set checkpoint.every=0 --resume auto)
stop_after_two_lines auto_run auto_stopped.log "${auto[@]}"
echo "$hint" | grep -qF "resume with: the same command line (its --resume auto goes on from here)" \
    || fail "the hint of a --resume auto run does not say that the same command line goes on: $hint"
"$DISTKAN" train "${auto[@]}" > auto_resumed.log || { cat auto_resumed.log; fail "the resumed auto run failed"; }
grep -q "^resuming from auto_run/checkpoints/ckpt-0*$step.dkc: step $step," auto_resumed.log \
    || { cat auto_resumed.log; fail "the same --resume auto command line did not resume from the stop checkpoint"; }
grep -q '"steps": 1600,' auto_run/summary.json || fail "the resumed auto run did not finish"
echo "ok: $hint: followed, it resumed from step $step and finished"

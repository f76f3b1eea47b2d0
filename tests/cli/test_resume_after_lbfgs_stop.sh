# A run whose L-BFGS stopped early (no progress) can be trained further: resuming with a
# larger plan reopens the stage with a fresh L-BFGS history and trains on; a smaller plan
# no smaller than what was done leaves it ended (nothing trained, parameters unchanged); a
# plan below what was done is refused, naming the keys that set it. With grid stages, a
# finished stage keeps its count and the message says which stage may change.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
lb=(--set train.optimizer=lbfgs --set lbfgs.tolerance_change=3e-3)
"$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=100 --run-dir first > first.log \
    || { cat first.log; fail "the first run failed"; }
done_steps=$(sed -n 's/^L-BFGS stopped at step \([0-9]*\): no progress.*/\1/p' first.log)
[ -n "$done_steps" ] && [ "$done_steps" -lt 99 ] \
    || { cat first.log; fail "expected an early L-BFGS stop well before 100 iterations"; }
first_loss=$(json_number first/summary.json final_loss)
echo "L-BFGS stopped early at step $done_steps (loss $first_loss)"

# Below what was done: refused, the run directory untouched.
snapshot() { (cd "$1" && find . -type f -exec md5sum {} + | sort); }
snapshot first > before.md5
expect_failure 2 "plan $((done_steps - 1)) updates for grid stage 1 \(G 5\), fewer than the $done_steps .* has done in it; \[train\] steps \+ \[lbfgs\] steps may grow, or shrink" \
    "$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=$((done_steps - 1)) --run-dir first --resume latest
snapshot first > after.md5
diff before.md5 after.md5 || fail "a refused resume changed the run directory"

# Shrunk, but not below what was done: the stage stays ended; nothing is trained.
cp -r first shrunk
"$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=$((done_steps + 1)) --run-dir shrunk --resume latest \
    > shrunk.log 2>&1 || { cat shrunk.log; fail "resuming with a smaller plan failed"; }
! grep -q "goes on" shrunk.log || { cat shrunk.log; fail "a smaller plan reopened the stage"; }
[ "$(json_number shrunk/summary.json steps)" = "$done_steps" ] || fail "the ended stage trained on"
cmp first/final_params.bin shrunk/final_params.bin || fail "the parameters changed though nothing was trained"

# Grown: the stage goes on, with a fresh L-BFGS history, and the loss falls further.
cp -r first grown
"$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=150 --run-dir grown --resume latest > grown.log 2>&1 \
    || { cat grown.log; fail "resuming with a larger plan failed"; }
grep -q "grid stage 1, which L-BFGS ended after $done_steps of its 100 planned updates, goes on to 150 with a fresh L-BFGS history" \
    grown.log || { cat grown.log; fail "no report of the reopened stage"; }
grown_steps=$(json_number grown/summary.json steps)
grown_loss=$(json_number grown/summary.json final_loss)
[ "$grown_steps" -gt "$done_steps" ] || fail "the reopened stage did no update ($grown_steps steps)"
assert_less "$grown_loss" "$first_loss" "final loss after reopening vs before"
echo "reopened: $done_steps -> $grown_steps steps, loss $first_loss -> $grown_loss"

# The stop's tolerance may change on resume too (reported): the reopened stage then runs on.
cp -r first looser
"$DISTKAN" train "$cfg" --set train.optimizer=lbfgs --set lbfgs.tolerance_change=0 --set lbfgs.steps=150 \
    --run-dir looser --resume latest > looser.log 2>&1 || { cat looser.log; fail "resuming with tolerance_change = 0 failed"; }
grep -q "\[lbfgs\] tolerance_change: 0.003 -> 0" looser.log || { cat looser.log; fail "the changed tolerance is not reported"; }
looser_steps=$(json_number looser/summary.json steps)
[ "$looser_steps" -gt $((done_steps + 10)) ] || fail "with tolerance_change = 0 the reopened stage ran only to step $looser_steps"
echo "reopened with tolerance_change = 0: $done_steps -> $looser_steps steps"

# Grid stages: once stage 1 has ended and stage 2 runs, stage 1's count is fixed.
"$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=100 --set grid.schedule=3,5 --set model.grid=3 \
    --set checkpoint.final=true --run-dir staged > staged.log || { cat staged.log; fail "the staged run failed"; }
expect_failure 2 "grid stage 1 \(G 3\) was finished with 50 updates planned .* the step counts now plan 40: a finished stage keeps its count; change \[grid\] steps .* for stage 2 \(the current one\) or later stages only" \
    "$DISTKAN" train "$cfg" "${lb[@]}" --set lbfgs.steps=100 --set grid.schedule=3,5 --set model.grid=3 \
    --set grid.steps=40,60 --run-dir staged --resume latest

# adam_then_lbfgs: once L-BFGS has started, the Adam phase is over, and a resume that plans
# more Adam steps is refused (it would run Adam steps after L-BFGS ones), the run untouched.
"$DISTKAN" train "$cfg" --set train.optimizer=adam_then_lbfgs --set train.steps=10 --set lbfgs.steps=4 \
    --run-dir phases > phases.log || { cat phases.log; fail "the adam_then_lbfgs run failed"; }
snapshot phases > phases_before.md5
expect_failure 2 "\[train\] steps = 20 cannot continue .*: it has done 10 Adam steps and started L-BFGS, so the Adam phase is over" \
    "$DISTKAN" train "$cfg" --set train.optimizer=adam_then_lbfgs --set train.steps=20 --set lbfgs.steps=10 \
    --run-dir phases --resume latest
snapshot phases | cmp -s - phases_before.md5 || fail "the refused resume changed the run's files"
"$DISTKAN" train "$cfg" --set train.optimizer=adam_then_lbfgs --set train.steps=10 --set lbfgs.steps=10 \
    --run-dir phases --resume latest > phases2.log || { cat phases2.log; fail "more L-BFGS steps after the Adam ones were refused"; }
echo "ok: more Adam steps after L-BFGS started are refused; more L-BFGS steps resume"

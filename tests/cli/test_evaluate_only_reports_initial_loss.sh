# train.steps = 0 ("evaluate only") reports the initial model: its training loss (fit: the
# full-batch MSE; PDE: the loss and its interior and boundary terms) and its evaluation,
# the same in the text output, summary.json's top level and its stage, and on 1 and 2
# ranks. Reference: the loss logged at step 1 of a run with one update, which is measured
# on the initial model before that update.
source "$(dirname "$0")/../lib.sh"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"

# first_line_field FILE KEY: KEY's value on the first training line of a metrics.jsonl.
first_line_field() { grep -m 1 '"phase"' "$1" | sed -n "s/.*\"$2\": \([-0-9.eE+]*\).*/\1/p"; }
# stage_field FILE KEY: KEY's value in summary.json's first stage.
stage_field() { grep -m 1 '"first_step"' "$1" | sed -n "s/.*\"$2\": \([-0-9.eE+null]*\).*/\1/p"; }

# Fit, full batch: the reference is the loss before update 1, on the same full batch and
# the same number of ranks (the sum over ranks rounds differently).
for np in 1 2; do
    run_ranks "$np" train "$fit" --run-dir "fit_ref$np" --set train.batch=0 --set train.steps=1 \
        --set train.log_every=1 > /dev/null || fail "the one-step fit run on $np ranks failed"
    want=$(first_line_field "fit_ref$np/metrics.jsonl" loss)
    assert_less 0 "$want" "the reference loss"
    run_ranks "$np" train "$fit" --run-dir "fit$np" --set train.batch=0 --set train.steps=0 > "fit$np.log" \
        || { cat "fit$np.log"; fail "the evaluate-only fit run on $np ranks failed"; }
    s="fit$np/summary.json"
    [ "$(json_number "$s" final_loss)" = "$want" ] \
        || fail "$np ranks: final_loss $(json_number "$s" final_loss), expected the initial model's $want"
    [ "$(stage_field "$s" loss)" = "$want" ] || fail "$np ranks: the stage's loss $(stage_field "$s" loss), expected $want"
    rmse=$(json_number "$s" test_rmse)
    assert_less 0 "$rmse" "$np ranks: test_rmse"
    [ "$(stage_field "$s" test_rmse)" = "$rmse" ] \
        || fail "$np ranks: the stage's test_rmse $(stage_field "$s" test_rmse) differs from the summary's $rmse"
    grep -q "^done: 0 steps in .*, final loss $(printf '%.6e' "$want"), test RMSE $(printf '%.6e' "$rmse");" "fit$np.log" \
        || { cat "fit$np.log"; fail "$np ranks: the text output does not report the initial loss $want"; }
done
echo "ok: fit, 0 steps: final loss $want (the initial model's) everywhere, on 1 and 2 ranks"

# L-BFGS's objective with [train] batch set is the mean over the mini-batches: with 4 equal
# batches (96 of 384 rows) that is the full-batch MSE, to rounding (a sum of the batches'
# losses would read 4 times it). Reference: the Adam full-batch value above, on 1 rank.
run_ranks 1 train "$fit" --run-dir lbfgs_batches --set train.optimizer=lbfgs --set lbfgs.steps=0 \
    --set train.batch=96 > lbfgs_batches.log || { cat lbfgs_batches.log; fail "the evaluate-only L-BFGS run failed"; }
grep -q "^global batch 96 " lbfgs_batches.log || { cat lbfgs_batches.log; fail "not 4 batches of 96"; }
got=$(json_number lbfgs_batches/summary.json final_loss)
full=$(first_line_field fit_ref1/metrics.jsonl loss)
awk -v a="$got" -v b="$full" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 1e-12 * b) }' ||
    fail "L-BFGS over 4 batches: loss $got, expected the full-batch $full"
echo "ok: L-BFGS over 4 mini-batches minimises their mean, the full-batch loss"

# PDE: the loss and both of its terms, on the points of epoch 0.
"$DISTKAN" train "$pde" --run-dir pde_ref --set train.steps=1 --set lbfgs.steps=0 --set train.log_every=1 > /dev/null \
    || fail "the one-step PDE run failed"
"$DISTKAN" train "$pde" --run-dir pde0 --set train.steps=0 --set lbfgs.steps=0 > pde0.log \
    || { cat pde0.log; fail "the evaluate-only PDE run failed"; }
for pair in final_loss:loss final_loss_interior:loss_interior final_loss_boundary:loss_boundary; do
    got=$(json_number pde0/summary.json "${pair%%:*}")
    want=$(first_line_field pde_ref/metrics.jsonl "${pair#*:}")
    assert_less 0 "$want" "the reference ${pair#*:}"
    [ "$got" = "$want" ] || fail "PDE, 0 steps: ${pair%%:*} $got, expected the initial model's $want"
done
[ "$(stage_field pde0/summary.json loss)" = "$(json_number pde0/summary.json final_loss)" ] \
    || fail "PDE, 0 steps: the stage's loss differs from final_loss"
[ "$(stage_field pde0/summary.json rel_l2)" = "$(json_number pde0/summary.json rel_l2)" ] \
    || fail "PDE, 0 steps: the stage's rel_l2 differs from the summary's"
grep -q "^done: 0 steps in .*, final loss $(printf '%.6e' "$(json_number pde0/summary.json final_loss)")," pde0.log \
    || { cat pde0.log; fail "PDE, 0 steps: the text output does not report the initial loss"; }
echo "ok: PDE, 0 steps: the loss and its terms are the initial model's"

# rel_l2 undefined: a zero exact solution everywhere (helmholtz2d with a1 = 0) is said to
# be so; one zero only at the evaluation points (a 3 x 3 grid of sin(pi x) sin(pi y^2))
# asks for a larger evaluation set.

"$DISTKAN" train "$pde" --run-dir zero_u --set pde.problem=helmholtz2d --set pde.a1=0 --set train.steps=0 \
    --set lbfgs.steps=0 > zero_u.log 2> zero_u.err || { cat zero_u.err; fail "zero_u failed"; }
grep -q "rel_l2 is undefined and reported as nan: the exact solution is zero over the whole domain" zero_u.err \
    || { cat zero_u.err; fail "zero_u: no warning that the solution is zero everywhere"; }
"$DISTKAN" train "$pde" --run-dir zero_grid --set pde.eval_grid=3 --set train.steps=0 --set lbfgs.steps=0 \
    > zero_grid.log 2> zero_grid.err || { cat zero_grid.err; fail "zero_grid failed"; }
grep -q "zero, to rounding, at all 9 evaluation points .*raise \[pde\] eval_grid or eval_points" zero_grid.err \
    || { cat zero_grid.err; fail "zero_grid: no advice to raise the evaluation set"; }
echo "ok: an undefined rel_l2 is explained: zero everywhere, or only at the evaluation points"

# The evaluate-only run's checkpoint is the first thing in its log: predict, functions and
# inspect take it as the run's own (they said it was another run's, with a warning).
printf 'x0,x1\n0.1,0.2\n' > points.csv
"$DISTKAN" predict fit1 points.csv > /dev/null 2> predict.err || { cat predict.err; fail "predict on fit1 failed"; }
grep -q "warning" predict.err && { cat predict.err; fail "predict warned about the evaluate-only run's checkpoint"; }
"$DISTKAN" functions fit1 --out phi.csv 2> functions.err || { cat functions.err; fail "functions on fit1 failed"; }
grep -q "warning" functions.err && { cat functions.err; fail "functions warned about the evaluate-only run's checkpoint"; }
"$DISTKAN" inspect fit1 > inspect.txt || fail "inspect fit1 failed"
grep -q "another run" inspect.txt && { cat inspect.txt; fail "inspect called the evaluate-only run's checkpoint another run's"; }
echo "ok: the evaluate-only run's checkpoint is its own for predict, functions and inspect"

# A run that ends with Adam reports, as final_loss (and as each grid stage's loss), the
# training loss of the parameters it saves (the stage ended with). Adam's logged loss is its batch's before the update, so without a measurement after
# the last update a run could save a model broken by that update (a learning rate too high)
# and report the loss of the model before it, exit 0 and print no warning.
# Reference: the mean squared error of `distkan predict`'s outputs over the training rows
# (all rows: no test set), computed here with awk.
source "$(dirname "$0")/../lib.sh"
awk 'BEGIN { srand(3); print "a,b,y"; for (i = 0; i < 64; i++) { a = 2 * rand() - 1; b = 2 * rand() - 1;
     printf "%.17g,%.17g,%.17g\n", a, b, sin(2 * a) * b + 0.3 * a * a } }' > data.csv
printf '[model]\nwidths = 2,4,1\nseed = 5\n[train]\nsteps = 40\nbatch = 16\nlr = 0.01\nlog_every = 10\n[fit]\ncsv = data.csv\ntrain_size = 0\ntest_size = 0\n' > fit.ini

# mse_of_predictions RUN: the MSE of RUN's saved model over data.csv.
mse_of_predictions() {
    "$DISTKAN" predict "$1" data.csv --out "$1.pred.csv" 2> /dev/null || fail "predict $1 failed"
    awk -F, 'NR > 1 { d = $4 - $3; s += d * d; n++ } END { printf "%.17g\n", s / n }' "$1.pred.csv"
}

# Four mini-batches of 16, on 1 and 3 ranks (the rows split unevenly): the final loss is the
# saved model's full-batch MSE, not the last batch's loss before its update.
for np in 1 3; do
    run_ranks "$np" train fit.ini --run-dir "adam$np" > "adam$np.log" || { cat "adam$np.log"; fail "adam$np failed"; }
    final=$(json_number "adam$np/summary.json" final_loss)
    want=$(mse_of_predictions "adam$np")
    logged=$(grep '"phase": "adam"' "adam$np/metrics.jsonl" | tail -n 1 | sed 's/.*"loss": \([-0-9.eE+]*\).*/\1/')
    awk -v a="$final" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 1e-12 * b) }' ||
        fail "$np ranks: final_loss $final, expected the saved model's MSE $want (the last batch's loss: $logged)"
    grep -q "^done: 40 steps in .*, final loss $(printf '%.6e' "$want")," "adam$np.log" ||
        { cat "adam$np.log"; fail "$np ranks: the done line does not give the saved model's loss $want"; }
    echo "ok: $np ranks: final_loss $final = the saved model's MSE $want (last batch before its update: $logged)"
done

# Likewise every stage of a grid schedule: a stage's loss in summary.json is the full-batch
# MSE of the parameters it ended with (its checkpoint, written before the extension), not
# the loss of its last batch before the update (1 and 3 ranks).
for np in 1 3; do
    run_ranks "$np" train fit.ini --run-dir "stages$np" --set grid.schedule=3,5 --set grid.steps=20,20 \
        --set checkpoint.every=20 --set checkpoint.keep=5 > "stages$np.log" || { cat "stages$np.log"; fail "stages$np failed"; }
    stage0=$(grep '{"grid": 3, "first_step": 0' "stages$np/summary.json" | sed 's/.*"loss": \([-0-9.eE+]*\).*/\1/')
    want=$(mse_of_predictions "stages$np/checkpoints/ckpt-000000000020.dkc")
    awk -v a="$stage0" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 1e-12 * b) }' ||
        fail "$np ranks: the G = 3 stage's loss is $stage0, expected its final model's MSE $want"
    echo "ok: $np ranks: the first stage's loss $stage0 = the MSE of the model it ended with, $want"
done

# A last update that breaks the model fails the run (exit 1, the learning rate named), once
# on 3 ranks, and the results of the earlier run in the same directory stay as they were.
"$DISTKAN" train fit.ini --run-dir kept > /dev/null || fail "the first run in 'kept' failed"
cp kept/summary.json summary.before
cp kept/final_params.bin params.before
expect_failure 1 "the training loss is nan at step 1 \(the final parameters', after the last update\): lower \[train\] lr \(now 1e\+300\)" \
    "$DISTKAN" train fit.ini --run-dir kept --set train.lr=1e300 --set train.steps=1
cmp -s kept/summary.json summary.before || fail "the failed run changed the earlier run's summary.json"
cmp -s kept/final_params.bin params.before || fail "the failed run changed the earlier run's final_params.bin"
expect_failure 1 "the training loss is nan at step 1 \(the final parameters'" \
    run_ranks 3 train fit.ini --run-dir broken3 --set train.lr=1e300 --set train.steps=1
[ "$(grep -c 'error' err.txt)" -eq 1 ] || { cat err.txt; fail "3 ranks: not exactly one error report"; }
[ ! -e broken3/summary.json ] || fail "a run whose final model is not finite wrote results"

# Its checkpoint of that step (checkpoint.every = 1) is what predict then finds: the
# warning on its NaN rows says the model itself is broken, not the inputs.
expect_failure 1 "the final parameters'" "$DISTKAN" train fit.ini --run-dir broken_ckpt --set train.lr=1e300 \
    --set train.steps=1 --set checkpoint.every=1
"$DISTKAN" predict broken_ckpt data.csv --out broken.csv 2> predict.err || { cat predict.err; fail "predict failed"; }
grep -q "warning: 64 rows gave NaN or infinite values .* the model's largest parameter is 1e+300 in magnitude, so the model itself is broken" \
    predict.err || { cat predict.err; fail "predict's warning does not say the model is broken"; }

# A last update that makes the loss huge but finite ends normally and says so.
"$DISTKAN" train fit.ini --run-dir huge --set train.lr=100 --set train.steps=1 > huge.log 2> huge.err ||
    { cat huge.err; fail "a finite blow-up in the last update failed the run"; }
want=$(mse_of_predictions huge)
final=$(json_number huge/summary.json final_loss)
awk -v a="$final" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 1e3 && d <= 1e-12 * b) }' ||
    fail "lr 100: final_loss $final, expected the saved model's MSE $want (above 1e3)"
grep -qE "warning: the training loss rose from .* before step 1 to .* after step 1: the run diverged" huge.err ||
    { cat huge.err; fail "no divergence warning for the last update's blow-up"; }
echo "ok: a last update that broke the model fails the run or is warned of; final_loss is the saved model's"

# A non-finite training loss stops the run with exit 1 and a cause that fits: before the
# first update (an initial model whose outputs overflow), or in an evaluate-only run, it
# names the initialisation and data, not the learning rate; after an update with a huge learning rate, the rate.
# Multi-rank runs report it once.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
expect_failure 1 "training loss of the initial model is inf, before any update: check the data" \
    "$DISTKAN" train "$cfg" --run-dir initial --set model.scale_sp=1e308 --set model.scale_base_mu=1e308
grep -q "lower \[train\] lr" err.txt && fail "the initial model's overflow blamed the learning rate"
# With no updates at all ([train] steps = 0, evaluate only) likewise: no results, exit 1.
expect_failure 1 "training loss of the initial model is inf, before any update: check the data" \
    "$DISTKAN" train "$cfg" --run-dir evaluate_only --set train.steps=0 --set model.scale_sp=1e308 \
    --set model.scale_base_mu=1e308
[ ! -e evaluate_only/summary.json ] || fail "an evaluation of a non-finite model wrote results"
expect_failure 1 "training loss is nan at step 2: lower \[train\] lr \(now 1e\+300\)" \
    "$DISTKAN" train "$cfg" --run-dir step2 --set train.lr=1e300
# On several ranks every rank sees the same all-reduced loss and stops at the same step:
# rank 0 reports it once (not one traceback per rank), and the job ends without MPI_Abort.
one_report() { # NAME PATTERN SET...: 3 ranks, exit 1, the error printed exactly once
    local name=$1 pattern=$2
    shift 2
    expect_failure 1 "$pattern" run_ranks 3 train "$cfg" --run-dir "$name" "$@"
    [ "$(grep -c 'error' err.txt)" -eq 1 ] || { cat err.txt; fail "$name: not exactly one error report"; }
    grep -q "every rank stopped here" err.txt || fail "$name: the report does not say every rank stopped"
    grep -q "MPI_ABORT" err.txt && fail "$name: the job was aborted instead of ending"
    [ -e "$name/metrics.jsonl.partial" ] || fail "$name: the log of the failed run was not kept"
}
one_report adam_ranks "training loss is nan at step 2" --set train.lr=1e300
one_report grid_ranks "training loss is nan at step 2, before the grid update: lower \[train\] lr" \
    --set train.lr=1e300 --set grid.update_every=1
one_report lbfgs_ranks "the loss is inf where L-BFGS starts" --set train.optimizer=lbfgs \
    --set model.scale_sp=1e308 --set model.scale_base_mu=1e308
# A PDE model that an update broke: its error on the evaluation points is NaN whatever the
# rank count, and the progress line spells it nan, never -nan. With eval_grid = 2 and 3
# ranks, rank 0 holds no evaluation point: the maximum over ranks must keep the others' NaN.
printf '[model]\nwidths = 1,2,1\ngrid = 3\ngrid_range = 0,1\n[train]\nsteps = 5\nlr = 1e300\nlog_every = 1\n[task]\ntype = pde\n[pde]\nproblem = poisson_nd\ndim = 1\ninterior_points = 5\nboundary_points = 4\neval_grid = 2\n' > nan_pde.ini
for np in 1 3; do
    run_ranks "$np" train nan_pde.ini --run-dir "nan_pde$np" > out.txt 2> err.txt && fail "nan_pde$np: the run succeeded"
    grep -qE "step 1/5 .* rel_l2 nan  max_err nan  lr" out.txt || { cat out.txt; fail "nan_pde$np: step 1 hid the NaN error"; }
    grep -q -- "-nan" out.txt && fail "nan_pde$np: the progress line printed -nan"
done
# A blow-up that stays finite ends normally, with a warning that names it: a learning rate
# of 1e6 takes the loss from 6 to about 1e32 in 30 steps. A run that trains says nothing.
"$DISTKAN" train "$cfg" --run-dir finite --set train.lr=1e6 --set train.steps=30 > out.txt 2> err.txt ||
    fail "a finite blow-up failed the run"
grep -qE "warning: the training loss rose from .* before step 1 to .* after step 30: the run diverged; lower \[train\] lr \(now 1e\+06\)" err.txt ||
    { cat err.txt; fail "no divergence warning"; }
"$DISTKAN" train "$cfg" --run-dir trains --set train.steps=30 > out.txt 2> err.txt || fail "a normal run failed"
grep -q "diverged" err.txt && fail "a normal run warned of divergence: $(cat err.txt)"
# Errors whose squares overflow (a test target of 2e154) give a finite test RMSE, not inf
# (shown as null, which means "no test set"): it equals the closed form 2e154 / sqrt(20)
# within 1e-12, on 1 and on 3 ranks. The seeded split
# decides which row is a test row: the big target goes to each row in turn until a run
# evaluates (a training row would make the training loss inf: exit 1).
awk 'BEGIN { print "x,y"; for (i = 0; i < 40; i++) { x = -1 + 2 * i / 39; printf "%.17g,%.17g\n", x, x * x } }' > moderate.csv
printf '[model]\nwidths = 1,3,1\n[train]\nsteps = 0\n[fit]\ncsv = big.csv\ntrain_size = 20\ntest_size = 20\n' > big.ini
found=""
for row in $(seq 2 41); do
    awk -v row="$row" -F, 'NR == row { $2 = "2e154" } { print }' OFS=, moderate.csv > big.csv
    if "$DISTKAN" train big.ini --run-dir big > big.log 2>&1; then found=$row; break; fi
done
[ -n "$found" ] || fail "no row of big.csv landed in the test set"
for np in 1 3; do
    run_ranks "$np" train big.ini --run-dir "big$np" > "big$np.log" 2> "big$np.err" || fail "big$np: the run failed"
    rmse=$(json_number "big$np/summary.json" test_rmse)
    awk -v a="$rmse" 'BEGIN { e = 2e154 / sqrt(20); d = (a - e) / e; exit !(d < 1e-12 && -d < 1e-12) }' \
        || { cat "big$np.log" "big$np.err"; fail "big$np: test RMSE '$rmse', expected 2e154/sqrt(20) = 4.4721e+153"; }
    grep -q "warning: the test RMSE" "big$np.err" && fail "big$np: a finite RMSE was warned of"
done
echo "ok: a test target of 2e154 (line $found): test RMSE $rmse on 1 and 3 ranks, the closed form to 1e-12"
# A huge but finite training value (a target of 1e300 on line 17: its square is inf) is read,
# and the initial model's loss names it by file, line, column and value: on 1 rank, on 2 and
# 3 (where the seeded split gives line 17 to another rank than rank 0, which reports), where
# L-BFGS starts, and at a later step whose batch first holds it (batch 10: step 3).
awk -F, 'NR == 17 { $2 = "1e300" } { print }' OFS=, moderate.csv > huge.csv
printf '[model]\nwidths = 1,3,1\n[train]\nsteps = 3\n[fit]\ncsv = huge.csv\ntrain_size = 0\ntest_size = 0\n' > huge.ini
note="of the training rows, the value of largest magnitude is 1e\+300, at huge.csv:17, column 2 \('y'\)"
expect_failure 1 "the training loss of the initial model is inf, before any update: check the data \(non-finite or huge values; $note\)" \
    "$DISTKAN" train huge.ini --run-dir huge
for np in 2 3; do
    expect_failure 1 "the training loss of the initial model is inf, before any update: check the data \(non-finite or huge values; $note\)" \
        run_ranks "$np" train huge.ini --run-dir "huge$np"
done
expect_failure 1 "the loss is inf where L-BFGS starts \(step 1\); $note" \
    "$DISTKAN" train huge.ini --run-dir huge_lbfgs --set train.optimizer=lbfgs
expect_failure 1 "the training loss is inf at step 3: lower \[train\] lr \(now 0.01\) or check the data \($note\) or problem" \
    "$DISTKAN" train huge.ini --run-dir huge_batch --set train.batch=10
echo "non-finite losses name their likely cause; finite blow-ups are warned of"

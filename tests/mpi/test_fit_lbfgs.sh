# L-BFGS on a fit task: the objective is the mean loss over all training batches (here 4
# blocks of 96 rows), the same for every world size, so 1 and 2 ranks agree within 1e-10
# relative; and the loss falls well below where Adam's first step found it.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
for np in 1 2; do
    run_ranks "$np" train "$cfg" --set train.optimizer=lbfgs --set lbfgs.steps=30 --run-dir "np$np" > "np$np.log"
done
tail -n 2 np2.log
"$COMPARE_PARAMS" np1/final_params.bin np2/final_params.bin float64 1e-10 \
    || fail "L-BFGS fit: world size 2 differs from world size 1"
first=$(sed -n 's/.*"step": 10, "phase": "lbfgs", "grid": [0-9]*, "loss": \([-0-9.eE+]*\).*/\1/p' np1/metrics.jsonl)
last=$(json_number np1/summary.json final_loss)
[ -n "$first" ] && [ -n "$last" ] || fail "missing L-BFGS losses in metrics.jsonl or summary.json"
assert_less "$last" "$first" "final loss after 30 iterations vs loss at iteration 10"
grep -q '"adam_steps": 0' np1/summary.json || fail "optimizer = lbfgs ran Adam steps"
echo "L-BFGS fit: 1 and 2 ranks agree; loss $first (iteration 10) -> $last (30)"
# A stop at the first iteration (gradient below a huge tolerance_grad) is logged as an
# L-BFGS line: step length 0, no learning rate.
run_ranks 1 train "$cfg" --set train.optimizer=lbfgs --set lbfgs.steps=30 --set lbfgs.tolerance_grad=1e9 \
    --run-dir stop > stop.log || { cat stop.log; fail "the tolerance stop run failed"; }
grep -q "L-BFGS stopped at step 1: gradient below tolerance_grad" stop.log || { cat stop.log; fail "no stop at step 1"; }
line=$(grep '"phase": "lbfgs"' stop/metrics.jsonl | head -n 1)
case $line in
    *'"step_length": 0, "evals": 0'*) ;;
    *) fail "the stop's log line: $line" ;;
esac
[[ $line != *'"lr"'* ]] || fail "an L-BFGS line carries a learning rate: $line"
echo "an L-BFGS stop at its first iteration is logged with step length 0"

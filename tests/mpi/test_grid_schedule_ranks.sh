# A grid schedule (3 -> 6 -> 12) with grid updates from samples, Adam then L-BFGS, on 1, 2
# and 4 ranks. Every run ends with its own cross-rank check of parameter and grid bytes
# (a mismatch fails the run); here: the same world size twice gives identical bytes, other
# world sizes agree to rounding, every extension keeps the loss within 1%, and the
# summary records the stages.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_grid.ini"
for np in 1 2 4; do
    run_ranks "$np" train "$cfg" --run-dir "np$np" > "np$np.log" || { cat "np$np.log"; fail "$np ranks failed"; }
done
run_ranks 2 train "$cfg" --run-dir np2_again > np2_again.log
for f in final_params.bin final_state.bin; do
    "$COMPARE_PARAMS" "np2/$f" "np2_again/$f" float64 0 || fail "two runs with 2 ranks differ in $f"
    for np in 2 4; do
        "$COMPARE_PARAMS" "np1/$f" "np$np/$f" float64 1e-7 || fail "$f of world size $np differs from world size 1"
    done
done
grep -q "grid update at step 1 " np2.log || fail "no grid update at the first step"
[ "$(grep -c '"event": "grid_update"' np2/metrics.jsonl)" -eq 9 ] || fail "expected 9 grid updates (3 per stage)"
extensions=$(grep '"event": "grid_extension"' np4/metrics.jsonl)
[ "$(printf '%s\n' "$extensions" | wc -l)" -eq 2 ] || fail "expected 2 grid extensions"
printf '%s\n' "$extensions" | while read -r line; do
    before=$(printf '%s' "$line" | sed -n 's/.*"loss_before": \([-0-9.eE+]*\).*/\1/p')
    after=$(printf '%s' "$line" | sed -n 's/.*"loss_after": \([-0-9.eE+]*\).*/\1/p')
    awk -v a="$after" -v b="$before" 'BEGIN { d = a / b - 1; exit !(d < 0.01 && d > -0.01) }' \
        || fail "an extension moved the loss from $before to $after (more than 1%)"
    echo "extension: loss $before -> $after"
done
[ "$(json_number np4/summary.json grid)" = 12 ] || fail "summary.json: final grid is not 12"
[ "$(grep -c '"grid": [0-9]*, "first_step"' np4/summary.json)" -eq 3 ] || fail "summary.json lacks 3 stages"
echo "grid schedule: identical bytes for the same world size, 1/2/4 ranks agree, extensions keep the loss"

# Sizes a config accepts but no machine can hold fail with a clear "cannot allocate" or
# "size overflow" error (exit 1) that names the key to lower, never a crash: counts whose
# byte size wraps around size_t must not turn into small buffers.
source "$(dirname "$0")/../lib.sh"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
too_big="(size overflow|cannot allocate)"
for n in 1152921504606846976 4611686018427387904 9223372036854775807; do
    expect_failure 1 "$too_big.*interior points \(this rank's share of \[pde\] interior_points\)" \
        "$DISTKAN" train "$pde" --run-dir pde_$n --set pde.interior_points=$n
done
expect_failure 1 "$too_big.*\[pde\] boundary_points" "$DISTKAN" train "$pde" --run-dir pde_b \
    --set pde.boundary_points=4611686018427387904
# 10^5 points per axis in 3 dimensions: 10^15 evaluation points; beyond 3 inputs eval_points.
expect_failure 1 "$too_big.*evaluation points \(this rank's share of \[pde\] eval_grid\^inputs\)" \
    "$DISTKAN" train "$SOURCE_DIR/examples/poisson_nd.ini" --run-dir pde_e --set pde.dim=3 \
    --set model.widths=3,4,1 --set pde.eval_grid=100000
expect_failure 1 "$too_big.*\[pde\] eval_points" "$DISTKAN" train "$SOURCE_DIR/examples/poisson_nd.ini" \
    --run-dir pde_p --set pde.dim=5 --set model.widths=5,4,1 --set pde.eval_points=4611686018427387904
expect_failure 1 "$too_big.*\[fit\] train_size" "$DISTKAN" train "$fit" --run-dir fit_t \
    --set fit.train_size=4611686018427387904 --set train.batch=0
expect_failure 1 "$too_big.*\[fit\] test_size" "$DISTKAN" train "$fit" --run-dir fit_v \
    --set fit.test_size=4611686018427387904
# Widths whose parameter count wraps size_t: named as an overflow, never a small buffer.
expect_failure 1 "size overflow: layer 1 \(2147483647 -> 2147483647" "$DISTKAN" train "$fit" --run-dir wide \
    --set model.widths=2,2147483647,2147483647,1
# Activations of a wide layer for a large full batch, under a 6 GB address-space limit:
# the error says which settings size those buffers.
expect_failure 1 "cannot allocate 16000000000 bytes for activations \(the network keeps 1000000 rows per layer: .*set a smaller \[train\] batch" \
    bash -c 'ulimit -v 6000000 && exec "$0" "$@"' "$DISTKAN" train "$SOURCE_DIR/examples/fit_exp_sin_sq.ini" \
    --run-dir acts --set model.widths=2,2000,1 --set fit.train_size=1000000 --set train.steps=1
# Parameters too large: the same on every rank, so no batch advice.
expect_failure 1 "cannot allocate [0-9]+ bytes for parameters" \
    bash -c 'ulimit -v 6000000 && exec "$0" "$@"' "$DISTKAN" train "$fit" --run-dir params \
    --set model.widths=2,100000,100000,1 --set train.steps=1
! grep -q "smaller \[train\] batch" err.txt || { cat err.txt; fail "a parameter allocation got the batch advice"; }
echo "huge sizes fail with allocation errors that name the key, no crash"

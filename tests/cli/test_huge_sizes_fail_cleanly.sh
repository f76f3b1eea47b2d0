# Sizes a config accepts but no machine can hold fail with a clear "cannot allocate" or
# "size overflow" error (exit 1), never a crash: counts whose byte size wraps around
# size_t must not turn into small buffers.
source "$(dirname "$0")/../lib.sh"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
for n in 1152921504606846976 4611686018427387904 9223372036854775807; do
    expect_failure 1 "size overflow for interior points|cannot allocate" "$DISTKAN" train "$pde" --run-dir pde_$n \
        --set pde.interior_points=$n
done
expect_failure 1 "cannot allocate|size overflow" "$DISTKAN" train "$pde" --run-dir pde_b --set pde.boundary_points=4611686018427387904
expect_failure 1 "cannot allocate|size overflow" "$DISTKAN" train "$fit" --run-dir fit_t --set fit.train_size=4611686018427387904 \
    --set train.batch=0
# Widths whose parameter count wraps size_t: named as an overflow, never a small buffer.
expect_failure 1 "size overflow: layer 1 \(2147483647 -> 2147483647" "$DISTKAN" train "$fit" --run-dir wide \
    --set model.widths=2,2147483647,2147483647,1
echo "huge sizes fail with allocation errors, no crash"

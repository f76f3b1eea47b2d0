# 50 float64 Adam steps on a fixed global batch give the same parameters with 1, 2 and 4
# ranks (within 1e-10 relative: only the order of the floating-point sums changes), and
# the same world size twice gives identical bytes.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
for np in 1 2 4; do
    run_ranks "$np" train "$cfg" --run-dir "np$np" > "np$np.log"
done
run_ranks 2 train "$cfg" --run-dir np2_again > np2_again.log
for np in 2 4; do
    "$COMPARE_PARAMS" np1/final_params.bin "np$np/final_params.bin" float64 1e-10 \
        || fail "world size $np differs from world size 1"
done
"$COMPARE_PARAMS" np2/final_params.bin np2_again/final_params.bin float64 0 \
    || fail "two runs with 2 ranks are not bitwise identical"
grep -q '"world_size": 4' np4/summary.json || fail "summary.json does not record world_size 4"
echo "world-size invariance holds for 1, 2, 4 ranks; 2 ranks twice: identical bytes"

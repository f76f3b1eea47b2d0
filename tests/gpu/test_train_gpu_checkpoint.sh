# A GPU run resumes bit-exactly from its own checkpoints (the device state goes to the host
# for the checkpoint and back after the restore), including across the Adam -> L-BFGS switch
# and a grid extension; and a GPU checkpoint resumes on the CPU (to 1e-9).
source "$(dirname "$0")/gpu_lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_grid.ini"
run_ranks 1 train "$cfg" --run-dir full --set dist.device=cuda --set checkpoint.every=5 --set checkpoint.keep=100 \
    > full.log || fail "uninterrupted GPU run failed"
# Every second checkpoint and the last (each resume is a process with its own CUDA start-up):
# the phases (Adam, L-BFGS, each grid stage) span several checkpoints each.
all=(full/checkpoints/*.dkc)
picked=()
for i in "${!all[@]}"; do
    if [ $((i % 2)) -eq 0 ] || [ "$i" -eq $((${#all[@]} - 1)) ]; then picked+=("${all[$i]}"); fi
done
n=0
for ck in "${picked[@]}"; do
    rm -rf part && mkdir -p part/checkpoints && cp "$ck" part/checkpoints/
    run_ranks 1 train "$cfg" --run-dir part --set dist.device=cuda --set checkpoint.every=5 \
        --set checkpoint.keep=100 --resume latest > "resume_$n.log" || fail "resume from $ck failed"
    "$COMPARE_PARAMS" full/final_params.bin part/final_params.bin float64 0 || fail "resume from $ck is not bit-exact"
    n=$((n + 1))
done
[ "$n" -gt 2 ] || fail "expected several checkpoints, found $n"
last=$(ls full/checkpoints/*.dkc | sed -n 2p)
rm -rf cpu && mkdir -p cpu/checkpoints && cp "$last" cpu/checkpoints/
run_ranks 1 train "$cfg" --run-dir cpu --set dist.device=cpu --set checkpoint.every=5 --resume latest > cpu.log \
    || fail "CPU resume of a GPU checkpoint failed"
"$COMPARE_PARAMS" full/final_params.bin cpu/final_params.bin float64 1e-9 || fail "GPU -> CPU resume differs"
echo "GPU resume bit-exact from $n checkpoints; GPU checkpoint resumes on the CPU"

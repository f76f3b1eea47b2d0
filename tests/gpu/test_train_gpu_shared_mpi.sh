# Two and three ranks sharing one GPU train with the MPI backend (device buffers staged
# through host memory) and agree with one GPU rank to 1e-10 (only the summation order of
# the all-reduce changes); [dist] comm = nccl on a shared GPU is refused with a clear error.
source "$(dirname "$0")/gpu_lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
run_ranks 1 train "$cfg" --run-dir np1 --set dist.device=cuda > np1.log || fail "1 GPU rank failed"
for np in 2 3; do
    run_ranks "$np" train "$cfg" --run-dir "np$np" --set dist.device=cuda --set dist.comm=auto > "np$np.log" \
        || fail "$np ranks sharing the GPU failed (see np$np.log)"
    grep -q "all-reduce: MPI" "np$np.log" || fail "$np ranks on one GPU did not use the MPI backend"
    "$COMPARE_PARAMS" np1/final_params.bin "np$np/final_params.bin" float64 1e-10 || fail "$np shared ranks differ"
done
if [ "$("$DISTKAN" device | awk '{print $2}')" = 1 ]; then
    rc=0
    run_ranks 2 train "$cfg" --run-dir nccl_shared --set dist.device=cuda --set dist.comm=nccl \
        > nccl_shared.log 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || fail "comm = nccl with two ranks on one GPU was accepted"
    grep -q "comm = nccl" nccl_shared.log || fail "the refusal does not name [dist] comm = nccl"
fi
echo "2 and 3 ranks share the GPU through MPI staging and match 1 rank"

# Ranks whose LAPACK rounds differently, as on nodes of different CPU types (OpenBLAS picks
# its kernels by the CPU at run time; OPENBLAS_CORETYPE forces them here), still train in
# lockstep: the least-squares refits of grid extensions and grid updates are rank 0's,
# broadcast, so a mixed job ends with rank 0's numbers bit for bit. Before, each rank used
# its own refit: the ranks drifted apart and the job failed its final agreement check.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_grid.ini"
opts=(--set train.steps=40 --set lbfgs.steps=30 --set grid.steps=20,25,25)
for t in Haswell Sandybridge; do
    "$MPIEXEC" --oversubscribe -np 2 -x OPENBLAS_CORETYPE=$t "$DISTKAN" train "$cfg" --run-dir "$t" "${opts[@]}" \
        > "$t.log" 2>&1 || { cat "$t.log"; fail "the $t run failed"; }
done
if cmp -s Haswell/final_params.bin Sandybridge/final_params.bin; then
    echo "OpenBLAS's Haswell and Sandybridge kernels round alike on this machine: nothing to test: skipped"
    exit 77
fi
echo "ok: Haswell and Sandybridge kernels give different runs: $("$COMPARE_PARAMS" Haswell/final_params.bin Sandybridge/final_params.bin float64 1)"
rc=0
"$MPIEXEC" --oversubscribe -np 1 -x OPENBLAS_CORETYPE=Haswell "$DISTKAN" train "$cfg" --run-dir mixed "${opts[@]}" \
    : -np 1 -x OPENBLAS_CORETYPE=Sandybridge "$DISTKAN" train "$cfg" --run-dir mixed "${opts[@]}" > mixed.log 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { cat mixed.log; fail "the mixed job exited $rc"; }
cmp -s Haswell/final_params.bin mixed/final_params.bin || fail "the mixed job's parameters are not rank 0's (Haswell) run's"
cmp -s Haswell/final_state.bin mixed/final_state.bin || fail "the mixed job's grids are not rank 0's (Haswell) run's"
echo "a job mixing OpenBLAS kernels (Haswell rank 0, Sandybridge rank 1) equals the all-Haswell job bit for bit"

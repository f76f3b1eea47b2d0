# Every rank parses the config itself. Ranks whose resolved configurations differ (an MPMD
# launch with different options, or a file edited while the job started) stop at start-up
# with exit status 2 and one message from the lowest rank that differs, before anything is
# written; with the same options the same launch trains.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
rc=0
"$MPIEXEC" --oversubscribe -np 1 "$DISTKAN" train "$cfg" --run-dir mpmd --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir mpmd --set train.steps=3 --set train.lr=0.02 > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 2 ] || { cat out.txt err.txt; fail "different configurations: exit $rc, expected 2"; }
grep -q "rank 1: error: .*resolved configuration differs from rank 0's" err.txt || { cat err.txt; fail "no message naming rank 1"; }
[ "$(grep -c 'differs from rank 0' err.txt)" -eq 1 ] || { cat err.txt; fail "expected the message once"; }
[ ! -e mpmd ] || fail "a run directory was created"
"$MPIEXEC" --oversubscribe -np 1 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=3 > same.txt 2>&1 || { cat same.txt; fail "identical options failed"; }
[ -e same/final_params.bin ] || fail "identical options wrote no results"
echo "ranks with different configurations stop at start-up (exit 2, rank 1 named); identical ones train"

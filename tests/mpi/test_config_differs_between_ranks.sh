# Every rank parses the config itself. Ranks whose resolved configurations or --resume
# options differ (an MPMD launch with different options, or a file edited while the job
# started) stop at start-up
# with exit status 2 and one message from the lowest rank that differs, before anything is
# written; with the same options the same launch trains.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
rc=0
"$MPIEXEC" --oversubscribe -np 1 "$DISTKAN" train "$cfg" --run-dir mpmd --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir mpmd --set train.steps=3 --set train.lr=0.02 > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 2 ] || { cat out.txt err.txt; fail "different configurations: exit $rc, expected 2"; }
grep -q "rank 1: error: .*resolved configuration or --resume option differs from rank 0's" err.txt || { cat err.txt; fail "no message naming rank 1"; }
[ "$(grep -c 'differs from rank 0' err.txt)" -eq 1 ] || { cat err.txt; fail "expected the message once"; }
[ ! -e mpmd ] || fail "a run directory was created"
"$MPIEXEC" --oversubscribe -np 1 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=3 > same.txt 2>&1 || { cat same.txt; fail "identical options failed"; }
[ -e same/final_params.bin ] || fail "identical options wrote no results"
# One rank resuming, the others not: the same stop (it used to end in exit 1 with no message).
snapshot() { (cd same && find . -type f -exec md5sum {} + | sort); }
snapshot > before.md5
rc=0
"$MPIEXEC" --oversubscribe -np 2 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=6 --resume latest \
    : -np 1 "$DISTKAN" train "$cfg" --run-dir same --set train.steps=6 > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 2 ] || { cat out.txt err.txt; fail "different --resume options: exit $rc, expected 2"; }
grep -q "rank 2: error: .*--resume option differs from rank 0's" err.txt || { cat err.txt; fail "no message naming rank 2"; }
snapshot | cmp -s - before.md5 || fail "the refused launch changed the run directory"
echo "ranks with different configurations or --resume options stop at start-up (exit 2, first differing rank named); identical ones train"

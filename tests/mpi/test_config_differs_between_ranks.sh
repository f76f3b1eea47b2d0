# Every process of a training job must run the same command, and every rank parses the
# config itself. Ranks whose resolved configurations or --resume options differ (an MPMD
# launch with different options, or the file edited while the job started; here two
# working directories holding different files of one name) stop at start-up with exit
# status 2 and one message from the lowest rank that differs, before anything is written;
# with the same command line the same launch trains. A training rank whose peers ran
# another command (check, keys, --help: they never start MPI) stops after
# DISTKAN_STARTUP_TIMEOUT_S with exit 2 and a message instead of waiting forever, while
# commands other than train still need no MPI (a rank-guarded script runs them).
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
# refused NAME RANK PATTERN MPIEXEC-ARGS...: exit 2, one message naming RANK, nothing written.
refused() {
    local name=$1 rank=$2 pattern=$3
    shift 3
    local rc=0
    timeout 120 "$MPIEXEC" --oversubscribe "$@" > out.txt 2> err.txt || rc=$?
    [ "$rc" -eq 2 ] || { cat out.txt err.txt; fail "$name: exit $rc, expected 2 (124: it hung)"; }
    grep -q "rank $rank: error: .*$pattern" err.txt || { cat err.txt; fail "$name: no message naming rank $rank"; }
    [ "$(grep -c 'differs from rank 0' err.txt)" -eq 1 ] || { cat err.txt; fail "$name: expected the message once"; }
    [ ! -e "$name" ] || fail "$name: a run directory was created"
    echo "ok: $name: exit 2, rank $rank named"
}
differs="resolved configuration or --resume option differs from rank 0's"
refused options 1 "$differs" -np 1 "$DISTKAN" train "$cfg" --run-dir options --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir options --set train.steps=3 --set train.lr=0.02
# The same command line, a different file behind it.
mkdir -p a b
sed 's/^steps = 50/steps = 3/' "$cfg" > a/fit.ini
sed 's/^steps = 50/steps = 4/' "$cfg" > b/fit.ini
refused edited 1 "$differs" -np 1 --wdir "$PWD/a" "$DISTKAN" train fit.ini --run-dir "$PWD/edited" \
    : -np 1 --wdir "$PWD/b" "$DISTKAN" train fit.ini --run-dir "$PWD/edited"
# Another command beside train: the training ranks give up waiting for MPI's start-up
# (exit 2, our message). When the training rank has entered MPI_Init before the other one
# exits, Open MPI's mpirun ends the job itself first (exit 1, "exiting improperly"): a
# race between the two, and either way nothing hangs and nothing is created.
for other in "check $cfg" "keys" "train $cfg --help"; do
    rc=0
    start=$(date +%s)
    DISTKAN_STARTUP_TIMEOUT_S=5 timeout 120 "$MPIEXEC" --oversubscribe -x DISTKAN_STARTUP_TIMEOUT_S \
        -np 1 "$DISTKAN" train "$cfg" --run-dir mixed : -np 1 "$DISTKAN" $other > out.txt 2> err.txt || rc=$?
    if [ "$rc" -eq 2 ]; then
        grep -q "MPI start-up did not complete within 5 s (DISTKAN_STARTUP_TIMEOUT_S)" err.txt ||
            { cat err.txt; fail "train beside '$other': no message"; }
    elif [ "$rc" -ne 1 ] || ! grep -q "exiting improperly" err.txt; then
        cat out.txt err.txt
        fail "train beside '$other': exit $rc, expected 2, or 1 from mpirun (124: it hung)"
    fi
    [ ! -e mixed ] || fail "train beside '$other': a run directory was created"
    echo "ok: train beside '$other': exit $rc after $(( $(date +%s) - start )) s"
done
expect_failure 2 "DISTKAN_STARTUP_TIMEOUT_S = 'soon': expected a number of seconds >= 0" \
    env DISTKAN_STARTUP_TIMEOUT_S=soon "$DISTKAN" train "$cfg" --run-dir never
[ ! -e never ] || fail "a bad DISTKAN_STARTUP_TIMEOUT_S created a run directory"
# Every timing variable is checked at start-up and reported once, also one that only GPU
# runs read (a typo would otherwise show on the GPU job only).
for var in DISTKAN_SIGNAL_REPEAT_S DISTKAN_COMM_TIMEOUT DISTKAN_MPI_TIMEOUT; do
    rc=0
    env "$var=soon" "$MPIEXEC" --oversubscribe -x "$var" -np 2 "$DISTKAN" train "$cfg" --run-dir never \
        > out.txt 2> err.txt || rc=$?
    [ "$rc" -eq 2 ] || { cat err.txt; fail "$var=soon: exit $rc, expected 2"; }
    [ "$(grep -c "$var = 'soon': expected a number of seconds" err.txt)" -eq 1 ] ||
        { cat err.txt; fail "$var=soon: not reported exactly once"; }
    [ ! -e never ] || fail "a bad $var created a run directory"
done
echo "ok: bad timing variables are reported once, with exit 2"
# A command other than train under a launcher, run by rank 0 alone (a guarded script):
# it starts no MPI and so waits for no one.
timeout 60 "$MPIEXEC" --oversubscribe -np 2 bash -c '[ "$OMPI_COMM_WORLD_RANK" = 0 ] && exec "$@"; exit 0' guard \
    "$DISTKAN" keys > keys.txt 2>&1 || { cat keys.txt; fail "keys run by rank 0 alone failed or hung"; }
grep -q "^\[model\]" keys.txt || fail "keys run by rank 0 alone printed nothing"
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
# Commands other than train under mpirun: rank 0 alone prints.
"$MPIEXEC" --oversubscribe -np 3 "$DISTKAN" check "$cfg" > check.txt 2>&1 || { cat check.txt; fail "check under mpirun failed"; }
[ "$(grep -c 'is valid' check.txt)" -eq 1 ] || { cat check.txt; fail "check under mpirun printed more than once"; }
[ "$("$MPIEXEC" --oversubscribe -np 3 "$DISTKAN" --version | wc -l)" -eq 1 ] || fail "--version under mpirun printed more than once"
echo "ranks with different configurations or commands stop at start-up (exit 2); identical ones train"

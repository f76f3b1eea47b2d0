# Every process of a job must run the same command, and every rank parses the config
# itself. Ranks started with different command lines (an MPMD launch: other options, one
# rank resuming, or another command altogether: check, keys, --help, whose ranks would
# otherwise leave at once and keep the training ranks waiting for them forever), or whose
# resolved configurations differ (the file edited while the job started; here two working
# directories holding different files of one name) stop at start-up with exit status 2 and
# one message from the lowest rank that differs, before anything is written; with the same
# command line the same launch trains.
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
differs="command line differs from rank 0's"
refused options 1 "$differs" -np 1 "$DISTKAN" train "$cfg" --run-dir options --set train.steps=3 \
    : -np 2 "$DISTKAN" train "$cfg" --run-dir options --set train.steps=3 --set train.lr=0.02
refused check 1 "$differs" -np 1 "$DISTKAN" train "$cfg" --run-dir check : -np 1 "$DISTKAN" check "$cfg"
refused keys 2 "$differs" -np 2 "$DISTKAN" train "$cfg" --run-dir keys : -np 1 "$DISTKAN" keys
refused help 1 "$differs" -np 1 "$DISTKAN" train "$cfg" --run-dir help : -np 1 "$DISTKAN" train "$cfg" --help
# The same command line, a different file behind it.
mkdir -p a b
sed 's/^steps = 50/steps = 3/' "$cfg" > a/fit.ini
sed 's/^steps = 50/steps = 4/' "$cfg" > b/fit.ini
refused edited 1 "resolved configuration or --resume option differs from rank 0's" \
    -np 1 --wdir "$PWD/a" "$DISTKAN" train fit.ini --run-dir "$PWD/edited" \
    : -np 1 --wdir "$PWD/b" "$DISTKAN" train fit.ini --run-dir "$PWD/edited"
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
grep -q "rank 2: error: .*$differs" err.txt || { cat err.txt; fail "no message naming rank 2"; }
snapshot | cmp -s - before.md5 || fail "the refused launch changed the run directory"
# Commands other than train under mpirun: rank 0 alone prints.
"$MPIEXEC" --oversubscribe -np 3 "$DISTKAN" check "$cfg" > check.txt 2>&1 || { cat check.txt; fail "check under mpirun failed"; }
[ "$(grep -c 'is valid' check.txt)" -eq 1 ] || { cat check.txt; fail "check under mpirun printed more than once"; }
[ "$("$MPIEXEC" --oversubscribe -np 3 "$DISTKAN" --version | wc -l)" -eq 1 ] || fail "--version under mpirun printed more than once"
echo "ranks with different command lines or configurations stop at start-up (exit 2, first differing rank named); identical ones train"

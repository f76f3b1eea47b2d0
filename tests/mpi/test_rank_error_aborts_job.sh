# A bad CSV row that only rank 1 converts: the job stops (no hang: CTest's timeout would
# catch one), exits non-zero, and the message names the rank, the file and the line. (Every
# rank's scan refuses a row that is no number; a value beyond float32's range in a float32
# run is found only by the rank that converts that row.)
source "$(dirname "$0")/../lib.sh"
{
    echo "x,y,target"
    for i in $(seq 1 40); do echo "0.$i,-0.$i,1.$i"; done
} > data.csv
cat > csv.ini <<INI
[model]
widths = 2,3,1
[train]
steps = 5
[fit]
csv = data.csv
train_size = 32
test_size = 8
INI
run_ranks 2 train csv.ini --run-dir good > good.log || fail "the clean CSV run failed"
# Corrupt every data line in turn until one lands in rank 1's shard: then exactly rank 1
# reports it.
found=0
for line in $(seq 2 41); do
    sed "${line}s/.*/0.5,1e300,1.0/" data.csv > bad.csv
    sed 's/data.csv/bad.csv/' csv.ini > bad.ini
    rc=0
    run_ranks 2 train bad.ini --run-dir bad --set model.precision=float32 > out.txt 2> err.txt || rc=$?
    [ "$rc" -ne 0 ] || fail "a bad row at line $line was accepted"
    grep -q "bad.csv:$line" err.txt || { cat err.txt; fail "message does not name bad.csv:$line"; }
    if grep -q "rank 1" err.txt; then found=1; echo "ok: line $line, exit $rc: $(grep -m1 error err.txt)"; break; fi
done
[ "$found" -eq 1 ] || fail "no corrupted line was reported by rank 1"
[ -f good/final_params.bin ] || fail "the earlier good run's results were lost"

# An error during training that every rank meets alike (a diverging run: the all-reduced
# loss becomes non-finite) ends the whole 2-rank job, well before CTest's timeout, with
# one report for all ranks.
rc=0
run_ranks 2 train csv.ini --run-dir diverge --set train.lr=1e300 --set train.steps=200 > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 1 ] || fail "a diverging 2-rank run exited $rc, expected 1"
grep -q "error (every rank stopped here): .*loss" err.txt || { cat err.txt; fail "no report of the loss"; }
[ "$(grep -c 'error' err.txt)" -eq 1 ] || { cat err.txt; fail "the loss was reported more than once"; }
[ ! -f diverge/final_params.bin ] || fail "a failed run wrote final_params.bin"
echo "ok: diverging run ended, exit $rc: $(grep -m1 error err.txt | cut -c1-160)"

# An error during training on one rank only (rank 0's log write fails: a file size limit
# in rank 0 alone, an MPMD launch) ends the whole job through an abort, naming the rank;
# rank 1 is not left waiting in the next all-reduce.
# (Whether mpirun prints its MPI_ABORT notice or rank 1's lost-peer notice first is a race:
# what matters is that the job ends, non-zero, and says which rank failed and why.)
rc=0
timeout 120 "$MPIEXEC" -np 1 bash -c 'ulimit -f 8; trap "" XFSZ; exec "$@"' limited "$DISTKAN" train csv.ini \
    --run-dir full --set train.log_every=1 --set train.steps=400 : -np 1 "$DISTKAN" train csv.ini --run-dir full \
    --set train.log_every=1 --set train.steps=400 > out.txt 2> err.txt || rc=$?
[ "$rc" -ne 124 ] || fail "a 2-rank run whose rank 0 could not write its log hung"
[ "$rc" -ne 0 ] || fail "a 2-rank run whose rank 0 could not write its log exited 0"
grep -q "rank 0: error: .*cannot write full/metrics.jsonl.partial" err.txt || { cat err.txt; fail "no rank-tagged report"; }
echo "ok: one rank's failure ended the job, exit $rc"

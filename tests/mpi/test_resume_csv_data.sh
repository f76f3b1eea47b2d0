# A CSV fit resumes by the data's content, not its path: the same file under another path
# resumes (bit-identical to an uninterrupted run), the same path with changed data does not
# (exit 2, naming the file, with nothing written); `inspect` shows the recorded fingerprint.
source "$(dirname "$0")/../lib.sh"
awk 'BEGIN { srand(5); print "x,y,z"; for (i = 0; i < 120; i++) { x = 2 * rand() - 1; y = 2 * rand() - 1;
     printf "%.17g,%.17g,%.17g\n", x, y, sin(3 * x) * y } }' > data.csv
cat > csv.ini <<'INI'
[model]
widths = 2,4,1
grid = 4
seed = 3
[train]
steps = 12
batch = 40
log_every = 4
[fit]
csv = data.csv
train_size = 80
test_size = 40
INI
run_ranks 2 train csv.ini --run-dir whole > whole.log || { cat whole.log; fail "the uninterrupted run failed"; }
run_ranks 2 train csv.ini --run-dir part --set train.steps=6 > part1.log || { cat part1.log; fail "the 6-step run failed"; }
"$DISTKAN" inspect part/checkpoints/ckpt-000000000006.dkc > inspect.txt || fail "inspect failed"
bytes=$(wc -c < data.csv)
grep -q "CSV of $bytes bytes with CRC-32C [0-9a-f]\{8\}" inspect.txt || { cat inspect.txt; fail "inspect shows no CSV fingerprint"; }
# A checkpoint written before the first evaluation says none was made (it said test RMSE 0).
run_ranks 1 train csv.ini --run-dir early --set train.steps=2 --set checkpoint.every=1 --set train.log_every=100 \
    > early.log || { cat early.log; fail "the early-checkpoint run failed"; }
"$DISTKAN" inspect early/checkpoints/ckpt-000000000001.dkc > early_inspect.txt || fail "inspect of an early checkpoint failed"
grep -q "^  loss " early_inspect.txt || { cat early_inspect.txt; fail "inspect shows no loss"; }
grep -q "test RMSE" early_inspect.txt && { cat early_inspect.txt; fail "inspect shows a test RMSE never measured"; }
# The same bytes under another path (a requeue from another directory): resumes.
mkdir -p moved && cp data.csv moved/data.csv
run_ranks 2 train csv.ini --run-dir part --set fit.csv="$PWD/moved/data.csv" --resume latest > part2.log \
    || { cat part2.log; fail "the same data under another path did not resume"; }
cmp -s whole/final_params.bin part/final_params.bin || fail "6 + 6 steps through a moved CSV differ from 12"
# Two rows swapped: the same size, other bytes; refused by the checksum, not the size.
cp data.csv data.orig
sed -i '5{h;d};6G' data.csv
[ "$(wc -c < data.csv)" -eq "$(wc -c < data.orig)" ] && ! cmp -s data.csv data.orig ||
    fail "the swap should keep the file's size and change its bytes"
rc=0
run_ranks 2 train csv.ini --run-dir part --set train.steps=18 --resume latest > swap.log 2> swap.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "holds other data than the run that wrote" swap.err ||
    { cat swap.log swap.err; fail "two rows swapped (same size): exit $rc, expected 2"; }
mv data.orig data.csv
# Changed data under the original path: refused before anything is written.
sed -i '5c0.5,0.5,0.25' data.csv
cmp -s data.csv moved/data.csv && fail "the test did not change the data"
before=$(md5sum part/final_params.bin part/checkpoints/*.dkc)
rc=0
run_ranks 2 train csv.ini --run-dir part --set train.steps=18 --resume latest > part3.log 2> part3.err || rc=$?
[ "$rc" -eq 2 ] || { cat part3.log part3.err; fail "changed data: exit $rc, expected 2"; }
grep -q "\[fit\] csv = data.csv holds other data than the run that wrote" part3.err || { cat part3.err; fail "no message"; }
[ "$before" = "$(md5sum part/final_params.bin part/checkpoints/*.dkc)" ] || fail "the refused resume changed the run's files"
# Ranks that read different contents (a stale node-local copy: here rank 1 runs in another
# directory): refused at start-up, exit 2, rank 1 named once; a fresh run and a resume alike
# (the resume used to say only "rank 1 failed (see its message)", with no message).
mkdir -p node0 node1
cp moved/data.csv node0/data.csv && cp data.csv node1/data.csv
for resume in "" "--resume latest"; do
    rc=0
    "$MPIEXEC" --oversubscribe -np 1 -wdir node0 "$DISTKAN" train "$PWD/csv.ini" --run-dir "$PWD/part" \
        --set fit.csv=data.csv --set train.steps=18 $resume \
        : -np 1 -wdir node1 "$DISTKAN" train "$PWD/csv.ini" --run-dir "$PWD/part" --set fit.csv=data.csv \
        --set train.steps=18 $resume > mixed.log 2> mixed.err || rc=$?
    [ "$rc" -eq 2 ] || { cat mixed.log mixed.err; fail "ranks with different CSV data ($resume): exit $rc, expected 2"; }
    grep -q "holds other data on rank 1 (.* bytes with CRC-32C [0-9a-f]*) than on rank 0" mixed.err ||
        { cat mixed.err; fail "no message naming rank 1 ($resume)"; }
    [ "$(grep -c 'holds other data' mixed.err)" -eq 1 ] || { cat mixed.err; fail "expected the message once"; }
done
[ "$before" = "$(md5sum part/final_params.bin part/checkpoints/*.dkc)" ] || fail "a refused launch changed the run's files"
echo "CSV resumes follow the data: moved file resumed bit-identically, changed data refused, ranks reading different data refused"

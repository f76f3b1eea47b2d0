# inspect ends as the other commands do (main's exit_code_for): 0 when every checkpoint
# verifies; 1 for an invalid checkpoint, a missing file and a directory holding none,
# with the reason on stderr; 2 for a usage error, as predict gives for the same path. A
# directory listing names every checkpoint, also those after an invalid one, and then
# exits 1 with the listing as its only report.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
"$DISTKAN" train "$cfg" --run-dir run --set checkpoint.every=10 --set checkpoint.keep=10 > train.log \
    || { cat train.log; fail "the run failed"; }
ckdir=run/checkpoints

"$DISTKAN" inspect "$ckdir/ckpt-000000000030.dkc" > file.txt 2> file.err || fail "inspect of a valid checkpoint"
grep -q "^valid: " file.txt && [ ! -s file.err ] || { cat file.txt file.err; fail "a valid checkpoint: no verdict, or stderr"; }
"$DISTKAN" inspect run > run.txt 2> run.err || { cat run.txt run.err; fail "inspect of the run directory"; }
grep -qx "5 of 5 checkpoints valid" run.txt && [ ! -s run.err ] || { cat run.txt run.err; fail "inspect run"; }

# A flipped byte in a chunk of step 30's: the summary, then the verdict on stderr, exit 1.
cp "$ckdir/ckpt-000000000030.dkc" flipped.dkc
size=$(stat -c %s flipped.dkc)
printf '\x55' | dd of=flipped.dkc bs=1 seek=$((size - 10)) conv=notrunc status=none
expect_failure 1 "error: .*invalid checkpoint: .*flipped.dkc: tensor" "$DISTKAN" inspect flipped.dkc
grep -q "^checkpoint flipped.dkc" out.txt && ! grep -q "^valid" out.txt || { cat out.txt; fail "flipped.dkc: the summary"; }
expect_failure 1 "invalid checkpoint: .*cannot open checkpoint missing.dkc" "$DISTKAN" inspect missing.dkc
mkdir empty
expect_failure 1 "empty holds no checkpoints \(ckpt-<step>.dkc\) and is no run directory" "$DISTKAN" inspect empty

# In the directory, listed with the four others (two of them after it), exit 1, stderr empty.
cp flipped.dkc "$ckdir/ckpt-000000000030.dkc"
rc=0
"$DISTKAN" inspect "$ckdir" > dir.txt 2> dir.err || rc=$?
[ "$rc" -eq 1 ] && [ ! -s dir.err ] && [ "$(grep -c '^valid    ' dir.txt)" -eq 4 ] \
    && grep -q "^INVALID  $ckdir/ckpt-000000000030.dkc  .*tensor" dir.txt \
    && grep -q "^valid    $ckdir/ckpt-000000000010.dkc" dir.txt && grep -qx "4 of 5 checkpoints valid" dir.txt \
    || { cat dir.txt dir.err; fail "inspect of a directory with an invalid checkpoint: exit $rc"; }
echo "ok: invalid checkpoints exit 1, a listing names every checkpoint"

# A run directory whose checkpoint directory's path would not fit in a path: a usage error
# (exit 2) as predict says for it, where inspect alone exited 1.
long=long
while [ ${#long} -lt 4080 ]; do long="$long/$(printf 'd%.0s' $(seq 1 200))"; done
long=${long:0:4090}
mkdir -p "$long"
expect_failure 2 "the path is too long" "$DISTKAN" inspect "$long"
printf 'x0,x1\n0.1,0.2\n' > one_point.csv
expect_failure 2 "the path is too long" "$DISTKAN" predict "$long" one_point.csv
echo "ok: a path too long is a usage error for inspect as for predict"

# Resuming from bad input: every case exits non-zero with a message that names the file,
# the key or the part that failed, and leaves what the run directory holds untouched.
# Also: keys that may change on resume are reported, a corrupt newest checkpoint is
# skipped for an older valid one, and `distkan inspect` tells valid from invalid.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
ckdir=run/checkpoints
"$DISTKAN" train "$cfg" --run-dir run --set checkpoint.every=10 --set checkpoint.keep=10 > first.log \
    || { cat first.log; fail "the first run failed"; }
ls "$ckdir"
snapshot() { (cd run && find . -type f -exec md5sum {} + | sort); }
snapshot > before.md5

# Nothing to resume from: a runtime failure (exit 1), which names the option that starts a
# new run where there is no checkpoint yet.
expect_failure 1 "--resume latest: no checkpoint \(ckpt-<step>.dkc\) in empty/checkpoints to continue \(--resume auto starts a new run" \
    "$DISTKAN" train "$cfg" --run-dir empty --resume latest
# A --resume that names no file, or a directory, is a usage error (exit 2: a job script that
# requeues on exit 1 would loop on it), with what was likely meant; nothing is created.
expect_failure 2 "--resume nonexistent.dkc: No such file or directory \(--resume takes latest, auto or the path" \
    "$DISTKAN" train "$cfg" --run-dir run --resume nonexistent.dkc
for typo in Latest lastest LATEST latets; do
    expect_failure 2 "--resume $typo: no such file; did you mean --resume latest\?" \
        "$DISTKAN" train "$cfg" --run-dir typo --resume "$typo"
done
for typo in AUTO auot aut; do
    expect_failure 2 "--resume $typo: no such file; did you mean --resume auto\?" \
        "$DISTKAN" train "$cfg" --run-dir typo --resume "$typo"
done
rc=0; run_ranks 2 train "$cfg" --run-dir typo --resume Latest > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 2 ] && [ "$(grep -c 'did you mean --resume latest' err.txt)" -eq 1 ] \
    || { cat err.txt; fail "--resume Latest under mpirun -np 2: exit $rc, expected 2 and one message"; }
expect_failure 2 "--resume run: a directory, this run's run directory; .*: give --resume latest" \
    "$DISTKAN" train "$cfg" --run-dir run --resume run
expect_failure 2 "--resume run: a directory; .*: to continue the run in the run directory run, give --run-dir run --resume latest" \
    "$DISTKAN" train "$cfg" --run-dir typo --resume run
expect_failure 2 "--resume run/checkpoints: a checkpoint directory; .*: to continue the run in run, give --run-dir run --resume latest, or give one of the files \(the newest: run/checkpoints/ckpt-000000000050.dkc\)" \
    "$DISTKAN" train "$cfg" --run-dir typo --resume run/checkpoints
# A run's checkpoints/ that holds none yet is still its checkpoint directory, not a run
# directory of its own.
mkdir -p fresh/checkpoints
expect_failure 2 "--resume fresh/checkpoints: a checkpoint directory; .*: to continue the run in fresh, give --run-dir fresh --resume latest \(it holds none yet\)" \
    "$DISTKAN" train "$cfg" --run-dir typo --resume fresh/checkpoints
mkdir loose && cp "$ckdir/ckpt-000000000050.dkc" loose/
expect_failure 2 "--resume loose: a checkpoint directory; .*give --resume latest with \[checkpoint\] dir = loose \(--set checkpoint.dir=loose" \
    "$DISTKAN" train "$cfg" --run-dir typo --resume loose
[ ! -e typo ] || fail "a refused --resume created the run directory"

# Keys that cannot change: each is named with both values.
expect_failure 2 "\[model\] k: the checkpoint has '3', the config '2'" \
    "$DISTKAN" train "$cfg" --run-dir run --resume latest --set model.k=2
expect_failure 2 "\[model\] widths: the checkpoint has '2,5,1', the config '2,3,1'" \
    "$DISTKAN" train "$cfg" --run-dir run --resume latest --set model.widths=2,3,1
expect_failure 2 "\[task\] type" \
    "$DISTKAN" train "$cfg" --run-dir run --resume latest --set task.type=pde --set model.widths=2,5,1
expect_failure 2 "2 keys differ from the checkpoint" \
    "$DISTKAN" train "$cfg" --run-dir run --resume latest --set train.lr=0.5 --set model.seed=8
grep -q "\[train\] lr: the checkpoint has '0.01', the config '0.5'" err.txt && grep -q "\[model\] seed" err.txt \
    || fail "not every changed key is named"
# Fewer steps than the checkpoint has done.
expect_failure 2 "\[train\] steps = 20 cannot continue .*ckpt-000000000050.dkc: it has done 50 Adam steps" \
    "$DISTKAN" train "$cfg" --run-dir run --resume latest --set train.steps=20

# A checkpoint cut short or with one flipped byte, given by path.
cp "$ckdir/ckpt-000000000040.dkc" cut.dkc
truncate -s -100 cut.dkc
expect_failure 1 "cut.dkc: truncated" "$DISTKAN" train "$cfg" --run-dir run --resume cut.dkc
cp "$ckdir/ckpt-000000000040.dkc" flipped.dkc
size=$(stat -c %s flipped.dkc)
printf '\x55' | dd of=flipped.dkc bs=1 seek=$((size - 10)) conv=notrunc status=none
expect_failure 1 "flipped.dkc: tensor '[a-z0-9._]+' chunk [0-9]+.*checksum" "$DISTKAN" train "$cfg" --run-dir run --resume flipped.dkc
expect_failure 1 "flipped.dkc: tensor" "$DISTKAN" inspect flipped.dkc
"$DISTKAN" inspect "$ckdir/ckpt-000000000040.dkc" > inspect.txt || fail "inspect rejects a valid checkpoint"
grep -q "step 40 " inspect.txt && grep -q "150 parameters" inspect.txt && grep -q "^valid" inspect.txt \
    || { cat inspect.txt; fail "inspect lacks the step, the parameter count or the verdict"; }

# None of the failures above touched the run directory.
snapshot > after.md5
diff before.md5 after.md5 || fail "a failed resume changed the run directory"

# A corrupt newest checkpoint is skipped, with a warning naming it; the previous one is used,
# and the step count may grow (reported).
printf '\x55' | dd of="$ckdir/ckpt-000000000050.dkc" bs=1 seek=20 conv=notrunc status=none
expect_failure 1 "ckpt-000000000050.dkc: header" "$DISTKAN" inspect "$ckdir/ckpt-000000000050.dkc"
rc=0
"$DISTKAN" inspect "$ckdir" > dir.txt || rc=$?
[ "$rc" -eq 1 ] && grep -q "^INVALID  $ckdir/ckpt-000000000050.dkc" dir.txt && grep -q "^4 of 5 checkpoints valid" dir.txt \
    || { cat dir.txt; fail "inspect of the directory: exit $rc, expected 1 with the corrupt file named"; }
"$DISTKAN" train "$cfg" --run-dir run --resume latest --set train.steps=70 > resumed.log 2> resumed.err \
    || { cat resumed.log resumed.err; fail "resuming past a corrupt newest checkpoint failed"; }
grep -q "ckpt-000000000050.dkc" resumed.err || { cat resumed.err; fail "no warning naming the corrupt checkpoint"; }
grep -q "resuming from run/checkpoints/ckpt-000000000040.dkc: step 40" resumed.log \
    || { cat resumed.log; fail "did not fall back to the checkpoint of step 40"; }
grep -q "\[train\] steps: 50 -> 70" resumed.log || { cat resumed.log; fail "the changed step count is not reported"; }
grep -q '"steps": 70,' run/summary.json || fail "the resumed run did not train to step 70"
# The corrupt checkpoint it skipped is kept aside, not overwritten by the new step 50.
ls run/checkpoints/earlier-*/ckpt-000000000050.dkc > /dev/null || fail "the skipped checkpoint was not kept aside"
echo "ok: resume errors are named and harmless; a corrupt newest checkpoint is skipped"

# A finished run trains further from its final checkpoint when the step count grows.
"$DISTKAN" train "$cfg" --run-dir run --resume latest --set train.steps=80 > further.log \
    || { cat further.log; fail "training a finished run further failed"; }
grep -q "resuming from run/checkpoints/ckpt-000000000070.dkc: step 70" further.log || { cat further.log; fail "not resumed from the final checkpoint"; }
grep -q '"steps": 80,' run/summary.json || fail "the run was not trained on to step 80"
echo "ok: a finished run trained on from 70 to 80 steps"

# A checkpoint copied under a later step's name: `latest` skips it, and inspect of the
# directory lists it as MISNAMED with the step it holds (exit 1), not as the newest valid one.
cp run/checkpoints/ckpt-000000000070.dkc run/checkpoints/ckpt-000000000099.dkc
rc=0
"$DISTKAN" inspect run > misnamed.txt || rc=$?
[ "$rc" -eq 1 ] \
    && grep -q "^MISNAMED run/checkpoints/ckpt-000000000099.dkc  its name says step 99 but it holds step 70" misnamed.txt \
    && grep -q "^valid    run/checkpoints/ckpt-000000000080.dkc  step 80," misnamed.txt \
    && grep -q "checkpoints valid, 1 misnamed$" misnamed.txt \
    || { cat misnamed.txt; fail "inspect of a directory with a misnamed checkpoint: exit $rc"; }
expect_failure 1 "MISNAMED: run/checkpoints/ckpt-000000000099.dkc: its name says step 99 but it holds step 70" \
    "$DISTKAN" inspect run/checkpoints/ckpt-000000000099.dkc
mkdir -p only/checkpoints
mv run/checkpoints/ckpt-000000000099.dkc only/checkpoints/
printf 'x0,x1\n0.1,0.2\n' > one_point.csv
expect_failure 1 "no valid checkpoint in only/checkpoints: 0 of 1 failed to verify, 1 has a name that gives another step" \
    "$DISTKAN" predict only one_point.csv
echo "ok: inspect names a misnamed checkpoint"

# Files named like older checkpoints of the history a resume continues, but holding other
# steps (copied or renamed), are another history's: set aside, not pruned by keep.
mkdir -p mis/checkpoints
cp run/checkpoints/ckpt-000000000040.dkc run/checkpoints/ckpt-000000000070.dkc mis/checkpoints/
cp run/checkpoints/ckpt-000000000080.dkc mis/checkpoints/ckpt-000000000001.dkc
cp run/checkpoints/ckpt-000000000070.dkc mis/checkpoints/ckpt-000000000002.dkc
"$DISTKAN" train "$cfg" --run-dir mis --set train.steps=80 --set checkpoint.every=10 --set checkpoint.keep=2 \
    --resume latest > mis.log 2>&1 || { cat mis.log; fail "resuming beside misnamed checkpoints failed"; }
grep -q "resuming from mis/checkpoints/ckpt-000000000070.dkc" mis.log || { cat mis.log; fail "not resumed from step 70"; }
for f in ckpt-000000000001.dkc ckpt-000000000002.dkc; do
    ls mis/checkpoints/earlier-*/"$f" > /dev/null 2>&1 || fail "misnamed $f was pruned, not set aside: $(ls -R mis/checkpoints)"
done
echo "ok: misnamed older checkpoints are set aside, not pruned"

# A fresh run in the same directory never deletes the earlier run's checkpoints: they are
# moved aside, still valid, and the new run's own history starts clean.
before=$(ls run/checkpoints/ckpt-*.dkc | wc -l)
"$DISTKAN" train "$cfg" --run-dir run --set checkpoint.keep=1 > fresh.log || { cat fresh.log; fail "the fresh run failed"; }
grep -q "moved to run/checkpoints/earlier-" fresh.log || { cat fresh.log; fail "no note about the earlier checkpoints"; }
aside=$(ls -d run/checkpoints/earlier-* | tail -n 1)
[ "$(ls "$aside"/ckpt-*.dkc | wc -l)" -eq "$before" ] || fail "not all $before earlier checkpoints were kept"
"$DISTKAN" inspect "$aside/ckpt-000000000080.dkc" > /dev/null || fail "a kept checkpoint no longer verifies"
[ "$(ls run/checkpoints/ckpt-*.dkc)" = "run/checkpoints/ckpt-000000000050.dkc" ] || fail "the fresh run's checkpoints are wrong"
echo "ok: a fresh run moved the $before earlier checkpoints to $aside"

# Resuming from another directory's checkpoint starts another history in this run
# directory: its own checkpoints, older steps included, are moved aside (never pruned), and
# its log is not carried over into the new one.
"$DISTKAN" train "$cfg" --run-dir other --set train.steps=20 --set checkpoint.every=10 --set checkpoint.keep=2 \
    --set model.seed=9 > other.log || { cat other.log; fail "the other run failed"; }
"$DISTKAN" train "$cfg" --run-dir donor --set train.steps=30 --set checkpoint.every=10 --set checkpoint.keep=2 \
    > donor.log || { cat donor.log; fail "the donor run failed"; }
"$DISTKAN" train "$cfg" --run-dir other --set train.steps=60 --set checkpoint.every=10 --set checkpoint.keep=2 \
    --resume donor/checkpoints/ckpt-000000000030.dkc > foreign.log || { cat foreign.log; fail "the foreign resume failed"; }
grep -q "2 checkpoints of an earlier run in other/checkpoints are not from this run's history: moved to" foreign.log \
    || { cat foreign.log; fail "the other run's own checkpoints were not set aside"; }
aside=$(ls -d other/checkpoints/earlier-* | tail -n 1)
[ "$(cd "$aside" && ls ckpt-*)" = "$(printf 'ckpt-%012d.dkc\n' 10 20)" ] \
    || { ls -laR other/checkpoints; fail "the other run's checkpoints 10 and 20 were not kept aside"; }
[ "$(cd other/checkpoints && ls ckpt-*)" = "$(printf 'ckpt-%012d.dkc\n' 50 60)" ] \
    || { ls -la other/checkpoints; fail "the resumed run's checkpoints are wrong"; }
first=$(head -n 1 other/metrics.jsonl | sed 's/^{"step": \([0-9]*\),.*/\1/')
[ "$first" -gt 30 ] || { head -n 3 other/metrics.jsonl; fail "the log starts at step $first: the other history's lines were carried over"; }
echo "ok: a resume from another directory kept the run directory's own checkpoints aside and started a new log"

# A PDE checkpoint from before the Halton points were scrambled (no data.pde_points): the
# resume says it trains on other points; a current checkpoint resumes without the note.
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_pde.ini" --run-dir pts --set checkpoint.every=5 \
    --set train.optimizer=adam --set train.steps=10 > pts.log 2>&1 || { cat pts.log; fail "pts failed"; }
"$EDIT_CKPT" pts/checkpoints/ckpt-000000000005.dkc old_points.dkc @data.pde_points 0 0 || fail "edit_ckpt failed"
note="Halton collocation points were not scrambled"
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_pde.ini" --run-dir pts_old --set train.optimizer=adam --set train.steps=10 \
    --resume old_points.dkc > pts_old.log 2>&1 || { cat pts_old.log; fail "resuming the old-points checkpoint failed"; }
grep -qF "$note" pts_old.log || { cat pts_old.log; fail "no note about the old points"; }
"$DISTKAN" train "$SOURCE_DIR/tests/mpi/small_pde.ini" --run-dir pts --set checkpoint.every=5 --set train.optimizer=adam \
    --set train.steps=10 --resume pts/checkpoints/ckpt-000000000005.dkc > pts_new.log 2>&1 || { cat pts_new.log; fail "resume failed"; }
! grep -qF "$note" pts_new.log || fail "a current checkpoint got the old-points note"
echo "ok: a checkpoint with the plain Halton points resumes with a note"

# A relative [checkpoint] dir is taken from the working directory. A job that resumes the
# run from another one (a requeue script that cds elsewhere) finds none of its checkpoints
# there: auto and latest refuse (exit 2), naming the directory the run's start noted,
# instead of auto starting afresh over the stopped run; nothing is changed, and from the
# first working directory, or with the noted directory given absolutely, it resumes.
mkdir -p cwd_a cwd_b
rel_run="$PWD/rel_run"
(cd cwd_a && "$DISTKAN" train "$cfg" --run-dir "$rel_run" --set checkpoint.dir=ck --set checkpoint.every=10 \
    --set checkpoint.final=false --set train.steps=25 > ../rel_a.log 2>&1) || { cat rel_a.log; fail "rel_run failed"; }
rel_snapshot() { (cd "$rel_run" && find . -type f -exec md5sum {} + | sort; cd ../cwd_a && find . -type f | sort); }
rel_snapshot > rel_before.md5
for how in auto latest; do
    (cd cwd_b && expect_failure 2 "\[checkpoint\] dir = ck is relative, so it is taken from the working directory: from .*/cwd_b it holds no checkpoint, but this run \(.*rel_run\) started with it in .*/cwd_a/ck, which holds 2" \
        "$DISTKAN" train "$cfg" --run-dir "$rel_run" --set checkpoint.dir=ck --set checkpoint.every=10 \
        --set checkpoint.final=false --set train.steps=40 --resume "$how")
    rel_snapshot | cmp -s - rel_before.md5 || fail "--resume $how from another directory changed the run"
    [ ! -e cwd_b/ck ] || fail "--resume $how from another directory created cwd_b/ck"
done
(cd cwd_b && "$DISTKAN" train "$cfg" --run-dir "$rel_run" --set checkpoint.dir="$PWD/../cwd_a/ck" \
    --set checkpoint.every=10 --set checkpoint.final=false --set train.steps=40 --resume auto > ../rel_b.log 2>&1) \
    || { cat rel_b.log; fail "the resume with the noted directory given absolutely failed"; }
grep -q "resum.*ckpt-000000000020.dkc" rel_b.log || { cat rel_b.log; fail "the absolute resume did not continue from step 20"; }
echo "ok: a relative checkpoint dir resumed from another working directory is refused, naming where the run's checkpoints are"

# Runs that share one [checkpoint] dir (a scratch directory set in a common config, each
# run with its own --run-dir): a run directory's tools and `--resume latest` use the
# checkpoints of that run, told apart by the training log each checkpoint records, never
# the newest of another run.
#  (a) predict, functions and inspect of run A after run B started fresh in the shared
#      directory (and set A's checkpoints aside there): A's own model, named; inspect marks
#      B's checkpoint as another run's;
#  (b) --resume latest for A: refused (exit 1), naming A's set-aside checkpoint; resumed
#      from that file, A carries its log over and ends bit for bit where an uninterrupted
#      run of the same length ends;
#  (c) a newer checkpoint of another run placed beside A's own: skipped, with a note
#      (predict) or a warning (--resume latest), and A's own used;
#  (d) a run directory whose log no checkpoint continues (edited): the newest, with a warning;
#  (e) a run that wrote no checkpoint ([checkpoint] final = false): predict and inspect
#      name the cause;
#  (f) a checkpoint written before its run's first log line is not every run's;
#  (g) --resume auto starts a new run directory afresh and continues a set-aside history;
#      --resume latest in a run directory without a log refuses to guess;
#  (h) two runs of the same shape that both save before their first log line: the one's
#      first checkpoint is not the other's, though both record an empty log at the same step.
#  (i) resuming from a checkpoint written before the log's first line carries that
#      checkpoint's event line over: the log goes on, and the checkpoint stays the run's own;
#  (j) such a checkpoint of another run is not taken for this run's history because some
#      log was set aside in the shared directory (every log begins with an empty one).
#  (k) --resume PATH of another run's checkpoint there, with keep = 1: the other run's
#      checkpoints are set aside, never pruned as if they were this run's history;
#  (l) an empty log (a run killed before its first line) owns no other run's checkpoint.
#  (n) a history split between two earlier-<time>/ directories: its highest step is found;
#  (m) a run that saves nothing ([checkpoint] final = false) sets the others' checkpoints
#      aside and leaves the directory's top level empty: their runs still find their own
#      (predict, inspect, --resume auto), and its own run directory is told it has none.
source "$(dirname "$0")/../lib.sh"

cp "$SOURCE_DIR/tests/mpi/small_fit.ini" base.ini
printf 'x0,x1\n0.1,0.2\n-0.7,0.45\n' > points.csv
shared=(--set checkpoint.dir=shared)

"$DISTKAN" train base.ini --run-dir runs/A "${shared[@]}" --set train.steps=100 > A.log 2>&1 \
    || { cat A.log; fail "run A failed"; }
"$DISTKAN" predict shared points.csv --out A_own.csv 2> /dev/null || fail "predict from A's checkpoint directory failed"
"$DISTKAN" train base.ini --run-dir runs/B "${shared[@]}" --set train.steps=50 --set model.widths=2,3,1 > B.log 2>&1 \
    || { cat B.log; fail "run B failed"; }
aside=$(ls -d shared/earlier-*)
[ -f "$aside/ckpt-000000000100.dkc" ] || { ls -R shared; fail "B did not set A's checkpoint aside"; }

# (a) A's model, from where B set it aside; B's is the newest in the directory.
"$DISTKAN" predict runs/A points.csv --out A.csv 2> predict_A.err || { cat predict_A.err; fail "predict runs/A failed"; }
cmp -s A.csv A_own.csv || { cat A.csv A_own.csv; fail "predict runs/A did not use A's model"; }
grep -qF "the newest of the run in runs/A is $aside/ckpt-000000000100.dkc" predict_A.err \
    || { cat predict_A.err; fail "predict runs/A did not say where A's model is"; }
"$DISTKAN" predict runs/B points.csv --out B.csv 2> /dev/null || fail "predict runs/B failed"
cmp -s A.csv B.csv && fail "runs/A and runs/B predict alike: one of them used the other's model"
"$DISTKAN" functions runs/A --points 3 --out A_functions.csv 2> functions_A.err || { cat functions_A.err; fail "functions runs/A failed"; }
grep -qF "from $aside/ckpt-000000000100.dkc" functions_A.err || { cat functions_A.err; fail "functions runs/A used another model"; }
"$DISTKAN" inspect runs/A > inspect_A.out || { cat inspect_A.out; fail "inspect runs/A failed"; }
grep -q "valid    shared/ckpt-000000000050.dkc .*another run's" inspect_A.out \
    || { cat inspect_A.out; fail "inspect runs/A did not mark B's checkpoint"; }
"$DISTKAN" inspect runs/B > inspect_B.out || fail "inspect runs/B failed"
grep -q "another run" inspect_B.out && { cat inspect_B.out; fail "inspect runs/B marked B's own checkpoint"; }
echo "ok (a): predict, functions and inspect of runs/A use $aside/ckpt-000000000100.dkc"

# (b) --resume latest would continue B's model in A's directory: refused, with the way out.
expect_failure 1 "no checkpoint in shared continues the run in runs/A .* give --resume $aside/ckpt-000000000100.dkc" \
    "$DISTKAN" train base.ini --run-dir runs/A "${shared[@]}" --set train.steps=150 --resume latest
"$DISTKAN" train base.ini --run-dir runs/A "${shared[@]}" --set train.steps=150 --resume "$aside/ckpt-000000000100.dkc" \
    > A2.log 2>&1 || { cat A2.log; fail "resuming A from its set-aside checkpoint failed"; }
"$DISTKAN" train base.ini --run-dir runs/U --set train.steps=150 > U.log 2>&1 || { cat U.log; fail "uninterrupted run failed"; }
for f in final_params.bin final_state.bin; do
    "$COMPARE_PARAMS" runs/A/$f runs/U/$f float64 0 || fail "resumed A's $f differs from the uninterrupted run's"
done
[ "$(grep -c '"phase"' runs/A/metrics.jsonl)" -eq "$(grep -c '"phase"' runs/U/metrics.jsonl)" ] \
    || { cut -c1-60 runs/A/metrics.jsonl; fail "resumed A's log did not carry its first 100 steps over"; }
echo "ok (b): latest refused; resumed from the set-aside file, bit for bit the uninterrupted run, log carried"

# (c) A newer checkpoint of another run (B's, copied in under a newer step's name as B
# would write it) beside A's own in the directory: A's own is used.
b_ckpt=$(ls shared/earlier-*/ckpt-000000000050.dkc | head -n 1)
"$DISTKAN" predict shared/ckpt-000000000150.dkc points.csv --out A150.csv 2> /dev/null || fail "predict A's step 150 failed"
"$DISTKAN" train base.ini --run-dir runs/C "${shared[@]}" --set train.steps=400 --set model.widths=2,3,1 \
    --resume "$b_ckpt" > C.log 2>&1 || { cat C.log; fail "run C (B resumed into runs/C) failed"; }
# C set A's step 150 aside at its first save; put it back beside C's newer step 400.
mv "$(ls shared/earlier-*/ckpt-000000000150.dkc | head -n 1)" shared/
"$DISTKAN" predict runs/A points.csv --out A_c.csv 2> predict_Ac.err || { cat predict_Ac.err; fail "predict runs/A (c) failed"; }
cmp -s A_c.csv A150.csv || fail "predict runs/A (c) did not use A's step 150"
grep -qF "skipping 1 newer checkpoint in shared (the newest shared/ckpt-000000000400.dkc)" predict_Ac.err \
    || { cat predict_Ac.err; fail "predict runs/A (c) did not name the skipped checkpoint"; }
"$DISTKAN" train base.ini --run-dir runs/A "${shared[@]}" --set train.steps=160 --resume latest > A3.log 2>&1 \
    || { cat A3.log; fail "resume latest of A (c) failed"; }
grep -q "^resuming from shared/ckpt-000000000150.dkc" A3.log || { cat A3.log; fail "(c): A did not resume from its own step 150"; }
grep -qF "skipping 1 newer checkpoint in shared (the newest shared/ckpt-000000000400.dkc)" A3.log \
    || { cat A3.log; fail "(c): resume latest did not warn about C's checkpoint"; }
# --resume auto takes the same checkpoint and names itself in the warning (C's step 400, set
# aside by A's resume, put back).
mv "$(ls shared/earlier-*/ckpt-000000000400.dkc | head -n 1)" shared/
"$DISTKAN" train base.ini --run-dir runs/A "${shared[@]}" --set train.steps=170 --resume auto > A4.log 2>&1 \
    || { cat A4.log; fail "resume auto of A (c) failed"; }
grep -q "^resuming from shared/ckpt-000000000160.dkc" A4.log || { cat A4.log; fail "(c): auto did not resume A's step 160"; }
grep -qF "warning: --resume auto: skipping 1 newer checkpoint in shared (the newest shared/ckpt-000000000400.dkc)" \
    A4.log || { cat A4.log; fail "(c): resume auto did not warn about C's checkpoint, as itself"; }
echo "ok (c): another run's newer checkpoint skipped: $(grep -m 1 -o 'skipping 1 newer[^(]*' predict_Ac.err)"

# (d) A log no checkpoint continues (edited by hand; C's own checkpoint went aside when A
# resumed): the newest checkpoint in the directory, with a warning.
sed -i '1s/"phase"/"phase" /' runs/C/metrics.jsonl
"$DISTKAN" predict runs/C points.csv > /dev/null 2> predict_C.err || { cat predict_C.err; fail "predict runs/C (d) failed"; }
grep -q "warning: no checkpoint in shared continues the training log of the run in runs/C .*using the newest there, shared/ckpt-000000000170.dkc" \
    predict_C.err || { cat predict_C.err; fail "(d): no warning about the edited log"; }
echo "ok (d): $(head -n 1 predict_C.err | cut -c1-100)..."

# (e) No checkpoint at all: the cause, not only "no checkpoint".
"$DISTKAN" train base.ini --run-dir runs/N --set checkpoint.final=false --set train.steps=10 > N.log 2>&1 \
    || { cat N.log; fail "run N failed"; }
expect_failure 1 "the run in runs/N wrote no checkpoint: its config.ini sets \[checkpoint\] final = false" \
    "$DISTKAN" predict runs/N points.csv
expect_failure 1 "error: .*the run in runs/N wrote no checkpoint" "$DISTKAN" inspect runs/N

# (f) A second shared directory. P finishes; Q, a new run, writes a checkpoint at step 5,
# before its first log line (log_every 1000): it records an empty log, which is no proof
# that it is P's. With Q's step 10 gone, Q's step 5 is the newest there: predict runs/P
# still uses P's own (set aside by Q).
s2=(--set checkpoint.dir=shared2)
"$DISTKAN" train base.ini --run-dir runs/P "${s2[@]}" --set train.steps=30 > P.log 2>&1 || { cat P.log; fail "P failed"; }
"$DISTKAN" predict runs/P points.csv --out P_own.csv 2> /dev/null || fail "predict runs/P failed"
"$DISTKAN" train base.ini --run-dir runs/Q "${s2[@]}" --set train.steps=10 --set train.log_every=1000 \
    --set checkpoint.every=5 > Q.log 2>&1 || { cat Q.log; fail "Q failed"; }
mv shared2/ckpt-000000000010.dkc Q10.dkc
"$DISTKAN" predict runs/P points.csv --out P_now.csv 2> predict_P.err || { cat predict_P.err; fail "predict runs/P (f) failed"; }
cmp -s P_now.csv P_own.csv || { cat predict_P.err; fail "(f): predict runs/P used Q's checkpoint written before its first log line"; }
mv Q10.dkc shared2/ckpt-000000000010.dkc
echo "ok (f): a checkpoint written before its run's first log line is not taken for another run's"

# (g) --resume auto, the requeue idiom: a new run directory in the shared directory starts
# a new run (Q's checkpoints are nothing of its own); P, whose own checkpoints Q set aside,
# goes on from them by itself; --resume latest in a new run directory refuses.
"$DISTKAN" train base.ini --run-dir runs/R "${s2[@]}" --set train.steps=20 --resume auto > R.log 2>&1 \
    || { cat R.log; fail "R (auto, new run directory) failed"; }
grep -q "^--resume auto: runs/R has no training log, and nothing ties the checkpoints in shared2 to it" R.log \
    || { cat R.log; fail "(g): R did not start a new run"; }
! grep -q "^resuming from" R.log || { cat R.log; fail "(g): R continued another run"; }
"$DISTKAN" train base.ini --run-dir runs/P "${s2[@]}" --set train.steps=40 --resume auto > P2.log 2>&1 \
    || { cat P2.log; fail "P (auto, own checkpoints set aside) failed"; }
grep -q "^--resume auto: this run's newest checkpoint is shared2/earlier-[0-9-]*/ckpt-000000000030.dkc" P2.log \
    || { cat P2.log; fail "(g): P did not go on from its set-aside checkpoint"; }
grep -q "^resuming from shared2/earlier-[0-9-]*/ckpt-000000000030.dkc" P2.log || { cat P2.log; fail "(g): P resumed elsewhere"; }
expect_failure 1 "--resume latest: the run directory has no training log .* give --resume shared2/ckpt-000000000040.dkc" \
    "$DISTKAN" train base.ini --run-dir runs/S "${s2[@]}" --set train.steps=50 --resume latest
echo "ok (g): --resume auto starts a new run directory afresh and continues a set-aside history"

# (h) X and Y save every 5 steps and log every 1000: each one's step-5 checkpoint precedes
# its first log line, whose first line is then that checkpoint's event. Y (another seed) sets
# X's checkpoints aside; Y's step 5, of the same step and size, stays Y's.
s3=(--set checkpoint.dir=shared3 --set checkpoint.every=5 --set train.log_every=1000)
"$DISTKAN" train base.ini --run-dir runs/X "${s3[@]}" --set train.steps=10 > X.log 2>&1 || { cat X.log; fail "X failed"; }
"$DISTKAN" predict runs/X points.csv --out X_own.csv 2> /dev/null || fail "predict runs/X failed"
"$DISTKAN" train base.ini --run-dir runs/Y "${s3[@]}" --set train.steps=15 --set model.seed=8 > Y.log 2>&1 \
    || { cat Y.log; fail "Y failed"; }
"$DISTKAN" predict runs/X points.csv --out X_now.csv 2> predict_X.err || { cat predict_X.err; fail "predict runs/X (h) failed"; }
cmp -s X_now.csv X_own.csv || { cat predict_X.err; fail "(h): predict runs/X used Y's checkpoint"; }
grep -q "the newest of the run in runs/X is shared3/earlier-[0-9-]*/ckpt-000000000010.dkc" predict_X.err \
    || { cat predict_X.err; fail "(h): predict runs/X did not name X's own step 10"; }
[ "$("$DISTKAN" inspect runs/X | grep -c "another run's: ")" -eq 3 ] \
    || { "$DISTKAN" inspect runs/X; fail "(h): inspect runs/X did not mark Y's three checkpoints"; }
expect_failure 1 "--resume latest: no checkpoint in shared3 continues the run in runs/X" \
    "$DISTKAN" train base.ini --run-dir runs/X "${s3[@]}" --set train.steps=20 --resume latest
"$DISTKAN" predict runs/Y points.csv --out Y.csv 2> predict_Y.err || { cat predict_Y.err; fail "predict runs/Y failed"; }
grep -q "earlier\|skipping" predict_Y.err && { cat predict_Y.err; fail "(h): predict runs/Y did not take Y's newest"; }
head -n 1 runs/X/metrics.jsonl | grep -q '^{"step": 5, "event": "checkpoint", .*"writer": [1-9]' \
    || { head -n 1 runs/X/metrics.jsonl; fail "(h): X's log does not begin with its checkpoint's event line"; }
echo "ok (h): two runs saving before their first log line keep their own checkpoints apart"

# (i) E saves at step 5 before its first log line (its log begins with that event line),
# then logs step 7 and ends without a final checkpoint; resumed from step 5, the log keeps
# the step-5 line and nothing is set aside as an earlier run's.
e=(--set checkpoint.every=5 --set train.log_every=1000 --set checkpoint.final=false)
"$DISTKAN" train base.ini --run-dir runs/E "${e[@]}" --set train.steps=7 > E.log 2>&1 || { cat E.log; fail "E failed"; }
step5=$(head -n 1 runs/E/metrics.jsonl)
"$DISTKAN" train base.ini --run-dir runs/E "${e[@]}" --set train.steps=12 --resume latest > E2.log 2>&1 \
    || { cat E2.log; fail "E's resume failed"; }
grep -q "^resuming from runs/E/checkpoints/ckpt-000000000005.dkc" E2.log || { cat E2.log; fail "(i): E did not resume step 5"; }
[ "$(head -n 1 runs/E/metrics.jsonl)" = "$step5" ] || { head -n 2 runs/E/metrics.jsonl; fail "(i): the step-5 line was not carried over"; }
! grep -q "earlier unfinished run" E2.log || { cat E2.log; fail "(i): E's own log was set aside as another run's"; }
! "$DISTKAN" inspect runs/E | grep -q "another run's" || { "$DISTKAN" inspect runs/E; fail "(i): E's own checkpoint called another run's"; }

# (j) Z runs twice in one run directory and shared directory, saving only at step 5: the
# second sets the first's log and checkpoint aside, and its own step 5 is all that shared4
# holds. V, a run of its own elsewhere, pointed at shared4 with --resume latest, must not
# take Z's checkpoint for its history because Z's first log lies set aside there.
z=(--set checkpoint.dir=shared4 "${e[@]}" --set train.steps=7)
for n in 1 2; do
    "$DISTKAN" train base.ini --run-dir runs/Z "${z[@]}" > "Z$n.log" 2>&1 || { cat "Z$n.log"; fail "Z ($n) failed"; }
done
ls shared4/earlier-*/metrics.jsonl > /dev/null || { ls -R shared4; fail "(j): Z's first log was not set aside"; }
"$DISTKAN" train base.ini --run-dir runs/V --set train.steps=10 > V.log 2>&1 || { cat V.log; fail "V failed"; }
expect_failure 1 "--resume latest: no checkpoint there continues the run directory's training log" \
    "$DISTKAN" train base.ini --run-dir runs/V --set checkpoint.dir=shared4 --set train.steps=12 --resume latest
echo "ok (i), (j): checkpoints saved before the first log line: carried over by their own, not by another's"

# (k) K saves at 30, 40, 50 in shared5; L resumes K's step 50 by path and keeps 1.
"$DISTKAN" train base.ini --run-dir runs/K --set checkpoint.dir=shared5 --set checkpoint.every=10 > K.log 2>&1 \
    || { cat K.log; fail "K failed"; }
k_sums=$(cd shared5 && sha256sum ckpt-*.dkc | cut -c1-64 | sort)
"$DISTKAN" train base.ini --run-dir runs/L --set checkpoint.dir=shared5 --set checkpoint.every=10 --set checkpoint.keep=1 \
    --set train.steps=80 --resume shared5/ckpt-000000000050.dkc > L.log 2>&1 || { cat L.log; fail "L failed"; }
[ "$(find shared5 -name 'ckpt-*.dkc' -exec sha256sum {} + | cut -c1-64 | sort | grep -cxF "$k_sums")" -eq 3 ] \
    || { cat L.log; find shared5; fail "(k): L pruned K's checkpoints"; }

# (l) A6 saves every step before its first log line; R6's log is empty (killed before its
# first line): nothing ties A6's checkpoints to it.
"$DISTKAN" train base.ini --run-dir runs/A6 --set checkpoint.dir=shared6 --set checkpoint.every=1 \
    --set checkpoint.keep=100 --set train.log_every=1000 --set train.steps=3 > A6.log 2>&1 || { cat A6.log; fail "A6 failed"; }
mkdir -p runs/R6 && : > runs/R6/metrics.jsonl.partial
expect_failure 1 "--resume latest: no checkpoint there continues the run directory's training log" \
    "$DISTKAN" train base.ini --run-dir runs/R6 --set checkpoint.dir=shared6 --set train.steps=5 --resume latest
echo "ok (k), (l): another run's checkpoints are never pruned by a resume of one of them, nor owned by an empty log"

# (m) A7 finishes in shared7; B7 saves nothing there, setting A7's checkpoint aside.
"$DISTKAN" train base.ini --run-dir runs/A7 --set checkpoint.dir=shared7 --set train.steps=20 > A7.log 2>&1 \
    || { cat A7.log; fail "A7 failed"; }
"$DISTKAN" predict runs/A7 points.csv --out A7_own.csv 2> /dev/null || fail "predict runs/A7 failed"
"$DISTKAN" train base.ini --run-dir runs/B7 --set checkpoint.dir=shared7 --set checkpoint.final=false \
    --set train.steps=10 --set model.seed=8 > B7.log 2>&1 || { cat B7.log; fail "B7 failed"; }
[ -z "$(ls shared7/*.dkc 2> /dev/null)" ] || { ls -R shared7; fail "(m): shared7's top level is not empty"; }
"$DISTKAN" predict runs/A7 points.csv --out A7_now.csv 2> predict_A7.err || { cat predict_A7.err; fail "(m): predict runs/A7 failed"; }
cmp -s A7_now.csv A7_own.csv || fail "(m): predict runs/A7 did not use A7's set-aside checkpoint"
"$DISTKAN" inspect runs/A7 > inspect_A7.out 2>&1 || { cat inspect_A7.out; fail "(m): inspect runs/A7 failed"; }
grep -q "set aside there by a run sharing the directory: shared7/earlier-[0-9-]*/ckpt-000000000020.dkc" inspect_A7.out \
    || { cat inspect_A7.out; fail "(m): inspect runs/A7 did not name the set-aside checkpoint"; }
expect_failure 1 "the run in runs/B7 wrote no checkpoint: its config.ini sets \[checkpoint\] final = false" \
    "$DISTKAN" predict runs/B7 points.csv
"$DISTKAN" train base.ini --run-dir runs/A7 --set checkpoint.dir=shared7 --set train.steps=30 --resume auto > A7b.log 2>&1 \
    || { cat A7b.log; fail "(m): A7's requeue failed"; }
grep -q "^resuming from shared7/earlier-[0-9-]*/ckpt-000000000020.dkc" A7b.log \
    || { cat A7b.log; fail "(m): --resume auto started A7 over instead of going on from its set-aside checkpoint"; }
echo "ok (m): an emptied shared directory still leads each run to its own checkpoints"

# (n) N8 saves 40, 45, 50; P8, fresh, sets them aside; then N8's step 50 is moved into an
# older set-aside directory, as a resume from the middle of a history sets its later steps
# aside before a later run sets the earlier ones aside.
s8=(--set checkpoint.dir=shared8)
"$DISTKAN" train base.ini --run-dir runs/N8 "${s8[@]}" --set checkpoint.every=5 > N8.log 2>&1 || { cat N8.log; fail "N8 failed"; }
"$DISTKAN" predict runs/N8 points.csv --out N8_own.csv 2> /dev/null || fail "predict runs/N8 failed"
"$DISTKAN" train base.ini --run-dir runs/P8 "${s8[@]}" --set model.seed=3 > P8.log 2>&1 || { cat P8.log; fail "P8 failed"; }
aside8=$(ls -d shared8/earlier-*)
mkdir shared8/earlier-20000101-000000 && mv "$aside8/ckpt-000000000050.dkc" shared8/earlier-20000101-000000/
"$DISTKAN" predict runs/N8 points.csv --out N8_now.csv 2> predict_N8.err || { cat predict_N8.err; fail "(n): predict runs/N8 failed"; }
cmp -s N8_now.csv N8_own.csv || { cat predict_N8.err; fail "(n): predict runs/N8 did not use N8's step 50"; }
echo "ok (n): a history split between two set-aside directories: its highest step"

echo "shared checkpoint directories: each run directory's tools and resume use that run's checkpoints"

# --resume auto, for job scripts that are requeued: with no checkpoint in the checkpoint
# directory it starts a new run (the same bytes as a run without --resume); with one it
# resumes from the newest (a run stopped at step 20 and continued to 50 ends with the same
# bytes as an uninterrupted 50-step run); with only corrupt ones it fails like latest and
# leaves them in place instead of starting over.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
run_ranks 2 train "$cfg" --run-dir plain > plain.log || { cat plain.log; fail "the plain run failed"; }
run_ranks 2 train "$cfg" --run-dir auto --resume auto > auto.log || { cat auto.log; fail "auto on an empty directory failed"; }
grep -q "^--resume auto: no checkpoint in auto/checkpoints: starting a new run" auto.log || { cat auto.log; fail "no note"; }
cmp -s plain/final_params.bin auto/final_params.bin || fail "auto's new run differs from the plain run"

run_ranks 2 train "$cfg" --run-dir cont --set train.steps=20 > cont1.log || { cat cont1.log; fail "the 20-step run failed"; }
run_ranks 2 train "$cfg" --run-dir cont --resume auto > cont2.log || { cat cont2.log; fail "auto did not resume"; }
grep -q "resuming from cont/checkpoints/ckpt-0*20.dkc" cont2.log || { cat cont2.log; fail "auto did not resume from step 20"; }
cmp -s plain/final_params.bin cont/final_params.bin || fail "20 steps, then 30 more through auto, differ from 50 steps"

mkdir -p bad/checkpoints
printf 'not a checkpoint' > bad/checkpoints/ckpt-000000000005.dkc
rc=0
run_ranks 1 train "$cfg" --run-dir bad --resume auto > bad.log 2> bad.err || rc=$?
[ "$rc" -ne 0 ] || fail "auto started over a directory of corrupt checkpoints"
grep -q "ckpt-000000000005.dkc" bad.err || { cat bad.err; fail "the error does not name the corrupt checkpoint"; }
[ -e bad/checkpoints/ckpt-000000000005.dkc ] || fail "the corrupt checkpoint was moved or deleted"
echo "--resume auto: new run when there is no checkpoint, bit-identical resume when there is, error on corrupt ones"

# A failed write to the training log (a full disk; here a file size limit, EFBIG) stops the
# run at once, naming the file, the step and the cause, instead of training on with a hole
# in the log. Resuming from the last checkpoint then carries over only complete lines, and
# the finished metrics.jsonl has the same training lines as an uninterrupted run.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
opts=(--set train.log_every=1 --set train.steps=120 --set checkpoint.every=10)
"$DISTKAN" train "$cfg" --run-dir reference "${opts[@]}" > /dev/null || fail "the reference run failed"
# 8 KiB per file: the log (about 200 bytes a line) outgrows it within 50 steps, the
# checkpoints (a few KiB) do not. SIGXFSZ ignored, so the write fails with EFBIG instead.
# The limit is set in the rank only: MPI's own start-up files (under mpirun) are larger.
rc=0
"$MPIEXEC" -np 1 bash -c 'ulimit -f 8; trap "" XFSZ; exec "$@"' limited "$DISTKAN" train "$cfg" --run-dir full \
    "${opts[@]}" > /dev/null 2> full.err || rc=$?
[ "$rc" -eq 1 ] || { cat full.err; fail "exit $rc, expected 1"; }
grep -q "cannot write full/metrics.jsonl.partial at step [0-9]*: File too large" full.err || { cat full.err; fail "no message"; }
step=$(sed -n 's/.*metrics.jsonl.partial at step \([0-9]*\):.*/\1/p' full.err | head -n 1)
[ "$step" -lt 60 ] || fail "the run went on to step $step after its log stopped growing"
"$DISTKAN" train "$cfg" --run-dir full "${opts[@]}" --resume latest > resume.log 2> resume.err \
    || { cat resume.log resume.err; fail "the resume failed"; }
[ "$(grep -vc '}$' full/metrics.jsonl)" -eq 0 ] || fail "metrics.jsonl holds an incomplete line"
diff <(grep '"phase"' reference/metrics.jsonl | sed 's/, "samples_per_s".*//') \
     <(grep '"phase"' full/metrics.jsonl | sed 's/, "samples_per_s".*//') > /dev/null \
    || fail "the resumed log's training lines differ from the uninterrupted run's"
cmp -s reference/final_params.bin full/final_params.bin || fail "the resumed run's parameters differ"
echo "a failed log write stopped the run at step $step; the resumed log is complete"

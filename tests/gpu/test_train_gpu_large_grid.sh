# A grid too fine for the GPU's shared memory is found at set-up, for the largest G of the
# grid schedule: the parameter-gradient kernel keeps a column of G + k sums per edge in
# shared memory, so past some G (float64, k = 3: 899 on an H100) the backward cannot run.
# device = cuda is a configuration error that names the largest G that fits (exit 2),
# device = auto runs on the CPU and says why; before, the run failed at the first backward
# at that G, which a grid schedule may reach hours in. The largest G named is then run on
# the GPU for a step: the bound is the kernel's real one, not a guess below it.
source "$(dirname "$0")/gpu_lib.sh"
fit="$SOURCE_DIR/tests/mpi/small_fit.ini"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"
one_step=(--set train.steps=1 --set train.batch=32 --set train.log_every=1)

# G far beyond any GPU's shared memory: refused, naming the largest G that fits here.
expect_failure 2 "\[model\] grid / \[grid\] schedule: G = 6000 needs [0-9]+ bytes of shared memory per block in the CUDA backward" \
    "$DISTKAN" train "$fit" --run-dir cuda --set model.grid=6000 "${one_step[@]}" --set dist.device=cuda
[ ! -e cuda ] || fail "the refused run created its run directory"
largest=$(sed -n 's/.*at most G = \([0-9]*\) at k = 3 in float64.*/\1/p' err.txt)
limit=$(sed -n 's/.*(\([0-9]*\) bytes: at most.*/\1/p' err.txt)
[ -n "$largest" ] && [ "$largest" -gt 5 ] || { cat err.txt; fail "no largest G in the message"; }
# Worked by hand for an H100's 232448 bytes: 32 edges x (G + 3) float64 sums, plus 32
# samples x (4 basis values + silu) float64 and 32 ints, at most 232448: G + 3 <= 902.
if [ "$limit" = 232448 ]; then
    [ "$largest" -eq 899 ] || fail "largest G $largest at 232448 bytes, expected 899"
fi

# One more than that: refused; that G itself: one step on the GPU.
expect_failure 2 "G = $((largest + 1)) needs" \
    "$DISTKAN" train "$fit" --run-dir cuda --set model.grid=$((largest + 1)) "${one_step[@]}" --set dist.device=cuda
"$DISTKAN" train "$fit" --run-dir at_limit --set model.grid="$largest" "${one_step[@]}" --set dist.device=cuda \
    > at_limit.log 2>&1 || { cat at_limit.log; fail "G = $largest, the largest named, failed on the GPU"; }
grep -q "^device: [^c]" at_limit.log || { cat at_limit.log; fail "G = $largest did not run on the GPU"; }

# A grid schedule that reaches past the limit: auto takes the CPU from the start.
"$DISTKAN" train "$fit" --run-dir auto --set grid.schedule=5,$((largest + 1)) --set grid.steps=1 \
    --set train.steps=2 --set train.batch=32 > auto.log 2>&1 || { cat auto.log; fail "device = auto with a fine grid schedule failed"; }
grep -q "^device: cpu (device = auto: G = $((largest + 1)) needs [0-9]* bytes of shared memory" auto.log \
    || { cat auto.log; fail "device = auto did not take the CPU, or did not say why"; }

# The PDE (second-order) kernels stage more per sample: a lower limit, named as theirs.
expect_failure 2 "G = $largest needs [0-9]+ bytes of shared memory per block in the CUDA second-order backward" \
    "$DISTKAN" train "$pde" --run-dir pde --set model.grid="$largest" --set train.steps=1 --set dist.device=cuda
pde_largest=$(sed -n 's/.*at most G = \([0-9]*\) at k = 3 in float64.*/\1/p' err.txt)
if [ "$limit" = 232448 ]; then # 32 x (G + 3) + 32 x (12 basis values + 3 silu) float64, 32 ints
    [ "$pde_largest" -eq 889 ] || fail "largest PDE G $pde_largest at 232448 bytes, expected 889"
fi
echo "grids too fine for the GPU's shared memory: refused at set-up with device = cuda (largest G $largest," \
     "PDE $pde_largest at $limit bytes), on the CPU with auto"

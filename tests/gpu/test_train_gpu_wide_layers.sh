# A layer wider than the CUDA kernels' launch grid serves (more than 65535 inputs) is found
# at set-up: device = cuda is a configuration error naming the layer (exit 2), device = auto
# runs on the CPU and says why; before, the run failed at its first forward.
source "$(dirname "$0")/gpu_lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_fit.ini"
expect_failure 2 "\[model\] widths: layer 1 \(70000 -> 1\) is too wide for the CUDA kernels" \
    "$DISTKAN" train "$cfg" --run-dir cuda --set model.widths=2,70000,1 --set train.steps=1 --set dist.device=cuda
[ ! -e cuda ] || fail "the refused run created its run directory"
"$DISTKAN" train "$cfg" --run-dir auto --set model.widths=2,70000,1 --set train.steps=1 > auto.log \
    || { cat auto.log; fail "device = auto with a wide layer failed"; }
grep -q "^device: cpu (device = auto: layer 1 (70000 -> 1) is too wide for the CUDA kernels)" auto.log \
    || { cat auto.log; fail "device = auto did not take the CPU, or did not say why"; }
echo "layers too wide for the CUDA kernels: refused with device = cuda, on the CPU with auto"

#!/usr/bin/env bash
# THE one command for the GPU machine: unpack the carried build dependencies, configure and
# build with the CUDA backend, print the machine, run every GPU test and a few CPU smoke
# tests, then the GPU benchmarks; never stops at the first failure, prints a summary table
# last and exits 1 if any step failed.
#
# On the CPU machine, once per checkout (fills .gpudeps/, ~30 MB, ignored by git):
#     scripts/gpu/fetch-debs.sh
# Then through the device tool. A session's device time is 15 minutes in all, the machine's
# start (1-3 min) included, and a warm machine goes back after 30 s idle: make the tests
# one call and the benchmarks a second one at once, on the still-warm machine (its build
# outputs stay there, so the second call's build is incremental). The summary is the end of
# output_tail:
#     run(command="DK_GPU_CHECK_BUDGET_S=400 bash scripts/gpu_check.sh --tests-only", carry=[".gpudeps"], timeout_s=450)
#     run(command="DK_GPU_CHECK_BUDGET_S=<left - 60> bash scripts/gpu_check.sh --bench-only", carry=[".gpudeps"], ...)
# (--quick-bench with --bench-only when less than 5 minutes are left). On a session with
# 30 minutes, one call does both:
#     run(command="bash scripts/gpu_check.sh", carry=[".gpudeps"], timeout_s=600)
#
# Options: --tests-only | --bench-only | --quick-bench (benchmarks in their --quick form) |
#          --help. Environment: OUT (where results go; default ./gpu-out), BUILD_DIR (default
#          build-gpu), DK_GPU_CHECK_BUDGET_S (default 560: a step that would start with less
#          than its minimum left is SKIPPED, so the summary always prints inside the device
#          tool's 600 s), DK_CTEST_J (parallel GPU tests, default 4: most of their time is CPU
#          reference runs and mpirun, on the GPU machine's 16 cores).
#
# What comes back (the device tool returns at most 8 files from $OUT):
#   $OUT/gpu_check.log           everything printed, with a timestamp per step
#   $OUT/summary.txt             the summary table
#   $OUT/bench_gpu_layer.md      the layer benchmark's table as markdown (for docs/gpu.md)
#   $OUT/gpu_check_logs.tar.gz   one log per step, CTest's logs, the PDE runs' metrics.jsonl
#
# Expected duration of the full run on one H100 (estimates; nothing here has run on a GPU
# yet; the CPU machine, 2 busy cores, built everything in 195 s): unpack 5 s, configure
# 20 s, build 1.5-2.5 min, GPU tests 1-2 min, CPU smoke tests 30 s, bench_gpu_layer 2-3 min
# (distkan's 18 rows ~20 s, torch eager + MLP ~60 s with start-up, torch.compile of the
# G = 10 rows capped at 60 s), bench_allreduce 30-40 s for both, PDE comparison 30-60 s:
# 8.5-10 min in all, at the budget's edge. When the budget runs out the later benchmarks
# are SKIPPED (the summary says so): then run --bench-only in a second call (~5 min).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

mode=all quick_bench=0
for a in "$@"; do
  case $a in
    --tests-only) mode=tests ;;
    --bench-only) mode=bench ;;
    --quick-bench) quick_bench=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option $a (--help)"; exit 2 ;;
  esac
done

OUT=${OUT:-$root/gpu-out}
BUILD_DIR=${BUILD_DIR:-$root/build-gpu}
BUDGET=${DK_GPU_CHECK_BUDGET_S:-560}
W=$(mktemp -d /tmp/dk-gpu-check.XXXXXX)
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
tee_pid=$!
export PYTHONUNBUFFERED=1
# NCCL's own warnings (an init failure inside a VM says why only with this); an explicit
# NCCL_DEBUG from the caller wins.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
t_start=$SECONDS
NP=$(nproc)

names=() status=() secs=() kinds=()
failed=0

stamp() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }

# step KIND NAME CAP MIN COMMAND...: runs COMMAND under `timeout` for at most CAP seconds (less
# when the budget has less left), its output into $W/NAME.log and this log. KIND is test or
# bench (both count as failures; the summary shows which). MIN: the least time worth
# starting it with; below that it is SKIPPED.
step() {
  local kind=$1 name=$2 cap=$3 min=$4; shift 4
  local left=$(( BUDGET - (SECONDS - t_start) ))
  local limit=$(( cap < left ? cap : left ))
  names+=("$name"); kinds+=("$kind")
  if (( limit < min )); then
    echo "=== [$(stamp)] $name: SKIPPED (time budget: ${left}s left of ${BUDGET}s)"
    status+=("SKIPPED (budget)"); secs+=(0)
    return 0
  fi
  echo "=== [$(stamp)] $name (limit ${limit}s): $*"
  local t0=$SECONDS
  # Echoed from the step's log file, not through a pipe to tee: a child that outlives the
  # step (an MPI rank left behind by a killed mpirun) would hold the pipe, and tee with it,
  # open past the step's limit and the device tool's, and the summary would be lost.
  : > "$W/$name.log" # there before tail opens it
  timeout -k 10 "$limit" "$@" >> "$W/$name.log" 2>&1 < /dev/null &
  local pid=$!
  tail -n +1 -s 0.2 --pid="$pid" -f "$W/$name.log" &
  local tail_pid=$!
  wait "$pid"
  local rc=$?
  wait "$tail_pid"
  local dt=$(( SECONDS - t0 ))
  secs+=("$dt")
  if (( rc == 0 )); then
    status+=("PASS")
  elif (( rc == 124 || rc == 137 )); then
    status+=("TIMEOUT (${limit}s)"); failed=1
  elif (( rc == 77 )); then
    status+=("SKIPPED (exit 77: no GPU?)"); failed=1
  else
    status+=("FAIL (exit $rc)"); failed=1
  fi
  echo "=== [$(stamp)] $name: ${status[-1]} in ${dt}s"
  return 0
}

echo "=== [$(stamp)] gpu_check.sh mode=$mode, OUT=$OUT, build=$BUILD_DIR, budget ${BUDGET}s, $NP CPUs"

# --- dependencies: sourced here, since it exports PATH, LD_LIBRARY_PATH, OPAL_PREFIX, ... ---
names+=("deps"); kinds+=("test")
t0=$SECONDS
if [ -f scripts/gpu/unpack.sh ] && source scripts/gpu/unpack.sh; then
  status+=("PASS")
else
  status+=("FAIL (unpack; carry .gpudeps, see scripts/gpu/fetch-debs.sh)"); failed=1
fi
secs+=($(( SECONDS - t0 )))

machine_info() {
  nvidia-smi || echo "nvidia-smi failed"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv || true
  nvcc --version | tail -n 2
  cmake --version | head -n 1
  gcc --version | head -n 1
  mpirun --version 2>&1 | head -n 1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", ".".join(map(str, torch.cuda.nccl.version())), "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")' 2>&1 | tail -n 1
  echo "NCCL_ROOT=${NCCL_ROOT:-unset}"
  ls "${NCCL_ROOT:-/nonexistent}"/lib 2>/dev/null | head -n 5
  grep -m1 'model name' /proc/cpuinfo; free -g | head -n 2
  uname -a
}
export -f machine_info
step test machine_info 60 5 bash -c machine_info

configure() {
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDISTKAN_CUDA=ON \
    ${NCCL_ROOT:+-DNCCL_ROOT="$NCCL_ROOT"}
}
export -f configure
export BUILD_DIR NP
step test configure 180 30 bash -c configure

if [ "$mode" = bench ]; then
  step test build 420 60 cmake --build "$BUILD_DIR" -j "$NP" --target distkan bench_gpu_layer bench_allreduce
else
  step test build 420 60 cmake --build "$BUILD_DIR" -j "$NP"
fi

if [ "$mode" != bench ]; then
  # Every GPU test (label gpu). A GPU test that skips (exit 77) on the GPU machine is a
  # problem there: the summary flags it.
  gpu_tests() {
    cd "$BUILD_DIR" || return 1
    # --no-tests=error: finding no GPU test at all is a failure here, not a pass. Each test
    # carries its own TIMEOUT property; the step's limit bounds them all.
    ctest -L '^gpu$' --no-tests=error --output-on-failure -j "${DK_CTEST_J:-4}"
  }
  export -f gpu_tests
  step test gpu_tests 330 60 bash -c gpu_tests
  # On the GPU machine a GPU test may skip (exit 77) for one reason only: two NCCL ranks on
  # a one-GPU machine (run by the nccl_shared_gpu step below instead). Any other skip saw
  # no usable GPU (a driver that does not match the runtime, no /dev/nvidia*) and would
  # otherwise pass for success: it fails the step, and the log says why.
  skipped=$(grep -oE '^[[:space:]]*[0-9]+ - gpu\.[a-z0-9_]+ \(Skipped\)' "$W/gpu_tests.log" 2>/dev/null |
            sed -E 's/.* - (gpu\.[a-z0-9_]+) .*/\1/')
  unexpected=$(printf '%s\n' $skipped | grep -vE '^gpu\.test_comm_nccl_(2ranks|peer_death)$' | tr '\n' ' ')
  nskip=$(printf '%s\n' $skipped | grep -c .)
  if [ -n "${unexpected// /}" ]; then
    status[-1]="FAIL (skipped: $unexpected)"; failed=1
  elif [ "${nskip:-0}" -gt 0 ] && [ "${status[-1]}" = PASS ]; then
    status[-1]="PASS, $nskip skipped (2 NCCL ranks)"
  fi
  # A few CPU tests: the unit suite and one multi-rank run, to see that the GPU build did not
  # break the CPU paths and that the carried Open MPI runs.
  # No GPU visible to them: device = auto then means the CPU, which is the point.
  cpu_smoke() {
    cd "$BUILD_DIR" || return 1
    export CUDA_VISIBLE_DEVICES=
    ctest -L '^unit$' --output-on-failure --timeout 120 -j "$NP"
    local rc=$?
    ctest -R '^mpi\.test_world_size_invariance$' --no-tests=error --output-on-failure --timeout 120 || rc=1
    return $rc
  }
  export -f cpu_smoke
  step test cpu_smoke 150 30 bash -c cpu_smoke
fi

if [ "$mode" != tests ]; then
  B=$BUILD_DIR/bench
  mpi_flags=(--oversubscribe --bind-to none --allow-run-as-root)
  if (( quick_bench )); then
    step bench bench_gpu_layer 120 20 "$B/bench_gpu_layer" --quick --md "$OUT/bench_gpu_layer.md"
    step bench allreduce_nccl_1rank 60 15 mpirun -np 1 "${mpi_flags[@]}" "$B/bench_allreduce" nccl --quick
    step bench allreduce_mpi_2ranks 60 15 mpirun -np 2 "${mpi_flags[@]}" "$B/bench_allreduce" mpi --quick
    step bench pde_gpu_vs_cpu 120 30 env POINTS=100000 STEPS=6 bash bench/gpu/bench_pde_gpu.sh "$BUILD_DIR" "$W/pde"
  else
    # torch.compile: the G = 10 rows only (the target's), at most 60 s of compiling.
    step bench bench_gpu_layer 330 90 "$B/bench_gpu_layer" --compile-grids 10 --compile-budget 60 \
      --md "$OUT/bench_gpu_layer.md"
    step bench allreduce_nccl_1rank 90 20 mpirun -np 1 "${mpi_flags[@]}" "$B/bench_allreduce" nccl
    step bench allreduce_mpi_2ranks 120 30 mpirun -np 2 "${mpi_flags[@]}" "$B/bench_allreduce" mpi
    step bench pde_gpu_vs_cpu 180 60 bash bench/gpu/bench_pde_gpu.sh "$BUILD_DIR" "$W/pde"
  fi
fi

# Two NCCL ranks on this machine's one GPU (NCCL 2.30+ only, an NCCL experiment): last, in
# a step of its own, so that a crawl or hang costs no other step its time.
if [ "$mode" != bench ] && [ "${nskip:-0}" -gt 0 ]; then
  nccl_shared_gpu() {
    cd "$BUILD_DIR" || return 1
    DK_TEST_NCCL_SHARED_GPU=1 ctest -R '^gpu\.test_comm_nccl_(2ranks|peer_death)$' --no-tests=error \
      --output-on-failure --timeout 120
  }
  export -f nccl_shared_gpu
  step test nccl_shared_gpu 150 60 bash -c nccl_shared_gpu
  if [ "${status[-1]}" = PASS ] && grep -q '(Skipped)' "$W/nccl_shared_gpu.log" 2>/dev/null; then
    status[-1]="PASS, skipped (NCCL < 2.30? see log)"
  fi
fi

# --- summary and the files that come back ------------------------------------------------
{
  echo
  echo "gpu_check summary ($(stamp), mode=$mode, $(( SECONDS - t_start ))s in all, budget ${BUDGET}s):"
  printf '%-24s %-6s %-34s %6s\n' step kind result seconds
  for i in "${!names[@]}"; do
    printf '%-24s %-6s %-34s %6s\n' "${names[$i]}" "${kinds[$i]}" "${status[$i]}" "${secs[$i]}"
  done
  echo "result: $([ "$failed" = 0 ] && echo 'all steps passed (SKIPPED (budget) steps did not run)' || echo 'FAILURES above')"
} | tee "$OUT/summary.txt"
cp -f "$BUILD_DIR"/Testing/Temporary/LastTest*.log "$W"/ 2>/dev/null || true
find "$W/pde" \( -name 'metrics.jsonl*' -o -name summary.json \) 2>/dev/null | while read -r f; do
  cp -f "$f" "$W/pde_$(basename "$(dirname "$f")")_$(basename "$f")"; done
tar -czf "$OUT/gpu_check_logs.tar.gz" -C "$W" --exclude=pde . 2>/dev/null || true
rm -rf "$W"
# Let the log's tee finish writing before the device tool collects $OUT.
exec >&- 2>&-
wait "$tee_pid" 2>/dev/null
exit "$failed"

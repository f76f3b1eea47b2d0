#!/usr/bin/env bash
# A physics-informed training step on the GPU vs on the CPU with 2 MPI ranks: poisson2d on
# 10^6 interior collocation points, [2,16,16,1] KAN, G = 10, float64, a few Adam steps
# (bench/gpu/pde_poisson2d_1m.ini). Both runs are `distkan train` of the same config:
#   GPU   mpirun -np 1 distkan train ... --set dist.device=cuda
#   CPU   mpirun -np 2 --bind-to none distkan train ... --set dist.device=cpu
#         --set dist.threads=<half the cores each>
# and the timing is read from their metrics.jsonl: seconds per step between the first and
# the last logged step (so start-up and the first, warming step are left out) and the
# samples/s of the last logged window. Prints both and the GPU/CPU ratio.
#
#   bench/gpu/bench_pde_gpu.sh [BUILD_DIR] [WORK_DIR]      (defaults: build-gpu, /tmp/dk-pde-gpu)
#   STEPS=12 POINTS=1000000 CPU_RANKS=2 bench/gpu/bench_pde_gpu.sh
# Exit status: 0 when both runs finished, 1 otherwise (the table says which failed).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build-gpu}
work=${2:-/tmp/dk-pde-gpu}
cfg=$root/bench/gpu/pde_poisson2d_1m.ini
steps=${STEPS:-12}
points=${POINTS:-1000000}
ranks=${CPU_RANKS:-2}
cores=$(nproc)
threads=$(( cores / ranks > 0 ? cores / ranks : 1 ))
exe=$build/distkan
[ -x "$exe" ] || { echo "bench_pde_gpu: $exe not built"; exit 1; }
mpirun_flags=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpirun_flags+=(--allow-run-as-root)
mkdir -p "$work"
common=(--set "pde.interior_points=$points" --set "train.steps=$steps" --set "train.log_every=$(( steps / 3 > 0 ? steps / 3 : 1 ))")

# s/step between the first and last logged Adam steps, samples/s of the last window, loss.
timing() {
  python3 - "$1" <<'PY'
import json, sys
rows = []
try:
    for line in open(sys.argv[1]):
        o = json.loads(line)
        if "samples_per_s" in o:
            rows.append(o)
except OSError:
    pass
if len(rows) < 2:
    print("nan nan nan")
else:
    a, b = rows[0], rows[-1]
    print(f"{(b['wall_s'] - a['wall_s']) / (b['step'] - a['step']):.6g} {b['samples_per_s']:.6g} {b['loss']:.6g}")
PY
}

run() { # name, ranks, extra args...
  local name=$1 np=$2; shift 2
  rm -rf "$work/$name"
  local t0=$SECONDS
  echo "== $name: mpirun -np $np ${mpirun_flags[*]} $exe train $cfg ${common[*]} $* --run-dir $work/$name"
  mpirun -np "$np" "${mpirun_flags[@]}" "$exe" train "$cfg" "${common[@]}" "$@" --run-dir "$work/$name" \
    > "$work/$name.log" 2>&1
  local rc=$?
  # The error lines if any (a failed run), else the run's last lines.
  { grep -m 5 -i 'error' "$work/$name.log" || tail -n 4 "$work/$name.log"; } | sed 's/^/   /'
  echo "   exit $rc after $(( SECONDS - t0 )) s"
  return $rc
}

run gpu 1 --set dist.device=cuda; rc_gpu=$?
run cpu "$ranks" --set dist.device=cpu --set "dist.threads=$threads"; rc_cpu=$?
read -r g_step g_sps g_loss <<<"$(timing "$work/gpu/metrics.jsonl")"
read -r c_step c_sps c_loss <<<"$(timing "$work/cpu/metrics.jsonl")"
# A failed run leaves metrics.jsonl.partial; its timings still tell something.
[ "$g_step" = nan ] && read -r g_step g_sps g_loss <<<"$(timing "$work/gpu/metrics.jsonl.partial")"
[ "$c_step" = nan ] && read -r c_step c_sps c_loss <<<"$(timing "$work/cpu/metrics.jsonl.partial")"
echo
echo "PDE step, poisson2d, $points interior points, [2,16,16,1] G=10 float64, $steps Adam steps:"
printf '%-34s %12s %14s %14s %6s\n' run "s/step" "samples/s" "last loss" exit
printf '%-34s %12s %14s %14s %6s\n' "GPU, 1 rank (device=cuda)" "$g_step" "$g_sps" "$g_loss" "$rc_gpu"
printf '%-34s %12s %14s %14s %6s\n' "CPU, $ranks ranks x $threads threads" "$c_step" "$c_sps" "$c_loss" "$rc_cpu"
python3 -c "
import math,sys
g,c=float(sys.argv[1]),float(sys.argv[2])
print('GPU speed-up over the CPU run (s/step ratio): ' + ('n/a' if math.isnan(g) or math.isnan(c) or g<=0 else f'{c/g:.1f}x'))
" "$g_step" "$c_step"
[ "$rc_gpu" = 0 ] && [ "$rc_cpu" = 0 ]

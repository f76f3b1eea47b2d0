#!/usr/bin/env python3
"""The efficient-kan formulation of one KAN layer in PyTorch, timed for fwd+bwd.

Baseline (b) of bench/bench_kan_layer.c, which runs this script through popen and
merges its lines into one table. Written for this benchmark after the formulation of
efficient-kan's KANLinear (Blealtan/efficient-kan): the full B-spline basis tensor
[batch, in, G+k] is built by the Cox-de Boor recursion on the extended grid, then

    y = silu(x) @ base_weight^T + bases.view(batch, -1) @ (spline_weight * spline_scaler)^T

with two F.linear calls, and autograd differentiates all of it (x included, so dx is
produced as for a hidden layer). This is the same math as the fused layer with mask = 1:
base_weight = scale_base^T, spline_scaler = scale_sp^T, spline_weight = coef permuted.

Output, one tab-separated line per measurement (the C program parses these):
    info    <key>   <value>
    result  <dtype> <threads> <n> <G> <mode> <samples_per_s> <reps> <best_s> <others_load>
    na      <dtype> <threads> <n> <G> <mode> <reason>
mode is "eager" or "compiled"; others_load is the share of the machine (0..1) that
other processes used during the measurement, as bench_kan_layer.c computes it.
"""
import argparse
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run by path through popen
from torch_kan_common import KANLinearBase, knot_grid, measure  # noqa: E402


class KANLinearDense(KANLinearBase):
    def __init__(self, n_in, n_out, G, k, dtype, gen, jitter):
        super().__init__()
        self.k = k
        self.register_buffer("grid", knot_grid(n_in, G, k, dtype, jitter, gen))
        nb = G + k
        self.base_weight = torch.nn.Parameter(
            (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) - 0.5).to(dtype))
        self.spline_weight = torch.nn.Parameter(
            (0.2 * (torch.rand(n_out, n_in, nb, generator=gen, dtype=torch.float64) - 0.5)).to(dtype))
        self.spline_scaler = torch.nn.Parameter(
            (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) + 0.5).to(dtype))

def fwd_bwd(fn, layer, x, dy):
    for prm in layer.parameters():
        prm.grad = None  # overwrite, as the fused backward does
    x.grad = None
    y = fn(x)
    y.backward(dy)


def emit(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", required=True,
                    help="comma list of dtype:threads:n:G, e.g. float32:1:16:5")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=0.3)
    ap.add_argument("--max-reps", type=int, default=200)
    ap.add_argument("--jitter", type=float, default=0.3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--max-wait", type=float, default=180.0,
                    help="seconds in all to wait for a quiet machine before measurements")
    args = ap.parse_args()

    emit("info", "torch", torch.__version__)
    emit("info", "torch_blas", "mkl" if torch.backends.mkl.is_available() else "other")
    compile_broken = None  # first failure reason: later configs would fail the same way
    wait_budget = [args.max_wait]

    for spec in args.configs.split(","):
        dname, threads, n, G = spec.split(":")
        threads, n, G = int(threads), int(n), int(G)
        dtype = {"float32": torch.float32, "float64": torch.float64}[dname]
        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(1234 + 7 * n + G)
        layer = KANLinearDense(n, n, G, args.k, dtype, gen, args.jitter)
        x = (2 * torch.rand(args.batch, n, generator=gen, dtype=torch.float64) - 1).to(dtype)
        x.requires_grad_(True)
        dy = (torch.rand(args.batch, n, generator=gen, dtype=torch.float64) - 0.5).to(dtype)

        best, reps, load = measure(lambda: fwd_bwd(layer, layer, x, dy), args, threads,
                                   wait_budget)
        emit("result", dname, threads, n, G, "eager", f"{args.batch / best:.6g}", reps, f"{best:.6g}",
             f"{load:.3f}")

        if args.no_compile:
            emit("na", dname, threads, n, G, "compiled", "disabled by --no-compile")
            continue
        if compile_broken is not None:
            emit("na", dname, threads, n, G, "compiled", compile_broken)
            continue
        try:
            torch._dynamo.reset()  # a fresh graph per shape; no recompile-limit surprises
            compiled = torch.compile(layer, dynamic=False)
            t0 = time.perf_counter()
            fwd_bwd(compiled, layer, x, dy)  # compiles forward and backward graphs
            compile_s = time.perf_counter() - t0
            best, reps, load = measure(lambda: fwd_bwd(compiled, layer, x, dy), args, threads,
                                       wait_budget)
            emit("info", f"compile_s:{dname}:{threads}:{n}:{G}", f"{compile_s:.1f}")
            emit("result", dname, threads, n, G, "compiled", f"{args.batch / best:.6g}", reps,
                 f"{best:.6g}", f"{load:.3f}")
        except Exception as e:  # noqa: BLE001 - any compile failure is a reportable 'n/a'
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]
            reason = reason.replace("\t", " ")
            compile_broken = reason
            emit("na", dname, threads, n, G, "compiled", reason)
    emit("info", "waited_s", f"{args.max_wait - wait_budget[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

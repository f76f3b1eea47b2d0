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
    result  <dtype> <threads> <n> <G> <mode> <samples_per_s> <reps> <median_s>
    na      <dtype> <threads> <n> <G> <mode> <reason>
mode is "eager" or "compiled".
"""
import argparse
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def knot_grid(n_in, G, k, jitter, gen, dtype):
    """pykan's grid on [-1, 1] extended by k knots per side, one row per input.

    With jitter > 0 the interior knots move by up to +-jitter/2 of a cell, so the grid is
    non-uniform as after pykan's adaptive grid update; the cost of the dense formulation
    does not depend on it, but the C side uses the same rule for comparable inputs.
    """
    h = 2.0 / G
    m = torch.arange(G + 2 * k + 1, dtype=torch.float64)
    t = (-1.0 + (m - k) * h).repeat(n_in, 1)
    if jitter > 0 and G > 1:
        u = torch.rand(n_in, G - 1, generator=gen, dtype=torch.float64) - 0.5
        t[:, k + 1:k + G] += jitter * h * u
    return t.to(dtype)


def b_splines(x, grid, k):
    """All G+k basis values of each x[b, i]: Cox-de Boor on the whole extended grid.

    Degree 0 is the indicator of [t_m, t_{m+1}); each higher degree p combines
    neighbours with the weights (x - t_m)/(t_{m+p} - t_m) and
    (t_{m+p+1} - x)/(t_{m+p+1} - t_{m+1}). Every basis function is computed for every
    sample, zero or not: that is what makes this formulation dense.
    """
    xe = x.unsqueeze(-1)
    bases = ((xe >= grid[:, :-1]) & (xe < grid[:, 1:])).to(x.dtype)
    for p in range(1, k + 1):
        left = (xe - grid[:, :-(p + 1)]) / (grid[:, p:-1] - grid[:, :-(p + 1)])
        right = (grid[:, p + 1:] - xe) / (grid[:, p + 1:] - grid[:, 1:-p])
        bases = left * bases[:, :, :-1] + right * bases[:, :, 1:]
    return bases


class KANLinearDense(torch.nn.Module):
    def __init__(self, n_in, n_out, G, k, dtype, gen, jitter):
        super().__init__()
        self.k = k
        self.register_buffer("grid", knot_grid(n_in, G, k, jitter, gen, dtype))
        nb = G + k
        self.base_weight = torch.nn.Parameter(
            (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) - 0.5).to(dtype))
        self.spline_weight = torch.nn.Parameter(
            (0.2 * (torch.rand(n_out, n_in, nb, generator=gen, dtype=torch.float64) - 0.5)).to(dtype))
        self.spline_scaler = torch.nn.Parameter(
            (torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) + 0.5).to(dtype))

    def forward(self, x):
        base = F.linear(F.silu(x), self.base_weight)
        scaled = self.spline_weight * self.spline_scaler.unsqueeze(-1)
        spline = F.linear(b_splines(x, self.grid, self.k).reshape(x.shape[0], -1),
                          scaled.reshape(scaled.shape[0], -1))
        return base + spline


def fwd_bwd(fn, layer, x, dy):
    for prm in layer.parameters():
        prm.grad = None  # overwrite, as the fused backward does
    x.grad = None
    y = fn(x)
    y.backward(dy)


def time_calls(step, target_s, min_reps, max_reps):
    """Median seconds of one call: one warm-up call sizes the repetition count."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    reps = int(min(max_reps, max(min_reps, round(target_s / max(first, 1e-9)))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), reps


def emit(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", required=True,
                    help="comma list of dtype:threads:n:G, e.g. float32:1:16:5")
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=0.3)
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--max-reps", type=int, default=200)
    ap.add_argument("--jitter", type=float, default=0.3)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()

    emit("info", "torch", torch.__version__)
    emit("info", "torch_blas", "mkl" if torch.backends.mkl.is_available() else "other")
    compile_broken = None  # first failure reason: later configs would fail the same way

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

        med, reps = time_calls(lambda: fwd_bwd(layer, layer, x, dy),
                               args.target_seconds, args.min_reps, args.max_reps)
        emit("result", dname, threads, n, G, "eager", f"{args.batch / med:.6g}", reps, f"{med:.6g}")

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
            med, reps = time_calls(lambda: fwd_bwd(compiled, layer, x, dy),
                                   args.target_seconds, args.min_reps, args.max_reps)
            emit("info", f"compile_s:{dname}:{threads}:{n}:{G}", f"{compile_s:.1f}")
            emit("result", dname, threads, n, G, "compiled", f"{args.batch / med:.6g}", reps,
                 f"{med:.6g}")
        except Exception as e:  # noqa: BLE001 - any compile failure is a reportable 'n/a'
            reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]
            reason = reason.replace("\t", " ")
            compile_broken = reason
            emit("na", dname, threads, n, G, "compiled", reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())

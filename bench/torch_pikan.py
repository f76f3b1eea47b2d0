#!/usr/bin/env python3
"""One physics-informed training step of a KAN in PyTorch, Laplacian by nested autograd.

The baseline of bench/bench_pde_step.c, which runs this script through popen and merges
its lines into one table. The network is the efficient-kan formulation
(Blealtan/efficient-kan, KANLinear) written for this benchmark: per layer the full
B-spline basis tensor [batch, in, G+k] by the Cox-de Boor recursion on pykan's extended
uniform grid of G intervals on [-1, 1], a silu base branch, and

    y = silu(x) @ W_base + basis(x).view(batch, -1) @ (W_spline * scaler)

The step is the one every PIKAN code takes for a Poisson residual:

    u    = net(x)                                   x requires grad
    Du   = grad(u.sum(), x, create_graph=True)      one reverse pass: du/dx, [N, d]
    D2_a = grad(Du[:, a].sum(), x, create_graph=True)[:, a]     for a = 1..d
    lap  = sum_a D2_a
    loss = mean((lap - f)^2) + mean((net(x_b) - g)^2)           boundary on N/10 points
    loss.backward()

This is the cheapest nested reverse-mode way to a Laplacian: d + 1 reverse passes to
build the graph of lap, one more (through all of them) for the parameter gradients.
pykan's own PDE example takes the full Hessian as batch_jacobian of batch_jacobian
(torch.autograd.functional.jacobian of a batch-summed function), which runs the same
d + 1 reverse passes plus the jacobian machinery and keeps all d x d entries: it is no
faster, so measuring the loop below is the baseline most favourable to PyTorch.

Output, one JSON object per line (the C program parses these):
    {"type":"info","key":K,"value":V}
    {"type":"result","dtype":D,"threads":T,"widths":"2-10-1","G":G,"mode":M,
     "ms":MS,"reps":R,"best_s":S,"load":L,"loss":X[,"mem_mb":M]}
    {"type":"phases","dtype":D,"threads":T,"widths":W,"G":G,"forward_ms":..,
     "grad1_ms":..,"grad2_ms":..,"boundary_ms":..,"backward_ms":..}
    {"type":"na","dtype":D,"threads":T,"widths":W,"G":G,"mode":M,"reason":WHY}
mode is "eager" or "compiled"; ms is milliseconds of one step (best of reps); load is
the share of the machine (0..1) other processes used meanwhile, as bench_pde_step.c
computes it; mem_mb is the growth of the peak resident set over the resident set before
the configuration was built (its data, graph and allocator caches); "reason" is always
the last key. A "phases" line per configuration splits one eager step into its parts.
"""
import argparse
import ctypes
import gc
import json
import math
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run by path through popen
from torch_kan_common import KANLinearBase, knot_grid, measure  # noqa: E402


class KANLinear(KANLinearBase):
    """efficient-kan's KANLinear (mask-free; weights random: the cost does not depend on
    their values)."""

    def __init__(self, n_in, n_out, G, k, dtype, gen):
        super().__init__()
        self.k = k
        self.register_buffer("grid", knot_grid(n_in, G, k, dtype))
        s = 1.0 / math.sqrt(n_in)
        self.base_weight = torch.nn.Parameter(
            (s * (2 * torch.rand(n_out, n_in, generator=gen, dtype=torch.float64) - 1)).to(dtype))
        self.spline_weight = torch.nn.Parameter(
            (0.3 / G * (torch.rand(n_out, n_in, G + k, generator=gen, dtype=torch.float64) - 0.5)).to(dtype))
        self.spline_scaler = torch.nn.Parameter(torch.full((n_out, n_in), s, dtype=dtype))


class KAN(torch.nn.Module):
    def __init__(self, widths, G, k, dtype, gen):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            KANLinear(widths[i], widths[i + 1], G, k, dtype, gen) for i in range(len(widths) - 1))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def laplacian(net, x):
    """(u, lap u) by nested reverse mode: one pass for Du, then one per dimension."""
    u = net(x)
    du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    lap = torch.zeros_like(u[:, 0])
    for a in range(x.shape[1]):
        lap = lap + torch.autograd.grad(du[:, a].sum(), x, create_graph=True)[0][:, a]
    return u, lap


def pde_loss(net, x, f, xb, g):
    _, lap = laplacian(net, x)
    return ((lap - f) ** 2).mean() + ((net(xb)[:, 0] - g) ** 2).mean()


def make_step(loss_fn, net, x, f, xb, g):
    def step():
        for prm in net.parameters():
            prm.grad = None  # optimizer-free: gradients overwritten each step
        x.grad = None
        loss = loss_fn(net, x, f, xb, g)
        loss.backward()
        return loss
    return step


def problem(widths, G, k, dtype, points, seed):
    """Network, interior points x (requiring grad) with a fixed source f, boundary points
    xb (one coordinate set to -1 or 1) with g = 0, as bench_pde_step.c sets them up."""
    gen = torch.Generator().manual_seed(seed)
    net = KAN(widths, G, k, dtype, gen)
    d = widths[0]
    x = (2 * torch.rand(points, d, generator=gen, dtype=torch.float64) - 1).to(dtype)
    f = torch.sin(math.pi * x).sum(1)
    nb = max(1, points // 10)
    xb = 2 * torch.rand(nb, d, generator=gen, dtype=torch.float64) - 1
    side = torch.randint(0, d, (nb,), generator=gen)
    xb[torch.arange(nb), side] = torch.where(torch.rand(nb, generator=gen) < 0.5, -1.0, 1.0).double()
    xb = xb.to(dtype)
    g = torch.zeros(nb, dtype=dtype)
    x.requires_grad_(True)
    return net, x, f, xb, g


def check_laplacian():
    """Max relative error of the nested-autograd Laplacian against central differences
    (float64, h = 1e-4, [3, 5, 1], G = 5): shows the baseline computes what it claims.
    Points near knots are where a cubic spline's third derivative jumps; a few points
    on a small net make that unlikely, and this is information, not a gate."""
    net, x, _, _, _ = problem([3, 5, 1], 5, 3, torch.float64, 8, 7)
    _, lap = laplacian(net, x)
    h = 1e-4
    with torch.no_grad():
        xd = x.detach()
        u0 = net(xd)[:, 0]
        fd = torch.zeros_like(u0)
        for a in range(xd.shape[1]):
            e = torch.zeros_like(xd)
            e[:, a] = h
            fd += (net(xd + e)[:, 0] - 2 * u0 + net(xd - e)[:, 0]) / (h * h)
    return float((lap.detach() - fd).abs().max() / fd.abs().max())


def phases(net, x, f, xb, g):
    """Milliseconds of each part of one eager step (one call, indicative): forward,
    first reverse pass (Du), the d second reverse passes, boundary term, loss.backward."""
    for prm in net.parameters():
        prm.grad = None
    x.grad = None
    t = [time.perf_counter()]
    u = net(x)
    t.append(time.perf_counter())
    du = torch.autograd.grad(u.sum(), x, create_graph=True)[0]
    t.append(time.perf_counter())
    lap = torch.zeros_like(u[:, 0])
    for a in range(x.shape[1]):
        lap = lap + torch.autograd.grad(du[:, a].sum(), x, create_graph=True)[0][:, a]
    t.append(time.perf_counter())
    loss = ((lap - f) ** 2).mean() + ((net(xb)[:, 0] - g) ** 2).mean()
    t.append(time.perf_counter())
    loss.backward()
    t.append(time.perf_counter())
    names = ("forward_ms", "grad1_ms", "grad2_ms", "boundary_ms", "backward_ms")
    return {n: round(1e3 * (t[i + 1] - t[i]), 3) for i, n in enumerate(names)}


def reset_peak_rss():
    """Linux: writing 5 to clear_refs resets VmHWM, so each configuration reads its own peak.
    malloc_trim first hands the previous configuration's freed heap back to the system,
    or its pages would still count as resident and hide this one's growth."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def status_mb(field):
    """VmRSS / VmHWM of this process in MiB from /proc/self/status, None elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def emit(**fields):
    print(json.dumps(fields, separators=(",", ":")), flush=True)


def short_reason(e):
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:160]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", required=True,
                    help="comma list of dtype:threads:widths:G, widths dash-separated, "
                         "e.g. float64:1:2-10-1:10")
    ap.add_argument("--points", type=int, default=10000, help="interior collocation points")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=2.0)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--compile", action="store_true",
                    help="also time torch.compile of the whole step (n/a if it fails)")
    ap.add_argument("--max-wait", type=float, default=180.0,
                    help="seconds in all to wait for a quiet machine before measurements")
    ap.add_argument("--no-check", action="store_true", help="skip the finite-difference check")
    ap.add_argument("--no-phases", action="store_true",
                    help="skip the one instrumented step per configuration")
    args = ap.parse_args()

    emit(type="info", key="torch", value=torch.__version__)
    if not args.no_check:
        torch.set_num_threads(1)
        emit(type="info", key="check_lap_rel_err", value=f"{check_laplacian():.2e}")
    compile_broken = None  # the first failure: later configs would fail the same way
    wait_budget = [args.max_wait]

    for spec in args.configs.split(","):
        dname, threads, wspec, G = spec.split(":")
        threads, G = int(threads), int(G)
        widths = [int(w) for w in wspec.split("-")]
        dtype = {"float32": torch.float32, "float64": torch.float64}[dname]
        torch.set_num_threads(threads)
        key = dict(dtype=dname, threads=threads, widths=wspec, G=G)
        gc.collect()
        reset_peak_rss()
        rss0 = status_mb("VmRSS")
        net, x, f, xb, g = problem(widths, G, args.k, dtype, args.points, 1234 + G)

        step = make_step(pde_loss, net, x, f, xb, g)
        best, reps, load = measure(step, args, threads, wait_budget, pause_when_spent=False)
        loss = float(step())
        emit(type="result", **key, mode="eager", ms=round(1e3 * best, 4), reps=reps,
             best_s=best, load=round(load, 3) if load == load else None, loss=loss,
             mem_mb=None if rss0 is None else round(max(0.0, status_mb("VmHWM") - rss0), 1))
        if not args.no_phases and threads == 1:  # the report splits the 1-thread rows only
            emit(type="phases", **key, **phases(net, x, f, xb, g))

        if not args.compile:
            emit(type="na", **key, mode="compiled", reason="not requested (--no-compile)")
            continue
        if compile_broken is not None:
            emit(type="na", **key, mode="compiled", reason=compile_broken)
            continue
        try:
            torch._dynamo.reset()  # a fresh graph per shape; no recompile-limit surprises
            cstep = make_step(torch.compile(pde_loss, dynamic=False), net, x, f, xb, g)
            t0 = time.perf_counter()
            cstep()  # compiles (or fails on the double backward)
            compile_s = time.perf_counter() - t0
            best, reps, load = measure(cstep, args, threads, wait_budget,
                                       pause_when_spent=False)
            loss = float(cstep())
            emit(type="info", key=f"compile_s:{dname}:{threads}:{wspec}:{G}", value=f"{compile_s:.1f}")
            emit(type="result", **key, mode="compiled", ms=round(1e3 * best, 4), reps=reps,
                 best_s=best, load=round(load, 3) if load == load else None, loss=loss)
        except Exception as e:  # noqa: BLE001 - any compile failure is a reportable 'n/a'
            compile_broken = "torch.compile failed: " + short_reason(e)
            emit(type="na", **key, mode="compiled", reason=compile_broken)
    emit(type="info", key="waited_s", value=f"{args.max_wait - wait_budget[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

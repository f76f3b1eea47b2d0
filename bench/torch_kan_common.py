"""Code shared by the PyTorch baselines torch_efficient_kan.py and torch_pikan.py.

The efficient-kan formulation (Blealtan/efficient-kan, KANLinear): pykan's extended knot
grid, the dense B-spline basis by the Cox-de Boor recursion, the layer's forward; and the
measurement rules of the C benchmarks (bench/bench_common.c): best of N timed calls, the
share of the machine other processes used, waiting for a quiet machine.
"""
import os
import time

import torch
import torch.nn.functional as F


def knot_grid(n_in, G, k, dtype, jitter=0.0, gen=None):
    """pykan's grid on [-1, 1] extended by k knots per side, one row per input:
    t_m = -1 + (m - k) h, h = 2/G, m = 0..G+2k.

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
    (t_{m+p+1} - x)/(t_{m+p+1} - t_{m+1}). Every basis function is computed (and recorded
    by autograd) for every sample, zero or not: that is what makes this formulation dense.
    """
    xe = x.unsqueeze(-1)
    bases = ((xe >= grid[:, :-1]) & (xe < grid[:, 1:])).to(x.dtype)
    for p in range(1, k + 1):
        left = (xe - grid[:, :-(p + 1)]) / (grid[:, p:-1] - grid[:, :-(p + 1)])
        right = (grid[:, p + 1:] - xe) / (grid[:, p + 1:] - grid[:, 1:-p])
        bases = left * bases[:, :, :-1] + right * bases[:, :, 1:]
    return bases


class KANLinearBase(torch.nn.Module):
    """efficient-kan's KANLinear forward (mask-free):

        y = silu(x) @ base_weight^T + bases.view(batch, -1) @ (spline_weight * spline_scaler)^T

    Subclasses set self.k, the buffer "grid" and the parameters base_weight [out, in],
    spline_weight [out, in, G+k] and spline_scaler [out, in]."""

    def forward(self, x):
        base = F.linear(F.silu(x), self.base_weight)
        scaled = self.spline_weight * self.spline_scaler.unsqueeze(-1)
        spline = F.linear(b_splines(x, self.grid, self.k).reshape(x.shape[0], -1),
                          scaled.reshape(scaled.shape[0], -1))
        return base + spline


def time_calls(step, target_s, max_reps):
    """Best seconds of one call, by the rule of the C benchmarks (bench_time_best):
    one warm-up call sizes the count, at least 3 timed calls under 1 s and 2 under 3 s."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    reps = round(target_s / max(first, 1e-9))
    reps = max(reps, 3 if first < 1.0 else 2 if first < 3.0 else 1)
    reps = max(1, min(max_reps, reps))
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best, reps


def busy_seconds():
    """CPU seconds the whole machine has been busy (user+nice+system+irq+softirq+steal)."""
    try:
        with open("/proc/stat") as fh:
            v = [int(t) for t in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """Share of the machine other processes used between start() and stop()."""

    def start(self):
        self.busy, self.own, self.wall = busy_seconds(), time.process_time(), time.perf_counter()

    def stop(self):
        """nan for windows under 0.1 s: /proc/stat counts 10 ms ticks (others_load in C)."""
        wall = time.perf_counter() - self.wall
        others = (busy_seconds() - self.busy) - (time.process_time() - self.own)
        return min(1.0, max(0.0, others / (wall * os.cpu_count()))) if wall >= 0.1 else float("nan")


def load_limit(threads):
    """Most of the machine others may use beside `threads` of ours (load_limit in C)."""
    ncpu = os.cpu_count()
    return max(0.0, (ncpu - threads) / ncpu) + 0.15


def wait_quiet(budget, threads, pause_when_spent=True):
    """Waits while others use more than load_limit(threads), in 0.25 s steps, spending
    at most budget[0] seconds over the whole run (bench_settle() in C). The 0.2 s pause
    first lets idle workers sleep; pause_when_spent=False skips it once budget[0] <= 0."""
    if not pause_when_spent and budget[0] <= 0:
        return
    time.sleep(0.2)
    m = LoadMeter()
    while budget[0] > 0:
        t0 = time.perf_counter()
        m.start()
        time.sleep(0.25)
        if not m.stop() > load_limit(threads):
            return
        budget[0] -= time.perf_counter() - t0


def measure(step, args, threads, budget, pause_when_spent=True):
    """(best seconds, reps, others' load): measured again, at most twice, while the
    machine was shared and the wait budget lasts; the least disturbed attempt is kept."""
    meter = LoadMeter()
    kept = None
    for _ in range(3):
        wait_quiet(budget, threads, pause_when_spent)
        meter.start()
        best, reps = time_calls(step, args.target_seconds, args.max_reps)
        load = meter.stop()
        if kept is None or load < kept[2]:
            kept = (best, reps, load)
        if not kept[2] > load_limit(threads) or budget[0] <= 0:
            break
    return kept

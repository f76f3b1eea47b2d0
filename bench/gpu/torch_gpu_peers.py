#!/usr/bin/env python3
"""PyTorch peers of distkan's fused GPU KAN layer, timed for fwd+bwd on one CUDA GPU.

Run by bench/gpu/bench_gpu_layer.c through popen (it merges these lines into its table), or
standalone:

    python3 bench/gpu/torch_gpu_peers.py --configs float32:256:10,float64:256:10

For each config dtype:n:G (in = out = n, k from --k, batch from --batch) it times one
forward + backward (parameter gradients and dx, as for a hidden layer) of
  eager     the efficient-kan formulation (Blealtan/efficient-kan's KANLinear, written out in
            bench/torch_kan_common.py): the dense Cox-de Boor basis [batch, in, G+k] on the
            extended grid, then  y = silu(x) @ W_base^T + basis.view(batch, -1) @ W_spline^T;
  compiled  the same module under torch.compile (inductor, dynamic=False: one graph per
            shape, compile time reported apart and excluded);
  mlp       an MLP block with the KAN layer's parameter count: Linear(in, h) -> SiLU ->
            Linear(h, out), no biases, h = round(in*out*(G+k+2) / (in+out)). The KAN layer has
            in*out*(G+k) spline coefficients + in*out scale_base + in*out scale_sp =
            in*out*(G+k+2) parameters; this MLP has h*(in+out), equal up to rounding of h.
            It is the fair drop-in peer: same input and output widths as the layer it
            replaces, same parameter budget, nothing but dense matrix products (the work
            GPUs are best at). A single Linear(in, out*(G+k+2)) would change the output
            width, and Linear(in*(G+k+2), out) needs an input expansion no MLP has.
Timing: CUDA events around each call, --warmup calls first, the median of N calls (N sized
so a config takes about --target-seconds). Memory: torch.cuda.max_memory_allocated after
reset_peak_memory_stats() at the start of the config, so parameters, inputs, gradients and
every saved activation count, as distkan's peak counts its buffers. float32 matrix products
run in full FP32 (TF32 off), since distkan's float32 kernels do.

Output (stdout), one tab-separated line per measurement:
    info    <key>   <value>
    result  <dtype> <n> <G> <variant> <ms> <samples_per_s> <peak_bytes> <reps>
    na      <dtype> <n> <G> <variant> <reason>
and lines starting with '#' (a readable table at the end) that the C program ignores.
Exit status 0 also when a config runs out of memory (reported as na); 0 with one 'na' line
per config when torch or CUDA is missing, so the C benchmark always goes on.
"""
import argparse
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def emit(*fields):
    print("\t".join(str(f).replace("\t", " ") for f in fields), flush=True)


def parse_configs(text):
    out = []
    for spec in text.split(","):
        dname, n, G = spec.split(":")
        if dname not in ("float32", "float64"):
            raise SystemExit(f"torch_gpu_peers: unknown dtype {dname!r} in --configs")
        out.append((dname, int(n), int(G)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="float32:256:10,float64:256:10",
                    help="comma list of dtype:n:G (in = out = n), e.g. float32:1024:10")
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--target-seconds", type=float, default=0.5)
    ap.add_argument("--max-reps", type=int, default=50)
    ap.add_argument("--min-reps", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-grids", default="10",
                    help="'all' or a comma list of G values for which torch.compile is timed")
    ap.add_argument("--compile-budget", type=float, default=150.0,
                    help="seconds of compiling in all; later configs report na")
    ap.add_argument("--variants", default="eager,compiled,mlp")
    ap.add_argument("--quick", action="store_true", help="few repetitions (smoke run)")
    ap.add_argument("--device", default="cuda",
                    help="cuda (default); cpu only to check this script where no GPU is")
    args = ap.parse_args()
    configs = parse_configs(args.configs)
    variants = [v for v in args.variants.split(",") if v]
    if args.quick:
        args.warmup, args.min_reps, args.max_reps, args.target_seconds = 1, 3, 3, 0.0

    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means: no torch columns
        why = f"torch not importable ({type(e).__name__})"
        print(f"# torch_gpu_peers: {why}", flush=True)
        for dname, n, G in configs:
            for v in variants:
                emit("na", dname, n, G, v, why)
        return 0
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from torch_kan_common import KANLinearBase, knot_grid  # noqa: E402

    emit("info", "torch", torch.__version__)
    if args.device == "cuda" and not torch.cuda.is_available():
        why = "torch sees no CUDA device"
        print(f"# torch_gpu_peers: {why}", flush=True)
        for dname, n, G in configs:
            for v in variants:
                emit("na", dname, n, G, v, why)
        return 0
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        emit("info", "device", torch.cuda.get_device_name(dev))
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    compile_grids = None if args.compile_grids == "all" else {int(g) for g in args.compile_grids.split(",") if g}
    compile_spent = [0.0]
    compile_broken = [None]

    class KANLinearDense(KANLinearBase):
        """efficient-kan's parameters, drawn on the device (as bench/torch_efficient_kan.py)."""

        def __init__(self, n_in, n_out, G, k, dtype, gen):
            super().__init__()
            self.k = k
            self.register_buffer("grid", knot_grid(n_in, G, k, dtype, 0.3).to(dev))
            nb = G + k
            opts = dict(device=dev, dtype=dtype, generator=gen)
            self.base_weight = torch.nn.Parameter(torch.rand(n_out, n_in, **opts) - 0.5)
            self.spline_weight = torch.nn.Parameter(0.2 * (torch.rand(n_out, n_in, nb, **opts) - 0.5))
            self.spline_scaler = torch.nn.Parameter(torch.rand(n_out, n_in, **opts) + 0.5)

    class MLPBlock(torch.nn.Module):
        def __init__(self, n_in, n_out, h, dtype, gen):
            super().__init__()
            opts = dict(device=dev, dtype=dtype, generator=gen)
            self.w1 = torch.nn.Parameter((torch.rand(h, n_in, **opts) - 0.5) / n_in ** 0.5)
            self.w2 = torch.nn.Parameter((torch.rand(n_out, h, **opts) - 0.5) / h ** 0.5)

        def forward(self, x):
            return F.linear(F.silu(F.linear(x, self.w1)), self.w2)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def fwd_bwd(fn, params, x, dy):
        for prm in params:
            prm.grad = None
        x.grad = None
        y = fn(x)
        y.backward(dy)

    def time_median(call):
        """Median ms of N calls, each between its own pair of CUDA events (host clock on CPU)."""
        for _ in range(args.warmup):
            call()
        sync()
        t0 = time.perf_counter()
        call()
        sync()
        first = time.perf_counter() - t0
        reps = int(args.target_seconds / first) if first > 0 else args.max_reps
        reps = max(args.min_reps, min(args.max_reps, reps))
        times = []
        if cuda:
            ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
            for a, b in ev:
                a.record()
                call()
                b.record()
            sync()
            times = [a.elapsed_time(b) for a, b in ev]
        else:
            for _ in range(reps):
                t0 = time.perf_counter()
                call()
                times.append(1e3 * (time.perf_counter() - t0))
        times.sort()
        m = len(times)
        return (times[m // 2] if m % 2 else 0.5 * (times[m // 2 - 1] + times[m // 2])), reps

    def free_all():
        import gc
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()

    def reset_peak():
        free_all()
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)

    def peak_bytes():
        return torch.cuda.max_memory_allocated(dev) if cuda else float("nan")

    def is_oom(e):
        return isinstance(e, getattr(torch.cuda, "OutOfMemoryError", MemoryError)) or "out of memory" in str(e)

    def short(e):
        s = str(e).splitlines()[0] if str(e) else ""
        return f"{type(e).__name__}: {s}"[:160]

    table = []
    for dname, n, G in configs:
        dtype = {"float32": torch.float32, "float64": torch.float64}[dname]
        k, B = args.k, args.batch
        for variant in variants:
            layer = x = dy = compiled = None
            try:
                if variant == "compiled":
                    if args.no_compile:
                        emit("na", dname, n, G, variant, "disabled (--no-compile)")
                        continue
                    if compile_grids is not None and G not in compile_grids:
                        emit("na", dname, n, G, variant, f"not compiled for G={G} (--compile-grids {args.compile_grids})")
                        continue
                    if compile_broken[0]:
                        emit("na", dname, n, G, variant, compile_broken[0])
                        continue
                    if compile_spent[0] >= args.compile_budget:
                        emit("na", dname, n, G, variant, f"compile budget of {args.compile_budget:.0f} s spent")
                        continue
                reset_peak()
                gen = torch.Generator(device=dev).manual_seed(1234 + 7 * n + G)
                if variant == "mlp":
                    h = max(1, round(n * n * (G + k + 2) / (2 * n)))
                    layer = MLPBlock(n, n, h, dtype, gen)
                else:
                    layer = KANLinearDense(n, n, G, k, dtype, gen)
                x = (2 * torch.rand(B, n, device=dev, dtype=dtype, generator=gen) - 1).requires_grad_(True)
                dy = torch.rand(B, n, device=dev, dtype=dtype, generator=gen) - 0.5
                params = list(layer.parameters())
                fn = layer
                if variant == "compiled":
                    torch._dynamo.reset()
                    compiled = torch.compile(layer, dynamic=False)
                    t0 = time.perf_counter()
                    try:
                        fwd_bwd(compiled, params, x, dy)  # compiles forward and backward
                        sync()
                    finally:
                        compile_spent[0] += time.perf_counter() - t0
                    emit("info", f"compile_s:{dname}:{n}:{G}", f"{time.perf_counter() - t0:.1f}")
                    fn = compiled
                ms, reps = time_median(lambda: fwd_bwd(fn, params, x, dy))
                mem = peak_bytes()
                emit("result", dname, n, G, variant, f"{ms:.6g}", f"{B / (ms * 1e-3):.6g}", f"{mem:.0f}", reps)
                table.append((dname, n, G, variant, f"{ms:.3f}", f"{B / (ms * 1e-3):.4g}", f"{mem / 2**20:.0f}"))
            except Exception as e:  # noqa: BLE001 - OOM and compile failures become 'na' rows
                if is_oom(e):
                    why = "out of memory" + (f" ({torch.cuda.get_device_name(dev)})" if cuda else "")
                else:
                    why = short(e)
                    if variant == "compiled":
                        compile_broken[0] = "torch.compile failed earlier: " + why
                emit("na", dname, n, G, variant, why)
                table.append((dname, n, G, variant, "n/a", "n/a", why[:40]))
            finally:
                layer = x = dy = compiled = fn = params = None
                free_all()
    emit("info", "compile_s_total", f"{compile_spent[0]:.1f}")
    if table:
        hdr = ("dtype", "n", "G", "variant", "ms", "samples/s", "peak MiB")
        w = [max(len(str(r[c])) for r in table + [hdr]) for c in range(len(hdr))]
        print("# " + "  ".join(str(h).rjust(w[c]) for c, h in enumerate(hdr)))
        for r in table:
            print("# " + "  ".join(str(v).rjust(w[c]) for c, v in enumerate(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

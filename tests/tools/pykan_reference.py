#!/usr/bin/env python3
"""Writes tests/unit/pykan_reference.inc: inputs and the real pykan's outputs, for
tests/unit/test_pykan_reference.c, which recomputes them with distkan. The test needs no
Python; this script is run by hand, only to regenerate the fixture.

Generated with pykan 0.2.8, torch 2.15.0 (PyPI's wheel, run on the CPU; torch's CPU
capability AVX512), numpy 2.4.6, Python 3.11.7, all in float64. To re-run, in a virtual
environment outside the repository (pykan 0.2.8 declares no dependencies: the second line
installs what `import kan` needs):

    python3 -m venv /tmp/pykan-venv
    /tmp/pykan-venv/bin/pip install pykan==0.2.8 torch numpy scipy scikit-learn sympy \
        pandas matplotlib tqdm pyyaml
    /tmp/pykan-venv/bin/python tests/tools/pykan_reference.py tests/unit/pykan_reference.inc

The output is the same bit for bit on a re-run. Under ATEN_CPU_CAPABILITY=default torch
rounds a few hundred numbers differently (no fused multiply-adds); the test passes with
either fixture.

The cases are fixed by SEED. Cases:
  basis    pykan's B_batch on non-uniform knots, at random x, at every knot and one ulp
           either side of it, and beyond both ends.
  forward  KANLayer.forward (y, summed over inputs) with random coef, scale_base,
           scale_sp, a mask with zeros, per-input non-uniform knots, x on and off the grid.
  init     a fresh KANLayer's knots for (G, k, grid_range).
  update   KANLayer.update_grid_from_samples: the new knots, and the new splines at the
           samples and at points spread over the new knots. Only cases in which none of
           distkan's robustness rules fires (docs/grid.md: tie rule, rank-deficient fit,
           anchored refit); check_update_case() below rejects any other, with margins.
  refine   KANLayer.initialize_grid_from_parent (what MultKAN.refine does per layer): the
           new inner knots; for nested refinements (G' a multiple of G) also the new
           splines inside the grid range, where both fits are exact.
  network  MultKAN.update_grid_from_samples on a [2, 2, 1] network: every layer's new
           knots and the network's outputs at the samples afterwards.
"""
import math
import sys

import numpy as np
import torch
from kan import MultKAN
from kan.KANLayer import KANLayer
from kan.spline import B_batch, coef2curve, extend_grid

SEED = 20261207
torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(SEED)


def c_array(name, values):
    """A C initialiser; repr() of a float64 round-trips exactly."""
    flat = [repr(float(v)) for v in np.asarray(values, dtype=np.float64).ravel()]
    lines = [', '.join(flat[i:i + 6]) for i in range(0, len(flat), 6)]
    return f'static const double {name}[] = {{\n    ' + ',\n    '.join(lines) + '\n};\n'


def knots(n, lo, hi, kind):
    """n strictly increasing knots from lo to hi: uniform, jittered or clustered gaps."""
    if kind == 'uniform':
        return np.linspace(lo, hi, n)
    gaps = rng.uniform(0.3, 1.7, n - 1) if kind == 'jitter' else rng.exponential(1.0, n - 1) + 0.02
    t = np.concatenate([[0.0], np.cumsum(gaps)])
    return lo + (hi - lo) * t / t[-1]


def layer(inn, out, G, k, grid, coef, sb=None, sp=None, mask=None, eps=0.02):
    L = KANLayer(in_dim=inn, out_dim=out, num=G, k=k)
    L.grid.data = torch.tensor(grid).reshape(inn, G + 2 * k + 1)
    L.coef.data = torch.tensor(coef).reshape(inn, out, G + k)
    if sb is not None:
        L.scale_base.data = torch.tensor(sb).reshape(inn, out)
        L.scale_sp.data = torch.tensor(sp).reshape(inn, out)
        L.mask.data = torch.tensor(mask).reshape(inn, out)
    L.grid_eps = eps
    return L


def spline_values(x, grid, coef, k):
    """Every edge's spline term at x [n][in]: [n][in][out]."""
    return coef2curve(torch.as_tensor(x), torch.as_tensor(grid), torch.as_tensor(coef), k).detach().numpy()


def spread_points(t_rows, per_interval):
    """per_interval points inside each interval of every input's knots: [m][in]."""
    cols = []
    for t in t_rows:
        q = (np.arange(per_interval) + 0.5) / per_interval
        cols.append((t[:-1, None] + (t[1:] - t[:-1])[:, None] * q[None, :]).ravel())
    return np.stack(cols, axis=1)


# ----------------------------------------------------------------------------------------
def basis_cases():
    out, table = [], []
    for c, (k, G, kind) in enumerate([(1, 3, 'jitter'), (2, 5, 'cluster'), (3, 10, 'uniform'), (5, 17, 'jitter')]):
        nk = G + 2 * k + 1
        t = knots(nk, -0.3 - 1.2 * rng.uniform(), 2.1 + 1.2 * rng.uniform(), kind)
        x = np.concatenate([rng.uniform(t[0] - 0.5, t[-1] + 0.5, 16), t, np.nextafter(t, -np.inf),
                            np.nextafter(t, np.inf)])
        B = B_batch(torch.tensor(x)[:, None], torch.tensor(t)[None, :], k=k)[:, 0, :].numpy()
        out += [c_array(f'basis{c}_knots', t), c_array(f'basis{c}_x', x), c_array(f'basis{c}_B', B)]
        table.append(f'    {{{k}, {nk}, {len(x)}, basis{c}_knots, basis{c}_x, basis{c}_B}},')
    return out + ['static const pyref_basis basis_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def forward_cases():
    out, table = [], []
    for c, (inn, outd, G, k) in enumerate([(2, 3, 3, 1), (3, 2, 10, 3), (2, 2, 17, 5)]):
        nk, nb, batch = G + 2 * k + 1, G + k, 24
        grid = np.stack([knots(nk, -0.3 - rng.uniform(), 2.1 + rng.uniform(), ['uniform', 'jitter', 'cluster'][i % 3])
                         for i in range(inn)])
        coef = rng.normal(0, 1, (inn, outd, nb))
        sb, sp = rng.normal(0, 1, (inn, outd)), rng.normal(0, 1, (inn, outd))
        mask = np.ones((inn, outd))
        mask[0, 1] = 0.0
        x = rng.uniform(-3.5, 4.5, (batch, inn))  # beyond the extended grids too
        x[:6] = grid[:, rng.integers(0, nk, 6)].T  # exactly on knots, the last knot included
        x[6, :] = grid[:, -1]
        y = layer(inn, outd, G, k, grid, coef, sb, sp, mask)(torch.tensor(x))[0].detach().numpy()
        for name, a in [('grid', grid), ('coef', coef), ('sb', sb), ('sp', sp), ('mask', mask), ('x', x), ('y', y)]:
            out.append(c_array(f'fwd{c}_{name}', a))
        table.append(f'    {{{inn}, {outd}, {G}, {k}, {batch}, fwd{c}_grid, fwd{c}_coef, fwd{c}_sb, fwd{c}_sp, '
                     f'fwd{c}_mask, fwd{c}_x, fwd{c}_y}},')
    return out + ['static const pyref_forward forward_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def init_cases():
    out, table = [], []
    for c, (G, k, lo, hi) in enumerate([(3, 1, -0.3, 2.1), (5, 3, -1.0, 1.0), (10, 2, -1.0, 1.0), (17, 5, -0.3, 2.1),
                                        (10, 3, -2.5, 0.7)]):
        t = KANLayer(in_dim=1, out_dim=1, num=G, k=k, grid_range=[lo, hi]).grid.data[0].numpy()
        out.append(c_array(f'init{c}_knots', t))
        table.append(f'    {{{G}, {k}, {lo!r}, {hi!r}, init{c}_knots}},')
    return out + ['static const pyref_init init_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def samples(kind, n, inn, lo, hi):
    if kind == 'uniform':
        return rng.uniform(lo, hi, (n, inn))
    if kind == 'cluster':
        return np.concatenate([rng.normal(0.5, 0.15, (n // 2, inn)), rng.uniform(lo, hi, (n - n // 2, inn))])
    if kind == 'skew':
        return lo + rng.exponential(0.5, (n, inn))
    if kind == 'ties':  # every value repeated, some beyond the old grid
        return np.round(rng.uniform(lo - 0.2, hi + 0.2, (n, inn)) * 16) / 16
    raise ValueError(kind)


def check_update_case(G, k, eps, x, old_grid, old_coef, new_grid, new_coef):
    """Rejects a case in which one of distkan's robustness rules (docs/grid.md) would fire,
    with margins, so that distkan's update is pykan's formula there. Returns (reason, None)
    or (None, the largest condition number of an input's basis matrix at its samples)."""
    cond = 1.0
    for i in range(x.shape[1]):
        xs = np.sort(x[:, i])
        t = new_grid[i]
        h = (xs[-1] - xs[0]) / G
        if eps < 0.01 and np.diff(t[k:k + G + 1]).min() < 0.05 * h:
            return 'tie rule', None
        B = B_batch(torch.tensor(xs)[:, None], torch.tensor(t)[None, :], k=k)[:, 0, :].numpy()
        s = np.linalg.svd(B, compute_uv=False)
        if s[-1] < 1e-5 * s[0]:
            return 'rank', None  # distkan drops singular values below 1e-10 s[0]; stay far from it
        cond = max(cond, s[0] / s[-1])
        anchors = spread_points([t], k + 3)[:, 0]
        pts = np.concatenate([xs, anchors])
        for j in range(old_coef.shape[1]):
            old = spline_values(pts[:, None], old_grid[i:i + 1], old_coef[i:i + 1, j:j + 1], k)
            new = spline_values(anchors[:, None], new_grid[i:i + 1], new_coef[i:i + 1, j:j + 1], k)
            if np.abs(new).max() > 5.0 * np.abs(old).max():
                return 'swing', None
    return None, cond


def update_cases():
    out, table = [], []
    specs = [(2, 2, 5, 3, 0.02, 'uniform', 160), (1, 3, 10, 2, 0.0, 'cluster', 200),
             (2, 1, 3, 5, 0.5, 'skew', 157), (1, 2, 17, 1, 1.0, 'ties', 250)]
    c = 0
    for inn, outd, G, k, eps, kind, n in specs:
        for attempt in range(50):
            lo, hi = -0.3, 2.1
            nk, nb = G + 2 * k + 1, G + k
            # an adapted old grid: pykan's extend_grid of jittered inner knots
            inner = np.stack([knots(G + 1, lo, hi, 'jitter') for _ in range(inn)])
            grid = extend_grid(torch.tensor(inner), k_extend=k).numpy()
            # smooth old splines: a random low-degree trend through the Greville abscissae
            coef = np.zeros((inn, outd, nb))
            for i in range(inn):
                gr = np.array([grid[i, a + 1:a + k + 1].mean() for a in range(nb)])
                for j in range(outd):
                    coef[i, j] = np.sin(rng.uniform(0.5, 2.5) * gr + rng.uniform(0, 6)) + 0.05 * rng.normal(size=nb)
            x = samples(kind, n, inn, lo, hi)
            L = layer(inn, outd, G, k, grid, coef, eps=eps)
            L.update_grid_from_samples(torch.tensor(x))
            new_grid, new_coef = L.grid.data.numpy(), L.coef.data.numpy()
            why, cond = check_update_case(G, k, eps, x, grid, coef, new_grid, new_coef)
            if why is None:
                break
            print(f'update case {c}: attempt {attempt} rejected ({why})', file=sys.stderr)
        else:
            raise SystemExit(f'update case {c}: no admissible draw')
        check_x = np.concatenate([x, spread_points(new_grid, 2)])
        check_y = spline_values(check_x, new_grid, new_coef, k)
        for name, a in [('grid', grid), ('coef', coef), ('x', x), ('new_grid', new_grid), ('check_x', check_x),
                        ('check_y', check_y)]:
            out.append(c_array(f'upd{c}_{name}', a))
        table.append(f'    {{{inn}, {outd}, {G}, {k}, {eps!r}, {n}, {len(check_x)}, {cond:.3g}, upd{c}_grid, upd{c}_coef, upd{c}_x, '
                     f'upd{c}_new_grid, upd{c}_check_x, upd{c}_check_y}},')
        c += 1
    return out + ['static const pyref_update update_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def refine_cases():
    out, table = [], []
    for c, (inn, outd, k, G, G2) in enumerate([(2, 2, 3, 5, 10), (1, 3, 2, 3, 9), (2, 1, 5, 4, 8), (2, 2, 3, 5, 17),
                                                 (1, 2, 1, 10, 17)]):
        nb = G + k
        inner = np.stack([knots(G + 1, -0.3 + rng.uniform(-.2, .2), 2.1 + rng.uniform(-.2, .2),
                                ['jitter', 'cluster'][i % 2]) for i in range(inn)])
        grid = extend_grid(torch.tensor(inner), k_extend=k).numpy()
        coef = rng.normal(0, 0.5, (inn, outd, nb))
        lo, hi = grid[:, k], grid[:, k + G]
        xs = lo + (hi - lo) * rng.uniform(size=(2000, inn))  # pykan fits at samples
        parent = layer(inn, outd, G, k, grid, coef)
        child = KANLayer(in_dim=inn, out_dim=outd, num=G2, k=k)
        child.initialize_grid_from_parent(parent, torch.tensor(xs))
        new_grid = child.grid.data.numpy()
        nested = int(G2 % G == 0)
        # inside the grid range only: pykan re-extends the outer knots, distkan keeps them
        check_x = lo + (hi - lo) * (np.arange(31)[:, None] + 0.5) / 31
        check_y = spline_values(check_x, new_grid, child.coef.data.numpy(), k)
        for name, a in [('grid', grid), ('coef', coef), ('new_grid', new_grid), ('check_x', check_x),
                        ('check_y', check_y)]:
            out.append(c_array(f'ref{c}_{name}', a))
        table.append(f'    {{{inn}, {outd}, {k}, {G}, {G2}, {nested}, {len(check_x)}, ref{c}_grid, ref{c}_coef, '
                     f'ref{c}_new_grid, ref{c}_check_x, ref{c}_check_y}},')
    return out + ['static const pyref_refine refine_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def network_cases():
    out, table = [], []
    for c, (G, k, eps, n) in enumerate([(5, 3, 0.02, 100), (10, 2, 0.5, 80)]):
        widths = [2, 2, 1]
        model = MultKAN(width=list(widths), grid=G, k=k, grid_range=[-0.3, 2.1], grid_eps=eps, auto_save=False,
                        seed=c)
        params = []
        for L in model.act_fun:
            nb = G + k
            for i in range(L.in_dim):
                gr = np.array([L.grid.data[i, a + 1:a + k + 1].mean().item() for a in range(nb)])
                for j in range(L.out_dim):
                    L.coef.data[i, j] = torch.tensor(0.5 * np.sin(rng.uniform(0.5, 2.0) * gr + rng.uniform(0, 6)))
            L.scale_base.data = torch.tensor(rng.normal(0, 0.5, (L.in_dim, L.out_dim)))
            L.scale_sp.data = torch.tensor(rng.uniform(0.5, 1.0, (L.in_dim, L.out_dim)))
            params += [L.grid.data.numpy().ravel().copy(), L.coef.data.numpy().ravel().copy(),
                       L.scale_base.data.numpy().ravel().copy(), L.scale_sp.data.numpy().ravel().copy()]
        x = rng.uniform(-0.3, 2.1, (n, widths[0]))
        model.update_grid_from_samples(torch.tensor(x))
        new_grids = np.concatenate([L.grid.data.numpy().ravel() for L in model.act_fun])
        y = model(torch.tensor(x)).detach().numpy()
        for name, a in [('params', np.concatenate(params)), ('x', x), ('new_grids', new_grids), ('y', y)]:
            out.append(c_array(f'net{c}_{name}', a))
        table.append(f'    {{{len(widths)}, {{{", ".join(map(str, widths))}}}, {G}, {k}, {eps!r}, {n}, net{c}_params, '
                     f'net{c}_x, net{c}_new_grids, net{c}_y}},')
    return out + ['static const pyref_network network_cases[] = {\n' + '\n'.join(table) + '\n};\n']


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else 'tests/unit/pykan_reference.inc'
    import importlib.metadata as md
    head = (f'/* Generated by tests/tools/pykan_reference.py (seed {SEED}): do not edit.\n'
            f' * pykan {md.version("pykan")}, torch {torch.__version__} '
            f'(CPU capability {torch.backends.cpu.get_cpu_capability()}), numpy {np.__version__}, float64.\n'
            f' * Included by tests/unit/test_pykan_reference.c, which defines the pyref_* types. */\n\n')
    parts = basis_cases() + forward_cases() + init_cases() + update_cases() + refine_cases() + network_cases()
    with open(path, 'w') as f:
        f.write(head + '\n'.join(parts))


if __name__ == '__main__':
    main()

/* One KAN layer's benchmark data; see bench_layer.h. */
#include "bench_layer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

/* RNG streams private to the benchmark, far from the library's. */
enum { STREAM_GRID = 101, STREAM_PARAMS = 102, STREAM_X = 103, STREAM_DY = 104 };

bench_layer_counts bench_layer_count(const bench_layer_dims *d)
{
    size_t n = (size_t)d->n;
    return (bench_layer_counts){.grid = n * (size_t)(d->G + 2 * d->k + 1),
                                .coef = n * n * (size_t)(d->G + d->k),
                                .edges = n * n,
                                .io = (size_t)d->batch * n};
}

static void *aligned_buffer(dk_dtype dt, size_t n)
{
    size_t bytes = (n * dk_dtype_size(dt) + 63) / 64 * 64;
    return aligned_alloc(64, bytes > 0 ? bytes : 64);
}

static void free_all(void **const *bufs, size_t n)
{
    for (size_t q = 0; q < n; q++) {
        free(*bufs[q]);
        *bufs[q] = NULL;
    }
}

/* *bufs[q] = counts[q] elements of type dt for every q < n; on failure none. */
static int alloc_all(void **const *bufs, const size_t *counts, size_t n, dk_dtype dt)
{
    int ok = 1;
    for (size_t q = 0; q < n; q++)
        ok &= (*bufs[q] = aligned_buffer(dt, counts[q])) != NULL;
    if (!ok)
        free_all(bufs, n);
    return ok ? 0 : -1;
}

/* The members of in and out as lists, in the order of their declarations. */
#define INPUT_BUFS(in) {&(in)->grid, &(in)->coef, &(in)->scale_base, &(in)->scale_sp, &(in)->mask, &(in)->x, &(in)->dy}
#define OUTPUT_BUFS(out) {&(out)->y, &(out)->dx, &(out)->g_coef, &(out)->g_sb, &(out)->g_ssp}

int bench_layer_inputs_alloc(bench_layer_inputs *in, const bench_layer_dims *d)
{
    const bench_layer_counts c = bench_layer_count(d);
    void **const bufs[] = INPUT_BUFS(in);
    const size_t counts[] = {c.grid, c.coef, c.edges, c.edges, c.edges, c.io, c.io};
    return alloc_all(bufs, counts, sizeof bufs / sizeof bufs[0], d->dt);
}

void bench_layer_inputs_free(bench_layer_inputs *in)
{
    void **const bufs[] = INPUT_BUFS(in);
    free_all(bufs, sizeof bufs / sizeof bufs[0]);
}

int bench_layer_outputs_alloc(bench_layer_outputs *out, const bench_layer_dims *d)
{
    const bench_layer_counts c = bench_layer_count(d);
    void **const bufs[] = OUTPUT_BUFS(out);
    const size_t counts[] = {c.io, c.io, c.coef, c.edges, c.edges};
    return alloc_all(bufs, counts, sizeof bufs / sizeof bufs[0], d->dt);
}

void bench_layer_outputs_free(bench_layer_outputs *out)
{
    void **const bufs[] = OUTPUT_BUFS(out);
    free_all(bufs, sizeof bufs / sizeof bufs[0]);
}

void *bench_layer_workspace(const dk_kan_shape *s, dk_dtype dt)
{
    return aligned_alloc(64, (dk_kan_workspace_bytes(s, dt) + 64) / 64 * 64);
}

static void fill_grid(void *grid, const bench_layer_dims *d, double jitter, bench_uniform uniform, void *rng)
{
    const int nk = d->G + 2 * d->k + 1, k = d->k;
    const double h = 2.0 / d->G;
    for (int i = 0; i < d->n; i++)
        for (int m = 0; m < nk; m++) {
            double t = -1.0 + (m - k) * h;
            if (m > k && m < k + d->G)
                t += jitter * h * (uniform(rng, STREAM_GRID, (uint64_t)(i * nk + m)) - 0.5);
            dk_store(d->dt, grid, (size_t)i * (size_t)nk + (size_t)m, t);
        }
}

void bench_layer_fill(const bench_layer_inputs *in, const bench_layer_dims *d, double jitter,
                      bench_uniform uniform, void *rng)
{
    const bench_layer_counts c = bench_layer_count(d);
    const dk_dtype dt = d->dt;
    fill_grid(in->grid, d, jitter, uniform, rng);
    for (size_t q = 0; q < c.coef; q++)
        dk_store(dt, in->coef, q, 0.2 * (uniform(rng, STREAM_PARAMS, q) - 0.5));
    for (size_t q = 0; q < c.edges; q++) {
        dk_store(dt, in->scale_base, q, uniform(rng, STREAM_PARAMS, c.coef + q) - 0.5);
        dk_store(dt, in->scale_sp, q, uniform(rng, STREAM_PARAMS, c.coef + c.edges + q) + 0.5);
        dk_store(dt, in->mask, q, 1.0);
    }
    for (size_t q = 0; q < c.io; q++) {
        dk_store(dt, in->x, q, 2.0 * uniform(rng, STREAM_X, q) - 1.0);
        dk_store(dt, in->dy, q, uniform(rng, STREAM_DY, q) - 0.5);
    }
}

void bench_layer_cpu_step(const bench_layer_inputs *in, const bench_layer_dims *d, const dk_kan_shape *s,
                          const bench_layer_outputs *out, void *ws)
{
    if (d->dt == DK_F64) {
        dk_kan_params_f64 p = {in->grid, in->coef, in->scale_base, in->scale_sp, in->mask};
        dk_kan_grads_f64 g = {out->g_coef, out->g_sb, out->g_ssp};
        dk_kan_forward_f64(s, &p, d->batch, in->x, out->y, ws);
        dk_kan_backward_f64(s, &p, d->batch, in->x, in->dy, out->dx, &g, ws);
    } else {
        dk_kan_params_f32 p = {in->grid, in->coef, in->scale_base, in->scale_sp, in->mask};
        dk_kan_grads_f32 g = {out->g_coef, out->g_sb, out->g_ssp};
        dk_kan_forward_f32(s, &p, d->batch, in->x, out->y, ws);
        dk_kan_backward_f32(s, &p, d->batch, in->x, in->dy, out->dx, &g, ws);
    }
}

double bench_layer_compare(const bench_layer_outputs *a, const bench_layer_outputs *b,
                           const bench_layer_dims *d, double diff[BENCH_LAYER_N_RESULTS])
{
    const bench_layer_counts c = bench_layer_count(d);
    const void *as[] = {a->y, a->dx, a->g_coef, a->g_sb, a->g_ssp};
    const void *bs[] = {b->y, b->dx, b->g_coef, b->g_sb, b->g_ssp};
    const size_t ns[] = {c.io, c.io, c.coef, c.edges, c.edges};
    double worst = 0;
    for (int r = 0; r < BENCH_LAYER_N_RESULTS; r++) {
        diff[r] = bench_rel_diff(d->dt, as[r], bs[r], ns[r]);
        worst = isnan(diff[r]) || isnan(worst) ? NAN : fmax(worst, diff[r]);
    }
    return worst;
}

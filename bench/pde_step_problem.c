/* The problem bench_pde_step times (pde_step_problem.h). */
#include "pde_step_problem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dk_error.h"
#include "common/dk_rng.h"

#include "bench_common.h"

#define PI 3.14159265358979323846

static void *xalloc(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes > 0 ? bytes : 64);
    if (p)
        memset(p, 0, bytes > 0 ? bytes : 64);
    return p;
}

void pde_free(pde_problem *pr)
{
    dk_network_destroy(&pr->net);
    void *bufs[] = {pr->x, pr->f, pr->xb, pr->g, pr->gu, pr->gu1, pr->gu2, pr->dout_b, pr->grad_res};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    memset(pr, 0, sizeof *pr);
}

uint64_t pde_shape_seed(const pde_shape *sh, int G)
{
    uint64_t s = 0x70646500ULL + (uint64_t)G;
    for (int l = 0; l < sh->n; l++)
        s = s * 131 + (uint64_t)sh->w[l];
    return s;
}

/* f_b = sum_a sin(pi x_b,a): a fixed source; its value does not change the cost. */
void pde_fill_source(pde_problem *pr)
{
    for (long b = 0; b < pr->points; b++) {
        double s = 0;
        for (int a = 0; a < pr->d; a++)
            s += sin(PI * dk_load(pr->dt, pr->x, (size_t)(b * pr->d + a)));
        dk_store(pr->dt, pr->f, (size_t)b, s);
    }
}

/* A network as the task would build it (pykan's initialisation) with room for max_rows
 * rows, x uniform on [-1, 1]^d, boundary points with one coordinate at -1 or 1. */
int pde_init(pde_problem *pr, const pde_shape *sh, int G, int k, dk_dtype dt, int threads,
                    long points, long n_bnd, long max_rows)
{
    memset(pr, 0, sizeof *pr);
    uint64_t seed = pde_shape_seed(sh, G);
    long rows = points > n_bnd ? points : n_bnd;
    rows = rows > max_rows ? rows : max_rows;
    dk_network_settings s = {.widths = sh->w, .n_widths = sh->n, .G = G, .k = k, .grid_lo = -1,
                             .grid_hi = 1, .dtype = dt, .seed = seed, .noise_scale = 0.3,
                             .scale_base_mu = 0, .scale_base_sigma = 1, .scale_sp = 1,
                             .max_batch = (int)rows, .n_threads = threads, .jet = 1};
    if (dk_network_create(&pr->net, &s) != DK_OK) {
        fprintf(stderr, "bench_pde_step: %s\n", dk_error_message());
        return -1;
    }
    const size_t es = dk_dtype_size(dt);
    const int d = sh->w[0];
    pr->dt = dt, pr->d = d, pr->points = points, pr->n_bnd = n_bnd;
    size_t pd = (size_t)rows * (size_t)d * es;
    pr->x = xalloc(pd);
    pr->f = xalloc((size_t)rows * es);
    pr->xb = xalloc(pd);
    pr->g = xalloc((size_t)rows * es);
    pr->gu = xalloc((size_t)rows * es);
    pr->gu1 = xalloc(pd);
    pr->gu2 = xalloc(pd);
    pr->dout_b = xalloc((size_t)rows * es);
    pr->grad_res = xalloc(pr->net->n_params * es);
    if (!pr->x || !pr->f || !pr->xb || !pr->g || !pr->gu || !pr->gu1 || !pr->gu2 || !pr->dout_b ||
        !pr->grad_res) {
        fprintf(stderr, "bench_pde_step: out of memory\n");
        pde_free(pr);
        return -1;
    }
    for (size_t q = 0; q < (size_t)points * (size_t)d; q++)
        dk_store(dt, pr->x, q, 2.0 * dk_rng_uniform(seed, BENCH_STREAM_X, q) - 1.0);
    pde_fill_source(pr);
    for (long c = 0; c < n_bnd; c++) {
        for (int a = 0; a < d; a++) {
            size_t q = (size_t)(c * d + a);
            dk_store(dt, pr->xb, q, 2.0 * dk_rng_uniform(seed, BENCH_STREAM_XB, q) - 1.0);
        }
        uint64_t side = dk_rng_below(seed, BENCH_STREAM_SIDE, (uint64_t)c, (uint64_t)(2 * d));
        dk_store(dt, pr->xb, (size_t)(c * d) + side / 2, side % 2 ? 1.0 : -1.0);
    }
    return 0; /* g = 0, gu = gu1 = 0: zeroed by xalloc */
}

#define REAL double
#define SFX(name) name##_f64
#include "pde_step_impl.inc"
#undef REAL
#undef SFX

#define REAL float
#define SFX(name) name##_f32
#include "pde_step_impl.inc"
#undef REAL
#undef SFX

static double residual(pde_problem *pr, const void *u2)
{
    return pr->dt == DK_F64 ? residual_f64(pr, u2) : residual_f32(pr, u2);
}

/* Boundary term: loss_b = 1/Nb sum_c (u_c - g_c)^2, d loss_b / d u_c = 2 (u_c - g_c)/Nb. */
static double boundary(pde_problem *pr, const void *ub)
{
    const long n = pr->n_bnd;
    double loss = 0;
    for (long c = 0; c < n; c++) {
        double r = dk_load(pr->dt, ub, (size_t)c) - dk_load(pr->dt, pr->g, (size_t)c);
        loss += r * r;
        dk_store(pr->dt, pr->dout_b, (size_t)c, 2.0 * r / (double)n);
    }
    return loss / (double)n;
}

static void add_grads(pde_problem *pr)
{
    if (pr->dt == DK_F64)
        add_grads_f64(pr);
    else
        add_grads_f32(pr);
}

/* The timed step: loss and its gradient in net->grads. */
void pde_step(pde_problem *pr)
{
    dk_network *net = pr->net;
    const void *u1, *u2;
    double t0 = bench_now_s();
    dk_network_jet_forward(net, pr->points, pr->x, &u1, &u2);
    double t1 = bench_now_s();
    double loss = residual(pr, u2);
    double t2 = bench_now_s();
    dk_network_jet_backward(net, pr->points, pr->gu, pr->gu1, pr->gu2);
    memcpy(pr->grad_res, net->grads, net->n_params * dk_dtype_size(pr->dt));
    double t3 = bench_now_s();
    if (pr->n_bnd > 0) {
        const void *ub = dk_network_forward(net, pr->n_bnd, pr->xb);
        loss += boundary(pr, ub);
        dk_network_backward(net, pr->n_bnd, pr->dout_b);
        add_grads(pr);
    } else {
        memcpy(net->grads, pr->grad_res, net->n_params * dk_dtype_size(pr->dt));
    }
    double t4 = bench_now_s();
    pr->loss = loss;
    pr->ph[0] = t1 - t0, pr->ph[1] = t2 - t1, pr->ph[2] = t3 - t2, pr->ph[3] = t4 - t3;
}

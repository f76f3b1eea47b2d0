/* bench_pde_step's start-up check (pde_step_check.h). */
#include "pde_step_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/dk_rng.h"

#include "bench_common.h"

enum { CHECK_POINTS = 8, CHECK_BND = 4, CHECK_CAND = 16, CHECK_BATCHES = 64 };
#define FD_H 1e-4        /* step of the second differences in x */
#define FD_EPS 1e-6      /* step of the central difference in the parameters (unit direction) */
#define TOL_F64 1e-5
#define TOL_F32 1e-3

/* Index of the knot interval of v: the number of knots <= v (0..nk). Within one interval
 * every edge function of the input is one polynomial piece (silu is smooth). */
static int knot_cell(const double *t, int nk, double v)
{
    int c = 0;
    while (c < nk && t[c] <= v)
        c++;
    return c;
}

/* Whether every layer input of the candidate's 2d+1 stencil rows (r0 .. r0+2d) lies in the
 * same knot interval as at the centre row r0: then u is smooth along the stencil. */
static int stencil_is_smooth(const dk_network *net, const double *x, int r0, int d)
{
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const int in = v->shape.in, nk = v->shape.n_knots;
        const double *A = l == 0 ? x : net->acts[l];
        const double *grid = (const double *)net->state + v->grid;
        for (int i = 0; i < in; i++) {
            int c0 = knot_cell(grid + (size_t)i * nk, nk, A[(size_t)r0 * in + i]);
            for (int r = r0 + 1; r <= r0 + 2 * d; r++)
                if (knot_cell(grid + (size_t)i * nk, nk, A[(size_t)r * in + i]) != c0)
                    return 0;
        }
    }
    return 1;
}

/* Relative error of the step's gradient along direction v (unit 2-norm) against
 * (loss(p + eps v) - loss(p - eps v)) / (2 eps). */
static double grad_dir_err(pde_problem *pr, const double *grad, const double *v, double *p0)
{
    dk_network *net = pr->net;
    double *p = net->params;
    double an = 0;
    for (size_t q = 0; q < net->n_params; q++)
        an += grad[q] * v[q];
    double lp, lm;
    for (size_t q = 0; q < net->n_params; q++)
        p[q] = p0[q] + FD_EPS * v[q];
    pde_step(pr);
    lp = pr->loss;
    for (size_t q = 0; q < net->n_params; q++)
        p[q] = p0[q] - FD_EPS * v[q];
    pde_step(pr);
    lm = pr->loss;
    memcpy(p, p0, net->n_params * sizeof(double));
    double fd = (lp - lm) / (2 * FD_EPS);
    return fabs(fd - an) / fmax(fabs(an), 1e-300);
}

int pde_check_run(const pde_shape *sh, int G, int k, int threads, pde_check_result *cr)
{
    const int d = sh->w[0], stride = 2 * d + 1;
    const long rows = (long)CHECK_CAND * stride;
    memset(cr, 0, sizeof *cr);
    snprintf(cr->shape, sizeof cr->shape, "%s", sh->name);
    cr->G = G;
    cr->lap = cr->du = cr->grad = cr->f32 = NAN;
    pde_problem pr;
    if (pde_init(&pr, sh, G, k, DK_F64, threads, CHECK_POINTS, CHECK_BND, rows))
        return -1;
    dk_network *net = pr.net;
    double *X = malloc(sizeof(double) * (size_t)rows * d);
    double *U = malloc(sizeof(double) * (size_t)rows);
    double *xs = pr.x; /* accepted centres, [CHECK_POINTS][d] */
    double fd_lap[CHECK_POINTS];
    double *fd_du = malloc(sizeof(double) * CHECK_POINTS * (size_t)d);
    double *grad = malloc(sizeof(double) * net->n_params);
    double *dir = calloc(net->n_params, sizeof(double));
    double *p0 = malloc(sizeof(double) * net->n_params);
    int rc = -1, n_acc = 0;
    if (!X || !U || !fd_du || !grad || !dir || !p0)
        goto done;

    /* Points drawn in [-0.9, 0.9]^d, kept when their stencils cross no knot. */
    uint64_t seed = pde_shape_seed(sh, G) ^ 0xfdULL;
    for (int batch = 0; batch < CHECK_BATCHES && n_acc < CHECK_POINTS; batch++) {
        for (int c = 0; c < CHECK_CAND; c++) {
            double *r0 = X + (size_t)c * stride * d;
            for (int a = 0; a < d; a++) {
                uint64_t idx = ((uint64_t)batch * CHECK_CAND + (uint64_t)c) * (uint64_t)d + (uint64_t)a;
                r0[a] = 1.8 * dk_rng_uniform(seed, BENCH_STREAM_X, idx) - 0.9;
            }
            for (int a = 0; a < d; a++) {
                double *rp = r0 + (size_t)(1 + 2 * a) * d, *rm = rp + d;
                memcpy(rp, r0, sizeof(double) * d);
                memcpy(rm, r0, sizeof(double) * d);
                rp[a] += FD_H, rm[a] -= FD_H;
            }
        }
        memcpy(U, dk_network_forward(net, rows, X), sizeof(double) * (size_t)rows);
        for (int c = 0; c < CHECK_CAND && n_acc < CHECK_POINTS; c++) {
            cr->n_tried++;
            int r0 = c * stride;
            if (!stencil_is_smooth(net, X, r0, d))
                continue;
            /* d^2u/dx_a^2 ~ (u(x + h e_a) - 2 u(x) + u(x - h e_a)) / h^2, du/dx_a by the central
             * first difference; both O(h^2) where u is smooth. */
            double lap = 0;
            for (int a = 0; a < d; a++) {
                double up = U[r0 + 1 + 2 * a], um = U[r0 + 2 + 2 * a];
                lap += (up - 2 * U[r0] + um) / (FD_H * FD_H);
                fd_du[n_acc * d + a] = (up - um) / (2 * FD_H);
            }
            fd_lap[n_acc] = lap;
            memcpy(xs + (size_t)n_acc * d, X + (size_t)r0 * d, sizeof(double) * d);
            n_acc++;
        }
    }
    cr->n_points = n_acc;
    if (n_acc == 0) {
        fprintf(stderr, "bench_pde_step: check %s G=%d: no point with a knot-free stencil\n",
                sh->name, G);
        rc = 0; /* reported as a failed check, not as out of memory */
        goto done;
    }
    pr.points = n_acc;
    pde_fill_source(&pr);

    const void *u1v, *u2v;
    dk_network_jet_forward(net, n_acc, pr.x, &u1v, &u2v);
    const double *u1 = u1v, *u2 = u2v;
    double lap[CHECK_POINTS];
    for (int b = 0; b < n_acc; b++) {
        lap[b] = 0;
        for (int a = 0; a < d; a++)
            lap[b] += u2[b * d + a];
    }
    cr->lap = bench_rel_diff(DK_F64, lap, fd_lap, (size_t)n_acc);
    cr->du = bench_rel_diff(DK_F64, u1, fd_du, (size_t)n_acc * d);

    /* Gradient along a random unit direction and along the gradient itself. */
    pde_step(&pr);
    memcpy(grad, net->grads, sizeof(double) * net->n_params);
    memcpy(p0, net->params, sizeof(double) * net->n_params);
    double nr = 0, ng = 0;
    for (size_t q = 0; q < net->n_params; q++) {
        dir[q] = 2.0 * dk_rng_uniform(seed, BENCH_STREAM_DIR, q) - 1.0;
        nr += dir[q] * dir[q];
        ng += grad[q] * grad[q];
    }
    for (size_t q = 0; q < net->n_params; q++)
        dir[q] /= sqrt(nr);
    cr->grad = grad_dir_err(&pr, grad, dir, p0);
    if (ng > 0) {
        for (size_t q = 0; q < net->n_params; q++)
            dir[q] = grad[q] / sqrt(ng);
        cr->grad = fmax(cr->grad, grad_dir_err(&pr, grad, dir, p0));
    }

    /* float32: the same parameters rounded, the same points; its Laplacian against f64's. */
    pde_problem p32;
    if (pde_init(&p32, sh, G, k, DK_F32, threads, n_acc, 0, n_acc))
        goto done;
    for (size_t q = 0; q < net->n_params; q++)
        ((float *)p32.net->params)[q] = (float)p0[q];
    for (size_t q = 0; q < net->n_state; q++)
        ((float *)p32.net->state)[q] = (float)((const double *)net->state)[q];
    for (size_t q = 0; q < (size_t)n_acc * d; q++)
        ((float *)p32.x)[q] = (float)xs[q];
    const void *v1, *v2;
    dk_network_jet_forward(p32.net, n_acc, p32.x, &v1, &v2);
    double lap32[CHECK_POINTS];
    for (int b = 0; b < n_acc; b++) {
        lap32[b] = 0;
        for (int a = 0; a < d; a++)
            lap32[b] += ((const float *)v2)[b * d + a];
    }
    cr->f32 = bench_rel_diff(DK_F64, lap32, lap, (size_t)n_acc);
    pde_free(&p32);
    rc = 0;
done:
    /* Comparisons with NaN are false: a NaN anywhere fails. */
    cr->ok = n_acc > 0 && cr->lap <= TOL_F64 && cr->du <= TOL_F64 && cr->grad <= TOL_F64 &&
             cr->f32 <= TOL_F32;
    free(X);
    free(U);
    free(fd_du);
    free(grad);
    free(dir);
    free(p0);
    pde_free(&pr);
    return rc;
}

void pde_check_print(FILE *f, const pde_check_result *cr, int n_cr, int md)
{
    if (md) {
        fprintf(f, "| shape | G | points (tried) | Laplacian vs FD | du/dx vs FD | gradient vs FD "
                   "| float32 Laplacian vs float64 | ok |\n|---|---|---:|---:|---:|---:|---:|---|\n");
        for (int c = 0; c < n_cr; c++)
            fprintf(f, "| [%s] | %d | %d (%d) | %.1e | %.1e | %.1e | %.1e | %s |\n", cr[c].shape,
                    cr[c].G, cr[c].n_points, cr[c].n_tried, cr[c].lap, cr[c].du, cr[c].grad, cr[c].f32,
                    cr[c].ok ? "yes" : "NO");
        return;
    }
    for (int c = 0; c < n_cr; c++)
        fprintf(f, "check [%s] G=%d on %d points (%d tried): rel err Laplacian %.1e, du/dx %.1e, "
                   "gradient %.1e (float64 vs finite differences), float32 Laplacian %.1e: %s\n",
                cr[c].shape, cr[c].G, cr[c].n_points, cr[c].n_tried, cr[c].lap, cr[c].du, cr[c].grad,
                cr[c].f32, cr[c].ok ? "ok" : "WRONG");
}

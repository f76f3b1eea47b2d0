/* Independent references shared by the kernel and network tests (test code only):
 * pykan's full Cox-de Boor basis, and random layers on non-uniform grids. Nothing here
 * calls the kernels under test. */
#ifndef DK_TEST_KAN_REFERENCE_H
#define DK_TEST_KAN_REFERENCE_H

#include <stdint.h>
#include <stdlib.h>

#include "common/dk_rng.h"

/* A reproducible stream of draws: each test file owns one. */
typedef struct ref_rng {
    uint64_t seed, stream, index;
} ref_rng;

static inline double ref_uni(ref_rng *r) { return dk_rng_uniform(r->seed, r->stream, r->index++); }
static inline double ref_sym(ref_rng *r, double a) { return a * (2.0 * ref_uni(r) - 1.0); }

/* pykan's B_batch for one x: degree-0 indicators of [t_m, t_{m+1}), then
 *   B_{m,p} = (x - t_m)/(t_{m+p} - t_m) B_{m,p-1} + (t_{m+p+1} - x)/(t_{m+p+1} - t_{m+1}) B_{m+1,p-1}
 * over all functions of the n knots; B[0..n-2-k] on return (B needs n-1 entries). */
static inline void full_basis(const double *t, int n, int k, double x, double *B)
{
    for (int m = 0; m < n - 1; m++)
        B[m] = (x >= t[m] && x < t[m + 1]) ? 1.0 : 0.0;
    for (int p = 1; p <= k; p++)
        for (int m = 0; m < n - 1 - p; m++)
            B[m] = (x - t[m]) / (t[m + p] - t[m]) * B[m] + (t[m + p + 1] - x) / (t[m + p + 1] - t[m + 1]) * B[m + 1];
}

/* sum_c coef[c] B_c(x) with the full reference basis (n knots, at most 256). */
static inline double ref_spline(const double *t, int nk, int k, const double *coef, double x)
{
    double B[256];
    full_basis(t, nk, k, x, B);
    double s = 0.0;
    for (int c = 0; c < nk - 1 - k; c++)
        s += coef[c] * B[c];
    return s;
}

/* Least-squares spline fit by the normal equations, solved by Gauss-Jordan without
 * pivoting (the Gram matrix is symmetric positive definite when the points determine the
 * spline): an independent check of the LAPACK path. Point p's squared residual counts
 * w[p]^2 times (w NULL: once). At most 64 basis functions and 4 right-hand sides;
 * y [n][out], coef [out][nk-1-k]. */
static inline void ref_spline_weighted_lstsq(const double *t, int nk, int k, long n, const double *x,
                                             const double *w, int out, const double *y, double *coef)
{
    const int nb = nk - 1 - k;
    double N[64 * 64] = {0}, r[64 * 4] = {0};
    if (nb > 64 || out > 4)
        abort();
    for (long p = 0; p < n; p++) {
        double B[256];
        full_basis(t, nk, k, x[p], B);
        const double w2 = w ? w[p] * w[p] : 1.0;
        for (int a = 0; a < nb; a++) {
            for (int b = 0; b < nb; b++)
                N[a * nb + b] += w2 * B[a] * B[b];
            for (int j = 0; j < out; j++)
                r[a * out + j] += w2 * B[a] * y[p * out + j];
        }
    }
    for (int a = 0; a < nb; a++)
        for (int b = 0; b < nb; b++)
            if (b != a) {
                const double f = N[b * nb + a] / N[a * nb + a];
                for (int c = 0; c < nb; c++)
                    N[b * nb + c] -= f * N[a * nb + c];
                for (int j = 0; j < out; j++)
                    r[b * out + j] -= f * r[a * out + j];
            }
    for (int j = 0; j < out; j++)
        for (int a = 0; a < nb; a++)
            coef[j * nb + a] = r[a * out + j] / N[a * nb + a];
}

static inline void ref_spline_lstsq(const double *t, int nk, int k, long n, const double *x, int out, const double *y,
                                    double *coef)
{
    ref_spline_weighted_lstsq(t, nk, k, n, x, NULL, out, y, coef);
}

typedef struct layer {
    int in, out, G, k, nk, nb;
    double *grid, *coef, *sb, *ssp, *mask;
} layer;

/* Random non-uniform grids (spacings 0.3..1.7 times h, extension included), coefficients,
 * scales, and a mask with about a third of the edges off. */
static inline layer make_layer(ref_rng *r, int in, int out, int G, int k)
{
    layer L = {in, out, G, k, G + 2 * k + 1, G + k, NULL, NULL, NULL, NULL, NULL};
    L.grid = malloc(sizeof(double) * (size_t)in * L.nk);
    L.coef = malloc(sizeof(double) * (size_t)in * out * L.nb);
    L.sb = malloc(sizeof(double) * (size_t)in * out);
    L.ssp = malloc(sizeof(double) * (size_t)in * out);
    L.mask = malloc(sizeof(double) * (size_t)in * out);
    for (int i = 0; i < in; i++) {
        double *t = L.grid + (size_t)i * L.nk, h = (0.5 + ref_uni(r)) * 2.0 / G;
        t[0] = -1.0 - k * h + ref_sym(r, 0.3);
        for (int m = 1; m < L.nk; m++)
            t[m] = t[m - 1] + h * (0.3 + 1.4 * ref_uni(r));
    }
    for (size_t e = 0; e < (size_t)in * out * L.nb; e++)
        L.coef[e] = ref_sym(r, 1.0);
    for (size_t e = 0; e < (size_t)in * out; e++) {
        L.sb[e] = ref_sym(r, 1.5);
        L.ssp[e] = ref_sym(r, 1.5);
        L.mask[e] = ref_uni(r) < 0.33 ? 0.0 : 1.0;
    }
    return L;
}

static inline void free_layer(layer *L)
{
    free(L->grid);
    free(L->coef);
    free(L->sb);
    free(L->ssp);
    free(L->mask);
}

#endif

/* Fused KAN forward against a naive dense evaluation: the full Cox-de Boor basis of every
 * (sample, input) and the explicit triple sum over inputs, basis functions and outputs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "kernels/dk_kan_layer.h"
#include "kan_reference.h"

enum { SEED = 777 };

static ref_rng rng = {SEED, 91, 0};
static double uni(void) { return ref_uni(&rng); }

/* Rounds every parameter to float, so that both precisions see the same layer. */
static void round_to_float(layer *L)
{
    double *arr[] = {L->grid, L->coef, L->sb, L->ssp, L->mask};
    size_t len[] = {(size_t)L->in * L->nk, (size_t)L->in * L->out * L->nb, (size_t)L->in * L->out,
                    (size_t)L->in * L->out, (size_t)L->in * L->out};
    for (int a = 0; a < 5; a++)
        for (size_t e = 0; e < len[a]; e++)
            arr[a][e] = (float)arr[a][e];
}

static float *floats(const double *v, size_t n)
{
    float *f = malloc(n * sizeof *f + 1);
    for (size_t e = 0; e < n; e++)
        f[e] = (float)v[e];
    return f;
}

/* y[b][j] = sum_i mask (sb silu(x) + ssp sum_c coef B_c(x)); mag[b][j] the same sum of
 * absolute values, the scale rounding errors are measured against. */
static void naive_forward(const layer *L, int batch, const double *x, double *y, double *mag)
{
    double B[128];
    for (size_t e = 0; e < (size_t)batch * L->out; e++)
        y[e] = mag[e] = 0;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < L->in; i++) {
            double xv = x[(size_t)b * L->in + i], silu = xv / (1.0 + exp(-xv));
            full_basis(L->grid + (size_t)i * L->nk, L->nk, L->k, xv, B);
            for (int j = 0; j < L->out; j++) {
                size_t ij = (size_t)i * L->out + j;
                double spl = 0, spl_mag = 0;
                for (int c = 0; c < L->nb; c++) {
                    spl += L->coef[ij * L->nb + c] * B[c];
                    spl_mag += fabs(L->coef[ij * L->nb + c] * B[c]);
                }
                y[(size_t)b * L->out + j] += L->mask[ij] * (L->sb[ij] * silu + L->ssp[ij] * spl);
                mag[(size_t)b * L->out + j] += fabs(L->mask[ij]) * (fabs(L->sb[ij] * silu) + fabs(L->ssp[ij]) * spl_mag);
            }
        }
}

/* Inputs over the whole extended grid and 30% beyond it on each side, some on knots. */
static double *make_inputs(const layer *L, int batch)
{
    double *x = malloc(sizeof(double) * (size_t)batch * L->in);
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < L->in; i++) {
            const double *t = L->grid + (size_t)i * L->nk;
            double lo = t[0], hi = t[L->nk - 1], span = hi - lo;
            double v = lo - 0.3 * span + 1.6 * span * uni();
            if (uni() < 0.1)
                v = t[(int)(uni() * L->nk)];
            x[(size_t)b * L->in + i] = v;
        }
    return x;
}

typedef struct shape_case {
    int in, out, G, k, batch;
} shape_case;

/* Output widths cover full panels (16 doubles, 32 floats), half panels (40 = 16+16+8 in
 * doubles, 48 = 32+16 in floats) and ragged tails of both precisions; 64x70, 40x40 and
 * 30x48 take several input blocks (outputs accumulate across blocks); batch 1 leaves
 * threads idle. */
static const shape_case CASES[] = {
    {1, 1, 3, 1, 1},   {1, 1, 5, 3, 17},  {2, 3, 5, 2, 37},  {5, 45, 4, 3, 70}, {3, 90, 7, 5, 65},
    {64, 70, 5, 3, 19}, {7, 9, 1, 1, 23}, {4, 33, 6, 7, 11}, {6, 16, 10, 5, 129}, {5, 40, 6, 3, 33},
    {3, 48, 4, 2, 31}, {40, 40, 20, 3, 21}, {30, 48, 30, 2, 17},
};

static void check_f64(const shape_case *sc, int n_threads, int misalign)
{
    layer L = make_layer(&rng, sc->in, sc->out, sc->G, sc->k);
    double *x = make_inputs(&L, sc->batch);
    size_t ny = (size_t)sc->batch * sc->out;
    double *ref = malloc(ny * sizeof *ref), *mag = malloc(ny * sizeof *mag), *y = malloc(ny * sizeof *y);
    naive_forward(&L, sc->batch, x, ref, mag);
    dk_kan_shape s = dk_kan_shape_make(sc->in, sc->out, sc->G, sc->k, sc->batch, n_threads);
    size_t bytes = dk_kan_workspace_bytes(&s, DK_F64);
    char *raw = malloc(bytes + (size_t)misalign);
    dk_kan_params_f64 p = {L.grid, L.coef, L.sb, L.ssp, L.mask};
    for (size_t e = 0; e < ny; e++)
        y[e] = NAN; /* every output must be written */
    dk_kan_forward_f64(&s, &p, sc->batch, x, y, raw + misalign);
    for (size_t e = 0; e < ny; e++)
        /* a few ulps per term of the sum: 1e-13 of the summed magnitudes */
        assert_true(fabs(y[e] - ref[e]) <= 1e-13 * mag[e] + 1e-300);
    free(raw);
    free(x);
    free(ref);
    free(mag);
    free(y);
    free_layer(&L);
}

static void check_f32(const shape_case *sc, int n_threads)
{
    layer L = make_layer(&rng, sc->in, sc->out, sc->G, sc->k);
    round_to_float(&L);
    double *x = make_inputs(&L, sc->batch);
    size_t nx = (size_t)sc->batch * sc->in, ny = (size_t)sc->batch * sc->out;
    for (size_t e = 0; e < nx; e++)
        x[e] = (float)x[e];
    double *ref = malloc(ny * sizeof *ref), *mag = malloc(ny * sizeof *mag);
    naive_forward(&L, sc->batch, x, ref, mag);
    float *xf = floats(x, nx), *y = malloc(ny * sizeof *y);
    float *gf = floats(L.grid, (size_t)L.in * L.nk), *cf = floats(L.coef, (size_t)L.in * L.out * L.nb);
    float *sbf = floats(L.sb, (size_t)L.in * L.out), *sspf = floats(L.ssp, (size_t)L.in * L.out);
    float *mf = floats(L.mask, (size_t)L.in * L.out);
    dk_kan_shape s = dk_kan_shape_make(sc->in, sc->out, sc->G, sc->k, sc->batch, n_threads);
    void *ws = malloc(dk_kan_workspace_bytes(&s, DK_F32));
    dk_kan_params_f32 p = {gf, cf, sbf, sspf, mf};
    dk_kan_forward_f32(&s, &p, sc->batch, xf, y, ws);
    for (size_t e = 0; e < ny; e++)
        /* float rounding (6e-8) of basis values near knots and of up to in*(k+2) terms */
        assert_true(fabs((double)y[e] - ref[e]) <= 1e-5 * mag[e] + 1e-30);
    free(ws);
    free(xf);
    free(y);
    free(gf);
    free(cf);
    free(sbf);
    free(sspf);
    free(mf);
    free(x);
    free(ref);
    free(mag);
    free_layer(&L);
}

static void test_forward_f64_matches_dense_reference(void **state)
{
    (void)state;
    for (size_t q = 0; q < sizeof CASES / sizeof CASES[0]; q++)
        for (int nt = 1; nt <= 3; nt++)
            check_f64(&CASES[q], nt, 0);
}

static void test_forward_f32_matches_dense_reference(void **state)
{
    (void)state;
    for (size_t q = 0; q < sizeof CASES / sizeof CASES[0]; q++)
        for (int nt = 1; nt <= 3; nt++)
            check_f32(&CASES[q], nt);
}

/* The kernels align the workspace themselves; a caller's odd pointer changes nothing. */
static void test_forward_accepts_unaligned_workspace(void **state)
{
    (void)state;
    check_f64(&CASES[3], 2, 8);
    check_f64(&CASES[5], 1, 1);
}

/* Each output is summed in one fixed order, whatever the thread count. */
static void test_forward_identical_across_thread_counts(void **state)
{
    (void)state;
    const shape_case sc = {13, 37, 6, 3, 101};
    layer L = make_layer(&rng, sc.in, sc.out, sc.G, sc.k);
    double *x = make_inputs(&L, sc.batch);
    size_t ny = (size_t)sc.batch * sc.out;
    double *y1 = malloc(ny * sizeof *y1), *y3 = malloc(ny * sizeof *y3);
    dk_kan_params_f64 p = {L.grid, L.coef, L.sb, L.ssp, L.mask};
    dk_kan_shape s1 = dk_kan_shape_make(sc.in, sc.out, sc.G, sc.k, sc.batch, 1);
    dk_kan_shape s3 = dk_kan_shape_make(sc.in, sc.out, sc.G, sc.k, sc.batch, 3);
    void *ws = malloc(dk_kan_workspace_bytes(&s3, DK_F64));
    dk_kan_forward_f64(&s1, &p, sc.batch, x, y1, ws);
    dk_kan_forward_f64(&s3, &p, sc.batch, x, y3, ws);
    assert_memory_equal(y1, y3, ny * sizeof *y1);
    free(ws);
    free(y1);
    free(y3);
    free(x);
    free_layer(&L);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_f64_matches_dense_reference),
        cmocka_unit_test(test_forward_f32_matches_dense_reference),
        cmocka_unit_test(test_forward_accepts_unaligned_workspace),
        cmocka_unit_test(test_forward_identical_across_thread_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

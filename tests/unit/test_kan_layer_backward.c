/* Fused KAN backward against central finite differences of L = sum_bj w_bj y_bj, with y
 * from a naive dense model (full Cox-de Boor basis, explicit sums). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_asserts.h"

#include "common/dk_rng.h"
#include "kernels/dk_kan_layer.h"
#include "kan_reference.h"

enum { SEED = 4242 };

static ref_rng rng = {SEED, 92, 0};
static double uni(void) { return ref_uni(&rng); }
static double sym(double a) { return ref_sym(&rng, a); }

/* The edge function phi_ij(x) = mask (sb silu(x) + ssp sum_c coef_c B_c(x)); the layer is
 * y[b][j] = sum_i phi_ij(x[b][i]). */
static double phi(const layer *L, int i, int j, double x)
{
    double B[128];
    full_basis(L->grid + (size_t)i * L->nk, L->nk, L->k, x, B);
    size_t ij = (size_t)i * L->out + j;
    double spl = 0;
    for (int c = 0; c < L->nb; c++)
        spl += L->coef[ij * L->nb + c] * B[c];
    return L->mask[ij] * (L->sb[ij] * x / (1.0 + exp(-x)) + L->ssp[ij] * spl);
}

/* Samples on the grid and beyond, but at least 1e-3 from every knot: B-splines of degree k
 * are only C^{k-1} there, and a central difference straddling a knot is not a derivative. */
static double *make_inputs(const layer *L, int batch)
{
    double *x = malloc(sizeof(double) * (size_t)batch * L->in);
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < L->in; i++) {
            const double *t = L->grid + (size_t)i * L->nk;
            double span = t[L->nk - 1] - t[0], v;
            int near;
            do {
                v = t[0] - 0.2 * span + 1.4 * span * uni();
                near = 0;
                for (int m = 0; m < L->nk; m++)
                    near |= fabs(v - t[m]) < 1e-3;
            } while (near);
            x[(size_t)b * L->in + i] = v;
        }
    return x;
}

typedef struct grads {
    double *dx, *coef, *sb, *ssp;
} grads;

static grads alloc_grads(const layer *L, int batch)
{
    grads g = {malloc(sizeof(double) * (size_t)batch * L->in), malloc(sizeof(double) * (size_t)L->in * L->out * L->nb),
               malloc(sizeof(double) * (size_t)L->in * L->out), malloc(sizeof(double) * (size_t)L->in * L->out)};
    return g;
}

static void free_grads(grads *g)
{
    free(g->dx);
    free(g->coef);
    free(g->sb);
    free(g->ssp);
}

/* Central differences of L. L is a sum of edge functions, so a change of x[b][i] or of an
 * edge's parameter moves only the terms of that sample or edge: the difference quotient is
 * taken over those terms alone (the others cancel exactly), which is the same derivative
 * with less rounding. L is linear in the parameters, so their differences are exact up to
 * rounding for any step. */
static grads finite_differences(layer *L, int batch, const double *x, const double *w)
{
    grads g = alloc_grads(L, batch);
    const double hx = 1e-6, hp = 1e-3;
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < L->in; i++) {
            double xv = x[(size_t)b * L->in + i], s = 0;
            for (int j = 0; j < L->out; j++)
                s += w[(size_t)b * L->out + j] * (phi(L, i, j, xv + hx) - phi(L, i, j, xv - hx));
            g.dx[(size_t)b * L->in + i] = s / (2 * hx);
        }
    for (int i = 0; i < L->in; i++)
        for (int j = 0; j < L->out; j++) {
            size_t ij = (size_t)i * L->out + j;
            double *params[3] = {&L->sb[ij], &L->ssp[ij], NULL};
            double *dest[3] = {&g.sb[ij], &g.ssp[ij], NULL};
            for (int c = -2; c < L->nb; c++) {
                double *p = c < 0 ? params[c + 2] : &L->coef[ij * L->nb + c];
                double *d = c < 0 ? dest[c + 2] : &g.coef[ij * L->nb + c];
                double keep = *p, s = 0;
                for (int b = 0; b < batch; b++) {
                    double xv = x[(size_t)b * L->in + i];
                    *p = keep + hp;
                    double up = phi(L, i, j, xv);
                    *p = keep - hp;
                    s += w[(size_t)b * L->out + j] * (up - phi(L, i, j, xv));
                }
                *p = keep;
                *d = s / (2 * hp);
            }
        }
    return g;
}

static double *random_weights(size_t n)
{
    double *w = malloc(n * sizeof *w);
    for (size_t e = 0; e < n; e++)
        w[e] = sym(1.0);
    return w;
}


static grads run_backward(const layer *L, int batch, int n_threads, const double *x, const double *dy, int want_dx)
{
    grads g = alloc_grads(L, batch);
    for (size_t e = 0; e < (size_t)L->in * L->out * L->nb; e++)
        g.coef[e] = NAN; /* overwritten, never accumulated */
    dk_kan_shape s = dk_kan_shape_make(L->in, L->out, L->G, L->k, batch, n_threads);
    void *ws = malloc(dk_kan_workspace_bytes(&s, DK_F64));
    dk_kan_params_f64 p = {L->grid, L->coef, L->sb, L->ssp, L->mask};
    dk_kan_grads_f64 gp = {g.coef, g.sb, g.ssp};
    dk_kan_backward_f64(&s, &p, batch, x, dy, want_dx ? g.dx : NULL, &gp, ws);
    free(ws);
    return g;
}

typedef struct shape_case {
    int in, out, G, k, batch;
} shape_case;

/* 1 and 2 inputs under 3 threads split the batch (partial gradients reduced); 70x70 takes
 * several input blocks; widths leave ragged vector tails. */
static const shape_case CASES[] = {
    {1, 1, 3, 1, 5}, {2, 3, 5, 2, 13}, {4, 9, 4, 3, 21}, {3, 35, 6, 5, 17}, {5, 20, 1, 1, 8}, {70, 70, 10, 3, 6},
    {3, 40, 4, 3, 9},
};

static void test_backward_gradients_match_finite_differences(void **state)
{
    (void)state;
    for (size_t q = 0; q < sizeof CASES / sizeof CASES[0]; q++) {
        const shape_case *sc = &CASES[q];
        layer L = make_layer(&rng, sc->in, sc->out, sc->G, sc->k);
        double *x = make_inputs(&L, sc->batch);
        double *w = random_weights((size_t)sc->batch * sc->out);
        grads fd = finite_differences(&L, sc->batch, x, w);
        for (int nt = 1; nt <= 3; nt += 2) {
            grads g = run_backward(&L, sc->batch, nt, x, w, 1);
            /* x: h^2 truncation ~1e-12 and eps/h rounding ~1e-10 of the quotient;
             * parameters: rounding only. 1e-6 leaves three orders of margin. */
            assert_arrays_close(g.dx, fd.dx, (size_t)sc->batch * sc->in, 1e-6);
            assert_arrays_close(g.coef, fd.coef, (size_t)sc->in * sc->out * L.nb, 1e-6);
            assert_arrays_close(g.sb, fd.sb, (size_t)sc->in * sc->out, 1e-6);
            assert_arrays_close(g.ssp, fd.ssp, (size_t)sc->in * sc->out, 1e-6);
            free_grads(&g);
        }
        free_grads(&fd);
        free(x);
        free(w);
        free_layer(&L);
    }
}

static void assert_grads_equal(const grads *a, const grads *b, const layer *L, int batch, int with_dx)
{
    if (with_dx)
        assert_memory_equal(a->dx, b->dx, sizeof(double) * (size_t)batch * L->in);
    assert_memory_equal(a->coef, b->coef, sizeof(double) * (size_t)L->in * L->out * L->nb);
    assert_memory_equal(a->sb, b->sb, sizeof(double) * (size_t)L->in * L->out);
    assert_memory_equal(a->ssp, b->ssp, sizeof(double) * (size_t)L->in * L->out);
}

/* Same call twice: bitwise the same; 1 vs 3 threads: the same up to reassociation; and
 * skipping dx leaves the parameter gradients untouched. */
static void test_backward_reproducible_and_thread_count_independent(void **state)
{
    (void)state;
    const shape_case cases[] = {{2, 50, 8, 3, 301}, {9, 40, 6, 2, 257}, {1, 7, 5, 5, 100}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        const shape_case *sc = &cases[q];
        layer L = make_layer(&rng, sc->in, sc->out, sc->G, sc->k);
        double *x = make_inputs(&L, sc->batch);
        double *w = random_weights((size_t)sc->batch * sc->out);
        grads a = run_backward(&L, sc->batch, 3, x, w, 1);
        grads b = run_backward(&L, sc->batch, 3, x, w, 1);
        assert_grads_equal(&a, &b, &L, sc->batch, 1);
        grads c = run_backward(&L, sc->batch, 3, x, w, 0);
        assert_grads_equal(&a, &c, &L, sc->batch, 0);
        grads one = run_backward(&L, sc->batch, 1, x, w, 1);
        /* batch sums split in 3 partial sums: reassociation only */
        assert_arrays_close(one.dx, a.dx, (size_t)sc->batch * sc->in, 1e-13);
        assert_arrays_close(one.coef, a.coef, (size_t)sc->in * sc->out * L.nb, 1e-13);
        assert_arrays_close(one.sb, a.sb, (size_t)sc->in * sc->out, 1e-13);
        assert_arrays_close(one.ssp, a.ssp, (size_t)sc->in * sc->out, 1e-13);
        free_grads(&a);
        free_grads(&b);
        free_grads(&c);
        free_grads(&one);
        free(x);
        free(w);
        free_layer(&L);
    }
}

static float *floats(const double *v, size_t n)
{
    float *f = malloc(n * sizeof *f + 1);
    for (size_t e = 0; e < n; e++)
        f[e] = (float)v[e];
    return f;
}

static void round_array(double *v, size_t n)
{
    for (size_t e = 0; e < n; e++)
        v[e] = (float)v[e];
}

/* float32 backward against float64 backward on the same (float-representable) data. */
static void test_backward_f32_matches_f64(void **state)
{
    (void)state;
    const shape_case cases[] = {{3, 35, 6, 5, 17}, {16, 70, 10, 3, 200}, {1, 1, 3, 1, 9}, {2, 20, 5, 2, 64}, {4, 48, 6, 3, 50}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        const shape_case *sc = &cases[q];
        layer L = make_layer(&rng, sc->in, sc->out, sc->G, sc->k);
        const size_t nx = (size_t)sc->batch * sc->in, ny = (size_t)sc->batch * sc->out;
        const size_t ne = (size_t)sc->in * sc->out, nc = ne * L.nb, ng = (size_t)sc->in * L.nk;
        double *x = make_inputs(&L, sc->batch), *w = random_weights(ny);
        round_array(L.grid, ng);
        round_array(L.coef, nc);
        round_array(L.sb, ne);
        round_array(L.ssp, ne);
        round_array(x, nx);
        round_array(w, ny);
        grads ref = run_backward(&L, sc->batch, 2, x, w, 1);
        float *gf = floats(L.grid, ng), *cf = floats(L.coef, nc), *sbf = floats(L.sb, ne);
        float *sspf = floats(L.ssp, ne), *mf = floats(L.mask, ne), *xf = floats(x, nx), *wf = floats(w, ny);
        float *dx = malloc(nx * sizeof *dx), *dc = malloc(nc * sizeof *dc);
        float *dsb = malloc(ne * sizeof *dsb), *dssp = malloc(ne * sizeof *dssp);
        for (int nt = 1; nt <= 3; nt += 2) {
            dk_kan_shape s = dk_kan_shape_make(sc->in, sc->out, sc->G, sc->k, sc->batch, nt);
            void *ws = malloc(dk_kan_workspace_bytes(&s, DK_F32));
            dk_kan_params_f32 p = {gf, cf, sbf, sspf, mf};
            dk_kan_grads_f32 gp = {dc, dsb, dssp};
            dk_kan_backward_f32(&s, &p, sc->batch, xf, wf, dx, &gp, ws);
            free(ws);
            double *back[4];
            size_t len[4] = {nx, nc, ne, ne};
            float *src[4] = {dx, dc, dsb, dssp};
            double *want[4] = {ref.dx, ref.coef, ref.sb, ref.ssp};
            for (int a = 0; a < 4; a++) {
                back[a] = malloc(len[a] * sizeof(double));
                for (size_t e = 0; e < len[a]; e++)
                    back[a][e] = src[a][e];
                /* float sums over up to 200 samples, and basis values rounded near knots */
                assert_arrays_close(back[a], want[a], len[a], 1e-4);
                free(back[a]);
            }
        }
        free(gf);
        free(cf);
        free(sbf);
        free(sspf);
        free(mf);
        free(xf);
        free(wf);
        free(dx);
        free(dc);
        free(dsb);
        free(dssp);
        free_grads(&ref);
        free(x);
        free(w);
        free_layer(&L);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_gradients_match_finite_differences),
        cmocka_unit_test(test_backward_reproducible_and_thread_count_independent),
        cmocka_unit_test(test_backward_f32_matches_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

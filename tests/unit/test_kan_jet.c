/* Jet (second-order) KAN kernels: the value against the first-order kernel, the carried
 * derivatives against finite differences of a two-layer composition of first-order
 * forwards, and backward against finite differences of the loss
 *   L = sum w0 y + sum w1 y1 + sum w2 y2
 * for every parameter group and every input (x, x1, x2), one loss term at a time. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_asserts.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common/dk_rng.h"
#include "kernels/dk_kan_jet.h"
#include "kernels/dk_kan_layer.h"
#include "kan_reference.h"

enum { SEED = 5151 };

static ref_rng rng = {SEED, 17, 0};
static double uni(void) { return ref_uni(&rng); }
static double sym(double a) { return ref_sym(&rng, a); }

/* Whether v is within margin of a knot of input i (B-splines of degree k are only C^{k-1}
 * there, and a difference straddling a knot is not a derivative). */
static int near_knot_by(const layer *L, int i, double v, double margin)
{
    const double *t = L->grid + (size_t)i * L->nk;
    for (int m = 0; m < L->nk; m++)
        if (fabs(v - t[m]) < margin)
            return 1;
    return 0;
}
static int near_knot(const layer *L, int i, double v) { return near_knot_by(L, i, v, 1e-3); }

/* Input i of a sample: on the extended grid and up to 20% of its width beyond. */
static double draw_input(const layer *L, int i)
{
    const double *t = L->grid + (size_t)i * L->nk, span = t[L->nk - 1] - t[0];
    double v;
    do
        v = t[0] - 0.2 * span + 1.4 * span * uni();
    while (near_knot(L, i, v));
    return v;
}

static double *random_array(size_t n, double a)
{
    double *w = malloc(n * sizeof *w + 1);
    for (size_t e = 0; e < n; e++)
        w[e] = sym(a);
    return w;
}

static double *nan_array(size_t n)
{
    double *w = malloc(n * sizeof *w + 1);
    for (size_t e = 0; e < n; e++)
        w[e] = NAN;
    return w;
}


/* One jet layer call: the layer, its inputs and the loss weights (shapes of y, y1, y2). */
typedef struct jcase {
    layer L;
    int batch, nd, identity;
    double *x, *x1, *x2; /* x1, x2 NULL with identity */
    double *w0, *w1, *w2;
} jcase;

typedef struct jout {
    double *y, *y1, *y2;
} jout;

typedef struct jgrad {
    double *gx, *gx1, *gx2, *coef, *sb, *ssp;
} jgrad;

static size_t n_x(const jcase *c) { return (size_t)c->batch * c->L.in; }
static size_t n_xj(const jcase *c) { return (size_t)c->batch * c->nd * c->L.in; }
static size_t n_y(const jcase *c) { return (size_t)c->batch * c->L.out; }
static size_t n_yj(const jcase *c) { return (size_t)c->batch * c->nd * c->L.out; }
static size_t n_e(const jcase *c) { return (size_t)c->L.in * c->L.out; }
static size_t n_c(const jcase *c) { return n_e(c) * c->L.nb; }

static jcase make_case(int in, int out, int G, int k, int batch, int nd, int identity)
{
    jcase c;
    memset(&c, 0, sizeof c);
    c.L = make_layer(&rng, in, out, G, k);
    c.batch = batch;
    c.nd = identity ? in : nd;
    c.identity = identity;
    c.x = malloc(sizeof(double) * n_x(&c));
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < in; i++)
            c.x[(size_t)b * in + i] = draw_input(&c.L, i);
    if (!identity) {
        c.x1 = random_array(n_xj(&c), 1.0);
        c.x2 = random_array(n_xj(&c), 1.0);
    }
    c.w0 = random_array(n_y(&c), 1.0);
    c.w1 = random_array(n_yj(&c), 1.0);
    c.w2 = random_array(n_yj(&c), 1.0);
    return c;
}

static void free_case(jcase *c)
{
    free_layer(&c->L);
    free(c->x);
    free(c->x1);
    free(c->x2);
    free(c->w0);
    free(c->w1);
    free(c->w2);
}

/* Keeps one loss term: 0 all three, 1 y only, 2 y1 only, 3 y2 only. */
static void select_loss(jcase *c, int term)
{
    if (term != 0 && term != 1)
        memset(c->w0, 0, sizeof(double) * n_y(c));
    if (term != 0 && term != 2)
        memset(c->w1, 0, sizeof(double) * n_yj(c));
    if (term != 0 && term != 3)
        memset(c->w2, 0, sizeof(double) * n_yj(c));
}

static void free_out(jout *o)
{
    free(o->y);
    free(o->y1);
    free(o->y2);
}

static void free_grad(jgrad *g)
{
    free(g->gx);
    free(g->gx1);
    free(g->gx2);
    free(g->coef);
    free(g->sb);
    free(g->ssp);
}

/* The kernels get a workspace 8 bytes off a 64-byte boundary: they must align it. */
static void *offset_workspace(size_t bytes, void **block)
{
    *block = malloc(bytes + 8);
    return (char *)*block + 8;
}

static jout jet_forward(const jcase *c, int nt)
{
    jout o = {nan_array(n_y(c)), nan_array(n_yj(c)), nan_array(n_yj(c))};
    const layer *L = &c->L;
    dk_kan_shape s = dk_kan_shape_make(L->in, L->out, L->G, L->k, c->batch, nt);
    void *block, *ws = offset_workspace(dk_kan_jet_workspace_bytes(&s, c->nd, DK_F64), &block);
    dk_kan_params_f64 p = {L->grid, L->coef, L->sb, L->ssp, L->mask};
    dk_kan_jet_forward_f64(&s, &p, c->batch, c->nd, c->identity, c->x, c->x1, c->x2, o.y, o.y1, o.y2, ws);
    free(block);
    return o;
}

static double loss(const jcase *c)
{
    jout o = jet_forward(c, 1);
    double l = 0;
    for (size_t e = 0; e < n_y(c); e++)
        l += c->w0[e] * o.y[e];
    for (size_t e = 0; e < n_yj(c); e++)
        l += c->w1[e] * o.y1[e] + c->w2[e] * o.y2[e];
    free_out(&o);
    return l;
}

/* Gradients are overwritten: they start as NaN. gx, gx1, gx2 only without identity_input. */
static jgrad jet_backward(const jcase *c, int nt)
{
    const int want_gx = !c->identity;
    jgrad g = {want_gx ? nan_array(n_x(c)) : NULL, want_gx ? nan_array(n_xj(c)) : NULL,
               want_gx ? nan_array(n_xj(c)) : NULL, nan_array(n_c(c)), nan_array(n_e(c)), nan_array(n_e(c))};
    const layer *L = &c->L;
    dk_kan_shape s = dk_kan_shape_make(L->in, L->out, L->G, L->k, c->batch, nt);
    void *block, *ws = offset_workspace(dk_kan_jet_workspace_bytes(&s, c->nd, DK_F64), &block);
    dk_kan_params_f64 p = {L->grid, L->coef, L->sb, L->ssp, L->mask};
    dk_kan_grads_f64 gp = {g.coef, g.sb, g.ssp};
    dk_kan_jet_backward_f64(&s, &p, c->batch, c->nd, c->identity, c->x, c->x1, c->x2, c->w0, c->w1, c->w2, g.gx,
                            g.gx1, g.gx2, &gp, ws);
    free(block);
    return g;
}

/* Central difference of the loss in one number. */
static double fd(const jcase *c, double *v, double h)
{
    const double keep = *v;
    *v = keep + h;
    const double up = loss(c);
    *v = keep - h;
    const double down = loss(c);
    *v = keep;
    return (up - down) / (2 * h);
}

/* L is linear in the parameters and in x2 and quadratic in x1: central differences are
 * exact there up to rounding, for any step. In x, h = 1e-6 leaves h^2 truncation and
 * eps/h rounding, both far below the tolerance. */
static jgrad finite_differences(jcase *c)
{
    jgrad g = {NULL, NULL, NULL, malloc(sizeof(double) * n_c(c)), malloc(sizeof(double) * n_e(c)),
               malloc(sizeof(double) * n_e(c))};
    for (size_t e = 0; e < n_c(c); e++)
        g.coef[e] = fd(c, &c->L.coef[e], 1e-3);
    for (size_t e = 0; e < n_e(c); e++) {
        g.sb[e] = fd(c, &c->L.sb[e], 1e-3);
        g.ssp[e] = fd(c, &c->L.ssp[e], 1e-3);
    }
    if (c->identity)
        return g;
    g.gx = malloc(sizeof(double) * n_x(c));
    g.gx1 = malloc(sizeof(double) * n_xj(c));
    g.gx2 = malloc(sizeof(double) * n_xj(c));
    for (size_t e = 0; e < n_x(c); e++)
        g.gx[e] = fd(c, &c->x[e], 1e-6);
    for (size_t e = 0; e < n_xj(c); e++) {
        g.gx1[e] = fd(c, &c->x1[e], 1e-3);
        g.gx2[e] = fd(c, &c->x2[e], 1e-3);
    }
    return g;
}

/* y of the first-order kernel. */
static double *plain_forward(const layer *L, int batch, const double *x)
{
    double *y = nan_array((size_t)batch * L->out);
    dk_kan_shape s = dk_kan_shape_make(L->in, L->out, L->G, L->k, batch, 1);
    void *ws = malloc(dk_kan_workspace_bytes(&s, DK_F64));
    dk_kan_params_f64 p = {L->grid, L->coef, L->sb, L->ssp, L->mask};
    dk_kan_forward_f64(&s, &p, batch, x, y, ws);
    free(ws);
    return y;
}

typedef struct jet_shape {
    int in, out, G, k, batch, nd, identity;
} jet_shape;

/* Widths from 1 to ragged 33, degrees 1 to 5, both kinds of input, n_dir 0 too. */
static const jet_shape VALUE_CASES[] = {
    {3, 5, 5, 3, 20, 2, 0}, {2, 10, 6, 3, 31, 2, 1}, {10, 1, 7, 3, 17, 3, 0}, {4, 33, 4, 5, 9, 4, 0},
    {5, 7, 8, 1, 12, 5, 1}, {6, 3, 5, 2, 11, 0, 0},
};

static void test_jet_value_matches_first_order_kernel(void **state)
{
    (void)state;
    for (size_t q = 0; q < sizeof VALUE_CASES / sizeof VALUE_CASES[0]; q++) {
        const jet_shape *sh = &VALUE_CASES[q];
        jcase c = make_case(sh->in, sh->out, sh->G, sh->k, sh->batch, sh->nd, sh->identity);
        double *want = plain_forward(&c.L, c.batch, c.x);
        for (int nt = 1; nt <= 3; nt += 2) {
            jout o = jet_forward(&c, nt);
            assert_arrays_close(o.y, want, n_y(&c), 1e-13);
            free_out(&o);
        }
        free(want);
        free_case(&c);
    }
}

/* f(z) = B(A(z)) with first-order forwards, for a batch of points z. */
static double *compose(const layer *A, const layer *B, int batch, const double *z)
{
    double *h = plain_forward(A, batch, z), *f = plain_forward(B, batch, h);
    free(h);
    return f;
}

/* Finite differences in one coordinate, from f at the steps {H1, -H1, H2, -H2, 2 H2, -2 H2}:
 *   f' ~ (f(H1) - f(-H1)) / 2 H1: truncation H1^2 f'''/6 ~ 1e-13 f''', rounding ~eps |f| / H1;
 *   f'' by Richardson from D(h) = (f(h) - 2 f(0) + f(-h)) / h^2 at h = H2 and 2 H2,
 *   (4 D(H2) - D(2 H2)) / 3: truncation O(H2^4), rounding ~eps |f| / H2^2 ~ 1e-8.
 * Compositions of splines have large higher derivatives (f''' ~ 1e5 here, so plain
 * differences at h = 1e-4 are off by 1e-5 relative), hence the small step and the
 * extrapolation. */
enum { N_STEPS = 6 };
static const double H1 = 1e-6, H2 = 1e-4;
static double first_difference(double *const *f, size_t e) { return (f[0][e] - f[1][e]) / (2 * H1); }
static double second_difference(double *const *f, double f0, size_t e)
{
    const double d1 = (f[2][e] - 2 * f0 + f[3][e]) / (H2 * H2);
    const double d2 = (f[4][e] - 2 * f0 + f[5][e]) / (4 * H2 * H2);
    return (4 * d1 - d2) / 3;
}

/* Layer A sees the coordinates (identity_input), layer B gets A's jet (general input).
 * Both layers' derivatives against finite differences in the coordinates (above). Points
 * keep 1e-3 from the knots of A and A's outputs 5e-3 from those of B, so no difference
 * straddles a knot. */
static void test_jet_derivatives_match_finite_differences(void **state)
{
    (void)state;
    const int cases[][6] = {{3, 5, 4, 5, 3, 12}, {2, 6, 3, 7, 3, 10}, {2, 4, 2, 6, 2, 10}, {3, 4, 5, 5, 5, 8}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        const int d = cases[q][0], m = cases[q][1], o = cases[q][2], G = cases[q][3], k = cases[q][4];
        const int batch = cases[q][5];
        layer A = make_layer(&rng, d, m, G, k), B = make_layer(&rng, m, o, G + 2, k);
        /* smaller A outputs: most of them land on B's grid */
        for (size_t e = 0; e < (size_t)d * m; e++) {
            A.sb[e] *= 0.4;
            A.ssp[e] *= 0.4;
        }
        double *z = malloc(sizeof(double) * (size_t)batch * d);
        for (int b = 0; b < batch; b++) {
            double *zb = z + (size_t)b * d;
            int bad;
            do {
                for (int i = 0; i < d; i++)
                    zb[i] = draw_input(&A, i);
                double *hb = plain_forward(&A, 1, zb);
                bad = 0;
                for (int i = 0; i < m; i++)
                    bad |= near_knot_by(&B, i, hb[i], 5e-3);
                free(hb);
            } while (bad);
        }
        jcase ca = {A, batch, d, 1, z, NULL, NULL, NULL, NULL, NULL};
        jout ja = jet_forward(&ca, 2);
        jcase cb = {B, batch, d, 0, ja.y, ja.y1, ja.y2, NULL, NULL, NULL};
        jout jb = jet_forward(&cb, 3);

        const size_t ya = (size_t)batch * d * m, yb = (size_t)batch * d * o;
        double *fa1 = malloc(sizeof(double) * ya), *fa2 = malloc(sizeof(double) * ya);
        double *fb1 = malloc(sizeof(double) * yb), *fb2 = malloc(sizeof(double) * yb);
        double *zs = malloc(sizeof(double) * (size_t)batch * d);
        double *a0 = plain_forward(&A, batch, z), *b0 = compose(&A, &B, batch, z);
        const double steps[N_STEPS] = {H1, -H1, H2, -H2, 2 * H2, -2 * H2};
        for (int a = 0; a < d; a++) {
            double *ap[N_STEPS], *bp[N_STEPS];
            for (int st = 0; st < N_STEPS; st++) {
                memcpy(zs, z, sizeof(double) * (size_t)batch * d);
                for (int b = 0; b < batch; b++)
                    zs[(size_t)b * d + a] += steps[st];
                ap[st] = plain_forward(&A, batch, zs);
                bp[st] = compose(&A, &B, batch, zs);
            }
            for (int b = 0; b < batch; b++) {
                for (int j = 0; j < m; j++) {
                    const size_t e = (size_t)b * m + j, t = ((size_t)b * d + a) * m + j;
                    fa1[t] = first_difference(ap, e);
                    fa2[t] = second_difference(ap, a0[e], e);
                }
                for (int j = 0; j < o; j++) {
                    const size_t e = (size_t)b * o + j, t = ((size_t)b * d + a) * o + j;
                    fb1[t] = first_difference(bp, e);
                    fb2[t] = second_difference(bp, b0[e], e);
                }
            }
            for (int st = 0; st < N_STEPS; st++) {
                free(ap[st]);
                free(bp[st]);
            }
        }
        assert_arrays_close(ja.y1, fa1, ya, 1e-6);
        assert_arrays_close(ja.y2, fa2, ya, 1e-6);
        assert_arrays_close(jb.y, b0, (size_t)batch * o, 1e-13);
        assert_arrays_close(jb.y1, fb1, yb, 1e-6);
        assert_arrays_close(jb.y2, fb2, yb, 1e-6);
        free(fa1);
        free(fa2);
        free(fb1);
        free(fb2);
        free(zs);
        free(a0);
        free(b0);
        free(z);
        free_out(&ja);
        free_out(&jb);
        free_layer(&A);
        free_layer(&B);
    }
}

static void assert_grads_close(const jgrad *g, const jgrad *want, const jcase *c, double tol)
{
    assert_arrays_close(g->coef, want->coef, n_c(c), tol);
    assert_arrays_close(g->sb, want->sb, n_e(c), tol);
    assert_arrays_close(g->ssp, want->ssp, n_e(c), tol);
    if (c->identity)
        return;
    assert_arrays_close(g->gx, want->gx, n_x(c), tol);
    assert_arrays_close(g->gx1, want->gx1, n_xj(c), tol);
    assert_arrays_close(g->gx2, want->gx2, n_xj(c), tol);
}

/* General and identity inputs, out = 1, ragged widths and whole vectors, degrees 1 to 5,
 * direction and input counts that leave partial blocks. */
static const jet_shape GRAD_CASES[] = {
    {3, 4, 5, 3, 9, 2, 0}, {2, 1, 4, 2, 7, 3, 0}, {5, 7, 6, 3, 5, 1, 0}, {2, 3, 4, 5, 6, 2, 0},
    {9, 8, 4, 3, 3, 4, 0}, {3, 5, 5, 3, 8, 0, 1}, {2, 6, 7, 1, 7, 0, 1}, {4, 8, 3, 3, 6, 0, 1},
};

static void test_jet_backward_matches_finite_differences(void **state)
{
    (void)state;
    for (size_t q = 0; q < sizeof GRAD_CASES / sizeof GRAD_CASES[0]; q++) {
        const jet_shape *sh = &GRAD_CASES[q];
        for (int term = 0; term < 4; term++) {
            jcase c = make_case(sh->in, sh->out, sh->G, sh->k, sh->batch, sh->nd, sh->identity);
            select_loss(&c, term);
            jgrad want = finite_differences(&c);
            for (int nt = 1; nt <= 3; nt += 2) {
                jgrad g = jet_backward(&c, nt);
                assert_grads_close(&g, &want, &c, 1e-6);
                free_grad(&g);
            }
            free_grad(&want);
            free_case(&c);
        }
    }
}

/* silu''' (only backward uses it) against a central difference of silu'' as the forward
 * carries it: a layer of one silu edge, x1 = 1, x2 = 0, so y2 = silu''(x) and, with
 * gy2 = 1, gx = silu'''(x). h = 1e-5: truncation and rounding both ~1e-11. Far out in
 * both tails too, where exp(-|x|) underflows towards 0. */
static void test_silu_third_derivative_matches_finite_differences(void **state)
{
    (void)state;
    const int batch = 64;
    jcase c = make_case(1, 1, 3, 3, batch, 1, 0);
    c.L.sb[0] = 1;
    c.L.ssp[0] = 0;
    c.L.mask[0] = 1;
    for (int b = 0; b < batch; b++) {
        c.x[b] = -40.0 + 80.0 * b / (batch - 1) + sym(0.3);
        c.x1[b] = 1;
        c.x2[b] = 0;
        c.w0[b] = 0;
        c.w1[b] = 0;
        c.w2[b] = 1;
    }
    jgrad g = jet_backward(&c, 1);
    const double h = 1e-5;
    double *want = malloc(sizeof(double) * batch), *xs = malloc(sizeof(double) * batch);
    double *keep = c.x;
    jout o[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        for (int b = 0; b < batch; b++)
            xs[b] = keep[b] + (sgn ? -h : h);
        c.x = xs;
        o[sgn] = jet_forward(&c, 1);
    }
    c.x = keep;
    for (int b = 0; b < batch; b++)
        want[b] = (o[0].y2[b] - o[1].y2[b]) / (2 * h);
    for (int b = 0; b < batch; b++)
        assert_true(fabs(g.gx[b] - want[b]) <= 1e-8);
    /* and silu''' itself at 0 and at x = 1: 0, and s(1-s)(3(1-2s) + 1 - 6s(1-s)) */
    const double s1 = 1 / (1 + exp(-1.0)), q1 = s1 * (1 - s1);
    c.x[0] = 0;
    c.x[1] = 1;
    jgrad g2 = jet_backward(&c, 1);
    assert_true(fabs(g2.gx[0]) <= 1e-15);
    assert_true(fabs(g2.gx[1] - q1 * (3 * (1 - 2 * s1) + 1 - 6 * q1)) <= 1e-14);
    free_grad(&g2);
    free_out(&o[0]);
    free_out(&o[1]);
    free(want);
    free(xs);
    free_grad(&g);
    free_case(&c);
}

static void assert_out_equal(const jout *a, const jout *b, const jcase *c)
{
    assert_memory_equal(a->y, b->y, sizeof(double) * n_y(c));
    assert_memory_equal(a->y1, b->y1, sizeof(double) * n_yj(c));
    assert_memory_equal(a->y2, b->y2, sizeof(double) * n_yj(c));
}

static void assert_grad_equal(const jgrad *a, const jgrad *b, const jcase *c)
{
    assert_memory_equal(a->coef, b->coef, sizeof(double) * n_c(c));
    assert_memory_equal(a->sb, b->sb, sizeof(double) * n_e(c));
    assert_memory_equal(a->ssp, b->ssp, sizeof(double) * n_e(c));
    if (c->identity)
        return;
    assert_memory_equal(a->gx, b->gx, sizeof(double) * n_x(c));
    assert_memory_equal(a->gx1, b->gx1, sizeof(double) * n_xj(c));
    assert_memory_equal(a->gx2, b->gx2, sizeof(double) * n_xj(c));
}

/* Same n_threads twice: bitwise the same; 1 vs 3 threads: per-sample outputs bitwise the
 * same, parameter gradients up to reassociation of the batch sums; and a team smaller than
 * asked (a nested region gets one thread) changes nothing, since the split is planned for
 * n_threads. Batch 2 leaves a range empty. */
static void test_jet_reproducible_and_thread_count_independent(void **state)
{
    (void)state;
    const jet_shape cases[] = {{6, 33, 8, 3, 101, 4, 0}, {4, 10, 5, 3, 97, 0, 1}, {3, 5, 4, 2, 2, 2, 0}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        const jet_shape *sh = &cases[q];
        jcase c = make_case(sh->in, sh->out, sh->G, sh->k, sh->batch, sh->nd, sh->identity);
        jout f3 = jet_forward(&c, 3), f3b = jet_forward(&c, 3), f1 = jet_forward(&c, 1);
        jgrad g3 = jet_backward(&c, 3), g3b = jet_backward(&c, 3), g1 = jet_backward(&c, 1);
        assert_out_equal(&f3, &f3b, &c);
        assert_grad_equal(&g3, &g3b, &c);
        /* per-sample results: the same bits whatever the split */
        assert_out_equal(&f1, &f3, &c);
        if (!c.identity) {
            assert_memory_equal(g1.gx, g3.gx, sizeof(double) * n_x(&c));
            assert_memory_equal(g1.gx1, g3.gx1, sizeof(double) * n_xj(&c));
            assert_memory_equal(g1.gx2, g3.gx2, sizeof(double) * n_xj(&c));
        }
        assert_grads_close(&g1, &g3, &c, 1e-12);
        jout fn;
        jgrad gn;
#ifdef _OPENMP
#pragma omp parallel num_threads(2)
#pragma omp single
#endif
        {
            fn = jet_forward(&c, 3);
            gn = jet_backward(&c, 3);
        }
        assert_out_equal(&f3, &fn, &c);
        assert_grad_equal(&g3, &gn, &c);
        free_out(&f3);
        free_out(&f3b);
        free_out(&f1);
        free_out(&fn);
        free_grad(&g3);
        free_grad(&g3b);
        free_grad(&g1);
        free_grad(&gn);
        free_case(&c);
    }
}

static float *floats(const double *v, size_t n)
{
    if (!v)
        return NULL;
    float *f = malloc(n * sizeof *f + 1);
    for (size_t e = 0; e < n; e++)
        f[e] = (float)v[e];
    return f;
}

static double *doubles(const float *v, size_t n)
{
    double *d = malloc(n * sizeof *d + 1);
    for (size_t e = 0; e < n; e++)
        d[e] = v[e];
    return d;
}

static void round_array(double *v, size_t n)
{
    for (size_t e = 0; e < n && v; e++)
        v[e] = (float)v[e];
}

/* float32 forward and backward against float64 on the same float-representable data. */
static void test_jet_f32_matches_f64(void **state)
{
    (void)state;
    const jet_shape cases[] = {{6, 20, 8, 3, 60, 3, 0}, {3, 12, 6, 3, 50, 0, 1}, {10, 1, 5, 2, 40, 2, 0},
                               {9, 16, 5, 3, 30, 4, 0}};
    for (size_t q = 0; q < sizeof cases / sizeof cases[0]; q++) {
        const jet_shape *sh = &cases[q];
        jcase c = make_case(sh->in, sh->out, sh->G, sh->k, sh->batch, sh->nd, sh->identity);
        layer *L = &c.L;
        const size_t ng = (size_t)L->in * L->nk;
        round_array(L->grid, ng);
        round_array(L->coef, n_c(&c));
        round_array(L->sb, n_e(&c));
        round_array(L->ssp, n_e(&c));
        round_array(c.x, n_x(&c));
        round_array(c.x1, n_xj(&c));
        round_array(c.x2, n_xj(&c));
        round_array(c.w0, n_y(&c));
        round_array(c.w1, n_yj(&c));
        round_array(c.w2, n_yj(&c));
        jout fo = jet_forward(&c, 2);
        jgrad go = jet_backward(&c, 2);

        float *gf = floats(L->grid, ng), *cf = floats(L->coef, n_c(&c)), *sbf = floats(L->sb, n_e(&c));
        float *sspf = floats(L->ssp, n_e(&c)), *mf = floats(L->mask, n_e(&c));
        float *xf = floats(c.x, n_x(&c)), *x1f = floats(c.x1, n_xj(&c)), *x2f = floats(c.x2, n_xj(&c));
        float *w0f = floats(c.w0, n_y(&c)), *w1f = floats(c.w1, n_yj(&c)), *w2f = floats(c.w2, n_yj(&c));
        float *y = malloc(sizeof(float) * n_y(&c)), *y1 = malloc(sizeof(float) * n_yj(&c));
        float *y2 = malloc(sizeof(float) * n_yj(&c));
        float *gx = malloc(sizeof(float) * n_x(&c) + 1), *gx1 = malloc(sizeof(float) * n_xj(&c) + 1);
        float *gx2 = malloc(sizeof(float) * n_xj(&c) + 1), *dc = malloc(sizeof(float) * n_c(&c));
        float *dsb = malloc(sizeof(float) * n_e(&c)), *dssp = malloc(sizeof(float) * n_e(&c));
        dk_kan_shape s = dk_kan_shape_make(L->in, L->out, L->G, L->k, c.batch, 2);
        void *ws = malloc(dk_kan_jet_workspace_bytes(&s, c.nd, DK_F32));
        dk_kan_params_f32 p = {gf, cf, sbf, sspf, mf};
        dk_kan_grads_f32 gp = {dc, dsb, dssp};
        dk_kan_jet_forward_f32(&s, &p, c.batch, c.nd, c.identity, xf, x1f, x2f, y, y1, y2, ws);
        dk_kan_jet_backward_f32(&s, &p, c.batch, c.nd, c.identity, xf, x1f, x2f, w0f, w1f, w2f,
                                c.identity ? NULL : gx, gx1, gx2, &gp, ws);
        free(ws);
        const float *got[9] = {y, y1, y2, dc, dsb, dssp, gx, gx1, gx2};
        const double *want[9] = {fo.y, fo.y1, fo.y2, go.coef, go.sb, go.ssp, go.gx, go.gx1, go.gx2};
        const size_t len[9] = {n_y(&c), n_yj(&c), n_yj(&c), n_c(&c), n_e(&c), n_e(&c), n_x(&c), n_xj(&c), n_xj(&c)};
        for (int a = 0; a < (c.identity ? 6 : 9); a++) {
            double *back = doubles(got[a], len[a]);
            /* float sums over up to 60 samples, and basis values rounded near knots */
            assert_arrays_close(back, want[a], len[a], 1e-4);
            free(back);
        }
        float *all[] = {gf, cf, sbf, sspf, mf, xf, x1f, x2f, w0f, w1f, w2f, y, y1, y2, gx, gx1, gx2, dc, dsb, dssp};
        for (size_t e = 0; e < sizeof all / sizeof all[0]; e++)
            free(all[e]);
        free_out(&fo);
        free_grad(&go);
        free_case(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jet_value_matches_first_order_kernel),
        cmocka_unit_test(test_jet_derivatives_match_finite_differences),
        cmocka_unit_test(test_jet_backward_matches_finite_differences),
        cmocka_unit_test(test_silu_third_derivative_matches_finite_differences),
        cmocka_unit_test(test_jet_reproducible_and_thread_count_independent),
        cmocka_unit_test(test_jet_f32_matches_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

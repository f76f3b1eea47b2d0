/* CUDA KAN layer kernels (kernels/dk_kan_cuda.h) against the CPU reference kernels
 * (dk_kan_layer.h, dk_kan_jet.h, one thread): forward, backward with and without dx, jet
 * forward and jet backward with and without input gradients, identity_input on and off,
 * in float64 (to 1e-12) and float32 (to 1e-5), on random non-uniform grids (as after a grid
 * update), with inputs partly outside the grid and exactly on knots, and masks with zeros.
 * The error of an output array is max |gpu - cpu| / max |cpu|.
 *
 * Every GPU call is made twice and the two results must be bitwise identical (the kernels
 * use no floating-point atomics). Output and gradient buffers start as NaN and the
 * workspace as NaN bytes, so anything not overwritten shows. Exits 77 (skipped) when no
 * CUDA device is visible. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_cuda.h"
#include "kernels/dk_bspline.h"
#include "kernels/dk_kan_cuda.h"
#include "kernels/dk_kan_jet.h"
#include "kernels/dk_kan_layer.h"

enum { PARAM_GRID, PARAM_COEF, PARAM_BASE, PARAM_SP, PARAM_MASK, N_PARAMS };
enum { GRAD_COEF, GRAD_BASE, GRAD_SP, N_GRADS };

static char case_name[256];
static double case_worst;

/* ---- random numbers (splitmix64) ---------------------------------------------------- */

static uint64_t rng_state = 0x5eed1234abcdULL;
static double uni(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1p-53;
}
static double sym(double a) { return a * (2.0 * uni() - 1.0); }

static double *random_array(size_t n, double a)
{
    double *w = malloc((n ? n : 1) * sizeof *w);
    for (size_t e = 0; e < n; e++)
        w[e] = sym(a);
    return w;
}

/* ---- typed buffers ------------------------------------------------------------------- */

#define CK(expr)                                                                           \
    do {                                                                                   \
        dk_err ck_ = (expr);                                                               \
        if (ck_ != DK_OK)                                                                  \
            fail_msg("%s: %s failed: %s", case_name, #expr, dk_error_message());           \
    } while (0)

/* A host copy of src (n doubles; NULL gives NaN) in type t. */
static void *host_typed(dk_dtype t, const double *src, size_t n)
{
    void *h = malloc((n ? n : 1) * dk_dtype_size(t));
    for (size_t e = 0; e < n; e++)
        dk_store(t, h, e, src ? src[e] : NAN);
    return h;
}

static double *host_double(dk_dtype t, const void *h, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t e = 0; e < n; e++)
        d[e] = dk_load(t, h, e);
    return d;
}

/* A device copy of src (NULL: NaN) in type t. */
static void *device_typed(dk_dtype t, const double *src, size_t n)
{
    void *d = NULL, *h = host_typed(t, src, n);
    CK(dk_cuda_malloc(&d, (n ? n : 1) * dk_dtype_size(t), "test buffer"));
    CK(dk_cuda_to_device(d, h, n * dk_dtype_size(t), NULL));
    free(h);
    return d;
}

static void *fetch_bytes(dk_dtype t, const void *d, size_t n)
{
    void *h = malloc((n ? n : 1) * dk_dtype_size(t));
    CK(dk_cuda_to_host(h, d, n * dk_dtype_size(t), NULL));
    return h;
}

/* A device workspace of `bytes` full of NaN bytes, handed out 8 bytes past its (aligned)
 * start: the kernels must align it themselves and stay inside. */
static void *device_workspace(size_t bytes, void **base)
{
    CK(dk_cuda_malloc(base, bytes, "test workspace"));
    unsigned char *h = malloc(bytes);
    memset(h, 0xff, bytes);
    CK(dk_cuda_to_device(*base, h, bytes, NULL));
    free(h);
    return (unsigned char *)*base + 8;
}

/* max |gpu - cpu| / max |cpu| over n elements, failing above tol. */
static void compare(const char *what, dk_dtype t, const void *gpu_dev, const void *cpu_host, size_t n, double tol)
{
    void *gh = fetch_bytes(t, gpu_dev, n);
    double *g = host_double(t, gh, n), *c = host_double(t, cpu_host, n);
    double diff = 0, big = 0;
    size_t at = 0;
    int bad = 0;
    for (size_t e = 0; e < n; e++) {
        const double d = fabs(g[e] - c[e]);
        if (!(d <= diff)) { /* NaN counts as worst */
            if (!(d == d))
                bad = 1;
            diff = d;
            at = e;
        }
        big = fmax(big, fabs(c[e]));
    }
    const double ratio = bad ? INFINITY : diff / fmax(big, 1e-300);
    case_worst = fmax(case_worst, ratio);
    if (!(ratio <= tol))
        fail_msg("%s: %s: max |gpu - cpu| / max |cpu| = %.3g > %.1g (max |cpu| %.3g; element %zu: gpu %.17g, "
                 "cpu %.17g)",
                 case_name, what, ratio, tol, big, at, n ? g[at] : 0.0, n ? c[at] : 0.0);
    free(gh);
    free(g);
    free(c);
}

/* The second run's bytes must equal the first's. */
static void assert_same_bytes(const char *what, dk_dtype t, const void *first_host, const void *dev, size_t n)
{
    void *h = fetch_bytes(t, dev, n);
    if (memcmp(h, first_host, n * dk_dtype_size(t)) != 0)
        fail_msg("%s: %s: two identical GPU calls gave different bits", case_name, what);
    free(h);
}

/* ---- a random layer ------------------------------------------------------------------ */

typedef struct layer {
    dk_kan_shape s;
    double *p[N_PARAMS];
} layer;

/* Per input: G+1 inner knots with spacings varying by up to 12x around width 2/G (a grid
 * after an update), extended by pykan's rule; coefficients, scales and a 0/1 mask with
 * about 20% zeros (none on layers of fewer than 4 edges, which would test nothing). */
static layer make_layer(int in, int out, int G, int k, int batch)
{
    layer L;
    L.s = dk_kan_shape_make(in, out, G, k, batch, 1);
    const int nk = L.s.n_knots, nb = L.s.n_basis;
    L.p[PARAM_GRID] = malloc((size_t)in * nk * sizeof(double));
    double *inner = malloc((size_t)(G + 1) * sizeof(double));
    for (int i = 0; i < in; i++) {
        inner[0] = -1.0 + sym(0.3);
        for (int m = 1; m <= G; m++)
            inner[m] = inner[m - 1] + (2.0 / G) * (0.15 + 1.7 * uni());
        dk_bspline_extend_grid_f64(inner, G, k, L.p[PARAM_GRID] + (size_t)i * nk);
    }
    free(inner);
    const size_t io = (size_t)in * out;
    L.p[PARAM_COEF] = random_array(io * nb, 1.0);
    L.p[PARAM_BASE] = random_array(io, 1.0);
    L.p[PARAM_SP] = random_array(io, 1.0);
    L.p[PARAM_MASK] = malloc(io * sizeof(double));
    for (size_t e = 0; e < io; e++) {
        L.p[PARAM_SP][e] += 1.5;
        L.p[PARAM_MASK][e] = io >= 4 && uni() < 0.2 ? 0.0 : 1.0; /* tiny layers keep their edges */
    }
    return L;
}

static size_t param_len(const layer *L, int which)
{
    const size_t io = (size_t)L->s.in * L->s.out;
    return which == PARAM_GRID ? (size_t)L->s.in * L->s.n_knots : which == PARAM_COEF ? io * L->s.n_basis : io;
}

static size_t grad_len(const layer *L, int which) { return which == GRAD_COEF ? param_len(L, PARAM_COEF) : param_len(L, PARAM_BASE); }

static void free_layer(layer *L)
{
    for (int e = 0; e < N_PARAMS; e++)
        free(L->p[e]);
}

/* Inputs [batch][in]: mostly on the extended grid and up to 15% of its width beyond, 3%
 * exactly on a knot (the last knot included, which is outside). */
static double *draw_inputs(const layer *L, int batch)
{
    const int in = L->s.in, nk = L->s.n_knots;
    double *x = malloc((size_t)batch * in * sizeof(double));
    for (int b = 0; b < batch; b++)
        for (int i = 0; i < in; i++) {
            const double *t = L->p[PARAM_GRID] + (size_t)i * nk, span = t[nk - 1] - t[0];
            x[(size_t)b * in + i] =
                uni() < 0.03 ? t[(int)(uni() * nk) % nk] : t[0] - 0.15 * span + 1.3 * span * uni();
        }
    return x;
}

/* The parameters in type t, on the host (h) and on the device (d). */
typedef struct typed_params {
    void *h[N_PARAMS], *d[N_PARAMS];
} typed_params;

static typed_params upload_params(dk_dtype t, const layer *L)
{
    typed_params tp;
    for (int e = 0; e < N_PARAMS; e++) {
        tp.h[e] = host_typed(t, L->p[e], param_len(L, e));
        tp.d[e] = device_typed(t, L->p[e], param_len(L, e));
    }
    return tp;
}

static void free_params(typed_params *tp)
{
    for (int e = 0; e < N_PARAMS; e++) {
        free(tp->h[e]);
        dk_cuda_free(tp->d[e]);
    }
}

static dk_kan_params_f64 p64(void *const *p)
{
    return (dk_kan_params_f64){p[PARAM_GRID], p[PARAM_COEF], p[PARAM_BASE], p[PARAM_SP], p[PARAM_MASK]};
}
static dk_kan_params_f32 p32(void *const *p)
{
    return (dk_kan_params_f32){p[PARAM_GRID], p[PARAM_COEF], p[PARAM_BASE], p[PARAM_SP], p[PARAM_MASK]};
}
static dk_kan_grads_f64 g64(void *const *g) { return (dk_kan_grads_f64){g[GRAD_COEF], g[GRAD_BASE], g[GRAD_SP]}; }
static dk_kan_grads_f32 g32(void *const *g) { return (dk_kan_grads_f32){g[GRAD_COEF], g[GRAD_BASE], g[GRAD_SP]}; }

static double tol_of(dk_dtype t) { return t == DK_F64 ? 1e-12 : 1e-5; }

static void begin_case(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void begin_case(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(case_name, sizeof case_name, fmt, ap);
    va_end(ap);
    case_worst = 0;
}

static void end_case(void) { printf("  %-78s worst %.2e\n", case_name, case_worst); }

/* ---- first-order forward and backward ------------------------------------------------ */

static void gpu_forward(dk_dtype t, const layer *L, void *const *P, int batch, const void *x, void *y, void *ws)
{
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(P);
        CK(dk_kan_cuda_forward_f64(&L->s, &p, batch, x, y, ws, NULL));
    } else {
        const dk_kan_params_f32 p = p32(P);
        CK(dk_kan_cuda_forward_f32(&L->s, &p, batch, x, y, ws, NULL));
    }
}

static void gpu_backward(dk_dtype t, const layer *L, void *const *P, int batch, const void *x, const void *dy,
                         void *dx, void *const *G, void *ws)
{
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(P);
        const dk_kan_grads_f64 g = g64(G);
        CK(dk_kan_cuda_backward_f64(&L->s, &p, batch, x, dy, dx, &g, ws, NULL));
    } else {
        const dk_kan_params_f32 p = p32(P);
        const dk_kan_grads_f32 g = g32(G);
        CK(dk_kan_cuda_backward_f32(&L->s, &p, batch, x, dy, dx, &g, ws, NULL));
    }
}

static void run_layer_case(dk_dtype t, int in, int out, int G, int k, int batch)
{
    begin_case("%s layer in=%d out=%d G=%d k=%d batch=%d", dk_dtype_name(t), in, out, G, k, batch);
    const double tol = tol_of(t);
    layer L = make_layer(in, out, G, k, batch);
    const size_t nx = (size_t)batch * in, ny = (size_t)batch * out;
    double *x = draw_inputs(&L, batch), *dy = random_array(ny, 1.0);
    typed_params tp = upload_params(t, &L);

    /* CPU reference */
    void *xh = host_typed(t, x, nx), *dyh = host_typed(t, dy, ny), *yh = host_typed(t, NULL, ny);
    void *dxh = host_typed(t, NULL, nx), *gh[N_GRADS];
    for (int e = 0; e < N_GRADS; e++)
        gh[e] = host_typed(t, NULL, grad_len(&L, e));
    void *cws = malloc(dk_kan_workspace_bytes(&L.s, t));
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(tp.h);
        const dk_kan_grads_f64 g = g64(gh);
        dk_kan_forward_f64(&L.s, &p, batch, xh, yh, cws);
        dk_kan_backward_f64(&L.s, &p, batch, xh, dyh, dxh, &g, cws);
    } else {
        const dk_kan_params_f32 p = p32(tp.h);
        const dk_kan_grads_f32 g = g32(gh);
        dk_kan_forward_f32(&L.s, &p, batch, xh, yh, cws);
        dk_kan_backward_f32(&L.s, &p, batch, xh, dyh, dxh, &g, cws);
    }

    /* GPU */
    void *wbase = NULL, *ws = device_workspace(dk_kan_cuda_workspace_bytes(&L.s, t), &wbase);
    void *xd = device_typed(t, x, nx), *dyd = device_typed(t, dy, ny), *yd = device_typed(t, NULL, ny);
    void *dxd = device_typed(t, NULL, nx), *gd[N_GRADS];
    for (int e = 0; e < N_GRADS; e++)
        gd[e] = device_typed(t, NULL, grad_len(&L, e));
    static const char *gname[N_GRADS] = {"grad coef", "grad scale_base", "grad scale_sp"};

    gpu_forward(t, &L, tp.d, batch, xd, yd, ws);
    compare("forward y", t, yd, yh, ny, tol);
    void *y1st = fetch_bytes(t, yd, ny);
    gpu_forward(t, &L, tp.d, batch, xd, yd, ws);
    assert_same_bytes("forward y", t, y1st, yd, ny);
    free(y1st);

    gpu_backward(t, &L, tp.d, batch, xd, dyd, dxd, gd, ws);
    compare("backward dx", t, dxd, dxh, nx, tol);
    void *first[N_GRADS + 1];
    for (int e = 0; e < N_GRADS; e++) {
        compare(gname[e], t, gd[e], gh[e], grad_len(&L, e), tol);
        first[e] = fetch_bytes(t, gd[e], grad_len(&L, e));
    }
    first[N_GRADS] = fetch_bytes(t, dxd, nx);
    gpu_backward(t, &L, tp.d, batch, xd, dyd, dxd, gd, ws);
    for (int e = 0; e < N_GRADS; e++)
        assert_same_bytes(gname[e], t, first[e], gd[e], grad_len(&L, e));
    assert_same_bytes("backward dx", t, first[N_GRADS], dxd, nx);

    /* dx NULL: gradients alone, overwritten from NaN */
    for (int e = 0; e < N_GRADS; e++) {
        dk_cuda_free(gd[e]);
        gd[e] = device_typed(t, NULL, grad_len(&L, e));
    }
    gpu_backward(t, &L, tp.d, batch, xd, dyd, NULL, gd, ws);
    for (int e = 0; e < N_GRADS; e++)
        assert_same_bytes(gname[e], t, first[e], gd[e], grad_len(&L, e));
    end_case();

    for (int e = 0; e <= N_GRADS; e++)
        free(first[e]);
    for (int e = 0; e < N_GRADS; e++) {
        free(gh[e]);
        dk_cuda_free(gd[e]);
    }
    dk_cuda_free(xd);
    dk_cuda_free(dyd);
    dk_cuda_free(yd);
    dk_cuda_free(dxd);
    dk_cuda_free(wbase);
    free(cws);
    free(xh);
    free(dyh);
    free(yh);
    free(dxh);
    free(x);
    free(dy);
    free_params(&tp);
    free_layer(&L);
}

/* ---- jets ---------------------------------------------------------------------------- */

enum { J_X, J_X1, J_X2, J_GY, J_GY1, J_GY2, J_Y, J_Y1, J_Y2, J_GX, J_GX1, J_GX2, N_J };

static void gpu_jet_forward(dk_dtype t, const layer *L, void *const *P, int batch, int nd, int identity,
                            void *const *a, void *ws)
{
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(P);
        CK(dk_kan_cuda_jet_forward_f64(&L->s, &p, batch, nd, identity, a[J_X], a[J_X1], a[J_X2], a[J_Y], a[J_Y1],
                                       a[J_Y2], ws, NULL));
    } else {
        const dk_kan_params_f32 p = p32(P);
        CK(dk_kan_cuda_jet_forward_f32(&L->s, &p, batch, nd, identity, a[J_X], a[J_X1], a[J_X2], a[J_Y], a[J_Y1],
                                       a[J_Y2], ws, NULL));
    }
}

static void gpu_jet_backward(dk_dtype t, const layer *L, void *const *P, int batch, int nd, int identity,
                             void *const *a, int want_gx, void *const *G, void *ws)
{
    void *gx = want_gx ? a[J_GX] : NULL, *gx1 = want_gx ? a[J_GX1] : NULL, *gx2 = want_gx ? a[J_GX2] : NULL;
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(P);
        const dk_kan_grads_f64 g = g64(G);
        CK(dk_kan_cuda_jet_backward_f64(&L->s, &p, batch, nd, identity, a[J_X], a[J_X1], a[J_X2], a[J_GY], a[J_GY1],
                                        a[J_GY2], gx, gx1, gx2, &g, ws, NULL));
    } else {
        const dk_kan_params_f32 p = p32(P);
        const dk_kan_grads_f32 g = g32(G);
        CK(dk_kan_cuda_jet_backward_f32(&L->s, &p, batch, nd, identity, a[J_X], a[J_X1], a[J_X2], a[J_GY], a[J_GY1],
                                        a[J_GY2], gx, gx1, gx2, &g, ws, NULL));
    }
}

static void run_jet_case(dk_dtype t, int in, int out, int G, int k, int batch, int nd, int identity)
{
    begin_case("%s jet in=%d out=%d G=%d k=%d batch=%d n_dir=%d%s", dk_dtype_name(t), in, out, G, k, batch, nd,
               identity ? " identity" : "");
    const double tol = tol_of(t);
    layer L = make_layer(in, out, G, k, batch);
    size_t len[N_J];
    len[J_X] = len[J_GX] = (size_t)batch * in;
    len[J_X1] = len[J_X2] = len[J_GX1] = len[J_GX2] = (size_t)batch * nd * in;
    len[J_GY] = len[J_Y] = (size_t)batch * out;
    len[J_GY1] = len[J_GY2] = len[J_Y1] = len[J_Y2] = (size_t)batch * nd * out;
    double *src[N_J] = {0};
    src[J_X] = draw_inputs(&L, batch);
    for (int e = J_X1; e <= J_GY2; e++)
        if (e != J_X1 && e != J_X2)
            src[e] = random_array(len[e], 1.0);
    if (!identity) {
        src[J_X1] = random_array(len[J_X1], 1.0);
        src[J_X2] = random_array(len[J_X2], 1.0);
    }
    typed_params tp = upload_params(t, &L);
    const int want_gx = !identity;

    /* CPU reference: arrays in h, x1 and x2 NULL with identity */
    void *h[N_J], *gh[N_GRADS];
    for (int e = 0; e < N_J; e++)
        h[e] = (identity && (e == J_X1 || e == J_X2)) ? NULL : host_typed(t, src[e], len[e]);
    for (int e = 0; e < N_GRADS; e++)
        gh[e] = host_typed(t, NULL, grad_len(&L, e));
    void *cws = malloc(dk_kan_jet_workspace_bytes(&L.s, nd, t));
    void *hgx = want_gx ? h[J_GX] : NULL, *hgx1 = want_gx ? h[J_GX1] : NULL, *hgx2 = want_gx ? h[J_GX2] : NULL;
    if (t == DK_F64) {
        const dk_kan_params_f64 p = p64(tp.h);
        const dk_kan_grads_f64 g = g64(gh);
        dk_kan_jet_forward_f64(&L.s, &p, batch, nd, identity, h[J_X], h[J_X1], h[J_X2], h[J_Y], h[J_Y1], h[J_Y2],
                               cws);
        dk_kan_jet_backward_f64(&L.s, &p, batch, nd, identity, h[J_X], h[J_X1], h[J_X2], h[J_GY], h[J_GY1],
                                h[J_GY2], hgx, hgx1, hgx2, &g, cws);
    } else {
        const dk_kan_params_f32 p = p32(tp.h);
        const dk_kan_grads_f32 g = g32(gh);
        dk_kan_jet_forward_f32(&L.s, &p, batch, nd, identity, h[J_X], h[J_X1], h[J_X2], h[J_Y], h[J_Y1], h[J_Y2],
                               cws);
        dk_kan_jet_backward_f32(&L.s, &p, batch, nd, identity, h[J_X], h[J_X1], h[J_X2], h[J_GY], h[J_GY1],
                                h[J_GY2], hgx, hgx1, hgx2, &g, cws);
    }

    /* GPU */
    void *wbase = NULL, *ws = device_workspace(dk_kan_cuda_jet_workspace_bytes(&L.s, nd, t), &wbase);
    void *d[N_J], *gd[N_GRADS];
    for (int e = 0; e < N_J; e++)
        d[e] = (identity && (e == J_X1 || e == J_X2)) ? NULL : device_typed(t, src[e], len[e]);
    for (int e = 0; e < N_GRADS; e++)
        gd[e] = device_typed(t, NULL, grad_len(&L, e));
    static const char *gname[N_GRADS] = {"jet grad coef", "jet grad scale_base", "jet grad scale_sp"};
    static const char *oname[N_J] = {"x", "x1", "x2", "gy", "gy1", "gy2", "jet y", "jet y1", "jet y2",
                                     "jet gx", "jet gx1", "jet gx2"};

    gpu_jet_forward(t, &L, tp.d, batch, nd, identity, d, ws);
    void *first[N_J] = {0};
    for (int e = J_Y; e <= J_Y2; e++) {
        compare(oname[e], t, d[e], h[e], len[e], tol);
        first[e] = fetch_bytes(t, d[e], len[e]);
    }
    gpu_jet_forward(t, &L, tp.d, batch, nd, identity, d, ws);
    for (int e = J_Y; e <= J_Y2; e++)
        assert_same_bytes(oname[e], t, first[e], d[e], len[e]);

    gpu_jet_backward(t, &L, tp.d, batch, nd, identity, d, want_gx, gd, ws);
    void *gfirst[N_GRADS];
    for (int e = 0; e < N_GRADS; e++) {
        compare(gname[e], t, gd[e], gh[e], grad_len(&L, e), tol);
        gfirst[e] = fetch_bytes(t, gd[e], grad_len(&L, e));
    }
    if (want_gx)
        for (int e = J_GX; e <= J_GX2; e++) {
            compare(oname[e], t, d[e], h[e], len[e], tol);
            first[e] = fetch_bytes(t, d[e], len[e]);
        }
    gpu_jet_backward(t, &L, tp.d, batch, nd, identity, d, want_gx, gd, ws);
    for (int e = 0; e < N_GRADS; e++)
        assert_same_bytes(gname[e], t, gfirst[e], gd[e], grad_len(&L, e));
    if (want_gx)
        for (int e = J_GX; e <= J_GX2; e++)
            assert_same_bytes(oname[e], t, first[e], d[e], len[e]);

    /* without input gradients: the parameter gradients alone, overwritten from NaN */
    if (want_gx) {
        for (int e = 0; e < N_GRADS; e++) {
            dk_cuda_free(gd[e]);
            gd[e] = device_typed(t, NULL, grad_len(&L, e));
        }
        gpu_jet_backward(t, &L, tp.d, batch, nd, identity, d, 0, gd, ws);
        for (int e = 0; e < N_GRADS; e++)
            assert_same_bytes(gname[e], t, gfirst[e], gd[e], grad_len(&L, e));
    }
    end_case();

    for (int e = 0; e < N_J; e++) {
        free(first[e]);
        free(h[e]);
        free(src[e]);
        dk_cuda_free(d[e]);
    }
    for (int e = 0; e < N_GRADS; e++) {
        free(gfirst[e]);
        free(gh[e]);
        dk_cuda_free(gd[e]);
    }
    dk_cuda_free(wbase);
    free(cws);
    free_params(&tp);
    free_layer(&L);
}

/* ---- the cases ----------------------------------------------------------------------- */

typedef struct layer_shape {
    int in, out, G, k, batch;
} layer_shape;

/* Widths 1..130 (partial warps and tiles), G 3..200 (G = 200, k = 7 needs the most shared
 * memory), k 1..7, batches not multiples of any tile, one layer narrow enough for 64
 * batch slices. */
static const layer_shape LAYER_SHAPES[] = {
    {1, 1, 3, 1, 1},       {1, 1, 5, 3, 4099},   {3, 17, 10, 3, 37},   {17, 3, 3, 2, 1000},
    {64, 64, 10, 3, 4099}, {130, 130, 3, 5, 257}, {5, 40, 50, 7, 300},  {2, 33, 200, 7, 517},
    {64, 1, 20, 4, 1000},  {7, 9, 12, 6, 100},    {3, 130, 50, 1, 129},
};

typedef struct jet_shape {
    int in, out, G, k, batch, nd, identity;
} jet_shape;

static const jet_shape JET_SHAPES[] = {
    {2, 5, 5, 3, 37, 2, 1},     {1, 1, 3, 1, 1, 1, 1},      {5, 17, 10, 2, 100, 5, 1},  {3, 20, 200, 7, 129, 3, 1},
    {3, 17, 10, 3, 100, 3, 0},  {17, 33, 8, 2, 257, 5, 0},  {64, 64, 10, 3, 1000, 2, 0}, {5, 130, 50, 5, 300, 4, 0},
    {4, 7, 6, 1, 50, 1, 0},     {130, 3, 3, 2, 64, 5, 0},   {1, 1, 3, 3, 4099, 1, 0},   {6, 35, 20, 7, 77, 5, 0},
};

static void run_layer_cases(dk_dtype t)
{
    for (size_t c = 0; c < sizeof LAYER_SHAPES / sizeof LAYER_SHAPES[0]; c++) {
        const layer_shape *e = &LAYER_SHAPES[c];
        run_layer_case(t, e->in, e->out, e->G, e->k, e->batch);
    }
}

static void run_jet_cases(dk_dtype t)
{
    for (size_t c = 0; c < sizeof JET_SHAPES / sizeof JET_SHAPES[0]; c++) {
        const jet_shape *e = &JET_SHAPES[c];
        run_jet_case(t, e->in, e->out, e->G, e->k, e->batch, e->nd, e->identity);
    }
}

static void test_layer_f64_matches_cpu(void **state)
{
    (void)state;
    run_layer_cases(DK_F64);
}

static void test_layer_f32_matches_cpu(void **state)
{
    (void)state;
    run_layer_cases(DK_F32);
}

static void test_jet_f64_matches_cpu(void **state)
{
    (void)state;
    run_jet_cases(DK_F64);
}

static void test_jet_f32_matches_cpu(void **state)
{
    (void)state;
    run_jet_cases(DK_F32);
}

/* Shapes the kernels cannot serve are refused with DK_ERR_USAGE, before any launch. */
static void test_rejects_unservable_shapes(void **state)
{
    (void)state;
    begin_case("unservable shapes");
    dk_kan_shape s = dk_kan_shape_make(2, 3, 5, 8, 10, 1); /* k = 8 */
    const double dummy = 0;
    const dk_kan_params_f64 p = {&dummy, &dummy, &dummy, &dummy, &dummy};
    double ws = 0, out = 0;
    assert_int_equal(dk_kan_cuda_forward_f64(&s, &p, 1, &dummy, &out, &ws, NULL), DK_ERR_USAGE);
    s = dk_kan_shape_make(2, 3, 5, 3, 10, 1);
    assert_int_equal(dk_kan_cuda_jet_forward_f64(&s, &p, 1, 3, 1, &dummy, NULL, NULL, &out, &out, &out, &ws, NULL),
                     DK_ERR_USAGE); /* identity_input with n_dir != in */
    s = dk_kan_shape_make(2, 3, 5000, 7, 10, 1); /* a column of 5007 doubles per edge: too much shared memory */
    const dk_kan_grads_f64 g = {&out, &out, &out};
    assert_int_equal(dk_kan_cuda_backward_f64(&s, &p, 1, &dummy, &dummy, NULL, &g, &ws, NULL), DK_ERR_USAGE);
    dk_error_clear();
}

int main(void)
{
    if (dk_cuda_device_count() == 0) {
        printf("no CUDA device visible (%s): skipped\n", dk_cuda_no_device_reason());
        return 77;
    }
    char name[256] = "";
    if (dk_cuda_set_device(0, name, sizeof name) != DK_OK) {
        fprintf(stderr, "%s\n", dk_error_message());
        return 1;
    }
    printf("GPU 0: %s\n", name);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_f64_matches_cpu),
        cmocka_unit_test(test_layer_f32_matches_cpu),
        cmocka_unit_test(test_jet_f64_matches_cpu),
        cmocka_unit_test(test_jet_f32_matches_cpu),
        cmocka_unit_test(test_rejects_unservable_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

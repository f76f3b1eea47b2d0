#include "dk_network.h"

#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dk_rng.h"
#include "../kernels/dk_bspline.h"
#include "../kernels/dk_kan_jet.h"
#include "dk_spline_min_norm.h"

/* Lays out every layer's blocks in the flat buffers and returns the totals. The counts are
 * checked: widths near INT_MAX multiply past size_t, and a wrapped total would allocate a
 * small buffer for a huge layout. Each total also leaves room for its bytes (x 8). */
static dk_err plan_layout(dk_network *net, const dk_network_settings *s)
{
    const size_t limit = SIZE_MAX / 16;
    size_t p = 0, st = 0;
    for (int l = 0; l < net->n_layers; l++) {
        dk_layer_view *v = &net->layers[l];
        v->shape = dk_kan_shape_make(s->widths[l], s->widths[l + 1], s->G, s->k, s->max_batch, s->n_threads);
        const size_t in = (size_t)v->shape.in, out = (size_t)v->shape.out, nb = (size_t)v->shape.n_basis;
        const size_t io = in * out; /* both below 2^31: no wrap */
        if (io > limit / (nb + 2) || p > limit - io * (nb + 2) || in * (size_t)v->shape.n_knots + io > limit - st)
            DK_ERROR(DK_ERR_MEMORY, "size overflow: layer %d (%zu -> %zu, %zu coefficients per edge) and the ones "
                                    "before it have more parameters than a buffer can index",
                     l, in, out, nb);
        v->coef = p;
        p += io * nb;
        v->scale_base = p;
        p += io;
        v->scale_sp = p;
        p += io;
        v->grid = st;
        st += in * (size_t)v->shape.n_knots;
        v->mask = st;
        st += io;
    }
    net->n_params = p;
    net->n_state = st;
    return DK_OK;
}

/* Grids of this many points or more get the banded minimum-norm solve (O(G k^2),
 * layers/dk_spline_min_norm.h); smaller ones dgelsd's SVD, as before it existed, so that
 * their initial values keep every bit. */
enum { INIT_BANDED_MIN_ROWS = 258 };

/* pykan's curve2coef at initialisation: for each input i, the coefficients of every edge
 * (i, j) are the minimum-norm least-squares solution of B c = noise at the G+1 points
 * of the un-extended grid (G+1 equations, G+k unknowns: underdetermined, so the
 * minimum-norm solution is the one torch.linalg.lstsq returns). One solve per input
 * serves all `out` right-hand sides at once. */
static dk_err init_layer(dk_network *net, int l, const dk_network_settings *s)
{
    const dk_layer_view *v = &net->layers[l];
    const int in = v->shape.in, out = v->shape.out, G = v->shape.G, k = v->shape.k;
    const int nb = v->shape.n_basis, nk = v->shape.n_knots, rows = G + 1;
    const int ldb = nb > rows ? nb : rows;
    const bool banded = rows >= INIT_BANDED_MIN_ROWS;
    dk_err err = DK_OK;
    double *knots = NULL, *A = NULL, *B = NULL, *sing = NULL, *coef = NULL, *work = NULL;
    DK_CALL_GOTO(err, done, DK_CALLOC(knots, (size_t)nk, "initial knots"));
    DK_CALL_GOTO(err, done, DK_CALLOC(B, (size_t)ldb * out, "initial noise"));
    if (banded) {
        DK_CALL_GOTO(err, done, DK_CALLOC(coef, (size_t)nb * out, "initial coefficients"));
        DK_CALL_GOTO(err, done, DK_CALLOC(work, dk_spline_min_norm_work(G, k, out), "initial fit workspace"));
    } else {
        DK_CALL_GOTO(err, done, DK_CALLOC(A, (size_t)rows * nb, "initial basis matrix"));
        DK_CALL_GOTO(err, done, DK_CALLOC(sing, (size_t)(rows < nb ? rows : nb), "singular values"));
    }

    dk_bspline_uniform_grid_f64(s->grid_lo, s->grid_hi, G, k, knots);
    const double inv_sqrt_in = 1.0 / sqrt((double)in);
    for (int i = 0; i < in; i++) {
        for (int t = 0; t < nk; t++)
            dk_store(net->dtype, net->state, v->grid + (size_t)i * nk + t, knots[t]);
        /* noise[p][j] = (rand - 1/2) * noise_scale / G, drawn per (layer, edge, point) from
         * an index that is unique across the model: the edge's coefficient offset. */
        memset(B, 0, sizeof(double) * (size_t)ldb * out);
        for (int j = 0; j < out; j++) {
            size_t edge = v->coef + ((size_t)i * out + j) * nb;
            for (int p = 0; p < rows; p++)
                B[(size_t)p * out + j] =
                    (dk_rng_uniform(s->seed, DK_STREAM_INIT_NOISE, edge + p) - 0.5) * s->noise_scale / G;
        }
        const double *solution = B; /* [nb][out]: dgelsd leaves it in B */
        if (banded) {
            DK_CALL_GOTO(err, done, dk_spline_min_norm_at_grid(knots, G, k, out, B, coef, work));
            solution = coef;
        } else {
            memset(A, 0, sizeof(double) * (size_t)rows * nb);
            for (int p = 0; p < rows; p++) {
                double vals[DK_MAX_DEGREE + 1];
                int c0 = dk_bspline_eval_f64(knots, nk, k, knots[k + p], 0, vals);
                if (c0 < 0) {
                    err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__,
                                       "grid point %d of layer %d lies outside its own knots", p, l);
                    goto done;
                }
                for (int r = 0; r <= k; r++)
                    A[(size_t)p * nb + c0 + r] = vals[r];
            }
            lapack_int rank = 0;
            lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, nb, out, A, nb, B, out, sing, -1.0, &rank);
            if (info != 0) {
                err = dk_error_set(DK_ERR_NUMERIC, __FILE__, __LINE__,
                                   "LAPACKE_dgelsd failed with info %d initialising layer %d", (int)info, l);
                goto done;
            }
        }
        for (int j = 0; j < out; j++) {
            size_t edge = (size_t)i * out + j;
            for (int c = 0; c < nb; c++)
                dk_store(net->dtype, net->params, v->coef + edge * nb + c, solution[(size_t)c * out + j]);
            double u = dk_rng_uniform(s->seed, DK_STREAM_INIT_SCALE_BASE, v->scale_base + edge);
            double sb = s->scale_base_mu * inv_sqrt_in + s->scale_base_sigma * (2.0 * u - 1.0) * inv_sqrt_in;
            dk_store(net->dtype, net->params, v->scale_base + edge, sb);
            dk_store(net->dtype, net->params, v->scale_sp + edge, s->scale_sp * inv_sqrt_in);
            dk_store(net->dtype, net->state, v->mask + edge, 1.0);
        }
    }
done:
    free(knots);
    free(A);
    free(B);
    free(sing);
    free(coef);
    free(work);
    return err;
}

static dk_err check_settings(const dk_network_settings *s)
{
    if (s->n_widths < 2 || s->n_widths > DK_NETWORK_MAX_LAYERS + 1)
        DK_ERROR(DK_ERR_USAGE, "a network needs 2 to %d widths, got %d", DK_NETWORK_MAX_LAYERS + 1, s->n_widths);
    for (int l = 0; l < s->n_widths; l++)
        if (s->widths[l] < 1)
            DK_ERROR(DK_ERR_USAGE, "width %d is %d: every width must be at least 1", l, s->widths[l]);
    if (s->k < 1 || s->k > DK_MAX_DEGREE)
        DK_ERROR(DK_ERR_USAGE, "spline degree k = %d: expected 1..%d", s->k, DK_MAX_DEGREE);
    if (s->G < 1)
        DK_ERROR(DK_ERR_USAGE, "grid = %d: expected at least one interval", s->G);
    if (!(s->grid_lo < s->grid_hi) || !isfinite(s->grid_lo) || !isfinite(s->grid_hi))
        DK_ERROR(DK_ERR_USAGE, "grid range [%g, %g] must be finite with lo < hi", s->grid_lo, s->grid_hi);
    if (s->max_batch < 1 || s->n_threads < 1)
        DK_ERROR(DK_ERR_USAGE, "max_batch (%d) and threads (%d) must be positive", s->max_batch, s->n_threads);
    return DK_OK;
}

/* Jet buffers: derivatives of layer l's input (l >= 1) along every input direction and
 * their loss gradients; the workspace grows to what the jet kernels need. */
/* A batch-sized buffer's name for messages: what, then the caller's batch_note if any. */
static const char *batch_label(char *buf, size_t n, const char *what, const dk_network_settings *s)
{
    snprintf(buf, n, "%s%s%s", what, s->batch_note ? " " : "", s->batch_note ? s->batch_note : "");
    return buf;
}

static dk_err alloc_jets(dk_network *net, const dk_network_settings *s, size_t *work)
{
    const size_t es = dk_dtype_size(net->dtype);
    net->n_dir = net->widths[0];
    const int L = net->n_layers;
    DK_CALL(DK_CALLOC(net->jet1, (size_t)L + 1, "jet table"));
    DK_CALL(DK_CALLOC(net->jet2, (size_t)L + 1, "jet table"));
    DK_CALL(DK_CALLOC(net->gjet1, (size_t)L + 1, "jet gradient table"));
    DK_CALL(DK_CALLOC(net->gjet2, (size_t)L + 1, "jet gradient table"));
    for (int l = 0; l < L; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        size_t w = dk_kan_jet_workspace_bytes(sh, net->n_dir, net->dtype);
        *work = w > *work ? w : *work;
        size_t bytes = 0, in_bytes = 0;
        char label[1024];
        const size_t rows = (size_t)net->max_batch * (size_t)net->n_dir;
        DK_CALL(dk_array_bytes(&bytes, rows, (size_t)sh->out, es,
                               batch_label(label, sizeof label, "activation derivatives", s)));
        DK_CALL(dk_array_bytes(&in_bytes, rows, (size_t)sh->in, es,
                               batch_label(label, sizeof label, "derivative gradients", s)));
        DK_CALL(dk_aligned_alloc(&net->jet1[l + 1], bytes,
                                 batch_label(label, sizeof label, "activation first derivatives", s)));
        DK_CALL(dk_aligned_alloc(&net->jet2[l + 1], bytes,
                                 batch_label(label, sizeof label, "activation second derivatives", s)));
        if (l > 0) {
            DK_CALL(dk_aligned_alloc(&net->gjet1[l], in_bytes,
                                     batch_label(label, sizeof label, "first-derivative gradients", s)));
            DK_CALL(dk_aligned_alloc(&net->gjet2[l], in_bytes,
                                     batch_label(label, sizeof label, "second-derivative gradients", s)));
        }
    }
    return DK_OK;
}

dk_err dk_network_create(dk_network **out, const dk_network_settings *s)
{
    *out = NULL;
    DK_CALL(check_settings(s));
    dk_network *net;
    DK_CALL(DK_CALLOC(net, 1, "network"));
    dk_err err = DK_OK;
    net->dtype = s->dtype;
    net->n_layers = s->n_widths - 1;
    memcpy(net->widths, s->widths, sizeof(int) * (size_t)s->n_widths);
    net->G = s->G;
    net->k = s->k;
    net->max_batch = s->max_batch;
    net->n_threads = s->n_threads;
    DK_CALL_GOTO(err, fail, DK_CALLOC(net->layers, (size_t)net->n_layers, "layer views"));
    DK_CALL_GOTO(err, fail, plan_layout(net, s));

    const size_t es = dk_dtype_size(s->dtype);
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&net->params, net->n_params * es, "parameters"));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&net->grads, (net->n_params + DK_GRAD_EXTRA) * es, "gradients"));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&net->state, net->n_state * es, "grids and masks"));
    DK_CALL_GOTO(err, fail, DK_CALLOC(net->acts, (size_t)net->n_layers + 1, "activation table"));
    DK_CALL_GOTO(err, fail, DK_CALLOC(net->dacts, (size_t)net->n_layers + 1, "gradient table"));
    /* acts[0] and dacts[n_layers] are the caller's buffers (input, d loss / d output). */
    size_t work = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        size_t w = dk_kan_workspace_bytes(sh, s->dtype);
        work = w > work ? w : work;
        size_t act = 0, dact = 0;
        char label[1024];
        DK_CALL_GOTO(err, fail,
                     dk_array_bytes(&act, (size_t)s->max_batch, (size_t)sh->out, es,
                                    batch_label(label, sizeof label, "activations", s)));
        DK_CALL_GOTO(err, fail,
                     dk_array_bytes(&dact, (size_t)s->max_batch, (size_t)sh->in, es,
                                    batch_label(label, sizeof label, "activation gradients", s)));
        DK_CALL_GOTO(err, fail, dk_aligned_alloc(&net->acts[l + 1], act, batch_label(label, sizeof label, "activations", s)));
        if (l > 0)
            DK_CALL_GOTO(err, fail,
                         dk_aligned_alloc(&net->dacts[l], dact, batch_label(label, sizeof label, "activation gradients", s)));
    }
    if (s->jet)
        DK_CALL_GOTO(err, fail, alloc_jets(net, s, &work));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&net->workspace, work, "kernel workspace"));
    for (int l = 0; l < net->n_layers && !s->no_init; l++)
        DK_CALL_GOTO(err, fail, init_layer(net, l, s));
    *out = net;
    return DK_OK;
fail:
    dk_network_destroy(&net);
    return err;
}

void dk_network_destroy(dk_network **pnet)
{
    if (!pnet || !*pnet)
        return;
    dk_network *net = *pnet;
    for (int l = 1; net->acts && l <= net->n_layers; l++)
        free(net->acts[l]);
    for (int l = 1; net->dacts && l < net->n_layers; l++)
        free(net->dacts[l]);
    for (int l = 1; net->jet1 && l <= net->n_layers; l++) {
        free(net->jet1[l]);
        free(net->jet2[l]);
    }
    for (int l = 1; net->gjet1 && l < net->n_layers; l++) {
        free(net->gjet1[l]);
        free(net->gjet2[l]);
    }
    free(net->jet1);
    free(net->jet2);
    free(net->gjet1);
    free(net->gjet2);
    free(net->acts);
    free(net->dacts);
    free(net->workspace);
    free(net->params);
    free(net->grads);
    free(net->state);
    free(net->layers);
    free(net);
    *pnet = NULL;
}

/* Typed views of layer l's blocks, built per call (a few pointer additions). */
static dk_kan_params_f64 params_f64(const dk_network *net, int l)
{
    const dk_layer_view *v = &net->layers[l];
    const double *p = net->params, *st = net->state;
    return (dk_kan_params_f64){st + v->grid, p + v->coef, p + v->scale_base, p + v->scale_sp, st + v->mask};
}
static dk_kan_params_f32 params_f32(const dk_network *net, int l)
{
    const dk_layer_view *v = &net->layers[l];
    const float *p = net->params, *st = net->state;
    return (dk_kan_params_f32){st + v->grid, p + v->coef, p + v->scale_base, p + v->scale_sp, st + v->mask};
}

const void *dk_network_forward(dk_network *net, long rows, const void *x)
{
    net->acts[0] = (void *)x;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        if (net->dtype == DK_F64) {
            dk_kan_params_f64 p = params_f64(net, l);
            dk_kan_forward_f64(sh, &p, (int)rows, net->acts[l], net->acts[l + 1], net->workspace);
        } else {
            dk_kan_params_f32 p = params_f32(net, l);
            dk_kan_forward_f32(sh, &p, (int)rows, net->acts[l], net->acts[l + 1], net->workspace);
        }
    }
    return net->acts[net->n_layers];
}

void dk_network_backward(dk_network *net, long rows, const void *dout)
{
    net->dacts[net->n_layers] = (void *)dout;
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const dk_layer_view *v = &net->layers[l];
        void *dx = l > 0 ? net->dacts[l] : NULL; /* nobody needs d loss / d input */
        if (net->dtype == DK_F64) {
            dk_kan_params_f64 p = params_f64(net, l);
            double *g = net->grads;
            dk_kan_grads_f64 gr = {g + v->coef, g + v->scale_base, g + v->scale_sp};
            dk_kan_backward_f64(&v->shape, &p, (int)rows, net->acts[l], net->dacts[l + 1], dx, &gr, net->workspace);
        } else {
            dk_kan_params_f32 p = params_f32(net, l);
            float *g = net->grads;
            dk_kan_grads_f32 gr = {g + v->coef, g + v->scale_base, g + v->scale_sp};
            dk_kan_backward_f32(&v->shape, &p, (int)rows, net->acts[l], net->dacts[l + 1], dx, &gr, net->workspace);
        }
    }
}

const void *dk_network_jet_forward(dk_network *net, long rows, const void *x, const void **u1, const void **u2)
{
    net->acts[0] = (void *)x;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *sh = &net->layers[l].shape;
        const int first = l == 0; /* the coordinates themselves: identity first derivatives */
        if (net->dtype == DK_F64) {
            dk_kan_params_f64 p = params_f64(net, l);
            dk_kan_jet_forward_f64(sh, &p, (int)rows, net->n_dir, first, net->acts[l], first ? NULL : net->jet1[l],
                                   first ? NULL : net->jet2[l], net->acts[l + 1], net->jet1[l + 1], net->jet2[l + 1],
                                   net->workspace);
        } else {
            dk_kan_params_f32 p = params_f32(net, l);
            dk_kan_jet_forward_f32(sh, &p, (int)rows, net->n_dir, first, net->acts[l], first ? NULL : net->jet1[l],
                                   first ? NULL : net->jet2[l], net->acts[l + 1], net->jet1[l + 1], net->jet2[l + 1],
                                   net->workspace);
        }
    }
    *u1 = net->jet1[net->n_layers];
    *u2 = net->jet2[net->n_layers];
    return net->acts[net->n_layers];
}

void dk_network_jet_backward(dk_network *net, long rows, const void *gu, const void *gu1, const void *gu2)
{
    const int L = net->n_layers;
    net->dacts[L] = (void *)gu;
    net->gjet1[L] = (void *)gu1;
    net->gjet2[L] = (void *)gu2;
    for (int l = L - 1; l >= 0; l--) {
        const dk_layer_view *v = &net->layers[l];
        const int first = l == 0; /* nobody needs gradients with respect to the coordinates */
        if (net->dtype == DK_F64) {
            dk_kan_params_f64 p = params_f64(net, l);
            double *g = net->grads;
            dk_kan_grads_f64 gr = {g + v->coef, g + v->scale_base, g + v->scale_sp};
            dk_kan_jet_backward_f64(&v->shape, &p, (int)rows, net->n_dir, first, net->acts[l],
                                    first ? NULL : net->jet1[l], first ? NULL : net->jet2[l], net->dacts[l + 1],
                                    net->gjet1[l + 1], net->gjet2[l + 1], first ? NULL : net->dacts[l],
                                    first ? NULL : net->gjet1[l], first ? NULL : net->gjet2[l], &gr, net->workspace);
        } else {
            dk_kan_params_f32 p = params_f32(net, l);
            float *g = net->grads;
            dk_kan_grads_f32 gr = {g + v->coef, g + v->scale_base, g + v->scale_sp};
            dk_kan_jet_backward_f32(&v->shape, &p, (int)rows, net->n_dir, first, net->acts[l],
                                    first ? NULL : net->jet1[l], first ? NULL : net->jet2[l], net->dacts[l + 1],
                                    net->gjet1[l + 1], net->gjet2[l + 1], first ? NULL : net->dacts[l],
                                    first ? NULL : net->gjet1[l], first ? NULL : net->gjet2[l], &gr, net->workspace);
        }
    }
}

void dk_network_accumulate_grads(const dk_network *net, void *sum, bool first)
{
    if (first) {
        memcpy(sum, net->grads, net->n_params * dk_dtype_size(net->dtype));
    } else if (net->dtype == DK_F64) {
        double *acc = sum;
        const double *g = net->grads;
        for (size_t i = 0; i < net->n_params; i++)
            acc[i] += g[i];
    } else {
        float *acc = sum;
        const float *g = net->grads;
        for (size_t i = 0; i < net->n_params; i++)
            acc[i] += g[i];
    }
}

void dk_network_view(const dk_network *net, FILE *f)
{
    fprintf(f, "KAN [");
    for (int l = 0; l <= net->n_layers; l++)
        fprintf(f, "%s%d", l ? "," : "", net->widths[l]);
    fprintf(f, "], G=%d, k=%d, %s, %zu parameters (%.2f MiB), %d thread%s per rank\n", net->G, net->k,
            dk_dtype_name(net->dtype), net->n_params,
            (double)(net->n_params * dk_dtype_size(net->dtype)) / (1024.0 * 1024.0), net->n_threads,
            net->n_threads == 1 ? "" : "s");
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        fprintf(f, "  layer %d: %d -> %d, coef [%d][%d][%d] at %zu, scale_base at %zu, scale_sp at %zu\n", l,
                v->shape.in, v->shape.out, v->shape.in, v->shape.out, v->shape.n_basis, v->coef, v->scale_base,
                v->scale_sp);
    }
}

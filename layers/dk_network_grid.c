/* Grid changes of a whole network: extension and update from samples.
 * Extension (dk_network_refine) builds new buffers laid out for the new G and refits the
 * splines layer by layer (layers/dk_grid_refine.h); the update from samples
 * (dk_network_update_grid) keeps the layout and moves the knots in place
 * (layers/dk_grid_update.h). Both work in float64 and convert a float32 network's blocks. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/dk_bspline.h"
#include "dk_grid_refine.h"
#include "dk_grid_update.h"
#include "dk_knot_limits.h"
#include "dk_network.h"

/* Refined knots the kernels cannot use: an error rather than a grid with repeated knots or
 * an overflowing basis (an extension changes G, so there is no old grid to keep). */
static dk_err check_refined_knots(const double *grid, int in, int n_knots, int k, dk_dtype dtype, int layer,
                                  int G_new)
{
    for (int i = 0; i < in; i++) {
        const double *t = grid + (size_t)i * n_knots;
        dk_knot_spacing s;
        if (dk_knots_usable(t, n_knots, k, dtype, &s))
            continue;
        char why[256];
        dk_knots_problem(&s, why, sizeof why);
        /* Refinement only narrows the spans: knots too wide apart were so before it. */
        DK_ERROR(DK_ERR_NUMERIC, "grid extension to G = %d: layer %d input %d has knots in [%.9g, %.9g] that %s; use "
                 "a smaller G%s", G_new, layer, i, t[0], t[n_knots - 1], why,
                 dtype == DK_F32 ? " or [model] precision = float64" : "");
    }
    return DK_OK;
}

dk_err dk_network_refine(const dk_network *old, int G_new, dk_network **out, double *max_change)
{
    *out = NULL;
    const int k = old->k;
    dk_network_settings s = {.widths = old->widths, .n_widths = old->n_layers + 1, .G = G_new, .k = k,
                             .grid_lo = -1.0, .grid_hi = 1.0, .dtype = old->dtype, .seed = 0,
                             .noise_scale = 0.0, .scale_base_mu = 0.0, .scale_base_sigma = 0.0, .scale_sp = 1.0,
                             .max_batch = old->max_batch, .n_threads = old->n_threads, .jet = old->n_dir > 0,
                             .no_init = true}; /* every value is refined from old below */
    dk_network *net = NULL;
    DK_CALL(dk_network_create(&net, &s));
    dk_err err = DK_OK;
    double *grid0 = NULL, *coef0 = NULL, *grid1 = NULL, *coef1 = NULL, *small = NULL;
    double worst = 0.0;
    for (int l = 0; l < old->n_layers && err == DK_OK; l++) {
        const dk_layer_view *a = &old->layers[l], *b = &net->layers[l];
        const size_t in = (size_t)a->shape.in, io = in * (size_t)a->shape.out;
        const size_t n_grid0 = in * a->shape.n_knots, n_coef0 = io * a->shape.n_basis;
        const size_t n_grid1 = in * b->shape.n_knots, n_coef1 = io * b->shape.n_basis;
        DK_CALL_GOTO(err, done, DK_CALLOC(grid0, n_grid0, "old knots"));
        DK_CALL_GOTO(err, done, DK_CALLOC(coef0, n_coef0, "old coefficients"));
        DK_CALL_GOTO(err, done, DK_CALLOC(grid1, n_grid1, "new knots"));
        DK_CALL_GOTO(err, done, DK_CALLOC(coef1, n_coef1, "new coefficients"));
        DK_CALL_GOTO(err, done, DK_CALLOC(small, io, "scales"));
        dk_load_block(old->dtype, old->state, a->grid, n_grid0, grid0);
        dk_load_block(old->dtype, old->params, a->coef, n_coef0, coef0);
        double change = 0.0;
        const bool f64 = net->dtype == DK_F64;
        DK_CALL_GOTO(err, done, dk_grid_refine_layer(a->shape.in, a->shape.out, k, old->G, grid0, coef0, G_new, grid1,
                                                     coef1, f64 ? &change : NULL));
        DK_CALL_GOTO(err, done, check_refined_knots(grid1, a->shape.in, b->shape.n_knots, k, net->dtype, l, G_new));
        dk_store_block(net->dtype, net->state, b->grid, n_grid1, grid1);
        dk_store_block(net->dtype, net->params, b->coef, n_coef1, coef1);
        if (!f64) { /* the change is that of the splines as stored, rounded */
            dk_load_block(net->dtype, net->state, b->grid, n_grid1, grid1);
            dk_load_block(net->dtype, net->params, b->coef, n_coef1, coef1);
            DK_CALL_GOTO(err, done, dk_grid_refine_change(a->shape.in, a->shape.out, k, old->G, grid0, coef0, G_new,
                                                          grid1, coef1, &change));
        }
        worst = change > worst || isnan(change) ? change : worst;
        const size_t blocks[2][2] = {{a->scale_base, b->scale_base}, {a->scale_sp, b->scale_sp}};
        for (int q = 0; q < 2; q++) {
            dk_load_block(old->dtype, old->params, blocks[q][0], io, small);
            dk_store_block(net->dtype, net->params, blocks[q][1], io, small);
        }
        dk_load_block(old->dtype, old->state, a->mask, io, small);
        dk_store_block(net->dtype, net->state, b->mask, io, small);
        free(grid0), free(coef0), free(grid1), free(coef1), free(small);
        grid0 = coef0 = grid1 = coef1 = small = NULL;
    }
done:
    free(grid0), free(coef0), free(grid1), free(coef1), free(small);
    if (err != DK_OK) {
        dk_network_destroy(&net);
        return err;
    }
    if (max_change)
        *max_change = worst;
    *out = net;
    return DK_OK;
}

/* Inputs of layer l for all n samples, as float64 [n][widths[l]]: the samples go through
 * the network's dtype (what its forward sees) in chunks of max_batch rows. */
static void layer_inputs(dk_network *net, int l, long n, const double *x, void *chunk, double *h)
{
    const size_t w0 = (size_t)net->widths[0], wl = (size_t)net->widths[l];
    for (long b0 = 0; b0 < n; b0 += net->max_batch) {
        const long rows = n - b0 < net->max_batch ? n - b0 : net->max_batch;
        dk_store_block(net->dtype, chunk, 0, (size_t)rows * w0, x + (size_t)b0 * w0);
        const void *src = chunk;
        if (l > 0) {
            dk_network_forward(net, rows, chunk);
            src = net->acts[l];
        }
        dk_load_block(net->dtype, src, 0, (size_t)rows * wl, h + (size_t)b0 * wl);
    }
}

struct dk_network_grid_ws {
    void *chunk, *params0, *state0; /* in the network's dtype, which may change between uses */
    double *h, *grid, *coef;
    size_t chunk_bytes, params0_bytes, state0_bytes; /* capacities */
    size_t n_h, n_grid, n_coef;                      /* capacities, in doubles */
    dk_grid_update_ws *layer;
};

dk_err dk_network_grid_ws_create(dk_network_grid_ws **ws)
{
    DK_CALL(dk_calloc((void **)ws, 1, sizeof **ws, "grid update workspace"));
    dk_err err = DK_OK;
    DK_CALL_GOTO(err, fail, dk_grid_update_ws_create(&(*ws)->layer));
    return DK_OK;
fail:
    dk_network_grid_ws_destroy(ws);
    return err;
}

void dk_network_grid_ws_destroy(dk_network_grid_ws **ws)
{
    if (!*ws)
        return;
    dk_network_grid_ws *w = *ws;
    free(w->chunk), free(w->params0), free(w->state0), free(w->h), free(w->grid), free(w->coef);
    dk_grid_update_ws_destroy(&w->layer);
    free(w);
    *ws = NULL;
}

/* Everything but the per-layer workspace, for n samples of net. */
static dk_err grow_buffers(dk_network_grid_ws *w, const dk_network *net, long n)
{
    const size_t es = dk_dtype_size(net->dtype);
    int widest = 0;
    size_t n_grid = 0, n_coef = 0;
    for (int l = 0; l <= net->n_layers; l++)
        widest = net->widths[l] > widest ? net->widths[l] : widest;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const size_t g = (size_t)v->shape.in * v->shape.n_knots, c = (size_t)v->shape.in * v->shape.out * v->shape.n_basis;
        n_grid = g > n_grid ? g : n_grid;
        n_coef = c > n_coef ? c : n_coef;
    }
    size_t bytes = 0;
    DK_CALL(dk_array_bytes(&bytes, (size_t)net->max_batch, (size_t)net->widths[0], es, "sample chunk"));
    DK_CALL(dk_grow(&w->chunk, &w->chunk_bytes, bytes, 1, "sample chunk"));
    DK_CALL(dk_grow((void **)&w->h, &w->n_h, (size_t)(n > 0 ? n : 1) * widest, sizeof(double), "layer inputs"));
    DK_CALL(dk_array_bytes(&bytes, net->n_params, es, 1, "parameter backup"));
    DK_CALL(dk_grow(&w->params0, &w->params0_bytes, bytes, 1, "parameter backup"));
    DK_CALL(dk_array_bytes(&bytes, net->n_state, es, 1, "state backup"));
    DK_CALL(dk_grow(&w->state0, &w->state0_bytes, bytes, 1, "state backup"));
    DK_CALL(dk_grow((void **)&w->grid, &w->n_grid, n_grid, sizeof(double), "layer knots"));
    DK_CALL(dk_grow((void **)&w->coef, &w->n_coef, n_coef, sizeof(double), "layer coefficients"));
    return DK_OK;
}

dk_err dk_network_grid_ws_reserve(dk_network_grid_ws *ws, const dk_network *net, long n)
{
    if (n < 0)
        DK_ERROR(DK_ERR_USAGE, "grid update workspace: %ld samples", n);
    DK_CALL(grow_buffers(ws, net, n));
    for (int l = 0; l < net->n_layers && n > 0; l++)
        DK_CALL(dk_grid_update_ws_reserve(ws->layer, net->widths[l + 1], net->k, net->G, n));
    return DK_OK;
}

static dk_err update_grid(dk_network *net, dk_network_grid_ws *ws, long n, const double *x, double grid_eps,
                          dk_grid_update_report *report);

dk_err dk_network_update_grid(dk_network *net, dk_network_grid_ws *ws, long n, const double *x, double grid_eps,
                              dk_grid_update_report *report)
{
    if (n < 0)
        DK_ERROR(DK_ERR_USAGE, "grid update: %ld samples", n);
    if (ws)
        return update_grid(net, ws, n, x, grid_eps, report);
    DK_CALL(dk_network_grid_ws_create(&ws));
    dk_err err = update_grid(net, ws, n, x, grid_eps, report);
    dk_network_grid_ws_destroy(&ws);
    return err;
}

static dk_err update_grid(dk_network *net, dk_network_grid_ws *ws, long n, const double *x, double grid_eps,
                          dk_grid_update_report *report)
{
    const size_t es = dk_dtype_size(net->dtype);
    DK_CALL(grow_buffers(ws, net, n));
    void *const chunk = ws->chunk, *const params0 = ws->params0, *const state0 = ws->state0;
    double *const h = ws->h, *const grid = ws->grid, *const coef = ws->coef;
    dk_err err = DK_OK;
    /* A failure in layer l would leave layers < l updated: keep the old parameters and
     * state to put back, so the network is either fully updated or unchanged. */
    memcpy(params0, net->params, net->n_params * es);
    memcpy(state0, net->state, net->n_state * es);
    dk_grid_update_ws_store_as(ws->layer, net->dtype);
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const size_t n_grid = (size_t)v->shape.in * v->shape.n_knots;
        const size_t n_coef = (size_t)v->shape.in * v->shape.out * v->shape.n_basis;
        /* pykan recomputes the activations before each layer: layer l sees the inputs made
         * by layers < l as already updated. */
        layer_inputs(net, l, n, x, chunk, h);
        dk_load_block(net->dtype, net->state, v->grid, n_grid, grid);
        dk_load_block(net->dtype, net->params, v->coef, n_coef, coef);
        DK_CALL_GOTO(err, restore, dk_grid_update_layer(ws->layer, v->shape.in, v->shape.out, net->k, net->G,
                                                        grid_eps, n, h, grid, coef, l, report));
        dk_store_block(net->dtype, net->state, v->grid, n_grid, grid);
        dk_store_block(net->dtype, net->params, v->coef, n_coef, coef);
    }
    goto done;
restore:
    memcpy(net->params, params0, net->n_params * es);
    memcpy(net->state, state0, net->n_state * es);
done:
    /* The activation buffers are scratch; only the input pointer would dangle. */
    net->acts[0] = NULL;
    return err;
}

/* Grid extension of a network: new buffers laid out for the new G, splines refitted layer
 * by layer (layers/dk_grid_refine.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dk_grid_refine.h"
#include "dk_network.h"

dk_err dk_network_refine(const dk_network *old, int G_new, dk_network **out, double *max_change)
{
    *out = NULL;
    const int k = old->k;
    dk_network_settings s = {.widths = old->widths, .n_widths = old->n_layers + 1, .G = G_new, .k = k,
                             .grid_lo = -1.0, .grid_hi = 1.0, .dtype = old->dtype, .seed = 0,
                             .noise_scale = 0.0, .scale_base_mu = 0.0, .scale_base_sigma = 0.0, .scale_sp = 1.0,
                             .max_batch = old->max_batch, .n_threads = old->n_threads, .jet = old->n_dir > 0};
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
        DK_CALL_GOTO(err, done, dk_grid_refine_layer(a->shape.in, a->shape.out, k, old->G, grid0, coef0, G_new, grid1,
                                                     coef1, &change));
        worst = change > worst || isnan(change) ? change : worst;
        dk_store_block(net->dtype, net->state, b->grid, n_grid1, grid1);
        dk_store_block(net->dtype, net->params, b->coef, n_coef1, coef1);
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

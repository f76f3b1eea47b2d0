/* A KAN: a stack of fused KAN layers with all trainable parameters in one flat buffer.
 *
 * Flat parameter buffer (and gradient buffer, same layout), layer after layer:
 *   coef       [in][out][G+k]
 *   scale_base [in][out]
 *   scale_sp   [in][out]
 * in the run's dtype. This is the order of final_params.bin. The gradient buffer has
 * DK_GRAD_EXTRA more elements after the parameters, where tasks put scalars (the loss)
 * that must be summed over ranks with the gradient: one all-reduce per step covers both.
 *
 * Non-trainable state (knots grid [in][G+2k+1] and mask [in][out] per layer) lives in a
 * separate flat state buffer, same dtype.
 *
 * Initialisation follows pykan's KANLayer: knots of a uniform grid on grid_range extended
 * by k on each side; coefficients are the minimum-norm least-squares fit (LAPACK dgelsd)
 * of uniform noise (rand - 1/2) * noise_scale / G at the G+1 grid points;
 * scale_base = scale_base_mu/sqrt(in) + scale_base_sigma * (2 rand - 1)/sqrt(in);
 * scale_sp = scale_sp/sqrt(in); mask = 1.
 *
 * Workspaces (activations of every layer for max_batch rows, kernel scratch) are
 * allocated at creation: forward and backward allocate nothing.
 */
#ifndef DK_NETWORK_H
#define DK_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "../kernels/dk_kan_layer.h"
#include "dk_grid_update.h"
#include "dk_knot_limits.h"

enum { DK_GRAD_EXTRA = 4, DK_NETWORK_MAX_LAYERS = 64 };

typedef struct dk_network_settings {
    const int *widths;   /* n_widths entries */
    int n_widths;
    int G, k;
    double grid_lo, grid_hi;
    dk_dtype dtype;
    unsigned long long seed;
    double noise_scale, scale_base_mu, scale_base_sigma, scale_sp;
    int max_batch;       /* rows per forward/backward call */
    int n_threads;
    int jet;             /* non-zero: also allocate buffers for dk_network_jet_* (PDE losses) */
    /* true: parameters, knots and masks are left zero for the caller to fill whole
     * (refinement, a checkpoint's model): the initial least-squares fits, O(G^3) per
     * input, would be thrown away; the seed and initialisation settings are then unused. */
    bool no_init;
    /* Optional: appended to the name of every buffer sized by max_batch in an allocation
     * error, to say which of the caller's settings sized it (the network cannot know). */
    const char *batch_note;
} dk_network_settings;

typedef struct dk_layer_view {
    dk_kan_shape shape;
    size_t coef, scale_base, scale_sp; /* element offsets into params and grads */
    size_t grid, mask;                 /* element offsets into state */
} dk_layer_view;

typedef struct dk_network {
    dk_dtype dtype;
    int n_layers;
    int widths[DK_NETWORK_MAX_LAYERS + 1];
    int G, k;
    dk_layer_view *layers;
    size_t n_params;  /* trainable parameters */
    void *params;     /* n_params elements */
    void *grads;      /* n_params + DK_GRAD_EXTRA elements */
    size_t n_state;
    void *state;      /* grids and masks */
    int max_batch, n_threads;
    void **acts;      /* acts[l]: input of layer l, [max_batch][widths[l]]; acts[n_layers]: output */
    void **dacts;     /* gradients w.r.t. acts, same shapes */
    void *workspace;  /* kernel scratch, sized for the largest layer */
    /* Jet buffers (only with settings.jet; n_dir = widths[0]): first and second derivatives
     * of every activation along each input direction, [max_batch][n_dir][widths[l]], and
     * the loss gradients with respect to them. jet1[0], jet2[0] are unused (the first
     * layer's input derivatives are the identity and zero). */
    int n_dir;
    void **jet1, **jet2, **gjet1, **gjet2;
} dk_network;

typedef struct dk_network_grid_ws dk_network_grid_ws; /* dk_network_update_grid's scratch */

dk_err dk_network_create(dk_network **out, const dk_network_settings *settings);
void dk_network_destroy(dk_network **net);

/* Runs the network on x[rows][widths[0]] (rows <= max_batch) and returns a pointer to the
 * output activations [rows][widths[last]], valid until the next forward. */
const void *dk_network_forward(dk_network *net, long rows, const void *x);
/* Back-propagates dout = dL/doutput [rows][widths[last]] through the activations of the
 * last forward and overwrites net->grads[0..n_params). */
void dk_network_backward(dk_network *net, long rows, const void *dout);

/* Second order: runs the network on x[rows][widths[0]] carrying derivatives with respect
 * to every input (needs settings.jet). Returns the output u [rows][n_out] and sets *u1 and
 * *u2 to du/dx_a and d^2u/dx_a^2, [rows][n_dir][n_out]; all valid until the next forward. */
const void *dk_network_jet_forward(dk_network *net, long rows, const void *x, const void **u1, const void **u2);
/* Back-propagates the loss gradients with respect to u, u1 and u2 (shapes as returned by
 * dk_network_jet_forward) through the last jet forward; overwrites net->grads[0..n_params). */
void dk_network_jet_backward(dk_network *net, long rows, const void *gu, const void *gu1, const void *gu2);

/* sum = grads (first) or sum += grads, over the n_params parameter gradients: for losses
 * evaluated in several backward calls, since backward overwrites net->grads. */
void dk_network_accumulate_grads(const dk_network *net, void *sum, bool first);


/* Grid extension of the whole network: a new network with the same widths, k, dtype,
 * batch capacity, threads and jet buffers, G_new intervals per input on each input's old
 * range keeping the old grid's shape, every spline refitted by dk_grid_refine_layer
 * (float64) and scale_base, scale_sp and mask copied. The parameter layout changes with G,
 * so optimiser state tied to it must be rebuilt by the caller. *max_change (optional) is
 * the largest change of any edge's spline at the fitting points. Refined knots that are
 * not usable (dk_knots_usable) are an error. */
dk_err dk_network_refine(const dk_network *old, int G_new, dk_network **out, double *max_change);

/* Grid update from samples of the whole network (pykan's update_grid_from_samples): layer by
 * layer, the inputs of layer l are recomputed on the n samples x [n][widths[0]] (float64) with
 * layers < l already updated, then dk_grid_update_layer. Every rank calling it with the same
 * samples and parameters computes the same bits. Accumulates into *report (zeroed by the caller).
 * The layout is unchanged (optimiser state stays valid); the activation buffers are used as
 * scratch. An input whose updated knots would not be usable keeps its knots (noted). On failure the parameters and state are put back as they were.
 * ws: the scratch (dk_network_grid_ws_reserve), or NULL for one made for this call. */
dk_err dk_network_update_grid(dk_network *net, dk_network_grid_ws *ws, long n, const double *x, double grid_eps,
                              dk_grid_update_report *report);

/* The scratch of dk_network_update_grid: the layer inputs at the samples, a backup of the
 * parameters and state, a layer's knots and coefficients in float64, and the per-layer
 * workspace (dk_grid_update.h). It grows to what an update needs; reserved ahead for a
 * network and a sample count, an update of that network from at most that many samples
 * allocates nothing (the training loop reserves it at start-up and at each extension). */
dk_err dk_network_grid_ws_create(dk_network_grid_ws **ws);
void dk_network_grid_ws_destroy(dk_network_grid_ws **ws); /* NULL is a no-op */
dk_err dk_network_grid_ws_reserve(dk_network_grid_ws *ws, const dk_network *net, long n);

/* The learned function phi of edge i -> j of layer l at x (layers/dk_network_edge.c):
 * *base = scale_base silu(x) and *spline = scale_sp sum_c coef_c B_c(x) (0 outside input
 * i's extended grid), so that the edge adds *mask (*base + *spline) to output j. Summed in
 * float64; a float32 model's basis is evaluated in float on x rounded to float, as its
 * kernels evaluate it. */
void dk_network_edge(const dk_network *net, int l, int i, int j, double x, double *base, double *spline,
                     double *mask);
/* Input i of layer l's grid range [t_k, t_{G+k}] (where its basis is a partition of unity;
 * after grid updates, the range of the samples it was fitted to). */
void dk_network_edge_range(const dk_network *net, int l, int i, double *lo, double *hi);

/* Prints a human summary: layers, shapes, parameter count, buffer sizes. */
void dk_network_view(const dk_network *net, FILE *f);

#endif

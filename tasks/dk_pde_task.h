/* Physics-informed PDE solving: the network u(x) is trained so that the problem's residual
 * vanishes at interior collocation points and u matches the exact solution on the
 * boundary:
 *
 *   loss = alpha * (1/N_int) sum_interior r(x, u, Du, D2u)^2 + (1/N_bnd) sum_boundary (u - g)^2
 *
 * with Du, D2u computed exactly by the jet kernels (dk_network_jet_forward), never by
 * finite differences or nested autodiff.
 *
 * Points: N_int and N_bnd are global counts. Point p of epoch e is a pure function of
 * (seed, e, p) (dk_collocation), and rank r owns the r-th contiguous part of each set
 * (dk_part_begin/end), so the world size changes only the split; the sum over ranks of
 * the per-rank losses and gradients is the global loss and gradient. Epoch e = 0 at start;
 * with resample_every = N the points of epoch floor((step - 1) / N) serve step `step`.
 *
 * Evaluation against the exact solution on a fixed set: a tensor grid of eval_grid points
 * per axis for problems with at most 3 inputs, else eval_points uniform random points
 * (stream DK_STREAM_PDE_EVAL), split contiguously across ranks.
 *
 * Work is done in chunks of at most the network's max_batch rows (dk_pde_task_max_rows
 * says how many the task wants), accumulating gradients in a task buffer, so memory does
 * not grow with the number of points. Nothing is allocated after creation.
 */
#ifndef DK_PDE_TASK_H
#define DK_PDE_TASK_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "../layers/dk_network.h"
#include "dk_collocation.h"
#include "dk_pde_problem.h"

typedef struct dk_pde_task_settings {
    const dk_pde_problem *problem;
    dk_pde_params params;
    dk_dtype dtype;
    unsigned long long seed;
    double alpha;
    long interior, boundary;       /* global point counts */
    dk_sampling sampling;
    long resample_every;           /* 0 = never */
    long eval_grid, eval_points;
    int rank, world_size;
} dk_pde_task_settings;

typedef struct dk_pde_task {
    const dk_pde_problem *problem;
    dk_pde_params params;
    dk_dtype dtype;
    unsigned long long seed;
    double alpha;
    int dim;                       /* network inputs */
    double lo[DK_PDE_MAX_DIM + 1], hi[DK_PDE_MAX_DIM + 1];
    bool face[2 * (DK_PDE_MAX_DIM + 1)];
    dk_sampling sampling;
    dk_collocation *points;        /* the generator of the training points */
    long resample_every, epoch;    /* epoch of the points now held (-1 before the first) */
    long n_int, n_bnd, n_eval;     /* global counts */
    long int_begin, local_int;     /* this rank's interior points: global indices [begin, begin + local) */
    long bnd_begin, local_bnd;
    long eval_begin, local_eval;
    void *x_int, *x_bnd, *g_bnd;   /* [local][dim], [local][dim], [local] (run dtype) */
    void *x_eval;                  /* [local_eval][dim] */
    double *u_eval;                /* exact solution at the evaluation points */
    double solution_rms;           /* rms of the exact solution over the domain (probe points) */
    size_t n_params;
    void *grad_sum;                /* [n_params] gradient accumulated over chunks */
    void *gu, *gu1, *gu2;          /* [chunk], [chunk][dim], [chunk][dim] loss gradients */
    double *res_scratch;           /* [3 dim + 1] residual partials */
    long chunk;                    /* rows per network call */
    char description[256];         /* e.g. "poisson2d: u_xx + u_yy = f on [-1,1]^2 ..." */
} dk_pde_task;

dk_err dk_pde_task_create(dk_pde_task **out, const dk_pde_task_settings *settings);
void dk_pde_task_destroy(dk_pde_task **task);

/* Rows per network call the task wants: bounded so that the jet buffers of the widest
 * layer stay near 32 MB (they grow with rows x inputs x width), 8 times that on a GPU
 * (`on_gpu`), where fewer, larger chunks mean fewer kernel launches per step. */
long dk_pde_task_max_rows(const dk_pde_task *task, const int *widths, int n_widths, int on_gpu);

/* Allocates the gradient and chunk buffers for net (max_batch rows, n_params parameters)
 * and generates the points of epoch 0. Call once, before the first loss. */
dk_err dk_pde_task_bind(dk_pde_task *task, const dk_network *net);

/* After a grid change re-laid out the parameters: reallocates the gradient sum for the
 * network's new parameter count. Points, epoch and chunking are kept (the batch capacity
 * must not change). */
dk_err dk_pde_task_rebind(dk_pde_task *task, const dk_network *net);

/* Samples of the network inputs for a grid update: sample j (j < n_samples <= N_int) is
 * interior point floor(j * N_int / n_samples), as pykan's PDE example updates from its
 * interior points. Not the boundary points: on a face of the box one coordinate is the
 * same for all of them, and such ties would pile quantile knots up at the box's edges,
 * where the refit's second derivatives (the PDE residual's) then blow up. Writes the samples this rank owns into x[j][dim] (float64) and leaves
 * the other rows untouched, so that summing zero-filled buffers over ranks gives the whole
 * set in the same order for any world size. */
void dk_pde_task_grid_samples(const dk_pde_task *task, long n_samples, double *x);

/* Regenerates this rank's collocation points if `step` (1-based) starts a new epoch;
 * returns true when it did (an L-BFGS history is then stale). */
bool dk_pde_task_prepare_step(dk_pde_task *task, long step);

/* Makes the task hold the points of `epoch` (a resumed run continues with the epoch its
 * checkpoint held, so that the next dk_pde_task_prepare_step behaves as it would have in
 * the uninterrupted run). Needs dk_pde_task_bind first. */
dk_err dk_pde_task_set_epoch(dk_pde_task *task, long epoch);

/* This rank's share of the loss over the GLOBAL point counts: writes the gradient with
 * respect to the parameters into net->grads[0..n_params) and the interior and boundary
 * terms to *interior and *boundary (their sum is the return value). Summing over ranks
 * gives the global loss and gradient. */
double dk_pde_task_loss(dk_pde_task *task, dk_network *net, double *interior, double *boundary);

/* For a linear problem (dk_pde_problem.linear): coef[0] = c0, coef[1 + a] = c1[a],
 * coef[1 + dim + a] = c2[a] (1 + 2 dim values), and the source f(x) = -r(x, 0, 0, 0) at
 * this rank's current interior points, f[local_int]. DK_ERR_USAGE for a nonlinear problem. */
dk_err dk_pde_task_linear_form(const dk_pde_task *task, double *coef, double *f);

/* This rank's sums over its evaluation points: sum (u - u*)^2, sum u*^2 and max |u - u*|. */
void dk_pde_task_evaluate(const dk_pde_task *task, dk_network *net, double *sse, double *ss_exact, double *max_err);

/* Whether the relative L2 error sqrt(sse / ss_exact) is defined for the global sum
 * ss_exact = sum u*^2: not where the exact solution vanishes, to rounding, at every
 * evaluation point (its rms there below DK_PDE_EVAL_MIN_RELATIVE_RMS times its rms over the
 * domain, e.g. the corners of a 2 x 2 grid for sin(pi x) sin(pi y)). The quotient would be
 * rounding noise over rounding noise (about 1e31 in that example), not an accuracy. */
#define DK_PDE_EVAL_MIN_RELATIVE_RMS 1e-10
bool dk_pde_task_rel_l2_defined(const dk_pde_task *task, double ss_exact);

#endif

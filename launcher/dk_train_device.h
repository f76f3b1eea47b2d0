/* The GPU side of a training run (CUDA backend): internal to the launcher.
 *
 * A run on the CPU never calls these (r->dev is NULL). On a GPU the host structures stay
 * the run's record (network layout and grids, Adam moments, L-BFGS state, task points)
 * and the device holds working copies: the network mirror (layers/dk_network_cuda.h), the
 * task's data, the optimiser state and the loss accumulators. A training step then runs
 * entirely on the GPU: forward, loss and its derivatives, backward, the all-reduce (NCCL
 * or MPI staging) and the update; only the four reduced scalars (loss terms and the
 * checkpoint control word) come back to the host. The host copies are refreshed
 * (dk_train_device_to_host) before anything reads them: grid changes, checkpoints, the
 * final outputs; and the device is refreshed from them after a restore or a grid change.
 *
 * dk_train_device.c holds the build-independent part (choosing the device); the rest is in
 * dk_train_device_cuda.c, built only with the CUDA backend.
 */
#ifndef DK_TRAIN_DEVICE_H
#define DK_TRAIN_DEVICE_H

#include "../optim/dk_vec_ops.h"
#include "dk_train_run.h"

/* Chooses this rank's device from [dist] device (every rank agrees on CPU or GPU and on
 * NCCL or MPI), makes the GPU current, and for a GPU run creates r->dev with its stream
 * and enables device collectives on the communicator. Collective. */
dk_err dk_train_device_open(dk_run *r, int *local_failure);

/* The float64 vector operations of the GPU (for dk_lbfgs_create_ops), and the device
 * L-BFGS vectors plus host copies of its history, after each dk_lbfgs creation. */
const dk_vec_ops *dk_train_device_vec_ops(dk_run *r);
dk_err dk_train_device_lbfgs_alloc(dk_run *r);

/* (Re)binds the device state to the run's current network, task and optimisers: creates
 * the network mirror, uploads parameters, grids, task data and optimiser state. At the end
 * of setup (after a restore) and after every grid extension. */
dk_err dk_train_device_bind(dk_run *r);

/* New task points (a PDE resample) on the host: upload them. */
dk_err dk_train_device_points_changed(dk_run *r);

/* Device -> host: parameters, grids, Adam moments, the L-BFGS iterate, gradient and
 * history; host -> device: the same back (after a grid update changed them). */
dk_err dk_train_device_to_host(dk_run *r);
dk_err dk_train_device_from_host(dk_run *r);

/* The global loss and gradient on the GPU (see global_loss in dk_train_loop.c): this
 * rank's loss terms and gradient, the control word, one all-reduce; *sums receives the
 * reduced total, interior, boundary and control word. */
dk_err dk_train_device_global_loss(dk_run *r, long step, bool full, double sums[DK_N_SLOTS]);

/* One Adam update of the device parameters with the device gradient. */
dk_err dk_train_device_adam(dk_run *r, double lr);

/* L-BFGS on the GPU: the iterate and gradient (float64, device), the objective that sets
 * the device parameters from x, and the transfers of the iterate to and from the
 * parameters. */
double *dk_train_device_lbfgs_x(dk_run *r);
double *dk_train_device_lbfgs_g(dk_run *r);
dk_err dk_train_device_params_to_x(dk_run *r, double *x);
dk_err dk_train_device_x_to_params(dk_run *r, const double *x);
dk_err dk_train_device_grads_to_g(dk_run *r, double *g);

/* The L-BFGS history as host arrays (refreshed by dk_train_device_to_host), for the
 * checkpoint writer and the restore. */
void dk_train_device_lbfgs_view(dk_run *r, dk_lbfgs_state *out);

/* This rank's evaluation sums on the GPU: fit: sums[0] = SSE on its test rows; PDE:
 * sums[0] = sum (u - u*)^2, sums[1] = sum u*^2, *max_err = max |u - u*|. */
dk_err dk_train_device_evaluate(dk_run *r, double sums[2], double *max_err);

/* Frees the device state (and r->dev). */
void dk_train_device_close(dk_run *r);

#endif

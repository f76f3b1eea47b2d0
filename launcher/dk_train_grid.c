/* Grid changes during training: the stage schedule's extensions (G -> G') and the grid
 * updates from samples.
 *
 * Both run on every rank from identical inputs: the parameters are identical after every
 * update, and the samples of a grid update are gathered into one set that is the same,
 * element for element, on every rank (each sample is owned by exactly one rank, the others
 * contribute zeros, and a sum with zeros is exact). The refits are least squares through
 * LAPACK, though, and OpenBLAS chooses its kernels by the CPU it runs on: ranks on nodes of
 * different CPU types would round differently. So rank 0's new knots and coefficients are
 * broadcast, one message per grid change. The run's final hash check (dk_train.c) covers
 * grids as well as parameters.
 *
 * With checkpoints (their manifest and the directory listing of pruning), extensions are
 * the only places after setup that allocate: a new network at each stage change, and the
 * grid updates' scratch grown to the new size. A grid update, an Adam step and an L-BFGS
 * step allocate nothing (tests/mpi/test_step_allocations.sh counts). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dk_train_device.h"
#include "dk_train_run.h"

dk_err dk_train_grid_setup(dk_run *r)
{
    const dk_config *cfg = r->cfg;
    dk_config_grid_schedule(cfg, &r->schedule);
    for (int s = 0; s < r->schedule.n_stages; s++)
        r->stages[s] = (dk_stage){.G = r->schedule.G[s], .planned = r->schedule.updates[s], .loss_before = NAN,
                                  .loss_after = NAN, .refine_change = NAN, .loss = NAN};
    if (cfg->grid_update_every == 0)
        return DK_OK;
    long available = r->pde ? r->pde->n_int : r->fit->train_size; /* dk_pde_task_grid_samples */
    r->n_grid_samples = cfg->grid_update_samples < available ? cfg->grid_update_samples : available;
    DK_CALL(DK_CALLOC(r->grid_samples, (size_t)r->n_grid_samples * (size_t)r->net->widths[0], "grid update samples"));
    /* All of an update's memory now: a run that cannot have it fails at start-up, not at
     * its first update hours later, and the updates allocate nothing. */
    DK_CALL(dk_network_grid_ws_create(&r->grid_ws));
    return dk_network_grid_ws_reserve(r->grid_ws, r->net, r->n_grid_samples);
}

dk_err dk_train_gather_grid_samples(dk_comm *comm, const dk_fit_task *fit, const dk_pde_task *pde, long n, int d,
                                    double *x)
{
    memset(x, 0, sizeof(double) * (size_t)n * (size_t)d);
    if (pde)
        dk_pde_task_grid_samples(pde, n, x);
    else
        dk_fit_task_grid_samples(fit, n, x);
    return dk_comm_allreduce_sum(comm, x, (size_t)n * (size_t)d, DK_F64, DK_MEM_HOST);
}

/* Every rank takes rank 0's parameters and knots (see above). */
static dk_err share_rank0_model(dk_run *r)
{
    const size_t es = dk_dtype_size(r->net->dtype);
    DK_CALL(dk_comm_broadcast(r->comm, r->net->params, r->net->n_params * es, 0, DK_MEM_HOST));
    DK_CALL(dk_comm_broadcast(r->comm, r->net->state, r->net->n_state * es, 0, DK_MEM_HOST));
    return DK_OK;
}

void dk_train_note_grid_rise(dk_run *r, double before, double after, bool extension)
{
    if (before > 0.0 && after / before > r->grid_rise) {
        r->grid_rise = after / before;
        r->grid_rise_loss = after;
        r->grid_rise_step = r->step;
        r->grid_rise_extension = extension;
    }
}

dk_err dk_train_grid_update(dk_run *r)
{
    const long n = r->n_grid_samples;
    DK_CALL(dk_train_gather_grid_samples(r->comm, r->fit, r->pde, n, r->net->widths[0], r->grid_samples));
    double before, after;
    DK_CALL(dk_train_full_loss(r, &before));
    /* All-reduced like every loss: a non-finite one (a run that diverged since the last
     * log) stops every rank alike, before the refit would fail on non-finite samples with a
     * message that hides the cause. */
    if (!isfinite(before))
        DK_CALL(dk_train_loss_not_finite(r, before, ", before the grid update"));
    dk_grid_update_report rep;
    memset(&rep, 0, sizeof rep);
    /* The update runs on the host copy (it is rare and needs LAPACK); a GPU run moves the
     * model there and back. */
    if (r->dev)
        DK_CALL(dk_train_device_to_host(r));
    DK_CALL(dk_network_update_grid(r->net, r->grid_ws, n, r->grid_samples, r->cfg->grid_eps, &rep));
    DK_CALL(share_rank0_model(r));
    if (r->dev)
        DK_CALL(dk_train_device_from_host(r));
    DK_CALL(dk_train_full_loss(r, &after));
    /* The knots moved under the coefficients: old curvature pairs mean nothing now. Adam's
     * moments are kept, as in pykan, whose optimizer survives its grid updates. */
    r->lbfgs_fresh = true;
    r->grid_updates++;
    dk_train_note_grid_rise(r, before, after, false);
    if (r->rank == 0) {
        printf("grid update at step %ld (G %d, %ld samples): loss %.6e -> %.6e, largest spline change at the "
               "samples %.2e, between them %.2e\n",
               r->step, r->net->G, n, before, after, rep.max_change, rep.max_change_between);
        /* Seen on PDEs above all: the refit matches the splines' values at the samples, not
         * the derivatives the residual uses. */
        if (before > 0.0 && after > 10.0 * before)
            printf("  the update raised the loss %.3g-fold: the knots moved to the samples' quantiles and the "
                   "splines were refitted to their values%s; more [grid] update_samples (now %ld) constrain the "
                   "refit between samples, an earlier update_until or update_every = 0 updates less\n",
                   after / before, r->pde ? ", not to the derivatives the PDE residual uses" : "", n);
        if (rep.kept || rep.eps_raised || rep.underdetermined || rep.anchored)
            printf("  %d input%s kept, %d with grid_eps raised, %d underdetermined, %d refitted with anchors: %s\n",
                   rep.kept, rep.kept == 1 ? "" : "s", rep.eps_raised, rep.underdetermined, rep.anchored, rep.notes);
        fflush(stdout);
    }
    const char *const names[] = {"samples", "loss_before", "loss_after", "max_change", "max_change_between",
                                 "inputs_kept", "inputs_eps_raised", "inputs_underdetermined", "inputs_anchored"};
    const double values[] = {(double)n, before, after, rep.max_change, rep.max_change_between,
                             rep.kept, rep.eps_raised, rep.underdetermined, rep.anchored};
    DK_CALL(dk_train_log_event(r, "grid_update", 9, names, values));
    return DK_OK;
}

dk_err dk_train_grid_extend(dk_run *r, int stage)
{
    dk_stage *st = &r->stages[stage];
    const int G_old = r->net->G;
    const size_t n_old = r->net->n_params;
    DK_CALL(dk_train_full_loss(r, &st->loss_before));
    if (!isfinite(st->loss_before)) /* as before a grid update */
        DK_CALL(dk_train_loss_not_finite(r, st->loss_before, ", before the grid extension"));
    /* It is also the loss the stage ended with: an Adam stage's last logged loss is its
     * batch's before the last update, which would pair a minibatch of the parameters
     * before it with the evaluation of those after (the last stage: dk_train_optimise). */
    r->stages[stage - 1].loss = st->loss_before;
    dk_network *fine = NULL;
    if (r->dev)
        DK_CALL(dk_train_device_to_host(r));
    /* Every rank refines the same model, so a refinement the kernels cannot use (knots
     * too close, dk_network_refine) fails on all of them alike: agreed, it is reported once
     * and the ranks end together instead of through an abort. */
    const dk_err refined = dk_network_refine(r->net, st->G, &fine, &st->refine_change);
    int report = 0;
    const dk_err agreed = dk_comm_agree(r->comm, refined, &report);
    if (agreed != DK_OK) {
        dk_network_destroy(&fine);
        return dk_error_mark_agreed(dk_error_push(refined != DK_OK ? refined : agreed, __FILE__, __LINE__, __func__));
    }
    dk_network_destroy(&r->net);
    r->net = fine;
    DK_CALL(share_rank0_model(r));
    if (r->pde)
        DK_CALL(dk_pde_task_rebind(r->pde, r->net));
    if (r->grid_ws) /* the updates of the new grid size */
        DK_CALL(dk_network_grid_ws_reserve(r->grid_ws, r->net, r->n_grid_samples));
    /* The coefficient layout changed: every optimiser starts afresh, as pykan's fit does
     * with its new optimizer after refine. */
    DK_CALL(dk_train_create_optimisers(r));
    if (r->dev)
        DK_CALL(dk_train_device_bind(r));
    r->lbfgs_fresh = true;
    DK_CALL(dk_train_full_loss(r, &st->loss_after));
    dk_train_note_grid_rise(r, st->loss_before, st->loss_after, true);
    /* A loss of exactly 0 (targets the initial model fits) moves by 0%, not by NaN%. */
    const double rel = st->loss_before != 0.0 ? (st->loss_after - st->loss_before) / st->loss_before
                       : st->loss_after == 0.0 ? 0.0 : INFINITY;
    if (r->rank == 0) {
        printf("grid extension at step %ld: G %d -> %d, %zu -> %zu parameters, loss %.6e -> %.6e (%+.3g%%), "
               "largest spline change %.2e\n",
               r->step, G_old, st->G, n_old, r->net->n_params, st->loss_before, st->loss_after, 100.0 * rel,
               st->refine_change);
        /* The new knots include the old ones exactly when G_new is a multiple of G_old (the
         * outer knots are kept): then the old splines lie in the new space and the refit is
         * exact up to rounding; otherwise it approximates them. */
        if (fabs(rel) > 0.01 && st->G % G_old != 0)
            printf("  the loss moved by more than 1%%: G %d is no multiple of G %d, so the new knots do not include "
                   "the old ones and the refit only approximates the old splines (the change above)%s; a schedule "
                   "in which each G is a multiple of the one before (e.g. 5,10,20) refits exactly\n",
                   st->G, G_old, r->pde ? ", which the PDE residual's derivatives magnify" : "");
        else if (fabs(rel) > 0.01)
            printf("  the loss moved by more than 1%% although the new knots include the old ones (the refit is "
                   "exact up to rounding; the change above)\n");
        fflush(stdout);
    }
    const char *const names[] = {"grid_before", "parameters", "loss_before", "loss_after", "max_change"};
    const double values[] = {G_old, (double)r->net->n_params, st->loss_before, st->loss_after, st->refine_change};
    DK_CALL(dk_train_log_event(r, "grid_extension", 5, names, values));
    return DK_OK;
}

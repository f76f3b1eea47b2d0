/* What rank 0 tells the user about a run on the console: its header (task, data,
 * device, warnings about the set-up), a divergence that did not stop it, and how to resume
 * a run stopped by a signal. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dk_signals.h"
#include "dk_train_device.h"
#include "dk_train_run.h"

void dk_train_print_header(const dk_run *r)
{
    const dk_config *cfg = r->cfg;
    printf("distkan %s: %d rank%s (%s), task: %s\n", DISTKAN_VERSION, r->world, r->world == 1 ? "" : "s",
           dk_comm_backend_name(r->comm), r->pde ? r->pde->description : r->fit->description);
    dk_config_print_unread(cfg, stdout, "");
    if (r->cpu_warning[0])
        printf("warning: %s\n", r->cpu_warning);
    if (r->pde) {
        const dk_pde_task *t = r->pde;
        printf("collocation: %ld interior + %ld boundary points (%s%s), %ld evaluation points\n", t->n_int, t->n_bnd,
               cfg->pde_sampling == DK_SAMPLING_HALTON ? "Halton" : "uniform",
               cfg->pde_resample_every ? ", resampled" : "", t->n_eval);
        /* Inputs beyond the grid range see the splines fade, and past the extension knots
         * only the base branch: say so rather than train badly. */
        int outside = 0, first = -1;
        for (int a = 0; a < t->dim; a++)
            if (t->lo[a] < cfg->grid_range[0] || t->hi[a] > cfg->grid_range[1]) {
                outside++;
                first = first < 0 ? a : first;
            }
        if (outside > 0)
            printf("warning: the domain leaves [model] grid_range [%g, %g]: input %d spans [%g, %g] (%d of %d inputs "
                   "outside); spline terms fade out beyond the grid, and vanish k knot intervals past it: set "
                   "grid_range to cover the domain%s\n",
                   cfg->grid_range[0], cfg->grid_range[1], first, t->lo[first], t->hi[first], outside, t->dim,
                   cfg->grid_update_every ? "" : " or enable grid updates ([grid] update_every)");
        char caveat[400];
        const dk_pde_params params = dk_config_pde_params(cfg);
        if (t->problem->caveat && t->problem->caveat(&params, caveat, sizeof caveat))
            printf("warning: %s\n", caveat);
        /* A quadratic spline's second derivative is piecewise constant: through a hidden
         * layer the residual then jumps as parameters move, and a line search stalls at a
         * jump (docs/pde.md). */
        if (cfg->k == 2 && cfg->n_widths > 2 && cfg->optimizer != DK_OPT_ADAM && cfg->lbfgs_steps > 0)
            printf("warning: k = 2 with a hidden layer: the splines' second derivatives, which the PDE residual uses, "
                   "jump at the knots, and L-BFGS tends to stop early at such a jump (\"no progress\"); k = 3 or "
                   "more gives smooth second derivatives\n");
    } else {
        printf("global batch %ld (%ld per step per rank on rank 0), train %ld, test %ld\n", r->fit->batch,
               r->fit->local_batch, r->fit->train_size, r->fit->test_size);
        if (r->fit->warning[0])
            printf("warning: %s\n", r->fit->warning);
        if (r->data_range_warning[0])
            printf("warning: %s\n", r->data_range_warning);
    }
    const char *all_reduce = !r->dev           ? ""
                             : r->world == 1   ? ", all-reduce: none (one rank)"
                             : dk_comm_device_backend(r->comm) == DK_COMM_NCCL ? ", all-reduce: NCCL"
                                                                               : ", all-reduce: MPI staged through host memory";
    printf("device: %s (%s)%s%s%s\n", r->device.name, r->device.why, all_reduce, r->dev && r->device.shared ? ": " : "",
           r->dev && r->device.shared ? r->device.sharing : "");
    /* device = cpu with comm = nccl is a static contradiction, found by the config's
     * unused-key check; auto falling back to the CPU is known only here. */
    if (!r->dev && cfg->comm == DK_COMM_CHOICE_NCCL)
        printf("warning: [dist] comm = nccl is not used: the ranks compute on CPUs, whose gradients are summed with "
               "MPI\n");
    dk_network_view(r->net, stdout);
    if (r->schedule.n_stages > 1) {
        printf("grid schedule:");
        for (int s = 0; s < r->schedule.n_stages; s++)
            printf("%s G %d for %ld updates", s ? "," : "", r->stages[s].G, r->stages[s].planned);
        printf("\n");
    }
    if (r->n_grid_samples > 0) {
        printf("grid updates from %ld samples (grid_eps %g) before update 0, %ld, %ld, ... of every stage", r->n_grid_samples,
               cfg->grid_eps, cfg->grid_update_every, 2 * cfg->grid_update_every);
        if (cfg->grid_update_until)
            printf(" below %ld", cfg->grid_update_until);
        printf("\n");
    }
    fflush(stdout);
}

/* A loss that blew up but stayed finite stops nothing (a non-finite one does, exit 1):
 * the run ends normally, so say it. Training lowers the loss, grid extensions keep it;
 * a hundredfold rise is a diverging run (a learning rate too high, beta2 = 0), not noise
 * between mini-batches. */
void dk_train_warn_if_diverged(const dk_run *r)
{
    if (r->first_loss_step < 0 || !(r->first_loss > 0.0) || !(r->loss.total > 100.0 * r->first_loss))
        return;
    char advice[320];
    /* A grid change's jump is not the optimiser's doing, unless the loss rose a hundredfold
     * again after it. */
    if (r->grid_rise >= 10.0 && !(r->loss.total > 100.0 * r->grid_rise_loss))
        snprintf(advice, sizeof advice,
                 "the grid %s at step %ld raised the loss %.3g-fold (see its note above)%s", r->grid_rise_extension
                 ? "extension" : "update", r->grid_rise_step, r->grid_rise, r->grid_rise_extension
                 ? ": a schedule in which each G is a multiple of the one before refits exactly"
                 : ": update from more samples ([grid] update_samples), or less often ([grid] update_every, "
                   "update_until)");
    else if (r->cfg->optimizer == DK_OPT_LBFGS) /* its line search accepts no rise */
        snprintf(advice, sizeof advice, "L-BFGS accepts only decreasing steps, so look at the grid updates ([grid] "
                 "update_every) and new collocation points ([pde] resample_every)");
    else
        snprintf(advice, sizeof advice, "lower [train] lr (now %g) or check [train] beta1/beta2 and the data",
                 r->cfg->lr);
    fprintf(stderr, "distkan: warning: the training loss rose from %.6e before step %ld to %.6e after step %ld: the run "
            "diverged; %s\n", r->first_loss, r->first_loss_step, r->loss.total, r->step, advice);
}

/* Rank 0, after a stop signal: how to continue. The command line itself is not known
 * here, and only all of it (the --set options, --run-dir, mpirun's arguments) finds the
 * same directories again. */
void dk_train_print_stop(const dk_run *r)
{
    /* The ranks share that a stop was asked for, not by which signal: only rank 0's own
     * is known here. */
    const int sig = dk_signals_stop_requested();
    /* The option may be given once: a job script with --resume auto or latest needs no
     * change, one that named a checkpoint names the newest instead. */
    const char *opt = r->resume_option;
    char how[DK_PATH_MAX + 96];
    if (!opt)
        snprintf(how, sizeof how, "the same command line plus --resume latest");
    else if (!strcmp(opt, "auto") || !strcmp(opt, "latest"))
        snprintf(how, sizeof how, "the same command line (its --resume %s goes on from here)", opt);
    else
        snprintf(how, sizeof how, "the same command line with --resume latest in place of --resume %s", opt);
    /* Relative paths are the working directory's: a job script that cds elsewhere before
     * resuming must know which one (a relative [checkpoint] dir moves with it). */
    char cwd[DK_PATH_MAX + 32] = "";
    if (r->cfg->run_dir[0] != '/' || r->ckpt_dir[0] != '/') {
        char here[DK_PATH_MAX];
        if (getcwd(here, sizeof here))
            snprintf(cwd, sizeof cwd, "; from %s", here);
    }
    printf("stopped by %s at step %ld of %ld; resume with: %s (run directory %s, checkpoints in %s%s)\n",
           sig == SIGUSR1 ? "SIGUSR1" : sig == SIGTERM ? "SIGTERM" : "a stop signal to another rank", r->step,
           r->total_steps, how, r->cfg->run_dir, r->ckpt_dir, cwd);
    fflush(stdout);
}

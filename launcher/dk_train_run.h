/* The state of one `distkan train` run, shared by its two halves: dk_train.c (setup,
 * outputs, the entry point) and dk_train_loop.c (loss, optimiser phases, evaluation and
 * logging). Internal to the launcher. */
#ifndef DK_TRAIN_RUN_H
#define DK_TRAIN_RUN_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "../dist/dk_comm.h"
#include "../layers/dk_network.h"
#include "../optim/dk_adam.h"
#include "../optim/dk_lbfgs.h"
#include "../optim/dk_lr_schedule.h"
#include "../tasks/dk_fit_task.h"
#include "../tasks/dk_pde_task.h"
#include "dk_config.h"

/* What an evaluation measured: test_rmse for fitting, the errors against the exact
 * solution for PDEs (NaN where not applicable). */
typedef struct dk_eval {
    double test_rmse;
    double rel_l2, max_err, mse;
} dk_eval;

/* The global loss of the last evaluation and, for PDEs, its two terms. */
typedef struct dk_loss {
    double total, interior, boundary;
} dk_loss;

typedef struct dk_run {
    const dk_config *cfg;
    dk_comm *comm;
    int rank, world;
    dk_fit_task *fit;     /* exactly one of fit and pde */
    dk_pde_task *pde;
    dk_network *net;
    dk_adam *adam;        /* when the optimizer has an Adam phase */
    dk_lbfgs *lbfgs;      /* when it has an L-BFGS phase */
    double *lbfgs_x, *lbfgs_g; /* the L-BFGS iterate and gradient (float64) */
    void *grad_sum;       /* fit with L-BFGS: gradient summed over the training batches */
    dk_lr_schedule lr;
    void *dout;           /* fit: d loss / d output for this rank's batch */
    FILE *metrics;        /* rank 0 only */
    double t_start;
    long step;            /* updates done, Adam and L-BFGS together */
    long total_steps;     /* updates planned */
    long adam_steps, lbfgs_steps;
    const char *lbfgs_stop; /* why the L-BFGS phase ended ("steps" when it ran them all) */
    double samples_per_eval; /* global samples one loss evaluation touches */
    double samples_since_log;
    double t_log;
    long last_logged;
    dk_loss loss;
    dk_eval eval;
} dk_run;

static inline double dk_train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the optimiser phases the config asks for, logging as it goes. */
dk_err dk_train_optimise(dk_run *r);

/* Evaluates the model on the test set (fit) or against the exact solution (PDE). */
dk_err dk_train_evaluate(dk_run *r, dk_eval *out);

#endif

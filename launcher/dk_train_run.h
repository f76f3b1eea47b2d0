/* The state of one `distkan train` run, shared by the files that make up the command:
 * dk_train.c (setup, outputs, the entry point), dk_train_loop.c (loss, optimiser phases,
 * evaluation and logging), dk_train_grid.c (grid extensions and updates),
 * dk_train_checkpoint.c (checkpoints, and setting an earlier run's files aside),
 * dk_train_resume.c (resuming) and, through dk_train_device.h, dk_train_device*.c (the GPU
 * side). Internal to the launcher. */
#ifndef DK_TRAIN_RUN_H
#define DK_TRAIN_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "../common/dk_device.h"
#include "../dist/dk_comm.h"
#include "../layers/dk_network.h"
#include "../optim/dk_adam.h"
#include "../optim/dk_lbfgs.h"
#include "../optim/dk_lr_schedule.h"
#include "../tasks/dk_fit_task.h"
#include "../tasks/dk_pde_task.h"
#include "dk_config.h"
#include "dk_model_file.h"

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

/* One grid stage (layers/dk_network.h, dk_network_refine): its size, its updates and what
 * it reached, for the log and summary.json. */
typedef struct dk_stage {
    int G;
    long first_step;          /* updates done before the stage */
    long planned, done;       /* updates planned and done (fewer when L-BFGS stopped early) */
    double loss_before, loss_after; /* full objective either side of the refinement (NaN for stage 0) */
    double refine_change;     /* largest spline change at the refinement points (NaN for stage 0) */
    double loss;              /* the loss at the end of the stage */
    dk_eval eval;             /* and the evaluation there */
} dk_stage;

/* The gradient buffer's spare slots after the parameters (dk_network.h), summed over ranks
 * by the gradient's own all-reduce: the training loss, its PDE interior and boundary terms
 * (0 in a fit), and the control word that stops or checkpoints every rank at the same step
 * (dk_train_control_word). One all-reduce per step carries all of it. */
enum { DK_SLOT_LOSS, DK_SLOT_INTERIOR, DK_SLOT_BOUNDARY, DK_SLOT_CONTROL, DK_N_SLOTS };
_Static_assert((int)DK_N_SLOTS == (int)DK_GRAD_EXTRA, "the network's spare gradient slots are these");

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
    char lbfgs_stop[64];  /* why the L-BFGS phase ended ("steps" when it ran them all) */
    double samples_per_eval; /* global samples one loss evaluation touches */
    double samples_since_log;
    double t_log;
    long last_logged;
    dk_loss loss;
    double first_loss;    /* the first training loss of the run (over resumes), at step */
    long first_loss_step; /* ... first_loss_step; -1 before */
    /* The largest factor by which a grid change raised the loss (0: none), at step
     * grid_rise_step, an extension or an update: what a divergence is blamed on. */
    double grid_rise, grid_rise_loss; /* ... and the loss right after it */
    long grid_rise_step;
    bool grid_rise_extension;
    dk_eval eval;
    long adam_done;       /* Adam updates so far (the learning-rate schedule's clock) */
    bool lbfgs_fresh;     /* L-BFGS must restart: first use, new points, new grid */
    double lbfgs_f;       /* the loss at the L-BFGS iterate */
    /* Grid schedule and grid updates from samples (dk_train_grid.c). */
    dk_grid_schedule schedule; /* the plan, from the config */
    int stage;            /* the current one of schedule.n_stages */
    dk_stage stages[DK_GRID_MAX_STAGES];
    long n_grid_samples;  /* global samples per grid update (0 = no updates) */
    double *grid_samples; /* [n_grid_samples][inputs], identical on every rank after gathering */
    dk_network_grid_ws *grid_ws; /* the updates' scratch, reserved for the network in use */
    long grid_updates;    /* grid updates done */
    long lbfgs_dropped;   /* L-BFGS updates dropped by early stops (so total_steps shrank) */
    /* Checkpoints (dk_train_checkpoint.c) and resuming (dk_train_resume.c). */
    char ckpt_dir[DK_PATH_MAX];
    double control;       /* the control word of the last loss all-reduce (dk_train_control_word) */
    double t_last_ckpt;   /* rank 0: when the last checkpoint was written, or the run started */
    double t_lock_check;  /* rank 0: when the directory locks were last checked (dk_run_lock_recheck) */
    long last_ckpt_step;  /* step of the last checkpoint written by this run (-1: none) */
    /* Rank 0: an earlier history's checkpoints and results are set aside when this run
     * first saves something (dk_train_checkpoint_set_aside_history), not at its start. */
    bool history_set_aside;
    char aside_dir[DK_PATH_MAX]; /* where they go ("" until made) */
    uint64_t log_bytes;   /* rank 0: bytes of metrics.jsonl.partial covered by log_crc32c */
    uint32_t log_crc32c;  /* ... their CRC-32C (checkpoints record the log they continue) */
    uint64_t writer;      /* rank 0: this process's random id, in its checkpoints and their event lines (0: not
                           * drawn yet) */
    bool stopped;         /* a stop signal ended the run early, after a checkpoint */
    bool resumed;         /* the state was restored from a checkpoint */
    bool resumed_in_own_dir; /* rank 0: ... from one in this run's checkpoint directory */
    long resumed_step;    /* rank 0: the step it resumed from (the history it continues ends there) */
    bool carried_from_partial; /* rank 0: its log lines came from the run directory's .partial */
    bool warned_rel_l2_undefined; /* the PDE evaluation set cannot give a relative error */
    bool warned_test_rmse_not_finite;
    bool warned_stdout_gone; /* rank 0: the progress output failed (a closed pipe, a full disk) */
    char data_range_warning[640]; /* fit: the training inputs leave the grid range ("" if not) */
    char cpu_warning[400];        /* more OpenMP threads than cores ("" if not) */
    /* Fit from a CSV: the value of largest magnitude in the training rows of all ranks, its
     * line in the file and 0-based column (data_largest_line 0: none), which the errors of a
     * non-finite training loss name (dk_train_largest_value_note). */
    double data_largest;
    long data_largest_line;
    int data_largest_column;
    double last_lr;       /* learning rate of the last Adam update */
    struct dk_resume *resume; /* while a resumed run is set up */
    const char *resume_option; /* --resume as given (NULL: none): the stop hint says what to change */
    /* Device (dk_train_device.h): NULL on the CPU. */
    dk_device_choice device;
    struct dk_device_run *dev;
} dk_run;

static inline double dk_train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall-clock seconds of training so far, over this run and those it resumed. */
static inline double dk_train_wall(const dk_run *r) { return dk_train_now() - r->t_start; }

/* Runs the optimiser phases the config asks for, stage by stage, logging as it goes. */
dk_err dk_train_optimise(dk_run *r);

/* Rank 0's console reports (dk_train_report.c): the run's header before training, a loss
 * that rose a hundredfold yet stayed finite (a warning, the run ends normally), and how to
 * resume after a stop signal. */
void dk_train_print_header(const dk_run *r);
void dk_train_warn_if_diverged(const dk_run *r);
void dk_train_print_stop(const dk_run *r);
/* Rank 0: the run's final outputs, replaced as one set (dk_train_outputs.c): a failure
 * while writing them leaves an earlier run's files in the directory as they were. */
dk_err dk_train_write_outputs(dk_run *r);

/* The full objective at the current parameters (every batch of a fit task, this epoch's
 * points of a PDE), all-reduced; leaves the gradient in net->grads and sets r->loss. */
dk_err dk_train_full_loss(dk_run *r, double *loss);
/* The error of a non-finite training loss, `loss` at r->step, `where` added after the step
 * (or ""): agreed (dk_error_mark_agreed), since every loss is all-reduced and every rank
 * meets it alike; names the learning rate, and a CSV fit's value of largest magnitude
 * (dk_train_largest_value_note). Always fails. */
dk_err dk_train_loss_not_finite(const dk_run *r, double loss, const char *where);
/* The agreed error for a non-finite loss of the model before any update (its causes are
 * the data, the initialisation or the problem, not the learning rate); a CSV fit's names
 * the data's value of largest magnitude and where it is. */
dk_err dk_train_initial_loss_not_finite(const dk_run *r, double loss);
/* For these messages: before, "of the training rows, the value of largest magnitude is ...,
 * at FILE:LINE, column C ('NAME')", after; or "" where the data are no CSV's. Returns buf. */
const char *dk_train_largest_value_note(const dk_run *r, const char *before, const char *after, char *buf, size_t size);

/* Fresh optimiser state for the current network (zero Adam moments and step, empty
 * L-BFGS history) and the buffers sized by its parameter count; frees any old ones.
 * At setup and after every grid extension. Defined in dk_train.c. */
dk_err dk_train_create_optimisers(dk_run *r);

/* Grid changes (dk_train_grid.c). Setup allocates the sample buffer when the config asks
 * for grid updates. Extension refines the network to stage `stage`'s G, refits every
 * spline, rebinds the task and restarts the optimisers; the update recomputes every
 * layer's knots from the gathered samples and restarts L-BFGS. Both log what they did
 * and are identical on every rank. */
dk_err dk_train_grid_setup(dk_run *r);
dk_err dk_train_grid_extend(dk_run *r, int stage);
dk_err dk_train_grid_update(dk_run *r);
/* Records a grid change that took the full loss from `before` to `after`, if it is the
 * largest rise so far (r->grid_rise). */
void dk_train_note_grid_rise(dk_run *r, double before, double after, bool extension);
/* The n samples of a grid update, [n][d] float64, identical on every rank and for every
 * world size: each rank writes the samples it owns into a zeroed buffer (the task's
 * *_grid_samples) and one all-reduce sums them (adding zeros is exact). */
dk_err dk_train_gather_grid_samples(dk_comm *comm, const dk_fit_task *fit, const dk_pde_task *pde, long n, int d,
                                    double *x);

/* Writes one metrics.jsonl event line (rank 0): {"step": S, "event": NAME, "grid": G, ...}
 * with the given numeric fields. */
dk_err dk_train_log_event(dk_run *r, const char *event, int n_fields, const char *const *names, const double *values);
/* Writes the event line of the checkpoint just saved at r->step (rank 0): its tensor bytes,
 * the seconds it took and r->writer, the line that tells it from other runs' checkpoints
 * (dk_run_formats.h). */
dk_err dk_train_log_checkpoint(dk_run *r, uint64_t bytes, double seconds);

/* Evaluates the model on the test set (fit) or against the exact solution (PDE). */
dk_err dk_train_evaluate(dk_run *r, dk_eval *out);
/* Writes an evaluation's JSON fields, each preceded by sep: test_rmse (fit) or rel_l2,
 * max_err, mse (PDE). Shared by metrics.jsonl and summary.json. */
void dk_train_write_eval(FILE *f, const char *sep, const dk_run *r, const dk_eval *e);

/* Checkpoints (dk_train_checkpoint.c).
 *
 * The control word rides in the gradient all-reduce (the slot after the loss terms), so
 * that deciding when to checkpoint or stop costs no extra communication: each rank adds 2
 * when a stop signal (SIGTERM, SIGUSR1) has reached it, and rank 0 adds 1 when
 * [checkpoint] every_seconds have passed. Every rank sees the same sum after the
 * all-reduce and so takes the same decision at the same step boundary. */
double dk_train_control_word(const dk_run *r);
/* At the end of every update: writes a checkpoint when one is due (every N updates, every
 * N seconds, a stop signal) and sets r->stopped on a stop signal. */
dk_err dk_train_step_boundary(dk_run *r);
/* Writes a checkpoint of the run's whole state (rank 0; the others return at once), then
 * removes the oldest beyond [checkpoint] keep. reason: "every", "every_seconds",
 * "signal", "final". */
dk_err dk_train_checkpoint_save(dk_run *r, const char *reason);
/* An update can overflow the parameters, and the loss that would show it is measured only
 * before the next update: a DK_ERR_NUMERIC error naming the step and the learning rate when
 * a host parameter is not finite. Checked before every checkpoint and the final results,
 * so that distkan never writes such a state (readers refuse one, dk_model_check_values). */
dk_err dk_train_check_params_finite(const dk_run *r);

/* Rank 0, at setup, with the directories locked (dk_run_lock.h) and before the run opens
 * its metrics.jsonl.partial: the unfinished training log of an earlier history that this
 * run does not continue (a fresh run: any such log) is moved into
 * <checkpoint dir>/earlier-<UTC time>/, since the run's own log takes its name. */
dk_err dk_train_checkpoint_set_aside(dk_run *r);
/* Rank 0, before the run first writes a checkpoint or its results (once; later calls do
 * nothing): the checkpoints in the checkpoint directory that this run would overwrite or
 * prune without having written them (all of them for a fresh run; those after the resumed
 * step for a resumed one, e.g. a corrupt newest that was skipped) go to the same place,
 * with a copy of the earlier finished run's results this run will replace, so that no run
 * ever deletes another's work. A run that fails before saving anything leaves them where
 * they were: the earlier run stays usable from its directory (predict, inspect, resume). */
dk_err dk_train_checkpoint_set_aside_history(dk_run *r);

/* Resuming (dk_train_resume.c). dk_train_resume_open (before setup): rank 0 finds the
 * checkpoint ("latest", "auto" or a path), verifies it completely and broadcasts its manifest;
 * every rank checks the config against it. dk_train_resume_grid gives the G the network
 * must be created with. dk_train_resume_restore (after setup): the tensors are read on
 * rank 0 and broadcast, and the counters, stages and data position are restored on every
 * rank. dk_train_resume_close frees what is left. */
dk_err dk_train_resume_open(dk_run *r, const char *spec, int *local_failure);
int dk_train_resume_grid(const dk_run *r);
dk_err dk_train_resume_restore(dk_run *r, int *local_failure);
/* Rank 0, once the run's directories are its own: says what is resumed, and which config
 * keys changed since the checkpoint. */
void dk_train_resume_announce(const dk_run *r);
/* Rank 0: the metrics.jsonl lines up to the checkpoint's step, of the run that wrote it,
 * which the new log starts with (dk_partial_open_seeded); NULL when there are none. */
const char *dk_train_resume_carried_metrics(const dk_run *r);
void dk_train_resume_close(dk_run *r);

/* The run's state tensors: the model's (dk_model_tensors) and the optimiser's. One table
 * serves both saving and restoring, so the two cannot disagree about what a checkpoint
 * holds. */
enum { DK_MAX_STATE_TENSORS = DK_MODEL_TENSORS_PER_LAYER * DK_NETWORK_MAX_LAYERS + 8 };
int dk_train_state_tensors(dk_run *r, dk_state_tensor *out);

#endif

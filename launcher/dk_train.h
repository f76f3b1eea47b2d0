/* `distkan train`: builds the run (network, task, optimiser, schedule) from a resolved
 * configuration and trains it data-parallel on the ranks of comm. */
#ifndef DK_TRAIN_H
#define DK_TRAIN_H

#include "../dist/dk_comm.h"
#include "dk_config.h"

/* --resume auto, before dk_train_run (collective): *resume becomes "auto" (continue the
 * run's newest checkpoint, named auto in messages), the path of the run's newest checkpoint
 * that a run sharing the checkpoint directory set aside, or NULL (a new run); rank 0 looks
 * and says which (dk_train_resume.c). */
dk_err dk_train_resume_resolve_auto(dk_comm *comm, const dk_config *cfg, const char **resume, int *report);

/* Trains as cfg says and writes cfg->run_dir/{metrics.jsonl, summary.json,
 * final_params.bin, final_state.bin, config.ini}, with checkpoints in the checkpoint
 * directory. Collective: every rank calls it. `resume` (NULL: start afresh) is "latest", "auto"
 * (as latest; dk_train_resume_resolve_auto has already turned --resume auto into it, a set-aside path or NULL)
 * or a checkpoint path to continue from. `resume_option`: the --resume option as the user gave
 * it (NULL: none), for the hint printed after a stop.
 *
 * A stop signal (SIGTERM, SIGUSR1; dk_signals.h) ends training at the next step boundary
 * with a checkpoint and returns DK_OK without the final outputs.
 *
 * Errors found while setting up (bad data, a CSV row, a batch that cannot be split) are
 * agreed on by all ranks and returned by every rank, with *local_failure telling whether
 * this rank found it (and so should print it). Errors during training end the job
 * through dk_comm_abort, except agreed ones (dk_error_is_agreed: a non-finite all-reduced
 * loss), which every rank raises alike and returns, with *local_failure set on rank 0. */
dk_err dk_train_run(const dk_config *cfg, dk_comm *comm, const char *resume, const char *resume_option,
                    int *local_failure);

#endif

/* `distkan train`: builds the run (network, task, optimiser, schedule) from a resolved
 * configuration and trains it data-parallel on the ranks of comm. */
#ifndef DK_TRAIN_H
#define DK_TRAIN_H

#include "../dist/dk_comm.h"
#include "dk_config.h"

/* Trains as cfg says and writes cfg->run_dir/{metrics.jsonl, summary.json,
 * final_params.bin, config.ini}. Collective: every rank calls it.
 *
 * Errors found while setting up (bad data, a CSV row, a batch that cannot be split) are
 * agreed on by all ranks and returned by every rank, with *local_failure telling whether
 * this rank found it (and so should print it). Errors during training end the job
 * through dk_comm_abort. */
dk_err dk_train_run(const dk_config *cfg, dk_comm *comm, int *local_failure);

#endif

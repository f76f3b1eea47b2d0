/* Which checkpoints are the history of the run in a run directory.
 *
 * A checkpoint records the training log as it stood when it was written (its length and
 * CRC-32C: Metadata.log_bytes, log_crc32c), and a run's log only grows: a resume carries
 * the lines up to its checkpoint over, a finished run renames metrics.jsonl.partial to
 * metrics.jsonl. So a checkpoint belongs to the run whose log, the run directory's
 * metrics.jsonl or metrics.jsonl.partial, begins with the bytes it recorded; one written
 * before the log's first line (an empty record) to the run whose log begins with that
 * checkpoint's own event line (its step, tensor bytes and writer; an empty log, left by a
 * run killed before its first line, owns none); none to a run
 * directory without a log. Checkpoints of versions that recorded nothing belong to
 * every run.
 *
 * Runs that share a [checkpoint] dir (a scratch directory set in a common config, each run
 * with its own run directory) leave checkpoints of several runs there, and a fresh run sets
 * the others' aside into earlier-<time>/ there: the newest checkpoint is not always the
 * run's own. `--resume latest`, predict, functions and inspect tell them apart with this.
 * Logs set aside into earlier-<time>/ are not asked: a shared directory holds other runs'
 * logs there too, and a checkpoint matching one of them would be taken for this run's. */
#ifndef DK_RUN_HISTORY_H
#define DK_RUN_HISTORY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "../checkpoint/dk_ckpt_dir.h"
#include "../common/dk_error.h"
#include "checkpoint/dk_checkpoint.pb-c.h"

/* *begins: whether the file at path begins with the `bytes` bytes of CRC-32C `crc`. A file
 * that cannot be read is an error naming it as `what` (e.g. "the training log"). */
dk_err dk_log_begins_with(const char *path, uint64_t bytes, uint32_t crc, const char *what, bool *begins);

/* The logs that identify the run in run_dir (see above), found once. */
typedef struct dk_run_logs dk_run_logs;
dk_err dk_run_logs_find(const char *run_dir, dk_run_logs **logs);
void dk_run_logs_free(dk_run_logs **logs);
/* How many logs the run directory has (0: nothing ties a checkpoint to it). */
int dk_run_logs_count(const dk_run_logs *logs);
/* *own: whether the checkpoint of manifest m belongs to the run of logs (above). */
dk_err dk_run_logs_continued_by(const dk_run_logs *logs, const Dk__Manifest *m, bool *own);

/* Whether ckpt_dir is run_dir's own checkpoints/ (however spelled), not a [checkpoint] dir
 * elsewhere that other runs may share. */
bool dk_run_checkpoints_inside(const char *run_dir, const char *ckpt_dir);

/* RUN/.distkan.checkpoints: where a run's checkpoints go when that is not RUN/checkpoints
 * (its absolute path, one line), written when the run starts. config.ini says the same,
 * but only once the run has ended: this lets the tools find a stopped run's checkpoints.
 * dk_run_note_checkpoint_dir writes it (atomically) or, for RUN/checkpoints, removes a
 * stale one; dk_run_noted_checkpoint_dir reads it into dir[capacity], and when it was
 * written into *written (false if there is none). */
#define DK_RUN_CHECKPOINT_NOTE ".distkan.checkpoints"
dk_err dk_run_note_checkpoint_dir(const char *run_dir, const char *ckpt_dir);
bool dk_run_noted_checkpoint_dir(const char *run_dir, char *dir, size_t capacity, struct timespec *written);

/* Whether checkpoint m records the log it continues (Metadata.log_bytes and log_crc32c,
 * an empty log included); older versions recorded none. */
bool dk_ckpt_records_log(const Dk__Manifest *m);

/* *own: whether the log at path continues from checkpoint m: begins with the log m recorded,
 * or with m's own event line where m recorded an empty log (an empty log owns nothing);
 * true for a checkpoint that records no log. A log that cannot be read is an error naming
 * it as `what`. */
dk_err dk_log_continued_by(const char *path, const Dk__Manifest *m, const char *what, bool *own);

/* Whether the log at path begins with checkpoint m's own event line (step, tensor bytes and
 * writer): the log of the run that wrote m before its first line, m recording an empty log. */
bool dk_log_opened_by_checkpoint(const char *path, const Dk__Manifest *m);

/* A log in ckpt_dir's earlier-<time>/ directories (where a fresh run sets the run
 * directory's unfinished log aside), newest first, that begins with the log checkpoint m
 * recorded (for an empty record: with m's own event line): its path in path[cap], *found
 * false if none does. A log that cannot be read is an error naming it as `what`. */
dk_err dk_run_find_set_aside_log(const char *ckpt_dir, const Dk__Manifest *m, const char *what, char *path,
                                 size_t cap, bool *found);

/* Where dk_run_open_checkpoint found the checkpoint it opened. */
typedef enum dk_run_ckpt_found {
    DK_RUN_CKPT_OWN,       /* the newest of the run's own in ckpt_dir (or nothing tells runs apart) */
    DK_RUN_CKPT_SET_ASIDE, /* the run's own newest, in ckpt_dir/earlier-<time>/ (none in ckpt_dir) */
    DK_RUN_CKPT_UNMATCHED, /* none of the run's own anywhere: the newest in ckpt_dir (the log edited, or
                            * replaced by a fresh run that failed before it saved anything) */
    DK_RUN_CKPT_NO_LOG,    /* the run directory has no log (new, or deleted): the newest in ckpt_dir,
                            * which nothing ties to it */
} dk_run_ckpt_found;

/* Opens (verified) the newest checkpoint of the run in run_dir whose checkpoints go to
 * ckpt_dir: its own newest in ckpt_dir, else in the directories earlier runs were set
 * aside into there (newest first), else the newest valid one in ckpt_dir. A run directory
 * without a log whose checkpoints are its own checkpoints/ takes the newest there (OWN). Newer checkpoints
 * of other runs skipped in ckpt_dir are counted in *n_other_newer (the newest of them named
 * in other_newer[capacity]); corrupt ones are skipped with a warning on `warnings`. An
 * error when ckpt_dir holds no valid checkpoint. */
dk_err dk_run_open_checkpoint(const char *run_dir, const char *ckpt_dir, FILE *warnings, dk_ckpt_reader **out,
                              dk_run_ckpt_found *found, int *n_other_newer, char *other_newer, size_t capacity);

#endif

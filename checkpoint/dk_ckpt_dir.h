/* The checkpoints of a run: one directory holding ckpt-<step>.dkc files (the step
 * zero-padded to 12 digits, so that names sort by step), the newest `keep` of them kept.
 *
 * Writers go through dk_ckpt_write (checkpoint/dk_ckpt_file.h), whose temporary files are
 * named "<final name>.tmp.<pid>"; a crash can leave one behind, and dk_ckpt_prune removes
 * such leftovers. One directory belongs to one job at a time. */
#ifndef DK_CKPT_DIR_H
#define DK_CKPT_DIR_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/dk_error.h"
#include "dk_ckpt_file.h"

enum { DK_CKPT_PATH_MAX = 4096 };

/* out = "<dir>/ckpt-<step, 12 digits>.dkc". */
dk_err dk_ckpt_path(char *out, size_t capacity, const char *dir, long step);

typedef struct dk_ckpt_entry {
    long step;
    char path[DK_CKPT_PATH_MAX];
} dk_ckpt_entry;

/* The checkpoint files in dir (names matching ckpt-<digits>.dkc exactly, the step written
 * with 12 digits or more as dk_ckpt_path does; temporary files, a copy named ckpt-40.dkc
 * and anything else are ignored), newest step first, in a malloc'ed array the caller
 * frees. A directory that does not exist has no checkpoints (*n = 0, not an error). */
dk_err dk_ckpt_list(const char *dir, dk_ckpt_entry **entries, int *n);

/* The step a file name (no directory) gives, "ckpt-<digits>.dkc" as above, or -1 for another
 * name. */
long dk_ckpt_name_step(const char *name);

/* The newest checkpoint in dir that opens and verifies completely (dk_ckpt_verify). Each
 * newer one that fails is skipped with a line on `warnings` (if not NULL) naming it and
 * why. An error when dir holds no valid checkpoint, saying how many were tried. */
dk_err dk_ckpt_find_latest(const char *dir, char *path, size_t capacity, FILE *warnings);
/* The same, returning that checkpoint open (its label is its path) rather than its name,
 * so that a caller that goes on to read it does not verify it a second time. */
dk_err dk_ckpt_open_latest(const char *dir, dk_ckpt_reader **out, FILE *warnings);
/* The same, for the newest valid checkpoint that accept(reader, ctx, &take) takes: it is
 * asked about each valid one, newest first, and an error it returns ends the search. When
 * valid checkpoints exist but it takes none, *out is NULL and the result DK_OK.
 *
 * A checkpoint that cannot be opened for want of permission, file descriptors or memory,
 * or for an I/O error, is not damaged: skipping it for an older one would give up the
 * steps between them, so the search stops with an error naming it; unless `shared` (dir
 * may hold other runs' checkpoints, which may be unreadable to this user): then it is
 * skipped with a warning, and if no valid one is found, *out is NULL and the result DK_OK
 * as above. dk_ckpt_open_latest and dk_ckpt_find_latest stop. */
typedef dk_err (*dk_ckpt_accept_fn)(const dk_ckpt_reader *reader, void *ctx, bool *take);
dk_err dk_ckpt_open_latest_where(const char *dir, dk_ckpt_accept_fn accept, void *ctx, bool shared,
                                 dk_ckpt_reader **out, FILE *warnings);

/* Removes all but the `keep` newest checkpoints (keep >= 1) and leftover temporary files
 * of crashed writes. Called after a new checkpoint has been written and synced, so the
 * newest is never removed. */
dk_err dk_ckpt_prune(const char *dir, int keep);

#endif

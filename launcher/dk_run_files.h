/* Files of a run directory, written so that a failing run never damages what an earlier
 * run saved there: every file is written under a temporary name (NAME.partial), flushed
 * and fsynced, and the whole set is renamed over the old one only when every file of it
 * has been written (dk_partial_commit_set). */
#ifndef DK_RUN_FILES_H
#define DK_RUN_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/dk_error.h"

/* The files a run leaves in its run directory, indices into dk_run_output_names in the
 * order they are written: the log, open (as metrics.jsonl.partial) from set-up on, comes
 * last; the others are written at the end. */
enum {
    DK_OUT_CONFIG,  /* config.ini */
    DK_OUT_PARAMS,  /* final_params.bin */
    DK_OUT_STATE,   /* final_state.bin */
    DK_OUT_SUMMARY, /* summary.json */
    DK_OUT_LOG,     /* metrics.jsonl */
    DK_RUN_OUTPUTS,
    DK_RUN_OUTPUTS_AT_END = DK_OUT_LOG
};
extern const char *const dk_run_output_names[DK_RUN_OUTPUTS];

/* mkdir -p: creates dir and its missing parents (mode 0755). */
dk_err dk_make_dirs(const char *dir);

/* Opens a new, empty DIR/NAME.partial for writing. Whatever had that name (an earlier
 * file, a symbolic or hard link to a file elsewhere, a FIFO) is replaced as a directory
 * entry, never written through; a directory there is an error. */
dk_err dk_partial_open(FILE **out, const char *dir, const char *name);
/* The same, starting with `seed` (NULL: nothing) in place of any earlier DIR/NAME.partial
 * in one step: the text is written to DIR/NAME.partial.new, flushed and fsynced, then
 * renamed over DIR/NAME.partial. A crash leaves either the earlier file whole or the new
 * one with its seed, never an emptied one (a resumed run's log starts with the lines it
 * carries over from that very file). */
dk_err dk_partial_open_seeded(FILE **out, const char *dir, const char *name, const char *seed);
/* Flushes, fsyncs and closes f, the DIR/NAME.partial of dk_partial_open; f is closed even
 * when this fails (a write error, a full disk). */
dk_err dk_partial_close(FILE *f, const char *dir, const char *name);
/* Removes DIR/NAME.partial if it is a file (the remains of a failed set of outputs). */
void dk_partial_discard(const char *dir, const char *name);

/* Renames DIR/NAME.partial over DIR/NAME for every names[i] (at most DK_COMMIT_MAX), as
 * one set: either every NAME is replaced, or on any failure every NAME is as it was and
 * every NAME.partial is back in place for the caller to discard or keep.
 *
 * Each existing NAME is first checked to be a file (a directory or other object there is
 * an error naming it, before anything is renamed), then renamed to NAME.previous.<pid>
 * just before NAME.partial takes its place, so that a rename that still fails can be undone;
 * the NAME.previous.<pid> files are removed once DIR is fsynced with every new name in
 * place. A crash in the middle leaves the old files under NAME.previous.<pid>, for
 * dk_outputs_recover. */
enum { DK_COMMIT_MAX = 16 };
dk_err dk_partial_commit_set(const char *dir, const char *const *names, int n);
/* The same check of every NAME, alone: a run makes it at set-up, so that a directory in
 * the way of an output stops it before training rather than after. */
dk_err dk_outputs_replaceable(const char *dir, const char *const *names, int n);
/* Repairs a replacement that a killed process left half-way (NAME.previous.<pid> files in
 * DIR): when every new file had been placed, the old ones are removed; otherwise the old
 * set is put back, the new files it had placed removed, and the NAME.partial files removed
 * but keep_partial's (NULL: none). Says which on stderr. A mix from several processes is
 * an error, left alone. Call it holding the directory's lock, before writing there. */
dk_err dk_outputs_recover(const char *dir, const char *const *names, int n, const char *keep_partial);

/* Moves the file `from` to DIR/NAME (a name that must not exist): a rename, or across file
 * systems a copy (fsynced) followed by the removal of `from`. */
dk_err dk_move_file(const char *from, const char *dir, const char *name);

/* Creates and removes a file in dir: a directory a run cannot write in (permissions, a
 * read-only mount) is an error at set-up, naming `what` ("checkpoint directory") and the
 * option that chose it, rather than at the first checkpoint hours later. The lock file
 * alone does not show it: an existing lock file can be writable in a directory that is not. */
dk_err dk_check_dir_writable(const char *dir, const char *what, const char *option);

/* Keeps the file `from` also as DIR/NAME (a name that must not exist), leaving `from` in
 * place: a hard link, or a copy (fsynced) where links are not possible. Later
 * replacements of `from` by rename leave DIR/NAME as it was. */
dk_err dk_keep_file(const char *from, const char *dir, const char *name);

/* Continues *crc (CRC-32C, dk_crc32c_update's convention) over bytes *at .. to - 1 of the
 * file open as fd, advancing *at; stops early at the end of the file (*at < to then). A
 * read error is DK_ERR_IO naming `what`. The training log's record in checkpoints
 * (written by a run, compared by a resume) is made of it. */
dk_err dk_file_crc32c(int fd, uint64_t to, uint64_t *at, uint32_t *crc, const char *what);

/* Writes s as a JSON string literal (quotes and escapes included). */
void dk_json_string(FILE *f, const char *s);
/* Writes a double as JSON: %.17g, or null when not finite (JSON has no NaN). */
void dk_json_number(FILE *f, double v);
/* Writes `sep"name": v` (v as dk_json_number): one member of a JSON object after the first,
 * with sep ", " on one line or ",\n  " on the next. */
void dk_json_field(FILE *f, const char *sep, const char *name, double v);

#endif

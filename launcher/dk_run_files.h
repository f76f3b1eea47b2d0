/* Files of a run directory, written so that a failing run never damages what an earlier
 * run saved there: every file is written under a temporary name (NAME.partial), flushed
 * and fsynced, then renamed over NAME only when the run has succeeded. */
#ifndef DK_RUN_FILES_H
#define DK_RUN_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "../common/dk_error.h"

/* mkdir -p: creates dir and its missing parents (mode 0755). */
dk_err dk_make_dirs(const char *dir);

/* Opens DIR/NAME.partial for writing (truncating). */
dk_err dk_partial_open(FILE **out, const char *dir, const char *name);
/* Flushes, fsyncs and closes f, then renames DIR/NAME.partial to DIR/NAME and fsyncs DIR. */
dk_err dk_partial_commit(FILE *f, const char *dir, const char *name);
/* Writes `bytes` bytes to DIR/NAME atomically (partial file, fsync, rename). */
dk_err dk_write_file_atomic(const char *dir, const char *name, const void *data, size_t bytes);

/* Writes s as a JSON string literal (quotes and escapes included). */
void dk_json_string(FILE *f, const char *s);
/* Writes a double as JSON: %.17g, or null when not finite (JSON has no NaN). */
void dk_json_number(FILE *f, double v);
/* Writes `sep"name": v` (v as dk_json_number): one member of a JSON object after the first,
 * with sep ", " on one line or ",\n  " on the next. */
void dk_json_field(FILE *f, const char *sep, const char *name, double v);

#endif

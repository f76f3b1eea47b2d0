/* Where a tool's table goes (`distkan predict`, `distkan functions`): standard output, or
 * a file that appears only once it is complete. A file is written as NAME.partial beside
 * it, fsynced and renamed over NAME (dk_run_files.h), so a tool that fails half-way (a bad
 * row in its input, a full disk, SIGINT or SIGTERM) leaves an earlier NAME as it was and
 * no NAME.partial. A symbolic link is followed: the file it names is the one replaced. A
 * path that names no regular file (/dev/stdout, /dev/null, a named pipe) is written
 * directly, as a stream. */
#ifndef DK_TABLE_OUT_H
#define DK_TABLE_OUT_H

#include <stdio.h>

#include "../common/dk_error.h"
#include "dk_config.h"

typedef struct dk_table_out {
    FILE *f;                /* where to write */
    int stream;             /* standard output or a special file: no partial file, no rename */
    char dir[DK_PATH_MAX];  /* the file's directory and name */
    char name[DK_PATH_MAX];
    /* The partial file this process created: another one writing the same --out replaces
     * it by name, which commit and discard must tell from their own. */
    unsigned long long partial_dev, partial_ino;
} dk_table_out;

/* path NULL or "-": standard output. Else opens the partial file of path (or of the file
 * a link at path names), after refusing a directory and, when `input` is not NULL, the
 * input file itself (the table would replace the data it was computed from). */
dk_err dk_table_out_open(dk_table_out *o, const char *path, const char *input);
/* Checks that every write succeeded and puts the file in place (for a stream: flushes). */
dk_err dk_table_out_commit(dk_table_out *o);
/* After a failure: closes and removes NAME.partial; NAME is untouched. */
void dk_table_out_discard(dk_table_out *o);

#endif

/* Where a tool's table goes (`distkan predict`, `distkan functions`): standard output, or
 * a file that appears only once it is complete. The file is written as NAME.partial beside
 * it, fsynced and renamed over NAME (dk_run_files.h), so a tool that fails half-way (a bad
 * row in its input, a full disk) leaves an earlier NAME as it was. */
#ifndef DK_TABLE_OUT_H
#define DK_TABLE_OUT_H

#include <stdio.h>

#include "../common/dk_error.h"
#include "dk_config.h"

typedef struct dk_table_out {
    FILE *f;                /* where to write */
    int to_stdout;
    char dir[DK_PATH_MAX];  /* the file's directory and name */
    char name[DK_PATH_MAX];
} dk_table_out;

/* path NULL or "-": standard output. Else opens path's NAME.partial; an existing path
 * that is not a regular file (a directory) is refused before anything is written. */
dk_err dk_table_out_open(dk_table_out *o, const char *path);
/* Checks that every write succeeded and puts the file in place (for standard output:
 * flushes it). */
dk_err dk_table_out_commit(dk_table_out *o);
/* After a failure: closes and removes NAME.partial; NAME is untouched. */
void dk_table_out_discard(dk_table_out *o);

#endif

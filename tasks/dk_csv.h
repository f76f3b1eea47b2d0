/* Numeric CSV files for the fit task (internal to tasks/).
 *
 * Format: the first line is a header of comma-separated, non-empty column names; every
 * following line is a data row of as many numeric fields. LF or CRLF line endings, blanks
 * around fields, a UTF-8 byte-order mark and blank lines at the end are accepted. A field
 * may be enclosed in one pair of double quotes (R's write.csv quotes its names), which are
 * dropped; a comma always separates fields, even inside quotes. UTF-16 text is refused by
 * name. Numbers are read with strtod in the C locale's format and must be
 * finite. A line holds at most DK_CSV_LINE_MAX bytes and no NUL byte: either is refused
 * where it occurs, so a binary file costs no more memory than one line.
 *
 * Reading is two passes so that a rank stores only its shard: dk_csv_scan checks the
 * header and every row (so that a file is accepted or refused whole, whatever the seed's
 * train/test split and the number of ranks) and counts the rows, dk_csv_read_rows converts
 * just the rows it is given slots for.
 * Line numbers in messages are 1-based with the header as line 1, so data row i (0-based)
 * is line i + 2.
 */
#ifndef DK_CSV_H
#define DK_CSV_H

#include <stdint.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef struct dk_csv_info {
    int n_cols;   /* columns in the header (and in every row) */
    char **names; /* [n_cols] column names, blanks trimmed */
    long n_rows;  /* data rows (the non-blank lines after the header) */
    /* The file's identity by content: its size and the CRC-32C of all its bytes. A
     * checkpoint records them, so that a resume can tell the same data under another path
     * from other data under the same path. */
    uint64_t bytes;
    uint32_t crc32c;
} dk_csv_info;

/* First pass: validates the header and every row, counts the data rows and fingerprints
 * the file. DK_ERR_IO when the file cannot be read; DK_ERR_USAGE when path names no regular
 * file (a pipe cannot be read twice); DK_ERR_DATA for an empty file, a missing or empty
 * column name, no data rows, a blank line followed by more data, or a row with a wrong
 * column count, a field that is not a number or a non-finite value (named by line). */
dk_err dk_csv_scan(const char *path, dk_csv_info *info);
void dk_csv_info_free(dk_csv_info *info);

/* Second pass: for every data row i with slot[i] >= 0, parses its n_cols numbers into
 * values[slot[i] * n_cols + c] (in dtype); other rows are skipped unparsed. DK_ERR_DATA
 * names the path and line for (float32) a value beyond the float range, and for what the
 * scan refuses, should the file have changed since. */
dk_err dk_csv_read_rows(const char *path, const dk_csv_info *info, const long *slot, dk_dtype dtype,
                        void *values);

/* The train/test shuffle of n rows: a Fisher-Yates permutation that is a pure function of
 * (seed, n), so every rank computes the same one without communicating. */
void dk_csv_permutation(uint64_t seed, long n, long *perm);

#endif

/* Line reading for the CSV reader (internal to tasks/), with memory bounded by the line
 * limit rather than by the file: getline would hold a whole "line" before it could be
 * judged, so a binary file or one without line ends (1 GB of zeros) took as much memory
 * as its size before it was refused. */
#ifndef DK_CSV_LINE_H
#define DK_CSV_LINE_H

#include <stddef.h>
#include <stdio.h>

/* The longest line accepted, terminator included. A row of 16 MiB holds some 500,000
 * numbers in full double precision: more columns than a network's input layer would have. */
#define DK_CSV_LINE_MAX ((size_t)16 << 20)

typedef enum dk_csv_line_status {
    DK_CSV_LINE_OK,       /* a line, with its '\n' unless it is the file's last */
    DK_CSV_LINE_END,      /* nothing left to read */
    DK_CSV_LINE_NUL,      /* a NUL byte: reading stopped just after it */
    DK_CSV_LINE_TOO_LONG, /* max bytes without a line end: reading stopped there */
    DK_CSV_LINE_ERROR,    /* a read error (ferror, errno set) or no memory for the line */
} dk_csv_line_status;

/* Reads the next line into *line (grown as needed, like getline's buffer, and always
 * NUL-terminated), at most max bytes; *len is the number of bytes read, which is also what
 * a fingerprint of the file must cover when the status is OK. */
dk_csv_line_status dk_csv_read_line(FILE *f, char **line, size_t *cap, size_t max, size_t *len);

#endif

/* Bounded line reading for CSV files (see dk_csv_line.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* getc_unlocked, flockfile */
#endif

#include "dk_csv_line.h"

#include <stdbool.h>
#include <stdlib.h>

/* Makes room for at least `need` bytes; the buffer doubles, so a line costs amortised
 * constant time per byte. */
static int reserve(char **line, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 1;
    size_t grown = *cap ? *cap : 256;
    while (grown < need)
        grown *= 2;
    char *p = realloc(*line, grown);
    if (!p)
        return 0;
    *line = p;
    *cap = grown;
    return 1;
}

dk_csv_line_status dk_csv_read_line(FILE *f, char **line, size_t *cap, size_t max, size_t *len)
{
    dk_csv_line_status status = DK_CSV_LINE_OK;
    size_t n = 0;
    /* Byte by byte so that a NUL or the limit stops reading where it occurs. The buffer is
     * grown outside the inner loop, which then costs a buffered getc and two compares per
     * byte: the scan of an 82 MB file of 1,000,000 rows takes 0.78 s, against 0.70 s with
     * getline (parsing included). */
    flockfile(f);
    for (bool done = false; !done;) {
        if (n == max) {
            status = DK_CSV_LINE_TOO_LONG;
            break;
        }
        if (!reserve(line, cap, n + 2)) {
            status = DK_CSV_LINE_ERROR;
            break;
        }
        const size_t stop = *cap - 1 < max ? *cap - 1 : max; /* one byte stays for the terminator */
        char *buf = *line;
        while (n < stop) {
            const int c = getc_unlocked(f);
            if (c == EOF) {
                status = ferror(f) ? DK_CSV_LINE_ERROR : n == 0 ? DK_CSV_LINE_END : DK_CSV_LINE_OK;
                done = true;
                break;
            }
            buf[n++] = (char)c;
            if (c == '\n' || c == '\0') {
                status = c ? DK_CSV_LINE_OK : DK_CSV_LINE_NUL;
                done = true;
                break;
            }
        }
    }
    funlockfile(f);
    if (*line)
        (*line)[n] = '\0';
    *len = n;
    return status;
}

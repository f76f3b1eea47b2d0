/* Numeric CSV reading in two passes (see dk_csv.h). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif

#include "dk_csv.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../common/dk_crc32c.h"
#include "../common/dk_rng.h"
#include "dk_csv_line.h"

/* Records an error and leaves through the function's cleanup label. */
#define CSV_FAIL(code, ...)                                                                \
    do {                                                                                   \
        err = dk_error_set((code), __FILE__, __LINE__, __VA_ARGS__);                       \
        goto done;                                                                         \
    } while (0)

/* Field text is echoed in messages up to this many characters. */
enum { CSV_ECHO_MAX = 64 };

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

/* Drops the line terminator (LF or CRLF) and trailing blanks; returns the new length. */
static size_t trim_right(char *s, size_t n)
{
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    s[n] = '\0';
    return n;
}

/* Narrows [*a, *b) to exclude blanks at both ends. */
static void trim_field(const char **a, const char **b)
{
    while (*a < *b && is_blank(**a))
        (*a)++;
    while (*b > *a && is_blank((*b)[-1]))
        (*b)--;
}

/* Spreadsheet and R exports enclose fields in double quotes ("x0","x1"): one such pair
 * around a field is dropped (with the blanks inside it). Returns 1 if a quote is left,
 * i.e. the field used quoting this reader does not do (embedded quotes or commas). */
static int unquote_field(const char **a, const char **b)
{
    if (*b - *a >= 2 && **a == '"' && (*b)[-1] == '"') {
        (*a)++;
        (*b)--;
        trim_field(a, b);
    }
    return memchr(*a, '"', (size_t)(*b - *a)) != NULL;
}

/* What a line that holds a double quote adds to a column-count message. */
static const char *quote_hint(const char *s, size_t n)
{
    return memchr(s, '"', n) ? " (the line holds double quotes: a quoted field with a comma inside is two fields here, "
                               "since this reader does not split on quotes; remove the commas from such fields)"
                             : "";
}

static size_t count_fields(const char *s, size_t n)
{
    size_t fields = 1;
    for (size_t i = 0; i < n; i++)
        fields += s[i] == ',';
    return fields;
}

/* The error for a line that could not be read whole: a read error, a NUL byte, or no line
 * end within the limit (a binary file, or one whose line ends were lost). */
static dk_err unreadable_line(const char *path, long line_no, dk_csv_line_status status)
{
    if (status == DK_CSV_LINE_ERROR)
        DK_ERROR(DK_ERR_IO, "cannot read CSV file %s: %s", path, strerror(errno));
    if (status == DK_CSV_LINE_NUL)
        DK_ERROR(DK_ERR_DATA, "%s:%ld: the line holds NUL bytes (expected ASCII or UTF-8 text)", path, line_no);
    DK_ERROR(DK_ERR_DATA,
             "%s:%ld: no line end within %zu MiB, the longest line accepted: not a text file, or one whose line "
             "ends were lost? (expected one row of comma-separated numbers per line)",
             path, line_no, DK_CSV_LINE_MAX >> 20);
}

static dk_err open_for_reading(const char *path, FILE **f)
{
    *f = fopen(path, "r");
    if (!*f)
        DK_ERROR(DK_ERR_IO, "cannot open CSV file %s: %s", path, strerror(errno));
    return DK_OK;
}

void dk_csv_info_free(dk_csv_info *info)
{
    if (!info)
        return;
    if (info->names)
        for (int c = 0; c < info->n_cols; c++)
            free(info->names[c]);
    free(info->names);
    info->names = NULL;
    info->n_cols = 0;
    info->n_rows = 0;
}

/* Splits the header into trimmed, non-empty names. */
/* *other_sep: a tab or semicolon in a header of one column (0 if none): with the same in
 * the first row, the file is separated by it (dk_csv_scan says so). */
static dk_err parse_header(const char *path, char *line, size_t n, dk_csv_info *info, char *other_sep)
{
    size_t fields = count_fields(line, n);
    if (fields > (size_t)INT32_MAX)
        DK_ERROR(DK_ERR_DATA, "%s:1: too many columns (%zu)", path, fields);
    *other_sep = fields != 1 ? 0 : memchr(line, '\t', n) ? '\t' : memchr(line, ';', n) ? ';' : 0;
    DK_CALL(DK_CALLOC(info->names, fields, "CSV column names"));
    info->n_cols = (int)fields;
    const char *p = line, *end = line + n;
    for (int c = 0; c < info->n_cols; c++) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *a = p, *b = comma ? comma : end;
        p = comma ? comma + 1 : end;
        trim_field(&a, &b);
        const int quoted = a < b && *a == '"';
        if (unquote_field(&a, &b))
            DK_ERROR(DK_ERR_DATA,
                     "%s:1: column %d of the header holds a double quote inside its name%s: a name may be enclosed "
                     "in double quotes, but may hold neither quotes nor commas",
                     path, c + 1, quote_hint(line, n));
        if (a == b)
            DK_ERROR(DK_ERR_DATA, "%s:1: column %d of the header has an empty name%s", path, c + 1,
                     quoted && c == 0 ? " (\"\" first: a file from R's write.csv with its row names, which "
                                        "row.names = FALSE leaves out)"
                                      : "");
        size_t len = (size_t)(b - a);
        DK_CALL(DK_CALLOC(info->names[c], len + 1, "CSV column name"));
        memcpy(info->names[c], a, len);
    }
    /* A file without a header would lose its first row to the names, silently. */
    int numbers = 0;
    for (int c = 0; c < info->n_cols; c++) {
        char *stop = NULL;
        (void)strtod(info->names[c], &stop);
        numbers += stop != info->names[c] && *stop == '\0';
    }
    if (numbers == info->n_cols)
        DK_ERROR(DK_ERR_DATA,
                 "%s:1: the header '%.*s%s' holds only numbers: the first line must name the columns (add a line "
                 "such as x0,x1,y), else the first row of data would be taken for the names",
                 path, (int)(n < CSV_ECHO_MAX ? n : CSV_ECHO_MAX), line, n > CSV_ECHO_MAX ? "..." : "");
    return DK_OK;
}

static dk_err parse_row(const char *path, long line_no, char *s, size_t n, const dk_csv_info *info,
                        dk_dtype dtype, void *out, size_t out_index);

dk_err dk_csv_scan(const char *path, dk_csv_info *info)
{
    dk_err err = DK_OK;
    FILE *f = NULL;
    char *line = NULL;
    double *row = NULL; /* one row's values, parsed to be checked and dropped */
    size_t cap = 0;
    memset(info, 0, sizeof *info);
    /* Checked before opening: opening a named pipe would wait for a writer. */
    struct stat st;
    if (!strcmp(path, "-"))
        DK_ERROR(DK_ERR_USAGE, "the CSV file is '-', but standard input cannot serve: CSV data is read twice (to count "
                               "the rows, then to convert them); save it to a file first");
    if (!path[0])
        DK_ERROR(DK_ERR_USAGE, "the CSV file's path is empty: expected a file name");
    const bool exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_USAGE, "%s is a directory: expected a CSV file", path);
    if (exists && !S_ISREG(st.st_mode))
        DK_ERROR(DK_ERR_USAGE,
                 "%s is not a regular file: CSV data is read twice (to count the rows, then to convert them), so a "
                 "pipe or terminal cannot serve; save it to a file first",
                 path);
    DK_CALL(open_for_reading(path, &f));

    size_t got = 0;
    dk_csv_line_status status = dk_csv_read_line(f, &line, &cap, DK_CSV_LINE_MAX, &got);
    if (status == DK_CSV_LINE_END)
        CSV_FAIL(DK_ERR_DATA, "%s: the file is empty (expected a header line, then data rows)", path);
    if (status == DK_CSV_LINE_ERROR || status == DK_CSV_LINE_TOO_LONG)
        DK_CALL_GOTO(err, done, unreadable_line(path, 1, status));
    info->bytes += (uint64_t)got;
    info->crc32c = dk_crc32c_update(info->crc32c, line, got);
    char *head = line;
    size_t n = got;
    /* A UTF-8 byte-order mark (spreadsheet exports) is not part of the first name. */
    if (n >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0) {
        head += 3;
        n -= 3;
    }
    /* UTF-16 text (some Windows exports) is not ASCII with odd names: say what it is. A NUL
     * byte in the first line means UTF-16 without a byte-order mark, or a binary file. */
    const unsigned char *u = (const unsigned char *)head;
    if (n >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF)))
        CSV_FAIL(DK_ERR_DATA, "%s: the file is UTF-16 text (it starts with a UTF-16 byte-order mark): save it as "
                              "UTF-8 or ASCII CSV",
                 path);
    if (status == DK_CSV_LINE_NUL)
        CSV_FAIL(DK_ERR_DATA, "%s:1: the line holds NUL bytes: UTF-16 text or not a text file (expected ASCII "
                              "or UTF-8 CSV)",
                 path);
    n = trim_right(head, n);
    /* Lines ended by CR alone (classic Mac OS) read as one line: say so, rather than "no
     * data rows". */
    const char *cr = memchr(head, '\r', n);
    if (cr && cr + 1 < head + n && cr[1] != '\n')
        CSV_FAIL(DK_ERR_DATA, "%s: lines end in CR alone (classic Mac OS line endings): save the file with LF or "
                              "CRLF line endings",
                 path);
    if (n == 0)
        CSV_FAIL(DK_ERR_DATA, "%s:1: the header line is empty (expected comma-separated column names)",
                 path);
    char other_sep = 0;
    DK_CALL_GOTO(err, done, parse_header(path, head, n, info, &other_sep));
    DK_CALL_GOTO(err, done, DK_CALLOC(row, (size_t)info->n_cols, "a CSV row"));

    /* Only trailing blank lines are allowed: a blank line followed by data would shift
     * every later row's line number and usually means a damaged file. */
    long line_no = 1, first_blank = 0;
    while ((status = dk_csv_read_line(f, &line, &cap, DK_CSV_LINE_MAX, &got)) != DK_CSV_LINE_END) {
        line_no++;
        if (status != DK_CSV_LINE_OK)
            DK_CALL_GOTO(err, done, unreadable_line(path, line_no, status));
        info->bytes += (uint64_t)got;
        info->crc32c = dk_crc32c_update(info->crc32c, line, got);
        const size_t len = trim_right(line, got);
        if (len == 0) {
            if (!first_blank)
                first_blank = line_no;
            continue;
        }
        /* A tab- or semicolon-separated file reads as one column whose name and values
         * hold the separators: name the likely cause, not later a column count or a
         * number. (One column whose name holds one, "depth (m; below)", is fine.) */
        if (info->n_rows == 0 && other_sep && memchr(line, other_sep, len))
            CSV_FAIL(DK_ERR_DATA, "%s:1: the header and the first row have no commas but %ss: a %s-separated file? "
                                  "(expected comma-separated values)",
                     path, other_sep == '\t' ? "tab" : "semicolon", other_sep == '\t' ? "tab" : "semicolon");
        /* A CR left inside a line ends a line of its own: CR-only endings further down. */
        if (memchr(line, '\r', len))
            CSV_FAIL(DK_ERR_DATA, "%s:%ld: the line holds a carriage return (CR) that ends no line: lines ended by "
                                  "CR alone (classic Mac OS line endings)? Save the file with LF or CRLF line endings",
                     path, line_no);
        if (first_blank)
            CSV_FAIL(DK_ERR_DATA, "%s:%ld: blank line inside the data (only trailing blank lines are "
                     "allowed)", path, first_blank);
        /* Every row, not only those a rank will read: whether a file is accepted must not
         * depend on the seed's train/test split or the number of ranks. */
        DK_CALL_GOTO(err, done, parse_row(path, line_no, line, len, info, DK_F64, row, 0));
        info->n_rows++;
    }
    if (info->n_rows == 0)
        CSV_FAIL(DK_ERR_DATA, "%s: no data rows after the header", path);

done:
    free(line);
    free(row);
    fclose(f);
    if (err)
        dk_csv_info_free(info);
    return err;
}

/* Parses one data row (already trimmed) into out[0..n_cols). */
static dk_err parse_row(const char *path, long line_no, char *s, size_t n, const dk_csv_info *info,
                        dk_dtype dtype, void *out, size_t out_index)
{
    size_t found = count_fields(s, n);
    if (found != (size_t)info->n_cols)
        DK_ERROR(DK_ERR_DATA, "%s:%ld: expected %d columns, found %zu%s", path, line_no, info->n_cols,
                 found, quote_hint(s, n));
    char *p = s, *end = s + n;
    for (int c = 0; c < info->n_cols; c++) {
        char *comma = memchr(p, ',', (size_t)(end - p));
        const char *a = p, *b = comma ? comma : end;
        p = comma ? comma + 1 : end;
        trim_field(&a, &b);
        const int stray_quote = unquote_field(&a, &b);
        int len = (int)((size_t)(b - a) < CSV_ECHO_MAX ? (size_t)(b - a) : CSV_ECHO_MAX);
        const char *ellipsis = (size_t)(b - a) > CSV_ECHO_MAX ? "..." : "";
        /* strtod needs a terminated field: the separator (or the trimmed end) becomes NUL,
         * which is safe because p already points past it. */
        *(char *)b = '\0';
        char *stop = NULL;
        errno = 0;
        double v = a < b ? strtod(a, &stop) : 0.0;
        if (a == b || stop != b)
            DK_ERROR(DK_ERR_DATA, "%s:%ld: column %d ('%s'): '%.*s%s' is not a number%s", path, line_no,
                     c + 1, info->names[c], len, a, ellipsis,
                     stray_quote ? " (a field may be enclosed in double quotes, but may hold none inside)" : "");
        if (!isfinite(v))
            DK_ERROR(DK_ERR_DATA, "%s:%ld: column %d ('%s'): '%.*s%s' is not a finite number", path,
                     line_no, c + 1, info->names[c], len, a, ellipsis);
        if (dtype == DK_F32 && fabs(v) > FLT_MAX)
            DK_ERROR(DK_ERR_DATA, "%s:%ld: column %d ('%s'): '%.*s%s' is beyond the float32 range", path,
                     line_no, c + 1, info->names[c], len, a, ellipsis);
        dk_store(dtype, out, out_index + (size_t)c, v);
    }
    return DK_OK;
}

dk_err dk_csv_read_rows(const char *path, const dk_csv_info *info, const long *slot, dk_dtype dtype,
                        void *values)
{
    /* Rows after the last one wanted need not even be read. */
    long last = -1;
    for (long i = 0; i < info->n_rows; i++)
        if (slot[i] >= 0)
            last = i;
    if (last < 0)
        return DK_OK;

    dk_err err = DK_OK;
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    DK_CALL(open_for_reading(path, &f));
    /* Every line up to the last wanted is read, so that a file changed since its scan is
     * still read with bounded memory and refused where it no longer holds a row. */
    size_t got = 0;
    dk_csv_line_status status = DK_CSV_LINE_OK;
    for (long line_no = 1; line_no <= last + 2; line_no++) {
        status = dk_csv_read_line(f, &line, &cap, DK_CSV_LINE_MAX, &got);
        if (status == DK_CSV_LINE_END)
            break;
        if (status != DK_CSV_LINE_OK)
            DK_CALL_GOTO(err, done, unreadable_line(path, line_no, status));
        const long i = line_no - 2; /* the data row; the header (line 1) was checked by dk_csv_scan */
        if (i < 0 || slot[i] < 0)
            continue;
        size_t n = trim_right(line, got);
        DK_CALL_GOTO(err, done,
                     parse_row(path, line_no, line, n, info, dtype, values, (size_t)slot[i] * (size_t)info->n_cols));
    }
    if (status == DK_CSV_LINE_END)
        CSV_FAIL(DK_ERR_DATA, "%s: the file became shorter while it was being read (had %ld data rows)",
                 path, info->n_rows);

done:
    free(line);
    fclose(f);
    return err;
}

void dk_csv_permutation(uint64_t seed, long n, long *perm)
{
    for (long i = 0; i < n; i++)
        perm[i] = i;
    /* Fisher-Yates from the top: position i swaps with j uniform on [0, i]. Each draw is
     * keyed by i alone, so the result depends on (seed, n) and nothing else. */
    for (long i = n - 1; i > 0; i--) {
        long j = (long)dk_rng_below(seed, DK_STREAM_CSV_SPLIT, (uint64_t)i, (uint64_t)i + 1);
        long t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

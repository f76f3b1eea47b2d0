/* CSV datasets: parsing, error messages that name path, line and column, and the seeded
 * train/test split. Fixtures are written to temporary files by each test. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/dk_crc32c.h"
#include "tasks/dk_csv.h"
#include "tasks/dk_csv_line.h"
#include "tasks/dk_fit_task.h"

typedef struct temp_file {
    char path[64];
} temp_file;

static temp_file write_temp(const char *content)
{
    temp_file t;
    strcpy(t.path, "/tmp/dk_test_csv_XXXXXX");
    int fd = mkstemp(t.path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    size_t n = strlen(content);
    assert_int_equal(fwrite(content, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return t;
}

static dk_fit_task_settings csv_settings(const char *path, int targets, long train, long test)
{
    dk_fit_task_settings s = {0};
    s.dtype = DK_F64;
    s.seed = 7;
    s.function = "";
    s.csv = path;
    s.target_columns = targets;
    s.train_size = train;
    s.test_size = test;
    s.batch = 0;
    s.rank = 0;
    s.world_size = 1;
    return s;
}

/* Creates a task over the whole file and expects failure with `code`; returns the message. */
static const char *expect_failure(const char *path, dk_err code)
{
    dk_fit_task_settings s = csv_settings(path, 1, 0, 0);
    dk_fit_task *t = NULL;
    dk_error_clear();
    assert_int_equal(dk_fit_task_create(&t, &s), code);
    assert_null(t);
    return dk_error_message();
}

static void assert_contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("expected '%s' in: %s", part, text);
}

/* Writes `content` to a temporary file, creates a task over it and expects DK_ERR_DATA
 * with a message that names the file and contains every string in parts. */
static void check_data_error(const char *content, const char *const *parts)
{
    temp_file f = write_temp(content);
    const char *msg = expect_failure(f.path, DK_ERR_DATA);
    unlink(f.path); /* before the checks, so that a failing one leaves no file behind */
    assert_contains(msg, f.path);
    for (; *parts; parts++)
        assert_contains(msg, *parts);
}
#define EXPECT_DATA_ERROR(content, ...) check_data_error((content), (const char *const[]){__VA_ARGS__, NULL})

/* Writes `content` to a temporary file and expects the scan to accept it with `rows` data rows. */
static void expect_scan_rows(const char *content, long rows)
{
    temp_file f = write_temp(content);
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(f.path, &info), DK_OK);
    assert_int_equal(info.n_rows, rows);
    dk_csv_info_free(&info);
    unlink(f.path);
}

static const char good[] = "x, y ,target\n"
                           "1.5,-2,3e2\n"
                           "  0.25 ,1e-3,\t-7.125\n"
                           "4,5,6\n"
                           "-0,0x1p-2,1E+1\n";
static const double good_values[4][3] = {
    {1.5, -2.0, 300.0}, {0.25, 0.001, -7.125}, {4.0, 5.0, 6.0}, {-0.0, 0.25, 10.0}};

static void test_good_file_parses_to_the_right_values(void **state)
{
    temp_file f = write_temp(good);
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(f.path, &info), DK_OK);
    assert_int_equal(info.n_cols, 3);
    assert_int_equal(info.n_rows, 4);
    assert_string_equal(info.names[0], "x");
    assert_string_equal(info.names[1], "y"); /* blanks around names are trimmed */
    assert_string_equal(info.names[2], "target");
    long slot[4] = {0, 1, 2, 3};
    double v[12];
    assert_int_equal(dk_csv_read_rows(f.path, &info, slot, DK_F64, v), DK_OK);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++)
            assert_true(v[r * 3 + c] == good_values[r][c]);

    /* float32, rows in other slots, one row left out */
    long slot2[4] = {1, -1, 0, -1};
    float w[6] = {0};
    assert_int_equal(dk_csv_read_rows(f.path, &info, slot2, DK_F32, w), DK_OK);
    for (int c = 0; c < 3; c++) {
        assert_true(w[c] == (float)good_values[2][c]);
        assert_true(w[3 + c] == (float)good_values[0][c]);
    }
    dk_csv_info_free(&info);

    /* through the task: 2 inputs, 1 target, every row once across train and test */
    dk_fit_task_settings s = csv_settings(f.path, 1, 0, 1);
    dk_fit_task *t = NULL;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_OK);
    assert_int_equal(t->n_in, 2);
    assert_int_equal(t->n_out, 1);
    assert_int_equal(t->train_size, 3);
    assert_int_equal(t->local_test, 1);
    int seen[4] = {0};
    for (int k = 0; k < 4; k++) {
        const double *x = k < 1 ? t->test_x : (const double *)t->train_x + (k - 1) * 2;
        const double *y = k < 1 ? t->test_y : (const double *)t->train_y + (k - 1);
        for (int r = 0; r < 4; r++)
            if (x[0] == good_values[r][0] && x[1] == good_values[r][1] && y[0] == good_values[r][2])
                seen[r]++;
    }
    for (int r = 0; r < 4; r++)
        assert_int_equal(seen[r], 1);
    dk_fit_task_destroy(&t);
    unlink(f.path);
}

/* The scan checks every row, so that whether a file is accepted does not depend on which
 * rows the seed's split and the rank count give a rank (a damaged row passed where no rank
 * read it); the second pass converts only the rows given slots. */
static void test_every_row_is_checked_only_owned_rows_are_read(void **state)
{
    EXPECT_DATA_ERROR("a,b\n1,2\nnot,numbers\n3,4\n", ":3: column 1 ('a'): 'not' is not a number");
    EXPECT_DATA_ERROR("x,y,z\n0.1,0.2,0.3\n0.4,0.5,0.6\n-0.5,0.3,0.1\nhello,world\n0.2,0.2,0.2\n",
                      ":5: expected 3 columns, found 2");
    EXPECT_DATA_ERROR("a,b\n1,2\n3,nan\n", ":3: column 2 ('b'): 'nan' is not a finite number");
    /* By the scan itself, before any row is read. */
    temp_file d = write_temp("x,y,z\n0.1,0.2,0.3\nhello,world\n0.2,0.2,0.2\n");
    dk_csv_info bad;
    assert_int_equal(dk_csv_scan(d.path, &bad), DK_ERR_DATA);
    unlink(d.path);
    assert_contains(dk_error_message(), ":3: expected 3 columns, found 2");
    dk_error_clear();
    temp_file f = write_temp("a,b\n1,2\n5,6\n3,4\n");
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(f.path, &info), DK_OK);
    assert_int_equal(info.n_rows, 3);
    long skip_middle[3] = {0, -1, 1};
    double v[4];
    assert_int_equal(dk_csv_read_rows(f.path, &info, skip_middle, DK_F64, v), DK_OK);
    assert_true(v[0] == 1.0 && v[1] == 2.0 && v[2] == 3.0 && v[3] == 4.0);
    /* A file changed since its scan is still refused by line where a row is read. */
    FILE *w = fopen(f.path, "w");
    assert_non_null(w);
    fputs("a,b\n1,2\nnot,numbers\n3,4\n", w);
    assert_int_equal(fclose(w), 0);
    long take_middle[3] = {-1, 0, -1};
    assert_int_equal(dk_csv_read_rows(f.path, &info, take_middle, DK_F64, v), DK_ERR_DATA);
    assert_contains(dk_error_message(), ":3: column 1 ('a'): 'not' is not a number");
    dk_csv_info_free(&info);
    unlink(f.path);
}

static void test_wrong_column_count_names_path_and_line(void **state)
{
    EXPECT_DATA_ERROR("x,y,z\n1,2,3\n4,5,6\n7,8,9\n10,11\n13,14,15\n", ":5: expected 3 columns, found 2");
    EXPECT_DATA_ERROR("x,y\n1,2\n3,4,\n", ":3: expected 2 columns, found 3");
}

static void test_non_number_names_the_column(void **state)
{
    EXPECT_DATA_ERROR("x,y,z\n1,2,3\n4,abc,6\n", ":3: column 2 ('y'): 'abc' is not a number");
    const char *bad[] = {"x,y\n1,2.5.1\n", "x,y\n1,\n", "x,y\n1,2 3\n", "x,y\n1,1e\n"};
    for (int i = 0; i < 4; i++)
        EXPECT_DATA_ERROR(bad[i], ":2: column 2 ('y'): '", "is not a number");
}

static void test_non_finite_values_are_rejected(void **state)
{
    const char *bad[] = {"x,y\n1,nan\n", "x,y\ninf,2\n", "x,y\n1,-Infinity\n", "x,y\n1,1e999\n"};
    for (int i = 0; i < 4; i++)
        EXPECT_DATA_ERROR(bad[i], ":2: column ", "is not a finite number");
    /* finite in float64 but not in float32 */
    temp_file f = write_temp("x,y\n1,1e300\n");
    dk_fit_task_settings s = csv_settings(f.path, 1, 0, 0);
    s.dtype = DK_F32;
    dk_fit_task *t = NULL;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_DATA);
    assert_contains(dk_error_message(), "float32");
    s.dtype = DK_F64;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_OK);
    dk_fit_task_destroy(&t);
    unlink(f.path);
}

static void test_empty_file_is_rejected(void **state)
{
    EXPECT_DATA_ERROR("", "empty");
}

static void test_header_only_is_rejected(void **state)
{
    const char *files[] = {"x,y\n", "x,y", "x,y\n\n\n"};
    for (int i = 0; i < 3; i++)
        EXPECT_DATA_ERROR(files[i], "no data rows");
}

static void test_bad_headers_are_rejected(void **state)
{
    EXPECT_DATA_ERROR("x,,z\n1,2,3\n", ":1: column 2 of the header has an empty name");
    EXPECT_DATA_ERROR("x,y, \n1,2,3\n", ":1: column 3 of the header has an empty name");
    EXPECT_DATA_ERROR("\n1,2\n", ":1: the header line is empty");
    /* No header: the first row would silently become the names. */
    EXPECT_DATA_ERROR("0.5, -1e3,2\n1,2,3\n", ":1: the header '0.5, -1e3,2' holds only numbers");
    /* One name among numbers is a header (a column may be called 1). */
    expect_scan_rows("x,1,2\n1,2,3\n", 1);
    /* CR alone ends no line for getline: the whole file would read as a header. */
    EXPECT_DATA_ERROR("x,y\r1,2\r3,4\r", "lines end in CR alone");
    /* The same further down, after an LF-ended header: named at its line, not taken for
     * an extra column. */
    EXPECT_DATA_ERROR("x,y\n1,2\n3,4\r5,6\n", ":3: the line holds a carriage return (CR) that ends no line");
    /* Other separators read as one column: named at the header. */
    EXPECT_DATA_ERROR("x\ty\n1\t2\n", ":1: the header and the first row have no commas but tabs: a tab-separated file?");
    EXPECT_DATA_ERROR("x;y\n1;2\n", ":1: the header and the first row have no commas but semicolons");
    expect_scan_rows("x\n1\n", 1); /* one column is fine */
    expect_scan_rows("depth (m; below)\n0.5\n2\n", 2); /* and may have a semicolon in its name */
}

/* R's write.csv and spreadsheets enclose fields in double quotes: one pair is dropped, so
 * "x0" names the column x0 and "1.5" reads as 1.5. Quoting this reader does not do (a
 * comma or a quote inside) is refused with a message that says so. */
static void test_quoted_fields(void **state)
{
    temp_file f = write_temp("\"x0\", \" x1 \" ,y\n\"1.5\",-2,\" 3e2\"\n4,\"5\",6\n");
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(f.path, &info), DK_OK);
    assert_int_equal(info.n_cols, 3);
    assert_string_equal(info.names[0], "x0");
    assert_string_equal(info.names[1], "x1");
    assert_string_equal(info.names[2], "y");
    long slot[2] = {0, 1};
    double v[6];
    assert_int_equal(dk_csv_read_rows(f.path, &info, slot, DK_F64, v), DK_OK);
    const double want[6] = {1.5, -2.0, 300.0, 4.0, 5.0, 6.0};
    for (int i = 0; i < 6; i++)
        assert_true(v[i] == want[i]);
    dk_csv_info_free(&info);
    unlink(f.path);

    /* R's row names: an empty quoted first name */
    EXPECT_DATA_ERROR("\"\",\"x\",\"y\"\n\"1\",0.5,2\n", "column 1 of the header has an empty name",
                      "row.names = FALSE");
    EXPECT_DATA_ERROR("x,\"a,b\",y\n1,2,3\n", "column 2 of the header holds a double quote",
                      "does not split on quotes");
    EXPECT_DATA_ERROR("x,\"y\"\"z\"\n1,2\n", "column 2 of the header holds a double quote");
    EXPECT_DATA_ERROR("x,y\n\"1,5\",2\n", ":2: expected 2 columns, found 3", "does not split on quotes");
    EXPECT_DATA_ERROR("x,y\n1,\"2\"\"\n", ":2: column 2 ('y'): '2\"' is not a number",
                      "may hold none inside");
    EXPECT_DATA_ERROR("x,y\n1,\"\"\n", ":2: column 2 ('y'): '' is not a number");
}

/* UTF-16 text (with or without a byte-order mark) and NUL bytes are named as such, not
 * reported as odd column names or numbers. */
static void test_utf16_and_nul_bytes_are_named(void **state)
{
    static const char le[] = "\xFF\xFEx\0,\0y\0\n\0" "1\0,\0" "2\0\n\0";
    static const char be[] = "\xFE\xFF\0x\0,\0y\0\n\0" "1\0,\0" "2\0\n";
    static const char bare[] = "x\0,\0y\0\n\0" "1\0,\0" "2\0\n\0";
    static const char late[] = "x,y\n1,2\n3,\0" "4\n";
    const struct {
        const char *bytes;
        size_t n;
        const char *want;
    } cases[] = {{le, sizeof le - 1, ": the file is UTF-16 text"},
                 {be, sizeof be - 1, ": the file is UTF-16 text"},
                 {bare, sizeof bare - 1, ":1: the line holds NUL bytes"},
                 {late, sizeof late - 1, ":3: the line holds NUL bytes"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[] = "/tmp/dk_test_csv_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, cases[i].bytes, cases[i].n), (ssize_t)cases[i].n);
        close(fd);
        const char *msg = expect_failure(path, DK_ERR_DATA);
        unlink(path);
        assert_contains(msg, path);
        assert_contains(msg, cases[i].want);
    }
}

static long peak_resident_kib(void)
{
    struct rusage u;
    assert_int_equal(getrusage(RUSAGE_SELF, &u), 0);
    return u.ru_maxrss;
}

/* A binary file is refused at its first NUL byte, not after its whole "line" is held in
 * memory: 256 MiB of zeros after two good lines (a sparse file, so nothing is written)
 * used to raise the peak resident size by more than 256 MiB before the error. */
static void test_nul_bytes_stop_reading_at_once(void **state)
{
    temp_file f = write_temp("x,y\n1,2\n");
    FILE *grow = fopen(f.path, "r+b");
    assert_non_null(grow);
    assert_int_equal(ftruncate(fileno(grow), (off_t)256 << 20), 0);
    assert_int_equal(fclose(grow), 0);
    const long before = peak_resident_kib();
    const char *msg = expect_failure(f.path, DK_ERR_DATA);
    const long grown_kib = peak_resident_kib() - before;
    unlink(f.path);
    assert_contains(msg, ":3: the line holds NUL bytes");
    if (grown_kib > 32 * 1024)
        fail_msg("refusing a file of zeros raised the peak resident size by %ld KiB", grown_kib);
}

/* Writes a header (or nothing), then one line of `len` bytes: `fill` repeated, the last
 * byte a line end when `terminated`. */
static temp_file write_long_line(const char *header, size_t len, char fill, int terminated)
{
    char *text = malloc(strlen(header) + len + 1);
    assert_non_null(text);
    strcpy(text, header);
    char *row = text + strlen(header);
    memset(row, fill, len);
    if (terminated)
        row[len - 1] = '\n';
    row[len] = '\0';
    temp_file f = write_temp(text);
    free(text);
    return f;
}

/* Lines are read up to DK_CSV_LINE_MAX bytes, terminator included; a file without line ends
 * (or with lines longer than that) is refused at the limit, naming the line. */
static void test_line_length_is_bounded(void **state)
{
    /* At the limit: a row of 16 MiB, its line end included (zeros, then a 7), is read. */
    temp_file at = write_long_line("x\n", DK_CSV_LINE_MAX, '0', 1);
    FILE *f = fopen(at.path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -2, SEEK_END), 0);
    assert_int_equal(fputc('7', f), '7');
    assert_int_equal(fclose(f), 0);
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(at.path, &info), DK_OK);
    assert_int_equal(info.n_rows, 1);
    long slot[1] = {0};
    double v = 0;
    assert_int_equal(dk_csv_read_rows(at.path, &info, slot, DK_F64, &v), DK_OK);
    assert_true(v == 7.0);
    dk_csv_info_free(&info);
    unlink(at.path);

    /* One byte more, in a data row and in the header. */
    temp_file over = write_long_line("x\n", DK_CSV_LINE_MAX + 1, '1', 1);
    const char *msg = expect_failure(over.path, DK_ERR_DATA);
    unlink(over.path);
    assert_contains(msg, ":2: no line end within 16 MiB");
    temp_file header = write_long_line("", DK_CSV_LINE_MAX + 100, 'a', 0);
    msg = expect_failure(header.path, DK_ERR_DATA);
    unlink(header.path);
    assert_contains(msg, ":1: no line end within 16 MiB");
}

static void test_blank_lines_only_at_the_end(void **state)
{
    EXPECT_DATA_ERROR("x,y\n1,2\n\n3,4\n", ":3: blank line inside the data");
    expect_scan_rows("x,y\n1,2\n3,4\n\n  \r\n\n", 2);
}

static void test_train_plus_test_beyond_the_file_is_rejected(void **state)
{
    temp_file f = write_temp("x,y\n1,2\n3,4\n5,6\n7,8\n9,10\n");
    dk_fit_task_settings s = csv_settings(f.path, 1, 4, 2);
    dk_fit_task *t = NULL;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    const char *msg = dk_error_message();
    assert_contains(msg, f.path);
    assert_contains(msg, "5 data rows");
    assert_contains(msg, "test_size = 2");
    assert_contains(msg, "train_size = 4");
    s.test_size = 6;
    s.train_size = 0;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_contains(dk_error_message(), "test_size = 6");
    /* exactly all rows is fine */
    s.test_size = 1;
    s.train_size = 4;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_OK);
    assert_int_equal(t->train_size, 4);
    dk_fit_task_destroy(&t);
    unlink(f.path);
}

static void test_missing_file_is_an_io_error(void **state)
{
    const char *msg = expect_failure("/nonexistent/dk_no_such.csv", DK_ERR_IO);
    assert_contains(msg, "/nonexistent/dk_no_such.csv");
}

/* Scanning path is DK_ERR_USAGE with a message that contains `part`. */
static void expect_scan_usage_error(const char *path, const char *part)
{
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(path, &info), DK_ERR_USAGE);
    assert_contains(dk_error_message(), part);
    dk_error_clear();
}

/* The file is read twice: a device or pipe is refused before it is opened; so are a
 * directory, standard input and an empty path, each named as such. */
static void test_special_file_is_refused(void **state)
{
    expect_scan_usage_error("/dev/null", "/dev/null is not a regular file: CSV data is read twice");
    expect_scan_usage_error("/tmp", "/tmp is a directory: expected a CSV file");
    expect_scan_usage_error("-", "the CSV file is '-', but standard input cannot serve");
    expect_scan_usage_error("", "the CSV file's path is empty");
}

static void test_crlf_and_trailing_whitespace_parse_like_lf(void **state)
{
    temp_file lf = write_temp(good);
    temp_file crlf = write_temp("\xEF\xBB\xBFx, y ,target \r\n"
                                "1.5,-2,3e2\r\n"
                                "  0.25 ,1e-3,\t-7.125  \r\n"
                                "4,5,6\t\r\n"
                                "-0,0x1p-2,1E+1\r\n"
                                "\r\n");
    dk_csv_info a, b;
    assert_int_equal(dk_csv_scan(lf.path, &a), DK_OK);
    assert_int_equal(dk_csv_scan(crlf.path, &b), DK_OK);
    assert_int_equal(b.n_cols, 3);
    assert_int_equal(b.n_rows, 4);
    for (int c = 0; c < 3; c++)
        assert_string_equal(a.names[c], b.names[c]);
    long slot[4] = {0, 1, 2, 3};
    double va[12], vb[12];
    assert_int_equal(dk_csv_read_rows(lf.path, &a, slot, DK_F64, va), DK_OK);
    assert_int_equal(dk_csv_read_rows(crlf.path, &b, slot, DK_F64, vb), DK_OK);
    assert_memory_equal(va, vb, sizeof va);
    dk_csv_info_free(&a);
    dk_csv_info_free(&b);
    unlink(lf.path);
    unlink(crlf.path);
}

/* The scan's fingerprint is the size and CRC-32C of every byte of the file (read here in
 * one piece, independently of the scan's lines); the same bytes under another name give
 * the same fingerprint, one changed digit another, and the task reports it. */
static void test_scan_fingerprints_the_whole_file(void **state)
{
    (void)state;
    temp_file f = write_temp(good), same = write_temp(good);
    char changed_text[sizeof good];
    memcpy(changed_text, good, sizeof good);
    changed_text[strlen("x, y ,target\n1.5,-")] = '3'; /* -2 -> -3 */
    temp_file changed = write_temp(changed_text);
    dk_csv_info a, b, c;
    assert_int_equal(dk_csv_scan(f.path, &a), DK_OK);
    assert_int_equal(dk_csv_scan(same.path, &b), DK_OK);
    assert_int_equal(dk_csv_scan(changed.path, &c), DK_OK);
    assert_int_equal(a.bytes, strlen(good));
    assert_int_equal(a.crc32c, dk_crc32c(good, strlen(good)));
    assert_int_equal(b.bytes, a.bytes);
    assert_int_equal(b.crc32c, a.crc32c);
    assert_int_equal(c.bytes, a.bytes);
    assert_int_not_equal(c.crc32c, a.crc32c);
    dk_fit_task_settings s = csv_settings(f.path, 1, 0, 0);
    dk_fit_task *t = NULL;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_OK);
    assert_int_equal(t->csv_bytes, a.bytes);
    assert_int_equal(t->csv_crc32c, a.crc32c);
    dk_fit_task_destroy(&t);
    dk_csv_info_free(&a);
    dk_csv_info_free(&b);
    dk_csv_info_free(&c);
    unlink(f.path);
    unlink(same.path);
    unlink(changed.path);
}

static void test_long_lines_parse(void **state)
{
    /* 600 columns of 20-character numbers: far beyond any fixed line buffer */
    enum { cols = 600 };
    size_t cap = (size_t)cols * 32 * 3;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t n = 0;
    for (int c = 0; c < cols; c++)
        n += (size_t)snprintf(text + n, cap - n, "column_%d%s", c, c + 1 < cols ? "," : "\n");
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < cols; c++)
            n += (size_t)snprintf(text + n, cap - n, "%.17g%s", r * 1000.0 + c + 0.123456789012345,
                                  c + 1 < cols ? "," : "\n");
    temp_file f = write_temp(text);
    free(text);
    dk_csv_info info;
    assert_int_equal(dk_csv_scan(f.path, &info), DK_OK);
    assert_int_equal(info.n_cols, cols);
    assert_string_equal(info.names[cols - 1], "column_599");
    long slot[2] = {0, 1};
    double *v = malloc(sizeof(double) * 2 * cols);
    assert_int_equal(dk_csv_read_rows(f.path, &info, slot, DK_F64, v), DK_OK);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < cols; c++)
            assert_true(v[r * cols + c] == r * 1000.0 + c + 0.123456789012345);
    free(v);
    dk_csv_info_free(&info);
    unlink(f.path);
}

static int is_permutation(const long *p, long n)
{
    char seen[64] = {0};
    for (long i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]])
            return 0;
        seen[p[i]] = 1;
    }
    return 1;
}

static void test_split_is_deterministic_per_seed(void **state)
{
    long a[40], b[40], c[40];
    dk_csv_permutation(11, 40, a);
    dk_csv_permutation(11, 40, b);
    dk_csv_permutation(12, 40, c);
    assert_true(is_permutation(a, 40));
    assert_true(is_permutation(c, 40));
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    long one[1];
    dk_csv_permutation(11, 1, one);
    assert_int_equal(one[0], 0);

    /* through the task: same seed, same split; another seed, another split */
    char text[2048] = "in,out\n";
    for (int i = 0; i < 40; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d,%d\n", i, -i);
    temp_file f = write_temp(text);
    dk_fit_task_settings s = csv_settings(f.path, 1, 0, 10);
    s.seed = 11;
    dk_fit_task *t1 = NULL, *t2 = NULL, *t3 = NULL;
    assert_int_equal(dk_fit_task_create(&t1, &s), DK_OK);
    assert_int_equal(dk_fit_task_create(&t2, &s), DK_OK);
    s.seed = 12;
    assert_int_equal(dk_fit_task_create(&t3, &s), DK_OK);
    assert_memory_equal(t1->train_x, t2->train_x, 30 * sizeof(double));
    assert_memory_equal(t1->test_x, t2->test_x, 10 * sizeof(double));
    assert_memory_not_equal(t1->train_x, t3->train_x, 30 * sizeof(double));
    for (int k = 0; k < 40; k++) {
        double x = k < 10 ? ((double *)t1->test_x)[k] : ((double *)t1->train_x)[k - 10];
        double y = k < 10 ? ((double *)t1->test_y)[k] : ((double *)t1->train_y)[k - 10];
        assert_true(x == (double)a[k]); /* the split is the permutation */
        assert_true(y == -x);
    }
    dk_fit_task_destroy(&t1);
    dk_fit_task_destroy(&t2);
    dk_fit_task_destroy(&t3);
    unlink(f.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file_parses_to_the_right_values),
        cmocka_unit_test(test_every_row_is_checked_only_owned_rows_are_read),
        cmocka_unit_test(test_wrong_column_count_names_path_and_line),
        cmocka_unit_test(test_non_number_names_the_column),
        cmocka_unit_test(test_non_finite_values_are_rejected),
        cmocka_unit_test(test_empty_file_is_rejected),
        cmocka_unit_test(test_header_only_is_rejected),
        cmocka_unit_test(test_bad_headers_are_rejected),
        cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_utf16_and_nul_bytes_are_named),
        cmocka_unit_test(test_nul_bytes_stop_reading_at_once),
        cmocka_unit_test(test_line_length_is_bounded),
        cmocka_unit_test(test_blank_lines_only_at_the_end),
        cmocka_unit_test(test_train_plus_test_beyond_the_file_is_rejected),
        cmocka_unit_test(test_missing_file_is_an_io_error),
        cmocka_unit_test(test_special_file_is_refused),
        cmocka_unit_test(test_crlf_and_trailing_whitespace_parse_like_lf),
        cmocka_unit_test(test_scan_fingerprints_the_whole_file),
        cmocka_unit_test(test_long_lines_parse),
        cmocka_unit_test(test_split_is_deterministic_per_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The benchmarks' tables and markdown reports; see bench_report.h. */
#include "bench_report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void bench_fmt_value(bench_cell cell, const char *fmt, double v, const char *note)
{
    if (!isnan(v))
        snprintf(cell, sizeof(bench_cell), fmt, v);
    else if (note && !strcmp(note, "not installed"))
        snprintf(cell, sizeof(bench_cell), "not installed");
    else
        snprintf(cell, sizeof(bench_cell), "n/a");
}

void bench_fmt_pair(bench_cell cell, const char *fmt, double a, double b)
{
    char sa[16] = "-", sb[16] = "-";
    if (!isnan(a))
        snprintf(sa, sizeof sa, fmt, a);
    if (!isnan(b))
        snprintf(sb, sizeof sb, fmt, b);
    snprintf(cell, sizeof(bench_cell), "%s / %s", sa, sb);
}

static void print_cell(FILE *f, int md, int width, const char *s)
{
    if (md)
        fprintf(f, "| %s ", s);
    else
        fprintf(f, "%*s  ", width, s);
}

static void end_row(FILE *f, int md)
{
    fprintf(f, md ? "|\n" : "\n");
}

void bench_print_header(FILE *f, int md, int n, const char *const *hdr, const int *w, const char *align)
{
    for (int c = 0; c < n; c++)
        print_cell(f, md, w[c], hdr[c]);
    end_row(f, md);
    if (!md)
        return;
    for (int c = 0; c < n; c++)
        fprintf(f, align[c] == 'l' ? "|---" : "|---:");
    fprintf(f, "|\n");
}

void bench_print_row(FILE *f, int md, int n, const bench_cell *cells, const int *w)
{
    for (int c = 0; c < n; c++)
        print_cell(f, md, w[c], cells[c]);
    end_row(f, md);
}

void bench_set_note(char *dst, const char *s)
{
    snprintf(dst, BENCH_NOTE_LEN, "%s", s);
}

void bench_set_torch_notes(bench_torch_notes *n, const char *eager, const char *compiled)
{
    bench_set_note(n->eager, eager);
    bench_set_note(n->compiled, compiled);
}

int bench_seen_first(bench_seen *seen, const char *s)
{
    for (int q = 0; q < seen->n; q++)
        if (!strcmp(seen->s[q], s))
            return 0;
    if (seen->n == (int)(sizeof seen->s / sizeof seen->s[0]))
        return 0;
    seen->s[seen->n++] = s;
    return 1;
}

void bench_print_note_lines(FILE *f, const void *rows, int n_rows, size_t row_size, size_t notes_off)
{
    bench_seen seen = {.n = 0};
    for (int r = 0; r < n_rows; r++) {
        const bench_torch_notes *n = (const void *)((const char *)rows + (size_t)r * row_size + notes_off);
        const char *notes[2] = {n->eager, n->compiled};
        int same = !strcmp(notes[0], notes[1]); /* e.g. "not installed": say it once */
        for (int q = 0; q < 2; q++) {
            if (!notes[q][0] || (same && q == 1))
                continue;
            if (bench_seen_first(&seen, notes[q]))
                fprintf(f, "- torch%s: %s\n", same ? "" : q ? " compiled" : " eager", notes[q]);
        }
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = 2 * cap + 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    buf[len] = 0;
    return buf;
}

static void write_block(FILE *f, const bench_md *md, void (*generate)(FILE *f, const void *ctx),
                        const void *ctx)
{
    fprintf(f, "%s\n\n", md->begin);
    generate(f, ctx);
    fprintf(f, "\n%s\n", md->end);
}

static int write_md(const char *path, const bench_md *md, void (*generate)(FILE *f, const void *ctx),
                    const void *ctx)
{
    char *old = slurp(path);
    char *b = old ? strstr(old, md->begin) : NULL;
    char *e = b ? strstr(b, md->end) : NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        free(old);
        return -1;
    }
    if (b && e) {
        fwrite(old, 1, (size_t)(b - old), f);
        write_block(f, md, generate, ctx);
        const char *rest = e + strlen(md->end);
        rest += *rest == '\n';
        fputs(rest, f);
    } else {
        fputs(md->title, f);
        write_block(f, md, generate, ctx);
        fprintf(f, "\n## Analysis\n\n(To be written from the numbers above.)\n");
    }
    free(old);
    return fclose(f) ? -1 : 0;
}

int bench_save_md(const char *prog, const char *path, const bench_md *md,
                  void (*generate)(FILE *f, const void *ctx), const void *ctx)
{
    if (write_md(path, md, generate, ctx)) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

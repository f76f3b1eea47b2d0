/* The benchmarks' tables and markdown reports: cells formatted alike, a table printed as
 * aligned text for the terminal or as markdown for the report from the same cells,
 * footnotes that give each reason once, and the report file, of which a run replaces only
 * the generated block. */
#ifndef DK_BENCH_REPORT_H
#define DK_BENCH_REPORT_H

#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------
 * Cells and tables */

typedef char bench_cell[64];

/* v in format fmt; a missing value (NAN) reads "not installed" where that is why (note),
 * "n/a" otherwise, so an absent PyTorch is told apart from a failed measurement. */
void bench_fmt_value(bench_cell cell, const char *fmt, double v, const char *note);

/* "a / b", each in format fmt, "-" for a NAN: two sides of one quantity in one column. */
void bench_fmt_pair(bench_cell cell, const char *fmt, double a, double b);

/* A table's header row of n columns (hdr, widths w), and for markdown the separator row:
 * align[c] is 'l' for a left-aligned column, anything else for right-aligned. */
void bench_print_header(FILE *f, int md, int n, const char *const *hdr, const int *w, const char *align);

/* One row of n cells: markdown (md = 1) or right-aligned to the widths w. */
void bench_print_row(FILE *f, int md, int n, const bench_cell *cells, const int *w);

/* ------------------------------------------------------------------------------------
 * Footnotes */

/* A reason a value is missing, "" where it is not. */
#define BENCH_NOTE_LEN 200

void bench_set_note(char *dst, const char *s);

/* Why a row's two torch values (eager, torch.compile) are missing. */
typedef struct bench_torch_notes {
    char eager[BENCH_NOTE_LEN], compiled[BENCH_NOTE_LEN];
} bench_torch_notes;

void bench_set_torch_notes(bench_torch_notes *n, const char *eager, const char *compiled);

/* The footnotes already given, so that each reason is said once (at most 64). */
typedef struct bench_seen {
    const char *s[64];
    int n;
} bench_seen;

/* Whether s is new, and then remembers it; 0 for a repeat and once 64 are remembered. */
int bench_seen_first(bench_seen *seen, const char *s);

/* Footnotes for missing torch values, each distinct reason once: the notes of row r are at
 * byte offset notes_off of the r-th of n_rows structs of row_size bytes at rows. */
void bench_print_note_lines(FILE *f, const void *rows, int n_rows, size_t row_size, size_t notes_off);

/* ------------------------------------------------------------------------------------
 * The report file */

typedef struct bench_md {
    const char *begin, *end; /* the generated block's first and last lines */
    const char *title;       /* what a new file starts with, before the block */
} bench_md;

/* Writes the report into path: an existing file keeps the hand-written text around its
 * generated block (the lines md->begin up to md->end), which is replaced by md->begin, what
 * generate(f, ctx) writes, and md->end; a new file gets the title, then the block, then a
 * placeholder for the analysis. Says so: "wrote PATH" on stdout, or "prog: cannot write
 * PATH: why" on stderr, and then returns -1. */
int bench_save_md(const char *prog, const char *path, const bench_md *md,
                  void (*generate)(FILE *f, const void *ctx), const void *ctx);

#endif

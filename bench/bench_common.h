/* Helpers shared by the benchmarks bench_kan_layer.c and bench_pde_step.c: clock, the
 * other-processes load from /proc/stat, waiting for a quiet machine, the best-of-N timing
 * rule, option parsing, the environment description, the torch script's availability
 * and the markdown report's generated block. */
#ifndef DK_BENCH_COMMON_H
#define DK_BENCH_COMMON_H

#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------------
 * Timing and load */

/* Seconds on the monotonic clock. */
double bench_now_s(void);

/* CPU time of the whole machine and of this process, to tell how much of the machine
 * other jobs used while we measured: on a shared 2-core machine a row measured beside a
 * compile is worth little, and the table says so instead of hiding it. */
typedef struct bench_cpu_sample {
    double busy_s; /* all CPUs, /proc/stat: user+nice+system+irq+softirq+steal */
    double own_s;  /* this process, all threads */
    double wall_s;
} bench_cpu_sample;

bench_cpu_sample bench_cpu_sample_now(void);

/* Fraction of the machine (0..1) others used between a and b; NAN where /proc/stat is
 * missing or the window is under 0.1 s, since /proc/stat counts in clock ticks (10 ms)
 * and a shorter window reads 0 % or 100 % by chance. Steal time counts as others': the
 * hypervisor's other guests slow us alike. */
double bench_others_load(const bench_cpu_sample *a, const bench_cpu_sample *b);

/* The most of the machine others may use while `threads` of ours run undisturbed: the
 * cores we leave free, plus 15 % for daemons and short bursts. A 1-thread row on two
 * cores tolerates one other busy core; an all-threads row tolerates next to nothing. */
double bench_load_limit(int threads);

/* Before a measurement: lets the previous phase's idle workers go to sleep (OpenBLAS
 * threads spin and yield for a while after a GEMM, OpenMP threads spin after a region),
 * then, while other jobs use more than bench_load_limit(threads) of the machine, waits in
 * 0.25 s steps, for at most the run's remaining budget *wait_left; then measures anyway.
 * Does nothing when quick (a smoke run measures nothing worth protecting). */
void bench_settle(int quick, int threads, double *wait_left);

/* Repetitions for a call that took `first` seconds: about target_s of timed calls, but at
 * least 3 for calls under a second and 2 under three seconds, so one burst of another
 * job on a shared machine cannot decide a row; long calls average such bursts out; at
 * most max_reps. */
int bench_reps_for(double first, double target_s, int max_reps);

/* Best (shortest) seconds of one step(ctx) over bench_reps_for() timed repetitions after
 * one warm-up call; *reps_out = their count. The minimum, not the median: on a machine
 * shared with compiles and tests, the interference only ever adds time, so the fastest
 * repetition estimates the machine's undisturbed speed best, for every implementation
 * alike. on_best(ctx), when not NULL, runs right after each repetition that is the
 * fastest so far (to keep what that repetition recorded). */
double bench_time_best(void (*step)(void *ctx), void *ctx, double target_s, int max_reps,
                       void (*on_best)(void *ctx), int *reps_out);

/* ------------------------------------------------------------------------------------
 * Options */

/* A positive int up to 2^24; 0 on success, -1 otherwise. */
int bench_parse_int(const char *s, int *out);

/* Comma list of at most max positive ints. */
int bench_parse_list(const char *s, int *out, int *n_out, int max);

/* A non-negative number of seconds. */
int bench_parse_seconds(const char *s, double *out);

/* ------------------------------------------------------------------------------------
 * Environment */

typedef struct bench_machine_info {
    char cpu[256], date[64], compiler[256];
    int procs;
} bench_machine_info;

/* CPU model from /proc/cpuinfo, omp_get_num_procs(), the date (UTC) and the compiler
 * with the flags the timed code was built with (c_flags). */
void bench_machine_info_get(bench_machine_info *mi, const char *c_flags);

/* ------------------------------------------------------------------------------------
 * The torch baseline and the report */

#define BENCH_NOTE_LEN 200

/* Why the torch script cannot run ("skipped (--no-torch)", "not installed", "script not
 * found"), or NULL when it can. */
const char *bench_torch_unavailable(int no_torch, const char *python, const char *script);

void bench_set_note(char *dst, const char *s);

/* Footnotes for missing torch values, each distinct reason once: eager_note(r) and
 * compiled_note(r) of row r are at byte offsets eager_off and compiled_off of the r-th of
 * n_rows structs of row_size bytes at rows. */
void bench_print_note_lines(FILE *f, const void *rows, int n_rows, size_t row_size,
                            size_t eager_off, size_t compiled_off);

/* One table cell: markdown (md = 1) or right-aligned to width. */
void bench_print_cell(FILE *f, int md, int width, const char *s);

/* A table's header row of n columns (hdr, widths w), and for markdown the separator row:
 * align[c] is 'l' for a left-aligned column, anything else for right-aligned. */
void bench_print_header(FILE *f, int md, int n, const char *const *hdr, const int *w, const char *align);

/* Writes a report into path: an existing file keeps the hand-written text around its
 * generated block (from the line md_begin up to md_end, both included), which is replaced
 * by what generate(f, ctx) writes (itself starting with md_begin and ending with md_end);
 * a new file gets title, then the block, then a placeholder for the analysis. */
int bench_write_md(const char *path, const char *md_begin, const char *md_end, const char *title,
                   void (*generate)(FILE *f, const void *ctx), const void *ctx);

#endif

/* Helpers shared by the benchmarks (bench_kan_layer.c, bench_pde_step.c and those under
 * gpu/): clock, the other-processes load from /proc/stat, waiting for a quiet machine, the
 * timing rules, measuring a row again while it ran beside another job, comparing two
 * implementations' results, the environment description and the PyTorch peer script.
 * Options are in bench_options.h, tables and the markdown report in bench_report.h. */
#ifndef DK_BENCH_COMMON_H
#define DK_BENCH_COMMON_H

#include <stddef.h>
#include <stdio.h>

#include "common/dk_dtype.h"

#include "bench_options.h"
#include "bench_report.h"

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

/* How a CPU benchmark's run measures: its timing options and the wait budget left. */
typedef struct bench_timing {
    int quick; /* a smoke run: no settling */
    double target_s;
    int max_reps;
    double wait_left; /* seconds the run may still wait for a quiet machine */
} bench_timing;

/* The run's timing from its options, with the whole wait budget left. */
bench_timing bench_timing_start(const bench_run_opts *run, const bench_cpu_opts *cpu);

/* One measurement: bench_settle, then the best seconds of step(ctx) (bench_time_best with
 * on_best and *reps_out), and in *load_out the others' load while it was timed. */
double bench_time_settled(bench_timing *tm, int threads, void (*step)(void *ctx), void *ctx,
                          void (*on_best)(void *ctx), int *reps_out, double *load_out);

/* A row measured while other jobs used the machine is worth little, so it is measured
 * again while the wait budget lasts, at most twice, and the least disturbed attempt is
 * kept. The row is row_size bytes at row; measure(attempt, ctx, tm) makes one attempt into
 * `attempt`, a copy of the row as it was, and returns the others' load it saw. The kept
 * attempt ends up at row. scratch holds two rows. label names the row in the "measuring
 * again" line on stderr. */
void bench_measure_quietly(void *row, void *scratch, size_t row_size, int threads, const char *label,
                           bench_timing *tm, double (*measure)(void *attempt, void *ctx, bench_timing *tm),
                           void *ctx);

/* The GPU benchmarks' repetition count: target_s / first (the seconds of one call), at
 * least min_reps and at most max_reps; max_reps where the call took no measurable time. */
int bench_reps_clamped(double first, double target_s, int min_reps, int max_reps);

/* The median of t[0..n-1], n >= 1; sorts t, so t[0] and t[n-1] are then the extremes. */
double bench_median(double *t, int n);

/* ------------------------------------------------------------------------------------
 * Results of two implementations */

/* max |a - b| / max |b| over n elements of type dt: a norm-wise relative difference,
 * meaningful also where single entries are near zero. NAN where either holds a NaN (fmax
 * would pass over it), so that a check against a tolerance fails. */
double bench_rel_diff(dk_dtype dt, const void *a, const void *b, size_t n);

/* ------------------------------------------------------------------------------------
 * Environment */

/* The flags the timed code was built with, as the build passes them (bench/CMakeLists.txt). */
#ifndef DK_BENCH_C_FLAGS
#define DK_BENCH_C_FLAGS "unknown"
#endif

typedef struct bench_machine_info {
    char cpu[256], date[64], compiler[256];
    int procs;
} bench_machine_info;

/* CPU model from /proc/cpuinfo, omp_get_num_procs(), the date (UTC) and the compiler
 * with the flags the timed code was built with (c_flags). */
void bench_machine_info_get(bench_machine_info *mi, const char *c_flags);

/* Now, as "2026-01-31 12:00 UTC". */
void bench_date_utc(char *buf, size_t len);

/* The lines a CPU benchmark's report starts with: when the run was and how long it took
 * (waited_s of it waiting for other jobs), the CPU with the 'all threads' count, and the
 * compiler. */
void bench_print_md_machine(FILE *f, const bench_machine_info *mi, int threads_all, double wall_s,
                            double waited_s);

/* ------------------------------------------------------------------------------------
 * The PyTorch peer script */

/* Why the torch script cannot run ("skipped (--no-torch)", "not installed", "script not
 * found"), or NULL when it can. */
const char *bench_torch_unavailable(const bench_run_opts *run);

/* Runs the shell command cmd and hands each line of its output, without the newline, to
 * on_line(line, ctx); then *exit_status = its status (pclose). -1 where it could not be
 * started, 0 otherwise. */
int bench_run_script(const char *cmd, void (*on_line)(char *line, void *ctx), void *ctx, int *exit_status);

/* Splits line at tabs, in place, into at most max fields; returns their count. */
int bench_split_tabs(char *line, char **fields, int max);

/* What the CPU benchmarks' reports say about their torch peer. */
typedef struct bench_torch_info {
    char status[BENCH_NOTE_LEN]; /* version, or why there is no torch column */
    int available;
    double waited_s; /* the script's waiting for other jobs */
} bench_torch_info;

/* Starts ti afresh (not available, nothing waited) and returns why the torch script cannot
 * run (bench_torch_unavailable), which is then also ti's status; NULL where it can. */
const char *bench_torch_prepare(bench_torch_info *ti, const bench_run_opts *run);

/* Runs a CPU benchmark's torch script (command line cmd, for all rows at once, so that
 * python and torch start once; before any C measurement, never beside one): says so on
 * stderr, marks ti available ("installed" until the script names its version), hands each
 * output line to on_line(line, ctx) and reports a failing exit status on stderr. */
void bench_torch_run(const char *cmd, const char *script, bench_torch_info *ti,
                     void (*on_line)(char *line, void *ctx), void *ctx);

/* Takes the script's info lines that every CPU benchmark understands, key "torch" (the
 * version) and "waited_s"; 1 when key was one of them, 0 otherwise. */
int bench_torch_info_key(bench_torch_info *ti, const char *key, const char *value);

#endif

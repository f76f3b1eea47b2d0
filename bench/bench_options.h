/* Command-line options of the benchmarks. Each program lists its options in a table (name,
 * kind, where the value goes) and bench_parse_args walks argv once against it, so the rules
 * are the same in every program: arguments are taken in order, a value option takes the
 * next argument whatever it looks like, and a missing or bad value or an unknown option is
 * an error. The options that several programs take are groups, listed once here:
 * bench_run_opts for the benchmarks with a PyTorch peer (--quick, the script, its
 * interpreter, the markdown report), bench_cpu_opts for the CPU benchmarks' timing. */
#ifndef DK_BENCH_OPTIONS_H
#define DK_BENCH_OPTIONS_H

#include <stdio.h>

/* ------------------------------------------------------------------------------------
 * Values */

/* A positive int up to 2^24; 0 on success, -1 otherwise. */
int bench_parse_int(const char *s, int *out);

/* A list: s split at the characters of sep, each token parsed by parse_item(token, i, ctx),
 * i counting from 0. Returns the count of tokens, -1 for none, for more than max, or for
 * one that parse_item refuses (-1). s is read up to 255 characters. */
int bench_parse_each(const char *s, const char *sep, int max,
                     int (*parse_item)(const char *token, int i, void *ctx), void *ctx);

/* Comma list of at most max positive ints. */
int bench_parse_list(const char *s, int *out, int *n_out, int max);

/* A non-negative number of seconds. */
int bench_parse_seconds(const char *s, double *out);

/* A list option's default, spelled as on the command line, where the option was not
 * given (*n_out is 0): the usage text and the code then say the same. */
int bench_default_list(const char *s, int *out, int *n_out, int max);

/* ------------------------------------------------------------------------------------
 * The table */

typedef enum bench_opt_kind {
    BENCH_OPT_FLAG,    /* no value: *(int *)dst = 1 */
    BENCH_OPT_INT,     /* bench_parse_int into *(int *)dst */
    BENCH_OPT_SECONDS, /* bench_parse_seconds into *(double *)dst */
    BENCH_OPT_STRING,  /* *(const char **)dst = the value */
    BENCH_OPT_LIST,    /* bench_parse_list into (int *)dst, count in *n, at most max */
    BENCH_OPT_CUSTOM,  /* parse(value, dst) */
} bench_opt_kind;

typedef struct bench_opt {
    const char *name; /* "--batch" */
    bench_opt_kind kind;
    void *dst;
    int *n, max;                            /* BENCH_OPT_LIST */
    int (*parse)(const char *v, void *dst); /* BENCH_OPT_CUSTOM: 0 on success, -1 otherwise */
} bench_opt;

/* One table entry each; the typed destinations let the compiler check what the void *dst
 * of the table cannot. */
bench_opt bench_opt_flag(const char *name, int *dst);
bench_opt bench_opt_int(const char *name, int *dst);
bench_opt bench_opt_seconds(const char *name, double *dst);
bench_opt bench_opt_string(const char *name, const char **dst);
bench_opt bench_opt_list(const char *name, int *dst, int *n, int max);
bench_opt bench_opt_custom(const char *name, int (*parse)(const char *v, void *dst), void *dst);

/* The options of a benchmark with a PyTorch peer, beside its own. */
typedef struct bench_run_opts {
    int quick;                /* --quick: tiny sizes, a smoke run of every path, torch eager only */
    int no_torch, no_compile; /* --no-torch, --no-compile */
    const char *md_path;      /* --md PATH: write the report there */
    const char *python;       /* --python EXE */
    const char *torch_script; /* --torch-script PATH */
} bench_run_opts;

/* Their defaults: python3 and the program's own script. */
bench_run_opts bench_run_opts_default(const char *torch_script);

/* The timing options of the CPU benchmarks (bench_common.h's rules). */
typedef struct bench_cpu_opts {
    double target_s;   /* --target-seconds S: what one measurement aims at */
    int max_reps;      /* --max-reps N */
    int threads_all;   /* --threads N: the 'all threads' count */
    double max_wait_s; /* --max-wait S: seconds in all the run may wait for a quiet machine */
} bench_cpu_opts;

/* The program's defaults, with threads_all = omp_get_num_procs(). */
bench_cpu_opts bench_cpu_opts_default(double target_s, int max_reps, double max_wait_s);

/* The thread counts a CPU benchmark's rows are measured at, into counts: 1 and all threads
 * (just 1 where that is all); returns their count. */
int bench_cpu_thread_counts(const bench_cpu_opts *cpu, int counts[2]);

/* The entries of a table declared as an array. */
#define BENCH_N_OPTS(opts) ((int)(sizeof(opts) / sizeof((opts)[0])))

/* Parses argv[first..argc-1] against the program's table opts[0..n_opts-1] and the groups
 * run and cpu where they are not NULL: 0 on success, -1 on an unknown option or a missing
 * or bad value. With a usage function, --help and -h print usage(stdout) and exit with
 * status 0; without one they are unknown options. Then applies --quick to the groups, so
 * that a smoke run takes seconds, not minutes: no torch.compile (it takes minutes per
 * shape) and, for the CPU timing, one repetition and no waiting for a quiet machine. */
int bench_parse_args(int argc, char **argv, int first, const bench_opt *opts, int n_opts,
                     bench_run_opts *run, bench_cpu_opts *cpu, void (*usage)(FILE *f));

/* A command-line error: the usage on stderr; returns the exit status that says so, 2. */
int bench_usage_error(void (*usage)(FILE *f));

#endif

/* Command-line options of the benchmarks; see bench_options.h. */
#include "bench_options.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int bench_parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 1 << 24)
        return -1;
    *out = (int)v;
    return 0;
}

int bench_parse_each(const char *s, const char *sep, int max,
                     int (*parse_item)(const char *token, int i, void *ctx), void *ctx)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
        if (n == max || parse_item(tok, n, ctx))
            return -1;
        n++;
    }
    return n > 0 ? n : -1;
}

static int parse_int_item(const char *token, int i, void *out)
{
    return bench_parse_int(token, (int *)out + i);
}

int bench_parse_list(const char *s, int *out, int *n_out, int max)
{
    *n_out = bench_parse_each(s, ",", max, parse_int_item, out);
    return *n_out > 0 ? 0 : -1;
}

int bench_parse_seconds(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end == s || *end || !(*out >= 0) ? -1 : 0;
}

int bench_default_list(const char *s, int *out, int *n_out, int max)
{
    return *n_out ? 0 : bench_parse_list(s, out, n_out, max);
}

bench_opt bench_opt_flag(const char *name, int *dst)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_FLAG, .dst = dst};
}

bench_opt bench_opt_int(const char *name, int *dst)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_INT, .dst = dst};
}

bench_opt bench_opt_seconds(const char *name, double *dst)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_SECONDS, .dst = dst};
}

bench_opt bench_opt_string(const char *name, const char **dst)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_STRING, .dst = (void *)dst};
}

bench_opt bench_opt_list(const char *name, int *dst, int *n, int max)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_LIST, .dst = dst, .n = n, .max = max};
}

bench_opt bench_opt_custom(const char *name, int (*parse)(const char *v, void *dst), void *dst)
{
    return (bench_opt){.name = name, .kind = BENCH_OPT_CUSTOM, .dst = dst, .parse = parse};
}

bench_run_opts bench_run_opts_default(const char *torch_script)
{
    return (bench_run_opts){.python = "python3", .torch_script = torch_script};
}

bench_cpu_opts bench_cpu_opts_default(double target_s, int max_reps, double max_wait_s)
{
    return (bench_cpu_opts){.target_s = target_s, .max_reps = max_reps, .threads_all = omp_get_num_procs(),
                            .max_wait_s = max_wait_s};
}

int bench_cpu_thread_counts(const bench_cpu_opts *cpu, int counts[2])
{
    counts[0] = 1, counts[1] = cpu->threads_all;
    return cpu->threads_all > 1 ? 2 : 1;
}

enum { RUN_N_OPTS = 6, CPU_N_OPTS = 4 };

/* The groups' table entries, the run group's first; their count. */
static int group_table(bench_run_opts *run, bench_cpu_opts *cpu, bench_opt *opts)
{
    int n = 0;
    if (run) {
        opts[n++] = bench_opt_flag("--quick", &run->quick);
        opts[n++] = bench_opt_flag("--no-torch", &run->no_torch);
        opts[n++] = bench_opt_flag("--no-compile", &run->no_compile);
        opts[n++] = bench_opt_string("--md", &run->md_path);
        opts[n++] = bench_opt_string("--python", &run->python);
        opts[n++] = bench_opt_string("--torch-script", &run->torch_script);
    }
    if (cpu) {
        opts[n++] = bench_opt_seconds("--target-seconds", &cpu->target_s);
        opts[n++] = bench_opt_int("--max-reps", &cpu->max_reps);
        opts[n++] = bench_opt_int("--threads", &cpu->threads_all);
        opts[n++] = bench_opt_seconds("--max-wait", &cpu->max_wait_s);
    }
    return n;
}

static void apply_quick(bench_run_opts *run, bench_cpu_opts *cpu)
{
    if (!run || !run->quick)
        return;
    run->no_compile = 1;
    if (cpu) {
        cpu->target_s = 0;
        cpu->max_reps = 1;
        cpu->max_wait_s = 0;
    }
}

static const bench_opt *find_opt(const bench_opt *opts, int n_opts, const char *name)
{
    for (int q = 0; q < n_opts; q++)
        if (!strcmp(opts[q].name, name))
            return &opts[q];
    return NULL;
}

static int apply_value(const bench_opt *op, const char *v)
{
    switch (op->kind) {
    case BENCH_OPT_INT:
        return bench_parse_int(v, op->dst);
    case BENCH_OPT_SECONDS:
        return bench_parse_seconds(v, op->dst);
    case BENCH_OPT_STRING:
        *(const char **)op->dst = v;
        return 0;
    case BENCH_OPT_LIST:
        return bench_parse_list(v, op->dst, op->n, op->max);
    case BENCH_OPT_CUSTOM:
        return op->parse(v, op->dst);
    case BENCH_OPT_FLAG:
        break;
    }
    return -1;
}

int bench_parse_args(int argc, char **argv, int first, const bench_opt *opts, int n_opts,
                     bench_run_opts *run, bench_cpu_opts *cpu, void (*usage)(FILE *f))
{
    bench_opt group_opts[RUN_N_OPTS + CPU_N_OPTS];
    int n_group = group_table(run, cpu, group_opts);
    for (int a = first; a < argc; a++) {
        const char *s = argv[a];
        if (usage && (!strcmp(s, "--help") || !strcmp(s, "-h"))) {
            usage(stdout);
            exit(0);
        }
        const bench_opt *op = find_opt(opts, n_opts, s);
        if (!op)
            op = find_opt(group_opts, n_group, s);
        if (!op)
            return -1;
        if (op->kind == BENCH_OPT_FLAG)
            *(int *)op->dst = 1;
        else if (a + 1 == argc || apply_value(op, argv[++a]))
            return -1;
    }
    apply_quick(run, cpu);
    return 0;
}

int bench_usage_error(void (*usage)(FILE *f))
{
    usage(stderr);
    return 2;
}

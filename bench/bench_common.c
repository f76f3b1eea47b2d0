/* Helpers shared by the benchmarks; see bench_common.h. */
#include "bench_common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bench_cpu_sample bench_cpu_sample_now(void)
{
    bench_cpu_sample c = {NAN, 0, bench_now_s()};
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    c.own_s = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        unsigned long long u, ni, sy, id, io, irq, sirq, st;
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &u, &ni, &sy, &id, &io, &irq,
                   &sirq, &st) == 8)
            c.busy_s = (double)(u + ni + sy + irq + sirq + st) / (double)sysconf(_SC_CLK_TCK);
        fclose(f);
    }
    return c;
}

double bench_others_load(const bench_cpu_sample *a, const bench_cpu_sample *b)
{
    double wall = b->wall_s - a->wall_s, ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
    if (isnan(a->busy_s) || isnan(b->busy_s) || wall < 0.1 || ncpu < 1)
        return NAN;
    double l = ((b->busy_s - a->busy_s) - (b->own_s - a->own_s)) / (wall * ncpu);
    return l < 0 ? 0 : l > 1 ? 1 : l;
}

double bench_load_limit(int threads)
{
    double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double free_share = ncpu > threads ? (ncpu - threads) / ncpu : 0;
    return free_share + 0.15;
}

void bench_settle(int quick, int threads, double *wait_left)
{
    if (quick)
        return;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    ts.tv_nsec = 250 * 1000 * 1000;
    while (*wait_left > 0) {
        bench_cpu_sample a = bench_cpu_sample_now();
        nanosleep(&ts, NULL);
        bench_cpu_sample b = bench_cpu_sample_now();
        double l = bench_others_load(&a, &b);
        if (!(l > bench_load_limit(threads)))
            break;
        *wait_left -= b.wall_s - a.wall_s;
    }
}

int bench_reps_for(double first, double target_s, int max_reps)
{
    int reps = (int)lround(target_s / (first > 1e-9 ? first : 1e-9));
    int floor_reps = first < 1.0 ? 3 : first < 3.0 ? 2 : 1;
    if (reps < floor_reps)
        reps = floor_reps;
    if (reps > max_reps)
        reps = max_reps;
    return reps > 0 ? reps : 1;
}

double bench_time_best(void (*step)(void *ctx), void *ctx, double target_s, int max_reps,
                       void (*on_best)(void *ctx), int *reps_out)
{
    double t0 = bench_now_s();
    step(ctx); /* warm-up: first touch of the buffers, thread pools started */
    double first = bench_now_s() - t0;
    int reps = bench_reps_for(first, target_s, max_reps);
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        t0 = bench_now_s();
        step(ctx);
        double t = bench_now_s() - t0;
        if (t < best) {
            best = t;
            if (on_best)
                on_best(ctx);
        }
    }
    *reps_out = reps;
    return best;
}

bench_timing bench_timing_start(const bench_run_opts *run, const bench_cpu_opts *cpu)
{
    return (bench_timing){.quick = run->quick, .target_s = cpu->target_s, .max_reps = cpu->max_reps,
                          .wait_left = cpu->max_wait_s};
}

double bench_time_settled(bench_timing *tm, int threads, void (*step)(void *ctx), void *ctx,
                          void (*on_best)(void *ctx), int *reps_out, double *load_out)
{
    bench_settle(tm->quick, threads, &tm->wait_left);
    bench_cpu_sample c0 = bench_cpu_sample_now();
    double t = bench_time_best(step, ctx, tm->target_s, tm->max_reps, on_best, reps_out);
    bench_cpu_sample c1 = bench_cpu_sample_now();
    *load_out = bench_others_load(&c0, &c1);
    return t;
}

void bench_measure_quietly(void *row, void *scratch, size_t row_size, int threads, const char *label,
                           bench_timing *tm, double (*measure)(void *attempt, void *ctx, bench_timing *tm),
                           void *ctx)
{
    char *kept = scratch, *now = kept + row_size;
    double kept_load = NAN;
    for (int attempt = 0; attempt < 3; attempt++) {
        memcpy(now, row, row_size);
        double load = measure(now, ctx, tm);
        if (attempt == 0 || !(load >= kept_load)) {
            memcpy(kept, now, row_size);
            kept_load = load;
        }
        if (!(kept_load > bench_load_limit(threads)) || tm->wait_left <= 0)
            break;
        fprintf(stderr, "%s: others' load %.0f%%, measuring again\n", label, 100 * load);
    }
    memcpy(row, kept, row_size);
}

int bench_reps_clamped(double first, double target_s, int min_reps, int max_reps)
{
    int reps = first > 0 ? (int)(target_s / first) : max_reps;
    return reps < min_reps ? min_reps : reps > max_reps ? max_reps : reps;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

double bench_rel_diff(dk_dtype dt, const void *a, const void *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t q = 0; q < n; q++) {
        double av = dk_load(dt, a, q), bv = dk_load(dt, b, q);
        if (isnan(av) || isnan(bv))
            return NAN;
        num = fmax(num, fabs(av - bv));
        den = fmax(den, fabs(bv));
    }
    return den > 0 ? num / den : num;
}

void bench_machine_info_get(bench_machine_info *mi, const char *c_flags)
{
    snprintf(mi->cpu, sizeof mi->cpu, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) {
                    c += 1 + strspn(c + 1, " \t");
                    c[strcspn(c, "\n")] = 0;
                    snprintf(mi->cpu, sizeof mi->cpu, "%s", c);
                }
                break;
            }
        }
        fclose(f);
    }
    mi->procs = omp_get_num_procs();
    bench_date_utc(mi->date, sizeof mi->date);
#if defined(__clang__)
    snprintf(mi->compiler, sizeof mi->compiler, "clang %s, flags %s", __clang_version__, c_flags);
#elif defined(__GNUC__)
    snprintf(mi->compiler, sizeof mi->compiler, "gcc %s, flags %s", __VERSION__, c_flags);
#else
    snprintf(mi->compiler, sizeof mi->compiler, "unknown, flags %s", c_flags);
#endif
}

void bench_date_utc(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tmv);
}

void bench_print_md_machine(FILE *f, const bench_machine_info *mi, int threads_all, double wall_s,
                            double waited_s)
{
    fprintf(f, "Run of %s, %.0f s wall in all (%.0f s of it waiting for other jobs to finish).\n\n",
            mi->date, wall_s, waited_s);
    fprintf(f, "- CPU: %s, %d logical CPUs (`omp_get_num_procs()`); 'all threads' = %d\n", mi->cpu,
            mi->procs, threads_all);
    fprintf(f, "- compiler: %s\n", mi->compiler);
}

const char *bench_torch_unavailable(const bench_run_opts *run)
{
    if (run->no_torch)
        return "skipped (--no-torch)";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", run->python);
    if (system(cmd) != 0)
        return "not installed";
    FILE *f = fopen(run->torch_script, "r");
    if (!f)
        return "script not found";
    fclose(f);
    return NULL;
}

int bench_run_script(const char *cmd, void (*on_line)(char *line, void *ctx), void *ctx, int *exit_status)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[8192];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        on_line(line, ctx);
    }
    *exit_status = pclose(p);
    return 0;
}

int bench_split_tabs(char *line, char **fields, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *s = strtok_r(line, "\t", &save); s && n < max; s = strtok_r(NULL, "\t", &save))
        fields[n++] = s;
    return n;
}

const char *bench_torch_prepare(bench_torch_info *ti, const bench_run_opts *run)
{
    memset(ti, 0, sizeof *ti);
    const char *why = bench_torch_unavailable(run);
    if (why)
        bench_set_note(ti->status, why);
    return why;
}

void bench_torch_run(const char *cmd, const char *script, bench_torch_info *ti,
                     void (*on_line)(char *line, void *ctx), void *ctx)
{
    fprintf(stderr, "torch: running %s\n", script);
    bench_set_note(ti->status, "installed");
    ti->available = 1;
    int st;
    if (bench_run_script(cmd, on_line, ctx, &st)) {
        bench_set_note(ti->status, "popen failed");
        ti->available = 0;
    } else if (st != 0) {
        fprintf(stderr, "torch: script exited with status %d\n", st);
    }
}

int bench_torch_info_key(bench_torch_info *ti, const char *key, const char *value)
{
    if (!strcmp(key, "torch"))
        bench_set_note(ti->status, value);
    else if (!strcmp(key, "waited_s"))
        ti->waited_s = atof(value);
    else
        return 0;
    return 1;
}

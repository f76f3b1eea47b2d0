/* Helpers shared by the benchmarks; see bench_common.h. */
#include "bench_common.h"

#include <errno.h>
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

int bench_parse_list(const char *s, int *out, int *n_out, int max)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n_out = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n_out == max || bench_parse_int(tok, &out[*n_out]))
            return -1;
        (*n_out)++;
    }
    return *n_out > 0 ? 0 : -1;
}

int bench_parse_seconds(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return end == s || *end || !(*out >= 0) ? -1 : 0;
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
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(mi->date, sizeof mi->date, "%Y-%m-%d %H:%M UTC", &tmv);
#if defined(__clang__)
    snprintf(mi->compiler, sizeof mi->compiler, "clang %s, flags %s", __clang_version__, c_flags);
#elif defined(__GNUC__)
    snprintf(mi->compiler, sizeof mi->compiler, "gcc %s, flags %s", __VERSION__, c_flags);
#else
    snprintf(mi->compiler, sizeof mi->compiler, "unknown, flags %s", c_flags);
#endif
}

const char *bench_torch_unavailable(int no_torch, const char *python, const char *script)
{
    if (no_torch)
        return "skipped (--no-torch)";
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import torch' >/dev/null 2>&1", python);
    if (system(cmd) != 0)
        return "not installed";
    FILE *f = fopen(script, "r");
    if (!f)
        return "script not found";
    fclose(f);
    return NULL;
}

void bench_set_note(char *dst, const char *s)
{
    snprintf(dst, BENCH_NOTE_LEN, "%s", s);
}

void bench_print_note_lines(FILE *f, const void *rows, int n_rows, size_t row_size,
                            size_t eager_off, size_t compiled_off)
{
    const char *seen[64];
    int n_seen = 0;
    for (int r = 0; r < n_rows; r++) {
        const char *rw = (const char *)rows + (size_t)r * row_size;
        const char *notes[2] = {rw + eager_off, rw + compiled_off};
        int same = !strcmp(notes[0], notes[1]); /* e.g. "not installed": say it once */
        for (int q = 0; q < 2; q++) {
            if (!notes[q][0] || (same && q == 1))
                continue;
            int dup = 0;
            for (int s = 0; s < n_seen; s++)
                dup |= !strcmp(seen[s], notes[q]);
            if (!dup && n_seen < 64) {
                seen[n_seen++] = notes[q];
                fprintf(f, "- torch%s: %s\n", same ? "" : q ? " compiled" : " eager", notes[q]);
            }
        }
    }
}

void bench_print_cell(FILE *f, int md, int width, const char *s)
{
    if (md)
        fprintf(f, "| %s ", s);
    else
        fprintf(f, "%*s  ", width, s);
}

void bench_print_header(FILE *f, int md, int n, const char *const *hdr, const int *w, const char *align)
{
    for (int c = 0; c < n; c++)
        bench_print_cell(f, md, w[c], hdr[c]);
    fprintf(f, md ? "|\n" : "\n");
    if (!md)
        return;
    for (int c = 0; c < n; c++)
        fprintf(f, align[c] == 'l' ? "|---" : "|---:");
    fprintf(f, "|\n");
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

int bench_write_md(const char *path, const char *md_begin, const char *md_end, const char *title,
                   void (*generate)(FILE *f, const void *ctx), const void *ctx)
{
    char *old = slurp(path);
    char *b = old ? strstr(old, md_begin) : NULL;
    char *e = b ? strstr(b, md_end) : NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        free(old);
        return -1;
    }
    if (b && e) {
        fwrite(old, 1, (size_t)(b - old), f);
        generate(f, ctx);
        const char *rest = e + strlen(md_end);
        rest += *rest == '\n';
        fputs(rest, f);
    } else {
        fputs(title, f);
        generate(f, ctx);
        fprintf(f, "\n## Analysis\n\n(To be written from the numbers above.)\n");
    }
    free(old);
    return fclose(f) ? -1 : 0;
}

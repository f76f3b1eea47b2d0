/* Benchmark of the fused KAN layer (kernels/dk_kan_layer.h) against dense-basis baselines.
 *
 * One training step of one layer is timed: forward, then backward with dx (as for a hidden
 * layer). Per row (dtype, threads, in = out, G; k = 3, batch 4096) it measures
 *   fused   dk_kan_forward_* + dk_kan_backward_*, n_threads = threads;
 *   dense   (a) efficient-kan's formulation in C: basis tensor materialised, then OpenBLAS
 *           GEMMs (bench/dense_kan_impl.inc), OpenMP and OpenBLAS at the same thread count;
 *   torch   (b) efficient-kan's formulation in PyTorch (bench/torch_efficient_kan.py),
 *           eager and torch.compile, torch.set_num_threads(threads), run through popen;
 * and prints samples/s, fused / best other, and the target (2x at G = 10, 5x at
 * G = 50). It is a benchmark, not a test: a missed target is reported, never an error.
 * The one failure it reports through its exit status is a disagreement between the fused
 * kernel and the dense baseline at start-up, because then the rows would not compare equal
 * work.
 *
 * Timing: one warm-up call, whose duration sizes the repetition count so a measurement
 * takes about --target-seconds (see reps_for); each repetition is timed alone and the
 * fastest is kept (see time_step). The torch script follows the same rule.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/dk_dtype.h"
#include "common/dk_rng.h"
#include "kernels/dk_kan_layer.h"

#include "bench_common.h"

#ifndef DK_BENCH_TORCH_SCRIPT
#define DK_BENCH_TORCH_SCRIPT "bench/torch_efficient_kan.py"
#endif
#ifndef DK_BENCH_C_FLAGS
#define DK_BENCH_C_FLAGS "unknown"
#endif

/* Upper bound on knots per input for the dense baseline's on-stack recursion buffer. */
#define DENSE_MAX_KNOTS 512

#define REAL double
#define SFX(name) name##_f64
#define GEMM cblas_dgemm
#define EXP exp
#include "dense_kan_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef EXP

#define REAL float
#define SFX(name) name##_f32
#define GEMM cblas_sgemm
#define EXP expf
#include "dense_kan_impl.inc"
#undef REAL
#undef SFX
#undef GEMM
#undef EXP

/* RNG streams private to the benchmark, far from the library's. */
enum { BENCH_STREAM_GRID = 101, BENCH_STREAM_PARAMS = 102, BENCH_STREAM_X = 103, BENCH_STREAM_DY = 104 };

/* ------------------------------------------------------------------------------------
 * Options */

typedef struct options {
    int quick;
    int no_torch, no_compile;
    int batch, k;
    double target_s;  /* seconds one measurement aims at */
    int max_reps;
    double jitter;    /* interior knots move by up to +-jitter/2 of a cell; 0: uniform */
    const char *md_path;
    const char *python;
    const char *torch_script;
    int threads_all;  /* omp_get_num_procs(), or --threads */
    int sizes[8], n_sizes, grids[8], n_grids; /* --n, --G: subsets for focused runs */
    double max_wait_s; /* total seconds the run may wait for other jobs to finish */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_kan_layer [--quick] [--md PATH] [--no-torch] [--no-compile]\n"
            "                       [--batch N] [--target-seconds S] [--max-reps N]\n"
            "                       [--grid uniform|jitter] [--threads N] [--n LIST] [--G LIST]\n"
            "                       [--max-wait S]\n"
            "                       [--python EXE] [--torch-script PATH]\n"
            "  --quick           tiny sizes, one repetition, no torch.compile (smoke test)\n"
            "  --md PATH         write the table into PATH (markdown), keeping the text\n"
            "                    outside its generated block\n"
            "  --no-torch        skip baseline (b)\n"
            "  --no-compile      torch eager only\n"
            "  --grid            uniform: pykan's grid on [-1,1]; jitter (default): interior\n"
            "                    knots moved by up to 15%% of a cell, as after grid updates\n"
            "  --threads N       the 'all threads' count (default omp_get_num_procs())\n"
            "  --max-wait S      seconds in all the run may wait for a quiet machine before\n"
            "                    a row or measure it again (default 180; 0: never)\n"
            "  --n LIST, --G LIST  comma lists replacing in=out {16,64,256} and G {5,10,50}\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.batch = 4096, .k = 3, .target_s = 0.3, .max_reps = 200, .jitter = 0.3,
                   .python = "python3", .torch_script = DK_BENCH_TORCH_SCRIPT, .max_wait_s = 180,
                   .threads_all = omp_get_num_procs()};
    int batch_set = 0;
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a];
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(s, "--quick")) {
            o->quick = 1;
        } else if (!strcmp(s, "--no-torch")) {
            o->no_torch = 1;
        } else if (!strcmp(s, "--no-compile")) {
            o->no_compile = 1;
        } else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            exit(0);
        } else if (v && !strcmp(s, "--md")) {
            o->md_path = v, a++;
        } else if (v && !strcmp(s, "--python")) {
            o->python = v, a++;
        } else if (v && !strcmp(s, "--torch-script")) {
            o->torch_script = v, a++;
        } else if (v && !strcmp(s, "--batch")) {
            if (bench_parse_int(v, &o->batch))
                return -1;
            batch_set = 1, a++;
        } else if (v && !strcmp(s, "--max-reps")) {
            if (bench_parse_int(v, &o->max_reps))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--threads")) {
            if (bench_parse_int(v, &o->threads_all))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--n")) {
            if (bench_parse_list(v, o->sizes, &o->n_sizes, 8))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--G")) {
            if (bench_parse_list(v, o->grids, &o->n_grids, 8))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--target-seconds")) {
            if (bench_parse_seconds(v, &o->target_s))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--max-wait")) {
            if (bench_parse_seconds(v, &o->max_wait_s))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--grid")) {
            if (!strcmp(v, "uniform"))
                o->jitter = 0;
            else if (strcmp(v, "jitter"))
                return -1;
            a++;
        } else {
            return -1;
        }
    }
    static const int sizes_full[] = {16, 64, 256}, grids_full[] = {5, 10, 50};
    static const int sizes_quick[] = {8}, grids_quick[] = {5, 10};
    if (!o->n_sizes) {
        o->n_sizes = o->quick ? 1 : 3;
        memcpy(o->sizes, o->quick ? sizes_quick : sizes_full, (size_t)o->n_sizes * sizeof(int));
    }
    if (!o->n_grids) {
        o->n_grids = o->quick ? 2 : 3;
        memcpy(o->grids, o->quick ? grids_quick : grids_full, (size_t)o->n_grids * sizeof(int));
    }
    for (int q = 0; q < o->n_grids; q++)
        if (o->grids[q] + 2 * o->k + 1 > DENSE_MAX_KNOTS)
            return -1;
    if (o->quick) {
        /* Seconds, not minutes: the point is that every path runs. */
        if (!batch_set)
            o->batch = 256;
        o->target_s = 0;
        o->max_reps = 1;
        o->no_compile = 1;
        o->max_wait_s = 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * One problem instance: inputs, fused and dense outputs, both implementations' state */

typedef struct problem {
    dk_dtype dt;
    int n, G, k, batch, threads;
    void *grid, *coef, *scale_base, *scale_sp, *mask, *x, *dy;
    void *y, *dx, *g_coef, *g_sb, *g_ssp;      /* fused results */
    void *y2, *dx2, *g_coef2, *g_sb2, *g_ssp2; /* dense results */
    dk_kan_shape shape;
    void *ws;
    dense_kan_f64 d64;
    dense_kan_f32 d32;
    int dense_ready;
} problem;

static void *xalloc(dk_dtype dt, size_t n)
{
    size_t bytes = (n * dk_dtype_size(dt) + 63) / 64 * 64;
    return aligned_alloc(64, bytes > 0 ? bytes : 64);
}

static void problem_free(problem *pr)
{
    void *bufs[] = {pr->grid, pr->coef, pr->scale_base, pr->scale_sp, pr->mask, pr->x, pr->dy,
                    pr->y, pr->dx, pr->g_coef, pr->g_sb, pr->g_ssp, pr->y2, pr->dx2,
                    pr->g_coef2, pr->g_sb2, pr->g_ssp2, pr->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    if (pr->dense_ready) {
        if (pr->dt == DK_F64)
            dense_kan_free_f64(&pr->d64);
        else
            dense_kan_free_f32(&pr->d32);
    }
    memset(pr, 0, sizeof *pr);
}

/* pykan's extended grid on [-1, 1] (t_m = -1 + (m - k) h, h = 2/G) with the interior knots
 * moved by jitter * h * (u - 1/2): the ends -1, 1 and the extension stay put. The rule
 * matches knot_grid() in torch_efficient_kan.py. */
static void fill_grid(problem *pr, double jitter, uint64_t seed)
{
    int nk = pr->G + 2 * pr->k + 1;
    double h = 2.0 / pr->G;
    for (int i = 0; i < pr->n; i++)
        for (int m = 0; m < nk; m++) {
            double t = -1.0 + (m - pr->k) * h;
            if (m > pr->k && m < pr->k + pr->G)
                t += jitter * h * (dk_rng_uniform(seed, BENCH_STREAM_GRID, (uint64_t)(i * nk + m)) - 0.5);
            dk_store(pr->dt, pr->grid, (size_t)i * (size_t)nk + (size_t)m, t);
        }
}

static int problem_init(problem *pr, dk_dtype dt, int n, int G, int k, int batch, int threads,
                        double jitter, int with_dense)
{
    memset(pr, 0, sizeof *pr);
    pr->dt = dt, pr->n = n, pr->G = G, pr->k = k, pr->batch = batch, pr->threads = threads;
    size_t nk = (size_t)(G + 2 * k + 1), nb = (size_t)(G + k), nn = (size_t)n * (size_t)n;
    size_t bn = (size_t)batch * (size_t)n;
    pr->grid = xalloc(dt, (size_t)n * nk);
    pr->coef = xalloc(dt, nn * nb);
    pr->scale_base = xalloc(dt, nn);
    pr->scale_sp = xalloc(dt, nn);
    pr->mask = xalloc(dt, nn);
    pr->x = xalloc(dt, bn);
    pr->dy = xalloc(dt, bn);
    pr->y = xalloc(dt, bn);
    pr->dx = xalloc(dt, bn);
    pr->g_coef = xalloc(dt, nn * nb);
    pr->g_sb = xalloc(dt, nn);
    pr->g_ssp = xalloc(dt, nn);
    pr->y2 = xalloc(dt, bn);
    pr->dx2 = xalloc(dt, bn);
    pr->g_coef2 = xalloc(dt, nn * nb);
    pr->g_sb2 = xalloc(dt, nn);
    pr->g_ssp2 = xalloc(dt, nn);
    pr->shape = dk_kan_shape_make(n, n, G, k, batch, threads);
    pr->ws = aligned_alloc(64, (dk_kan_workspace_bytes(&pr->shape, dt) + 64) / 64 * 64);
    if (!pr->grid || !pr->coef || !pr->scale_base || !pr->scale_sp || !pr->mask || !pr->x ||
        !pr->dy || !pr->y || !pr->dx || !pr->g_coef || !pr->g_sb || !pr->g_ssp || !pr->y2 ||
        !pr->dx2 || !pr->g_coef2 || !pr->g_sb2 || !pr->g_ssp2 || !pr->ws)
        goto oom;
    if (with_dense) {
        int rc = dt == DK_F64 ? dense_kan_init_f64(&pr->d64, n, n, G, k, batch)
                              : dense_kan_init_f32(&pr->d32, n, n, G, k, batch);
        if (rc)
            goto oom;
        pr->dense_ready = 1;
    }

    /* A seed per shape, so rows differ but a rerun draws the same numbers. */
    uint64_t seed = 0x6b616e00ULL + (uint64_t)(1000 * n + G);
    fill_grid(pr, jitter, seed);
    for (size_t q = 0; q < nn * nb; q++)
        dk_store(dt, pr->coef, q, 0.2 * (dk_rng_uniform(seed, BENCH_STREAM_PARAMS, q) - 0.5));
    for (size_t q = 0; q < nn; q++) {
        dk_store(dt, pr->scale_base, q, dk_rng_uniform(seed, BENCH_STREAM_PARAMS, nn * nb + q) - 0.5);
        dk_store(dt, pr->scale_sp, q, dk_rng_uniform(seed, BENCH_STREAM_PARAMS, nn * nb + nn + q) + 0.5);
        dk_store(dt, pr->mask, q, 1.0); /* pykan's initial mask: every edge live */
    }
    for (size_t q = 0; q < bn; q++) {
        dk_store(dt, pr->x, q, 2.0 * dk_rng_uniform(seed, BENCH_STREAM_X, q) - 1.0);
        dk_store(dt, pr->dy, q, dk_rng_uniform(seed, BENCH_STREAM_DY, q) - 0.5);
    }
    return 0;
oom:
    problem_free(pr);
    return -1;
}

static void fused_step(void *ctx)
{
    problem *pr = ctx;
    if (pr->dt == DK_F64) {
        dk_kan_params_f64 p = {pr->grid, pr->coef, pr->scale_base, pr->scale_sp, pr->mask};
        dk_kan_grads_f64 g = {pr->g_coef, pr->g_sb, pr->g_ssp};
        dk_kan_forward_f64(&pr->shape, &p, pr->batch, pr->x, pr->y, pr->ws);
        dk_kan_backward_f64(&pr->shape, &p, pr->batch, pr->x, pr->dy, pr->dx, &g, pr->ws);
    } else {
        dk_kan_params_f32 p = {pr->grid, pr->coef, pr->scale_base, pr->scale_sp, pr->mask};
        dk_kan_grads_f32 g = {pr->g_coef, pr->g_sb, pr->g_ssp};
        dk_kan_forward_f32(&pr->shape, &p, pr->batch, pr->x, pr->y, pr->ws);
        dk_kan_backward_f32(&pr->shape, &p, pr->batch, pr->x, pr->dy, pr->dx, &g, pr->ws);
    }
}

static void dense_step(void *ctx)
{
    problem *pr = ctx;
    if (pr->dt == DK_F64) {
        dk_kan_params_f64 p = {pr->grid, pr->coef, pr->scale_base, pr->scale_sp, pr->mask};
        dk_kan_grads_f64 g = {pr->g_coef2, pr->g_sb2, pr->g_ssp2};
        dense_kan_forward_f64(&pr->d64, &p, pr->batch, pr->x, pr->y2, pr->threads);
        dense_kan_backward_f64(&pr->d64, &p, pr->batch, pr->x, pr->dy, pr->dx2, &g, pr->threads);
    } else {
        dk_kan_params_f32 p = {pr->grid, pr->coef, pr->scale_base, pr->scale_sp, pr->mask};
        dk_kan_grads_f32 g = {pr->g_coef2, pr->g_sb2, pr->g_ssp2};
        dense_kan_forward_f32(&pr->d32, &p, pr->batch, pr->x, pr->y2, pr->threads);
        dense_kan_backward_f32(&pr->d32, &p, pr->batch, pr->x, pr->dy, pr->dx2, &g, pr->threads);
    }
}

/* ------------------------------------------------------------------------------------
 * Timing */

/* Best seconds of one step over the timed repetitions (bench_time_best: one warm-up call
 * sizes the count, the fastest repetition is kept). */
static double time_step(void (*step)(void *), problem *pr, const options *o, int *reps_out)
{
    return bench_time_best(step, pr, o->target_s, o->max_reps, NULL, reps_out);
}

/* ------------------------------------------------------------------------------------
 * Start-up check: fused and dense compute the same numbers */

/* max |a - b| / max |b| over n elements: a norm-wise relative difference, meaningful
 * also where single entries are near zero. */
static double rel_diff(dk_dtype dt, const void *a, const void *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t q = 0; q < n; q++) {
        double av = dk_load(dt, a, q), bv = dk_load(dt, b, q);
        num = fmax(num, fabs(av - bv));
        den = fmax(den, fabs(bv));
    }
    return den > 0 ? num / den : num;
}

typedef struct check_result {
    dk_dtype dt;
    int n, G;
    double y, dx, coef, sb, ssp, worst;
    int ok;
} check_result;

static int run_check(dk_dtype dt, int n, int G, const options *o, check_result *cr)
{
    problem pr;
    int batch = o->batch < 512 ? o->batch : 512;
    if (problem_init(&pr, dt, n, G, o->k, batch, o->threads_all, o->jitter, 1))
        return -1;
    openblas_set_num_threads(o->threads_all);
    fused_step(&pr);
    dense_step(&pr);
    size_t bn = (size_t)batch * (size_t)n, nn = (size_t)n * (size_t)n;
    *cr = (check_result){.dt = dt, .n = n, .G = G};
    cr->y = rel_diff(dt, pr.y, pr.y2, bn);
    cr->dx = rel_diff(dt, pr.dx, pr.dx2, bn);
    cr->coef = rel_diff(dt, pr.g_coef, pr.g_coef2, nn * (size_t)(G + o->k));
    cr->sb = rel_diff(dt, pr.g_sb, pr.g_sb2, nn);
    cr->ssp = rel_diff(dt, pr.g_ssp, pr.g_ssp2, nn);
    cr->worst = fmax(fmax(fmax(cr->y, cr->dx), fmax(cr->coef, cr->sb)), cr->ssp);
    /* Same math, different summation order: f64 agrees to ~1e-15, f32 to ~1e-6. A NaN
     * fails too (comparisons with NaN are false). */
    cr->ok = cr->worst <= (dt == DK_F64 ? 1e-10 : 1e-3);
    problem_free(&pr);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Rows and the torch baseline */

typedef struct row {
    dk_dtype dt;
    int threads, n, G;
    double fused, dense, eager, compiled; /* samples/s; NAN when not measured */
    int reps_fused, reps_dense;
    double load_c, load_torch; /* others' share of the machine while measured, 0..1 */
    char eager_note[BENCH_NOTE_LEN], compiled_note[BENCH_NOTE_LEN]; /* why a torch value is missing */
    double compile_s;
} row;

static row *find_row(row *rows, int n_rows, const char *dname, int threads, int n, int G)
{
    for (int r = 0; r < n_rows; r++)
        if (!strcmp(dk_dtype_name(rows[r].dt), dname) && rows[r].threads == threads &&
            rows[r].n == n && rows[r].G == G)
            return &rows[r];
    return NULL;
}

typedef struct torch_info {
    char status[BENCH_NOTE_LEN]; /* version, or why there is no torch column */
    int available;
    double waited_s; /* the script's waiting for other jobs */
} torch_info;

/* Runs torch_efficient_kan.py once for all rows, so python and torch start once, and
 * fills the torch columns. Runs before any C measurement, never beside one. */
static void run_torch(row *rows, int n_rows, const options *o, torch_info *ti)
{
    ti->available = 0;
    ti->waited_s = 0;
    const char *why = bench_torch_unavailable(o->no_torch, o->python, o->torch_script);
    if (why) {
        bench_set_note(ti->status, why);
        for (int r = 0; r < n_rows; r++) {
            bench_set_note(rows[r].eager_note, why);
            bench_set_note(rows[r].compiled_note, why);
        }
        return;
    }

    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd,
                       "'%s' '%s' --batch %d --k %d --target-seconds %g --max-reps %d "
                       "--jitter %g --max-wait %g%s --configs ",
                       o->python, o->torch_script, o->batch, o->k, o->target_s, o->max_reps,
                       o->jitter, o->max_wait_s, o->no_compile ? " --no-compile" : "");
    for (int r = 0; r < n_rows && len < (int)sizeof cmd; r++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%s:%d:%d:%d", r ? "," : "",
                        dk_dtype_name(rows[r].dt), rows[r].threads, rows[r].n, rows[r].G);
    for (int r = 0; r < n_rows; r++) {
        bench_set_note(rows[r].eager_note, "no result (script failed)");
        bench_set_note(rows[r].compiled_note, "no result (script failed)");
    }
    fprintf(stderr, "torch: running %s\n", o->torch_script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        bench_set_note(ti->status, "popen failed");
        return;
    }
    bench_set_note(ti->status, "installed");
    ti->available = 1;
    char line[4096];
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        char *f[10] = {0};
        int nf = 0;
        for (char *s = strtok(line, "\t"); s && nf < 10; s = strtok(NULL, "\t"))
            f[nf++] = s;
        if (nf == 3 && !strcmp(f[0], "info")) {
            if (!strcmp(f[1], "torch"))
                snprintf(ti->status, BENCH_NOTE_LEN, "%s", f[2]);
            else if (!strcmp(f[1], "waited_s"))
                ti->waited_s = atof(f[2]);
            else if (!strncmp(f[1], "compile_s:", 10)) {
                char dname[16];
                int th, n, G;
                if (sscanf(f[1] + 10, "%15[^:]:%d:%d:%d", dname, &th, &n, &G) == 4) {
                    row *rw = find_row(rows, n_rows, dname, th, n, G);
                    if (rw)
                        rw->compile_s = atof(f[2]);
                }
            }
            continue;
        }
        if (nf < 7 || (strcmp(f[0], "result") && strcmp(f[0], "na")))
            continue;
        row *rw = find_row(rows, n_rows, f[1], atoi(f[2]), atoi(f[3]), atoi(f[4]));
        if (!rw)
            continue;
        int eager = !strcmp(f[5], "eager");
        if (!strcmp(f[0], "result")) {
            *(eager ? &rw->eager : &rw->compiled) = atof(f[6]);
            if (nf >= 10) {
                double l = atof(f[9]);
                rw->load_torch = isnan(rw->load_torch) ? l : fmax(rw->load_torch, l);
            }
            bench_set_note(eager ? rw->eager_note : rw->compiled_note, "");
            fprintf(stderr, "torch: %s threads=%s n=%s G=%s %s %s samples/s\n", f[1], f[2], f[3],
                    f[4], f[5], f[6]);
        } else {
            bench_set_note(eager ? rw->eager_note : rw->compiled_note, f[6]);
        }
    }
    int st = pclose(p);
    if (st != 0)
        fprintf(stderr, "torch: script exited with status %d\n", st);
}

/* ------------------------------------------------------------------------------------
 * Report */

typedef struct machine_info {
    bench_machine_info base;
    char openblas[256];
} machine_info;

static void machine_info_get(machine_info *mi)
{
    bench_machine_info_get(&mi->base, DK_BENCH_C_FLAGS);
    snprintf(mi->openblas, sizeof mi->openblas, "%s", openblas_get_config());
}

static double target_of(int G) { return G == 10 ? 2.0 : G == 50 ? 5.0 : 0.0; }

static double best_other(const row *r)
{
    double b = NAN;
    double v[3] = {r->dense, r->eager, r->compiled};
    for (int q = 0; q < 3; q++)
        if (!isnan(v[q]) && (isnan(b) || v[q] > b))
            b = v[q];
    return b;
}

static void fmt_sps(char *buf, size_t len, double v, const char *note)
{
    if (!isnan(v))
        snprintf(buf, len, "%.0f", v);
    else if (note && !strcmp(note, "not installed"))
        snprintf(buf, len, "not installed");
    else
        snprintf(buf, len, "n/a");
}

/* One table, as markdown (md = 1) or as aligned text for the terminal. */
static void print_table(FILE *f, const row *rows, int n_rows, int md)
{
    const char *hdr[] = {"dtype", "threads", "in=out", "G", "fused", "dense BLAS", "torch eager",
                         "torch compiled", "fused/best other", "target", "met?",
                         "others' load C/torch"};
    const int w[] = {7, 7, 6, 3, 11, 11, 13, 14, 16, 6, 4, 20};
    enum { NCOL = 12 };
    bench_print_header(f, md, NCOL, hdr, w, "llllrrrrrllr");
    for (int r = 0; r < n_rows; r++) {
        const row *rw = &rows[r];
        char cell[NCOL][64];
        snprintf(cell[0], 64, "%s", dk_dtype_name(rw->dt));
        snprintf(cell[1], 64, "%d", rw->threads);
        snprintf(cell[2], 64, "%d", rw->n);
        snprintf(cell[3], 64, "%d", rw->G);
        fmt_sps(cell[4], 64, rw->fused, NULL);
        fmt_sps(cell[5], 64, rw->dense, NULL);
        fmt_sps(cell[6], 64, rw->eager, rw->eager_note);
        fmt_sps(cell[7], 64, rw->compiled, rw->compiled_note);
        double best = best_other(rw), ratio = rw->fused / best, tg = target_of(rw->G);
        if (isnan(ratio))
            snprintf(cell[8], 64, "n/a");
        else
            snprintf(cell[8], 64, "%.2fx", ratio);
        snprintf(cell[9], 64, tg > 0 ? "%.0fx" : "-", tg);
        snprintf(cell[10], 64, "%s", tg <= 0 || isnan(ratio) ? "-" : ratio >= tg ? "yes" : "NO");
        char lc[16] = "-", lt[16] = "-";
        if (!isnan(rw->load_c))
            snprintf(lc, sizeof lc, "%.0f%%", 100 * rw->load_c);
        if (!isnan(rw->load_torch))
            snprintf(lt, sizeof lt, "%.0f%%", 100 * rw->load_torch);
        snprintf(cell[11], 64, "%s / %s", lc, lt);
        for (int c = 0; c < NCOL; c++)
            bench_print_cell(f, md, w[c], cell[c]);
        fprintf(f, md ? "|\n" : "\n");
    }
}

/* Footnotes for missing torch values (each distinct reason once) and compile times. */
static void print_notes(FILE *f, const row *rows, int n_rows, const torch_info *ti)
{
    bench_print_note_lines(f, rows, n_rows, sizeof *rows, offsetof(row, eager_note),
                           offsetof(row, compiled_note));
    if (ti->available) {
        double total = 0, worst = 0;
        for (int r = 0; r < n_rows; r++) {
            total += rows[r].compile_s;
            worst = fmax(worst, rows[r].compile_s);
        }
        if (total > 0)
            fprintf(f, "- torch.compile time (first call, excluded from samples/s): %.0f s in all, "
                       "at most %.0f s for one row\n", total, worst);
    }
}

#define MD_BEGIN "<!-- BEGIN bench_kan_layer output: regenerated by scripts/bench_kernels.sh -->"
#define MD_END "<!-- END bench_kan_layer output -->"

static void write_generated(FILE *f, const row *rows, int n_rows, const options *o,
                            const machine_info *mi, const torch_info *ti,
                            const check_result *cr, int n_cr, double wall_s, double waited_s)
{
    fprintf(f, "%s\n\n", MD_BEGIN);
    fprintf(f, "Run of %s, %.0f s wall in all (%.0f s of it waiting for other jobs to "
               "finish).\n\n", mi->base.date, wall_s, waited_s);
    fprintf(f, "- CPU: %s, %d logical CPUs (`omp_get_num_procs()`); 'all threads' = %d\n", mi->base.cpu,
            mi->base.procs, o->threads_all);
    fprintf(f, "- compiler: %s\n", mi->base.compiler);
    fprintf(f, "- OpenBLAS: %s\n", mi->openblas);
    fprintf(f, "- PyTorch: %s\n", ti->status);
    fprintf(f, "- batch %d, k = %d, grid: %s, mask = 1, x uniform on [-1, 1]\n", o->batch, o->k,
            o->jitter > 0 ? "pykan's on [-1, 1] with interior knots jittered (non-uniform)"
                          : "pykan's uniform grid on [-1, 1]");
    fprintf(f, "- timing: best of N timed fwd+bwd calls after one warm-up call; N chosen so a "
               "measurement takes about %.2g s, at least 3 for calls under 1 s and 2 under 3 s, "
               "at most %d\n\n", o->target_s, o->max_reps);
    fprintf(f, "Start-up check, fused vs dense, max |fused - dense| / max |dense| "
               "(batch <= 512, %d threads):\n\n", o->threads_all);
    fprintf(f, "| dtype | in=out | G | y | dx | d coef | d scale_base | d scale_sp | ok |\n");
    fprintf(f, "|---|---|---|---:|---:|---:|---:|---:|---|\n");
    for (int c = 0; c < n_cr; c++)
        fprintf(f, "| %s | %d | %d | %.1e | %.1e | %.1e | %.1e | %.1e | %s |\n",
                dk_dtype_name(cr[c].dt), cr[c].n, cr[c].G, cr[c].y, cr[c].dx, cr[c].coef, cr[c].sb,
                cr[c].ssp, cr[c].ok ? "yes" : "NO");
    fprintf(f, "\nSamples/s of one fused forward + backward (with dx), higher is better:\n\n");
    print_table(f, rows, n_rows, 1);
    fprintf(f, "\n");
    print_notes(f, rows, n_rows, ti);
    fprintf(f, "- others' load: share of the machine's CPU time that other processes (and the "
               "hypervisor's steal) took while the row's C / torch columns were measured; rows "
               "above about 20 %% ran beside another job and are unreliable, the all-threads rows "
               "most\n");
    fprintf(f, "\n%s\n", MD_END);
}

typedef struct report {
    const row *rows;
    int n_rows;
    const options *o;
    const machine_info *mi;
    const torch_info *ti;
    const check_result *cr;
    int n_cr;
    double wall_s, waited_s;
} report;

static void write_report(FILE *f, const void *ctx)
{
    const report *rp = ctx;
    write_generated(f, rp->rows, rp->n_rows, rp->o, rp->mi, rp->ti, rp->cr, rp->n_cr, rp->wall_s,
                    rp->waited_s);
}

/* Replaces the generated block of an existing file, keeping the hand-written text around
 * it (the analysis); a new file gets a skeleton with a placeholder for that text. */
static int write_md(const char *path, const row *rows, int n_rows, const options *o,
                    const machine_info *mi, const torch_info *ti, const check_result *cr,
                    int n_cr, double wall_s, double waited_s)
{
    const report rp = {rows, n_rows, o, mi, ti, cr, n_cr, wall_s, waited_s};
    return bench_write_md(path, MD_BEGIN, MD_END,
                          "# Kernel benchmark: fused KAN layer vs dense-basis baselines\n\n"
                          "Produced by `scripts/bench_kernels.sh` (program `bench/bench_kan_layer.c`).\n\n",
                          write_report, &rp);
}

/* One attempt at a row's C columns: fused, then dense, each after settle(). */
static void measure_row(problem *pr, row *rw, const options *o, double *wait_left)
{
    bench_settle(o->quick, rw->threads, wait_left);
    bench_cpu_sample c0 = bench_cpu_sample_now();
    double t = time_step(fused_step, pr, o, &rw->reps_fused);
    bench_cpu_sample c1 = bench_cpu_sample_now();
    rw->fused = o->batch / t;
    openblas_set_num_threads(rw->threads);
    bench_settle(o->quick, rw->threads, wait_left);
    bench_cpu_sample c2 = bench_cpu_sample_now();
    t = time_step(dense_step, pr, o, &rw->reps_dense);
    bench_cpu_sample c3 = bench_cpu_sample_now();
    rw->dense = o->batch / t;
    rw->load_c = fmax(bench_others_load(&c0, &c1), bench_others_load(&c2, &c3));
}

/* ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    double wall0 = bench_now_s();
    machine_info mi;
    machine_info_get(&mi);

    const int *sizes = o.sizes, *grids = o.grids;
    int n_sizes = o.n_sizes, n_grids = o.n_grids;
    int thread_counts[2] = {1, o.threads_all}, n_tc = o.threads_all > 1 ? 2 : 1;
    dk_dtype dtypes[2] = {DK_F32, DK_F64};

    row rows[2 * 2 * 8 * 8];
    int n_rows = 0;
    for (int d = 0; d < 2; d++)
        for (int t = 0; t < n_tc; t++)
            for (int s = 0; s < n_sizes; s++)
                for (int g = 0; g < n_grids; g++)
                    rows[n_rows++] = (row){.dt = dtypes[d], .threads = thread_counts[t],
                                           .n = sizes[s], .G = grids[g], .fused = NAN,
                                           .dense = NAN, .eager = NAN, .compiled = NAN,
                                           .load_c = NAN, .load_torch = NAN};

    printf("bench_kan_layer: %s, %d CPUs, batch %d, k %d%s\n", mi.base.cpu, mi.base.procs, o.batch, o.k,
           o.quick ? " (quick)" : "");
    printf("OpenBLAS: %s\n", mi.openblas);

    /* Equal work: the dense baseline must produce the fused kernel's numbers. */
    check_result cr[4];
    int n_cr = 0, all_ok = 1;
    const int check_cfg[2][2] = {{8, 5}, {32, 50}};
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < 2; c++) {
            if (run_check(dtypes[d], check_cfg[c][0], check_cfg[c][1], &o, &cr[n_cr])) {
                fprintf(stderr, "bench_kan_layer: out of memory in the start-up check\n");
                return 1;
            }
            printf("check %s in=out=%d G=%d: max rel diff fused vs dense: y %.1e dx %.1e "
                   "dcoef %.1e dscale_base %.1e dscale_sp %.1e %s\n",
                   dk_dtype_name(cr[n_cr].dt), cr[n_cr].n, cr[n_cr].G, cr[n_cr].y, cr[n_cr].dx,
                   cr[n_cr].coef, cr[n_cr].sb, cr[n_cr].ssp, cr[n_cr].ok ? "ok" : "MISMATCH");
            all_ok &= cr[n_cr].ok;
            n_cr++;
        }
    fflush(stdout);

    torch_info ti;
    run_torch(rows, n_rows, &o, &ti);
    double wait_left = o.max_wait_s;

    for (int r = 0; r < n_rows; r++) {
        row *rw = &rows[r];
        problem pr;
        if (problem_init(&pr, rw->dt, rw->n, rw->G, o.k, o.batch, rw->threads, o.jitter, 1)) {
            fprintf(stderr, "bench_kan_layer: out of memory for %s n=%d G=%d, row skipped\n",
                    dk_dtype_name(rw->dt), rw->n, rw->G);
            continue;
        }
        /* A row that ran beside another job anyway is measured again while the wait
         * budget lasts, at most twice; the least disturbed attempt is kept. */
        row best = *rw;
        for (int attempt = 0; attempt < 3; attempt++) {
            row now = *rw;
            measure_row(&pr, &now, &o, &wait_left);
            if (attempt == 0 || !(now.load_c >= best.load_c))
                best = now;
            if (!(best.load_c > bench_load_limit(rw->threads)) || wait_left <= 0)
                break;
            fprintf(stderr, "%s threads=%d n=%d G=%d: others' load %.0f%%, measuring again\n",
                    dk_dtype_name(rw->dt), rw->threads, rw->n, rw->G, 100 * now.load_c);
        }
        *rw = best;
        problem_free(&pr);
        fprintf(stderr, "%s threads=%d n=%d G=%d: fused %.0f/s (%d reps), dense %.0f/s (%d reps), "
                "others' load %.0f%%\n", dk_dtype_name(rw->dt), rw->threads, rw->n, rw->G, rw->fused,
                rw->reps_fused, rw->dense, rw->reps_dense, 100 * rw->load_c);
    }

    printf("\nsamples/s of fused forward+backward (with dx), batch %d, k %d:\n\n", o.batch, o.k);
    print_table(stdout, rows, n_rows, 0);
    printf("\n");
    print_notes(stdout, rows, n_rows, &ti);
    double wall = bench_now_s() - wall0;
    double waited = o.max_wait_s - wait_left + ti.waited_s;
    printf("wall time %.0f s, of it %.0f s waiting for other jobs\n", wall, waited);

    if (o.md_path) {
        if (write_md(o.md_path, rows, n_rows, &o, &mi, &ti, cr, n_cr, wall, waited)) {
            fprintf(stderr, "bench_kan_layer: cannot write %s: %s\n", o.md_path, strerror(errno));
            return 1;
        }
        printf("wrote %s\n", o.md_path);
    }
    if (!all_ok) {
        fprintf(stderr, "bench_kan_layer: fused and dense disagree (see 'check' lines)\n");
        return 1;
    }
    return 0;
}

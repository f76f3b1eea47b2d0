/* GPU benchmark of the fused KAN layer (kernels/dk_kan_cuda.h) against PyTorch peers on the
 * same GPU.
 *
 * One training step of one layer is timed: dk_kan_cuda_forward_* then dk_kan_cuda_backward_*
 * with dx (as for a hidden layer), batch 65536, in = out in {64, 256, 1024}, G in {5, 10, 50},
 * k = 3, float32 and float64. Per row it prints
 *   ms         median of N fwd+bwd calls, each timed by its own pair of CUDA events, after
 *              warm-up calls (N sized so a row takes about --target-seconds);
 *   samples/s  batch / median seconds;
 *   GFLOP/s    useful FLOPs of the fused algorithm over the median time, with
 *                FLOPs = batch * in * out * 8 (k + 2)
 *              per fwd+bwd: per (sample, edge) forward does k+1 FMAs for sum_c w_c B_c(x) and
 *              1 for the base term (2(k+2) FLOPs); backward does k+1 FMAs for d coef, k+1 for
 *              the spline value (d scale_sp), k+1 for the derivative spline (dx), and 1 each
 *              for d scale_base, d scale_sp and the base part of dx (6(k+2) FLOPs). The
 *              per-(sample, input) basis evaluation (O(k^2), not multiplied by out) and the
 *              per-call weight folding are not counted: the figure is a lower bound of the
 *              arithmetic done, never inflated by the dense formulation's zeros;
 *   % peak     against the GPU's FP32 or FP64 non-tensor peak, looked up from its name
 *              (NVIDIA datasheets; the table is printed with its source);
 *   MiB        peak device memory of the row: every dk_cuda_malloc'd buffer (parameters,
 *              gradients, x, y, dy, dx) plus the kernels' workspace, which is allocated
 *              through dk_cuda_malloc too (dk_cuda_memory_peak after a reset);
 * and, from bench/gpu/torch_gpu_peers.py run through popen in the same process tree on the
 * same GPU: the efficient-kan formulation eager and under torch.compile, and an MLP block
 * with the KAN layer's parameter count, each with ms, samples/s and
 * torch.cuda.max_memory_allocated. Ratios, side by side:
 *   speedup   faster PyTorch KAN time / distkan time          (target >= 3x at G = 10)
 *   memory    distkan peak / that PyTorch KAN's peak           (target <= 1/4)
 *   KAN/MLP   distkan time / MLP time                          (target <= 2x)
 * It is a benchmark: a missed target is reported, never an error. The exit status is 1 only
 * when the start-up check (GPU kernels vs the CPU kernels on small shapes) fails or no row
 * could be measured, since then the numbers would not describe the layer.
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dk_cuda.h"
#include "common/dk_dtype.h"
#include "common/dk_error.h"
#include "common/dk_rng.h"
#include "kernels/dk_kan_cuda.h"
#include "kernels/dk_kan_layer.h"

#include "../bench_common.h"
#include "../bench_layer.h"
#include "../bench_options.h"
#include "../bench_report.h"

#ifndef DK_BENCH_TORCH_SCRIPT
#define DK_BENCH_TORCH_SCRIPT "bench/gpu/torch_gpu_peers.py"
#endif

enum { MAX_SIZES = 8, MAX_GRIDS = 8 };

/* ------------------------------------------------------------------------------------
 * Options */

typedef struct options {
    bench_run_opts run;
    int batch, k;
    int sizes[MAX_SIZES], n_sizes, grids[MAX_GRIDS], n_grids;
    int do_f32, do_f64;
    int warmup, min_reps, max_reps;
    double target_s;
    const char *compile_grids; /* G values torch.compile runs on ("all" or a list) */
    double compile_budget_s;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_gpu_layer [--quick] [--n LIST] [--G LIST] [--batch N] [--dtype f32|f64|both]\n"
            "                       [--target-seconds S] [--max-reps N] [--no-torch] [--no-compile]\n"
            "                       [--compile-grids all|LIST] [--compile-budget S] [--md PATH]\n"
            "                       [--python EXE] [--torch-script PATH]\n"
            "  --quick            tiny sizes (batch 4096, in=out 32, G 5,10), few repetitions,\n"
            "                     torch eager only: a smoke run of every path\n"
            "  --n, --G           comma lists replacing in=out {64,256,1024} and G {5,10,50}\n"
            "  --batch            samples per call (default 65536)\n"
            "  --compile-grids    G values for which torch.compile is timed (default 10: the\n"
            "                     target rows; each shape compiles for tens of seconds)\n"
            "  --compile-budget   seconds the torch script may spend compiling in all (default 150)\n"
            "  --md PATH          also write the table as markdown into PATH\n");
}

/* --dtype f32|f64|both (float32, float64): the precisions that get rows, into options. */
static int parse_dtype(const char *v, void *opts)
{
    options *o = opts;
    o->do_f32 = !strcmp(v, "f32") || !strcmp(v, "both") || !strcmp(v, "float32");
    o->do_f64 = !strcmp(v, "f64") || !strcmp(v, "both") || !strcmp(v, "float64");
    return o->do_f32 || o->do_f64 ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    /* batch stays 0 until given: its default depends on --quick, which may come later. */
    *o = (options){.run = bench_run_opts_default(DK_BENCH_TORCH_SCRIPT), .k = 3, .do_f32 = 1, .do_f64 = 1,
                   .warmup = 3, .min_reps = 5, .max_reps = 50, .target_s = 0.5, .compile_grids = "10",
                   .compile_budget_s = 150};
    const bench_opt opts[] = {
        bench_opt_list("--n", o->sizes, &o->n_sizes, MAX_SIZES),
        bench_opt_list("--G", o->grids, &o->n_grids, MAX_GRIDS),
        bench_opt_int("--batch", &o->batch),
        bench_opt_int("--max-reps", &o->max_reps),
        bench_opt_seconds("--target-seconds", &o->target_s),
        bench_opt_seconds("--compile-budget", &o->compile_budget_s),
        bench_opt_string("--compile-grids", &o->compile_grids),
        bench_opt_custom("--dtype", parse_dtype, o),
    };
    if (bench_parse_args(argc, argv, 1, opts, BENCH_N_OPTS(opts), &o->run, NULL, usage) ||
        bench_default_list(o->run.quick ? "32" : "64,256,1024", o->sizes, &o->n_sizes, MAX_SIZES) ||
        bench_default_list(o->run.quick ? "5,10" : "5,10,50", o->grids, &o->n_grids, MAX_GRIDS))
        return -1;
    if (!o->batch)
        o->batch = o->run.quick ? 4096 : 65536;
    if (o->run.quick)
        o->warmup = 1, o->min_reps = 3, o->max_reps = 3, o->target_s = 0;
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The GPU and its peak */

typedef struct gpu_info {
    char name[256];
    int cc_major, cc_minor, sms;
    size_t total_mem;
    const char *peak_label; /* which datasheet row, or why none */
    double peak_f32, peak_f64;  /* FLOP/s, non-tensor; NAN when unknown */
    int runtime_version, driver_version;
} gpu_info;

/* FP32 / FP64 non-tensor-core peaks in TFLOP/s (boost clock), from NVIDIA's datasheets:
 * H100 Tensor Core GPU datasheet (SXM5: FP64 34, FP32 67; PCIe: 26, 51; NVL: 30, 60) and
 * H200 Tensor Core GPU datasheet (SXM: 34, 67; NVL: 30, 60). The first entry whose key is a
 * substring of the device name wins; order matters ("H100 PCIe" before "H100"). "NVIDIA H100
 * 80GB HBM3" is the SXM5 board's name. */
static const struct {
    const char *key, *label;
    double f32, f64;
} peak_table[] = {
    {"H200 NVL", "H200 NVL (datasheet)", 60, 30},
    {"H200", "H200 SXM (datasheet)", 67, 34},
    {"H100 NVL", "H100 NVL (datasheet)", 60, 30},
    {"H100 PCIe", "H100 PCIe (datasheet)", 51, 26},
    {"H100", "H100 SXM5 (datasheet)", 67, 34},
    {"H800", "H800 SXM5 (datasheet)", 67, 1},
    {"A100", "A100 (datasheet)", 19.5, 9.7},
};

static int gpu_info_get(gpu_info *gi)
{
    memset(gi, 0, sizeof *gi);
    struct cudaDeviceProp prop;
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess)
        return -1;
    snprintf(gi->name, sizeof gi->name, "%s", prop.name);
    gi->cc_major = prop.major, gi->cc_minor = prop.minor, gi->sms = prop.multiProcessorCount;
    gi->total_mem = prop.totalGlobalMem;
    cudaRuntimeGetVersion(&gi->runtime_version);
    cudaDriverGetVersion(&gi->driver_version);
    gi->peak_f32 = gi->peak_f64 = NAN;
    gi->peak_label = "unknown GPU: no datasheet peak in bench_gpu_layer.c's table";
    for (size_t q = 0; q < sizeof peak_table / sizeof peak_table[0]; q++)
        if (strstr(gi->name, peak_table[q].key)) {
            gi->peak_label = peak_table[q].label;
            gi->peak_f32 = peak_table[q].f32 * 1e12;
            gi->peak_f64 = peak_table[q].f64 * 1e12;
            break;
        }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Host-side data: a fast generator is enough (the values only need to be typical) */

/* The library's counter-based generator, *counter the counter: bench_layer_fill's draws
 * in the order it makes them. */
static double next_uniform(void *counter, uint64_t stream, uint64_t index)
{
    (void)stream, (void)index;
    return dk_rng_uniform(0, 0, (*(uint64_t *)counter)++);
}

/* The problem's inputs on the host, for the upload and for the CPU reference, with the
 * interior knots moved by up to 15% of a cell, as bench_kan_layer.c's by default. */
static int host_make(bench_layer_inputs *h, const bench_layer_dims *d)
{
    if (bench_layer_inputs_alloc(h, d))
        return -1;
    uint64_t s = 0x6770756b616eULL + (uint64_t)(1000 * d->n + d->G);
    bench_layer_fill(h, d, 0.3, next_uniform, &s);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * One problem on the device */

typedef struct problem {
    dk_dtype dt;
    int n, G, k, batch;
    dk_kan_shape shape;
    size_t ws_bytes;
    void *grid, *coef, *sb, *ssp, *mask, *x, *dy, *y, *dx, *gcoef, *gsb, *gssp, *ws;
    void *stream;
} problem;

static void problem_free(problem *p)
{
    void *b[] = {p->grid, p->coef, p->sb, p->ssp, p->mask, p->x, p->dy, p->y, p->dx, p->gcoef, p->gsb, p->gssp, p->ws};
    for (size_t q = 0; q < sizeof b / sizeof b[0]; q++)
        dk_cuda_free(b[q]);
    void *stream = p->stream;
    memset(p, 0, sizeof *p);
    p->stream = stream;
}

static dk_err problem_init(problem *p, const bench_layer_dims *d, const bench_layer_inputs *h)
{
    void *stream = p->stream;
    memset(p, 0, sizeof *p);
    p->stream = stream;
    p->dt = d->dt, p->n = d->n, p->G = d->G, p->k = d->k, p->batch = d->batch;
    p->shape = dk_kan_shape_make(d->n, d->n, d->G, d->k, d->batch, 1);
    const bench_layer_counts c = bench_layer_count(d);
    const size_t e = dk_dtype_size(d->dt);
    /* Every buffer, its element count and name; the inputs' host copies, to upload. */
    const struct {
        void **dev;
        const void *host;
        size_t n;
        const char *what;
    } bufs[] = {{&p->grid, h->grid, c.grid, "grid"},
                {&p->coef, h->coef, c.coef, "coef"},
                {&p->sb, h->scale_base, c.edges, "scale_base"},
                {&p->ssp, h->scale_sp, c.edges, "scale_sp"},
                {&p->mask, h->mask, c.edges, "mask"},
                {&p->x, h->x, c.io, "x"},
                {&p->dy, h->dy, c.io, "dy"},
                {&p->y, NULL, c.io, "y"},
                {&p->dx, NULL, c.io, "dx"},
                {&p->gcoef, NULL, c.coef, "d coef"},
                {&p->gsb, NULL, c.edges, "d scale_base"},
                {&p->gssp, NULL, c.edges, "d scale_sp"}};
    const size_t n_bufs = sizeof bufs / sizeof bufs[0];
    p->ws_bytes = dk_kan_cuda_workspace_bytes(&p->shape, d->dt);
    for (size_t q = 0; q < n_bufs; q++)
        DK_CALL(dk_cuda_malloc(bufs[q].dev, bufs[q].n * e, bufs[q].what));
    DK_CALL(dk_cuda_malloc(&p->ws, p->ws_bytes > 0 ? p->ws_bytes : 1, "workspace"));
    for (size_t q = 0; q < n_bufs; q++)
        if (bufs[q].host)
            DK_CALL(dk_cuda_to_device(*bufs[q].dev, bufs[q].host, bufs[q].n * e, p->stream));
    DK_CALL(dk_cuda_stream_sync(p->stream));
    return DK_OK;
}

/* One fwd+bwd, queued on the problem's stream. */
static dk_err step(problem *p)
{
    if (p->dt == DK_F64) {
        dk_kan_params_f64 prm = {p->grid, p->coef, p->sb, p->ssp, p->mask};
        dk_kan_grads_f64 g = {p->gcoef, p->gsb, p->gssp};
        DK_CALL(dk_kan_cuda_forward_f64(&p->shape, &prm, p->batch, p->x, p->y, p->ws, p->stream));
        DK_CALL(dk_kan_cuda_backward_f64(&p->shape, &prm, p->batch, p->x, p->dy, p->dx, &g, p->ws, p->stream));
    } else {
        dk_kan_params_f32 prm = {p->grid, p->coef, p->sb, p->ssp, p->mask};
        dk_kan_grads_f32 g = {p->gcoef, p->gsb, p->gssp};
        DK_CALL(dk_kan_cuda_forward_f32(&p->shape, &prm, p->batch, p->x, p->y, p->ws, p->stream));
        DK_CALL(dk_kan_cuda_backward_f32(&p->shape, &prm, p->batch, p->x, p->dy, p->dx, &g, p->ws, p->stream));
    }
    return DK_OK;
}

/* ------------------------------------------------------------------------------------
 * Start-up check: GPU kernels vs the CPU kernels */

/* The results of the problem's last step, into host buffers. */
static dk_err download(const bench_layer_outputs *out, const problem *p, const bench_layer_dims *d)
{
    const bench_layer_counts c = bench_layer_count(d);
    const size_t e = dk_dtype_size(d->dt);
    DK_CALL(dk_cuda_stream_sync(p->stream));
    DK_CALL(dk_cuda_to_host(out->y, p->y, c.io * e, p->stream));
    DK_CALL(dk_cuda_to_host(out->dx, p->dx, c.io * e, p->stream));
    DK_CALL(dk_cuda_to_host(out->g_coef, p->gcoef, c.coef * e, p->stream));
    DK_CALL(dk_cuda_to_host(out->g_sb, p->gsb, c.edges * e, p->stream));
    DK_CALL(dk_cuda_to_host(out->g_ssp, p->gssp, c.edges * e, p->stream));
    return dk_cuda_stream_sync(p->stream);
}

/* max |gpu - cpu| / max |cpu| over y, dx and the three gradients; NAN on failure. */
static double run_check(dk_dtype dt, int n, int G, int k, int batch, void *stream)
{
    const bench_layer_dims d = {dt, n, G, k, batch};
    bench_layer_inputs h;
    if (host_make(&h, &d))
        return NAN;
    problem p = {.stream = stream};
    bench_layer_outputs cpu = {0}, gpu = {0};
    double worst = NAN;
    dk_kan_shape cs = dk_kan_shape_make(n, n, G, k, batch, 1);
    void *cws = bench_layer_workspace(&cs, dt);
    if (!cws || bench_layer_outputs_alloc(&cpu, &d) || bench_layer_outputs_alloc(&gpu, &d))
        goto done;
    bench_layer_cpu_step(&h, &d, &cs, &cpu, cws);
    if (problem_init(&p, &d, &h) || step(&p) || download(&gpu, &p, &d)) {
        fprintf(stderr, "bench_gpu_layer: check %s n=%d G=%d failed:\n%s\n", dk_dtype_name(dt), n, G, dk_error_message());
        goto done;
    }
    double diff[BENCH_LAYER_N_RESULTS];
    worst = bench_layer_compare(&gpu, &cpu, &d, diff);
    printf("check %s in=out=%d G=%d batch=%d: max rel diff GPU vs CPU: y %.1e dx %.1e dcoef %.1e "
           "dscale_base %.1e dscale_sp %.1e\n", dk_dtype_name(dt), n, G, batch, diff[0], diff[1], diff[2], diff[3],
           diff[4]);
done:
    problem_free(&p);
    bench_layer_inputs_free(&h);
    bench_layer_outputs_free(&cpu);
    bench_layer_outputs_free(&gpu);
    free(cws);
    return worst;
}

/* ------------------------------------------------------------------------------------
 * Rows */

typedef struct peer {
    double ms, sps;
    double mem; /* bytes; NAN when not measured */
    char note[BENCH_NOTE_LEN];
} peer;

enum { P_EAGER = 0, P_COMPILED = 1, P_MLP = 2, N_PEERS = 3 };
static const char *const peer_names[N_PEERS] = {"eager", "compiled", "mlp"};

typedef struct row {
    dk_dtype dt;
    int n, G;
    double ms, sps, flops, mem; /* distkan; NAN when not measured */
    double ms_min, ms_max;
    int reps;
    char note[BENCH_NOTE_LEN];
    peer peers[N_PEERS];
} row;

static double useful_flops(int batch, int n_in, int n_out, int k)
{
    return (double)batch * n_in * n_out * 8.0 * (k + 2);
}

static dk_err measure_row(row *rw, const options *o, void *stream)
{
    const bench_layer_dims d = {rw->dt, rw->n, rw->G, o->k, o->batch};
    bench_layer_inputs h;
    if (host_make(&h, &d))
        DK_ERROR(DK_ERR_MEMORY, "host buffers for in=out=%d G=%d", rw->n, rw->G);
    problem p = {.stream = stream};
    cudaEvent_t ev[2 * 256];
    int n_ev = 0;
    double *t = NULL;
    dk_err err = DK_OK;
    dk_cuda_memory_reset_peak();
    size_t base = dk_cuda_memory_used();
    DK_CALL_GOTO(err, out, problem_init(&p, &d, &h));
    bench_layer_inputs_free(&h); /* before timing: nothing on the host matters from here */
    for (int w = 0; w < o->warmup; w++)
        DK_CALL_GOTO(err, out, step(&p));
    DK_CALL_GOTO(err, out, dk_cuda_stream_sync(stream));
    /* One more call, timed on the host, sizes the repetition count. */
    double t0 = bench_now_s();
    DK_CALL_GOTO(err, out, step(&p));
    DK_CALL_GOTO(err, out, dk_cuda_stream_sync(stream));
    double first = bench_now_s() - t0;
    int reps = bench_reps_clamped(first, o->target_s, o->min_reps, o->max_reps);
    if (reps > 256)
        reps = 256;
    for (; n_ev < 2 * reps; n_ev++)
        if (cudaEventCreate(&ev[n_ev]) != cudaSuccess) {
            err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "cudaEventCreate failed");
            goto out;
        }
    /* Back to back, each call between its own pair of events: the GPU never idles between
     * calls, and each pair measures one call. */
    for (int r = 0; r < reps; r++) {
        cudaEventRecord(ev[2 * r], (cudaStream_t)stream);
        DK_CALL_GOTO(err, out, step(&p));
        cudaEventRecord(ev[2 * r + 1], (cudaStream_t)stream);
    }
    DK_CALL_GOTO(err, out, dk_cuda_stream_sync(stream));
    t = malloc((size_t)reps * sizeof *t);
    if (!t) {
        err = dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "timing array");
        goto out;
    }
    for (int r = 0; r < reps; r++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, ev[2 * r], ev[2 * r + 1]);
        t[r] = ms;
    }
    rw->ms = bench_median(t, reps);
    rw->ms_min = t[0], rw->ms_max = t[reps - 1], rw->reps = reps;
    rw->sps = o->batch / (rw->ms * 1e-3);
    rw->flops = useful_flops(o->batch, rw->n, rw->n, o->k) / (rw->ms * 1e-3);
    rw->mem = (double)(dk_cuda_memory_peak() - base);
out:
    free(t);
    for (int q = 0; q < n_ev; q++)
        cudaEventDestroy(ev[q]);
    problem_free(&p);
    bench_layer_inputs_free(&h);
    return err;
}

/* ------------------------------------------------------------------------------------
 * The PyTorch peers */

static row *find_row(row *rows, int n_rows, const char *dname, int n, int G)
{
    for (int r = 0; r < n_rows; r++)
        if (!strcmp(dk_dtype_name(rows[r].dt), dname) && rows[r].n == n && rows[r].G == G)
            return &rows[r];
    return NULL;
}

static void set_all_peer_notes(row *rows, int n_rows, const char *why)
{
    for (int r = 0; r < n_rows; r++)
        for (int q = 0; q < N_PEERS; q++)
            bench_set_note(rows[r].peers[q].note, why);
}

typedef struct peer_lines {
    row *rows;
    int n_rows;
    char *status; /* BENCH_NOTE_LEN bytes */
} peer_lines;

/* One line of torch_gpu_peers.py: a comment ("# ..."), tab-separated "info KEY VALUE", or
 * "result DTYPE N G PEER MS SAMPLES/S BYTES" or "na DTYPE N G PEER REASON". */
static void take_peer_line(char *line, void *ctx)
{
    const peer_lines *pl = ctx;
    if (line[0] == '#' || !line[0]) {
        if (line[0])
            printf("torch: %s\n", line);
        return;
    }
    char *f[12] = {0};
    int nf = bench_split_tabs(line, f, 12);
    if (nf >= 3 && !strcmp(f[0], "info")) {
        if (!strcmp(f[1], "torch"))
            bench_set_note(pl->status, f[2]);
        printf("torch: %s %s\n", f[1], f[2]);
        return;
    }
    if (nf < 6 || (strcmp(f[0], "result") && strcmp(f[0], "na")))
        return;
    row *rw = find_row(pl->rows, pl->n_rows, f[1], atoi(f[2]), atoi(f[3]));
    int q = -1;
    for (int c = 0; c < N_PEERS; c++)
        if (!strcmp(f[4], peer_names[c]))
            q = c;
    if (!rw || q < 0)
        return;
    peer *pe = &rw->peers[q];
    if (!strcmp(f[0], "result") && nf >= 8) {
        pe->ms = atof(f[5]), pe->sps = atof(f[6]), pe->mem = atof(f[7]);
        bench_set_note(pe->note, "");
        printf("torch: %s n=%s G=%s %-8s %9.3f ms %12.0f samples/s %8.0f MiB\n", f[1], f[2], f[3], f[4], pe->ms,
               pe->sps, pe->mem / 1048576.0);
    } else if (!strcmp(f[0], "na")) {
        bench_set_note(pe->note, f[5]);
        printf("torch: %s n=%s G=%s %-8s n/a: %s\n", f[1], f[2], f[3], f[4], f[5]);
    }
    fflush(stdout);
}

/* Runs torch_gpu_peers.py once for all rows, after every distkan measurement (never beside
 * one on the GPU), and fills the peers' columns; status: BENCH_NOTE_LEN bytes. */
static void run_torch(row *rows, int n_rows, const options *o, char *status)
{
    const char *why = bench_torch_unavailable(&o->run);
    if (why) {
        bench_set_note(status, why);
        set_all_peer_notes(rows, n_rows, why);
        printf("torch: %s; the PyTorch columns stay empty\n", why);
        return;
    }
    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd, "'%s' '%s' --batch %d --k %d --target-seconds %g --max-reps %d "
                       "--compile-grids '%s' --compile-budget %g%s%s --configs ",
                       o->run.python, o->run.torch_script, o->batch, o->k, o->target_s, o->max_reps,
                       o->compile_grids, o->compile_budget_s, o->run.no_compile ? " --no-compile" : "",
                       o->run.quick ? " --quick" : "");
    for (int r = 0; r < n_rows && len < (int)sizeof cmd; r++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%s:%d:%d", r ? "," : "", dk_dtype_name(rows[r].dt),
                        rows[r].n, rows[r].G);
    set_all_peer_notes(rows, n_rows, "no result (script failed)");
    bench_set_note(status, "script failed");
    fflush(stdout);
    peer_lines pl = {rows, n_rows, status};
    int st;
    if (bench_run_script(cmd, take_peer_line, &pl, &st))
        bench_set_note(status, "popen failed");
    else if (st != 0)
        printf("torch: script exited with status %d\n", st);
}

/* ------------------------------------------------------------------------------------
 * Report */

static const peer *faster_kan(const row *rw)
{
    const peer *e = &rw->peers[P_EAGER], *c = &rw->peers[P_COMPILED];
    if (isnan(e->ms))
        return isnan(c->ms) ? NULL : c;
    if (isnan(c->ms))
        return e;
    return c->ms < e->ms ? c : e;
}

/* v in format fmt ("n/a" for a NAN), followed by flag, which says that it misses its target. */
static void fmt_flagged(bench_cell cell, const char *fmt, double v, const char *flag)
{
    bench_fmt_value(cell, fmt, v, NULL);
    size_t len = strlen(cell);
    snprintf(cell + len, sizeof(bench_cell) - len, "%s", flag);
}

static void print_table(FILE *f, const row *rows, int n_rows, const gpu_info *gi, int md)
{
    static const char *hdr[] = {"dtype", "in=out", "G", "distkan ms", "samples/s", "GFLOP/s", "% peak",
                                "MiB", "eager ms", "compiled ms", "MLP ms", "torch KAN MiB", "speedup",
                                "mem ratio", "KAN/MLP"};
    static const int w[] = {7, 6, 3, 10, 12, 8, 6, 8, 9, 11, 8, 13, 8, 9, 7};
    enum { NC = 15 };
    bench_print_header(f, md, NC, hdr, w, "lllrrrrrrrrrrrr");
    for (int r = 0; r < n_rows; r++) {
        const row *rw = &rows[r];
        bench_cell cell[NC];
        double peak = rw->dt == DK_F64 ? gi->peak_f64 : gi->peak_f32;
        const peer *best = faster_kan(rw);
        snprintf(cell[0], sizeof cell[0], "%s", dk_dtype_name(rw->dt));
        snprintf(cell[1], sizeof cell[1], "%d", rw->n);
        snprintf(cell[2], sizeof cell[2], "%d", rw->G);
        bench_fmt_value(cell[3], "%.3f", rw->ms, NULL);
        bench_fmt_value(cell[4], "%.4g", rw->sps, NULL);
        bench_fmt_value(cell[5], "%.0f", rw->flops * 1e-9, NULL);
        bench_fmt_value(cell[6], "%.1f", 100 * rw->flops / peak, NULL);
        bench_fmt_value(cell[7], "%.0f", rw->mem / 1048576.0, NULL);
        bench_fmt_value(cell[8], "%.3f", rw->peers[P_EAGER].ms, NULL);
        bench_fmt_value(cell[9], "%.3f", rw->peers[P_COMPILED].ms, NULL);
        bench_fmt_value(cell[10], "%.3f", rw->peers[P_MLP].ms, NULL);
        bench_fmt_value(cell[11], "%.0f", best ? best->mem / 1048576.0 : NAN, NULL);
        double speed = best ? best->ms / rw->ms : NAN, memr = best ? rw->mem / best->mem : NAN;
        double mlp = rw->ms / rw->peers[P_MLP].ms;
        fmt_flagged(cell[12], "%.2fx", speed, rw->G == 10 && !isnan(speed) ? (speed >= 3 ? "" : " (<3)") : "");
        fmt_flagged(cell[13], "%.3f", memr, !isnan(memr) && memr > 0.25 ? " (>1/4)" : "");
        fmt_flagged(cell[14], "%.2fx", mlp, !isnan(mlp) && mlp > 2 ? " (>2)" : "");
        bench_print_row(f, md, NC, cell, w);
    }
}

static void print_notes(FILE *f, const row *rows, int n_rows, const options *o, const gpu_info *gi, const char *torch_status)
{
    fprintf(f, "- GPU: %s (compute capability %d.%d, %d SMs, %.1f GiB), CUDA runtime %d, driver %d\n", gi->name,
            gi->cc_major, gi->cc_minor, gi->sms, gi->total_mem / 1073741824.0, gi->runtime_version, gi->driver_version);
    fprintf(f, "- peak for %% peak: %s: FP32 %.1f TFLOP/s, FP64 %.1f TFLOP/s (non-tensor)\n", gi->peak_label,
            gi->peak_f32 * 1e-12, gi->peak_f64 * 1e-12);
    fprintf(f, "- batch %d, k = %d, mask = 1, x uniform on [-1, 1], pykan grid on [-1, 1] with jittered interior "
               "knots; fwd+bwd with dx\n", o->batch, o->k);
    fprintf(f, "- distkan ms: median of N calls (CUDA events per call, after %d warm-up calls); GFLOP/s counts "
               "batch*in*out*8(k+2) useful FLOPs per fwd+bwd\n", o->warmup);
    fprintf(f, "- MiB: peak device memory of the row (distkan: dk_cuda_memory_peak, buffers + workspace; torch: "
               "torch.cuda.max_memory_allocated of the faster KAN variant), parameters, gradients and activations "
               "included on both sides\n");
    fprintf(f, "- PyTorch: %s; speedup = faster of eager/compiled efficient-kan time / distkan time (target >= 3x "
               "at G=10); mem ratio = distkan MiB / that variant's MiB (target <= 0.25); KAN/MLP = distkan time / "
               "equal-parameter MLP time (target <= 2x)\n", torch_status);
    bench_seen seen = {.n = 0};
    for (int r = 0; r < n_rows; r++) {
        const char *notes[N_PEERS + 1] = {rows[r].note, rows[r].peers[0].note, rows[r].peers[1].note, rows[r].peers[2].note};
        for (int q = 0; q <= N_PEERS; q++)
            if (notes[q][0] && bench_seen_first(&seen, notes[q]))
                fprintf(f, "- n/a (%s, first at %s in=out=%d G=%d): %s\n", q ? peer_names[q - 1] : "distkan",
                        dk_dtype_name(rows[r].dt), rows[r].n, rows[r].G, notes[q]);
    }
}

typedef struct report {
    const row *rows;
    int n_rows;
    const options *o;
    const gpu_info *gi;
    const char *torch_status;
    double wall_s;
} report;

static const bench_md report_md = {
    .begin = "<!-- BEGIN bench_gpu_layer output: regenerated by bench/gpu/bench_gpu_layer --md -->",
    .end = "<!-- END bench_gpu_layer output -->",
    .title = "# GPU kernel benchmark: fused KAN layer vs PyTorch on the same GPU\n\n"
             "Produced by `bench/gpu/bench_gpu_layer --md` (scripts/gpu_check.sh).\n\n"};

/* The report's generated block (bench_save_md), ctx a report. */
static void write_generated(FILE *f, const void *ctx)
{
    const report *rp = ctx;
    char date[64];
    bench_date_utc(date, sizeof date);
    fprintf(f, "Run of %s, %.0f s wall in all.\n\n", date, rp->wall_s);
    print_table(f, rp->rows, rp->n_rows, rp->gi, 1);
    fprintf(f, "\n");
    print_notes(f, rp->rows, rp->n_rows, rp->o, rp->gi, rp->torch_status);
}

/* ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o))
        return bench_usage_error(usage);
    double wall0 = bench_now_s();
    if (dk_cuda_device_count() < 1) {
        fprintf(stderr, "bench_gpu_layer: no CUDA device visible (%s)\n", dk_cuda_no_device_reason());
        return 77;
    }
    char name[256];
    void *stream = NULL;
    if (dk_cuda_set_device(0, name, sizeof name) || dk_cuda_stream_create(&stream)) {
        fprintf(stderr, "bench_gpu_layer: %s\n", dk_error_message());
        return 1;
    }
    gpu_info gi;
    gpu_info_get(&gi);
    printf("bench_gpu_layer: %s, batch %d, k %d%s\n", gi.name, o.batch, o.k, o.run.quick ? " (quick)" : "");
    printf("peak: %s: FP32 %.1f, FP64 %.1f TFLOP/s (non-tensor)\n", gi.peak_label, gi.peak_f32 * 1e-12, gi.peak_f64 * 1e-12);
    printf("useful FLOPs per fwd+bwd = batch * in * out * 8 (k + 2)\n");

    /* The numbers below describe the layer only if the GPU kernels compute it. */
    int all_ok = 1;
    const int check_cfg[2][2] = {{16, 5}, {48, 50}};
    for (int d = 0; d < 2; d++)
        for (int c = 0; c < 2; c++) {
            dk_dtype dt = d ? DK_F64 : DK_F32;
            double w = run_check(dt, check_cfg[c][0], check_cfg[c][1], o.k, 1000, stream);
            int ok = !isnan(w) && w <= (dt == DK_F64 ? 1e-10 : 1e-4);
            if (!ok)
                printf("check %s in=out=%d G=%d: MISMATCH (worst %.1e)\n", dk_dtype_name(dt), check_cfg[c][0],
                       check_cfg[c][1], w);
            all_ok &= ok;
        }
    fflush(stdout);

    row rows[2 * MAX_SIZES * MAX_GRIDS];
    int n_rows = 0;
    for (int d = 0; d < 2; d++) {
        if ((d == 0 && !o.do_f32) || (d == 1 && !o.do_f64))
            continue;
        for (int s = 0; s < o.n_sizes; s++)
            for (int g = 0; g < o.n_grids; g++) {
                row *rw = &rows[n_rows++];
                *rw = (row){.dt = d ? DK_F64 : DK_F32, .n = o.sizes[s], .G = o.grids[g], .ms = NAN, .sps = NAN,
                            .flops = NAN, .mem = NAN};
                for (int q = 0; q < N_PEERS; q++)
                    rw->peers[q] = (peer){.ms = NAN, .sps = NAN, .mem = NAN};
            }
    }

    int measured = 0;
    for (int r = 0; r < n_rows; r++) {
        row *rw = &rows[r];
        if (measure_row(rw, &o, stream)) {
            char msg[BENCH_NOTE_LEN];
            snprintf(msg, sizeof msg, "%s", dk_error_message());
            msg[strcspn(msg, "\n")] = 0;
            bench_set_note(rw->note, msg);
            printf("distkan %s in=out=%d G=%d: failed: %s\n", dk_dtype_name(rw->dt), rw->n, rw->G, dk_error_message());
            dk_error_clear();
            (void)cudaGetLastError();
        } else {
            measured++;
            printf("distkan %s in=out=%d G=%d: %.3f ms (min %.3f, max %.3f, %d reps), %.4g samples/s, %.0f GFLOP/s, "
                   "%.0f MiB\n", dk_dtype_name(rw->dt), rw->n, rw->G, rw->ms, rw->ms_min, rw->ms_max, rw->reps, rw->sps,
                   rw->flops * 1e-9, rw->mem / 1048576.0);
        }
        fflush(stdout);
    }

    char torch_status[BENCH_NOTE_LEN];
    run_torch(rows, n_rows, &o, torch_status);

    printf("\nfused KAN layer fwd+bwd on the GPU vs PyTorch on the same GPU (batch %d, k %d):\n\n", o.batch, o.k);
    print_table(stdout, rows, n_rows, &gi, 0);
    printf("\n");
    print_notes(stdout, rows, n_rows, &o, &gi, torch_status);
    double wall = bench_now_s() - wall0;
    printf("wall time %.0f s\n", wall);
    const report rp = {rows, n_rows, &o, &gi, torch_status, wall};
    if (o.run.md_path && bench_save_md("bench_gpu_layer", o.run.md_path, &report_md, write_generated, &rp))
        return 1;
    dk_cuda_stream_destroy(stream);
    if (!all_ok) {
        fprintf(stderr, "bench_gpu_layer: the GPU kernels disagree with the CPU kernels (see 'check' lines)\n");
        return 1;
    }
    if (!measured) {
        fprintf(stderr, "bench_gpu_layer: no row could be measured\n");
        return 1;
    }
    return 0;
}

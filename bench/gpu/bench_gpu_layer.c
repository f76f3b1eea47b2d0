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
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dk_cuda.h"
#include "common/dk_dtype.h"
#include "common/dk_error.h"
#include "common/dk_rng.h"
#include "kernels/dk_kan_cuda.h"
#include "kernels/dk_kan_layer.h"

#include "../bench_common.h"

#ifndef DK_BENCH_TORCH_SCRIPT
#define DK_BENCH_TORCH_SCRIPT "bench/gpu/torch_gpu_peers.py"
#endif

enum { MAX_SIZES = 8, MAX_GRIDS = 8 };

/* ------------------------------------------------------------------------------------
 * Options */

typedef struct options {
    int quick, no_torch, no_compile;
    int batch, k;
    int sizes[MAX_SIZES], n_sizes, grids[MAX_GRIDS], n_grids;
    int do_f32, do_f64;
    int warmup, min_reps, max_reps;
    double target_s;
    const char *compile_grids; /* G values torch.compile runs on ("all" or a list) */
    double compile_budget_s;
    const char *python, *torch_script, *md_path;
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

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.batch = 65536, .k = 3, .do_f32 = 1, .do_f64 = 1, .warmup = 3, .min_reps = 5,
                   .max_reps = 50, .target_s = 0.5, .compile_grids = "10", .compile_budget_s = 150,
                   .python = "python3", .torch_script = DK_BENCH_TORCH_SCRIPT};
    int batch_set = 0;
    for (int a = 1; a < argc; a++) {
        const char *s = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(s, "--quick"))
            o->quick = 1;
        else if (!strcmp(s, "--no-torch"))
            o->no_torch = 1;
        else if (!strcmp(s, "--no-compile"))
            o->no_compile = 1;
        else if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            exit(0);
        } else if (v && !strcmp(s, "--n")) {
            if (bench_parse_list(v, o->sizes, &o->n_sizes, MAX_SIZES))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--G")) {
            if (bench_parse_list(v, o->grids, &o->n_grids, MAX_GRIDS))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--batch")) {
            if (bench_parse_int(v, &o->batch))
                return -1;
            batch_set = 1, a++;
        } else if (v && !strcmp(s, "--max-reps")) {
            if (bench_parse_int(v, &o->max_reps))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--target-seconds")) {
            if (bench_parse_seconds(v, &o->target_s))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--compile-budget")) {
            if (bench_parse_seconds(v, &o->compile_budget_s))
                return -1;
            a++;
        } else if (v && !strcmp(s, "--compile-grids")) {
            o->compile_grids = v, a++;
        } else if (v && !strcmp(s, "--dtype")) {
            o->do_f32 = !strcmp(v, "f32") || !strcmp(v, "both") || !strcmp(v, "float32");
            o->do_f64 = !strcmp(v, "f64") || !strcmp(v, "both") || !strcmp(v, "float64");
            if (!o->do_f32 && !o->do_f64)
                return -1;
            a++;
        } else if (v && !strcmp(s, "--md")) {
            o->md_path = v, a++;
        } else if (v && !strcmp(s, "--python")) {
            o->python = v, a++;
        } else if (v && !strcmp(s, "--torch-script")) {
            o->torch_script = v, a++;
        } else {
            return -1;
        }
    }
    static const int sizes_full[] = {64, 256, 1024}, grids_full[] = {5, 10, 50};
    static const int sizes_quick[] = {32}, grids_quick[] = {5, 10};
    if (!o->n_sizes) {
        o->n_sizes = o->quick ? 1 : 3;
        memcpy(o->sizes, o->quick ? sizes_quick : sizes_full, (size_t)o->n_sizes * sizeof(int));
    }
    if (!o->n_grids) {
        o->n_grids = o->quick ? 2 : 3;
        memcpy(o->grids, o->quick ? grids_quick : grids_full, (size_t)o->n_grids * sizeof(int));
    }
    if (o->quick) {
        if (!batch_set)
            o->batch = 4096;
        o->warmup = 1, o->min_reps = 3, o->max_reps = 3, o->target_s = 0;
        o->no_compile = 1;
    }
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

/* The library's counter-based generator, *s the counter. */
static double unif(uint64_t *s) { return dk_rng_uniform(0, 0, (*s)++); }

/* pykan's extended grid on [-1, 1] with interior knots moved by up to 15% of a cell, as
 * bench_kan_layer.c and torch_kan_common.knot_grid do. */
static void fill_grid(dk_dtype dt, void *grid, int n, int G, int k, uint64_t *s)
{
    int nk = G + 2 * k + 1;
    double h = 2.0 / G;
    for (int i = 0; i < n; i++)
        for (int m = 0; m < nk; m++) {
            double t = -1.0 + (m - k) * h;
            if (m > k && m < k + G)
                t += 0.3 * h * (unif(s) - 0.5);
            dk_store(dt, grid, (size_t)i * (size_t)nk + (size_t)m, t);
        }
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

/* Host arrays of the problem's inputs, for the upload and for the CPU reference. */
typedef struct host_data {
    void *grid, *coef, *sb, *ssp, *mask, *x, *dy;
} host_data;

static void host_free(host_data *h)
{
    free(h->grid), free(h->coef), free(h->sb), free(h->ssp), free(h->mask), free(h->x), free(h->dy);
    memset(h, 0, sizeof *h);
}

static int host_make(host_data *h, dk_dtype dt, int n, int G, int k, int batch)
{
    size_t e = dk_dtype_size(dt), nk = (size_t)(G + 2 * k + 1), nb = (size_t)(G + k);
    size_t nn = (size_t)n * (size_t)n, bn = (size_t)batch * (size_t)n;
    memset(h, 0, sizeof *h);
    h->grid = malloc((size_t)n * nk * e), h->coef = malloc(nn * nb * e);
    h->sb = malloc(nn * e), h->ssp = malloc(nn * e), h->mask = malloc(nn * e);
    h->x = malloc(bn * e), h->dy = malloc(bn * e);
    if (!h->grid || !h->coef || !h->sb || !h->ssp || !h->mask || !h->x || !h->dy) {
        host_free(h);
        return -1;
    }
    uint64_t s = 0x6770756b616eULL + (uint64_t)(1000 * n + G);
    fill_grid(dt, h->grid, n, G, k, &s);
    for (size_t q = 0; q < nn * nb; q++)
        dk_store(dt, h->coef, q, 0.2 * (unif(&s) - 0.5));
    for (size_t q = 0; q < nn; q++) {
        dk_store(dt, h->sb, q, unif(&s) - 0.5);
        dk_store(dt, h->ssp, q, unif(&s) + 0.5);
        dk_store(dt, h->mask, q, 1.0);
    }
    for (size_t q = 0; q < bn; q++) {
        dk_store(dt, h->x, q, 2.0 * unif(&s) - 1.0);
        dk_store(dt, h->dy, q, unif(&s) - 0.5);
    }
    return 0;
}

static dk_err problem_init(problem *p, dk_dtype dt, int n, int G, int k, int batch, const host_data *h)
{
    void *stream = p->stream;
    memset(p, 0, sizeof *p);
    p->stream = stream;
    p->dt = dt, p->n = n, p->G = G, p->k = k, p->batch = batch;
    p->shape = dk_kan_shape_make(n, n, G, k, batch, 1);
    size_t e = dk_dtype_size(dt), nk = (size_t)(G + 2 * k + 1), nb = (size_t)(G + k);
    size_t nn = (size_t)n * (size_t)n, bn = (size_t)batch * (size_t)n;
    p->ws_bytes = dk_kan_cuda_workspace_bytes(&p->shape, dt);
    DK_CALL(dk_cuda_malloc(&p->grid, (size_t)n * nk * e, "grid"));
    DK_CALL(dk_cuda_malloc(&p->coef, nn * nb * e, "coef"));
    DK_CALL(dk_cuda_malloc(&p->sb, nn * e, "scale_base"));
    DK_CALL(dk_cuda_malloc(&p->ssp, nn * e, "scale_sp"));
    DK_CALL(dk_cuda_malloc(&p->mask, nn * e, "mask"));
    DK_CALL(dk_cuda_malloc(&p->x, bn * e, "x"));
    DK_CALL(dk_cuda_malloc(&p->dy, bn * e, "dy"));
    DK_CALL(dk_cuda_malloc(&p->y, bn * e, "y"));
    DK_CALL(dk_cuda_malloc(&p->dx, bn * e, "dx"));
    DK_CALL(dk_cuda_malloc(&p->gcoef, nn * nb * e, "d coef"));
    DK_CALL(dk_cuda_malloc(&p->gsb, nn * e, "d scale_base"));
    DK_CALL(dk_cuda_malloc(&p->gssp, nn * e, "d scale_sp"));
    DK_CALL(dk_cuda_malloc(&p->ws, p->ws_bytes > 0 ? p->ws_bytes : 1, "workspace"));
    DK_CALL(dk_cuda_to_device(p->grid, h->grid, (size_t)n * nk * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->coef, h->coef, nn * nb * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->sb, h->sb, nn * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->ssp, h->ssp, nn * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->mask, h->mask, nn * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->x, h->x, bn * e, p->stream));
    DK_CALL(dk_cuda_to_device(p->dy, h->dy, bn * e, p->stream));
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

static double rel_diff(dk_dtype dt, const void *a, const void *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t q = 0; q < n; q++) {
        double av = dk_load(dt, a, q), bv = dk_load(dt, b, q);
        num = fmax(num, fabs(av - bv));
        den = fmax(den, fabs(bv));
        if (isnan(av))
            return NAN;
    }
    return den > 0 ? num / den : num;
}

/* max |gpu - cpu| / max |cpu| over y, dx and the three gradients; NAN on failure. */
static double run_check(dk_dtype dt, int n, int G, int k, int batch, void *stream)
{
    host_data h;
    if (host_make(&h, dt, n, G, k, batch))
        return NAN;
    problem p = {.stream = stream};
    double worst = NAN;
    size_t e = dk_dtype_size(dt), nb = (size_t)(G + k), nn = (size_t)n * (size_t)n, bn = (size_t)batch * (size_t)n;
    void *cy = malloc(bn * e), *cdx = malloc(bn * e), *cgc = malloc(nn * nb * e), *cgb = malloc(nn * e), *cgs = malloc(nn * e);
    void *gy = malloc(bn * e), *gdx = malloc(bn * e), *ggc = malloc(nn * nb * e), *ggb = malloc(nn * e), *ggs = malloc(nn * e);
    dk_kan_shape cs = dk_kan_shape_make(n, n, G, k, batch, 1);
    void *cws = malloc(dk_kan_workspace_bytes(&cs, dt) + 64);
    if (!cy || !cdx || !cgc || !cgb || !cgs || !gy || !gdx || !ggc || !ggb || !ggs || !cws)
        goto done;
    if (dt == DK_F64) {
        dk_kan_params_f64 prm = {h.grid, h.coef, h.sb, h.ssp, h.mask};
        dk_kan_grads_f64 g = {cgc, cgb, cgs};
        dk_kan_forward_f64(&cs, &prm, batch, h.x, cy, cws);
        dk_kan_backward_f64(&cs, &prm, batch, h.x, h.dy, cdx, &g, cws);
    } else {
        dk_kan_params_f32 prm = {h.grid, h.coef, h.sb, h.ssp, h.mask};
        dk_kan_grads_f32 g = {cgc, cgb, cgs};
        dk_kan_forward_f32(&cs, &prm, batch, h.x, cy, cws);
        dk_kan_backward_f32(&cs, &prm, batch, h.x, h.dy, cdx, &g, cws);
    }
    if (problem_init(&p, dt, n, G, k, batch, &h) || step(&p) || dk_cuda_stream_sync(stream) ||
        dk_cuda_to_host(gy, p.y, bn * e, stream) || dk_cuda_to_host(gdx, p.dx, bn * e, stream) ||
        dk_cuda_to_host(ggc, p.gcoef, nn * nb * e, stream) || dk_cuda_to_host(ggb, p.gsb, nn * e, stream) ||
        dk_cuda_to_host(ggs, p.gssp, nn * e, stream) || dk_cuda_stream_sync(stream)) {
        fprintf(stderr, "bench_gpu_layer: check %s n=%d G=%d failed:\n%s\n", dk_dtype_name(dt), n, G, dk_error_message());
        goto done;
    }
    {
        double d[5] = {rel_diff(dt, gy, cy, bn), rel_diff(dt, gdx, cdx, bn), rel_diff(dt, ggc, cgc, nn * nb),
                       rel_diff(dt, ggb, cgb, nn), rel_diff(dt, ggs, cgs, nn)};
        worst = 0;
        for (int q = 0; q < 5; q++)
            worst = isnan(d[q]) || isnan(worst) ? NAN : fmax(worst, d[q]);
        printf("check %s in=out=%d G=%d batch=%d: max rel diff GPU vs CPU: y %.1e dx %.1e dcoef %.1e "
               "dscale_base %.1e dscale_sp %.1e\n", dk_dtype_name(dt), n, G, batch, d[0], d[1], d[2], d[3], d[4]);
    }
done:
    problem_free(&p);
    host_free(&h);
    void *bufs[] = {cy, cdx, cgc, cgb, cgs, gy, gdx, ggc, ggb, ggs, cws};
    for (size_t q = 0; q < sizeof bufs / sizeof bufs[0]; q++)
        free(bufs[q]);
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static dk_err measure_row(row *rw, const options *o, void *stream)
{
    host_data h;
    if (host_make(&h, rw->dt, rw->n, rw->G, o->k, o->batch))
        DK_ERROR(DK_ERR_MEMORY, "host buffers for in=out=%d G=%d", rw->n, rw->G);
    problem p = {.stream = stream};
    cudaEvent_t ev[2 * 256];
    int n_ev = 0;
    double *t = NULL;
    dk_err err = DK_OK;
    dk_cuda_memory_reset_peak();
    size_t base = dk_cuda_memory_used();
    DK_CALL_GOTO(err, out, problem_init(&p, rw->dt, rw->n, rw->G, o->k, o->batch, &h));
    host_free(&h); /* before timing: nothing on the host matters from here */
    for (int w = 0; w < o->warmup; w++)
        DK_CALL_GOTO(err, out, step(&p));
    DK_CALL_GOTO(err, out, dk_cuda_stream_sync(stream));
    /* One more call, timed on the host, sizes the repetition count. */
    double t0 = bench_now_s();
    DK_CALL_GOTO(err, out, step(&p));
    DK_CALL_GOTO(err, out, dk_cuda_stream_sync(stream));
    double first = bench_now_s() - t0;
    int reps = first > 0 ? (int)(o->target_s / first) : o->max_reps;
    reps = reps < o->min_reps ? o->min_reps : reps > o->max_reps ? o->max_reps : reps;
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
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    rw->ms = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    rw->ms_min = t[0], rw->ms_max = t[reps - 1], rw->reps = reps;
    rw->sps = o->batch / (rw->ms * 1e-3);
    rw->flops = useful_flops(o->batch, rw->n, rw->n, o->k) / (rw->ms * 1e-3);
    rw->mem = (double)(dk_cuda_memory_peak() - base);
out:
    free(t);
    for (int q = 0; q < n_ev; q++)
        cudaEventDestroy(ev[q]);
    problem_free(&p);
    host_free(&h);
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

static void run_torch(row *rows, int n_rows, const options *o, char *status, size_t status_len)
{
    const char *why = bench_torch_unavailable(o->no_torch, o->python, o->torch_script);
    if (why) {
        snprintf(status, status_len, "%s", why);
        set_all_peer_notes(rows, n_rows, why);
        printf("torch: %s; the PyTorch columns stay empty\n", why);
        return;
    }
    char cmd[8192];
    int len = snprintf(cmd, sizeof cmd, "'%s' '%s' --batch %d --k %d --target-seconds %g --max-reps %d "
                       "--compile-grids '%s' --compile-budget %g%s%s --configs ",
                       o->python, o->torch_script, o->batch, o->k, o->target_s, o->max_reps, o->compile_grids,
                       o->compile_budget_s, o->no_compile ? " --no-compile" : "", o->quick ? " --quick" : "");
    for (int r = 0; r < n_rows && len < (int)sizeof cmd; r++)
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%s:%d:%d", r ? "," : "", dk_dtype_name(rows[r].dt),
                        rows[r].n, rows[r].G);
    set_all_peer_notes(rows, n_rows, "no result (script failed)");
    snprintf(status, status_len, "script failed");
    fflush(stdout);
    FILE *pp = popen(cmd, "r");
    if (!pp) {
        snprintf(status, status_len, "popen failed");
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, pp)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#' || !line[0]) {
            if (line[0])
                printf("torch: %s\n", line);
            continue;
        }
        char *f[12] = {0};
        int nf = 0;
        for (char *s = strtok(line, "\t"); s && nf < 12; s = strtok(NULL, "\t"))
            f[nf++] = s;
        if (nf >= 3 && !strcmp(f[0], "info")) {
            if (!strcmp(f[1], "torch"))
                snprintf(status, status_len, "%s", f[2]);
            printf("torch: %s %s\n", f[1], f[2]);
            continue;
        }
        if (nf < 6 || (strcmp(f[0], "result") && strcmp(f[0], "na")))
            continue;
        row *rw = find_row(rows, n_rows, f[1], atoi(f[2]), atoi(f[3]));
        int q = -1;
        for (int c = 0; c < N_PEERS; c++)
            if (!strcmp(f[4], peer_names[c]))
                q = c;
        if (!rw || q < 0)
            continue;
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
    int st = pclose(pp);
    if (st != 0)
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

static void fmt(char *b, size_t n, const char *f, double v)
{
    if (isnan(v))
        snprintf(b, n, "n/a");
    else
        snprintf(b, n, f, v);
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
        char cell[NC][48];
        double peak = rw->dt == DK_F64 ? gi->peak_f64 : gi->peak_f32;
        const peer *best = faster_kan(rw);
        snprintf(cell[0], 48, "%s", dk_dtype_name(rw->dt));
        snprintf(cell[1], 48, "%d", rw->n);
        snprintf(cell[2], 48, "%d", rw->G);
        fmt(cell[3], 48, "%.3f", rw->ms);
        fmt(cell[4], 48, "%.4g", rw->sps);
        fmt(cell[5], 48, "%.0f", rw->flops * 1e-9);
        fmt(cell[6], 48, "%.1f", 100 * rw->flops / peak);
        fmt(cell[7], 48, "%.0f", rw->mem / 1048576.0);
        fmt(cell[8], 48, "%.3f", rw->peers[P_EAGER].ms);
        fmt(cell[9], 48, "%.3f", rw->peers[P_COMPILED].ms);
        fmt(cell[10], 48, "%.3f", rw->peers[P_MLP].ms);
        fmt(cell[11], 48, "%.0f", best ? best->mem / 1048576.0 : NAN);
        double speed = best ? best->ms / rw->ms : NAN, memr = best ? rw->mem / best->mem : NAN;
        double mlp = rw->ms / rw->peers[P_MLP].ms;
        char tmp[24];
        fmt(tmp, sizeof tmp, "%.2fx", speed);
        snprintf(cell[12], 48, "%s%s", tmp, rw->G == 10 && !isnan(speed) ? (speed >= 3 ? "" : " (<3)") : "");
        fmt(tmp, sizeof tmp, "%.3f", memr);
        snprintf(cell[13], 48, "%s%s", tmp, !isnan(memr) && memr > 0.25 ? " (>1/4)" : "");
        fmt(tmp, sizeof tmp, "%.2fx", mlp);
        snprintf(cell[14], 48, "%s%s", tmp, !isnan(mlp) && mlp > 2 ? " (>2)" : "");
        for (int c = 0; c < NC; c++)
            bench_print_cell(f, md, w[c], cell[c]);
        fprintf(f, md ? "|\n" : "\n");
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
    const char *seen[64];
    int n_seen = 0;
    for (int r = 0; r < n_rows; r++) {
        const char *notes[N_PEERS + 1] = {rows[r].note, rows[r].peers[0].note, rows[r].peers[1].note, rows[r].peers[2].note};
        for (int q = 0; q <= N_PEERS; q++) {
            if (!notes[q][0])
                continue;
            int dup = 0;
            for (int s = 0; s < n_seen; s++)
                dup |= !strcmp(seen[s], notes[q]);
            if (dup || n_seen == 64)
                continue;
            seen[n_seen++] = notes[q];
            fprintf(f, "- n/a (%s, first at %s in=out=%d G=%d): %s\n", q ? peer_names[q - 1] : "distkan",
                    dk_dtype_name(rows[r].dt), rows[r].n, rows[r].G, notes[q]);
        }
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

#define MD_BEGIN "<!-- BEGIN bench_gpu_layer output: regenerated by bench/gpu/bench_gpu_layer --md -->"
#define MD_END "<!-- END bench_gpu_layer output -->"

static void write_generated(FILE *f, const void *ctx)
{
    const report *rp = ctx;
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f, "%s\n\nRun of %s, %.0f s wall in all.\n\n", MD_BEGIN, date, rp->wall_s);
    print_table(f, rp->rows, rp->n_rows, rp->gi, 1);
    fprintf(f, "\n");
    print_notes(f, rp->rows, rp->n_rows, rp->o, rp->gi, rp->torch_status);
    fprintf(f, "\n%s\n", MD_END);
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
    if (dk_cuda_device_count() < 1) {
        fprintf(stderr, "bench_gpu_layer: no CUDA device visible\n");
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
    printf("bench_gpu_layer: %s, batch %d, k %d%s\n", gi.name, o.batch, o.k, o.quick ? " (quick)" : "");
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
    run_torch(rows, n_rows, &o, torch_status, sizeof torch_status);

    printf("\nfused KAN layer fwd+bwd on the GPU vs PyTorch on the same GPU (batch %d, k %d):\n\n", o.batch, o.k);
    print_table(stdout, rows, n_rows, &gi, 0);
    printf("\n");
    print_notes(stdout, rows, n_rows, &o, &gi, torch_status);
    double wall = bench_now_s() - wall0;
    printf("wall time %.0f s\n", wall);
    if (o.md_path) {
        report rp = {rows, n_rows, &o, &gi, torch_status, wall};
        if (bench_write_md(o.md_path, MD_BEGIN, MD_END,
                           "# GPU kernel benchmark: fused KAN layer vs PyTorch on the same GPU\n\n"
                           "Produced by `bench/gpu/bench_gpu_layer --md` (scripts/gpu_check.sh).\n\n",
                           write_generated, &rp)) {
            fprintf(stderr, "bench_gpu_layer: cannot write %s: %s\n", o.md_path, strerror(errno));
            return 1;
        }
        printf("wrote %s\n", o.md_path);
    }
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

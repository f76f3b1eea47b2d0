/* What the gradient all-reduce costs a GPU training step, and how much of it overlapping
 * with backward hides. An MPI program:
 *
 *   mpirun -np R bench_allreduce nccl|mpi [--quick] [--batch N] [--layers L] [--G G]
 *                                         [--dtype f32|f64] [--max-exp E]
 *
 * For parameter counts P = 10^3, 10^4, ..., 10^7 it builds a synthetic model of that size: L
 * KAN layers of width n (in = out = n, k = 3, grid G), n chosen so that
 * L * n^2 * (G + k + 2) is as close to P as whole widths allow, and times on every rank, per
 * step (batch samples per rank, median over repetitions, maximum over ranks):
 *   compute    forward through the L layers, backward in reverse (dk_kan_cuda_*, dx
 *              included), the gradients landing in one flat buffer;
 *   allreduce  dk_comm_allreduce_sum of the flat buffer alone (device memory);
 *   fused      compute, then one all-reduce of the whole flat buffer;
 *   bucketed   compute, where after each layer's backward that layer's gradient block is
 *              started with dk_comm_allreduce_start (NCCL runs it on its own stream while
 *              the next layer's backward computes), then one dk_comm_allreduce_wait.
 * Each step ends with a host synchronisation of the compute stream and is timed on the host
 * clock, so what NCCL or the MPI staging costs on the host side is in the figures. The
 * layers all read the same parameters and input (values do not change the work): only
 * timing is measured, never a result. Backend nccl needs one GPU per rank (NCCL before 2.30
 * refuses two ranks on one GPU); mpi stages device buffers through pinned host memory and
 * lets ranks share a GPU, in which case their kernels share it too and compute slows down.
 *
 * Printed: one table row per P with those four times, the all-reduce's algorithm and bus
 * bandwidth (bus = bytes / time * 2 (R-1) / R, NCCL's convention), the overhead of each step
 * over compute alone, and the share of the all-reduce that bucketing hid:
 *   hidden = (fused - bucketed) / allreduce.
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dk_cuda.h"
#include "common/dk_dtype.h"
#include "common/dk_error.h"
#include "common/dk_rng.h"
#include "dist/dk_comm.h"
#include "kernels/dk_kan_cuda.h"
#include "kernels/dk_kan_layer.h"

#include "../bench_common.h"
#include "../bench_options.h"

typedef struct options {
    dk_comm_backend backend;
    int quick, batch, layers, G, k, max_exp, min_reps, max_reps;
    double target_s;
    dk_dtype dt;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_allreduce nccl|mpi [--quick] [--batch N] [--layers L] [--G G] [--dtype f32|f64]\n"
               "                       [--max-exp E] [--target-seconds S]\n"
               "  --batch     samples per rank and step (default 8192)\n"
               "  --layers    KAN layers of the synthetic model (default 4); --G grid (default 10)\n"
               "  --max-exp   largest model 10^E parameters (default 7; --quick: 5)\n");
}

/* --max-exp: a power of ten from 10^3 to 10^9 parameters. */
static int parse_max_exp(const char *v, void *max_exp)
{
    int *e = max_exp;
    return bench_parse_int(v, e) || *e < 3 || *e > 9 ? -1 : 0;
}

/* --dtype f32|f64 (float32, float64). */
static int parse_dtype(const char *v, void *dt)
{
    if (!strcmp(v, "f32") || !strcmp(v, "float32"))
        *(dk_dtype *)dt = DK_F32;
    else if (!strcmp(v, "f64") || !strcmp(v, "float64"))
        *(dk_dtype *)dt = DK_F64;
    else
        return -1;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    /* max_exp stays 0 until given: its default depends on --quick, which may come later. */
    *o = (options){.batch = 8192, .layers = 4, .G = 10, .k = 3, .min_reps = 5, .max_reps = 50,
                   .target_s = 0.25, .dt = DK_F32};
    if (argc < 2)
        return -1;
    if (!strcmp(argv[1], "nccl"))
        o->backend = DK_COMM_NCCL;
    else if (!strcmp(argv[1], "mpi"))
        o->backend = DK_COMM_MPI;
    else
        return -1;
    const bench_opt opts[] = {
        bench_opt_flag("--quick", &o->quick),
        bench_opt_int("--batch", &o->batch),
        bench_opt_int("--layers", &o->layers),
        bench_opt_int("--G", &o->G),
        bench_opt_custom("--max-exp", parse_max_exp, &o->max_exp),
        bench_opt_seconds("--target-seconds", &o->target_s),
        bench_opt_custom("--dtype", parse_dtype, &o->dt),
    };
    if (bench_parse_args(argc, argv, 2, opts, BENCH_N_OPTS(opts), NULL, NULL, NULL))
        return -1;
    if (!o->max_exp)
        o->max_exp = o->quick ? 5 : 7;
    if (o->quick) {
        if (o->batch == 8192)
            o->batch = 1024;
        o->min_reps = o->max_reps = 3, o->target_s = 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The synthetic model */

typedef struct model {
    int L, n, G, k, batch;
    dk_dtype dt;
    dk_kan_shape shape;
    size_t per_layer, total; /* gradient elements: n*n*(G+k) coef + n*n scale_base + n*n scale_sp */
    void *grid, *coef, *sb, *ssp, *mask, *x, *dy, *y, *dx, *ws, *grads;
    void *stream;
} model;

static void model_free(model *m)
{
    void *b[] = {m->grid, m->coef, m->sb, m->ssp, m->mask, m->x, m->dy, m->y, m->dx, m->ws, m->grads};
    for (size_t q = 0; q < sizeof b / sizeof b[0]; q++)
        dk_cuda_free(b[q]);
}

/* The library's counter-based generator, *s the counter. */
static double unif(uint64_t *s) { return dk_rng_uniform(0, 0, (*s)++); }

/* Uploads n values uniform on [lo, hi) as dtype dt. */
static dk_err upload(void *dst, dk_dtype dt, size_t n, double lo, double hi, uint64_t *s, void *stream)
{
    void *h = malloc(n * dk_dtype_size(dt) + 1);
    if (!h)
        DK_ERROR(DK_ERR_MEMORY, "host staging of %zu values", n);
    for (size_t q = 0; q < n; q++)
        dk_store(dt, h, q, lo + (hi - lo) * unif(s));
    dk_err err = dk_cuda_to_device(dst, h, n * dk_dtype_size(dt), stream);
    if (!err)
        err = dk_cuda_stream_sync(stream);
    free(h);
    return err;
}

static dk_err model_init(model *m, const options *o, long target_params, void *stream)
{
    memset(m, 0, sizeof *m);
    m->L = o->layers, m->G = o->G, m->k = o->k, m->batch = o->batch, m->dt = o->dt, m->stream = stream;
    int per_w = o->G + o->k + 2;
    m->n = (int)lround(sqrt((double)target_params / ((double)o->layers * per_w)));
    if (m->n < 1)
        m->n = 1;
    int n = m->n, nk = o->G + 2 * o->k + 1, nb = o->G + o->k;
    size_t e = dk_dtype_size(o->dt), nn = (size_t)n * (size_t)n, bn = (size_t)o->batch * (size_t)n;
    m->per_layer = nn * (size_t)per_w;
    m->total = m->per_layer * (size_t)o->layers;
    m->shape = dk_kan_shape_make(n, n, o->G, o->k, o->batch, 1);
    DK_CALL(dk_cuda_malloc(&m->grid, (size_t)n * (size_t)nk * e, "grid"));
    DK_CALL(dk_cuda_malloc(&m->coef, nn * (size_t)nb * e, "coef"));
    DK_CALL(dk_cuda_malloc(&m->sb, nn * e, "scale_base"));
    DK_CALL(dk_cuda_malloc(&m->ssp, nn * e, "scale_sp"));
    DK_CALL(dk_cuda_malloc(&m->mask, nn * e, "mask"));
    DK_CALL(dk_cuda_malloc(&m->x, bn * e, "x"));
    DK_CALL(dk_cuda_malloc(&m->dy, bn * e, "dy"));
    DK_CALL(dk_cuda_malloc(&m->y, bn * e, "y"));
    DK_CALL(dk_cuda_malloc(&m->dx, bn * e, "dx"));
    size_t wsb = dk_kan_cuda_workspace_bytes(&m->shape, o->dt);
    DK_CALL(dk_cuda_malloc(&m->ws, wsb > 0 ? wsb : 1, "workspace"));
    DK_CALL(dk_cuda_malloc(&m->grads, m->total * e, "flat gradient buffer"));
    uint64_t s = 0x616c6c726564ULL + (uint64_t)target_params;
    /* Uniform knots on [-1, 1] extended by k cells per side (pykan's grid). */
    void *hg = malloc((size_t)n * (size_t)nk * e);
    if (!hg)
        DK_ERROR(DK_ERR_MEMORY, "host grid");
    for (int i = 0; i < n; i++)
        for (int q = 0; q < nk; q++)
            dk_store(o->dt, hg, (size_t)i * (size_t)nk + (size_t)q, -1.0 + (q - o->k) * 2.0 / o->G);
    dk_err err = dk_cuda_to_device(m->grid, hg, (size_t)n * (size_t)nk * e, stream);
    if (!err)
        err = dk_cuda_stream_sync(stream);
    free(hg);
    DK_CALL(err);
    DK_CALL(upload(m->coef, o->dt, nn * (size_t)nb, -0.1, 0.1, &s, stream));
    DK_CALL(upload(m->sb, o->dt, nn, -0.5, 0.5, &s, stream));
    DK_CALL(upload(m->ssp, o->dt, nn, 0.5, 1.5, &s, stream));
    DK_CALL(upload(m->mask, o->dt, nn, 1.0, 1.0, &s, stream));
    DK_CALL(upload(m->x, o->dt, bn, -1.0, 1.0, &s, stream));
    DK_CALL(upload(m->dy, o->dt, bn, -0.5, 0.5, &s, stream));
    return DK_OK;
}

/* Layer l's gradient block in the flat buffer: coef, then scale_base, then scale_sp. */
static void *grad_block(const model *m, int l) { return (char *)m->grads + (size_t)l * m->per_layer * dk_dtype_size(m->dt); }

static dk_err layer_forward(model *m)
{
    if (m->dt == DK_F64) {
        dk_kan_params_f64 p = {m->grid, m->coef, m->sb, m->ssp, m->mask};
        return dk_kan_cuda_forward_f64(&m->shape, &p, m->batch, m->x, m->y, m->ws, m->stream);
    }
    dk_kan_params_f32 p = {m->grid, m->coef, m->sb, m->ssp, m->mask};
    return dk_kan_cuda_forward_f32(&m->shape, &p, m->batch, m->x, m->y, m->ws, m->stream);
}

static dk_err layer_backward(model *m, int l)
{
    size_t nn = (size_t)m->n * (size_t)m->n, nb = (size_t)(m->G + m->k);
    if (m->dt == DK_F64) {
        double *g = grad_block(m, l);
        dk_kan_params_f64 p = {m->grid, m->coef, m->sb, m->ssp, m->mask};
        dk_kan_grads_f64 gr = {g, g + nn * nb, g + nn * nb + nn};
        return dk_kan_cuda_backward_f64(&m->shape, &p, m->batch, m->x, m->dy, m->dx, &gr, m->ws, m->stream);
    }
    float *g = grad_block(m, l);
    dk_kan_params_f32 p = {m->grid, m->coef, m->sb, m->ssp, m->mask};
    dk_kan_grads_f32 gr = {g, g + nn * nb, g + nn * nb + nn};
    return dk_kan_cuda_backward_f32(&m->shape, &p, m->batch, m->x, m->dy, m->dx, &gr, m->ws, m->stream);
}

enum { V_COMPUTE = 0, V_ALLREDUCE = 1, V_FUSED = 2, V_BUCKETED = 3, N_VARIANTS = 4 };

/* One step of variant v, synchronised with the host at its end. */
static dk_err run_variant(model *m, dk_comm *comm, int v)
{
    if (v != V_ALLREDUCE) {
        for (int l = 0; l < m->L; l++)
            DK_CALL(layer_forward(m));
        for (int l = m->L - 1; l >= 0; l--) {
            DK_CALL(layer_backward(m, l));
            if (v == V_BUCKETED)
                DK_CALL(dk_comm_allreduce_start(comm, grad_block(m, l), m->per_layer, m->dt));
        }
    }
    if (v == V_BUCKETED)
        DK_CALL(dk_comm_allreduce_wait(comm));
    if (v == V_FUSED || v == V_ALLREDUCE)
        DK_CALL(dk_comm_allreduce_sum(comm, m->grads, m->total, m->dt, DK_MEM_DEVICE));
    DK_CALL(dk_cuda_stream_sync(m->stream));
    return DK_OK;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if ((expr) != DK_OK) {                                                                     \
            fprintf(stderr, "bench_allreduce: rank %d: %s\n", rank, dk_error_message());           \
            dk_comm_abort(comm, 1);                                                                \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    dk_comm *comm = NULL;
    if (dk_comm_init(&argc, &argv, &comm)) {
        fprintf(stderr, "bench_allreduce: %s\n", dk_error_message());
        return 1;
    }
    int rank = dk_comm_rank(comm), size = dk_comm_size(comm);
    options o;
    if (parse_options(argc, argv, &o)) {
        if (rank == 0)
            usage(stderr);
        dk_comm_finalize(&comm);
        return 2;
    }
    int devices = dk_cuda_device_count();
    double none = devices < 1;
    CHECK(dk_comm_allreduce_max_f64(comm, &none, 1));
    if (none > 0) {
        if (rank == 0)
            fprintf(stderr, "bench_allreduce: a rank sees no CUDA device\n");
        dk_comm_finalize(&comm);
        return 77;
    }
    char name[256];
    void *stream = NULL;
    int ordinal = dk_comm_local_rank(comm) % devices;
    CHECK(dk_cuda_set_device(ordinal, name, sizeof name));
    CHECK(dk_cuda_stream_create(&stream));
    dk_err err = dk_comm_enable_device(comm, o.backend, stream);
    if (err) {
        fprintf(stderr, "bench_allreduce: rank %d: %s\n", rank, dk_error_message());
        dk_comm_abort(comm, 1);
    }
    if (rank == 0) {
        printf("bench_allreduce: %d rank(s), backend %s, %d GPU(s) visible per rank, %s; %s\n", size,
               dk_comm_backend_name(comm), devices, name,
               size > devices ? "ranks SHARE GPUs (their compute contends)" : "one GPU per rank");
        printf("model: %d KAN layers in=out=n, G=%d, k=%d, %s, batch %d per rank; step = fwd all layers + bwd all "
               "layers (dx included); times: median over repetitions, max over ranks, host clock after a stream "
               "sync\n\n", o.layers, o.G, o.k, dk_dtype_name(o.dt), o.batch);
        printf("%10s %10s %11s %10s %11s %10s %12s %9s %9s %11s %11s %8s\n", "params", "L x n", "grad bytes",
               "compute ms", "allreduce ms", "fused ms", "bucketed ms", "algbw GB/s", "busbw GB/s", "fused ovh %",
               "bucket ovh %", "hidden %");
        fflush(stdout);
    }

    for (int e = 3; e <= o.max_exp; e++) {
        long target = 1;
        for (int q = 0; q < e; q++)
            target *= 10;
        model m;
        CHECK(model_init(&m, &o, target, stream));
        /* Warm-up of every variant (NCCL sets up its channels on the first calls). */
        for (int w = 0; w < 3; w++)
            for (int v = 0; v < N_VARIANTS; v++)
                CHECK(run_variant(&m, comm, v));
        /* Repetitions: sized by rank 0's fused step, agreed by every rank. */
        double t0 = bench_now_s();
        CHECK(run_variant(&m, comm, V_FUSED));
        double first = bench_now_s() - t0;
        CHECK(dk_comm_allreduce_max_f64(comm, &first, 1));
        int reps = bench_reps_clamped(first, o.target_s, o.min_reps, o.max_reps);
        double *t[N_VARIANTS];
        for (int v = 0; v < N_VARIANTS; v++) {
            t[v] = malloc((size_t)reps * sizeof(double));
            if (!t[v]) {
                fprintf(stderr, "bench_allreduce: rank %d: out of host memory\n", rank);
                dk_comm_abort(comm, 1);
            }
        }
        /* Interleaved, so that a drift of the clocks or of a neighbour's load hits every
         * variant alike; a barrier before each so ranks start together. */
        for (int r = 0; r < reps; r++)
            for (int v = 0; v < N_VARIANTS; v++) {
                CHECK(dk_comm_barrier(comm));
                double s0 = bench_now_s();
                CHECK(run_variant(&m, comm, v));
                t[v][r] = bench_now_s() - s0;
            }
        double med[N_VARIANTS];
        for (int v = 0; v < N_VARIANTS; v++) {
            med[v] = bench_median(t[v], reps);
            free(t[v]);
        }
        CHECK(dk_comm_allreduce_max_f64(comm, med, N_VARIANTS));
        if (rank == 0) {
            double bytes = (double)m.total * (double)dk_dtype_size(o.dt);
            double algbw = bytes / med[V_ALLREDUCE] * 1e-9, busbw = algbw * 2.0 * (size - 1) / size;
            double c = med[V_COMPUTE], ar = med[V_ALLREDUCE], fu = med[V_FUSED], bu = med[V_BUCKETED];
            char lxn[32];
            snprintf(lxn, sizeof lxn, "%dx%d", o.layers, m.n);
            printf("%10zu %10s %11.0f %10.3f %11.3f %10.3f %12.3f %9.2f %9.2f %11.1f %11.1f %8.0f\n", m.total, lxn,
                   bytes, 1e3 * c, 1e3 * ar, 1e3 * fu, 1e3 * bu, algbw, busbw, 100 * (fu - c) / c, 100 * (bu - c) / c,
                   ar > 0 ? 100 * (fu - bu) / ar : NAN);
            fflush(stdout);
        }
        model_free(&m);
    }
    if (rank == 0)
        printf("\noverhead %% = (step - compute) / compute; hidden %% = (fused - bucketed) / allreduce (100: the "
               "all-reduce is entirely overlapped with backward; negative: bucketing cost more than it hid)\n");
    dk_comm_finalize(&comm); /* releases NCCL and its streams before the compute stream goes */
    dk_cuda_stream_destroy(stream);
    return 0;
}

/* One KAN layer's benchmark data, for bench_kan_layer.c (which times the layer on the CPU
 * and checks it against the dense baseline) and bench/gpu/bench_gpu_layer.c (which checks
 * its GPU kernels against the CPU kernels): the buffers, their values, one training step on
 * the CPU kernels and the comparison of two steps' results. The layers are square (in =
 * out = n) and the buffers untyped, of the precision the dimensions name. */
#ifndef DK_BENCH_LAYER_H
#define DK_BENCH_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "common/dk_dtype.h"
#include "kernels/dk_kan_layer.h"

typedef struct bench_layer_dims {
    dk_dtype dt;
    int n, G, k, batch;
} bench_layer_dims;

/* Element counts of the buffers. */
typedef struct bench_layer_counts {
    size_t grid;  /* n * (G + 2k + 1) knots */
    size_t coef;  /* n * n * (G + k) */
    size_t edges; /* n * n: scale_base, scale_sp, mask and their gradients */
    size_t io;    /* batch * n: x, dy, y, dx */
} bench_layer_counts;

bench_layer_counts bench_layer_count(const bench_layer_dims *d);

/* What one training step reads: the parameters (as in kernels/dk_kan_layer.h), the input x
 * and the gradient dy arriving from the next layer. */
typedef struct bench_layer_inputs {
    void *grid, *coef, *scale_base, *scale_sp, *mask;
    void *x, *dy;
} bench_layer_inputs;

/* What one training step writes: y, dx (as for a hidden layer) and the parameters'
 * gradients. */
typedef struct bench_layer_outputs {
    void *y, *dx;
    void *g_coef, *g_sb, *g_ssp;
} bench_layer_outputs;

/* Host buffers, 64-byte aligned (as the kernels' vector loads like them); 0 on success,
 * -1 when out of memory, with nothing left allocated. The free functions take what alloc
 * made, or a zeroed struct. */
int bench_layer_inputs_alloc(bench_layer_inputs *in, const bench_layer_dims *d);
void bench_layer_inputs_free(bench_layer_inputs *in);
int bench_layer_outputs_alloc(bench_layer_outputs *out, const bench_layer_dims *d);
void bench_layer_outputs_free(bench_layer_outputs *out);

/* The CPU kernels' workspace for shape s, 64-byte aligned; NULL when out of memory. */
void *bench_layer_workspace(const dk_kan_shape *s, dk_dtype dt);

/* A uniform draw on [0, 1): the index-th of stream `stream` of generator rng. The draws are
 * made in a fixed order, so a sequential generator may ignore stream and index. */
typedef double (*bench_uniform)(void *rng, uint64_t stream, uint64_t index);

/* pykan's values: the extended grid on [-1, 1] (t_m = -1 + (m - k) h, h = 2/G) with the
 * interior knots moved by jitter * h * (u - 1/2), the ends -1, 1 and the extension put (the
 * rule of knot_grid() in torch_kan_common.py); coef uniform on [-0.1, 0.1), scale_base on
 * [-0.5, 0.5), scale_sp on [0.5, 1.5), mask 1 (every edge live); x uniform on [-1, 1),
 * dy on [-0.5, 0.5). */
void bench_layer_fill(const bench_layer_inputs *in, const bench_layer_dims *d, double jitter,
                      bench_uniform uniform, void *rng);

/* One fused forward and backward with dx on the CPU kernels, shape s, workspace ws. */
void bench_layer_cpu_step(const bench_layer_inputs *in, const bench_layer_dims *d, const dk_kan_shape *s,
                          const bench_layer_outputs *out, void *ws);

/* The step's results in the order bench_layer_compare reports them. */
enum { BENCH_LAYER_N_RESULTS = 5 }; /* y, dx, d coef, d scale_base, d scale_sp */

/* diff[r] = bench_rel_diff of result r of a against b; returns the largest, NAN where any
 * is (so that a NaN fails a check against a tolerance). */
double bench_layer_compare(const bench_layer_outputs *a, const bench_layer_outputs *b,
                           const bench_layer_dims *d, double diff[BENCH_LAYER_N_RESULTS]);

#endif

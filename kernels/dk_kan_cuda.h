/* Fused KAN layer on CUDA: forward, backward and their jet (second-order) variants.
 *
 * The same mathematics, layouts and conventions as the CPU kernels of the same shape
 * (dk_kan_layer.h, dk_kan_jet.h): grid [in][G+2k+1], coef [in][out][G+k], scale_base,
 * scale_sp, mask [in][out], x [batch][in], y [batch][out], jets [batch][n_dir][in|out];
 * parameter gradients are overwritten, never accumulated; the spline term is zero outside
 * an input's extended grid [t_0, t_last). Only the k+1 non-zero basis functions per
 * (sample, input) are evaluated, in registers and shared memory.
 *
 * Every pointer is a DEVICE pointer. Work is queued on `stream` (a cudaStream_t; NULL is
 * the legacy default stream) and nothing waits for it: no allocation, no copy, no host
 * synchronisation happens inside these calls, whose only scratch is `workspace` (device
 * memory of the size below, allocated once by the caller, may be shared between layers;
 * nothing carries over between calls). s->n_threads and s->max_batch are ignored: the
 * workspace does not grow with the batch.
 *
 * Results are bitwise reproducible run to run: no floating-point atomics are used, and
 * every sum runs in an order fixed by (shape, batch, dtype) alone. They differ from the
 * CPU kernels by floating-point reassociation only.
 *
 * Errors: DK_ERR_USAGE for a shape the kernels cannot serve (k outside 1..7, a knot vector
 * too long for the GPU's shared memory, ...), DK_ERR_INTERNAL for a failed launch.
 */
#ifndef DK_KAN_CUDA_H
#define DK_KAN_CUDA_H

#include <stddef.h>

#include "../common/dk_error.h"
#include "dk_kan_layer.h"

/* The widest layers the CUDA kernels' launch grids serve: outputs in warps of 32 along
 * gridDim.y of the forward kernels, inputs along gridDim.y or z of the others (CUDA: at most
 * 65535 blocks along y and z). */
enum { DK_KAN_CUDA_MAX_IN = 65535, DK_KAN_CUDA_MAX_OUT = 65535 * 32 };

#ifdef __cplusplus
extern "C" {
#endif

/* The dynamic shared memory per block that the parameter-gradient kernel needs at the least
 * (one input per block): a column of G + k sums per edge, 32 edges. It grows with G, and
 * past dk_kan_cuda_largest_grid the GPU cannot run the backward (jet: the PDE variant,
 * which stages more basis values per sample). */
size_t dk_kan_cuda_param_smem_bytes(int G, int k, dk_dtype dtype, int jet);
/* The largest G whose dk_kan_cuda_param_smem_bytes is at most limit_bytes (0: none). */
int dk_kan_cuda_largest_grid(int k, dk_dtype dtype, int jet, size_t limit_bytes);
/* The most dynamic shared memory GPU `device` (an ordinal) gives one block (its opt-in
 * limit); it need not be the current GPU. */
dk_err dk_kan_cuda_smem_limit(int device, size_t *bytes);

/* Device scratch bytes for forward and backward on this shape and dtype. */
size_t dk_kan_cuda_workspace_bytes(const dk_kan_shape *s, dk_dtype dtype);
/* Device scratch bytes for jet forward and backward (any n_dir; kept in the signature for
 * symmetry with dk_kan_jet_workspace_bytes). */
size_t dk_kan_cuda_jet_workspace_bytes(const dk_kan_shape *s, int n_dir, dk_dtype dtype);

dk_err dk_kan_cuda_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, const double *x,
                               double *y, void *workspace, void *stream);
dk_err dk_kan_cuda_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, const float *x,
                               float *y, void *workspace, void *stream);

/* dx may be NULL (first layer). */
dk_err dk_kan_cuda_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, const double *x,
                                const double *dy, double *dx, const dk_kan_grads_f64 *g, void *workspace,
                                void *stream);
dk_err dk_kan_cuda_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, const float *x,
                                const float *dy, float *dx, const dk_kan_grads_f32 *g, void *workspace,
                                void *stream);

/* identity_input as in dk_kan_jet.h: n_dir must equal s->in, x1 and x2 are not read. */
dk_err dk_kan_cuda_jet_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                                   int identity_input, const double *x, const double *x1, const double *x2,
                                   double *y, double *y1, double *y2, void *workspace, void *stream);
dk_err dk_kan_cuda_jet_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                                   int identity_input, const float *x, const float *x1, const float *x2, float *y,
                                   float *y1, float *y2, void *workspace, void *stream);

/* gx, gx1, gx2: all three or none (NULL); never written with identity_input. */
dk_err dk_kan_cuda_jet_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                                    int identity_input, const double *x, const double *x1, const double *x2,
                                    const double *gy, const double *gy1, const double *gy2, double *gx,
                                    double *gx1, double *gx2, const dk_kan_grads_f64 *g, void *workspace,
                                    void *stream);
dk_err dk_kan_cuda_jet_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                                    int identity_input, const float *x, const float *x1, const float *x2,
                                    const float *gy, const float *gy1, const float *gy2, float *gx, float *gx1,
                                    float *gx2, const dk_kan_grads_f32 *g, void *workspace, void *stream);

#ifdef __cplusplus
}
#endif

#endif

/* Second-order ("jet") variants of the fused KAN layer, for physics-informed losses.
 *
 * Alongside each activation h the jet carries, for n_dir input directions a, its first
 * derivative h'_a = dh/dx_a and its second derivative h''_a = d^2h/dx_a^2 (the diagonal of
 * the Hessian: enough for Laplacians, heat and wave operators). Through an edge function
 * phi_ij (see dk_kan_layer.h) the chain rule gives
 *
 *   y_j      = sum_i phi_ij(h_i)
 *   y'_j,a   = sum_i phi'_ij(h_i) h'_i,a
 *   y''_j,a  = sum_i phi''_ij(h_i) (h'_i,a)^2 + phi'_ij(h_i) h''_i,a
 *
 * with phi' and phi'' from the B-spline derivatives and silu' = s (1 + x (1 - s)),
 * silu'' = s (1 - s) (2 + x (1 - 2 s)), s = sigmoid(x). Like the first-order kernels these
 * evaluate only the k+1 non-zero basis functions per (sample, input) and store nothing of
 * size batch x in x n_basis.
 *
 * Layouts, row-major, per sample b:
 *   x  [batch][in]            y  [batch][out]
 *   x1 [batch][n_dir][in]     y1 [batch][n_dir][out]     (first derivatives)
 *   x2 [batch][n_dir][in]     y2 [batch][n_dir][out]     (second derivatives)
 * and parameters as in dk_kan_layer.h.
 *
 * `identity_input`: the network's first layer sees the coordinates themselves, so
 * x1[b][a][i] = (a == i) and x2 = 0; with identity_input set (n_dir must equal in) x1 and
 * x2 are not read (pass NULL) and the kernels use the O(in*out) shortcut
 * y'_j,a = phi'_aj(x_a), y''_j,a = phi''_aj(x_a) instead of the O(in*out*n_dir) sums.
 *
 * Threading and determinism: the batch is split into fixed contiguous ranges, one per
 * thread slot; backward accumulates each range's parameter gradients separately and sums
 * them in range order. Results are bitwise reproducible for a given n_threads (whatever
 * team OpenMP actually provides); y, y1, y2, gx, gx1, gx2 are computed per sample and do
 * not depend on n_threads at all, the parameter gradients only up to reassociation.
 */
#ifndef DK_KAN_JET_H
#define DK_KAN_JET_H

#include <stddef.h>

#include "dk_kan_layer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch bytes for jet forward/backward on this shape with n_dir directions (allocated
 * once by the caller, as for dk_kan_workspace_bytes; may be shared between layers). It
 * grows with n_dir (per-sample rows of gy1, gy2 and x1^2), so a call must not use more
 * directions than the workspace was sized for; it does not grow with max_batch. */
size_t dk_kan_jet_workspace_bytes(const dk_kan_shape *s, int n_dir, dk_dtype dtype);

void dk_kan_jet_forward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                            int identity_input, const double *x, const double *x1, const double *x2, double *y,
                            double *y1, double *y2, void *workspace);
void dk_kan_jet_forward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                            int identity_input, const float *x, const float *x1, const float *x2, float *y,
                            float *y1, float *y2, void *workspace);

/* Given the loss gradients gy = dL/dy, gy1 = dL/dy1, gy2 = dL/dy2 (shapes of y, y1, y2),
 * overwrites the parameter gradients in g and, unless gx is NULL, writes gx = dL/dx,
 * gx1 = dL/dx1 and gx2 = dL/dx2 (all three or none; never with identity_input). */
void dk_kan_jet_backward_f64(const dk_kan_shape *s, const dk_kan_params_f64 *p, int batch, int n_dir,
                             int identity_input, const double *x, const double *x1, const double *x2,
                             const double *gy, const double *gy1, const double *gy2, double *gx, double *gx1,
                             double *gx2, const dk_kan_grads_f64 *g, void *workspace);
void dk_kan_jet_backward_f32(const dk_kan_shape *s, const dk_kan_params_f32 *p, int batch, int n_dir,
                             int identity_input, const float *x, const float *x1, const float *x2,
                             const float *gy, const float *gy1, const float *gy2, float *gx, float *gx1,
                             float *gx2, const dk_kan_grads_f32 *g, void *workspace);

#ifdef __cplusplus
}
#endif

#endif

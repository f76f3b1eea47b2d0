/* Adam with bias correction (Kingma & Ba 2015), as torch.optim.Adam computes it:
 *
 *   g_t = grad + weight_decay * p            (L2 penalty folded into the gradient, as torch)
 *   m_t = beta1 m_{t-1} + (1 - beta1) g_t
 *   v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
 *   p  -= lr * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)
 *
 * State (m, v, t) lives in one allocation beside the flat parameter buffer. Every rank
 * applies the same update to the same all-reduced gradient, so parameters stay identical
 * without a broadcast.
 */
#ifndef DK_ADAM_H
#define DK_ADAM_H

#include <stddef.h>
#include <stdio.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dk_adam_settings {
    double beta1, beta2, eps, weight_decay;
} dk_adam_settings;

typedef struct dk_adam {
    dk_adam_settings settings;
    dk_dtype dtype;
    size_t n;     /* parameters */
    void *m, *v;  /* first and second moments, n elements each, dtype */
    long step;    /* updates applied so far (t above) */
} dk_adam;

/* The scalars of one update, formed once per step in double on the host so that the CPU
 * loop and the GPU kernel (optim/dk_adam_cuda.h) apply the same numbers. Per element (in
 * float for a float32 run, the scalars rounded to float first):
 *   g' = g + weight_decay p
 *   m  = beta1 m + one_minus_beta1 g'
 *   v  = beta2 v + one_minus_beta2 (g' g')
 *   p  = p - (step_size m) / (sqrt(v) inv_sqrt_bc2 + eps)
 * which is the formula above with step_size = lr / (1 - beta1^t) and inv_sqrt_bc2 =
 * 1 / sqrt(1 - beta2^t). */
typedef struct dk_adam_scalars {
    double beta1, one_minus_beta1;
    double beta2, one_minus_beta2;
    double step_size;
    double inv_sqrt_bc2;
    double eps, weight_decay;
} dk_adam_scalars;

dk_err dk_adam_create(dk_adam **out, dk_dtype dtype, size_t n, const dk_adam_settings *settings);
void dk_adam_destroy(dk_adam **adam);
/* One update of params[0..n) with grads[0..n) at learning rate lr. No allocation. */
void dk_adam_step(dk_adam *adam, void *params, const void *grads, double lr);
/* Advances the step counter t and returns the scalars of update t at learning rate lr, for
 * an update applied elsewhere (dk_adam_cuda_step); dk_adam_step is this plus the loop. */
dk_adam_scalars dk_adam_next_scalars(dk_adam *adam, double lr);
/* Zeroes the moments of elements [begin, end) (e.g. after a grid change re-lays out the
 * spline coefficients); [begin, end) is clipped to [0, n). The step counter t is global and
 * is not reset, so the reset elements are under-corrected for their first updates (steps up
 * to a few times lr); dk_adam.c gives the numbers and the reason. */
void dk_adam_reset_range(dk_adam *adam, size_t begin, size_t end);
void dk_adam_view(const dk_adam *adam, FILE *f);

#ifdef __cplusplus
}
#endif

#endif

#include "dk_adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Bias-corrected Adam, rearranged as torch.optim.Adam evaluates it so that the per-element
 * work is one sqrt, one fma-able product and one division:
 *
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),   bc1 = 1 - beta1^t, bc2 = 1 - beta2^t
 *
 * which equals lr * (m/bc1) / (sqrt(v/bc2) + eps): eps is added after the square root of
 * the bias-corrected second moment, exactly as in the header. The scalars are formed once per
 * step in double (dk_adam_scalars, shared with the GPU kernel); the f32 loop then runs
 * entirely in float. No `a * b + c` is fused here (the build says -ffp-contract=off),
 * while the GPU kernel fuses three of them (dk_adam_cuda.h): the two agree to within a few
 * roundings, not bitwise. */
typedef dk_adam_scalars adam_scalars;

/* The two loops below are the hot path. `restrict` tells the compiler that the four arrays
 * never alias (parameters, gradients and the two moment halves are distinct buffers), so the
 * loop vectorises; GCC vectorises the sqrt only under -fno-math-errno (otherwise each element
 * keeps a scalar sqrt with an errno check, since the compiler cannot see that v >= 0). */
static void adam_step_f64(size_t n, double *restrict p, const double *restrict g,
                          double *restrict m, double *restrict v, const adam_scalars *s)
{
    const double b1 = s->beta1, c1 = s->one_minus_beta1;
    const double b2 = s->beta2, c2 = s->one_minus_beta2;
    const double step_size = s->step_size, inv_sqrt_bc2 = s->inv_sqrt_bc2;
    const double eps = s->eps, wd = s->weight_decay;
    for (size_t i = 0; i < n; i++) {
        const double gi = g[i] + wd * p[i];
        const double mi = b1 * m[i] + c1 * gi;
        const double vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
    }
}

static void adam_step_f32(size_t n, float *restrict p, const float *restrict g,
                          float *restrict m, float *restrict v, const adam_scalars *s)
{
    const float b1 = (float)s->beta1, c1 = (float)s->one_minus_beta1;
    const float b2 = (float)s->beta2, c2 = (float)s->one_minus_beta2;
    const float step_size = (float)s->step_size, inv_sqrt_bc2 = (float)s->inv_sqrt_bc2;
    const float eps = (float)s->eps, wd = (float)s->weight_decay;
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * p[i];
        const float mi = b1 * m[i] + c1 * gi;
        const float vi = b2 * v[i] + c2 * (gi * gi);
        m[i] = mi;
        v[i] = vi;
        p[i] -= step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

/* The moment halves start on 64-byte boundaries so both vectorised streams are aligned. */
static size_t moment_stride_bytes(dk_dtype dtype, size_t n)
{
    return (n * dk_dtype_size(dtype) + 63) / 64 * 64;
}

dk_err dk_adam_create(dk_adam **out, dk_dtype dtype, size_t n, const dk_adam_settings *settings)
{
    *out = NULL;
    if (dtype != DK_F64 && dtype != DK_F32)
        DK_ERROR(DK_ERR_INTERNAL, "adam: unknown dtype %d", (int)dtype);
    if (!settings)
        DK_ERROR(DK_ERR_INTERNAL, "adam: no settings given");
    /* The same ranges torch.optim.Adam accepts; written as negated conditions so NaN fails. */
    if (!(settings->beta1 >= 0.0 && settings->beta1 < 1.0))
        DK_ERROR(DK_ERR_USAGE, "adam: beta1 = %g must lie in [0, 1)", settings->beta1);
    if (!(settings->beta2 >= 0.0 && settings->beta2 < 1.0))
        DK_ERROR(DK_ERR_USAGE, "adam: beta2 = %g must lie in [0, 1)", settings->beta2);
    if (!(settings->eps >= 0.0 && isfinite(settings->eps)))
        DK_ERROR(DK_ERR_USAGE, "adam: eps = %g must be finite and >= 0", settings->eps);
    if (!(settings->weight_decay >= 0.0 && isfinite(settings->weight_decay)))
        DK_ERROR(DK_ERR_USAGE, "adam: weight_decay = %g must be finite and >= 0",
                 settings->weight_decay);
    const size_t stride = moment_stride_bytes(dtype, n);
    if (n != 0 && stride > (size_t)-1 / 2)
        DK_ERROR(DK_ERR_MEMORY, "adam: %zu parameters overflow the moment buffer size", n);

    dk_adam *adam = NULL;
    DK_CALL(DK_CALLOC(adam, 1, "adam optimiser"));
    adam->settings = *settings;
    adam->dtype = dtype;
    adam->n = n;
    adam->step = 0;
    /* m and v share one zeroed allocation (m first); destroy frees it through m. */
    void *state = NULL;
    dk_err err = dk_aligned_alloc(&state, 2 * stride, "adam moments");
    if (err != DK_OK) {
        free(adam);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    adam->m = state;
    adam->v = state ? (char *)state + stride : NULL;
    *out = adam;
    return DK_OK;
}

void dk_adam_destroy(dk_adam **adam)
{
    if (!adam || !*adam)
        return;
    free((*adam)->m);
    free(*adam);
    *adam = NULL;
}

dk_adam_scalars dk_adam_next_scalars(dk_adam *adam, double lr)
{
    adam->step++;
    const double t = (double)adam->step;
    const dk_adam_settings *cfg = &adam->settings;
    dk_adam_scalars s;
    s.beta1 = cfg->beta1;
    s.one_minus_beta1 = 1.0 - cfg->beta1;
    s.beta2 = cfg->beta2;
    s.one_minus_beta2 = 1.0 - cfg->beta2;
    /* bc = 1 - beta^t; -expm1(t log beta) keeps full relative precision when beta^t is near 1
     * (beta close to 1, t small), where 1 - pow(beta, t) would cancel. beta = 0 gives bc = 1. */
    const double bc1 = cfg->beta1 > 0.0 ? -expm1(t * log(cfg->beta1)) : 1.0;
    const double bc2 = cfg->beta2 > 0.0 ? -expm1(t * log(cfg->beta2)) : 1.0;
    s.step_size = lr / bc1;
    s.inv_sqrt_bc2 = 1.0 / sqrt(bc2);
    s.eps = cfg->eps;
    s.weight_decay = cfg->weight_decay;
    return s;
}

void dk_adam_step(dk_adam *adam, void *params, const void *grads, double lr)
{
    const dk_adam_scalars s = dk_adam_next_scalars(adam, lr);

    if (adam->dtype == DK_F64)
        adam_step_f64(adam->n, (double *)params, (const double *)grads, (double *)adam->m,
                      (double *)adam->v, &s);
    else
        adam_step_f32(adam->n, (float *)params, (const float *)grads, (float *)adam->m,
                      (float *)adam->v, &s);
}

/* Only the moments of [begin, end) restart from zero; the step counter is one global t and
 * stays. Exact per-element bias correction after a reset would need a step counter per
 * element (or per reset range), which the state layout (m, v, one t) does not have and which
 * the hot loop would pay for on every element; one global t keeps every rank's state a pure
 * function of the global step and the checkpoint a plain copy.
 *
 * Consequence: a reset element's first updates are divided by 1 - beta^t with the old, large
 * t, i.e. hardly bias-corrected. With a steady gradient g, k steps after the reset
 * m = (1 - beta1^k) g and v = (1 - beta2^k) g^2, so the step is
 *   lr * (1 - beta1^k) / sqrt(1 - beta2^k)   instead of lr:
 * for beta1 = 0.9, beta2 = 0.999 that is 3.2 lr at k = 1, a peak of 6.6 lr at k = 12, 1.26 lr
 * at k = 1000 and back to lr within ~3 / (1 - beta2) steps. This is the same as zeroing slices
 * of torch's exp_avg and exp_avg_sq in place. If larger first steps matter, lower lr around a
 * grid change. An out-of-range request is clipped to [0, n). */
void dk_adam_reset_range(dk_adam *adam, size_t begin, size_t end)
{
    if (end > adam->n)
        end = adam->n;
    if (begin >= end)
        return;
    const size_t size = dk_dtype_size(adam->dtype);
    memset((char *)adam->m + begin * size, 0, (end - begin) * size);
    memset((char *)adam->v + begin * size, 0, (end - begin) * size);
}

void dk_adam_view(const dk_adam *adam, FILE *f)
{
    const dk_adam_settings *s = &adam->settings;
    fprintf(f, "adam: %s, %zu parameters, step %ld\n", dk_dtype_name(adam->dtype), adam->n,
            adam->step);
    fprintf(f, "  beta1 %g, beta2 %g, eps %g, weight_decay %g (L2, added to the gradient)\n",
            s->beta1, s->beta2, s->eps, s->weight_decay);
}

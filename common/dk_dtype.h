/* Element types of parameter, gradient and data buffers.
 * A run is float64 or float32 throughout; buffers are untyped (void *) and carry this tag. */
#ifndef DK_DTYPE_H
#define DK_DTYPE_H

#include <math.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { DK_F64 = 0, DK_F32 = 1 } dk_dtype;

static inline size_t dk_dtype_size(dk_dtype t) { return t == DK_F64 ? sizeof(double) : sizeof(float); }
static inline const char *dk_dtype_name(dk_dtype t) { return t == DK_F64 ? "float64" : "float32"; }
/* Significant digits that print a value of this type so that it reads back exactly
 * (printf "%.*g"): 17 for float64, 9 for float32. */
static inline int dk_dtype_digits(dk_dtype t) { return t == DK_F64 ? 17 : 9; }

/* Element access for code that handles both types, one element at a time: checks of
 * values read back, and also loops run every step where the network's passes around them
 * cost far more (the full-batch gradient average of launcher/dk_train_loop.c, the PDE
 * residual of tasks/dk_pde_task.c). */
static inline double dk_load(dk_dtype t, const void *buf, size_t i)
{
    return t == DK_F64 ? ((const double *)buf)[i] : (double)((const float *)buf)[i];
}
static inline void dk_store(dk_dtype t, void *buf, size_t i, double v)
{
    if (t == DK_F64)
        ((double *)buf)[i] = v;
    else
        ((float *)buf)[i] = (float)v;
}

/* The index of the first of buf[0..n) that is not finite, or -1 (checks of values read
 * back, not a hot path). */
static inline long dk_first_not_finite(dk_dtype t, const void *buf, size_t n)
{
    for (size_t e = 0; e < n; e++)
        if (!isfinite(dk_load(t, buf, e)))
            return (long)e;
    return -1;
}

/* Block conversions to and from float64: dst[e] = buf[offset + e], buf[offset + e] = src[e]. */
static inline void dk_load_block(dk_dtype t, const void *buf, size_t offset, size_t n, double *dst)
{
    for (size_t e = 0; e < n; e++)
        dst[e] = dk_load(t, buf, offset + e);
}
static inline void dk_store_block(dk_dtype t, void *buf, size_t offset, size_t n, const double *src)
{
    for (size_t e = 0; e < n; e++)
        dk_store(t, buf, offset + e, src[e]);
}

/* Contiguous split of n items over p parts: part r gets [begin, end). Every rank
 * computes the same split, and the concatenation over r is 0..n-1 in order. */
static inline size_t dk_part_begin(size_t n, int parts, int r) { return n * (size_t)r / (size_t)parts; }
static inline size_t dk_part_end(size_t n, int parts, int r) { return n * (size_t)(r + 1) / (size_t)parts; }

#ifdef __cplusplus
}
#endif

#endif

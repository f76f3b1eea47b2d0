/* Loss terms on the GPU (see dk_loss_cuda.h). Rounding is spelled out with the _rn
 * intrinsics, so nvcc's contraction (-fmad) cannot change a result; the running sums of
 * squares use a fused multiply-add (the CPU loops, built without contraction, do not; the
 * summation orders differ anyway, so loss values agree to rounding, not bitwise). */
#include <cuda_runtime.h>
#include <math.h>

#include "../common/dk_cuda.h"
#include "../common/dk_cuda_reduce.cuh"
#include "dk_loss_cuda.h"

enum { MAX_COMPONENTS = 3 }; /* the evaluation sums three quantities */

extern "C" size_t dk_loss_cuda_scratch_bytes(size_t n)
{
    return (size_t)MAX_COMPONENTS * dk_reduce::blocks_for(n) * sizeof(double);
}

template <class T> __device__ __forceinline__ T to_dtype(double x);
template <> __device__ __forceinline__ double to_dtype<double>(double x) { return x; }
template <> __device__ __forceinline__ float to_dtype<float>(double x) { return __double2float_rn(x); }

/* ---- mean squared error -------------------------------------------------------------- */

template <class T>
struct MseBody {
    const T *pred, *target;
    T *dpred; /* NULL: loss only */
    double two_over;
    __device__ void operator()(size_t i, double *v) const
    {
        const double d = __dsub_rn((double)pred[i], (double)target[i]);
        v[0] = __fma_rn(d, d, v[0]);
        if (dpred)
            dpred[i] = to_dtype<T>(__dmul_rn(two_over, d));
    }
};

/* acc += sum / denom */
struct AddQuotient {
    double *acc;
    double denom;
    __device__ void operator()(const double *v) const { acc[0] = __dadd_rn(acc[0], __ddiv_rn(v[0], denom)); }
};

extern "C" dk_err dk_loss_cuda_mse(dk_dtype dtype, size_t n, const void *pred, const void *target, double denom,
                                   void *dpred, double *acc_dev, void *scratch, void *stream)
{
    const double two_over = 2.0 / denom;
    const AddQuotient epilogue{acc_dev, denom};
    cudaError_t e;
    if (dtype == DK_F64)
        e = dk_reduce::run<1, dk_reduce::SumOps>(
            n, MseBody<double>{(const double *)pred, (const double *)target, (double *)dpred, two_over}, epilogue,
            (double *)scratch, (cudaStream_t)stream);
    else if (dtype == DK_F32)
        e = dk_reduce::run<1, dk_reduce::SumOps>(
            n, MseBody<float>{(const float *)pred, (const float *)target, (float *)dpred, two_over}, epilogue,
            (double *)scratch, (cudaStream_t)stream);
    else
        DK_ERROR(DK_ERR_INTERNAL, "mse: unknown dtype %d", (int)dtype);
    DK_CUDA_CALL(e, "mean squared error kernels");
    return DK_OK;
}

/* ---- PDE interior residual ----------------------------------------------------------- */

template <class T>
struct InteriorBody {
    const T *u, *u1, *u2;
    const double *f, *coef;
    T *gu, *gu1, *gu2;
    int dim;
    double scale; /* 2 alpha / n_int */
    __device__ void operator()(size_t p, double *v) const
    {
        const size_t row = p * (size_t)dim;
        const double *c1 = coef + 1, *c2 = coef + 1 + dim;
        double r = __dmul_rn(coef[0], (double)u[p]);
        for (int a = 0; a < dim; a++)
            r = __dadd_rn(r, __dmul_rn(c1[a], (double)u1[row + a]));
        for (int a = 0; a < dim; a++)
            r = __dadd_rn(r, __dmul_rn(c2[a], (double)u2[row + a]));
        r = __dsub_rn(r, f[p]);
        v[0] = __fma_rn(r, r, v[0]);
        const double sr = __dmul_rn(scale, r);
        gu[p] = to_dtype<T>(__dmul_rn(sr, coef[0]));
        for (int a = 0; a < dim; a++) {
            gu1[row + a] = to_dtype<T>(__dmul_rn(sr, c1[a]));
            gu2[row + a] = to_dtype<T>(__dmul_rn(sr, c2[a]));
        }
    }
};

/* acc += alpha sum / n_int */
struct AddInterior {
    double *acc;
    double alpha, n_int;
    __device__ void operator()(const double *v) const
    {
        acc[0] = __dadd_rn(acc[0], __ddiv_rn(__dmul_rn(alpha, v[0]), n_int));
    }
};

extern "C" dk_err dk_loss_cuda_pde_interior(dk_dtype dtype, size_t rows, int dim, const void *u, const void *u1,
                                            const void *u2, const double *f, const double *coef, double alpha,
                                            double n_int, void *gu, void *gu1, void *gu2, double *acc_dev,
                                            void *scratch, void *stream)
{
    if (dim < 1)
        DK_ERROR(DK_ERR_INTERNAL, "PDE interior loss: dim = %d", dim);
    const double scale = 2.0 * alpha / n_int;
    const AddInterior epilogue{acc_dev, alpha, n_int};
    cudaError_t e;
    if (dtype == DK_F64)
        e = dk_reduce::run<1, dk_reduce::SumOps>(
            rows,
            InteriorBody<double>{(const double *)u, (const double *)u1, (const double *)u2, f, coef, (double *)gu,
                                 (double *)gu1, (double *)gu2, dim, scale},
            epilogue, (double *)scratch, (cudaStream_t)stream);
    else if (dtype == DK_F32)
        e = dk_reduce::run<1, dk_reduce::SumOps>(
            rows,
            InteriorBody<float>{(const float *)u, (const float *)u1, (const float *)u2, f, coef, (float *)gu,
                                (float *)gu1, (float *)gu2, dim, scale},
            epilogue, (double *)scratch, (cudaStream_t)stream);
    else
        DK_ERROR(DK_ERR_INTERNAL, "PDE interior loss: unknown dtype %d", (int)dtype);
    DK_CUDA_CALL(e, "PDE interior loss kernels");
    return DK_OK;
}

/* ---- PDE evaluation ------------------------------------------------------------------ */

/* Components: 0 sum (u - u*)^2, 1 sum u*^2 (summed), 2 max |u - u*| (NaN wins). */
using EvalOps = dk_reduce::SumThenMaxOps<2>;

template <class T>
struct EvalBody {
    const T *u;
    const double *exact;
    __device__ void operator()(size_t i, double *v) const
    {
        const double x = exact[i], e = __dsub_rn((double)u[i], x);
        v[0] = __fma_rn(e, e, v[0]);
        v[1] = __fma_rn(x, x, v[1]);
        v[2] = dk_reduce::max_nan(v[2], fabs(e));
    }
};

struct AddEval {
    double *acc;
    __device__ void operator()(const double *v) const
    {
        acc[0] = __dadd_rn(acc[0], v[0]);
        acc[1] = __dadd_rn(acc[1], v[1]);
        const double m = dk_reduce::max_nan(acc[2], v[2]);
        acc[2] = m != m ? (double)NAN : m; /* one NaN, as the CPU's */
    }
};

extern "C" dk_err dk_loss_cuda_pde_eval(dk_dtype dtype, size_t n, const void *u, const double *exact, double *acc_dev,
                                        void *scratch, void *stream)
{
    cudaError_t e;
    if (dtype == DK_F64)
        e = dk_reduce::run<3, EvalOps>(n, EvalBody<double>{(const double *)u, exact}, AddEval{acc_dev},
                                       (double *)scratch, (cudaStream_t)stream);
    else if (dtype == DK_F32)
        e = dk_reduce::run<3, EvalOps>(n, EvalBody<float>{(const float *)u, exact}, AddEval{acc_dev},
                                       (double *)scratch, (cudaStream_t)stream);
    else
        DK_ERROR(DK_ERR_INTERNAL, "PDE evaluation: unknown dtype %d", (int)dtype);
    DK_CUDA_CALL(e, "PDE evaluation kernels");
    return DK_OK;
}

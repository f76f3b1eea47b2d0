/* The CUDA emulator's cuda_runtime.h (see cuda_runtime_api.h for what the emulator is and
 * is not). For C++ it adds what device code uses: the qualifiers, the built-in indices,
 * __syncthreads, warp shuffles, the rounded intrinsics, and the pieces that
 * tests/emu/cu_to_cpp.sed turns kernel launches and __shared__ declarations into.
 *
 * Execution model: a launch is queued on its stream (see cuda_emu_streams.cpp); when the
 * stream's work is forced, its blocks run one after another on the forcing host thread,
 * and a block's threads are fibers, each running until it returns or waits at a barrier, so
 * __syncthreads is a real barrier (threads that returned drop out of it, as on Volta and
 * later) and a shuffle exchanges values between the warp's lanes. Every block gets fresh
 * shared memory filled with 0xFF bytes (NaN, -1), each array its own heap block, so a read
 * of shared memory nobody wrote shows, and AddressSanitizer catches an index past an
 * array's end. */
#ifndef DK_EMU_CUDA_RUNTIME_H
#define DK_EMU_CUDA_RUNTIME_H

#include "cuda_runtime_api.h"

#ifdef __cplusplus

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

template <class T>
cudaError_t cudaFuncSetAttribute(T *func, enum cudaFuncAttribute attr, int value)
{
    return cudaFuncSetAttribute((const void *)func, attr, value);
}

namespace dk_emu {

struct launch_config {
    dim3 grid, block;
    size_t shared_bytes;
    cudaStream_t stream;
};
inline launch_config config(dim3 grid, dim3 block, size_t shared_bytes = 0, cudaStream_t stream = 0)
{
    return launch_config{grid, block, shared_bytes, stream};
}

/* The running CUDA thread's place. One grid runs at a time, its threads as fibers of one
 * host thread, so a plain global serves (set by the scheduler at every switch; a call to
 * the emulator, as at a barrier, makes the compiler read it again). */
struct thread_place {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
extern const thread_place *self;

/* Queues a grid on c.stream: validated now, as the GPU validates a launch (a bad
 * configuration becomes the thread's last error and nothing is queued); run(job) then
 * runs once per CUDA thread when the stream's work is forced, and destroy(job) after.
 * [args, args + args_bytes) holds the kernel's parameters, checked for pointers into
 * pageable host memory (under AddressSanitizer, which knows the heap, stacks and
 * globals), which a kernel cannot read. */
void launch(const launch_config &c, void (*run)(void *), void (*destroy)(void *), void *job, const void *args,
            size_t args_bytes);

/* Shared memory of the running block: one zone per declaration site (and template
 * instance), the same address for every thread of the block; the launch's dynamic zone. */
void *block_shared(const void *site, size_t bytes);
void *dynamic_shared();
void sync_block();
/* The shuffle of `bytes` (<= 8) from lane src_lane(lane) of this thread's warp, every lane
 * in `mask` taking part. */
enum shuffle_kind { SHFL_IDX, SHFL_XOR, SHFL_DOWN, SHFL_UP };
void shuffle(unsigned mask, const void *value, void *out, size_t bytes, shuffle_kind kind, int arg, int width);

/* `launcher(c, call)(args...)`: what a `kernel<<<c>>>(args...)` launch becomes. The
 * arguments are copied at launch into the queued job, like the parameters CUDA copies to
 * the device, and each thread gets its own copies (a kernel may modify its parameters). */
template <class Call, class Params>
struct launch_job {
    Call call;
    Params params;
    static void run(void *p)
    {
        const launch_job *j = static_cast<const launch_job *>(p);
        Params copy = j->params;
        std::apply(j->call, copy);
    }
    static void destroy(void *p) { delete static_cast<launch_job *>(p); }
};
template <class Call>
struct launcher_t {
    launch_config c;
    Call call;
    template <class... A>
    void operator()(A &&...a) const
    {
        typedef std::tuple<typename std::decay<A>::type...> params;
        typedef launch_job<Call, params> job;
        job *j = new job{call, params(std::forward<A>(a)...)};
        launch(c, &job::run, &job::destroy, j, &j->params, sizeof j->params);
    }
};
template <class Call>
launcher_t<Call> launcher(const launch_config &c, Call call)
{
    return launcher_t<Call>{c, call};
}

} /* namespace dk_emu */

#define threadIdx (dk_emu::self->thread_idx)
#define blockIdx (dk_emu::self->block_idx)
#define blockDim (dk_emu::self->block_dim)
#define gridDim (dk_emu::self->grid_dim)
#define warpSize 32

/* A __shared__ declaration, rewritten by cu_to_cpp.sed: `name` is a reference to the block's
 * zone for this site. */
#define DK_EMU_SHARED(type, name, dims)                                                    \
    typedef type dk_emu_type_##name dims;                                                  \
    static char dk_emu_site_##name;                                                        \
    dk_emu_type_##name &name =                                                             \
        *static_cast<dk_emu_type_##name *>(dk_emu::block_shared(&dk_emu_site_##name, sizeof(dk_emu_type_##name)))

inline void __syncthreads() { dk_emu::sync_block(); }

template <class T>
T dk_emu_shuffle(unsigned mask, T v, dk_emu::shuffle_kind kind, int arg, int width)
{
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    T out;
    dk_emu::shuffle(mask, &v, &out, sizeof(T), kind, arg, width);
    return out;
}
template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return dk_emu_shuffle(mask, v, dk_emu::SHFL_IDX, src, width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    return dk_emu_shuffle(mask, v, dk_emu::SHFL_XOR, lane_mask, width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return dk_emu_shuffle(mask, v, dk_emu::SHFL_DOWN, (int)delta, width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return dk_emu_shuffle(mask, v, dk_emu::SHFL_UP, (int)delta, width);
}

template <class T>
inline T __ldg(const T *p)
{
    return *p;
}

/* Once-rounded operations: the host's IEEE arithmetic in round-to-nearest, uncontracted
 * (the emulator is built with -ffp-contract=off). */
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return sqrt(a); }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsqrt_rn(float a) { return sqrtf(a); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __double2float_rn(double a) { return (float)a; }

#endif /* __cplusplus */

#endif

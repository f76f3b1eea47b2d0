/* The CUDA runtime behind distkan's one error convention (dk_error.h).
 *
 * Host code that talks to the CUDA runtime goes through these wrappers, so that a failing
 * call becomes a dk_err whose message names the call, the device and cudaGetErrorString:
 *   error: layers/dk_network_cuda.c:88: cudaMalloc of 512 MiB for activations on GPU 0:
 *   out of memory
 * Only compiled with the CUDA backend (DISTKAN_HAVE_CUDA); common/dk_device.h is the
 * build-independent face of it.
 *
 * Streams are passed as void * so that headers of the parts stay includable by code built
 * without the CUDA toolkit; a NULL stream is the legacy default stream.
 */
#ifndef DK_CUDA_H
#define DK_CUDA_H

#include <stddef.h>

#include "dk_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Converts a cudaError_t (passed as int) into a dk_err: DK_OK for cudaSuccess, otherwise
 * DK_ERR_INTERNAL (DK_ERR_MEMORY for cudaErrorMemoryAllocation) with "<what>: <CUDA's
 * message>" recorded at file:line. */
dk_err dk_cuda_check(int cuda_status, const char *file, int line, const char *what);
#define DK_CUDA_CALL(expr, what)                                                           \
    do {                                                                                   \
        dk_err dk_cuda_err_ = dk_cuda_check((int)(expr), __FILE__, __LINE__, (what));      \
        if (dk_cuda_err_ != DK_OK)                                                         \
            return dk_cuda_err_;                                                           \
    } while (0)
/* After a kernel launch: a launch failure (bad configuration, no kernel image for this
 * GPU) is reported now, not by some later call. */
#define DK_CUDA_LAUNCHED(what) DK_CUDA_CALL(cudaGetLastError(), (what))

/* Number of CUDA devices this process sees (0 when there is no driver or device). */
int dk_cuda_device_count(void);
/* Why the last dk_cuda_device_count() gave 0: CUDA's message ("no CUDA-capable device is
 * detected", "CUDA driver version is insufficient for CUDA runtime version", ...), or
 * "no device" when the call succeeded with none. A GPU that is there but unusable must not
 * pass for a machine without one. */
const char *dk_cuda_no_device_reason(void);
/* Makes `ordinal` the calling thread's device; *name (optional, capacity n) receives its
 * product name, e.g. "NVIDIA H100 80GB HBM3". */
dk_err dk_cuda_set_device(int ordinal, char *name, size_t n);
/* The PCI bus id of device `ordinal` ("0000:1B:00.0"): what tells two ranks that see their
 * GPUs under different ordinals (CUDA_VISIBLE_DEVICES) whether they use the same one. */
dk_err dk_cuda_bus_id(int ordinal, char *out, size_t n);
/* The current device's ordinal. */
int dk_cuda_current_device(void);

/* Device memory, zeroed; `what` names the buffer in the out-of-memory message. */
dk_err dk_cuda_malloc(void **out, size_t bytes, const char *what);
void dk_cuda_free(void *ptr); /* NULL is fine */
/* Page-locked host memory (for staging), zeroed. */
dk_err dk_cuda_host_alloc(void **out, size_t bytes, const char *what);
void dk_cuda_host_free(void *ptr);

/* Copies on `stream`; the synchronous forms wait for the stream afterwards. */
dk_err dk_cuda_to_device(void *dst, const void *src, size_t bytes, void *stream);
/* From page-locked memory (dk_cuda_host_alloc) without waiting: the host goes on at once,
 * and must leave the source unchanged until the stream has reached the copy. */
dk_err dk_cuda_to_device_async(void *dst, const void *pinned_src, size_t bytes, void *stream);
dk_err dk_cuda_to_host(void *dst, const void *src, size_t bytes, void *stream);
dk_err dk_cuda_device_copy(void *dst, const void *src, size_t bytes, void *stream);
dk_err dk_cuda_memset_zero(void *dst, size_t bytes, void *stream);

dk_err dk_cuda_stream_create(void **out);   /* non-blocking with respect to the default stream */
void dk_cuda_stream_destroy(void *stream);
dk_err dk_cuda_stream_sync(void *stream);
/* Makes `waiter` wait (on the device) for everything queued on `producer` so far. */
dk_err dk_cuda_stream_wait(void *waiter, void *producer);

/* Device memory distkan holds through dk_cuda_malloc: now, and the most since the last
 * reset (for the benchmarks' peak-memory column). */
size_t dk_cuda_memory_used(void);
size_t dk_cuda_memory_peak(void);
void dk_cuda_memory_reset_peak(void);

#ifdef __cplusplus
}
#endif

#endif

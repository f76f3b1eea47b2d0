/* CUDA runtime wrappers (see dk_cuda.h). Built only with the CUDA backend. */
#include "dk_cuda.h"

#include <cuda_runtime_api.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static _Atomic size_t memory_used, memory_peak;

dk_err dk_cuda_check(int cuda_status, const char *file, int line, const char *what)
{
    cudaError_t e = (cudaError_t)cuda_status;
    if (e == cudaSuccess)
        return DK_OK;
    int device = -1;
    cudaGetDevice(&device);
    (void)cudaGetLastError(); /* clear a sticky-free error so that later calls report their own */
    return dk_error_set(e == cudaErrorMemoryAllocation ? DK_ERR_MEMORY : DK_ERR_INTERNAL, file, line,
                        "%s on GPU %d: %s (%s)", what, device, cudaGetErrorString(e), cudaGetErrorName(e));
}

static char no_device_reason[320] = "no device";

int dk_cuda_device_count(void)
{
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        /* Without any NVIDIA driver the runtime says its version is "insufficient", which
         * sends one looking for a newer driver rather than for a GPU node. */
        const bool no_driver = e == cudaErrorInsufficientDriver && access("/dev/nvidiactl", F_OK) != 0;
        snprintf(no_device_reason, sizeof no_device_reason, "%scudaGetDeviceCount: %s (%s)",
                 no_driver ? "no NVIDIA driver loaded (/dev/nvidiactl is missing); " : "", cudaGetErrorString(e),
                 cudaGetErrorName(e));
        (void)cudaGetLastError();
        return 0;
    }
    snprintf(no_device_reason, sizeof no_device_reason, "no device");
    return n;
}

const char *dk_cuda_no_device_reason(void) { return no_device_reason; }

dk_err dk_cuda_set_device(int ordinal, char *name, size_t n)
{
    DK_CUDA_CALL(cudaSetDevice(ordinal), "cudaSetDevice");
    if (name && n) {
        struct cudaDeviceProp prop;
        DK_CUDA_CALL(cudaGetDeviceProperties(&prop, ordinal), "cudaGetDeviceProperties");
        snprintf(name, n, "%s", prop.name);
    }
    return DK_OK;
}

dk_err dk_cuda_bus_id(int ordinal, char *out, size_t n)
{
    char id[32] = "";
    DK_CUDA_CALL(cudaDeviceGetPCIBusId(id, (int)sizeof id, ordinal), "cudaDeviceGetPCIBusId");
    snprintf(out, n, "%s", id);
    return DK_OK;
}

int dk_cuda_current_device(void)
{
    int d = -1;
    cudaGetDevice(&d);
    return d;
}

static void count_allocation(size_t bytes)
{
    size_t now = atomic_fetch_add(&memory_used, bytes) + bytes;
    size_t peak = atomic_load(&memory_peak);
    while (now > peak && !atomic_compare_exchange_weak(&memory_peak, &peak, now)) {
    }
}

/* Every allocation carries its size in a 256-byte prefix (cudaMalloc's own alignment), so
 * that dk_cuda_free can account for it without a table. */
enum { PREFIX = 256 };

dk_err dk_cuda_malloc(void **out, size_t bytes, const char *what)
{
    *out = NULL;
    void *p = NULL;
    if (bytes > SIZE_MAX - PREFIX)
        DK_ERROR(DK_ERR_MEMORY, "size overflow: %zu bytes of GPU memory for %s", bytes, what);
    cudaError_t e = cudaMalloc(&p, bytes + PREFIX);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__,
                            "cudaMalloc of %.1f MiB for %s on GPU %d failed: %s (%zu MiB held by distkan)",
                            (double)bytes / 1048576.0, what, dk_cuda_current_device(), cudaGetErrorString(e),
                            atomic_load(&memory_used) >> 20);
    }
    const char *step = "recording an allocation's size";
    e = cudaMemcpy(p, &bytes, sizeof bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) {
        step = "zeroing a new device buffer";
        e = cudaMemset((char *)p + PREFIX, 0, bytes);
    }
    /* cudaMemset may return before it completes, and the run's non-blocking streams do not
     * wait for the legacy stream: finish it here (allocation happens at setup only). */
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(0);
    if (e != cudaSuccess) {
        dk_err err = dk_cuda_check((int)e, __FILE__, __LINE__, step);
        cudaFree(p);
        (void)cudaGetLastError();
        return err;
    }
    count_allocation(bytes);
    *out = (char *)p + PREFIX;
    return DK_OK;
}

void dk_cuda_free(void *ptr)
{
    if (!ptr)
        return;
    char *base = (char *)ptr - PREFIX;
    size_t bytes = 0;
    if (cudaMemcpy(&bytes, base, sizeof bytes, cudaMemcpyDeviceToHost) == cudaSuccess)
        atomic_fetch_sub(&memory_used, bytes);
    cudaFree(base);
}

dk_err dk_cuda_host_alloc(void **out, size_t bytes, const char *what)
{
    *out = NULL;
    void *p = NULL;
    cudaError_t e = cudaMallocHost(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "cudaMallocHost of %.1f MiB for %s failed: %s",
                            (double)bytes / 1048576.0, what, cudaGetErrorString(e));
    }
    memset(p, 0, bytes);
    *out = p;
    return DK_OK;
}

void dk_cuda_host_free(void *ptr)
{
    if (ptr)
        cudaFreeHost(ptr);
}

static dk_err copy(void *dst, const void *src, size_t bytes, void *stream, enum cudaMemcpyKind kind,
                   const char *what, int wait)
{
    if (bytes == 0)
        return DK_OK;
    DK_CUDA_CALL(cudaMemcpyAsync(dst, src, bytes, kind, (cudaStream_t)stream), what);
    if (wait)
        DK_CUDA_CALL(cudaStreamSynchronize((cudaStream_t)stream), what);
    return DK_OK;
}

dk_err dk_cuda_to_device(void *dst, const void *src, size_t bytes, void *stream)
{
    return copy(dst, src, bytes, stream, cudaMemcpyHostToDevice, "copy to the GPU", 1);
}

dk_err dk_cuda_to_device_async(void *dst, const void *pinned_src, size_t bytes, void *stream)
{
    return copy(dst, pinned_src, bytes, stream, cudaMemcpyHostToDevice, "copy to the GPU", 0);
}

dk_err dk_cuda_to_host(void *dst, const void *src, size_t bytes, void *stream)
{
    return copy(dst, src, bytes, stream, cudaMemcpyDeviceToHost, "copy from the GPU", 1);
}

dk_err dk_cuda_device_copy(void *dst, const void *src, size_t bytes, void *stream)
{
    return copy(dst, src, bytes, stream, cudaMemcpyDeviceToDevice, "copy on the GPU", 0);
}

dk_err dk_cuda_memset_zero(void *dst, size_t bytes, void *stream)
{
    if (bytes)
        DK_CUDA_CALL(cudaMemsetAsync(dst, 0, bytes, (cudaStream_t)stream), "cudaMemsetAsync");
    return DK_OK;
}

dk_err dk_cuda_stream_create(void **out)
{
    cudaStream_t s = NULL;
    DK_CUDA_CALL(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    *out = s;
    return DK_OK;
}

void dk_cuda_stream_destroy(void *stream)
{
    if (stream)
        cudaStreamDestroy((cudaStream_t)stream);
}

dk_err dk_cuda_stream_sync(void *stream)
{
    DK_CUDA_CALL(cudaStreamSynchronize((cudaStream_t)stream), "waiting for the GPU");
    return DK_OK;
}

dk_err dk_cuda_stream_wait(void *waiter, void *producer)
{
    if (waiter == producer)
        return DK_OK;
    cudaEvent_t ev;
    DK_CUDA_CALL(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreate");
    cudaError_t e = cudaEventRecord(ev, (cudaStream_t)producer);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent((cudaStream_t)waiter, ev, 0);
    cudaEventDestroy(ev); /* safe: destruction is deferred until the event completes */
    DK_CUDA_CALL(e, "ordering two CUDA streams");
    return DK_OK;
}

size_t dk_cuda_memory_used(void) { return atomic_load(&memory_used); }
size_t dk_cuda_memory_peak(void) { return atomic_load(&memory_peak); }
void dk_cuda_memory_reset_peak(void) { atomic_store(&memory_peak, atomic_load(&memory_used)); }

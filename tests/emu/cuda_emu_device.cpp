/* The CUDA emulator (see cuda_emu_internal.h): the device's properties, the error state and
 * the counts of what the process asked of the device. */
#include "cuda_emu_internal.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace dk_emu::detail {

/* "cuda emulator: <message>" on stderr, the prefix of every line the emulator prints. */
static void say(const char *fmt, va_list ap)
{
    std::fprintf(stderr, "cuda emulator: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
}

[[noreturn]] void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    std::fflush(stderr);
    std::abort();
}

/* ---- the error state: CUDA's last error is per host thread ---------------------------- */

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;

cudaError_t fail(cudaError_t e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(fmt, ap);
    va_end(ap);
    last_error = e;
    return e;
}

int device_count()
{
    const char *s = std::getenv("DK_EMU_DEVICES");
    if (!s)
        return 1;
    const int n = std::atoi(s);
    return n < 0 ? 0 : (n > 16 ? 16 : n);
}

stats &counts = *new stats; /* never destroyed: CUDA calls may come from other exit handlers */

struct stats_writer {
    ~stats_writer()
    {
        const char *prefix = std::getenv("DK_EMU_STATS");
        if (!prefix || !*prefix)
            return;
        char path[4096];
        std::snprintf(path, sizeof path, "%s.%ld", prefix, (long)getpid());
        FILE *f = std::fopen(path, "w");
        if (!f)
            return;
        std::lock_guard<std::mutex> l(counts.m);
        const stats &c = counts;
        std::fprintf(f,
                     "launches %llu\ndevice_allocs %llu\ndevice_frees %llu\npinned_allocs %llu\npinned_frees %llu\n"
                     "h2d_copies %llu\nh2d_bytes %llu\nd2h_copies %llu\nd2h_bytes %llu\nd2d_copies %llu\n"
                     "d2d_bytes %llu\nmemsets %llu\nhost_waits %llu\nevent_queries %llu\n",
                     c.launches, c.device_allocs, c.device_frees, c.pinned_allocs, c.pinned_frees, c.h2d_copies,
                     c.h2d_bytes, c.d2h_copies, c.d2h_bytes, c.d2d_copies, c.d2d_bytes, c.memsets, c.host_waits,
                     c.event_queries);
        std::fclose(f);
    }
} write_stats_at_exit;

/* counted(&stats::field) += n, under the counters' lock. */
void count(unsigned long long stats::*field, unsigned long long n)
{
    std::lock_guard<std::mutex> l(counts.m);
    counts.*field += n;
}

} /* namespace dk_emu::detail */

using namespace dk_emu::detail;

extern "C" {

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = device_count();
    return *count ? cudaSuccess : fail(cudaErrorNoDevice, "DK_EMU_DEVICES=0: no device");
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaSetDevice(%d): %d device(s)", device, device_count());
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaGetDeviceProperties(%d)", device);
    std::memset(prop, 0, sizeof *prop);
    std::snprintf(prop->name, sizeof prop->name, "distkan CUDA emulator (CPU)");
    prop->totalGlobalMem = GLOBAL_MEMORY;
    prop->sharedMemPerBlock = DEFAULT_SHARED;
    prop->maxThreadsPerBlock = MAX_THREADS;
    prop->multiProcessorCount = 1;
    prop->major = 9;
    prop->minor = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaDeviceGetAttribute on device %d", device);
    if (attr != cudaDevAttrMaxSharedMemoryPerBlockOptin)
        return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr);
    *value = (int)OPTIN_SHARED;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int device)
{
    if (device < 0 || device >= device_count())
        return fail(cudaErrorInvalidDevice, "cudaDeviceGetPCIBusId on device %d", device);
    std::snprintf(id, (size_t)len, "0000:%02X:00.0", device + 1);
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *version)
{
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int *version)
{
    *version = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

} /* extern "C" */

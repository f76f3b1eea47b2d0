/* The CUDA emulator's runtime: the API of include/cuda_runtime_api.h and the execution of
 * kernels (include/cuda_runtime.h) on the CPU, one block at a time, its threads as fibers
 * of the host thread that forces the stream's work. Test builds only. In four files:
 *   cuda_emu_device.cpp   the device's properties, the error state, counts (DK_EMU_STATS)
 *   cuda_emu_exec.cpp     launches and kernel execution: blocks, fibers, barriers, shuffles
 *   cuda_emu_memory.cpp   allocations, what each pointer is, device memory closed to host code
 *   cuda_emu_streams.cpp  streams, events, copies and memsets as deferred work
 * This header is what they share.
 *
 * What it checks beyond running the code, each a fatal "cuda emulator:" message or the
 * error a GPU would return:
 *   - launch configurations (block of at most 1024 threads, grid limits, dynamic shared
 *     memory beyond 48 KiB only after cudaFuncSetAttribute, at most the opt-in limit);
 *     static __shared__ arrays of at most 48 KiB per block, and with the dynamic part
 *     within the opt-in limit;
 *   - shared memory: fresh per block, 0xFF-filled, one heap block per array (ASan bounds);
 *     fresh device and pinned buffers are 0xFF-filled too;
 *   - barriers: a __syncthreads or shuffle that not every running thread (lane) reaches is
 *     a deadlock, reported with the block; a shuffle whose mask is not the running lanes;
 *   - with DK_EMU_SCHEDULE=reverse the threads of a block run each phase between barriers
 *     in reverse order, and the blocks of a grid last to first: a result that changes
 *     depends on a race;
 *   - copies and memsets: the direction against the pointers' kinds, the range inside one
 *     allocation; frees of pointers that were not allocated;
 *   - use of destroyed streams and events;
 *   - streams: work runs only when a synchronisation forces it (cuda_emu_streams.cpp), so
 *     a missing wait shows as stale data, and polls of events meet "not ready";
 *   - host code touching device memory: device buffers are inaccessible pages except
 *     while device work runs (cuda_emu_memory.cpp), so a host read or write of a device
 *     pointer, in distkan or in a library such as MPI, stops the run naming the buffer;
 *     an index past a buffer's end is caught (guard pages, ASan-poisoned rounding bytes);
 *   - kernels launched with a pointer into pageable host memory (under AddressSanitizer);
 *   - fresh device and pinned memory is 0xFF bytes, not zeros.
 * What it cannot check: a kernel reading pageable host memory through a pointer that is not
 * among its arguments (host memory stays open to kernels); timing and occupancy mean
 * nothing.
 *
 * Devices: DK_EMU_DEVICES (default 1) identical ones, PCI bus ids 0000:0N:00.0. */
#ifndef DK_EMU_INTERNAL_H
#define DK_EMU_INTERNAL_H

#include "cuda_runtime.h"

#include <functional>
#include <mutex>

namespace dk_emu::detail {

enum : size_t {
    MAX_THREADS = 1024,
    DEFAULT_SHARED = 48 * 1024,
    OPTIN_SHARED = 232448, /* an H100's opt-in limit per block */
    GLOBAL_MEMORY = (size_t)80 << 30
};

/* ---- errors and the device (cuda_emu_device.cpp) -------------------------------------- */

/* Stops the process with "cuda emulator: <message>": what a GPU would not survive either. */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Says why on stderr, makes e the thread's last error and returns it: a call that fails. */
cudaError_t fail(cudaError_t e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern thread_local cudaError_t last_error; /* CUDA's last error is per host thread */
int device_count();                          /* DK_EMU_DEVICES, default 1 */

/* ---- what the process asked of the device, counted --------------------------------------
 *
 * With DK_EMU_STATS=<prefix>, each process writes its counts to <prefix>.<pid> at exit,
 * one "name value" line each: tests compare two runs that differ only in their number of
 * steps, so that what one step costs (allocations, copies between host and device, waits
 * of the host) is measured without a GPU. */
struct stats {
    std::mutex m;
    unsigned long long launches = 0, device_allocs = 0, device_frees = 0, pinned_allocs = 0, pinned_frees = 0;
    unsigned long long h2d_copies = 0, h2d_bytes = 0, d2h_copies = 0, d2h_bytes = 0, d2d_copies = 0, d2d_bytes = 0;
    unsigned long long memsets = 0, host_waits = 0, event_queries = 0;
};
extern stats &counts;
/* counts.*field += n, under the counters' lock. */
void count(unsigned long long stats::*field, unsigned long long n = 1);

/* ---- memory (cuda_emu_memory.cpp) ----------------------------------------------------- */

enum kind_t { HOST, DEVICE, PINNED };

/* The allocation holding [p, p + bytes), or none (HOST: pageable memory); *inside says
 * whether the range ends within it. */
kind_t kind_of(const void *ptr, size_t bytes, bool *inside);
const char *kind_name(kind_t k);
/* Fails (as CUDA would) unless [p, p + bytes) is device memory (want_device) or host
 * memory, inside one allocation. */
cudaError_t check_range(const void *p, size_t bytes, bool want_device, const char *role, const char *what);

/* Stops the run if a kernel's parameters hold a pointer into pageable host memory (heap,
 * stack or globals; only under AddressSanitizer, which can tell): a kernel cannot read it,
 * or (with HMM) reads it slowly across the bus. Every aligned 8-byte word is looked at, so
 * pointers inside structs passed by value count too. */
void check_kernel_arguments(const void *args, size_t bytes);

/* Opens (device work runs) or closes (host code runs) every device buffer's pages; returns
 * what it was. device_access(open) does so for a scope and restores it after. */
bool set_device_access(bool open);
struct device_access {
    bool was;
    explicit device_access(bool open) : was(set_device_access(open)) {}
    ~device_access() { set_device_access(was); }
};

/* ---- streams (cuda_emu_streams.cpp) --------------------------------------------------- */

/* Queues op on a stream; `device` when it touches device memory (its pages are open while
 * it runs). */
cudaError_t enqueue(cudaStream_t s, std::function<void()> op, const char *what, bool device = true);
/* Runs everything queued anywhere: what a device synchronisation waits for. */
void run_everything();

} /* namespace dk_emu::detail */

#endif

/* The CUDA emulator (see cuda_emu_internal.h): memory. */
#include "cuda_emu_internal.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include <csignal>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#include <execinfo.h>
#endif

namespace dk_emu::detail {

/* ---- memory: what each pointer is ------------------------------------------------------
 *
 * Pinned and pageable host memory are heap blocks. Device memory is mapped pages of its
 * own: a guard page, the buffer's pages, a guard page; the buffer ends at the end of its
 * pages (256-byte aligned, as cudaMalloc's are) and the few bytes around it are poisoned
 * for AddressSanitizer, so an index past either end is caught in kernels and in copies.
 * The buffer's pages are readable only while device work runs (a queued kernel, copy or
 * memset; set_device_access): host code that dereferences a device pointer faults, and
 * on_fault names the buffer. On a GPU that code reads garbage or dies. New device and
 * pinned memory is 0xFF bytes (NaN, -1), as uninitialised memory may be on a GPU: code
 * that takes a fresh buffer for zeros shows. */

struct allocation {
    size_t bytes;
    kind_t k;
    unsigned char *map;  /* DEVICE: the whole mapping, guard pages included */
    size_t map_bytes;
    unsigned char *pages; /* DEVICE: the buffer's pages, between the guards */
    size_t page_bytes;
};

enum : size_t { PAGE = 4096 };

std::mutex memory_m;
std::map<uintptr_t, allocation> allocations; /* by start address */
size_t device_bytes = 0;
bool device_open = false; /* device pages readable now; under memory_m */

/* The allocation holding [p, p + bytes), or none (HOST: pageable memory). */
kind_t kind_of(const void *ptr, size_t bytes, bool *inside)
{
    std::lock_guard<std::mutex> l(memory_m);
    const uintptr_t a = (uintptr_t)ptr;
    *inside = true;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin())
        return HOST;
    --it;
    if (a >= it->first + it->second.bytes)
        return HOST;
    *inside = a + bytes <= it->first + it->second.bytes;
    return it->second.k;
}

const char *kind_name(kind_t k) { return k == DEVICE ? "device" : k == PINNED ? "pinned host" : "pageable host"; }

cudaError_t check_range(const void *p, size_t bytes, bool want_device, const char *role, const char *what)
{
    bool inside = true;
    const kind_t k = kind_of(p, bytes, &inside);
    if ((k == DEVICE) != want_device)
        return fail(want_device ? cudaErrorInvalidDevicePointer : cudaErrorInvalidValue,
                    "%s: the %s %p is %s memory, %s memory was expected", what, role, p, kind_name(k),
                    want_device ? "device" : "host");
    if (!inside)
        return fail(cudaErrorInvalidValue, "%s: %zu bytes from the %s %p run past the end of its allocation", what,
                    bytes, role, p);
    return cudaSuccess;
}

void protect(const allocation &a, bool open)
{
    if (mprotect(a.pages, a.page_bytes, open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0)
        fatal("mprotect of a device buffer failed");
}

void poison(const void *p, size_t bytes, bool on)
{
#ifdef __SANITIZE_ADDRESS__
    if (on)
        __asan_poison_memory_region(p, bytes);
    else
        __asan_unpoison_memory_region(p, bytes);
#else
    (void)p, (void)bytes, (void)on;
#endif
}

void check_kernel_arguments(const void *args, size_t bytes)
{
#ifdef __SANITIZE_ADDRESS__
    for (size_t at = 0; at + sizeof(uintptr_t) <= bytes; at += sizeof(uintptr_t)) {
        uintptr_t word;
        std::memcpy(&word, static_cast<const char *>(args) + at, sizeof word);
        if (word < 65536 || word >= ((uintptr_t)1 << 47)) /* not a user-space address */
            continue;
        bool inside;
        if (kind_of(reinterpret_cast<const void *>(word), 1, &inside) != HOST)
            continue; /* device or pinned memory: what kernels may read */
        char name[64];
        void *region = nullptr;
        size_t region_bytes = 0;
        const char *where = __asan_locate_address(reinterpret_cast<void *>(word), name, sizeof name, &region,
                                                  &region_bytes);
        if (where && (!std::strcmp(where, "heap") || !std::strcmp(where, "stack") ||
                      !std::strcmp(where, "stack-fake") || !std::strcmp(where, "global")))
            fatal("a kernel launched with a pointer into pageable host memory (%s, %p, %zu bytes into a block of "
                  "%zu) in the 8 bytes at offset %zu of its arguments: kernels read device or pinned memory only",
                  where, reinterpret_cast<void *>(word), (size_t)(word - (uintptr_t)region), region_bytes, at);
    }
#else
    (void)args, (void)bytes;
#endif
}

/* Opens (device work runs) or closes (host code runs) every device buffer's pages; returns
 * what it was, for the caller to restore. Device work is serialised by work_m, the only
 * caller's lock, so opening and closing nest on one thread. */
bool set_device_access(bool open)
{
    std::lock_guard<std::mutex> l(memory_m);
    const bool was = device_open;
    if (open != was) {
        for (const auto &[start, a] : allocations)
            if (a.k == DEVICE)
                protect(a, open);
        device_open = open;
    }
    return was;
}

void install_fault_handler();

void *allocate(size_t bytes, kind_t k)
{
    allocation a{bytes, k, nullptr, 0, nullptr, 0};
    void *p;
    if (k == DEVICE) {
        install_fault_handler();
        const size_t rounded = (bytes + 255) / 256 * 256 + (bytes ? 0 : 256);
        a.page_bytes = (rounded + PAGE - 1) / PAGE * PAGE;
        a.map_bytes = a.page_bytes + 2 * PAGE;
        void *m = mmap(nullptr, a.map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED)
            return nullptr;
        a.map = static_cast<unsigned char *>(m);
        a.pages = a.map + PAGE;
        p = a.pages + a.page_bytes - rounded;
        protect(a, true);
        std::memset(p, 0xFF, bytes);
        poison(a.pages, a.page_bytes, true);
        poison(p, bytes, false);
    } else {
        p = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
        if (!p)
            return nullptr;
        std::memset(p, 0xFF, bytes);
    }
    std::lock_guard<std::mutex> l(memory_m);
    if (k == DEVICE) {
        protect(a, device_open);
        device_bytes += bytes;
    }
    allocations[(uintptr_t)p] = a;
    return p;
}

cudaError_t release_allocation(void *p, kind_t k, const char *what)
{
    if (!p)
        return cudaSuccess;
    std::lock_guard<std::mutex> l(memory_m);
    auto it = allocations.find((uintptr_t)p);
    if (it == allocations.end() || it->second.k != k)
        return fail(cudaErrorInvalidValue, "%s(%p): not the start of a live %s allocation", what, p, kind_name(k));
    const allocation a = it->second;
    allocations.erase(it);
    if (k == DEVICE) {
        device_bytes -= a.bytes;
        poison(a.pages, a.page_bytes, false);
        munmap(a.map, a.map_bytes);
    } else {
        std::free(p);
    }
    return cudaSuccess;
}

/* A fault on a device buffer's mapping: host code touched device memory (its pages are
 * closed), or device work ran past a buffer into a guard page. Anything else goes to the
 * handler that was there before. */
struct sigaction previous_segv;

void on_fault(int sig, siginfo_t *info, void *context)
{
    const uintptr_t a = (uintptr_t)info->si_addr;
    const allocation *hit = nullptr;
    uintptr_t start = 0;
    if (memory_m.try_lock()) { /* a fault inside the emulator's own locked code is not ours */
        for (const auto &[s, al] : allocations)
            if (al.k == DEVICE && a >= (uintptr_t)al.map && a < (uintptr_t)al.map + al.map_bytes) {
                hit = &al;
                start = s;
                break;
            }
        if (hit) {
            const bool in_pages = a >= (uintptr_t)hit->pages && a < (uintptr_t)hit->pages + hit->page_bytes;
            if (in_pages && !device_open)
                std::fprintf(stderr,
                             "cuda emulator: host code touched device memory at %p, byte %lld of a cudaMalloc "
                             "buffer of %zu bytes at %p (on a GPU: garbage or a crash; copy it to the host first)\n",
                             info->si_addr, (long long)(a - start), hit->bytes, (void *)start);
            else
                std::fprintf(stderr,
                             "cuda emulator: access at %p, %lld bytes from the start of a cudaMalloc buffer of "
                             "%zu bytes at %p: outside the buffer\n",
                             info->si_addr, (long long)(a - start), hit->bytes, (void *)start);
        }
        memory_m.unlock();
    }
    if (!hit) {
        sigaction(SIGSEGV, &previous_segv, nullptr); /* the access faults again, there */
        (void)sig, (void)context;
        return;
    }
    std::fflush(stderr);
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_print_stack_trace();
#else
    void *frames[64];
    backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
#endif
    std::abort();
}

void install_fault_handler()
{
    static std::once_flag once;
    std::call_once(once, [] {
        static unsigned char alternate[64 * 1024]; /* a fiber's stack may be the one that overflowed */
        stack_t ss{};
        ss.ss_sp = alternate;
        ss.ss_size = sizeof alternate;
        sigaltstack(&ss, nullptr);
        struct sigaction sa{};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &previous_segv);
    });
}

} /* namespace dk_emu::detail */

using namespace dk_emu::detail;

extern "C" {

cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    *ptr = nullptr;
    {
        std::lock_guard<std::mutex> l(memory_m);
        if (bytes > GLOBAL_MEMORY - device_bytes)
            return fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): beyond the emulated 80 GiB", bytes);
    }
    *ptr = allocate(bytes, DEVICE);
    count(&stats::device_allocs);
    return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation, "cudaMalloc(%zu): host out of memory", bytes);
}

cudaError_t cudaFree(void *ptr)
{
    run_everything(); /* cudaFree synchronises the device */
    count(&stats::device_frees);
    count(&stats::host_waits);
    return release_allocation(ptr, DEVICE, "cudaFree");
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes)
{
    *ptr = allocate(bytes, PINNED);
    count(&stats::pinned_allocs);
    return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation, "cudaMallocHost(%zu): out of memory", bytes);
}

cudaError_t cudaFreeHost(void *ptr)
{
    run_everything();
    count(&stats::pinned_frees);
    count(&stats::host_waits);
    return release_allocation(ptr, PINNED, "cudaFreeHost");
}

} /* extern "C" */

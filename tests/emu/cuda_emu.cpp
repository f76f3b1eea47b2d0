/* The CUDA emulator's runtime: the API of include/cuda_runtime_api.h and the execution of
 * kernels (include/cuda_runtime.h) on the CPU, one block at a time, its threads as fibers
 * of the host thread that forces the stream's work. Test builds only.
 *
 * What it checks beyond running the code, each a fatal "cuda emulator:" message or the
 * error a GPU would return:
 *   - launch configurations (block of at most 1024 threads, grid limits, dynamic shared
 *     memory beyond 48 KiB only after cudaFuncSetAttribute, at most the opt-in limit);
 *   - shared memory: fresh per block, 0xFF-filled, one heap block per array (ASan bounds);
 *     fresh device and pinned buffers are 0xFF-filled too;
 *   - barriers: a __syncthreads or shuffle that not every running thread (lane) reaches is
 *     a deadlock, reported with the block; a shuffle whose mask is not the running lanes;
 *   - with DK_EMU_SCHEDULE=reverse the threads of a block run each phase between barriers
 *     in reverse order, and the blocks of a grid last to first: a result that changes
 *     depends on a race;
 *   - copies and memsets: the direction against the pointers' kinds, the range inside one
 *     allocation; frees of pointers that were not allocated;
 *   - use of destroyed streams and events.
 *   - streams: work runs only when a synchronisation forces it (see "streams and events"),
 *     so a missing wait shows as stale data, and polls of events meet "not ready".
 * What it cannot check: device memory is host memory, so host code reading device pointers
 * or kernels reading host pointers go unnoticed; timing and occupancy mean nothing.
 *
 * Devices: DK_EMU_DEVICES (default 1) identical ones, PCI bus ids 0000:0N:00.0. */
#include "cuda_runtime.h"

#ifndef __x86_64__
#error "the CUDA emulator switches stacks in x86-64 assembly"
#endif

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include <csignal>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#include <execinfo.h>
#endif

namespace dk_emu {

const thread_place *self = nullptr;

namespace {

enum : size_t {
    MAX_THREADS = 1024,
    DEFAULT_SHARED = 48 * 1024,
    OPTIN_SHARED = 232448, /* an H100's opt-in limit per block */
    GLOBAL_MEMORY = (size_t)80 << 30
};

[[noreturn]] void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "cuda emulator: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
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
    std::fprintf(stderr, "cuda emulator: ");
    std::vfprintf(stderr, fmt, ap);
    std::fprintf(stderr, "\n");
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

/* A fresh zone of shared memory: 0xFF bytes read as NaN (floating point) or -1 (integers). */
unsigned char *fresh_zone(size_t bytes)
{
    unsigned char *p = new unsigned char[bytes ? bytes : 1];
    std::memset(p, 0xFF, bytes);
    return p;
}

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
void count(unsigned long long stats::*field, unsigned long long n = 1)
{
    std::lock_guard<std::mutex> l(counts.m);
    counts.*field += n;
}

/* ---- execution: a block's threads are fibers of one host thread ----------------------
 *
 * The scheduler runs every runnable fiber in turn (in thread order, or reversed with
 * DK_EMU_SCHEDULE=reverse, which exposes a read of shared memory that depends on which
 * thread of a phase runs first); a fiber runs until it waits at a barrier or returns.
 * When every thread still running waits at __syncthreads, they all go on; a warp's lanes
 * go on from a shuffle when every running lane of the warp waits there. Anything else with
 * nothing runnable is a deadlock on a GPU too. */

enum fiber_state { RUNNABLE, AT_SYNCTHREADS, AT_SHUFFLE, DONE };

struct fiber;

struct place : thread_place {
    fiber *f;
};

struct fiber {
    void *sp; /* its saved stack pointer while it is switched out */
    unsigned char *stack;
    fiber_state state;
    unsigned linear;
    void *asan_fake_stack;
    place where;
};

struct warp {
    unsigned live; /* lanes that exist and have not returned */
    /* Two banks, used by alternate shuffles: a lane can be one shuffle ahead of another
     * (it read its value and wrote the next one) but never two, since the next shuffle
     * waits for every lane. */
    uint64_t slot[2][32];
    unsigned bank[32]; /* the next bank of each lane */
};

struct block {
    std::vector<fiber> fibers;
    warp warps[MAX_THREADS / 32];
    std::map<const void *, std::unique_ptr<unsigned char[]>> shared;
    std::unique_ptr<unsigned char[]> dynamic;
    size_t dynamic_bytes = 0;
    void (*body)(void *) = nullptr;
    void *arg = nullptr;
};

enum : size_t { STACK_BYTES = 128 * 1024 };

/* The switch between stacks: the callee-saved registers go onto the old stack, whose
 * pointer is stored in *save; the new stack's are popped and its return address taken.
 * (swapcontext would do, but it makes a system call for the signal mask on every switch,
 * and AddressSanitizer's interceptor clears the shadow of the whole new stack: the
 * shuffles of a block switch some 10^5 times.) */
extern "C" void dk_emu_switch_stack(void **save, void *next);
asm(".text\n"
    ".globl dk_emu_switch_stack\n"
    ".type dk_emu_switch_stack, @function\n"
    "dk_emu_switch_stack:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size dk_emu_switch_stack, .-dk_emu_switch_stack\n");

void *scheduler_sp = nullptr;
const void *scheduler_stack_bottom = nullptr;
size_t scheduler_stack_size = 0;
block *running = nullptr;
fiber *current = nullptr;
std::vector<unsigned char *> stacks; /* reused across launches; never freed */

/* AddressSanitizer must be told about every switch of stacks. */
void switch_out_of_fiber(fiber *f, bool dying)
{
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_start_switch_fiber(dying ? nullptr : &f->asan_fake_stack, scheduler_stack_bottom,
                                   scheduler_stack_size);
#endif
    dk_emu_switch_stack(&f->sp, scheduler_sp);
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(f->asan_fake_stack, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
}

void switch_into_fiber(fiber *f)
{
    current = f;
    self = &f->where;
#ifdef __SANITIZE_ADDRESS__
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, STACK_BYTES);
#endif
    dk_emu_switch_stack(&scheduler_sp, f->sp);
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    self = nullptr;
    current = nullptr;
}

void fiber_main()
{
    fiber *f = current;
#ifdef __SANITIZE_ADDRESS__
    __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack_bottom, &scheduler_stack_size);
#endif
    running->body(running->arg);
    warp &w = running->warps[f->linear / 32];
    w.live &= ~(1u << (f->linear % 32));
    f->state = DONE;
    switch_out_of_fiber(f, true);
    fatal("a finished CUDA thread was resumed");
}

/* A new fiber's stack as dk_emu_switch_stack leaves one: six registers (zero), then
 * fiber_main as the return address, then a zero return address for fiber_main, placed so
 * that fiber_main starts with the stack aligned as the ABI wants (rsp + 8 a multiple of 16). */
void *fresh_stack(unsigned char *stack)
{
    uintptr_t top = ((uintptr_t)stack + STACK_BYTES) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;
    *--sp = (void *)&fiber_main;
    for (int r = 0; r < 6; r++)
        *--sp = nullptr;
    return sp;
}

/* The calling fiber waits in `state` until the scheduler lets it go on. */
void wait_as(fiber_state state)
{
    fiber *f = current;
    f->state = state;
    switch_out_of_fiber(f, false);
}

bool all_waiting(const block &b, fiber_state state, unsigned first, unsigned end)
{
    bool any = false;
    for (unsigned t = first; t < end; t++) {
        if (b.fibers[t].state == DONE)
            continue;
        if (b.fibers[t].state != state)
            return false;
        any = true;
    }
    return any;
}

void release(block &b, fiber_state state, unsigned first, unsigned end)
{
    for (unsigned t = first; t < end; t++)
        if (b.fibers[t].state == state)
            b.fibers[t].state = RUNNABLE;
}

void run_block(block &b, const launch_config &c, uint3 idx, unsigned threads, bool reverse)
{
    while (stacks.size() < threads) {
        void *s = mmap(nullptr, STACK_BYTES + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s == MAP_FAILED)
            fatal("no memory for a CUDA thread's stack");
        mprotect(s, 4096, PROT_NONE); /* a guard page below the stack */
        stacks.push_back(static_cast<unsigned char *>(s) + 4096);
    }
    b.fibers.assign(threads, fiber{});
    for (unsigned w = 0; w < threads / 32; w++) {
        b.warps[w].live = 0xffffffffu;
        std::memset(b.warps[w].bank, 0, sizeof b.warps[w].bank);
    }
    b.shared.clear();
    b.dynamic.reset(fresh_zone(c.shared_bytes));
    b.dynamic_bytes = c.shared_bytes;
    const dim3 bd = c.block;
    for (unsigned t = 0; t < threads; t++) {
        fiber &f = b.fibers[t];
        f.stack = stacks[t];
        f.state = RUNNABLE;
        f.linear = t;
        f.where.thread_idx = uint3{t % bd.x, (t / bd.x) % bd.y, t / (bd.x * bd.y)};
        f.where.block_idx = idx;
        f.where.block_dim = bd;
        f.where.grid_dim = c.grid;
        f.where.f = &f;
        f.sp = fresh_stack(f.stack);
    }
    running = &b;
    for (;;) {
        bool ran = false;
        for (unsigned k = 0; k < threads; k++) {
            fiber &f = b.fibers[reverse ? threads - 1 - k : k];
            if (f.state == RUNNABLE) {
                switch_into_fiber(&f);
                ran = true;
            }
        }
        bool released = false;
        if (all_waiting(b, AT_SYNCTHREADS, 0, threads)) {
            release(b, AT_SYNCTHREADS, 0, threads);
            released = true;
        }
        for (unsigned w = 0; w < threads / 32; w++)
            if (all_waiting(b, AT_SHUFFLE, 32 * w, 32 * w + 32)) {
                release(b, AT_SHUFFLE, 32 * w, 32 * w + 32);
                released = true;
            }
        if (ran || released)
            continue;
        unsigned at_sync = 0, at_shuffle = 0, done = 0;
        for (const fiber &f : b.fibers)
            at_sync += f.state == AT_SYNCTHREADS, at_shuffle += f.state == AT_SHUFFLE, done += f.state == DONE;
        if (done == threads)
            break;
        fatal("block (%u, %u, %u) deadlocks: %u thread(s) wait at __syncthreads, %u at a warp shuffle, %u returned "
              "(a barrier that not every running thread reaches)",
              idx.x, idx.y, idx.z, at_sync, at_shuffle, done);
    }
    running = nullptr;
}

/* Grids run one at a time: only from a stream's queue, under work_m. */
std::mutex limit_m; /* raised_shared, read by launches, raised by cudaFuncSetAttribute */
size_t raised_shared = DEFAULT_SHARED;

const place &me(const char *what)
{
    if (!self || !running)
        fatal("%s called outside a kernel", what);
    return *static_cast<const place *>(self);
}

/* Runs a validated grid now (from a stream's queue). */
void execute_grid(const launch_config &c, void (*body)(void *), void *arg)
{
    const unsigned threads = c.block.x * c.block.y * c.block.z;
    static const char *schedule = std::getenv("DK_EMU_SCHEDULE");
    const bool reverse = schedule && !std::strcmp(schedule, "reverse");
    static block blk;
    blk.body = body;
    blk.arg = arg;
    /* Reversed, the blocks run last to first too: a block that reads what another block of
     * the same grid writes, or two blocks writing one place, give a different result. */
    const unsigned long long blocks = (unsigned long long)c.grid.x * c.grid.y * c.grid.z;
    for (unsigned long long k = 0; k < blocks; k++) {
        const unsigned long long b = reverse ? blocks - 1 - k : k;
        const unsigned x = (unsigned)(b % c.grid.x), y = (unsigned)(b / c.grid.x % c.grid.y),
                       z = (unsigned)(b / ((unsigned long long)c.grid.x * c.grid.y));
        run_block(blk, c, uint3{x, y, z}, threads, reverse);
    }
}

cudaError_t enqueue(cudaStream_t s, std::function<void()> op, const char *what, bool device = true);

} /* namespace */

void launch(const launch_config &c, void (*run)(void *), void (*destroy)(void *), void *job)
{
    const dim3 g = c.grid, b = c.block;
    const unsigned long long threads = (unsigned long long)b.x * b.y * b.z;
    cudaError_t e = cudaSuccess;
    if (g.x == 0 || g.y == 0 || g.z == 0 || threads == 0 || threads > MAX_THREADS || b.z > 64 || g.y > 65535 ||
        g.z > 65535) {
        e = fail(cudaErrorInvalidConfiguration, "invalid launch configuration: grid (%u, %u, %u), block (%u, %u, %u)",
                 g.x, g.y, g.z, b.x, b.y, b.z);
    } else if (threads % 32 != 0) {
        fatal("block of %llu threads: distkan's kernels assume whole warps", threads);
    } else {
        std::lock_guard<std::mutex> l(limit_m);
        if (c.shared_bytes > raised_shared)
            e = fail(cudaErrorInvalidValue,
                     "launch with %zu bytes of dynamic shared memory, beyond the %zu allowed (cudaFuncSetAttribute "
                     "raises the 48 KiB default up to %zu)",
                     c.shared_bytes, raised_shared, (size_t)OPTIN_SHARED);
    }
    std::shared_ptr<void> owned(job, destroy); /* freed when the queued grid has run, or now */
    if (e == cudaSuccess) {
        const launch_config cfg = c;
        count(&stats::launches);
        enqueue(c.stream, [cfg, run, owned] { execute_grid(cfg, run, owned.get()); }, "a kernel launch");
    }
}

void *block_shared(const void *site, size_t bytes)
{
    block &b = *running;
    me("a __shared__ declaration");
    auto &zone = b.shared[site];
    if (!zone)
        zone.reset(fresh_zone(bytes));
    return zone.get();
}

void *dynamic_shared()
{
    me("extern __shared__");
    return running->dynamic_bytes ? running->dynamic.get() : nullptr;
}

void sync_block()
{
    me("__syncthreads");
    wait_as(AT_SYNCTHREADS);
}

void shuffle(unsigned mask, const void *value, void *out, size_t bytes, shuffle_kind kind, int arg, int width)
{
    const place &p = me("a warp shuffle");
    const unsigned linear = p.f->linear;
    warp &w = running->warps[linear / 32];
    const int lane = (int)(linear % 32);
    if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
        fatal("shuffle width %d: not a power of two up to 32", width);
    if ((mask & (1u << lane)) == 0)
        fatal("block (%u, %u, %u) thread %u shuffles with mask %#x, which leaves its own lane out", p.block_idx.x,
              p.block_idx.y, p.block_idx.z, linear, mask);
    if (w.live != mask)
        fatal("block (%u, %u, %u) warp %u: shuffle with mask %#x while lanes %#x are running (every lane named "
              "must take part, and the emulator needs every running lane to)",
              p.block_idx.x, p.block_idx.y, p.block_idx.z, linear / 32, mask, w.live);
    const unsigned bank = w.bank[lane];
    w.bank[lane] ^= 1;
    std::memcpy(&w.slot[bank][lane], value, bytes);
    wait_as(AT_SHUFFLE);
    const int base = lane & ~(width - 1), in = lane - base;
    int src = lane;
    switch (kind) {
    case SHFL_IDX: src = base + (arg % width + width) % width; break;
    case SHFL_XOR: src = (in ^ arg) < width ? base + (in ^ arg) : lane; break;
    case SHFL_DOWN: src = in + arg < width ? lane + arg : lane; break;
    case SHFL_UP: src = in - arg >= 0 ? lane - arg : lane; break;
    }
    std::memcpy(out, &w.slot[bank][src], bytes);
}

namespace {

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

enum kind_t { HOST, DEVICE, PINNED };

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

struct device_access {
    bool was;
    explicit device_access(bool open) : was(set_device_access(open)) {}
    ~device_access() { set_device_access(was); }
};

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

cudaError_t release(void *p, kind_t k, const char *what)
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

/* ---- streams and events: deferred work ------------------------------------------------
 *
 * Work queued on a stream runs only when something forces it: a synchronisation of the
 * stream, an event recorded after it being queried or synchronised, a stream waiting on such
 * an event, or a call that synchronises the device (cudaFree). So a missing wait leaves the
 * work undone and shows as stale data, deterministically. A query of an event whose work is
 * pending answers cudaErrorNotReady once (kept as the thread's last error, as CUDA does) and
 * runs the work, so polling loops meet "not ready" and still end. Copies from pageable host
 * memory take their source at the call, copies into it wait for the stream, as in CUDA. */

/* A queued item; `device` when it touches device memory (host functions and waits do not). */
struct work {
    std::function<void()> run;
    bool device;
};

struct stream_rec {
    unsigned flags;
    std::deque<work> queue;
    unsigned long issued = 0, done = 0;
};
struct event_rec {
    unsigned flags;
    bool recorded = false;
    stream_rec *stream = nullptr;
    unsigned long ticket = 0; /* the work of `stream` it waits for: the first `ticket` items */
    std::chrono::steady_clock::time_point when;
};

std::recursive_mutex work_m; /* every queue, and running their work */
std::set<const void *> live_streams, live_events;
/* Destroyed streams' records, kept: an event recorded on one, or a wait queued elsewhere
 * on such an event, still reads how far it got (all the way: destruction ran its work). */
std::vector<std::unique_ptr<stream_rec>> retired_streams;
stream_rec legacy_stream{cudaStreamDefault, {}, 0, 0}; /* the NULL stream */

stream_rec *stream_of(cudaStream_t s, const char *what)
{
    if (!s)
        return &legacy_stream;
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!live_streams.count(s)) {
        fail(cudaErrorInvalidResourceHandle, "%s: stream %p was never created or is destroyed", what, (void *)s);
        return nullptr;
    }
    return reinterpret_cast<stream_rec *>(s);
}

event_rec *event_of(cudaEvent_t e, const char *what)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!e || !live_events.count(e)) {
        fail(cudaErrorInvalidResourceHandle, "%s: event %p was never created or is destroyed", what, (void *)e);
        return nullptr;
    }
    return reinterpret_cast<event_rec *>(e);
}

/* Runs the first `ticket` items of s's queue that have not run. */
void run_until(stream_rec *s, unsigned long ticket)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    while (s->done < ticket) {
        work w = std::move(s->queue.front());
        s->queue.pop_front();
        device_access open(w.device);
        w.run();
        s->done++;
    }
}

void run_all(stream_rec *s) { run_until(s, s->issued); }

/* Everything queued anywhere (what a device synchronisation waits for). */
void run_everything()
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    for (bool again = true; again;) {
        again = false;
        for (const void *p : live_streams) {
            stream_rec *s = reinterpret_cast<stream_rec *>(const_cast<void *>(p));
            if (s->done < s->issued) {
                run_all(s);
                again = true;
            }
        }
        if (legacy_stream.done < legacy_stream.issued) {
            run_all(&legacy_stream);
            again = true;
        }
    }
}

/* A new stream's or event's record, now a live handle. */
void *live_handle(std::set<const void *> &live, void *rec)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    live.insert(rec);
    return rec;
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op, const char *what, bool device)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    stream_rec *s = stream_of(stream, what);
    if (!s)
        return cudaErrorInvalidResourceHandle;
    s->queue.push_back(work{std::move(op), device});
    s->issued++;
    return cudaSuccess;
}

/* Checks a copy's pointers against its kind; *dst_kind and *src_kind say what they are. */
cudaError_t check_copy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, const char *what,
                       kind_t *dst_kind, kind_t *src_kind)
{
    bool in_d = true, in_s = true;
    *dst_kind = kind_of(dst, bytes, &in_d);
    *src_kind = kind_of(src, bytes, &in_s);
    switch (kind) {
    case cudaMemcpyHostToDevice:
    case cudaMemcpyDeviceToHost:
    case cudaMemcpyDeviceToDevice:
    case cudaMemcpyHostToHost: {
        const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
        const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
        cudaError_t e = check_range(dst, bytes, want_dst, "destination", what);
        if (e == cudaSuccess)
            e = check_range(src, bytes, want_src, "source", what);
        return e;
    }
    case cudaMemcpyDefault:
        if (!in_d || !in_s)
            return fail(cudaErrorInvalidValue, "%s: %zu bytes run past the end of an allocation", what, bytes);
        return cudaSuccess;
    }
    return fail(cudaErrorInvalidMemcpyDirection, "%s: copy kind %d", what, (int)kind);
}

/* cudaMemcpyAsync's timing: pinned and device memory are read and written when the stream
 * gets there; a pageable source is read now, a pageable destination waits for the stream. */
cudaError_t copy_async(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream,
                       const char *what, bool synchronous = false)
{
    if (bytes == 0)
        return cudaSuccess;
    kind_t dk, sk;
    cudaError_t e = check_copy(dst, src, bytes, kind, what, &dk, &sk);
    if (e != cudaSuccess)
        return e;
    stream_rec *s = stream_of(stream, what);
    if (!s)
        return cudaErrorInvalidResourceHandle;
    if (dk == DEVICE && sk == DEVICE)
        count(&stats::d2d_copies), count(&stats::d2d_bytes, bytes);
    else if (dk == DEVICE)
        count(&stats::h2d_copies), count(&stats::h2d_bytes, bytes);
    else if (sk == DEVICE)
        count(&stats::d2h_copies), count(&stats::d2h_bytes, bytes);
    if (synchronous || dk == HOST) /* a pageable destination: the host waits for the stream */
        count(&stats::host_waits);
    if (dk == HOST) {
        std::lock_guard<std::recursive_mutex> l(work_m);
        run_all(s);
        device_access open(true);
        std::memmove(dst, src, bytes);
        return cudaSuccess;
    }
    if (sk == HOST) {
        std::shared_ptr<unsigned char> taken(new unsigned char[bytes], std::default_delete<unsigned char[]>());
        std::memcpy(taken.get(), src, bytes);
        return enqueue(stream, [dst, taken, bytes] { std::memcpy(dst, taken.get(), bytes); }, what);
    }
    return enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); }, what);
}

cudaError_t set_async(void *dst, int value, size_t bytes, cudaStream_t stream, const char *what)
{
    if (bytes == 0)
        return cudaSuccess;
    cudaError_t e = check_range(dst, bytes, true, "destination", what);
    if (e != cudaSuccess)
        return e;
    count(&stats::memsets);
    return enqueue(stream, [dst, value, bytes] { std::memset(dst, value, bytes); }, what);
}

} /* namespace */
} /* namespace dk_emu */

using namespace dk_emu;

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
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

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
    return release(ptr, DEVICE, "cudaFree");
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
    return release(ptr, PINNED, "cudaFreeHost");
}

/* The synchronous forms: after the legacy stream's work, done before returning. */
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind)
{
    cudaError_t e = copy_async(dst, src, bytes, kind, nullptr, "cudaMemcpy", true);
    run_all(&legacy_stream);
    return e;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind, cudaStream_t stream)
{
    return copy_async(dst, src, bytes, kind, stream, "cudaMemcpyAsync");
}

/* Asynchronous for device memory, as in CUDA: queued on the legacy stream. */
cudaError_t cudaMemset(void *dst, int value, size_t bytes) { return set_async(dst, value, bytes, nullptr, "cudaMemset"); }

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream)
{
    return set_async(dst, value, bytes, stream, "cudaMemsetAsync");
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned flags)
{
    *stream = reinterpret_cast<cudaStream_t>(live_handle(live_streams, new stream_rec{flags, {}, 0, 0}));
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

/* Pending work still completes, as CUDA lets it. */
cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!stream)
        return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy(NULL): the legacy stream is not destroyed");
    stream_rec *s = stream_of(stream, "cudaStreamDestroy");
    if (!s)
        return cudaErrorInvalidResourceHandle;
    run_all(s);
    live_streams.erase(stream);
    retired_streams.emplace_back(s);
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    stream_rec *s = stream_of(stream, "cudaStreamSynchronize");
    if (!s)
        return cudaErrorInvalidResourceHandle;
    count(&stats::host_waits);
    run_all(s);
    return cudaSuccess;
}

/* The stream waits for the work the event's latest record covers (taken now, as in CUDA). */
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaStreamWaitEvent");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    if (!r->recorded)
        return stream_of(stream, "cudaStreamWaitEvent") ? cudaSuccess : cudaErrorInvalidResourceHandle;
    stream_rec *producer = r->stream;
    const unsigned long ticket = r->ticket;
    return enqueue(
        stream, [producer, ticket] { run_until(producer, ticket); }, "cudaStreamWaitEvent", false);
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *user_data)
{
    return enqueue(stream, [fn, user_data] { fn(user_data); }, "cudaLaunchHostFunc", false);
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned flags)
{
    event_rec *e = new event_rec;
    e->flags = flags;
    *event = reinterpret_cast<cudaEvent_t>(live_handle(live_events, e));
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

/* Waits that were queued on the event keep their own copy of what it covered. */
cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    if (!event || !live_events.erase(event))
        return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy(%p): no such event", (void *)event);
    delete reinterpret_cast<event_rec *>(event);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventRecord");
    stream_rec *s = stream_of(stream, "cudaEventRecord");
    if (!r || !s)
        return cudaErrorInvalidResourceHandle;
    r->recorded = true;
    r->stream = s;
    r->ticket = s->issued;
    r->when = std::chrono::steady_clock::now(); /* host time at the record: timings mean nothing here */
    return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventQuery");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    count(&stats::event_queries);
    if (!r->recorded || r->stream->done >= r->ticket)
        return cudaSuccess;
    run_until(r->stream, r->ticket);
    last_error = cudaErrorNotReady;
    return cudaErrorNotReady;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *r = event_of(event, "cudaEventSynchronize");
    if (!r)
        return cudaErrorInvalidResourceHandle;
    count(&stats::host_waits);
    if (r->recorded)
        run_until(r->stream, r->ticket);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    std::lock_guard<std::recursive_mutex> l(work_m);
    event_rec *a = event_of(start, "cudaEventElapsedTime"), *b = event_of(end, "cudaEventElapsedTime");
    if (!a || !b)
        return cudaErrorInvalidResourceHandle;
    if ((a->flags | b->flags) & cudaEventDisableTiming || !a->recorded || !b->recorded)
        return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event without timing or not recorded");
    run_until(a->stream, a->ticket);
    run_until(b->stream, b->ticket);
    *ms = std::chrono::duration<float, std::milli>(b->when - a->when).count();
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    if (!func || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || (size_t)value > OPTIN_SHARED)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute(%p, %d, %d)", func, (int)attr, value);
    /* Per kernel on a GPU; the emulator keeps the largest any kernel was given, so it only
     * catches a launch that no kernel was ever opted in for. */
    std::lock_guard<std::mutex> l(limit_m);
    if ((size_t)value > raised_shared)
        raised_shared = (size_t)value;
    return cudaSuccess;
}

} /* extern "C" */

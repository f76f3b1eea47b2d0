/* The CUDA emulator (see cuda_emu_internal.h): launches and the execution of kernels. */
#include "cuda_emu_internal.h"

#ifndef __x86_64__
#error "the CUDA emulator switches stacks in x86-64 assembly"
#endif

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <sys/mman.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/common_interface_defs.h>
#endif

namespace dk_emu {

const thread_place *self = nullptr;

namespace {

using namespace detail;

/* A fresh zone of shared memory: 0xFF bytes read as NaN (floating point) or -1 (integers). */
unsigned char *fresh_zone(size_t bytes)
{
    unsigned char *p = new unsigned char[bytes ? bytes : 1];
    std::memset(p, 0xFF, bytes);
    return p;
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
    size_t static_bytes = 0; /* the __shared__ arrays' so far */
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
    b.static_bytes = 0;
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

} /* namespace */

using namespace detail;

void launch(const launch_config &c, void (*run)(void *), void (*destroy)(void *), void *job, const void *args,
            size_t args_bytes)
{
    check_kernel_arguments(args, args_bytes);
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
    if (!zone) {
        /* nvcc refuses static shared memory beyond 48 KiB per block at compile time, and a
         * launch whose static and dynamic parts exceed the opt-in limit fails. */
        b.static_bytes += bytes;
        if (b.static_bytes > DEFAULT_SHARED)
            fatal("%zu bytes of static __shared__ arrays in one block, beyond the 48 KiB a GPU allows (ptxas "
                  "refuses it)", b.static_bytes);
        if (b.static_bytes + b.dynamic_bytes > OPTIN_SHARED)
            fatal("%zu bytes of static and %zu of dynamic shared memory in one block, beyond the %zu a GPU allows",
                  b.static_bytes, b.dynamic_bytes, (size_t)OPTIN_SHARED);
        zone.reset(fresh_zone(bytes));
    }
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

} /* namespace dk_emu */

using namespace dk_emu;
using namespace dk_emu::detail;

extern "C" {

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    if (!func || attr != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || (size_t)value > OPTIN_SHARED)
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute(%p, %d, %d)", func, (int)attr, value);
    /* Per kernel on a GPU; the emulator keeps the largest any kernel was given, so it only
     * catches a launch that no kernel was ever opted in for. (A launch names its kernel only
     * as the call in a lambda, cu_to_cpp.sed: a template deduced from the arguments, as most
     * are, has no address to compare with `func`.) */
    std::lock_guard<std::mutex> l(limit_m);
    if ((size_t)value > raised_shared)
        raised_shared = (size_t)value;
    return cudaSuccess;
}

} /* extern "C" */

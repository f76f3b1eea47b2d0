/* Device buffers for dk_comm (see dk_comm.h): NCCL on a dedicated communication stream, or
 * MPI through pinned host staging buffers. Built only with the CUDA backend.
 *
 * Failure policy: an NCCL collective that reports an asynchronous error, or an NCCL call
 * (ncclCommInitRank included) that does not complete within DISTKAN_COMM_TIMEOUT seconds,
 * ends the job from wherever it is noticed
 * (the blocking calls poll; a watchdog thread watches the asynchronous ones): the rank
 * prints one line naming itself, its host and GPU, aborts its communicator (bounded in
 * time, since a wedged NCCL may not return) and calls MPI_Abort. Returning an error code
 * instead would leave the peers inside the collective, which nothing would ever release.
 *
 * Determinism: NCCL sums in an order fixed by the world size, the topology and the NCCL
 * version (ring or tree, the same chunking on every call), so reruns are bit-identical;
 * the staged MPI path has the host path's order. */
#include <cuda_runtime_api.h>
#include <limits.h>
#include <nccl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/dk_cuda.h"
#include "../common/dk_env.h"
#include "dk_comm_impl.h"
#include "dk_deadline.h"

enum {
    MAX_OUTSTANDING = 64, /* started, not yet waited for */
    WATCH_RING = 128,     /* waited-for batches the watchdog tracks */
    BUS_ID_LEN = 32
};
/* Staging chunk: large enough to run PCIe at full speed, small enough to keep pinned memory
 * modest, and far below INT_MAX elements (MPI counts are int). */
#define STAGE_CHUNK ((size_t)32 << 20)
#define DEFAULT_TIMEOUT_S 600.0
/* Joining the communicator gets at least this long, whatever DISTKAN_COMM_TIMEOUT says: a
 * first NCCL start (topology detection, a cold driver) can take tens of seconds, and a
 * short timeout is meant for stalled sums, not for start-up. */
#define MIN_INIT_TIMEOUT_S 120.0
#define POLL_NS 50000L            /* blocking calls: 50 us between looks */
#define WATCHDOG_NS 100000000L    /* the watchdog: 100 ms */
#define ABORT_GRACE_S 10.0        /* how long ncclCommAbort may take before MPI_Abort anyway */

struct dk_comm_device {
    dk_comm_backend backend;
    int device;
    char host[MPI_MAX_PROCESSOR_NAME];
    double timeout_s;
    cudaStream_t compute;
    void *stage; /* DK_COMM_MPI: STAGE_CHUNK bytes of pinned staging, from enable on */
    /* DK_COMM_NCCL */
    ncclComm_t nccl;
    cudaStream_t stream;          /* the communication stream */
    cudaEvent_t computed;         /* compute stream's progress, recorded before each reduction */
    cudaEvent_t reduced;          /* communication stream's progress */
    int outstanding;              /* started since the last wait */
    double first_start;           /* monotonic time of the first of those */
    int failed;                   /* a call returned an error: abort NCCL instead of destroying it */
    atomic_int aborting;          /* a thread is ending the job: the others stand still */
    /* The watchdog: started reductions, one event per waited-for batch, oldest first. */
    pthread_t watchdog;
    int watchdog_running;
    atomic_int stop;
    pthread_mutex_t lock; /* guards the ring and `nccl` against the watchdog */
    cudaEvent_t ring[WATCH_RING];
    double ring_time[WATCH_RING];
    int ring_head, ring_count, ring_events;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void nap(long ns)
{
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&t, NULL);
}

static void nccl_version(char *out, size_t n)
{
    int v = 0;
    ncclGetVersion(&v);
    snprintf(out, n, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

/* "<NCCL's name for r>: <its last message>", the message left out when empty. No
 * communicator is passed (NCCL documents the argument as unused, NULL allowed): the one at
 * hand may be mid-abort. */
static void nccl_text(char *out, size_t n, ncclResult_t r)
{
    const char *last = ncclGetLastError(NULL);
    snprintf(out, n, "%s%s%s", ncclGetErrorString(r), last && *last ? ": " : "", last && *last ? last : "");
}

/* --- ending the job ------------------------------------------------------------------------ */

static struct {
    ncclComm_t comm;
    atomic_int done;
} aborter;

static void *abort_main(void *arg)
{
    (void)arg;
    ncclCommAbort(aborter.comm);
    atomic_store(&aborter.done, 1);
    return NULL;
}

/* ncclCommAbort stops NCCL's kernels and proxy threads, but a wedged communicator may not
 * return: give it ABORT_GRACE_S on a helper thread, then go on regardless. */
static void abort_nccl_bounded(struct dk_comm_device *d)
{
    pthread_mutex_lock(&d->lock);
    ncclComm_t comm = d->nccl;
    d->nccl = NULL;
    pthread_mutex_unlock(&d->lock);
    if (!comm)
        return;
    aborter.comm = comm;
    atomic_store(&aborter.done, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, abort_main, NULL) != 0) {
        ncclCommAbort(comm);
        return;
    }
    pthread_detach(t);
    for (double t0 = now_s(); !atomic_load(&aborter.done) && now_s() - t0 < ABORT_GRACE_S;)
        nap(1000000L);
}

/* Prints "distkan: rank R (host H, GPU G): <text>", aborts NCCL and the job. Called by the
 * main thread, the watchdog or the initialisation deadline, whichever notices first; the
 * others wait here to be killed. d is c->dev once the device communicator is enabled. */
static _Noreturn void end_job_of(dk_comm *c, struct dk_comm_device *d, const char *text)
{
    if (atomic_exchange(&d->aborting, 1)) {
        for (double t0 = now_s(); now_s() - t0 < 60.0;)
            nap(10000000L);
        _Exit(1);
    }
    fflush(stdout);
    fprintf(stderr, "distkan: rank %d (host %s, GPU %d): %s\n", c->rank, d->host, d->device, text);
    fflush(stderr);
    abort_nccl_bounded(d);
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    /* From a helper thread (watchdog, deadline) this breaks MPI_THREAD_FUNNELED's letter;
     * MPI_Abort only asks the runtime to kill the job, which is what is wanted, and _Exit
     * follows if it returns. */
    /* MPI_Abort may itself block on a wedged runtime: SIGALRM's default action ends the
     * process after 30 s whatever happens. */
    alarm(30);
    if (initialised && !finalised)
        MPI_Abort(c->world, 1);
    _Exit(1);
}

static _Noreturn void end_job(dk_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void end_job(dk_comm *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    end_job_of(c, c->dev, text);
}

/* The communicator for the main thread's next NCCL call. Once the watchdog has begun
 * aborting it (d->nccl cleared under the lock, ncclCommAbort on a helper thread), using
 * it would touch freed memory: end here instead, waiting to be killed. The copy narrows
 * the window to the call itself; holding the lock across ncclAllReduce is no option, since
 * its first call connects to the peers and may block on a dead one, and the watchdog,
 * which must notice that, needs the lock. */
static ncclComm_t live_comm(dk_comm *c, const char *op)
{
    struct dk_comm_device *d = c->dev;
    pthread_mutex_lock(&d->lock);
    ncclComm_t comm = atomic_load(&d->aborting) ? NULL : d->nccl;
    pthread_mutex_unlock(&d->lock);
    if (!comm)
        end_job(c, "NCCL %s interrupted: the communicator is being aborted", op);
    return comm;
}

static void check_async(dk_comm *c, const char *op)
{
    struct dk_comm_device *d = c->dev;
    /* Under the lock (the query does not block), so that an abort cannot free the
     * communicator in the middle of it. */
    pthread_mutex_lock(&d->lock);
    int gone = atomic_load(&d->aborting) || !d->nccl;
    ncclResult_t async = ncclSuccess;
    if (!gone) {
        ncclResult_t r = ncclCommGetAsyncError(d->nccl, &async);
        if (r != ncclSuccess)
            async = r;
    }
    pthread_mutex_unlock(&d->lock);
    if (gone)
        end_job(c, "NCCL %s interrupted: the communicator is being aborted", op); /* waits to be killed */
    if (async != ncclSuccess && async != ncclInProgress) {
        char text[600];
        nccl_text(text, sizeof text, async);
        end_job(c, "NCCL %s failed: %s", op, text);
    }
}

/* Waits (polling, never blocking in the driver) until the communication stream has done
 * everything queued so far, watching NCCL's asynchronous error and the timeout. */
static dk_err await_stream(dk_comm *c, const char *op)
{
    struct dk_comm_device *d = c->dev;
    cudaError_t recorded = cudaEventRecord(d->reduced, d->stream);
    if (recorded != cudaSuccess) {
        d->failed = 1;
        DK_CUDA_CALL(recorded, "recording the end of an NCCL call");
    }
    double t0 = now_s();
    for (;;) {
        cudaError_t e = cudaEventQuery(d->reduced);
        if (e == cudaSuccess)
            break;
        if (e == cudaErrorNotReady) {
            /* The runtime keeps "not ready" as this thread's last error, and the next
             * launch check (cudaGetLastError) would report it as that kernel's failure:
             * every NCCL run would stop at its first optimiser step. */
            (void)cudaGetLastError();
        } else {
            d->failed = 1;
            DK_CUDA_CALL(e, "waiting for an NCCL call");
        }
        check_async(c, op);
        if (now_s() - t0 > d->timeout_s)
            end_job(c, "NCCL %s did not complete in %.0f s: a peer may have died (DISTKAN_COMM_TIMEOUT)", op,
                    d->timeout_s);
        nap(POLL_NS);
    }
    check_async(c, op);
    return DK_OK;
}

/* The communication stream waits (on the device) for the work queued so far on the
 * compute stream. */
static dk_err after_compute(struct dk_comm_device *d)
{
    cudaError_t e = cudaEventRecord(d->computed, d->compute);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(d->stream, d->computed, 0);
    if (e != cudaSuccess)
        d->failed = 1;
    DK_CUDA_CALL(e, "ordering the communication stream after the compute stream");
    return DK_OK;
}

/* --- the watchdog ---------------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
    dk_comm *c = arg;
    struct dk_comm_device *d = c->dev;
    char text[800];
    cudaError_t on_device = cudaSetDevice(d->device);
    if (on_device != cudaSuccess) {
        /* Its event queries would fail and read as "done": the job would go unwatched. */
        snprintf(text, sizeof text, "the NCCL watchdog could not select GPU %d: %s", d->device,
                 cudaGetErrorString(on_device));
        end_job(c, "%s", text);
    }
    while (!atomic_load(&d->stop)) {
        nap(WATCHDOG_NS);
        int fail = 0;
        pthread_mutex_lock(&d->lock);
        if (atomic_load(&d->aborting) || !d->nccl) {
            pthread_mutex_unlock(&d->lock);
            break;
        }
        ncclResult_t async = ncclSuccess;
        ncclResult_t r = ncclCommGetAsyncError(d->nccl, &async);
        if (r != ncclSuccess)
            async = r;
        if (async != ncclSuccess && async != ncclInProgress) {
            char nt[600];
            nccl_text(nt, sizeof nt, async);
            snprintf(text, sizeof text, "NCCL all-reduce failed: %s", nt);
            fail = 1;
        }
        while (!fail && d->ring_count > 0) {
            cudaError_t e = cudaEventQuery(d->ring[d->ring_head]);
            if (e == cudaErrorNotReady) {
                (void)cudaGetLastError(); /* not an error: see await_stream */
                double age = now_s() - d->ring_time[d->ring_head];
                if (age > d->timeout_s) {
                    snprintf(text, sizeof text,
                             "NCCL all-reduce (started asynchronously) did not complete in %.0f s: a peer may have "
                             "died (DISTKAN_COMM_TIMEOUT)",
                             d->timeout_s);
                    fail = 1;
                }
                break;
            }
            /* Done, or a CUDA error that the main thread's next call reports with context. */
            d->ring_head = (d->ring_head + 1) % WATCH_RING;
            d->ring_count--;
        }
        pthread_mutex_unlock(&d->lock);
        if (fail)
            end_job(c, "%s", text);
    }
    return NULL;
}

/* Hands the batch of reductions started since the last wait to the watchdog. A full ring
 * (the host far ahead of the GPU) only skips watching this batch: the older ones stand for it. */
static void watch(struct dk_comm_device *d, double started)
{
    pthread_mutex_lock(&d->lock);
    if (d->ring_count < d->ring_events) {
        int slot = (d->ring_head + d->ring_count) % WATCH_RING;
        if (cudaEventRecord(d->ring[slot], d->stream) == cudaSuccess) {
            d->ring_time[slot] = started;
            d->ring_count++;
        }
    }
    pthread_mutex_unlock(&d->lock);
}

/* --- set-up and tear-down ---------------------------------------------------------------- */

/* MPI_MIN over ranks of (failed ? rank : size): the lowest failing rank, or size if none. */
static dk_err lowest_failure(dk_comm *c, int failed, int *lowest)
{
    *lowest = failed ? c->rank : c->size;
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, lowest, 1, MPI_INT, MPI_MIN, c->world));
    return DK_OK;
}

static dk_err read_timeout(double *out)
{
    return dk_env_seconds("DISTKAN_COMM_TIMEOUT", DEFAULT_TIMEOUT_S, false, out);
}

/* NCCL before 2.30 refuses two ranks on one GPU, 2.30 and later without
 * NCCL_MULTI_RANK_GPU_ENABLE=1 too: find such a pair first, on every rank alike, and say
 * what to do instead of NCCL's "Duplicate GPU detected". */
static dk_err check_gpu_sharing(dk_comm *c, struct dk_comm_device *d)
{
    char bus[BUS_ID_LEN], where[160];
    if (dk_cuda_bus_id(d->device, bus, sizeof bus) != DK_OK) {
        dk_error_clear(); /* a name for the comparison is all that is needed */
        snprintf(bus, sizeof bus, "device %d", d->device);
    }
    int a = -1, b = -1;
    DK_CALL(dk_comm_find_shared(c, bus, &a, &b, where, sizeof where));
    int version = 0;
    ncclGetVersion(&version);
    const char *env = getenv("NCCL_MULTI_RANK_GPU_ENABLE");
    if (a >= 0 && !(version >= 23000 && env && !strcmp(env, "1"))) {
        char v[32];
        nccl_version(v, sizeof v);
        DK_ERROR(DK_ERR_USAGE,
                 "ranks %d and %d share GPU %s, which NCCL %s refuses (\"Duplicate GPU detected\"; NCCL 2.30 and "
                 "later allow it with NCCL_MULTI_RANK_GPU_ENABLE=1): [dist] comm = nccl needs one rank per GPU; set "
                 "[dist] comm = mpi to stage device buffers through host memory instead",
                 a, b, where, v);
    }
    return DK_OK;
}

/* Streams, events and the watchdog's events: everything local, before any NCCL call. */
static dk_err create_nccl_resources(struct dk_comm_device *d)
{
    DK_CUDA_CALL(cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking), "creating the communication stream");
    DK_CUDA_CALL(cudaEventCreateWithFlags(&d->computed, cudaEventDisableTiming), "cudaEventCreate");
    DK_CUDA_CALL(cudaEventCreateWithFlags(&d->reduced, cudaEventDisableTiming), "cudaEventCreate");
    for (; d->ring_events < WATCH_RING; d->ring_events++)
        DK_CUDA_CALL(cudaEventCreateWithFlags(&d->ring[d->ring_events], cudaEventDisableTiming), "cudaEventCreate");
    return DK_OK;
}

struct init_guard {
    dk_comm *c;
    struct dk_comm_device *d;
};

static double init_timeout(const struct dk_comm_device *d)
{
    return d->timeout_s > MIN_INIT_TIMEOUT_S ? d->timeout_s : MIN_INIT_TIMEOUT_S;
}

/* ncclCommInitRank has no time limit: a rank that died after the unique id was broadcast,
 * or one that cannot reach the others, would leave every other rank waiting silently. */
static void init_expired(void *arg)
{
    struct init_guard *g = arg;
    char v[32], text[512];
    nccl_version(v, sizeof v);
    snprintf(text, sizeof text,
             "ncclCommInitRank (NCCL %s, %d ranks) did not complete in %g s (DISTKAN_COMM_TIMEOUT, at least %g s "
             "for start-up): a rank may have died, or the ranks cannot reach each other (see NCCL_SOCKET_IFNAME, "
             "NCCL_DEBUG=INFO)",
             v, g->c->size, init_timeout(g->d), MIN_INIT_TIMEOUT_S);
    end_job_of(g->c, g->d, text);
}

static dk_err init_nccl(dk_comm *c, struct dk_comm_device *d)
{
    DK_CALL(check_gpu_sharing(c, d));
    int lowest = 0;
    dk_err local = create_nccl_resources(d);
    DK_CALL(lowest_failure(c, local != DK_OK, &lowest));
    if (local != DK_OK)
        return local;
    if (lowest < c->size)
        DK_ERROR(DK_ERR_INTERNAL, "setting up the communication stream failed on rank %d (see its message)", lowest);

    struct {
        int status;
        ncclUniqueId id;
    } id;
    memset(&id, 0, sizeof id);
    char text[600];
    if (c->rank == 0)
        id.status = (int)ncclGetUniqueId(&id.id);
    MPI_CHECK(MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, c->world));
    if (id.status != ncclSuccess) {
        nccl_text(text, sizeof text, (ncclResult_t)id.status);
        DK_ERROR(DK_ERR_MPI, "ncclGetUniqueId failed on rank 0: %s", text);
    }

    char v[32];
    nccl_version(v, sizeof v);
    struct init_guard guard = {c, d};
    dk_deadline *deadline = NULL;
    if (dk_deadline_start(&deadline, init_timeout(d), init_expired, &guard) != DK_OK) {
        /* Going on untimed beats leaving the peers alone inside the collective. */
        fprintf(stderr, "distkan: rank %d: warning: ncclCommInitRank runs without a time limit: %s\n", c->rank,
                dk_error_message());
        dk_error_clear();
    }
    /* Into a local: the deadline's handler reads d->nccl, which must not be a half-made
     * communicator. */
    ncclComm_t comm = NULL;
    ncclResult_t r = ncclCommInitRank(&comm, c->size, id.id, c->rank);
    dk_deadline_stop(&deadline);
    if (r != ncclSuccess)
        nccl_text(text, sizeof text, r);
    pthread_mutex_lock(&d->lock);
    d->nccl = r == ncclSuccess ? comm : NULL;
    pthread_mutex_unlock(&d->lock);
    DK_CALL(lowest_failure(c, r != ncclSuccess, &lowest));
    if (lowest < c->size) {
        /* A rank that joined cannot destroy collectively with peers that failed. */
        if (d->nccl)
            abort_nccl_bounded(d);
        if (r != ncclSuccess)
            DK_ERROR(DK_ERR_MPI,
                     "ncclCommInitRank (NCCL %s, %d ranks) failed: %s; if ranks share a GPU or NCCL cannot run here, "
                     "set [dist] comm = mpi to stage device buffers through host memory",
                     v, c->size, text);
        DK_ERROR(DK_ERR_MPI, "NCCL initialisation failed on rank %d (see its message)", lowest);
    }
    return DK_OK;
}

static void release(dk_comm *c, struct dk_comm_device *d)
{
    if (d->watchdog_running) {
        atomic_store(&d->stop, 1);
        pthread_join(d->watchdog, NULL);
        d->watchdog_running = 0;
    }
    if (d->nccl) {
        if (d->failed || atomic_load(&d->aborting)) {
            abort_nccl_bounded(d);
        } else {
            /* Everything queued on the communication stream (started reductions never
             * waited for included) finishes first, under the usual timeout. */
            if (c->dev == d)
                (void)await_stream(c, "all-reduce");
            ncclCommDestroy(d->nccl);
            d->nccl = NULL;
        }
    }
    for (int i = 0; i < d->ring_events; i++)
        cudaEventDestroy(d->ring[i]);
    if (d->computed)
        cudaEventDestroy(d->computed);
    if (d->reduced)
        cudaEventDestroy(d->reduced);
    if (d->stream)
        cudaStreamDestroy(d->stream);
    dk_cuda_host_free(d->stage);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

dk_err dk_comm_device_enable(dk_comm *c, dk_comm_backend backend, void *compute_stream)
{
    if (backend != DK_COMM_MPI && backend != DK_COMM_NCCL)
        DK_ERROR(DK_ERR_INTERNAL, "unknown communication backend %d", (int)backend);
    struct dk_comm_device *d;
    DK_CALL(DK_CALLOC(d, 1, "device communicator"));
    pthread_mutex_init(&d->lock, NULL);
    d->backend = backend;
    d->compute = (cudaStream_t)compute_stream;
    int len = 0;
    MPI_Get_processor_name(d->host, &len);
    dk_err err = read_timeout(&d->timeout_s);
    if (err == DK_OK && cudaGetDevice(&d->device) != cudaSuccess)
        err = dk_cuda_check((int)cudaGetLastError(), __FILE__, __LINE__, "cudaGetDevice");
    /* The staging buffer at its full size now: growing it later would page-lock memory
     * (and cudaFreeHost synchronise the device) inside a training step. */
    if (err == DK_OK && backend == DK_COMM_MPI)
        err = dk_cuda_host_alloc(&d->stage, STAGE_CHUNK, "the MPI staging buffer of device collectives");
    /* Each rank's environment is its own: agree before anything collective. */
    int lowest = 0;
    dk_err agreed = lowest_failure(c, err != DK_OK, &lowest);
    if (err == DK_OK && agreed == DK_OK && lowest < c->size)
        err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "rank %d could not use its GPU (see its message)", lowest);
    if (err == DK_OK)
        err = agreed;
    if (err == DK_OK && backend == DK_COMM_NCCL)
        err = init_nccl(c, d);
    if (err == DK_OK && backend == DK_COMM_NCCL) {
        c->dev = d; /* the watchdog reads c->dev */
        if (pthread_create(&d->watchdog, NULL, watchdog_main, c) == 0)
            d->watchdog_running = 1;
        else
            fprintf(stderr, "distkan: rank %d: warning: no NCCL watchdog thread; asynchronous all-reduces are not "
                            "timed\n", c->rank);
    }
    if (err != DK_OK) {
        c->dev = NULL;
        release(c, d);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    c->dev = d;
    return DK_OK;
}

void dk_comm_device_release(dk_comm *c)
{
    struct dk_comm_device *d = c->dev;
    if (!d)
        return;
    release(c, d);
    c->dev = NULL;
}

void dk_comm_device_abort(dk_comm *c)
{
    struct dk_comm_device *d = c->dev;
    if (!d || atomic_exchange(&d->aborting, 1))
        return;
    abort_nccl_bounded(d);
}

dk_comm_backend dk_comm_device_kind(const dk_comm *c) { return c->dev->backend; }

/* --- MPI through pinned host memory ----------------------------------------------------- */

/* Chunk by chunk: device -> staging on the compute stream (after the work that produced the
 * buffer), MPI on the host, staging -> device. The chunking is a pure function of the count,
 * so every rank issues the same calls. */
static dk_err staged_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    if (c->size == 1 || count == 0)
        return DK_OK; /* the sum over one rank is the buffer itself */
    size_t elem = dk_dtype_size(dtype), per = STAGE_CHUNK / elem;
    char *p = buf;
    for (size_t done = 0; done < count;) {
        size_t n = count - done < per ? count - done : per;
        DK_CUDA_CALL(cudaMemcpyAsync(d->stage, p + done * elem, n * elem, cudaMemcpyDeviceToHost, d->compute),
                     "copy to the MPI staging buffer");
        DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy to the MPI staging buffer");
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, d->stage, (int)n, dtype == DK_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM,
                                c->world));
        /* The next chunk's copy out is queued behind this copy in, so the staging buffer is
         * not overwritten early. */
        DK_CUDA_CALL(cudaMemcpyAsync(p + done * elem, d->stage, n * elem, cudaMemcpyHostToDevice, d->compute),
                     "copy from the MPI staging buffer");
        done += n;
    }
    DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy from the MPI staging buffer");
    return DK_OK;
}

static dk_err staged_broadcast(dk_comm *c, void *buf, size_t bytes, int root)
{
    struct dk_comm_device *d = c->dev;
    if (c->size == 1 || bytes == 0)
        return DK_OK;
    char *p = buf;
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < STAGE_CHUNK ? bytes - done : STAGE_CHUNK;
        if (c->rank == root) {
            DK_CUDA_CALL(cudaMemcpyAsync(d->stage, p + done, n, cudaMemcpyDeviceToHost, d->compute),
                         "copy to the MPI staging buffer");
        }
        DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy to/from the MPI staging buffer");
        MPI_CHECK(MPI_Bcast(d->stage, (int)n, MPI_BYTE, root, c->world));
        if (c->rank != root) {
            DK_CUDA_CALL(cudaMemcpyAsync(p + done, d->stage, n, cudaMemcpyHostToDevice, d->compute),
                         "copy from the MPI staging buffer");
        }
        done += n;
    }
    DK_CUDA_CALL(cudaStreamSynchronize(d->compute), "copy from the MPI staging buffer");
    return DK_OK;
}

/* --- the collectives ------------------------------------------------------------------------ */

static dk_err nccl_allreduce_enqueue(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    dk_err err = after_compute(d);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    ncclComm_t comm = live_comm(c, "all-reduce");
    ncclResult_t r = ncclAllReduce(buf, buf, count, dtype == DK_F64 ? ncclDouble : ncclFloat, ncclSum, comm, d->stream);
    if (r != ncclSuccess) {
        /* The peers may already be inside this collective: returning would strand them. */
        char text[600];
        nccl_text(text, sizeof text, r);
        end_job(c, "NCCL all-reduce of %zu values failed: %s", count, text);
    }
    return DK_OK;
}

dk_err dk_comm_device_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    if (d->backend == DK_COMM_MPI) {
        dk_err err = staged_allreduce(c, buf, count, dtype);
        if (err != DK_OK)
            d->failed = 1;
        DK_CALL(err);
        return DK_OK;
    }
    if (count == 0)
        return DK_OK;
    DK_CALL(nccl_allreduce_enqueue(c, buf, count, dtype));
    /* Complete on return, so the compute stream needs no extra wait for it. */
    DK_CALL(await_stream(c, "all-reduce"));
    d->outstanding = 0;
    return DK_OK;
}

dk_err dk_comm_device_broadcast(dk_comm *c, void *buf, size_t bytes, int root)
{
    struct dk_comm_device *d = c->dev;
    if (root < 0 || root >= c->size)
        DK_ERROR(DK_ERR_INTERNAL, "broadcast from rank %d of %d", root, c->size);
    if (d->backend == DK_COMM_MPI) {
        dk_err err = staged_broadcast(c, buf, bytes, root);
        if (err != DK_OK)
            d->failed = 1;
        DK_CALL(err);
        return DK_OK;
    }
    if (bytes == 0)
        return DK_OK;
    DK_CALL(after_compute(d));
    ncclResult_t r = ncclBroadcast(buf, buf, bytes, ncclUint8, root, live_comm(c, "broadcast"), d->stream);
    if (r != ncclSuccess) {
        char text[600];
        nccl_text(text, sizeof text, r);
        end_job(c, "NCCL broadcast of %zu bytes failed: %s", bytes, text);
    }
    DK_CALL(await_stream(c, "broadcast"));
    d->outstanding = 0;
    return DK_OK;
}

dk_err dk_comm_device_start(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    if (d->backend == DK_COMM_MPI) {
        DK_CALL(dk_comm_device_allreduce(c, buf, count, dtype));
        return DK_OK;
    }
    if (d->outstanding >= MAX_OUTSTANDING)
        DK_ERROR(DK_ERR_INTERNAL, "more than %d all-reduces started without dk_comm_allreduce_wait", MAX_OUTSTANDING);
    if (count == 0)
        return DK_OK;
    if (d->outstanding == 0)
        d->first_start = now_s();
    DK_CALL(nccl_allreduce_enqueue(c, buf, count, dtype));
    d->outstanding++;
    return DK_OK;
}

dk_err dk_comm_device_wait(dk_comm *c)
{
    struct dk_comm_device *d = c->dev;
    if (d->backend == DK_COMM_MPI || d->outstanding == 0)
        return DK_OK;
    cudaError_t e = cudaEventRecord(d->reduced, d->stream);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(d->compute, d->reduced, 0);
    if (e != cudaSuccess)
        d->failed = 1;
    DK_CUDA_CALL(e, "ordering the compute stream after the communication stream");
    watch(d, d->first_start);
    d->outstanding = 0;
    check_async(c, "all-reduce");
    return DK_OK;
}

/* How the device communicator fails (see dk_comm_device_impl.h): an NCCL collective that
 * reports an asynchronous error, or an NCCL call (ncclCommInitRank included) that does not
 * complete within DISTKAN_COMM_TIMEOUT seconds, ends the job from wherever it is noticed
 * (the blocking calls poll; a watchdog thread watches the asynchronous ones): the rank
 * prints one line naming itself, its host and GPU, aborts its communicator (bounded in
 * time, since a wedged NCCL may not return) and calls MPI_Abort. Returning an error code
 * instead would leave the peers inside the collective, which nothing would ever release. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/dk_cuda.h"
#include "dk_comm_device_impl.h"

#define POLL_NS 50000L         /* blocking calls: 50 us between looks */
#define WATCHDOG_NS 100000000L /* the watchdog: 100 ms */
#define ABORT_GRACE_S 10.0     /* how long ncclCommAbort may take before MPI_Abort anyway */
/* How long ncclCommDestroy may take at the end of a run. It waits for the peers on the
 * node; a peer that failed after its last all-reduce would hold it for ever. */
#define DESTROY_GRACE_S 60.0

double dk_comm_now_s(void)
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

void dk_nccl_version(char *out, size_t n)
{
    int v = 0;
    ncclGetVersion(&v);
    snprintf(out, n, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

/* "<NCCL's name for r>: <its last message>", the message left out when empty. No
 * communicator is passed (NCCL documents the argument as unused, NULL allowed): the one at
 * hand may be mid-abort. */
void dk_nccl_text(char *out, size_t n, ncclResult_t r)
{
    const char *last = ncclGetLastError(NULL);
    snprintf(out, n, "%s%s%s", ncclGetErrorString(r), last && *last ? ": " : "", last && *last ? last : "");
}

/* --- ending the job ------------------------------------------------------------------------ */

/* One NCCL call that a wedged communicator may keep from returning (ncclCommAbort,
 * ncclCommDestroy), run on a helper thread. One at a time: the communicator is taken out
 * of d first, so no second call finds one. */
static struct {
    ncclResult_t (*call)(ncclComm_t);
    ncclComm_t comm;
    atomic_int done;
} bounded;

static void *bounded_main(void *arg)
{
    (void)arg;
    bounded.call(bounded.comm);
    atomic_store(&bounded.done, 1);
    return NULL;
}

/* Runs call on d's communicator (cleared first) for at most grace_s; whether it returned. */
static bool run_bounded(struct dk_comm_device *d, ncclResult_t (*call)(ncclComm_t), double grace_s)
{
    pthread_mutex_lock(&d->lock);
    ncclComm_t comm = d->nccl;
    d->nccl = NULL;
    pthread_mutex_unlock(&d->lock);
    if (!comm)
        return true;
    bounded.call = call;
    bounded.comm = comm;
    atomic_store(&bounded.done, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, bounded_main, NULL) != 0) {
        call(comm);
        return true;
    }
    pthread_detach(t);
    for (double t0 = dk_comm_now_s(); !atomic_load(&bounded.done) && dk_comm_now_s() - t0 < grace_s;)
        nap(1000000L);
    return atomic_load(&bounded.done);
}

bool dk_nccl_abort_bounded(struct dk_comm_device *d) { return run_bounded(d, ncclCommAbort, ABORT_GRACE_S); }

bool dk_nccl_destroy_bounded(struct dk_comm_device *d) { return run_bounded(d, ncclCommDestroy, DESTROY_GRACE_S); }

/* Prints "distkan: rank R (host H, GPU G): <text>", aborts NCCL and the job. Called by the
 * main thread, the watchdog or the initialisation deadline, whichever notices first; the
 * others wait here to be killed. d is c->dev once the device communicator is enabled. */
_Noreturn void dk_nccl_end_job_of(dk_comm *c, struct dk_comm_device *d, const char *text)
{
    if (atomic_exchange(&d->aborting, 1)) {
        for (double t0 = dk_comm_now_s(); dk_comm_now_s() - t0 < 60.0;)
            nap(10000000L);
        _Exit(1);
    }
    fflush(stdout);
    fprintf(stderr, "distkan: rank %d (host %s, GPU %d): %s\n", c->rank, d->host, d->device, text);
    fflush(stderr);
    dk_nccl_abort_bounded(d);
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

_Noreturn void dk_nccl_end_job(dk_comm *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    dk_nccl_end_job_of(c, c->dev, text);
}

/* The communicator for the main thread's next NCCL call. Once the watchdog has begun
 * aborting it (d->nccl cleared under the lock, ncclCommAbort on a helper thread), using
 * it would touch freed memory: end here instead, waiting to be killed. The copy narrows
 * the window to the call itself; holding the lock across ncclAllReduce is no option, since
 * its first call connects to the peers and may block on a dead one, and the watchdog,
 * which must notice that, needs the lock. */
ncclComm_t dk_nccl_live_comm(dk_comm *c, const char *op)
{
    struct dk_comm_device *d = c->dev;
    pthread_mutex_lock(&d->lock);
    ncclComm_t comm = atomic_load(&d->aborting) ? NULL : d->nccl;
    pthread_mutex_unlock(&d->lock);
    if (!comm)
        dk_nccl_end_job(c, "NCCL %s interrupted: the communicator is being aborted", op);
    return comm;
}

void dk_nccl_check_async(dk_comm *c, const char *op)
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
        dk_nccl_end_job(c, "NCCL %s interrupted: the communicator is being aborted", op); /* waits to be killed */
    if (async != ncclSuccess && async != ncclInProgress) {
        char text[600];
        dk_nccl_text(text, sizeof text, async);
        dk_nccl_end_job(c, "NCCL %s failed: %s", op, text);
    }
}

/* Waits (polling, never blocking in the driver) until the communication stream has done
 * everything queued so far, watching NCCL's asynchronous error and the timeout. */
dk_err dk_nccl_await_stream(dk_comm *c, const char *op)
{
    struct dk_comm_device *d = c->dev;
    cudaError_t recorded = cudaEventRecord(d->reduced, d->stream);
    if (recorded != cudaSuccess) {
        d->failed = 1;
        DK_CUDA_CALL(recorded, "recording the end of an NCCL call");
    }
    double t0 = dk_comm_now_s();
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
        dk_nccl_check_async(c, op);
        if (dk_comm_now_s() - t0 > d->timeout_s)
            dk_nccl_end_job(c, "NCCL %s did not complete in %.0f s: a peer may have died (DISTKAN_COMM_TIMEOUT)", op,
                    d->timeout_s);
        nap(POLL_NS);
    }
    dk_nccl_check_async(c, op);
    return DK_OK;
}

/* --- the watchdog ---------------------------------------------------------------------------- */

void *dk_nccl_watchdog_main(void *arg)
{
    dk_comm *c = arg;
    struct dk_comm_device *d = c->dev;
    char text[800];
    cudaError_t on_device = cudaSetDevice(d->device);
    if (on_device != cudaSuccess) {
        /* Its event queries would fail and read as "done": the job would go unwatched. */
        snprintf(text, sizeof text, "the NCCL watchdog could not select GPU %d: %s", d->device,
                 cudaGetErrorString(on_device));
        dk_nccl_end_job(c, "%s", text);
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
            dk_nccl_text(nt, sizeof nt, async);
            snprintf(text, sizeof text, "NCCL all-reduce failed: %s", nt);
            fail = 1;
        }
        while (!fail && d->ring_count > 0) {
            cudaError_t e = cudaEventQuery(d->ring[d->ring_head]);
            if (e == cudaErrorNotReady) {
                (void)cudaGetLastError(); /* not an error: see await_stream */
                double age = dk_comm_now_s() - d->ring_time[d->ring_head];
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
            dk_nccl_end_job(c, "%s", text);
    }
    return NULL;
}

/* Hands the batch of reductions started since the last wait to the watchdog. A full ring
 * (the host far ahead of the GPU) only skips watching this batch: the older ones stand for it. */
void dk_nccl_watch(struct dk_comm_device *d, double started)
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

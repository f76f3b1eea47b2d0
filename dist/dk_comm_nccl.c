/* Device buffers for dk_comm (see dk_comm.h): set-up, tear-down and the collectives, with
 * NCCL on a dedicated communication stream, or MPI staged through pinned host memory
 * (dk_comm_staged_cuda.c). An NCCL failure or stall ends the job (dk_comm_watch_nccl.c).
 * Built only with the CUDA backend.
 *
 * Determinism: NCCL sums in an order fixed by the world size, the topology and the NCCL
 * version (ring or tree, the same chunking on every call), so reruns are bit-identical;
 * the staged MPI path has the host path's order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dk_cuda.h"
#include "../common/dk_env.h"
#include "dk_comm_device_impl.h"
#include "dk_deadline.h"

enum {
    MAX_OUTSTANDING = 64, /* started, not yet waited for */
    BUS_ID_LEN = 32
};
/* Joining the communicator gets at least this long, whatever DISTKAN_COMM_TIMEOUT says: a
 * first NCCL start (topology detection, a cold driver) can take tens of seconds, and a
 * short timeout is meant for stalled sums, not for start-up. */
#define MIN_INIT_TIMEOUT_S 120.0

/* --- set-up and tear-down ---------------------------------------------------------------- */

/* MPI_MIN over ranks of (failed ? rank : size): the lowest failing rank, or size if none. */
static dk_err lowest_failure(dk_comm *c, int failed, int *lowest)
{
    *lowest = failed ? c->rank : c->size;
    MPI_CHECK_WATCHED(c, "MPI_Allreduce (a minimum)",
                      MPI_Allreduce(MPI_IN_PLACE, lowest, 1, MPI_INT, MPI_MIN, c->world));
    return DK_OK;
}

static dk_err read_timeout(double *out)
{
    return dk_env_seconds("DISTKAN_COMM_TIMEOUT", DK_COMM_TIMEOUT_DEFAULT_S, false, out);
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
        dk_nccl_version(v, sizeof v);
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
    dk_nccl_version(v, sizeof v);
    snprintf(text, sizeof text,
             "ncclCommInitRank (NCCL %s, %d ranks) did not complete in %g s (DISTKAN_COMM_TIMEOUT, at least %g s "
             "for start-up): a rank may have died, or the ranks cannot reach each other (see NCCL_SOCKET_IFNAME, "
             "NCCL_DEBUG=INFO)",
             v, g->c->size, init_timeout(g->d), MIN_INIT_TIMEOUT_S);
    dk_nccl_end_job_of(g->c, g->d, text);
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
    MPI_CHECK_WATCHED(c, "MPI_Bcast (the NCCL unique id)", MPI_Bcast(&id, (int)sizeof id, MPI_BYTE, 0, c->world));
    if (id.status != ncclSuccess) {
        dk_nccl_text(text, sizeof text, (ncclResult_t)id.status);
        DK_ERROR(DK_ERR_MPI, "ncclGetUniqueId failed on rank 0: %s", text);
    }

    char v[32];
    dk_nccl_version(v, sizeof v);
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
        dk_nccl_text(text, sizeof text, r);
    pthread_mutex_lock(&d->lock);
    d->nccl = r == ncclSuccess ? comm : NULL;
    pthread_mutex_unlock(&d->lock);
    DK_CALL(lowest_failure(c, r != ncclSuccess, &lowest));
    if (lowest < c->size) {
        /* A rank that joined cannot destroy collectively with peers that failed. */
        if (d->nccl)
            dk_nccl_abort_bounded(d);
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
    bool returned = true;
    if (d->nccl) {
        if (d->failed || atomic_load(&d->aborting)) {
            returned = dk_nccl_abort_bounded(d);
        } else {
            /* Everything queued on the communication stream (started reductions never
             * waited for included) finishes first, under the usual timeout. */
            if (c->dev == d)
                (void)dk_nccl_await_stream(c, "all-reduce");
            returned = dk_nccl_destroy_bounded(d);
            if (!returned)
                fprintf(stderr, "distkan: warning: rank %d (host %s, GPU %d): ncclCommDestroy did not return within a "
                                "minute (a peer on this node failed?); the process ends without it\n",
                        c->rank, d->host, d->device);
        }
    }
    if (!returned) { /* NCCL may still be using them: left to the process's exit */
        free(d);
        return;
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
        if (pthread_create(&d->watchdog, NULL, dk_nccl_watchdog_main, c) == 0)
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
    dk_nccl_abort_bounded(d);
}

dk_comm_backend dk_comm_device_kind(const dk_comm *c) { return c->dev->backend; }

/* --- the collectives ------------------------------------------------------------------------ */

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

static dk_err nccl_allreduce_enqueue(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    dk_err err = after_compute(d);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    ncclComm_t comm = dk_nccl_live_comm(c, "all-reduce");
    ncclResult_t r = ncclAllReduce(buf, buf, count, dtype == DK_F64 ? ncclDouble : ncclFloat, ncclSum, comm, d->stream);
    if (r != ncclSuccess) {
        /* The peers may already be inside this collective: returning would strand them. */
        char text[600];
        dk_nccl_text(text, sizeof text, r);
        dk_nccl_end_job(c, "NCCL all-reduce of %zu values failed: %s", count, text);
    }
    return DK_OK;
}

dk_err dk_comm_device_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    struct dk_comm_device *d = c->dev;
    if (d->backend == DK_COMM_MPI) {
        dk_err err = dk_comm_staged_allreduce(c, buf, count, dtype);
        if (err != DK_OK)
            d->failed = 1;
        DK_CALL(err);
        return DK_OK;
    }
    if (count == 0)
        return DK_OK;
    DK_CALL(nccl_allreduce_enqueue(c, buf, count, dtype));
    /* Complete on return, so the compute stream needs no extra wait for it. */
    DK_CALL(dk_nccl_await_stream(c, "all-reduce"));
    d->outstanding = 0;
    return DK_OK;
}

dk_err dk_comm_device_broadcast(dk_comm *c, void *buf, size_t bytes, int root)
{
    struct dk_comm_device *d = c->dev;
    if (root < 0 || root >= c->size)
        DK_ERROR(DK_ERR_INTERNAL, "broadcast from rank %d of %d", root, c->size);
    if (d->backend == DK_COMM_MPI) {
        dk_err err = dk_comm_staged_broadcast(c, buf, bytes, root);
        if (err != DK_OK)
            d->failed = 1;
        DK_CALL(err);
        return DK_OK;
    }
    if (bytes == 0)
        return DK_OK;
    DK_CALL(after_compute(d));
    ncclResult_t r = ncclBroadcast(buf, buf, bytes, ncclUint8, root, dk_nccl_live_comm(c, "broadcast"), d->stream);
    if (r != ncclSuccess) {
        char text[600];
        dk_nccl_text(text, sizeof text, r);
        dk_nccl_end_job(c, "NCCL broadcast of %zu bytes failed: %s", bytes, text);
    }
    DK_CALL(dk_nccl_await_stream(c, "broadcast"));
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
        d->first_start = dk_comm_now_s();
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
    dk_nccl_watch(d, d->first_start);
    d->outstanding = 0;
    dk_nccl_check_async(c, "all-reduce");
    return DK_OK;
}

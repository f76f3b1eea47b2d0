/* MPI implementation of dk_comm. Host buffers here; device buffers (NCCL, or MPI staged
 * through host memory) are handed to dk_comm_nccl.c, built only with the CUDA backend. */
#include "dk_comm.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dk_comm_impl.h"

/* Turns an MPI error code into a dk_err with MPI's own text. */
dk_err dk_comm_mpi_check(int rc, const char *what, const char *file, int line)
{
    if (rc == MPI_SUCCESS)
        return DK_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", rc);
    return dk_error_set(DK_ERR_MPI, file, line, "%s failed: %s", what, text);
}

/* MPI_MAX's result for a NaN is unspecified: x > NaN and NaN > x are both false, so
 * whether Open MPI keeps it depends on the order it combines the ranks in, and on 3 ranks
 * a NaN on any one of them (a diverged model's error on its share of the points) came out
 * as the others' maximum. Here NaN wins; otherwise it is the plain maximum, exact and
 * independent of the order. */
static void nan_max(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const double *a = in;
    double *b = inout;
    for (int i = 0; i < *len; i++)
        if (isnan(a[i]) || a[i] > b[i])
            b[i] = a[i];
}

dk_err dk_comm_init(int *argc, char ***argv, dk_comm **out)
{
    *out = NULL;
    dk_comm *c;
    DK_CALL(DK_CALLOC(c, 1, "communicator"));
    c->node = MPI_COMM_NULL;
    c->nan_max = MPI_OP_NULL;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            free(c);
            DK_ERROR(DK_ERR_MPI, "MPI_Init_thread failed (code %d)", rc);
        }
        c->initialised_mpi = 1;
    }
    /* Errors come back as codes so they can be reported with their rank, then the job is
     * aborted deliberately, instead of MPI killing it with a generic message. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    c->world = MPI_COMM_WORLD;
    MPI_CHECK(MPI_Comm_rank(c->world, &c->rank));
    MPI_CHECK(MPI_Comm_size(c->world, &c->size));
    MPI_CHECK(MPI_Comm_split_type(c->world, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &c->node));
    MPI_CHECK(MPI_Comm_rank(c->node, &c->local_rank));
    MPI_CHECK(MPI_Comm_size(c->node, &c->local_size));
    MPI_CHECK(MPI_Op_create(nan_max, 1, &c->nan_max));
    *out = c;
    return DK_OK;
}

void dk_comm_finalize(dk_comm **comm)
{
    if (!comm || !*comm)
        return;
    dk_comm *c = *comm;
#ifdef DISTKAN_HAVE_CUDA
    if (c->dev)
        dk_comm_device_release(c);
#endif
    dk_comm_watch_stop(c);
    if (c->node != MPI_COMM_NULL)
        MPI_Comm_free(&c->node);
    if (c->nan_max != MPI_OP_NULL)
        MPI_Op_free(&c->nan_max);
    if (c->initialised_mpi)
        MPI_Finalize();
    free(c);
    *comm = NULL;
}

int dk_comm_rank(const dk_comm *c) { return c ? c->rank : 0; }
int dk_comm_size(const dk_comm *c) { return c ? c->size : 1; }
int dk_comm_local_rank(const dk_comm *c) { return c ? c->local_rank : 0; }
int dk_comm_local_size(const dk_comm *c) { return c ? c->local_size : 1; }
const char *dk_comm_backend_name(const dk_comm *c)
{
    return dk_comm_device_backend(c) == DK_COMM_NCCL ? "nccl" : "mpi";
}

dk_comm_backend dk_comm_device_backend(const dk_comm *c)
{
#ifdef DISTKAN_HAVE_CUDA
    if (c && c->dev)
        return dk_comm_device_kind(c);
#endif
    return DK_COMM_MPI;
}

dk_err dk_comm_enable_device(dk_comm *c, dk_comm_backend backend, void *compute_stream)
{
#ifdef DISTKAN_HAVE_CUDA
    if (c->dev)
        DK_ERROR(DK_ERR_INTERNAL, "dk_comm_enable_device called twice");
    DK_CALL(dk_comm_device_enable(c, backend, compute_stream));
    return DK_OK;
#else
    DK_ERROR(DK_ERR_USAGE, "GPU communication (%s) needs distkan built with the CUDA backend (this build is CPU only)",
             backend == DK_COMM_NCCL ? "nccl" : "mpi");
#endif
}

/* The device half of a collective, or why there is none. */
static dk_err need_device(const dk_comm *c)
{
#ifdef DISTKAN_HAVE_CUDA
    if (c->dev)
        return DK_OK;
    DK_ERROR(DK_ERR_INTERNAL, "a device buffer was passed before dk_comm_enable_device");
#else
    DK_ERROR(DK_ERR_INTERNAL, "a device buffer was passed to a CPU-only build");
#endif
}

static MPI_Datatype mpi_type(dk_dtype t) { return t == DK_F64 ? MPI_DOUBLE : MPI_FLOAT; }

/* MPI counts are int: buffers beyond INT_MAX elements go in chunks. The chunking is a
 * pure function of the count, so every rank issues the same sequence of calls. */
enum { MAX_CHUNK = INT_MAX / 2 };

dk_err dk_comm_allreduce_sum(dk_comm *c, void *buf, size_t count, dk_dtype dtype, dk_memspace where)
{
    if (where == DK_MEM_DEVICE) {
        DK_CALL(need_device(c));
#ifdef DISTKAN_HAVE_CUDA
        DK_CALL(dk_comm_device_allreduce(c, buf, count, dtype));
#endif
        return DK_OK;
    }
    char *p = buf;
    size_t elem = dk_dtype_size(dtype);
    for (size_t done = 0; done < count;) {
        int n = (int)(count - done < MAX_CHUNK ? count - done : MAX_CHUNK);
        MPI_CHECK_WATCHED(c, "MPI_Allreduce (a sum)",
                          MPI_Allreduce(MPI_IN_PLACE, p + done * elem, n, mpi_type(dtype), MPI_SUM, c->world));
        done += (size_t)n;
    }
    return DK_OK;
}

dk_err dk_comm_allreduce_start(dk_comm *c, void *buf, size_t count, dk_dtype dtype)
{
    DK_CALL(need_device(c));
#ifdef DISTKAN_HAVE_CUDA
    DK_CALL(dk_comm_device_start(c, buf, count, dtype));
#endif
    return DK_OK;
}

dk_err dk_comm_allreduce_wait(dk_comm *c)
{
    DK_CALL(need_device(c));
#ifdef DISTKAN_HAVE_CUDA
    DK_CALL(dk_comm_device_wait(c));
#endif
    return DK_OK;
}

dk_err dk_comm_allreduce_max_f64(dk_comm *c, double *buf, size_t count)
{
    if (count > MAX_CHUNK)
        DK_ERROR(DK_ERR_INTERNAL, "allreduce_max of %zu values: too many", count);
    MPI_CHECK_WATCHED(c, "MPI_Allreduce (a maximum)",
                      MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_DOUBLE, c->nan_max, c->world));
    return DK_OK;
}

dk_err dk_comm_broadcast(dk_comm *c, void *buf, size_t bytes, int root, dk_memspace where)
{
    if (where == DK_MEM_DEVICE) {
        DK_CALL(need_device(c));
#ifdef DISTKAN_HAVE_CUDA
        DK_CALL(dk_comm_device_broadcast(c, buf, bytes, root));
#endif
        return DK_OK;
    }
    char *p = buf;
    for (size_t done = 0; done < bytes;) {
        int n = (int)(bytes - done < MAX_CHUNK ? bytes - done : MAX_CHUNK);
        MPI_CHECK_WATCHED(c, "MPI_Bcast", MPI_Bcast(p + done, n, MPI_BYTE, root, c->world));
        done += (size_t)n;
    }
    return DK_OK;
}

dk_err dk_comm_allgather(dk_comm *c, const void *send, void *recv, size_t bytes_each)
{
    if (bytes_each > MAX_CHUNK)
        DK_ERROR(DK_ERR_INTERNAL, "allgather of %zu bytes per rank: too large for one call", bytes_each);
    MPI_CHECK_WATCHED(c, "MPI_Allgather",
                      MPI_Allgather(send, (int)bytes_each, MPI_BYTE, recv, (int)bytes_each, MPI_BYTE, c->world));
    return DK_OK;
}

dk_err dk_comm_find_shared(dk_comm *c, const char *key, int *a, int *b, char *where, size_t n)
{
    *a = *b = -1;
    if (where && n)
        where[0] = '\0';
    /* Gathered within the node only: a resource on another node is another resource, and
     * the memory stays O(ranks per node) however large the job. */
    struct entry {
        int rank;
        char key[DK_COMM_KEY_MAX];
    } mine = {c->rank, {0}}, *all = NULL;
    snprintf(mine.key, sizeof mine.key, "%s", key);
    DK_CALL(DK_CALLOC(all, (size_t)c->local_size, "the ranks' keys on this node"));
    dk_comm_watch_enter(c, "MPI_Allgather (the ranks' keys on this node)");
    int rc = MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, c->node);
    dk_comm_watch_leave(c);
    dk_err err = dk_comm_mpi_check(rc, "MPI_Allgather of the ranks' keys on this node", __FILE__, __LINE__);
    /* a * size + b of this node's lowest pair; the world's minimum is the lowest pair of all
     * (a first, then b). Reached on every rank even after a failure, so that the ranks issue
     * the same collectives. */
    long long pair = LLONG_MAX;
    for (int i = 0; err == DK_OK && i < c->local_size; i++)
        for (int j = 0; j < c->local_size; j++) {
            const long long lo = all[i].rank, hi = all[j].rank;
            if (lo < hi && !strcmp(all[i].key, all[j].key) && lo * c->size + hi < pair)
                pair = lo * c->size + hi;
        }
    free(all);
    dk_comm_watch_enter(c, "MPI_Allreduce (a minimum)");
    rc = MPI_Allreduce(MPI_IN_PLACE, &pair, 1, MPI_LONG_LONG, MPI_MIN, c->world);
    dk_comm_watch_leave(c);
    if (err == DK_OK)
        err = dk_comm_mpi_check(rc, "MPI_Allreduce of the lowest shared pair", __FILE__, __LINE__);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    if (pair == LLONG_MAX)
        return DK_OK;
    *a = (int)(pair / c->size);
    *b = (int)(pair % c->size);
    char text[DK_COMM_KEY_MAX + MPI_MAX_PROCESSOR_NAME + 16] = "";
    if (c->rank == *a) {
        char host[MPI_MAX_PROCESSOR_NAME] = "";
        int len = 0;
        MPI_Get_processor_name(host, &len);
        snprintf(text, sizeof text, "%s on host %s", mine.key, host);
    }
    MPI_CHECK_WATCHED(c, "MPI_Bcast", MPI_Bcast(text, (int)sizeof text, MPI_CHAR, *a, c->world));
    if (where && n)
        snprintf(where, n, "%s", text);
    return DK_OK;
}

dk_err dk_comm_barrier(dk_comm *c)
{
    MPI_CHECK_WATCHED(c, "MPI_Barrier", MPI_Barrier(c->world));
    return DK_OK;
}

dk_err dk_comm_agree(dk_comm *c, dk_err local, int *report)
{
    *report = 0;
    /* One all-reduce of two maxima: the worst code and -(lowest failing rank). */
    double v[2] = {(double)local, local != DK_OK ? -(double)c->rank : -(double)c->size};
    DK_CALL(dk_comm_allreduce_max_f64(c, v, 2));
    if (v[0] == 0.0)
        return DK_OK;
    int lowest = (int)-v[1];
    if (local != DK_OK) {
        *report = c->rank == lowest;
        return local;
    }
    return dk_error_set((dk_err)v[0], __FILE__, __LINE__, "rank %d failed (see its message)", lowest);
}

_Noreturn void dk_comm_abort(dk_comm *c, int code)
{
    fflush(stdout);
    fflush(stderr);
#ifdef DISTKAN_HAVE_CUDA
    if (c && c->dev)
        dk_comm_device_abort(c);
#endif
    int initialised = 0, finalised = 0;
    MPI_Initialized(&initialised);
    MPI_Finalized(&finalised);
    if (initialised && !finalised && (!c || c->size > 1))
        MPI_Abort(c ? c->world : MPI_COMM_WORLD, code);
    exit(code);
}

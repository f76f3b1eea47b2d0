/* Communication between ranks: the only part of distkan that talks to MPI (and, with the
 * GPU backend, NCCL). Kernels and layers never call it.
 *
 * A dk_comm is created once per process. Collectives take a `where` argument naming the
 * memory space of the buffer, so that a device-buffer backend (NCCL, or MPI staging
 * through host memory) can plug in behind the same calls; the CPU build has only
 * DK_MEM_HOST.
 *
 * Streams: a GPU backend keeps its own dedicated communication stream inside dk_comm and
 * orders it after the compute stream that produced the buffer (an event recorded by the
 * caller's backend), so the calls below need no stream argument; "blocking" then means
 * the result is ready for the next kernel on the compute stream.
 *
 * Every collective is blocking and returns DK_ERR_MPI with the library's message on
 * failure. dk_comm_abort ends the whole job (MPI_Abort): a rank that hits an error must
 * never leave its peers waiting in a collective.
 */
#ifndef DK_COMM_H
#define DK_COMM_H

#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef enum { DK_MEM_HOST = 0, DK_MEM_DEVICE = 1 } dk_memspace;

typedef struct dk_comm dk_comm;

/* Initialises MPI (MPI_THREAD_FUNNELED: OpenMP threads compute, the main thread talks). */
dk_err dk_comm_init(int *argc, char ***argv, dk_comm **out);
/* Finalises MPI. */
void dk_comm_finalize(dk_comm **comm);

int dk_comm_rank(const dk_comm *comm);
int dk_comm_size(const dk_comm *comm);
int dk_comm_local_rank(const dk_comm *comm); /* rank among the processes on this node */
int dk_comm_local_size(const dk_comm *comm);
const char *dk_comm_backend_name(const dk_comm *comm); /* "mpi" */

/* In-place element-wise sum over all ranks; every rank receives the same result. */
dk_err dk_comm_allreduce_sum(dk_comm *comm, void *buf, size_t count, dk_dtype dtype, dk_memspace where);
/* In-place maximum of doubles (e.g. agreeing on an error flag or a wall time). */
dk_err dk_comm_allreduce_max_f64(dk_comm *comm, double *buf, size_t count);
/* Copies `bytes` bytes from root's buf to every rank's buf. */
dk_err dk_comm_broadcast(dk_comm *comm, void *buf, size_t bytes, int root, dk_memspace where);
/* recv[r * bytes_each ...] = rank r's send, in rank order, on every rank. */
dk_err dk_comm_allgather(dk_comm *comm, const void *send, void *recv, size_t bytes_each);
dk_err dk_comm_barrier(dk_comm *comm);

/* Collective error agreement, for failures that may hit some ranks only (a file missing
 * on one node, a bad CSV row in one shard). Every rank passes its own result; every rank
 * returns DK_OK if all succeeded, else a failure code. *report is set to 1 on exactly one
 * rank, the lowest that failed, which keeps its own message and should print it; other
 * ranks get a generic message. */
dk_err dk_comm_agree(dk_comm *comm, dk_err local, int *report);

/* Ends every process of the job with exit status `code`. Safe to call with comm NULL
 * (before or without initialisation): then only this process exits. */
_Noreturn void dk_comm_abort(dk_comm *comm, int code);

#endif

/* Communication between ranks: the only part of distkan that talks to MPI (and, with the
 * GPU backend, NCCL). Kernels and layers never call it.
 *
 * A dk_comm is created once per process. Collectives take a `where` argument naming the
 * memory space of the buffer, so that a device-buffer backend (NCCL, or MPI staging
 * through host memory) can plug in behind the same calls; the CPU build has only
 * DK_MEM_HOST.
 *
 * Streams: a GPU backend keeps its own dedicated communication stream inside dk_comm and
 * orders it after the compute stream named in dk_comm_enable_device (an event recorded on
 * it), so the calls below need no stream argument; the compute stream in turn waits for
 * the communication stream, so the next kernel queued on it sees the result.
 *
 * Every collective except dk_comm_allreduce_start is blocking and returns DK_ERR_MPI with
 * the library's message on failure. dk_comm_abort ends the whole job (MPI_Abort): a rank that hits an error must
 * never leave its peers waiting in a collective.
 */
#ifndef DK_COMM_H
#define DK_COMM_H

#include <stddef.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef enum { DK_MEM_HOST = 0, DK_MEM_DEVICE = 1 } dk_memspace;

/* How device buffers travel: NCCL, or MPI staged through pinned host memory (the fallback
 * where NCCL cannot run, e.g. several ranks sharing one GPU). */
typedef enum { DK_COMM_MPI = 0, DK_COMM_NCCL = 1 } dk_comm_backend;

typedef struct dk_comm dk_comm;

/* Initialises MPI (MPI_THREAD_FUNNELED: OpenMP threads compute, the main thread talks). */
dk_err dk_comm_init(int *argc, char ***argv, dk_comm **out);
/* Releases the device backend (NCCL communicator, streams, staging buffers), then finalises
 * MPI. */
void dk_comm_finalize(dk_comm **comm);

int dk_comm_rank(const dk_comm *comm);
int dk_comm_size(const dk_comm *comm);
int dk_comm_local_rank(const dk_comm *comm); /* rank among the processes on this node */
int dk_comm_local_size(const dk_comm *comm);
/* "nccl" once NCCL is enabled for device buffers, "mpi" otherwise. */
const char *dk_comm_backend_name(const dk_comm *comm);

/* Collective. Prepares device-buffer collectives on the calling rank's current CUDA device
 * (the caller picks it, e.g. local rank modulo the device count). With DK_COMM_NCCL rank 0
 * creates the ncclUniqueId, MPI broadcasts it, every rank joins with ncclCommInitRank and
 * creates a dedicated communication stream; with DK_COMM_MPI device buffers are staged
 * through one pinned host buffer of 32 MiB, in chunks of that size (allocated here, so
 * nothing is allocated in a step). compute_stream (a cudaStream_t; NULL: the legacy default stream) is the
 * stream whose work produces and consumes the buffers. Fails on every rank with a message
 * if the build has no CUDA backend, if NCCL cannot start (several ranks on one GPU: the
 * message says so and suggests [dist] comm = mpi), or if called twice.
 *
 * Determinism: NCCL's reduction order (ring/tree and its chunking) is fixed for a given
 * world size, topology and NCCL version, so a rerun reproduces the same bits; it differs
 * from the MPI backend's order, and from one world size to another. */
dk_err dk_comm_enable_device(dk_comm *comm, dk_comm_backend backend, void *compute_stream);
/* The backend for device buffers: DK_COMM_NCCL once enabled with it, else DK_COMM_MPI. */
dk_comm_backend dk_comm_device_backend(const dk_comm *comm);

/* In-place element-wise sum over all ranks; every rank receives the same result.
 * DK_MEM_DEVICE needs dk_comm_enable_device; the call then returns once the sum is
 * complete on the device. If NCCL reports an asynchronous error, or the sum does not
 * complete within DISTKAN_COMM_TIMEOUT seconds (default 600: a peer may have died), the
 * rank prints a message naming itself, its host and GPU, aborts NCCL and ends the job
 * (exit status 1): it never hangs silently. */
dk_err dk_comm_allreduce_sum(dk_comm *comm, void *buf, size_t count, dk_dtype dtype, dk_memspace where);
/* Overlapping communication with backward, one bucket (e.g. a layer's gradients) at a time.
 * start: an in-place sum of a device buffer on the communication stream, ordered after the
 * work queued so far on the compute stream; returns at once with NCCL (with the MPI backend
 * it completes before returning). At most 64 may be outstanding; the buffer must not be
 * touched until wait. wait: makes the compute stream wait for every started sum and checks
 * NCCL's asynchronous error (ending the job as above); it returns without a host sync. A
 * watchdog thread ends the job if a started sum does not complete within the timeout. */
dk_err dk_comm_allreduce_start(dk_comm *comm, void *buf, size_t count, dk_dtype dtype);
dk_err dk_comm_allreduce_wait(dk_comm *comm);
/* In-place maximum of doubles (e.g. agreeing on an error flag or a wall time); a NaN on
 * any rank makes that entry NaN on every rank. */
dk_err dk_comm_allreduce_max_f64(dk_comm *comm, double *buf, size_t count);
/* Copies `bytes` bytes from root's buf to every rank's buf. */
dk_err dk_comm_broadcast(dk_comm *comm, void *buf, size_t bytes, int root, dk_memspace where);
/* recv[r * bytes_each ...] = rank r's send, in rank order, on every rank. */
dk_err dk_comm_allgather(dk_comm *comm, const void *send, void *recv, size_t bytes_each);
dk_err dk_comm_barrier(dk_comm *comm);

/* Collective. Finds ranks that would share one resource: the lowest pair of world ranks
 * a < b that run on the same node (MPI_COMM_TYPE_SHARED) and pass equal keys (e.g. a GPU's
 * PCI bus id; the first DK_COMM_KEY_MAX - 1 bytes count). *a = *b = -1 when there is none.
 * `where` (capacity n, may be NULL) receives "<key> on host <name of a's host>", or "".
 * Every rank gets the same answer. */
enum { DK_COMM_KEY_MAX = 64 };
dk_err dk_comm_find_shared(dk_comm *comm, const char *key, int *a, int *b, char *where, size_t n);

/* Collective error agreement, for failures that may hit some ranks only (a file missing
 * on one node, a bad CSV row in one shard). Every rank passes its own result; every rank
 * returns DK_OK if all succeeded, else a failure code. *report is set to 1 on exactly one
 * rank, the lowest that failed, which keeps its own message and should print it; other
 * ranks get a generic message. */
dk_err dk_comm_agree(dk_comm *comm, dk_err local, int *report);

/* A time limit on every blocking host collective from now on (MPI, and the MPI staging of
 * device buffers): a helper thread ends the job (a message naming this rank, its host and
 * the call, then MPI_Abort, exit status 1) when one has been open for timeout_s seconds,
 * i.e. when some rank is alive but stuck before it. Time while the whole process is
 * stopped (SIGSTOP) does not count. A no-op on one rank or with timeout_s = 0.
 * dk_comm_finalize stops it. */
dk_err dk_comm_watch_start(dk_comm *comm, double timeout_s);
/* DISTKAN_MPI_TIMEOUT's default, for this watchdog: long, since a collective also waits
 * for work rank 0 does alone (checkpoints written and verified, final outputs, checkpoints
 * set aside across file systems). */
#define DK_COMM_WATCH_DEFAULT_S 1800.0
/* DISTKAN_COMM_TIMEOUT's default, for NCCL's calls. */
#define DK_COMM_TIMEOUT_DEFAULT_S 600.0
void dk_comm_watch_stop(dk_comm *comm);

/* Ends every process of the job with exit status `code` (aborting NCCL first, if enabled).
 * Safe to call with comm NULL (before or without initialisation): then only this process
 * exits. */
_Noreturn void dk_comm_abort(dk_comm *comm, int code);

#endif

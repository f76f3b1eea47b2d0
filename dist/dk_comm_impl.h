/* Private to dist/: the communicator's fields, shared by dk_comm.c (MPI, always built) and
 * dk_comm_nccl.c (device buffers, built only with the CUDA backend). Nothing outside dist/
 * includes this. */
#ifndef DK_COMM_IMPL_H
#define DK_COMM_IMPL_H

#include <mpi.h>

#include "dk_comm.h"

struct dk_comm_device; /* dk_comm_device_impl.h */

struct dk_comm {
    MPI_Comm world;
    MPI_Comm node; /* processes sharing this node's memory */
    int rank, size, local_rank, local_size;
    int initialised_mpi;        /* we called MPI_Init_thread, so we finalise */
    MPI_Op nan_max;             /* MPI_MAX that keeps NaN (dk_comm_allreduce_max_f64) */
    struct dk_comm_device *dev;  /* NULL until dk_comm_enable_device */
    struct dk_comm_watch *watch; /* dk_comm_watch_mpi.c; NULL until dk_comm_watch_start */
};

/* dk_comm_watch_mpi.c: around every blocking host collective, so that the watchdog sees
 * how long it has been open. `what` names the call in its message (a string literal). */
void dk_comm_watch_enter(dk_comm *c, const char *what);
void dk_comm_watch_leave(dk_comm *c);

#ifdef DISTKAN_HAVE_CUDA
/* dk_comm_nccl.c: the DK_MEM_DEVICE halves of the collectives (c->dev set). */
dk_err dk_comm_device_enable(dk_comm *c, dk_comm_backend backend, void *compute_stream);
dk_comm_backend dk_comm_device_kind(const dk_comm *c);
dk_err dk_comm_device_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype);
dk_err dk_comm_device_broadcast(dk_comm *c, void *buf, size_t bytes, int root);
dk_err dk_comm_device_start(dk_comm *c, void *buf, size_t count, dk_dtype dtype);
dk_err dk_comm_device_wait(dk_comm *c);
/* Destroys the NCCL communicator (aborting it if any device call failed), the streams and
 * the staging buffers; sets c->dev to NULL. Called before MPI_Finalize. */
void dk_comm_device_release(dk_comm *c);
/* ncclCommAbort, bounded in time, on the way to MPI_Abort. */
void dk_comm_device_abort(dk_comm *c);
#endif

/* Turns an MPI error code into a dk_err with MPI's own text (both implementation files). */
dk_err dk_comm_mpi_check(int rc, const char *what, const char *file, int line);
#define MPI_CHECK(call) DK_CALL(dk_comm_mpi_check((call), #call, __FILE__, __LINE__))
/* MPI_CHECK for a blocking collective, watched while it runs. */
#define MPI_CHECK_WATCHED(c, what, call)                                                                               \
    do {                                                                                                               \
        dk_comm_watch_enter((c), (what));                                                                              \
        const int watched_rc_ = (call);                                                                                \
        dk_comm_watch_leave(c);                                                                                        \
        DK_CALL(dk_comm_mpi_check(watched_rc_, #call, __FILE__, __LINE__));                                            \
    } while (0)

#endif

/* Private to dist/'s device half: the device communicator's fields and what its three
 * files share. dk_comm_nccl.c sets it up, tears it down and runs the collectives;
 * dk_comm_watch_nccl.c ends the job when NCCL fails or stalls (polling and the watchdog
 * thread); dk_comm_staged_cuda.c stages MPI collectives through pinned host memory. Built
 * only with the CUDA backend. */
#ifndef DK_COMM_DEVICE_IMPL_H
#define DK_COMM_DEVICE_IMPL_H

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dk_comm_impl.h"

enum {
    WATCH_RING = 128 /* waited-for batches the watchdog tracks */
};
/* Staging chunk: large enough to run PCIe at full speed, small enough to keep pinned memory
 * modest, and far below INT_MAX elements (MPI counts are int). */
#define STAGE_CHUNK ((size_t)32 << 20)

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

/* Monotonic seconds. */
double dk_comm_now_s(void);
/* "2.x.y", the NCCL linked in. */
void dk_nccl_version(char *out, size_t n);
/* "<NCCL's name for r>: <its last message>", the message left out when empty. */
void dk_nccl_text(char *out, size_t n, ncclResult_t r);

/* --- dk_comm_watch_nccl.c: a failure or a stall ends the job ------------------------------ */

/* ncclCommAbort / ncclCommDestroy of d->nccl (cleared first), each given a bounded time to
 * return (a wedged communicator may not): whether it returned. When it did not, NCCL may
 * still use the communication stream and events, which are then left to the process's exit. */
bool dk_nccl_abort_bounded(struct dk_comm_device *d);
bool dk_nccl_destroy_bounded(struct dk_comm_device *d);
/* Prints "distkan: rank R (host H, GPU G): <text>", aborts NCCL and the MPI job. d is
 * c->dev once enabled; during set-up, the one being built. */
_Noreturn void dk_nccl_end_job_of(dk_comm *c, struct dk_comm_device *d, const char *text);
_Noreturn void dk_nccl_end_job(dk_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* c->dev's communicator for the main thread's next NCCL call; the end of the job instead
 * when the watchdog is aborting it. op names the call in the message. */
ncclComm_t dk_nccl_live_comm(dk_comm *c, const char *op);
/* Ends the job if NCCL reports an asynchronous error. */
void dk_nccl_check_async(dk_comm *c, const char *op);
/* Returns once the communication stream has done everything queued so far; ends the job
 * on an NCCL error or after DISTKAN_COMM_TIMEOUT seconds. */
dk_err dk_nccl_await_stream(dk_comm *c, const char *op);
/* The watchdog thread (arg: the dk_comm), until d->stop: NCCL's asynchronous error and the
 * age of the batches handed over by dk_nccl_watch. */
void *dk_nccl_watchdog_main(void *arg);
/* Hands the batch of reductions started at `started` (dk_comm_now_s) to the watchdog. */
void dk_nccl_watch(struct dk_comm_device *d, double started);

/* --- dk_comm_staged_cuda.c: MPI through pinned host memory -------------------------------- */

dk_err dk_comm_staged_allreduce(dk_comm *c, void *buf, size_t count, dk_dtype dtype);
dk_err dk_comm_staged_broadcast(dk_comm *c, void *buf, size_t bytes, int root);

#endif

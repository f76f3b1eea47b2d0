/* A time limit for a blocking call that has none of its own (ncclCommInitRank: a peer that
 * died after the unique id was broadcast leaves the others waiting in NCCL's bootstrap
 * forever).
 *
 * dk_deadline_start starts a helper thread that waits `seconds`; dk_deadline_stop, called
 * when the blocking call returns, cancels it. If the time runs out first, the helper calls
 * `expired(ctx)` while the caller is still blocked: the callback is expected to report and
 * end the job (nothing else can interrupt the call). A callback that returns is allowed;
 * dk_deadline_stop then only joins the thread. */
#ifndef DK_DEADLINE_H
#define DK_DEADLINE_H

#include <pthread.h>
#include <time.h>

#include "../common/dk_error.h"

typedef struct dk_deadline dk_deadline;
typedef void (*dk_deadline_expired)(void *ctx);

/* seconds > 0 and finite. */
dk_err dk_deadline_start(dk_deadline **out, double seconds, dk_deadline_expired expired, void *ctx);
/* Cancels the deadline (if it has not expired), waits for the helper and frees it; *d
 * becomes NULL. Returns 1 if the callback had been called, else 0. NULL *d is a no-op. */
int dk_deadline_stop(dk_deadline **d);

/* Shared with the other helper threads of dist/: a condition variable whose timed waits
 * run on CLOCK_MONOTONIC (a wall-clock jump neither fires nor delays them; returns
 * pthread's error code), and the CLOCK_MONOTONIC time `seconds` (>= 0, at most 1e9) from
 * now. */
int dk_cond_init_monotonic(pthread_cond_t *cond);
struct timespec dk_monotonic_after(double seconds);

#endif

#include "dk_deadline.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dk_deadline {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC: a wall-clock jump neither fires nor delays it */
    struct timespec until;
    int cancelled, fired;
    dk_deadline_expired expired;
    void *ctx;
};

int dk_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

struct timespec dk_monotonic_after(double seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    const double whole = floor(seconds);
    t.tv_sec += (time_t)whole;
    t.tv_nsec += (long)((seconds - whole) * 1e9);
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static void *wait_main(void *arg)
{
    dk_deadline *d = arg;
    pthread_mutex_lock(&d->lock);
    int rc = 0;
    while (!d->cancelled && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&d->wake, &d->lock, &d->until);
    const int fire = !d->cancelled;
    d->fired = fire;
    pthread_mutex_unlock(&d->lock);
    /* Outside the lock: the callback usually never returns, and dk_deadline_stop must not
     * block on the mutex meanwhile (it blocks on the join instead, as documented). */
    if (fire)
        d->expired(d->ctx);
    return NULL;
}

dk_err dk_deadline_start(dk_deadline **out, double seconds, dk_deadline_expired expired, void *ctx)
{
    *out = NULL;
    if (!(seconds > 0.0) || !isfinite(seconds) || !expired)
        DK_ERROR(DK_ERR_INTERNAL, "dk_deadline_start: need a positive finite time and a callback (got %g s)", seconds);
    dk_deadline *d = calloc(1, sizeof *d);
    if (!d)
        DK_ERROR(DK_ERR_MEMORY, "out of memory for a deadline");
    d->expired = expired;
    d->ctx = ctx;
    int rc = dk_cond_init_monotonic(&d->wake);
    if (rc != 0) {
        free(d);
        DK_ERROR(DK_ERR_INTERNAL, "cannot create a monotonic condition variable: %s", strerror(rc));
    }
    pthread_mutex_init(&d->lock, NULL);
    d->until = dk_monotonic_after(seconds > 1e9 ? 1e9 : seconds); /* 1e9 s, about 30 years: "never" */
    rc = pthread_create(&d->thread, NULL, wait_main, d);
    if (rc != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        DK_ERROR(DK_ERR_INTERNAL, "cannot start the deadline thread: %s", strerror(rc));
    }
    *out = d;
    return DK_OK;
}

int dk_deadline_stop(dk_deadline **dp)
{
    dk_deadline *d = *dp;
    if (!d)
        return 0;
    pthread_mutex_lock(&d->lock);
    d->cancelled = 1;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    const int fired = d->fired;
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
    *dp = NULL;
    return fired;
}

/* A time limit on the host collectives (dk_comm_watch_start in dk_comm.h).
 *
 * A rank that dies ends the job through the launcher, but one that is alive and stuck (a
 * hung file system under its checkpoint write, a stopped process, a lost network link)
 * leaves its peers blocked in their next MPI call for as long as the job's wall time. The
 * blocking MPI calls cannot be interrupted, so a helper thread watches them: the main
 * thread counts every entry into and exit from a collective (two atomic increments and
 * nothing else, so a step still allocates nothing, and the MPI calls, hence the summation
 * order, are unchanged), and the helper ends the job when the count has stayed odd (one
 * collective open) for the limit.
 *
 * Time is counted in the helper's own ticks, each worth at most two tick lengths: a job
 * that is suspended as a whole (SIGSTOP from Slurm's `scontrol suspend`) stops the helper
 * too, and the pause must not count as waiting. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "dk_comm_impl.h"
#include "dk_deadline.h"

struct dk_comm_watch {
    atomic_ulong calls;         /* entries + exits: odd while a collective is open */
    _Atomic(const char *) what; /* the open collective, for the message */
    double timeout_s, tick_s;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC; signalled by dk_comm_watch_stop */
    int stop;            /* under lock */
    dk_comm *c;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits one tick, or until dk_comm_watch_stop; returns whether to stop. */
static int wait_tick(struct dk_comm_watch *w)
{
    const struct timespec until = dk_monotonic_after(w->tick_s);
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (!w->stop && rc == 0)
        rc = pthread_cond_timedwait(&w->wake, &w->lock, &until);
    const int stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return stop;
}

_Noreturn static void end_job(struct dk_comm_watch *w, double waited, unsigned long call)
{
    char host[MPI_MAX_PROCESSOR_NAME] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "?");
    fflush(stdout);
    fprintf(stderr,
            "distkan: rank %d (host %s): error: waited %.0f s in collective %lu of this process, %s, which every "
            "rank must reach: another rank is stuck before it (a hung file system, a stopped or traced process) or "
            "the network between them is down; ending the job (DISTKAN_MPI_TIMEOUT sets this limit, %g s)\n",
            w->c->rank, host, waited, call / 2 + 1, atomic_load(&w->what), w->timeout_s);
    fflush(stderr);
    /* From this helper thread MPI_Abort breaks MPI_THREAD_FUNNELED's letter; it only asks
     * the runtime to kill the job, which is what is wanted. A wedged runtime may block it:
     * SIGALRM's default action ends the process after 30 s whatever happens. */
    alarm(30);
    MPI_Abort(w->c->world, 1);
    _Exit(1);
}

static void *watch_main(void *arg)
{
    struct dk_comm_watch *w = arg;
    unsigned long seen = 0;
    double waited = 0.0, last = now_s();
    while (!wait_tick(w)) {
        const double now = now_s(), slept = now - last;
        last = now;
        const unsigned long calls = atomic_load(&w->calls);
        if ((calls & 1) && calls == seen)
            waited += slept < 2.0 * w->tick_s ? slept : 2.0 * w->tick_s;
        else
            waited = 0.0;
        seen = calls;
        if (waited >= w->timeout_s)
            end_job(w, waited, calls);
    }
    return NULL;
}

dk_err dk_comm_watch_start(dk_comm *c, double timeout_s)
{
    if (c->watch)
        DK_ERROR(DK_ERR_INTERNAL, "dk_comm_watch_start called twice");
    if (c->size < 2 || timeout_s == 0.0)
        return DK_OK; /* no peer to wait for, or no limit asked for */
    if (!(timeout_s > 0.0))
        DK_ERROR(DK_ERR_INTERNAL, "dk_comm_watch_start: need a time limit >= 0 (got %g s)", timeout_s);
    struct dk_comm_watch *w;
    DK_CALL(DK_CALLOC(w, 1, "the collectives' watchdog"));
    w->c = c;
    w->timeout_s = timeout_s;
    w->tick_s = timeout_s / 10.0 < 1.0 ? timeout_s / 10.0 : 1.0;
    atomic_init(&w->what, "a collective");
    int rc = dk_cond_init_monotonic(&w->wake);
    if (rc == 0) {
        pthread_mutex_init(&w->lock, NULL);
        rc = pthread_create(&w->thread, NULL, watch_main, w);
        if (rc != 0) {
            pthread_cond_destroy(&w->wake);
            pthread_mutex_destroy(&w->lock);
        }
    }
    if (rc != 0) {
        free(w);
        fprintf(stderr,
                "distkan: rank %d: warning: no watchdog thread (error %d): this rank will wait in its "
                "collectives without a time limit (DISTKAN_MPI_TIMEOUT)\n",
                c->rank, rc);
        return DK_OK;
    }
    c->watch = w;
    return DK_OK;
}

void dk_comm_watch_stop(dk_comm *c)
{
    if (!c || !c->watch)
        return;
    struct dk_comm_watch *w = c->watch;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    c->watch = NULL;
}

void dk_comm_watch_enter(dk_comm *c, const char *what)
{
    if (c->watch) {
        atomic_store(&c->watch->what, what);
        atomic_fetch_add(&c->watch->calls, 1);
    }
}

void dk_comm_watch_leave(dk_comm *c)
{
    if (c->watch)
        atomic_fetch_add(&c->watch->calls, 1);
}

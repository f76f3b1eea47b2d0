#include "dk_signals.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/dk_env.h"

/* Written only by the handler; read by the training loop. */
static volatile sig_atomic_t stop_signal;
/* When the first stop request arrived (CLOCK_MONOTONIC), and how long after it a SIGTERM
 * still counts as the same request. */
static struct timespec first_stop;
static double repeat_window_s = DK_SIGNAL_REPEAT_DEFAULT_S;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* async-signal-safe */
    return (double)(now.tv_sec - t->tv_sec) + 1e-9 * (double)(now.tv_nsec - t->tv_nsec);
}

static void on_stop_signal(int sig)
{
    if (stop_signal != 0 && sig == SIGTERM) {
        /* One request often arrives twice: Slurm signals every process of a step while
         * mpirun forwards the signal it got too; timeout signals the process and then its
         * group. Only a SIGTERM that comes later is a second request. */
        if (seconds_since(&first_stop) < repeat_window_s)
            return;
        static const char msg[] = "distkan: second SIGTERM: exiting now, without a checkpoint\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(128 + SIGTERM);
    }
    if (stop_signal == 0) {
        clock_gettime(CLOCK_MONOTONIC, &first_stop);
        stop_signal = sig;
    }
}

dk_err dk_signals_install(void)
{
    DK_CALL(dk_env_seconds("DISTKAN_SIGNAL_REPEAT_S", repeat_window_s, true, &repeat_window_s));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    const int sigs[] = {SIGTERM, SIGUSR1};
    /* Each blocks the other while the handler runs: its updates of the shared state (the
     * first signal, its time) are then never interleaved. */
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            DK_ERROR(DK_ERR_INTERNAL, "cannot install the handler of signal %d: %s", sigs[i], strerror(errno));
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    if (sigaction(SIGPIPE, &ignore, NULL) != 0)
        DK_ERROR(DK_ERR_INTERNAL, "cannot ignore SIGPIPE: %s", strerror(errno));
    return DK_OK;
}

int dk_signals_stop_requested(void) { return (int)stop_signal; }

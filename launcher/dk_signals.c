#include "dk_signals.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Written only by the handler; read by the training loop. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (stop_signal != 0 && sig == SIGTERM) {
        static const char msg[] = "distkan: second SIGTERM: exiting now, without a checkpoint\n";
        ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)ignored;
        _exit(128 + SIGTERM);
    }
    if (stop_signal == 0)
        stop_signal = sig;
}

dk_err dk_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    const int sigs[] = {SIGTERM, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            DK_ERROR(DK_ERR_INTERNAL, "cannot install the handler of signal %d: %s", sigs[i], strerror(errno));
    return DK_OK;
}

int dk_signals_stop_requested(void) { return (int)stop_signal; }

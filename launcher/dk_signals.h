/* Stop signals: what schedulers send before they preempt or end a job.
 *
 * SIGTERM (Slurm at the time limit or on scancel, Kubernetes, most batch systems) and
 * SIGUSR1 (what `sbatch --signal=USR1@120` or `mpirun` forwarding delivers ahead of time)
 * ask the run to stop: the handler only records the request; training sees it at its next
 * step boundary, where all ranks agree on it (dk_train_control_word), write a checkpoint
 * and exit 0. A SIGTERM that comes at least DISTKAN_SIGNAL_REPEAT_S seconds (environment,
 * default 2) after the stop was requested ends the process at once with status 143
 * (128 + SIGTERM), as an impatient user or scheduler expects; the previous checkpoint is
 * untouched because checkpoints are written atomically. One arriving sooner is the same
 * request delivered twice (by Slurm and by mpirun's forwarding, or by timeout to the
 * process and its group) and is ignored. */
#ifndef DK_SIGNALS_H
#define DK_SIGNALS_H

#include "../common/dk_error.h"

enum { DK_SIGNAL_REPEAT_DEFAULT_S = 2 };

/* Installs the handlers (sigaction, SA_RESTART so that file writes are not interrupted);
 * reads DISTKAN_SIGNAL_REPEAT_S (a bad value is a DK_ERR_USAGE naming it). Calling it
 * again keeps a request that has already arrived. SIGPIPE is ignored: a reader of the
 * progress output that goes away (`| head`, a `tee` that was killed) would otherwise end
 * the run at once, without a checkpoint; the progress writes then fail (EPIPE, warned of
 * once) and training and its files go on. */
dk_err dk_signals_install(void);
/* The signal number of the first stop request, or 0. */
int dk_signals_stop_requested(void);

#endif

/* One run per directory.
 *
 * Two runs writing into one run or checkpoint directory destroy each other's work: a fresh
 * run moves the other's checkpoints aside, pruning removes checkpoints it did not write,
 * dk_ckpt_prune deletes the other's temporary files, and both write the same
 * metrics.jsonl.partial. So rank 0 locks every directory its run writes into before it
 * moves, truncates or deletes anything there, and holds the locks until the process ends.
 *
 * The lock is a POSIX record lock (fcntl F_SETLK, write lock on the whole file) on
 * <dir>/.distkan.lock. Such locks work on local file systems, NFSv4 and Lustre, and are
 * dropped by the kernel (or by the NFS server when the client's lease ends) when the
 * process dies, however it dies: a crashed run never leaves a stale lock. The lock file is
 * therefore never removed: unlinking it while a second run has it open would let two runs
 * lock two different files of the same name. Its holder writes its host name, pid and start
 * time into it, so that a run that finds the directory taken can say by whom.
 *
 * A POSIX lock is lost when its process closes *any* descriptor of the file, so this module
 * keeps one descriptor per locked directory (by device and inode), never closes it, and
 * answers a second request for a directory this process holds at once (e.g. a checkpoint
 * directory that is the run directory under another spelling). */
#ifndef DK_RUN_LOCK_H
#define DK_RUN_LOCK_H

#include "../common/dk_error.h"

/* The lock file's name inside a locked directory. */
#define DK_RUN_LOCK_FILE ".distkan.lock"

/* Locks the existing directory `dir` for this process until it exits. `what` names the
 * directory in messages ("run directory", "checkpoint directory"), `option` the setting
 * that chooses another one ("--run-dir", "[checkpoint] dir").
 *
 * Another process holding the lock: DK_ERR_USAGE,
 *   "run directory runs/x is in use by another distkan run (pid 4242 on host node7,
 *    started 2025-01-31 12:00:00 UTC): wait for it to end or choose another --run-dir".
 * A file system without record locks (ENOLCK, EOPNOTSUPP, ENOSYS): a warning on stderr and
 * DK_OK, since refusing to run there would make such file systems unusable. A lock file
 * that cannot be created or opened: DK_ERR_IO naming it. */
dk_err dk_run_lock_dir(const char *dir, const char *what, const char *option);

/* Rank 0, before it prunes, moves or replaces files in a locked directory: every lock
 * file this process locked must still be the file at its path. Scratch purges delete old
 * files, the never-modified lock file among them, and a second run could then lock a new
 * one beside this run. A lock file gone or replaced is created and locked again (a warning
 * on stderr); DK_ERR_USAGE, as in dk_run_lock_dir, when another run holds the new one. */
dk_err dk_run_lock_recheck(void);

#endif

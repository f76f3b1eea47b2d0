/* `distkan inspect CHECKPOINT|DIR`: a readable summary of a checkpoint (format version,
 * step, stage, world size, layer shapes, parameter count, loss, optimiser state, tensors,
 * config) after validating every checksum, loading its model (shapes, finite values,
 * increasing knots) and checking its optimiser state (dk_state_check.h); for a directory,
 * one line per checkpoint.
 * Needs no MPI. Returns the exit code: 0 valid, 1 invalid (the reason on stderr). */
#ifndef DK_INSPECT_H
#define DK_INSPECT_H

int dk_inspect(const char *path);

#endif

/* The parts of a run's text outputs that distkan itself reads back, each written and read
 * here so that the two cannot drift apart:
 *
 * - a checkpoint's event line in metrics.jsonl: a checkpoint saved before its run's first
 *   log line belongs to the run whose log begins with that line (dk_run_history.h), which
 *   decides which checkpoints a fresh run sets aside and `--resume latest`, predict,
 *   functions and inspect take for the run's own;
 * - summary.json's top-level "steps": the step a finished run ended at, which the commands
 *   reading a model from a run directory compare with its newest checkpoint, to warn when
 *   that one is older (dk_model_file.c).
 *
 * Any change to these lines must keep reading those every earlier version wrote: logs and
 * summaries outlive the binary. tests/unit/test_run_formats.c writes and reads them back. */
#ifndef DK_RUN_FORMATS_H
#define DK_RUN_FORMATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Writes one metrics.jsonl event line:
 *   {"step": S, "event": "EVENT", "grid": G, "NAME": VALUE, ..., "wall_s": W}
 * each value as dk_json_number (%.17g, null when not finite). */
void dk_log_event_write(FILE *f, long step, const char *event, int grid, int n_fields, const char *const *names,
                        const double *values, double wall_s);

/* What a checkpoint's event line says of the checkpoint that tells it from other runs'. */
typedef struct dk_log_ckpt_event {
    long step;
    int grid;        /* G when it was written */
    uint64_t bytes;  /* its tensors' bytes; below 2^53, as the line holds a double */
    uint64_t writer; /* the id of the run that wrote it (Metadata.writer), below 2^53; 0 in a
                      * line of a version that recorded none */
} dk_log_ckpt_event;

/* Writes e's event line (event "checkpoint"), with the seconds it took to write and wall_s,
 * which nothing reads back:
 *   {"step": S, "event": "checkpoint", "grid": G, "bytes": B, "seconds": T, "writer": W, "wall_s": X} */
void dk_log_ckpt_event_write(FILE *f, const dk_log_ckpt_event *e, double seconds, double wall_s);

/* Whether `line` (without its newline) is a checkpoint's event line, of this version or an
 * earlier one; if so, *e is what it says (writer 0 where it records none). */
bool dk_log_ckpt_event_parse(const char *line, dk_log_ckpt_event *e);

/* Writes summary.json's top-level "steps" member, after another member: one member per
 * line, indented by two spaces, which is what tells it from a stage's "steps". */
void dk_summary_steps_write(FILE *f, long steps);

/* The top-level "steps" of summary.json's text (dk_summary_steps_write's), or -1 where it
 * holds none that can be read. */
long dk_summary_steps_read(const char *text);

#endif

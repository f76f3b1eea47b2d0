/* The grid-extension schedule: pykan's loop of `refine` then `fit` as one plan. Training
 * runs in stages of strictly increasing grid size G, each a planned number of optimiser
 * updates (Adam steps and L-BFGS iterations counted alike); at every stage change the
 * network is refined to the next G. Within every stage, grid updates from samples come
 * before update 0, N, 2N, ... of the stage (N = update_every; pykan's grid_update_freq),
 * and none at or after update `update_until` (pykan's stop_grid_update_step).
 *
 * Counting only: layers/ refines and refits, the launcher drives both at the times this
 * plan gives. */
#ifndef DK_GRID_SCHEDULE_H
#define DK_GRID_SCHEDULE_H

#include <stdbool.h>

enum { DK_GRID_MAX_STAGES = 32 };

typedef struct dk_grid_schedule {
    int n_stages;                        /* 1 .. DK_GRID_MAX_STAGES */
    int G[DK_GRID_MAX_STAGES];           /* grid intervals of each stage */
    long updates[DK_GRID_MAX_STAGES];    /* planned updates of each stage */
    long update_every;                   /* grid update period within a stage; 0 = never */
    long update_until;                   /* no grid update at or after this update of a stage; 0 = none */
} dk_grid_schedule;

/* Plans `total` updates over n_stages stages of sizes G[] (n_stages in [1, DK_GRID_MAX_STAGES]).
 * Stage lengths come from `lengths`: n_lengths = 0 splits `total` as equally as integers
 * allow: stage s gets floor(total (s+1) / n) - floor(total s / n), so lengths differ by one
 * update at most and the extra updates are spread over the run;
 * n_lengths = 1 gives every stage lengths[0]; n_lengths = n_stages one each. Whether the
 * lengths add up to `total` is the caller's rule to check (dk_grid_schedule_total). */
void dk_grid_schedule_plan(dk_grid_schedule *s, int n_stages, const int *G, long total, int n_lengths,
                           const int *lengths, long update_every, long update_until);

/* The planned updates of all stages together. */
long dk_grid_schedule_total(const dk_grid_schedule *s);

/* Whether a grid update from samples comes before update u (0-based) of a stage. */
bool dk_grid_schedule_update_due(const dk_grid_schedule *s, long u);

#endif

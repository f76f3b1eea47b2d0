/* Learning-rate schedules: the learning rate for update number `step` (1-based) of
 * `total` steps.
 *
 *   constant: lr
 *   cosine:   lr_min + (lr - lr_min) * (1 + cos(pi * s / S)) / 2,  s = step-1-warmup, S = total-warmup
 *   step:     lr * gamma^floor((step-1-warmup) / step_every)
 *
 * All three start with `warmup` steps of linear warm-up: for step <= warmup the rate is
 * lr * step / warmup, from lr/warmup at step 1 to exactly lr at step = warmup (warmup <= 0
 * disables it). The decay formulas then take over at step warmup+1 with s = 0 (rate lr).
 *
 * Edges:
 *  - End of the schedule. s runs 0 .. S-1 over the updates warmup+1 .. total, so the last
 *    update of the run still uses a cosine rate just above lr_min (as torch's
 *    CosineAnnealingLR with T_max = S: no update is wasted at lr_min = 0); s = S, reached at
 *    step total+1, is the end value: lr_min for cosine, lr * gamma^floor(S / step_every) for
 *    step decay.
 *  - Beyond total: s is clamped to S, so every step > total returns that end value (cosine
 *    does not rise again, step decay does not keep decaying).
 *  - total <= warmup: the decay phase is empty (S = 0); warm-up runs its course (even past
 *    total) and every later step gets the end value: lr for constant and step decay, lr_min
 *    for cosine.
 *  - step < 1 is treated as step 1; step_every <= 0 disables step decay (rate lr).
 */
#ifndef DK_LR_SCHEDULE_H
#define DK_LR_SCHEDULE_H

typedef enum { DK_LR_CONSTANT = 0, DK_LR_COSINE = 1, DK_LR_STEP = 2 } dk_lr_kind;

typedef struct dk_lr_schedule {
    dk_lr_kind kind;
    double lr;      /* base (peak) learning rate */
    double lr_min;  /* cosine floor */
    double gamma;   /* step decay factor */
    long step_every;/* step decay period in steps */
    long warmup;    /* linear warm-up steps */
    long total;     /* steps of the run */
} dk_lr_schedule;

double dk_lr_at(const dk_lr_schedule *s, long step);
const char *dk_lr_kind_name(dk_lr_kind kind);

#endif

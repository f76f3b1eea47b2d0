#include "dk_lr_schedule.h"

#include <math.h>

/* M_PI is an XSI extension, not C11. */
static const double pi = 3.14159265358979323846;

/* See the header for the formulas and the edge rules; this file follows them literally. */
double dk_lr_at(const dk_lr_schedule *s, long step)
{
    const long warmup = s->warmup > 0 ? s->warmup : 0;
    if (step < 1)
        step = 1;
    /* Linear warm-up: update k of w uses lr * k / w, reaching lr exactly at k = w. */
    if (step <= warmup)
        return s->lr * (double)step / (double)warmup;

    /* Decay progress: s = step - 1 - warmup runs 0, 1, ..., S - 1 over the run's post-warm-up
     * updates and reaches S = total - warmup just after the last one; it is held at S from
     * then on, so every later step gets the end-of-schedule value. */
    const long span = s->total - warmup > 0 ? s->total - warmup : 0;
    long progress = step - 1 - warmup;
    if (progress > span)
        progress = span;

    switch (s->kind) {
    case DK_LR_COSINE: {
        /* An empty decay phase (total <= warmup) is already at its end: lr_min. */
        if (span == 0)
            return s->lr_min;
        /* At s = S the phase is exactly 1 and cos(pi) rounds to exactly -1, so the end
         * value is lr_min to the last bit (the tests check it with ==). */
        const double phase = (double)progress / (double)span;
        return s->lr_min + (s->lr - s->lr_min) * 0.5 * (1.0 + cos(pi * phase));
    }
    case DK_LR_STEP: {
        if (s->step_every <= 0)
            return s->lr;
        return s->lr * pow(s->gamma, (double)(progress / s->step_every));
    }
    case DK_LR_CONSTANT:
    default:
        return s->lr;
    }
}

const char *dk_lr_kind_name(dk_lr_kind kind)
{
    switch (kind) {
    case DK_LR_CONSTANT: return "constant";
    case DK_LR_COSINE: return "cosine";
    case DK_LR_STEP: return "step";
    default: return "unknown";
    }
}

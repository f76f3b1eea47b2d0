/* The grid-extension schedule (dk_grid_schedule.h). */
#include "dk_grid_schedule.h"

#include <assert.h>

void dk_grid_schedule_plan(dk_grid_schedule *s, int n_stages, const int *G, long total, int n_lengths,
                           const int *lengths, long update_every, long update_until)
{
    assert(n_stages >= 1 && n_stages <= DK_GRID_MAX_STAGES);
    assert(n_lengths == 0 || n_lengths == 1 || n_lengths == n_stages);
    *s = (dk_grid_schedule){.n_stages = n_stages, .update_every = update_every, .update_until = update_until};
    for (int i = 0; i < n_stages; i++) {
        s->G[i] = G[i];
        /* total * (i + 1) cannot overflow: total is at most 2e9 updates (config limits). */
        s->updates[i] = n_lengths == 0 ? total * (i + 1) / n_stages - total * i / n_stages
                                       : lengths[n_lengths == 1 ? 0 : i];
    }
}

long dk_grid_schedule_total(const dk_grid_schedule *s)
{
    long sum = 0;
    for (int i = 0; i < s->n_stages; i++)
        sum += s->updates[i];
    return sum;
}

bool dk_grid_schedule_update_due(const dk_grid_schedule *s, long u)
{
    return s->update_every > 0 && u % s->update_every == 0 && (s->update_until == 0 || u < s->update_until);
}

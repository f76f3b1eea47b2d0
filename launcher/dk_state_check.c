/* Checks of a checkpoint's optimiser state (dk_state_check.h). */
#include "dk_state_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../optim/dk_lbfgs.h"
#include "dk_model_file.h"

/* The first second moment that is NaN or negative, or -1 (+inf is one a run writes). */
static long first_bad_second_moment(dk_dtype dtype, const void *v, size_t n)
{
    for (size_t e = 0; e < n; e++) {
        const double x = dk_load(dtype, v, e);
        if (isnan(x) || x < 0.0)
            return (long)e;
    }
    return -1;
}

dk_err dk_optimizer_check_values(const dk_optimizer_view *v, const char *label)
{
    long bad;
    if (v->adam_m && (bad = dk_first_not_finite(v->dtype, v->adam_m, v->n)) >= 0)
        DK_ERROR(DK_ERR_DATA, "%s: Adam's first moment %ld is %g: %s", label, bad,
                 dk_load(v->dtype, v->adam_m, (size_t)bad), DK_FOREIGN_VALUE_HINT);
    if (v->adam_v && (bad = first_bad_second_moment(v->dtype, v->adam_v, v->n)) >= 0)
        DK_ERROR(DK_ERR_DATA, "%s: Adam's second moment %ld is %g (expected >= 0): %s", label, bad,
                 dk_load(v->dtype, v->adam_v, (size_t)bad), DK_FOREIGN_VALUE_HINT);
    if (!v->s || v->fresh)
        return DK_OK;
    for (int k = 0; k < v->count; k++) {
        const int slot = dk_lbfgs_pair_slot(v->head, v->history, k);
        const double *s = v->s + (size_t)slot * v->stride, *y = v->y + (size_t)slot * v->stride;
        if (dk_first_not_finite(DK_F64, s, v->n) >= 0 || dk_first_not_finite(DK_F64, y, v->n) >= 0 ||
            !isfinite(v->rho[slot]))
            DK_ERROR(DK_ERR_DATA, "%s: L-BFGS correction pair %d (slot %d) holds a value that is not finite: %s", label,
                     k, slot, DK_FOREIGN_VALUE_HINT);
        /* rho = 1 / y.s, and a pair is stored only with y.s > 0 (the curvature test):
         * with rho <= 0 the two-loop recursion may turn the direction uphill. */
        if (!(v->rho[slot] > 0.0))
            DK_ERROR(DK_ERR_DATA, "%s: L-BFGS correction pair %d (slot %d) has rho = 1 / y.s = %g (expected > 0: only "
                     "pairs of positive curvature are stored): %s", label, k, slot, v->rho[slot], DK_FOREIGN_VALUE_HINT);
    }
    if ((bad = dk_first_not_finite(DK_F64, v->x, v->n)) >= 0)
        DK_ERROR(DK_ERR_DATA, "%s: element %ld of the L-BFGS iterate is %g: %s", label, bad, v->x[bad],
                 DK_FOREIGN_VALUE_HINT);
    if ((bad = dk_first_not_finite(DK_F64, v->g, v->n)) >= 0)
        DK_ERROR(DK_ERR_DATA, "%s: element %ld of the L-BFGS gradient is %g: %s", label, bad, v->g[bad],
                 DK_FOREIGN_VALUE_HINT);
    if (!isfinite(v->f))
        DK_ERROR(DK_ERR_DATA, "%s: the loss at the L-BFGS iterate is %g: %s", label, v->f, DK_FOREIGN_VALUE_HINT);
    return DK_OK;
}

/* Reads tensor `name` whole into a new buffer; *count receives its elements. */
static dk_err read_whole(dk_ckpt_reader *rd, const char *name, dk_dtype dtype, void **out, size_t *count,
                         size_t *dim1)
{
    *out = NULL;
    const Dk__Tensor *t = dk_ckpt_find(rd, name);
    if (!t)
        DK_ERROR(DK_ERR_DATA, "%s: tensor %s is missing", dk_ckpt_label(rd), name);
    *count = (size_t)(t->nbytes / dk_dtype_size(dtype));
    *dim1 = t->n_shape >= 2 ? (size_t)t->shape[1] : 0;
    DK_CALL(dk_calloc(out, *count ? *count : 1, dk_dtype_size(dtype), name));
    DK_CALL(dk_ckpt_read_tensor(rd, name, dtype, *count, *out));
    return DK_OK;
}

dk_err dk_optimizer_check_file(dk_ckpt_reader *rd)
{
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    const dk_dtype dt = m->model && m->model->dtype == DK__DTYPE__F32 ? DK_F32 : DK_F64;
    void *buf[7] = {0};
    size_t count[7] = {0}, dim1 = 0, unused;
    dk_optimizer_view v = {.dtype = dt};
    dk_err err = DK_OK;
    if (m->adam) {
        err = read_whole(rd, "adam.m", dt, &buf[0], &count[0], &unused);
        if (err == DK_OK)
            err = read_whole(rd, "adam.v", dt, &buf[1], &count[1], &unused);
        if (err == DK_OK && count[0] != count[1])
            err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "%s: adam.m and adam.v differ in size",
                               dk_ckpt_label(rd));
        v.adam_m = buf[0], v.adam_v = buf[1], v.n = count[0];
    }
    if (err == DK_OK && m->lbfgs) {
        const Dk__Lbfgs *lb = m->lbfgs;
        const char *names[5] = {"lbfgs.s", "lbfgs.y", "lbfgs.rho", "lbfgs.x", "lbfgs.g"};
        for (int i = 0; i < 5 && err == DK_OK; i++)
            err = read_whole(rd, names[i], DK_F64, &buf[2 + i], &count[2 + i], i == 0 ? &dim1 : &unused);
        const size_t n = count[5];
        if (err == DK_OK && (lb->history < 1 || lb->head < 0 || lb->head >= lb->history || lb->count < 0 ||
                             lb->count > lb->history || dim1 < n || count[2] != (size_t)lb->history * dim1 ||
                             count[3] != count[2] || count[4] != (size_t)lb->history || count[6] != n))
            err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__,
                               "%s: the L-BFGS tensors' sizes disagree with its history of %d (head %d, %d pairs)",
                               dk_ckpt_label(rd), lb->history, lb->head, lb->count);
        if (err == DK_OK && m->adam && v.n != n)
            err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "%s: Adam holds %zu moments, L-BFGS %zu values",
                               dk_ckpt_label(rd), v.n, n);
        v.s = buf[2], v.y = buf[3], v.rho = buf[4], v.x = buf[5], v.g = buf[6];
        v.history = lb->history, v.head = lb->head, v.count = lb->count, v.stride = dim1, v.fresh = lb->fresh;
        v.f = lb->f;
        v.n = n;
    }
    if (err == DK_OK)
        err = dk_optimizer_check_values(&v, dk_ckpt_label(rd));
    for (int i = 0; i < 7; i++)
        free(buf[i]);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    return DK_OK;
}

dk_err dk_manifest_check_counters(const Dk__Manifest *m, const char *label)
{
    const Dk__Metadata *md = m->metadata;
    const Dk__Schedule *sc = m->schedule;
    if (!md || !sc || !m->data)
        DK_ERROR(DK_ERR_DATA, "%s: the manifest lacks its %s", label,
                 !md ? "metadata" : !sc ? "schedule" : "data position");
    if (md->world_size < 1 || !isfinite(md->wall_s) || md->wall_s < 0.0)
        DK_ERROR(DK_ERR_DATA, "%s: the metadata say %d ranks and %g s of training (expected >= 1 and a finite time "
                 ">= 0): %s", label, md->world_size, md->wall_s, DK_FOREIGN_VALUE_HINT);
    if (sc->n_stages < 1 || sc->stage < 0 || (size_t)sc->stage >= sc->n_stages)
        DK_ERROR(DK_ERR_DATA, "%s: the schedule is in grid stage %lld of %zu: %s", label, (long long)sc->stage + 1,
                 sc->n_stages, DK_FOREIGN_VALUE_HINT);
    for (size_t s = 0; s < sc->n_stages; s++) {
        const Dk__Stage *st = sc->stages[s];
        if (!st || st->grid < 1 || st->first_step < 0 || st->planned < 0 || st->done < 0 || st->done > st->planned)
            DK_ERROR(DK_ERR_DATA, "%s: grid stage %zu of the schedule holds G %d, first step %lld, %lld of %lld "
                     "updates done (expected G >= 1 and 0 <= done <= planned): %s", label, s + 1, st ? st->grid : 0,
                     st ? (long long)st->first_step : -1LL, st ? (long long)st->done : -1LL,
                     st ? (long long)st->planned : -1LL, DK_FOREIGN_VALUE_HINT);
    }
    if (sc->step < 0 || sc->adam_done < 0 || sc->adam_done > sc->step || sc->lbfgs_dropped < 0 ||
        sc->grid_updates < 0 || sc->stages[sc->stage]->first_step > sc->step)
        DK_ERROR(DK_ERR_DATA, "%s: the schedule's counters are inconsistent (step %lld, Adam updates %lld, stage %d "
                 "from step %lld): %s", label, (long long)sc->step, (long long)sc->adam_done, sc->stage + 1,
                 (long long)sc->stages[sc->stage]->first_step, DK_FOREIGN_VALUE_HINT);
    /* The stages follow each other: each begins where the one before ended, and the step
     * lies in the current one (at its end once it has ended). */
    const Dk__Stage *cur = sc->stages[sc->stage];
    for (int s = 0; s <= sc->stage; s++) {
        const long long expected = s == 0 ? 0 : sc->stages[s - 1]->first_step + sc->stages[s - 1]->done;
        if (sc->stages[s]->first_step != expected)
            DK_ERROR(DK_ERR_DATA, "%s: grid stage %d begins at step %lld, but the stages before it end at step %lld: "
                     "%s", label, s + 1, (long long)sc->stages[s]->first_step, expected, DK_FOREIGN_VALUE_HINT);
    }
    if (cur->done > 0 ? sc->step != cur->first_step + cur->done
                      : sc->step > cur->first_step + cur->planned ||
                            (cur->planned > 0 && sc->step == cur->first_step + cur->planned))
        DK_ERROR(DK_ERR_DATA, "%s: the step, %lld, is not where grid stage %d stands (from step %lld, %lld of %lld "
                 "updates done): %s", label, (long long)sc->step, sc->stage + 1, (long long)cur->first_step,
                 (long long)cur->done, (long long)cur->planned, DK_FOREIGN_VALUE_HINT);
    if (m->model && m->model->grid != cur->grid)
        DK_ERROR(DK_ERR_DATA, "%s: the model has G = %d but its grid stage %d has G = %d: %s", label, m->model->grid,
                 sc->stage + 1, cur->grid, DK_FOREIGN_VALUE_HINT);
    /* Adam starts afresh at every grid extension: its counter is the Adam updates of the
     * current stage. */
    const long long adam_in_stage = sc->adam_done > cur->first_step ? sc->adam_done - cur->first_step : 0;
    if (m->adam && m->adam->step != adam_in_stage)
        DK_ERROR(DK_ERR_DATA, "%s: Adam's step counter is %lld, but the current grid stage holds %lld Adam updates: "
                 "%s", label, (long long)m->adam->step, adam_in_stage, DK_FOREIGN_VALUE_HINT);
    if (m->lbfgs && (m->lbfgs->steps < 0 || m->lbfgs->steps > sc->step - sc->adam_done || m->lbfgs->evals < 0))
        DK_ERROR(DK_ERR_DATA, "%s: L-BFGS's counters are %lld iterations and %lld evaluations (expected 0..%lld "
                 "iterations, the L-BFGS updates done, and evaluations >= 0): %s", label, (long long)m->lbfgs->steps,
                 (long long)m->lbfgs->evals, (long long)(sc->step - sc->adam_done), DK_FOREIGN_VALUE_HINT);
    const Dk__LossHistory *h = m->loss ? m->loss->history : NULL;
    if (h && (!isfinite(h->first) || h->first < 0.0 || h->first_step < 0 || h->first_step > sc->step || !isfinite(h->grid_rise) ||
              h->grid_rise < 0.0 || h->grid_rise_step < 0 || h->grid_rise_step > sc->step ||
              !isfinite(h->grid_rise_loss) || h->grid_rise_loss < 0.0))
        DK_ERROR(DK_ERR_DATA, "%s: the loss history (first loss %g at step %lld, largest grid rise %g at step %lld) "
                 "does not fit step %lld: %s", label, h->first, (long long)h->first_step, h->grid_rise,
                 (long long)h->grid_rise_step, (long long)sc->step, DK_FOREIGN_VALUE_HINT);
    return DK_OK;
}

dk_err dk_manifest_check_config(const Dk__Manifest *m, const dk_config *cfg, const char *path)
{
    const Dk__Model *model = m->model;
    const Dk__Schedule *sc = m->schedule;
    DK_CALL(dk_manifest_check_counters(m, path));
    /* Optional in the format: inspect may get here before the model is read. */
    if (!model)
        DK_ERROR(DK_ERR_DATA, "%s: the manifest holds no model: %s", path, DK_FOREIGN_VALUE_HINT);
    if (m->data->seed != (uint64_t)cfg->seed)
        DK_ERROR(DK_ERR_DATA, "%s: the data position was drawn with seed %llu, its config says %lld: %s", path,
                 (unsigned long long)m->data->seed, (long long)cfg->seed, DK_FOREIGN_VALUE_HINT);
    /* A fit draws batch b at Adam step b: another clock would train on other batches. */
    if (cfg->task == DK_TASK_FIT && m->data->fit_batch != sc->adam_done)
        DK_ERROR(DK_ERR_DATA, "%s: the batch clock (%lld) differs from the Adam step count (%lld): %s", path,
                 (long long)m->data->fit_batch, (long long)sc->adam_done, DK_FOREIGN_VALUE_HINT);
    bool ok = model->n_widths == (size_t)cfg->n_widths && model->k == cfg->k &&
              model->dtype == (cfg->precision == DK_F64 ? DK__DTYPE__F64 : DK__DTYPE__F32);
    for (size_t i = 0; ok && i < model->n_widths; i++)
        ok = model->widths[i] == cfg->widths[i];
    if (!ok)
        DK_ERROR(DK_ERR_DATA, "%s: the manifest's model (widths, k, precision) disagrees with the config stored in it",
                 path);
    dk_grid_schedule plan;
    dk_config_grid_schedule(cfg, &plan);
    const int n_stages = plan.n_stages;
    if (sc->n_stages != (size_t)n_stages)
        DK_ERROR(DK_ERR_DATA, "%s: the schedule has %zu grid stages but the config stored with it has %d", path,
                 sc->n_stages, n_stages);
    for (int s = 0; s < n_stages; s++)
        if (sc->stages[s]->grid != plan.G[s])
            DK_ERROR(DK_ERR_DATA, "%s: grid stage %d of the schedule has G = %d, the config stored with it %d", path,
                     s + 1, sc->stages[s]->grid, plan.G[s]);
    const bool adam = cfg->optimizer != DK_OPT_LBFGS, lbfgs = cfg->optimizer != DK_OPT_ADAM;
    if (adam != (m->adam != NULL) || lbfgs != (m->lbfgs != NULL))
        DK_ERROR(DK_ERR_DATA, "%s: the optimizer state (Adam %s, L-BFGS %s) does not fit optimizer = %s", path,
                 m->adam ? "present" : "absent", m->lbfgs ? "present" : "absent",
                 dk_config_optimizer_name(cfg->optimizer));
    if (m->lbfgs && m->lbfgs->history != cfg->lbfgs_history)
        DK_ERROR(DK_ERR_DATA, "%s: the L-BFGS history holds %d pairs, the config %d", path, m->lbfgs->history,
                 cfg->lbfgs_history);
    return DK_OK;
}

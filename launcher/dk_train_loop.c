/* The training loop: the global loss and gradient (one all-reduce per evaluation), the
 * Adam and L-BFGS phases, evaluation and logging.
 *
 * Every rank runs the same sequence of collectives: the number of loss evaluations in a
 * step depends only on all-reduced values (the loss and gradient), which are identical on
 * every rank, so the ranks stay in lockstep without any extra communication. */
#include <math.h>
#include <errno.h>
#include <string.h>

#include "dk_run_files.h"
#include "dk_run_formats.h"
#include "dk_train_device.h"
#include "dk_train_run.h"

/* ---------------------------------------------------------------------------------------
 * The loss
 * ------------------------------------------------------------------------------------- */

/* This rank's fit loss: the batch of `step`, or with `full` the mean over all batches
 * (L-BFGS needs one fixed objective). Leaves this rank's gradient in net->grads. */
static double fit_local_loss(dk_run *r, long step, bool full)
{
    dk_network *net = r->net;
    const dk_fit_task *t = r->fit;
    long first = full ? 1 : step, last = full ? t->n_batches : step;
    double loss = 0.0;
    for (long b = first; b <= last; b++) {
        const void *x, *y;
        long rows;
        dk_fit_task_batch(t, b, &x, &y, &rows);
        const void *pred = dk_network_forward(net, rows, x);
        loss += dk_fit_task_loss(t, rows, pred, y, r->dout);
        dk_network_backward(net, rows, r->dout);
        if (full && t->n_batches > 1)
            dk_network_accumulate_grads(net, r->grad_sum, b == first);
    }
    if (full && t->n_batches > 1) {
        double inv = 1.0 / (double)t->n_batches;
        for (size_t i = 0; i < net->n_params; i++)
            dk_store(net->dtype, net->grads, i, dk_load(net->dtype, r->grad_sum, i) * inv);
        loss *= inv;
    }
    return loss;
}

/* This rank's loss terms and gradient on the host, with the control word, summed over
 * ranks by one all-reduce of the gradient buffer, whose spare slots carry the scalars.
 * sums: the reduced total, interior and boundary loss and control word. */
static dk_err host_global_loss(dk_run *r, long step, bool full, double sums[DK_N_SLOTS])
{
    dk_network *net = r->net;
    double local = 0.0, interior = 0.0, boundary = 0.0;
    if (r->pde)
        local = dk_pde_task_loss(r->pde, net, &interior, &boundary);
    else
        local = fit_local_loss(r, step, full);
    const size_t slots = net->n_params;
    dk_store(net->dtype, net->grads, slots + DK_SLOT_LOSS, local);
    dk_store(net->dtype, net->grads, slots + DK_SLOT_INTERIOR, interior);
    dk_store(net->dtype, net->grads, slots + DK_SLOT_BOUNDARY, boundary);
    dk_store(net->dtype, net->grads, slots + DK_SLOT_CONTROL, dk_train_control_word(r));
    DK_CALL(dk_comm_allreduce_sum(r->comm, net->grads, net->n_params + DK_N_SLOTS, net->dtype, DK_MEM_HOST));
    for (int i = 0; i < DK_N_SLOTS; i++)
        sums[i] = dk_load(net->dtype, net->grads, slots + (size_t)i);
    return DK_OK;
}

/* The global loss and gradient, on the host or the GPU; the gradient is left in the
 * network's (or its device mirror's) gradient buffer. */
static dk_err global_loss(dk_run *r, long step, bool full)
{
    double sums[DK_N_SLOTS];
    if (r->dev)
        DK_CALL(dk_train_device_global_loss(r, step, full, sums));
    else
        DK_CALL(host_global_loss(r, step, full, sums));
    r->loss.total = sums[DK_SLOT_LOSS];
    r->loss.interior = r->pde ? sums[DK_SLOT_INTERIOR] : NAN;
    r->loss.boundary = r->pde ? sums[DK_SLOT_BOUNDARY] : NAN;
    r->control = sums[DK_SLOT_CONTROL];
    if (r->first_loss_step < 0 && isfinite(r->loss.total)) {
        r->first_loss = r->loss.total;
        r->first_loss_step = r->step;
    }
    r->samples_since_log += r->samples_per_eval * (full && r->fit ? (double)r->fit->n_batches : 1.0);
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Evaluation and logging
 * ------------------------------------------------------------------------------------- */

enum test_sum { TEST_SSE, TEST_LARGEST, TEST_SSE_SCALED };

/* One pass of the fit's test rows on this rank, host path: the sum of squared errors, the
 * largest half error, or the sum of squared half errors divided by `scale`
 * (dk_fit_task.h). */
static double test_set_pass(dk_run *r, enum test_sum what, double scale)
{
    const dk_fit_task *t = r->fit;
    dk_network *net = r->net;
    const size_t es = dk_dtype_size(t->dtype);
    double acc = 0.0;
    for (long row = 0; row < t->local_test; row += net->max_batch) {
        long n = t->local_test - row < net->max_batch ? t->local_test - row : net->max_batch;
        const char *x = (const char *)t->test_x + (size_t)row * t->n_in * es;
        const char *y = (const char *)t->test_y + (size_t)row * t->n_out * es;
        const void *pred = dk_network_forward(net, n, x);
        if (what == TEST_SSE)
            acc += dk_fit_task_sse(t, n, pred, y);
        else if (what == TEST_LARGEST)
            acc = fmax(acc, dk_fit_task_largest_half_error(t, n, pred, y));
        else
            acc += dk_fit_task_sse_scaled(t, n, pred, y, scale);
    }
    return acc;
}

/* The PDE's errors against its exact solution on the evaluation set, all-reduced. */
static dk_err evaluate_pde(dk_run *r, dk_eval *out)
{
    double sums[2], mx;
    if (r->dev)
        DK_CALL(dk_train_device_evaluate(r, sums, &mx));
    else
        dk_pde_task_evaluate(r->pde, r->net, &sums[0], &sums[1], &mx);
    DK_CALL(dk_comm_allreduce_sum(r->comm, sums, 2, DK_F64, DK_MEM_HOST));
    DK_CALL(dk_comm_allreduce_max_f64(r->comm, &mx, 1));
    out->mse = sums[0] / (double)r->pde->n_eval;
    bool defined = dk_pde_task_rel_l2_defined(r->pde, sums[1]);
    out->rel_l2 = defined ? sqrt(sums[0] / sums[1]) : NAN;
    if (r->rank == 0 && !defined && !r->warned_rel_l2_undefined) {
        /* Zero over the whole domain (a problem's parameters can make it so), no
         * evaluation set helps; zero only at the evaluation points, a larger one does. */
        if (r->pde->solution_rms == 0.0)
            fprintf(stderr,
                    "distkan: warning: rel_l2 is undefined and reported as nan: the exact solution is zero over "
                    "the whole domain (the problem's parameters make it so); max_err and mse are the errors\n");
        else
            fprintf(stderr,
                    "distkan: warning: rel_l2 is undefined and reported as nan: the exact solution is zero, to "
                    "rounding, at all %ld evaluation points (rms %.3g there, %.3g over the domain); raise [pde] "
                    "eval_grid or eval_points\n",
                    r->pde->n_eval, sqrt(sums[1] / (double)r->pde->n_eval), r->pde->solution_rms);
        r->warned_rel_l2_undefined = true;
    }
    out->max_err = mx;
    return DK_OK;
}

/* The fit's RMSE on the test set, all-reduced. */
static dk_err evaluate_fit(dk_run *r, dk_eval *out)
{
    const dk_fit_task *t = r->fit;
    const double n_values = (double)t->test_size * t->n_out;
    double sse = 0.0;
    if (r->dev) {
        double sums[2], unused;
        DK_CALL(dk_train_device_evaluate(r, sums, &unused));
        sse = sums[0];
    } else {
        sse = test_set_pass(r, TEST_SSE, 1.0);
    }
    DK_CALL(dk_comm_allreduce_sum(r->comm, &sse, 1, DK_F64, DK_MEM_HOST));
    out->test_rmse = t->test_size > 0 ? sqrt(sse / n_values) : NAN;
    if (isinf(sse) && !r->dev) {
        /* Errors beyond about 1e154 (targets in other units, a diverging model): their
         * squares overflowed, not the RMSE. Twice more, scaled by the largest error; only
         * here, so that the usual sum, and its bits, stay as they were. */
        double largest = test_set_pass(r, TEST_LARGEST, 1.0), scaled = 0.0;
        DK_CALL(dk_comm_allreduce_max_f64(r->comm, &largest, 1));
        if (largest > 0.0 && isfinite(largest))
            scaled = test_set_pass(r, TEST_SSE_SCALED, largest);
        DK_CALL(dk_comm_allreduce_sum(r->comm, &scaled, 1, DK_F64, DK_MEM_HOST));
        /* An infinite output stays an infinite RMSE (inf times the 0 left in `scaled`
         * would read NaN); else in this order, as 2 largest may overflow. */
        out->test_rmse = isfinite(largest) ? largest * sqrt(scaled / n_values) * 2.0 : largest;
    }
    if (r->rank == 0 && t->test_size > 0 && !isfinite(out->test_rmse) && !r->warned_test_rmse_not_finite) {
        fprintf(stderr, "distkan: warning: the test RMSE is %g (shown as null in the JSON files): the model's "
                "outputs or the test targets are not finite, or their differences exceed the floating-point range\n",
                out->test_rmse);
        r->warned_test_rmse_not_finite = true;
    }
    return DK_OK;
}

dk_err dk_train_evaluate(dk_run *r, dk_eval *out)
{
    *out = (dk_eval){NAN, NAN, NAN, NAN};
    return r->pde ? evaluate_pde(r, out) : evaluate_fit(r, out);
}

void dk_train_write_eval(FILE *f, const char *sep, const dk_run *r, const dk_eval *e)
{
    if (!r->pde) {
        dk_json_field(f, sep, "test_rmse", e->test_rmse);
        return;
    }
    dk_json_field(f, sep, "rel_l2", e->rel_l2);
    dk_json_field(f, sep, "max_err", e->max_err);
    dk_json_field(f, sep, "mse", e->mse);
}

static void json_field(FILE *f, const char *name, double v) { dk_json_field(f, ", ", name, v); }

/* The log is the run's record, and a resume carries it over: a write that fails (a disk
 * full for a moment) stops the run at once, with its cause, instead of leaving a hole or a
 * torn line that the run would later publish as metrics.jsonl. */
static dk_err log_line_written(const dk_run *r)
{
    errno = 0;
    if (fflush(r->metrics) == 0 && !ferror(r->metrics))
        return DK_OK;
    const int e = errno;
    DK_ERROR(DK_ERR_IO, "cannot write %s/metrics.jsonl.partial at step %ld: %s", r->cfg->run_dir, r->step,
             e ? strerror(e) : "a write to it failed");
}

/* A NaN as printf spells it depends on its sign bit, which means nothing: "-nan" in a
 * message reads as a negative loss. */
static double unsigned_nan(double v) { return isnan(v) ? fabs(v) : v; }

/* phase_value: the learning rate (Adam) or the accepted step length (L-BFGS). */
static dk_err write_log(dk_run *r, const char *phase, double phase_value, int evals, double samples_per_s)
{
    if (r->rank != 0)
        return DK_OK;
    double wall = dk_train_now() - r->t_start;
    int width = 1 + (int)log10((double)(r->total_steps > 0 ? r->total_steps : 1));
    printf("%-5s step %*ld/%ld  loss %.6e", phase, width, r->step, r->total_steps, unsigned_nan(r->loss.total));
    if (r->schedule.n_stages > 1 || r->n_grid_samples > 0)
        printf("  G %d", r->net->G);
    if (r->pde)
        printf(" (interior %.3e, boundary %.3e)  rel_l2 %.4e  max_err %.4e", unsigned_nan(r->loss.interior),
               unsigned_nan(r->loss.boundary), unsigned_nan(r->eval.rel_l2), unsigned_nan(r->eval.max_err));
    else if (r->fit->test_size == 0)
        printf("  test_rmse -"); /* no test set */
    else
        printf("  test_rmse %.6e", unsigned_nan(r->eval.test_rmse));
    /* By phase, not by evals: an L-BFGS stop may have evaluated nothing (a gradient already
     * below tolerance_grad), and it has no learning rate to print. */
    const bool lbfgs = !strcmp(phase, "lbfgs");
    if (lbfgs)
        printf("  t %.3e  evals %d", phase_value, evals);
    else
        printf("  lr %.3e", phase_value);
    printf("  samples/s %.4g\n", samples_per_s);
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && !r->warned_stdout_gone) {
        r->warned_stdout_gone = true;
        fprintf(stderr, "distkan: warning: the progress output cannot be written (%s): training goes on without it "
                        "(its log: %s/metrics.jsonl.partial, metrics.jsonl when it ends)\n",
                errno ? strerror(errno) : "a write failed", r->cfg->run_dir);
    }
    FILE *f = r->metrics;
    fprintf(f, "{\"step\": %ld, \"phase\": \"%s\", \"grid\": %d", r->step, phase, r->net->G);
    json_field(f, "loss", r->loss.total);
    if (r->pde) {
        json_field(f, "loss_interior", r->loss.interior);
        json_field(f, "loss_boundary", r->loss.boundary);
    }
    dk_train_write_eval(f, ", ", r, &r->eval);
    if (lbfgs) {
        json_field(f, "step_length", phase_value);
        fprintf(f, ", \"evals\": %d", evals);
    } else {
        json_field(f, "lr", phase_value);
    }
    json_field(f, "samples_per_s", samples_per_s);
    json_field(f, "wall_s", wall);
    fputs("}\n", f);
    DK_CALL(log_line_written(r));
    return DK_OK;
}

dk_err dk_train_log_event(dk_run *r, const char *event, int n_fields, const char *const *names, const double *values)
{
    if (r->rank != 0)
        return DK_OK;
    dk_log_event_write(r->metrics, r->step, event, r->net->G, n_fields, names, values, dk_train_now() - r->t_start);
    DK_CALL(log_line_written(r));
    return DK_OK;
}

dk_err dk_train_log_checkpoint(dk_run *r, uint64_t bytes, double seconds)
{
    if (r->rank != 0)
        return DK_OK;
    const dk_log_ckpt_event e = {.step = r->step, .grid = r->net->G, .bytes = bytes, .writer = r->writer};
    dk_log_ckpt_event_write(r->metrics, &e, seconds, dk_train_now() - r->t_start);
    DK_CALL(log_line_written(r));
    return DK_OK;
}

/* Whether the update just done is the current grid stage's last planned one. */
static bool stage_ends(const dk_run *r)
{
    const dk_stage *st = &r->stages[r->stage];
    return r->step == st->first_step + st->planned;
}

/* Logs every log_every updates, at the end of every stage and of the run, and when forced
 * (an early stop). */
static dk_err maybe_log(dk_run *r, const char *phase, double phase_value, int evals, bool force)
{
    if (!force && !stage_ends(r) && r->step % r->cfg->log_every != 0 && r->step != r->total_steps)
        return DK_OK;
    double rate = r->samples_since_log / (dk_train_now() - r->t_log);
    DK_CALL(dk_train_evaluate(r, &r->eval));
    DK_CALL(write_log(r, phase, phase_value, evals, rate));
    r->samples_since_log = 0.0;
    r->t_log = dk_train_now(); /* evaluation time is not training throughput */
    r->last_logged = r->step;
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Adam
 * ------------------------------------------------------------------------------------- */

const char *dk_train_largest_value_note(const dk_run *r, const char *before, const char *after, char *buf, size_t size)
{
    buf[0] = '\0';
    if (r->fit && r->fit->names && r->data_largest_line > 0) {
        const char *name = r->fit->names[r->data_largest_column];
        snprintf(buf, size,
                 "%sof the training rows, the value of largest magnitude is %g, at %s:%ld, column %d "
                 "('%.64s%s')%s",
                 before, r->data_largest, r->cfg->csv, r->data_largest_line, r->data_largest_column + 1, name,
                 strlen(name) > 64 ? "..." : "", after);
    }
    return buf;
}

/* A CSV's huge value (a target of 1e300 squares to inf) is named by these messages rather
 * than refused when read: whether a value overflows the loss depends on the model, the
 * precision and whether it is an input or a target, and test rows never do. */
dk_err dk_train_loss_not_finite(const dk_run *r, double loss, const char *where)
{
    char note[DK_PATH_MAX + 256];
    DK_ERROR_AGREED(DK_ERR_NUMERIC,
                    "the training loss is %g at step %ld%s: lower [train] lr (now %g) or check the data%s or problem",
                    unsigned_nan(loss), r->step, where, r->cfg->lr,
                    dk_train_largest_value_note(r, " (", ")", note, sizeof note));
}

dk_err dk_train_initial_loss_not_finite(const dk_run *r, double loss)
{
    /* Before the first update the learning rate cannot be the cause: say what can. */
    char note[DK_PATH_MAX + 256];
    DK_ERROR_AGREED(DK_ERR_NUMERIC,
                    "the training loss of the initial model is %g, before any update: check the data (non-finite or "
                    "huge values%s), the [model] initialisation (noise_scale, scale_base_mu, scale_base_sigma, "
                    "scale_sp) and the problem",
                    unsigned_nan(loss), dk_train_largest_value_note(r, "; ", "", note, sizeof note));
}

static dk_err adam_update(dk_run *r)
{
    r->adam_done++;
    DK_CALL(global_loss(r, r->adam_done, false));
    /* The loss is all-reduced: every rank sees the same value and stops here alike. */
    if (!isfinite(r->loss.total)) {
        if (r->adam_done == 1)
            DK_CALL(dk_train_initial_loss_not_finite(r, r->loss.total));
        DK_CALL(dk_train_loss_not_finite(r, r->loss.total, ""));
    }
    double lr = dk_lr_at(&r->lr, r->adam_done);
    if (r->dev)
        DK_CALL(dk_train_device_adam(r, lr));
    else
        dk_adam_step(r->adam, r->net->params, r->net->grads, lr);
    r->last_lr = lr;
    return maybe_log(r, "adam", lr, 0, false);
}

/* ---------------------------------------------------------------------------------------
 * L-BFGS
 * ------------------------------------------------------------------------------------- */

/* x and g live where the L-BFGS vectors do: on the host, or on the GPU for a GPU run. */
static dk_err lbfgs_objective(void *ctx, const double *x, double *f, double *g)
{
    dk_run *r = ctx;
    if (r->dev)
        DK_CALL(dk_train_device_x_to_params(r, x));
    else
        dk_store_block(r->net->dtype, r->net->params, 0, r->net->n_params, x);
    DK_CALL(global_loss(r, 0, true));
    *f = r->loss.total;
    if (r->dev)
        DK_CALL(dk_train_device_grads_to_g(r, g));
    else
        dk_load_block(r->net->dtype, r->net->grads, 0, r->net->n_params, g);
    return DK_OK;
}

static double *lbfgs_x(dk_run *r) { return r->dev ? dk_train_device_lbfgs_x(r) : r->lbfgs_x; }
static double *lbfgs_g(dk_run *r) { return r->dev ? dk_train_device_lbfgs_g(r) : r->lbfgs_g; }

/* The parameters <- the L-BFGS iterate. */
static dk_err lbfgs_set_params(dk_run *r)
{
    if (r->dev)
        return dk_train_device_x_to_params(r, lbfgs_x(r));
    dk_store_block(r->net->dtype, r->net->params, 0, r->net->n_params, r->lbfgs_x);
    return DK_OK;
}

dk_err dk_train_full_loss(dk_run *r, double *loss)
{
    DK_CALL(global_loss(r, 0, true));
    *loss = r->loss.total;
    return DK_OK;
}

/* One L-BFGS iteration; rep->status says whether it made progress. A fresh start (first
 * use, new collocation points, new grid) clears the history: the curvature pairs describe
 * another objective or another parameterisation. */
static dk_err lbfgs_update(dk_run *r, dk_lbfgs_report *rep)
{
    if (r->lbfgs_fresh) {
        dk_lbfgs_reset(r->lbfgs);
        if (r->dev)
            DK_CALL(dk_train_device_params_to_x(r, lbfgs_x(r)));
        else
            dk_load_block(r->net->dtype, r->net->params, 0, r->net->n_params, r->lbfgs_x);
        DK_CALL(lbfgs_objective(r, lbfgs_x(r), &r->lbfgs_f, lbfgs_g(r)));
        if (!isfinite(r->lbfgs_f)) {
            char note[DK_PATH_MAX + 256];
            DK_ERROR_AGREED(DK_ERR_NUMERIC, "the loss is %g where L-BFGS starts (step %ld)%s", unsigned_nan(r->lbfgs_f),
                            r->step, dk_train_largest_value_note(r, "; ", "", note, sizeof note));
        }
        r->lbfgs_fresh = false;
    }
    dk_err err = dk_lbfgs_step(r->lbfgs, lbfgs_x(r), &r->lbfgs_f, lbfgs_g(r), lbfgs_objective, r, rep);
    /* L-BFGS's numerical failures (a non-finite loss or gradient) come from the all-reduced
     * loss and gradient, the same on every rank; other failures (communication) are not
     * known to be shared and keep ending the job through an abort. */
    if (err == DK_ERR_NUMERIC)
        dk_error_mark_agreed(err);
    DK_CALL(err);
    /* The last evaluation may have been at a rejected trial point. */
    DK_CALL(lbfgs_set_params(r));
    r->loss.total = r->lbfgs_f;
    if (rep->status == DK_LBFGS_PROGRESS)
        return maybe_log(r, "lbfgs", rep->step, rep->evals, false);
    snprintf(r->lbfgs_stop, sizeof r->lbfgs_stop, "%s",
             rep->status == DK_LBFGS_CONVERGED ? "gradient below tolerance_grad"
                                                : "no progress (line search or tolerance_change)");
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Stages
 * ------------------------------------------------------------------------------------- */

/* One stage, from where the run stands in it (its start, or a resumed checkpoint's
 * update): Adam while the plan has Adam steps left, then L-BFGS. An L-BFGS stop ends the
 * stage early; the run goes on with the next stage (new grid). After every update a
 * checkpoint may be written, and a stop signal ends the run there. */
static dk_err run_stage(dk_run *r, dk_stage *st)
{
    for (long u = r->step - st->first_step; st->done == 0 && u < st->planned; u++) {
        r->step++;
        /* New collocation points change the objective: the curvature pairs no longer
         * describe it. */
        if (r->pde && dk_pde_task_prepare_step(r->pde, r->step)) {
            r->lbfgs_fresh = true;
            if (r->dev)
                DK_CALL(dk_train_device_points_changed(r));
        }
        if (dk_grid_schedule_update_due(&r->schedule, u))
            DK_CALL(dk_train_grid_update(r));
        if (r->adam_done < r->adam_steps) {
            DK_CALL(adam_update(r));
        } else {
            dk_lbfgs_report rep;
            DK_CALL(lbfgs_update(r, &rep));
            if (rep.status != DK_LBFGS_PROGRESS) {
                long dropped = st->planned - u - 1;
                r->total_steps -= dropped;
                r->lbfgs_steps -= dropped;
                r->lbfgs_dropped += dropped;
                st->done = u + 1;
                DK_CALL(maybe_log(r, "lbfgs", rep.step, rep.evals, true));
                if (r->rank == 0 && r->schedule.n_stages > 1)
                    printf("L-BFGS stopped at step %ld, update %ld of grid stage %d (G = %d): %s\n", r->step,
                           st->done, r->stage + 1, st->G, r->lbfgs_stop);
                else if (r->rank == 0)
                    printf("L-BFGS stopped at step %ld: %s\n", r->step, r->lbfgs_stop);
            }
        }
        if (r->step == st->first_step + st->planned)
            st->done = st->planned;
        DK_CALL(dk_train_step_boundary(r));
        if (r->stopped)
            return DK_OK;
    }
    if (st->done == 0)
        st->done = st->planned; /* a stage of no updates */
    /* Loss terms at the accepted L-BFGS point (its last evaluation may have been elsewhere). */
    if (r->pde && r->step > st->first_step && r->adam_done == r->adam_steps && !r->lbfgs_fresh) {
        double f_check;
        DK_CALL(lbfgs_objective(r, lbfgs_x(r), &f_check, lbfgs_g(r)));
    }
    st->loss = r->loss.total;
    st->eval = r->eval;
    return DK_OK;
}

dk_err dk_train_optimise(dk_run *r)
{
    r->t_log = dk_train_now();
    r->samples_since_log = 0.0;
    if (!r->resumed) { /* a resumed run continues in the stage its checkpoint was in */
        r->lbfgs_fresh = true;
        r->stage = 0;
        r->stages[0].first_step = 0;
        snprintf(r->lbfgs_stop, sizeof r->lbfgs_stop, "steps");
    }
    for (;;) {
        DK_CALL(run_stage(r, &r->stages[r->stage]));
        if (r->stopped || r->stage + 1 == r->schedule.n_stages)
            break;
        r->stage++;
        r->stages[r->stage].first_step = r->step;
        snprintf(r->lbfgs_stop, sizeof r->lbfgs_stop, "steps");
        DK_CALL(dk_train_grid_extend(r, r->stage));
    }
    /* Adam's loss is its batch's before the update (as logged), so a run ending in Adam
     * has not yet measured the parameters it saves: a last update that diverged (a
     * learning rate too high) would be saved and reported with the loss of the model
     * before it. The full-batch loss of the final parameters is final_loss, and the last
     * stage's loss, instead (the same whether or not the run was resumed at its end);
     * L-BFGS already reports the loss at the point it accepted. */
    if (!r->stopped && r->adam_done > 0 && r->adam_done == r->adam_steps && r->lbfgs_steps == 0) {
        DK_CALL(global_loss(r, 0, true));
        if (!isfinite(r->loss.total))
            DK_CALL(dk_train_loss_not_finite(r, r->loss.total, " (the final parameters', after the last update)"));
        r->stages[r->stage].loss = r->loss.total;
    }
    if (r->step == 0 || r->last_logged != r->step)
        DK_CALL(dk_train_evaluate(r, &r->eval));
    return DK_OK;
}

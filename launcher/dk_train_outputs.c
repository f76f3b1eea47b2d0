/* A run's final outputs in its run directory (config.ini, final_params.bin,
 * final_state.bin, summary.json, then metrics.jsonl completed), replaced as one set by
 * rank 0 at the end of a run that was not stopped. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dk_run_files.h"
#include "dk_run_formats.h"
#include "dk_run_lock.h"
#include "dk_train_run.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "final_params.bin is documented as little-endian: a big-endian build needs byte swapping"
#endif

/* summary.json: one member per line. */
static void json_pair(FILE *f, const char *name, double v) { dk_json_field(f, ",\n  ", name, v); }

static void write_summary_body(const dk_run *r, FILE *f, double wall)
{
    const dk_config *cfg = r->cfg;
    const dk_network *net = r->net;
    fputs("{\n  \"distkan_version\": ", f);
    dk_json_string(f, DISTKAN_VERSION);
    fputs(",\n  \"config\": ", f);
    dk_json_string(f, cfg->source_path);
    fputs(",\n  \"task\": ", f);
    dk_json_string(f, r->pde ? r->pde->description : r->fit->description);
    fprintf(f, ",\n  \"optimizer\": \"%s\"", dk_config_optimizer_name(cfg->optimizer));
    dk_summary_steps_write(f, r->step); /* read back: dk_model_file.c */
    fprintf(f, ",\n  \"adam_steps\": %ld,\n  \"lbfgs_steps\": %ld", r->adam_steps, r->lbfgs_steps);
    if (r->lbfgs) {
        fputs(",\n  \"lbfgs_stop\": ", f);
        dk_json_string(f, r->lbfgs_stop[0] ? r->lbfgs_stop : "not run");
    }
    fprintf(f, ",\n  \"world_size\": %d,\n  \"threads_per_rank\": %d,\n", r->world, cfg->threads);
    fprintf(f, "  \"precision\": \"%s\",\n  \"seed\": %llu,\n  \"widths\": [", dk_dtype_name(net->dtype), cfg->seed);
    for (int l = 0; l <= net->n_layers; l++)
        fprintf(f, "%s%d", l ? ", " : "", net->widths[l]);
    fprintf(f, "],\n  \"grid\": %d,\n  \"k\": %d,\n  \"param_count\": %zu", net->G, net->k, net->n_params);
    json_pair(f, "final_loss", r->loss.total);
    if (r->pde) {
        const dk_pde_task *t = r->pde;
        fprintf(f, ",\n  \"interior_points\": %ld,\n  \"boundary_points\": %ld,\n  \"eval_points\": %ld", t->n_int,
                t->n_bnd, t->n_eval);
        json_pair(f, "final_loss_interior", r->loss.interior);
        json_pair(f, "final_loss_boundary", r->loss.boundary);
    } else {
        const dk_fit_task *t = r->fit;
        fprintf(f, ",\n  \"global_batch\": %ld,\n  \"train_size\": %ld,\n  \"test_size\": %ld", t->batch,
                t->train_size, t->test_size);
    }
    dk_train_write_eval(f, ",\n  ", r, &r->eval);
    json_pair(f, "wall_s", wall);
    fprintf(f, ",\n  \"grid_updates\": %ld,\n  \"stages\": [", r->grid_updates);
    for (int s = 0; s < r->schedule.n_stages; s++) {
        const dk_stage *st = &r->stages[s];
        fprintf(f, "%s\n    {\"grid\": %d, \"first_step\": %ld, \"steps\": %ld", s ? "," : "", st->G,
                st->first_step, st->done);
        if (s > 0) { /* the first stage has no extension before it */
            dk_json_field(f, ", ", "loss_before_extension", st->loss_before);
            dk_json_field(f, ", ", "loss_after_extension", st->loss_after);
            dk_json_field(f, ", ", "extension_max_change", st->refine_change);
        }
        dk_json_field(f, ", ", "loss", st->loss);
        dk_train_write_eval(f, ", ", r, &st->eval);
        fputs("}", f);
    }
    fputs("\n  ]", f);
    /* Where each block sits in final_params.bin and final_state.bin, in elements. */
    fputs(",\n  \"final_params_layout\": [", f);
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        fprintf(f, "%s\n    {\"layer\": %d, \"in\": %d, \"out\": %d, \"n_basis\": %d, \"coef\": %zu, "
                   "\"scale_base\": %zu, \"scale_sp\": %zu}",
                l ? "," : "", l, v->shape.in, v->shape.out, v->shape.n_basis, v->coef, v->scale_base, v->scale_sp);
    }
    fputs("\n  ],\n  \"final_state_layout\": [", f);
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        fprintf(f, "%s\n    {\"layer\": %d, \"knots\": %zu, \"n_knots\": %d, \"mask\": %zu}", l ? "," : "", l,
                v->grid, v->shape.n_knots, v->mask);
    }
    fputs("\n  ]\n}\n", f);
}

/* Output i's content (DK_OUT_*), into its open .partial file (errors surface when it is
 * closed). */
static void write_output(const dk_run *r, int i, FILE *f, double wall)
{
    const size_t es = dk_dtype_size(r->net->dtype);
    switch (i) {
    case DK_OUT_CONFIG:
        dk_config_write_ini(r->cfg, f);
        break;
    case DK_OUT_PARAMS:
        fwrite(r->net->params, es, r->net->n_params, f);
        break;
    case DK_OUT_STATE: /* knots move with grid updates and G with the schedule: the parameters
                        * alone do not define the model */
        fwrite(r->net->state, es, r->net->n_state, f);
        break;
    case DK_OUT_SUMMARY:
        write_summary_body(r, f, wall);
        break;
    }
}

/* Every output as a fsynced .partial file; *started counts those begun, for the cleanup. */
static dk_err write_partials(dk_run *r, double wall, int *started)
{
    const char *dir = r->cfg->run_dir;
    for (int i = 0; i < DK_RUN_OUTPUTS_AT_END; i++) {
        FILE *f;
        DK_CALL(dk_partial_open(&f, dir, dk_run_output_names[i]));
        *started = i + 1;
        write_output(r, i, f, wall);
        DK_CALL(dk_partial_close(f, dir, dk_run_output_names[i]));
    }
    FILE *log = r->metrics;
    r->metrics = NULL; /* closed by dk_partial_close whatever happens */
    DK_CALL(dk_partial_close(log, dir, dk_run_output_names[DK_OUT_LOG]));
    return DK_OK;
}

/* Rank 0 replaces the run directory's outputs as one set, at the end, so that a failed
 * run (or a failure while writing them: a full disk, a name that cannot be replaced)
 * leaves an earlier run's files in the same directory as they were, all of them. */
dk_err dk_train_write_outputs(dk_run *r)
{
    const char *dir = r->cfg->run_dir;
    double wall = dk_train_now() - r->t_start;
    int started = 0;
    DK_CALL(dk_run_lock_recheck()); /* before this run replaces the directory's outputs */
    dk_err err = write_partials(r, wall, &started);
    /* Written, so the earlier history can go aside (with a copy of the results replaced
     * next): a failure to write them leaves it in place. */
    if (err == DK_OK)
        err = dk_train_checkpoint_set_aside_history(r);
    if (err == DK_OK)
        err = dk_partial_commit_set(dir, dk_run_output_names, DK_RUN_OUTPUTS);
    if (err != DK_OK) {
        /* metrics.jsonl.partial stays, as after any failed run, for diagnosis. */
        for (int i = 0; i < started; i++)
            dk_partial_discard(dir, dk_run_output_names[i]);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    dk_train_warn_if_diverged(r);
    if (r->pde)
        printf("done: %ld steps in %.2f s, final loss %.6e, rel L2 %.4e, max error %.4e, MSE %.4e; results in %s/\n",
               r->step, wall, r->loss.total, r->eval.rel_l2, r->eval.max_err, r->eval.mse, dir);
    else {
        char test[48] = "no test set";
        if (r->fit->test_size > 0)
            snprintf(test, sizeof test, "test RMSE %.6e", r->eval.test_rmse);
        printf("done: %ld steps in %.2f s, final loss %.6e, %s; results in %s/\n", r->step, wall, r->loss.total, test,
               dir);
    }
    return DK_OK;
}

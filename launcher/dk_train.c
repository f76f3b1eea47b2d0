#include "dk_train.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../layers/dk_network.h"
#include "../optim/dk_adam.h"
#include "../optim/dk_lr_schedule.h"
#include "../tasks/dk_fit_task.h"
#include "dk_run_files.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "final_params.bin is documented as little-endian: a big-endian build needs byte swapping"
#endif

typedef struct run {
    const dk_config *cfg;
    dk_comm *comm;
    int rank, world;
    dk_fit_task *task;
    dk_network *net;
    dk_adam *adam;
    dk_lr_schedule lr;
    void *dout;      /* d loss / d output for this rank's batch */
    FILE *metrics;   /* rank 0 only */
    double t_start;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Setup failures may hit some ranks only: every rank takes part in the agreement, and
 * *report marks the one rank that prints the message. */
static dk_err agree(run *r, dk_err local, int *report)
{
    return dk_comm_agree(r->comm, local, report);
}

static dk_err setup(run *r, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    dk_fit_task_settings ts = {
        .dtype = cfg->precision, .seed = cfg->seed, .function = cfg->function, .csv = cfg->csv,
        .target_columns = cfg->target_columns, .train_size = cfg->train_size, .test_size = cfg->test_size,
        .batch = cfg->batch, .lo = cfg->grid_range[0], .hi = cfg->grid_range[1],
        .rank = r->rank, .world_size = r->world};
    DK_CALL(agree(r, dk_fit_task_create(&r->task, &ts), local_failure));
    const dk_fit_task *t = r->task;
    dk_err shape_err = DK_OK;
    if (t->n_in != cfg->widths[0] || t->n_out != cfg->widths[cfg->n_widths - 1])
        shape_err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                                 "%s: [model] widths start with %d and end with %d, but the data (%s) have "
                                 "%d input%s and %d target%s",
                                 cfg->source_path, cfg->widths[0], cfg->widths[cfg->n_widths - 1], t->description,
                                 t->n_in, t->n_in == 1 ? "" : "s", t->n_out, t->n_out == 1 ? "" : "s");
    DK_CALL(agree(r, shape_err, local_failure));
    long max_batch = t->local_batch;
    if (t->local_test > max_batch)
        max_batch = t->local_test < 4096 ? t->local_test : (max_batch > 4096 ? max_batch : 4096);
    dk_network_settings ns = {
        .widths = cfg->widths, .n_widths = cfg->n_widths, .G = cfg->grid, .k = cfg->k,
        .grid_lo = cfg->grid_range[0], .grid_hi = cfg->grid_range[1], .dtype = cfg->precision,
        .seed = cfg->seed, .noise_scale = cfg->noise_scale, .scale_base_mu = cfg->scale_base_mu,
        .scale_base_sigma = cfg->scale_base_sigma, .scale_sp = cfg->scale_sp,
        .max_batch = (int)(max_batch > 0 ? max_batch : 1), .n_threads = cfg->threads};
    DK_CALL(agree(r, dk_network_create(&r->net, &ns), local_failure));
    /* Initialisation is a pure function of the seed, so every rank already holds the same
     * parameters; rank 0's are broadcast anyway so that no rank can start different. */
    size_t es = dk_dtype_size(cfg->precision);
    DK_CALL(dk_comm_broadcast(r->comm, r->net->params, r->net->n_params * es, 0, DK_MEM_HOST));

    dk_adam_settings as = {cfg->beta1, cfg->beta2, cfg->adam_eps, cfg->weight_decay};
    DK_CALL(agree(r, dk_adam_create(&r->adam, cfg->precision, r->net->n_params, &as), local_failure));
    r->lr = (dk_lr_schedule){.kind = cfg->lr_schedule, .lr = cfg->lr, .lr_min = cfg->lr_min,
                             .gamma = cfg->lr_gamma, .step_every = cfg->lr_step_every,
                             .warmup = cfg->warmup_steps, .total = cfg->steps};
    DK_CALL(agree(r, dk_aligned_alloc(&r->dout, (size_t)(t->local_batch > 0 ? t->local_batch : 1) * t->n_out * es,
                                      "output gradient"),
                  local_failure));
    dk_err err = DK_OK;
    if (r->rank == 0) {
        err = dk_make_dirs(cfg->run_dir);
        if (err == DK_OK)
            err = dk_partial_open(&r->metrics, cfg->run_dir, "metrics.jsonl");
    }
    DK_CALL(agree(r, err, local_failure));
    return DK_OK;
}

/* Test RMSE over the whole test set: each rank evaluates its rows in chunks of the
 * network's batch capacity and the squared errors are summed over ranks. */
static dk_err test_rmse(run *r, double *rmse)
{
    const dk_fit_task *t = r->task;
    size_t es = dk_dtype_size(t->dtype);
    double sse = 0.0;
    for (long row = 0; row < t->local_test; row += r->net->max_batch) {
        long n = t->local_test - row < r->net->max_batch ? t->local_test - row : r->net->max_batch;
        const char *x = (const char *)t->test_x + (size_t)row * t->n_in * es;
        const char *y = (const char *)t->test_y + (size_t)row * t->n_out * es;
        const void *pred = dk_network_forward(r->net, n, x);
        sse += dk_fit_task_sse(t, n, pred, y);
    }
    DK_CALL(dk_comm_allreduce_sum(r->comm, &sse, 1, DK_F64, DK_MEM_HOST));
    *rmse = t->test_size > 0 ? sqrt(sse / ((double)t->test_size * t->n_out)) : NAN;
    return DK_OK;
}

/* FNV-1a over the parameter bytes: ranks compare hashes to prove they hold identical
 * parameters (they must: same reduced gradient, same update). */
static uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static dk_err check_ranks_agree(run *r)
{
    size_t bytes = r->net->n_params * dk_dtype_size(r->net->dtype);
    uint64_t mine = hash_bytes(r->net->params, bytes);
    uint64_t *all;
    DK_CALL(DK_CALLOC(all, (size_t)r->world, "parameter hashes"));
    dk_err err = dk_comm_allgather(r->comm, &mine, all, sizeof mine);
    for (int i = 0; err == DK_OK && i < r->world; i++)
        if (all[i] != all[0])
            err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__,
                               "rank %d holds different parameters from rank 0 at the end of training", i);
    free(all);
    return err;
}

static void log_step(run *r, long step, double loss, double rmse, double lr, double samples_per_s)
{
    if (r->rank != 0)
        return;
    double wall = now_s() - r->t_start;
    printf("step %*ld/%ld  loss %.6e  test_rmse %.6e  lr %.3e  samples/s %.4g\n", 1 + (int)log10((double)r->cfg->steps),
           step, r->cfg->steps, loss, rmse, lr, samples_per_s);
    fflush(stdout);
    FILE *f = r->metrics;
    fprintf(f, "{\"step\": %ld, \"loss\": ", step);
    dk_json_number(f, loss);
    fputs(", \"test_rmse\": ", f);
    dk_json_number(f, rmse);
    fputs(", \"lr\": ", f);
    dk_json_number(f, lr);
    fputs(", \"samples_per_s\": ", f);
    dk_json_number(f, samples_per_s);
    fputs(", \"wall_s\": ", f);
    dk_json_number(f, wall);
    fputs("}\n", f);
    fflush(f);
}

static dk_err train_loop(run *r, double *final_loss, double *final_rmse)
{
    const dk_config *cfg = r->cfg;
    dk_network *net = r->net;
    const dk_fit_task *t = r->task;
    double loss = NAN, rmse = NAN;
    double t_log = now_s();
    long last_logged = 0;
    for (long step = 1; step <= cfg->steps; step++) {
        const void *x, *y;
        long rows;
        dk_fit_task_batch(t, step, &x, &y, &rows);
        const void *pred = dk_network_forward(net, rows, x);
        double local_loss = dk_fit_task_loss(t, rows, pred, y, r->dout);
        dk_network_backward(net, rows, r->dout);
        /* The loss rides in the gradient buffer's spare slot: one all-reduce per step. */
        dk_store(net->dtype, net->grads, net->n_params, local_loss);
        DK_CALL(dk_comm_allreduce_sum(r->comm, net->grads, net->n_params + 1, net->dtype, DK_MEM_HOST));
        loss = dk_load(net->dtype, net->grads, net->n_params);
        if (!isfinite(loss))
            DK_ERROR(DK_ERR_NUMERIC, "the training loss is %g at step %ld: lower [train] lr (now %g) or check the data",
                     loss, step, cfg->lr);
        double lr = dk_lr_at(&r->lr, step);
        dk_adam_step(r->adam, net->params, net->grads, lr);
        if (step % cfg->log_every == 0 || step == cfg->steps) {
            DK_CALL(test_rmse(r, &rmse));
            double t_now = now_s();
            double sps = (double)(step - last_logged) * (double)t->batch / (t_now - t_log);
            log_step(r, step, loss, rmse, lr, sps);
            t_log = now_s(); /* evaluation time is not training throughput */
            last_logged = step;
        }
    }
    if (cfg->steps == 0)
        DK_CALL(test_rmse(r, &rmse));
    *final_loss = loss;
    *final_rmse = rmse;
    return DK_OK;
}

static void write_summary_body(const run *r, FILE *f, double loss, double rmse, double wall)
{
    const dk_config *cfg = r->cfg;
    const dk_network *net = r->net;
    fputs("{\n  \"distkan_version\": ", f);
    dk_json_string(f, DISTKAN_VERSION);
    fputs(",\n  \"config\": ", f);
    dk_json_string(f, cfg->source_path);
    fputs(",\n  \"task\": ", f);
    dk_json_string(f, r->task->description);
    fprintf(f, ",\n  \"steps\": %ld,\n  \"world_size\": %d,\n  \"threads_per_rank\": %d,\n", cfg->steps, r->world,
            cfg->threads);
    fprintf(f, "  \"precision\": \"%s\",\n  \"seed\": %llu,\n  \"widths\": [", dk_dtype_name(net->dtype), cfg->seed);
    for (int l = 0; l <= net->n_layers; l++)
        fprintf(f, "%s%d", l ? ", " : "", net->widths[l]);
    fprintf(f, "],\n  \"grid\": %d,\n  \"k\": %d,\n  \"param_count\": %zu,\n", net->G, net->k, net->n_params);
    fprintf(f, "  \"global_batch\": %ld,\n  \"train_size\": %ld,\n  \"test_size\": %ld,\n", r->task->batch,
            r->task->train_size, r->task->test_size);
    fputs("  \"final_loss\": ", f);
    dk_json_number(f, loss);
    fputs(",\n  \"test_rmse\": ", f);
    dk_json_number(f, rmse);
    fputs(",\n  \"wall_s\": ", f);
    dk_json_number(f, wall);
    fputs(",\n  \"samples_per_s\": ", f);
    dk_json_number(f, wall > 0 ? (double)cfg->steps * (double)r->task->batch / wall : 0.0);
    /* Where each block sits in final_params.bin, in elements. */
    fputs(",\n  \"final_params_layout\": [", f);
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        fprintf(f, "%s\n    {\"layer\": %d, \"in\": %d, \"out\": %d, \"n_basis\": %d, \"coef\": %zu, "
                   "\"scale_base\": %zu, \"scale_sp\": %zu}",
                l ? "," : "", l, v->shape.in, v->shape.out, v->shape.n_basis, v->coef, v->scale_base, v->scale_sp);
    }
    fputs("\n  ]\n}\n", f);
}

/* Rank 0 commits the run's files, all at the end, so that a failed run leaves an earlier
 * run's files in the same directory as they were. */
static dk_err write_outputs(run *r, double loss, double rmse)
{
    const char *dir = r->cfg->run_dir;
    double wall = now_s() - r->t_start;
    FILE *f;
    DK_CALL(dk_partial_open(&f, dir, "config.ini"));
    dk_config_write_ini(r->cfg, f);
    DK_CALL(dk_partial_commit(f, dir, "config.ini"));
    DK_CALL(dk_write_file_atomic(dir, "final_params.bin", r->net->params,
                                 r->net->n_params * dk_dtype_size(r->net->dtype)));
    DK_CALL(dk_partial_open(&f, dir, "summary.json"));
    write_summary_body(r, f, loss, rmse, wall);
    DK_CALL(dk_partial_commit(f, dir, "summary.json"));
    DK_CALL(dk_partial_commit(r->metrics, dir, "metrics.jsonl"));
    r->metrics = NULL;
    printf("done: %ld steps in %.2f s, final loss %.6e, test RMSE %.6e; results in %s/\n", r->cfg->steps, wall, loss,
           rmse, dir);
    return DK_OK;
}

static void teardown(run *r)
{
    if (r->metrics)
        fclose(r->metrics); /* a failed run keeps its metrics.jsonl.partial for diagnosis */
    free(r->dout);
    dk_adam_destroy(&r->adam);
    dk_network_destroy(&r->net);
    dk_fit_task_destroy(&r->task);
}

static dk_err train_and_save(run *r)
{
    if (r->rank == 0) {
        printf("distkan %s: %d rank%s (%s), task: %s\n", DISTKAN_VERSION, r->world, r->world == 1 ? "" : "s",
               dk_comm_backend_name(r->comm), r->task->description);
        printf("global batch %ld (%ld per step per rank on rank 0), train %ld, test %ld\n", r->task->batch,
               r->task->local_batch, r->task->train_size, r->task->test_size);
        if (r->task->warning[0])
            printf("warning: %s\n", r->task->warning);
        dk_network_view(r->net, stdout);
        fflush(stdout);
    }
    double loss = NAN, rmse = NAN;
    DK_CALL(train_loop(r, &loss, &rmse));
    DK_CALL(check_ranks_agree(r));
    if (r->rank == 0)
        DK_CALL(write_outputs(r, loss, rmse));
    DK_CALL(dk_comm_barrier(r->comm));
    return DK_OK;
}

dk_err dk_train_run(const dk_config *cfg, dk_comm *comm, int *local_failure)
{
    run r = {.cfg = cfg, .comm = comm, .rank = dk_comm_rank(comm), .world = dk_comm_size(comm)};
    r.t_start = now_s();
    *local_failure = 0;
    dk_err err = setup(&r, local_failure);
    if (err != DK_OK) {
        teardown(&r);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    err = train_and_save(&r);
    if (err != DK_OK) {
        /* From here on a failure may be on one rank only: end the job rather than let
         * the others wait in the next collective. */
        fprintf(stderr, "distkan: rank %d: error: %s\n", r.rank, dk_error_message());
        dk_comm_abort(comm, err == DK_ERR_USAGE ? 2 : 1);
    }
    teardown(&r);
    return DK_OK;
}

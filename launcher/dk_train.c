/* One training run from start to end (dk_train_run): set-up on every rank (the task, the
 * network, the optimisers, the run and checkpoint directories, a resume), the training
 * (dk_train_loop.c), the check that every rank ends with the same model, the final
 * checkpoint and outputs (dk_train_outputs.c), and teardown. What rank 0 prints about it
 * is in dk_train_report.c. */
#include "dk_train.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../common/dk_cpus.h"
#include "dk_run_files.h"
#include "dk_run_history.h"
#include "dk_run_lock.h"
#include "dk_signals.h"
#include "dk_train_device.h"
#include "dk_train_run.h"

/* Setup failures may hit some ranks only: every rank takes part in the agreement, and
 * *report marks the one rank that prints the message. */
static dk_err agree(dk_run *r, dk_err local, int *report)
{
    return dk_comm_agree(r->comm, local, report);
}

/* Inputs beyond the grid lose the spline terms (k knot intervals past it, all of them): with data
 * from a CSV this is easy to miss (physical units, the default grid_range [-1, 1]), so the
 * training inputs' global ranges are compared with the grid range and a run without grid
 * updates says so in its header. */
static dk_err check_data_range(dk_run *r)
{
    const dk_fit_task *t = r->fit;
    const dk_config *cfg = r->cfg;
    r->data_range_warning[0] = '\0';
    if (cfg->grid_update_every != 0) /* the updates move the knots onto the data */
        return DK_OK;
    double *ext = NULL; /* [max x, -min x] per input */
    DK_CALL(DK_CALLOC(ext, (size_t)2 * t->n_in, "input ranges"));
    for (int a = 0; a < 2 * t->n_in; a++)
        ext[a] = -INFINITY;
    const size_t rows = (size_t)t->n_batches * (size_t)t->local_batch;
    for (size_t p = 0; p < rows; p++)
        for (int a = 0; a < t->n_in; a++) {
            const double x = dk_load(t->dtype, t->train_x, p * (size_t)t->n_in + (size_t)a);
            ext[2 * a] = fmax(ext[2 * a], x);
            ext[2 * a + 1] = fmax(ext[2 * a + 1], -x);
        }
    dk_err err = dk_comm_allreduce_max_f64(r->comm, ext, (size_t)2 * t->n_in);
    /* The range as the grid stores it: float32 data ending at hi = 0.1 are the float
     * nearest 0.1, as is the last inner knot, and lie inside. */
    const bool f32 = t->dtype == DK_F32;
    const double lo = f32 ? (double)(float)cfg->grid_range[0] : cfg->grid_range[0];
    const double hi = f32 ? (double)(float)cfg->grid_range[1] : cfg->grid_range[1];
    int outside = 0, first = -1;
    for (int a = 0; err == DK_OK && a < t->n_in; a++)
        if (ext[2 * a] > hi || -ext[2 * a + 1] < lo) {
            outside++;
            first = first < 0 ? a : first;
        }
    /* A CSV's input by its column's name too: counting columns from 0 is error-prone. */
    char name[96] = "";
    if (outside > 0 && t->names)
        snprintf(name, sizeof name, " ('%.64s%s')", t->names[first], strlen(t->names[first]) > 64 ? "..." : "");
    if (outside > 0)
        snprintf(r->data_range_warning, sizeof r->data_range_warning,
                 "the training inputs leave [model] grid_range [%g, %g]: input %d%s spans [%g, %g] (%d of %d inputs "
                 "outside); spline terms fade out beyond the grid, and vanish k knot intervals past it: set grid_range "
                 "to the data's range or enable "
                 "grid updates ([grid] update_every)",
                 cfg->grid_range[0], cfg->grid_range[1], first, name, -ext[2 * first + 1], ext[2 * first], outside,
                 t->n_in);
    free(ext);
    DK_CALL(err);
    return DK_OK;
}

/* Every rank reads the CSV itself (node-local copies are common on clusters), and ranks
 * that read different contents would train one model on mixed data without a sign. Their
 * fingerprints (size and CRC-32C, as a resume checks them) must agree with rank 0's; the
 * same error on every rank. */
static dk_err check_csv_same_on_ranks(dk_run *r)
{
    const uint64_t mine[2] = {(uint64_t)r->fit->csv_bytes, (uint64_t)r->fit->csv_crc32c};
    uint64_t *all;
    DK_CALL(DK_CALLOC(all, 2 * (size_t)r->world, "CSV fingerprints"));
    dk_err err = dk_comm_allgather(r->comm, mine, all, sizeof mine);
    for (int i = 1; err == DK_OK && i < r->world; i++)
        if (all[2 * i] != all[0] || all[2 * i + 1] != all[1])
            err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                               "%s: [fit] csv = %s holds other data on rank %d (%llu bytes with CRC-32C %08x) than on "
                               "rank 0 (%llu bytes with %08x): every rank must read the same file (a node-local copy "
                               "that is out of date?)",
                               r->cfg->source_path, r->cfg->csv, i, (unsigned long long)all[2 * i],
                               (unsigned)all[2 * i + 1], (unsigned long long)all[0], (unsigned)all[1]);
    free(all);
    return err;
}

/* A CSV's value of largest magnitude over every rank's training rows (the first line of equal
 * ones), for the errors of a non-finite training loss: each rank holds only its own rows,
 * and rank 0 reports. Agreed here, since the training step may not allocate. */
static dk_err agree_largest_value(dk_run *r)
{
    typedef struct {
        double value;
        long line;
        int column;
    } largest;
    largest mine, *all;
    memset(&mine, 0, sizeof mine); /* the padding too: it is sent */
    mine.value = r->fit->largest_value;
    mine.line = r->fit->largest_line;
    mine.column = r->fit->largest_column;
    DK_CALL(DK_CALLOC(all, (size_t)r->world, "the ranks' largest values"));
    dk_err err = dk_comm_allgather(r->comm, &mine, all, sizeof mine);
    r->data_largest_line = 0;
    for (int i = 0; err == DK_OK && i < r->world; i++) {
        const double m = fabs(all[i].value), best = fabs(r->data_largest);
        if (all[i].line > 0 &&
            (r->data_largest_line == 0 || m > best || (m == best && all[i].line < r->data_largest_line))) {
            r->data_largest = all[i].value;
            r->data_largest_line = all[i].line;
            r->data_largest_column = all[i].column;
        }
    }
    free(all);
    return err;
}

/* More OpenMP threads than cores slow every step 10 to 100 times (their waits spin; 3 ranks
 * x 2 threads on 2 cores: 19 s for a 0.04 s step) and show no other sign. Each rank sets its
 * threads against the CPUs its binding leaves it and against its node's CPUs shared by the
 * ranks there; rank 0's header names the worst. One thread per rank spins nowhere, and
 * OMP_WAIT_POLICY=passive is the remedy for oversubscription that cannot be avoided. */
static dk_err check_cpu_share(dk_run *r)
{
    typedef struct {
        double need; /* threads per CPU */
        int rank, local, own, node;
    } share;
    share mine, *all;
    memset(&mine, 0, sizeof mine); /* the padding too: it is sent */
    const int threads = r->cfg->threads;
    mine.rank = r->rank;
    mine.local = dk_comm_local_size(r->comm);
    mine.own = dk_cpus_own();
    mine.node = dk_cpus_node();
    mine.need = fmax((double)threads / mine.own, (double)mine.local * threads / mine.node);
    DK_CALL(DK_CALLOC(all, (size_t)r->world, "the ranks' CPU shares"));
    dk_err err = dk_comm_allgather(r->comm, &mine, all, sizeof mine);
    const share *worst = &all[0];
    for (int i = 1; err == DK_OK && i < r->world; i++)
        worst = all[i].need > worst->need ? &all[i] : worst;
    const char *policy = getenv("OMP_WAIT_POLICY");
    r->cpu_warning[0] = '\0';
    if (err == DK_OK && threads > 1 && worst->need > 1.0 && !(policy && !strcasecmp(policy, "passive")))
        snprintf(r->cpu_warning, sizeof r->cpu_warning,
                 "[dist] threads = %d per rank, more than the cores there are for them (rank %d may run on %d CPU%s, "
                 "and %d rank%s share its node's %d): OpenMP's spinning waits can slow every step 10 to 100 times; "
                 "use fewer threads or ranks per node, or set OMP_WAIT_POLICY=passive",
                 threads, worst->rank, worst->own, worst->own == 1 ? "" : "s", worst->local,
                 worst->local == 1 ? "" : "s", worst->node);
    free(all);
    return err;
}

/* The fit task and the network's batch capacity for it. */
static dk_err setup_fit(dk_run *r, long *max_batch, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    dk_fit_task_settings ts = {
        .dtype = cfg->precision, .seed = cfg->seed, .function = cfg->function, .csv = cfg->csv,
        .target_columns = cfg->target_columns, .train_size = cfg->train_size, .test_size = cfg->test_size,
        .batch = cfg->batch, .lo = cfg->grid_range[0], .hi = cfg->grid_range[1],
        .rank = r->rank, .world_size = r->world};
    DK_CALL(agree(r, dk_fit_task_create(&r->fit, &ts), local_failure));
    if (cfg->csv[0]) {
        DK_CALL(agree(r, check_csv_same_on_ranks(r), local_failure));
        DK_CALL(agree(r, agree_largest_value(r), local_failure));
    }
    const dk_fit_task *t = r->fit;
    dk_err shape_err = DK_OK;
    if (t->n_in != cfg->widths[0] || t->n_out != cfg->widths[cfg->n_widths - 1])
        shape_err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                                 "%s: [model] widths start with %d and end with %d, but the data (%s) have "
                                 "%d input%s and %d target%s",
                                 cfg->source_path, cfg->widths[0], cfg->widths[cfg->n_widths - 1], t->description,
                                 t->n_in, t->n_in == 1 ? "" : "s", t->n_out, t->n_out == 1 ? "" : "s");
    DK_CALL(agree(r, shape_err, local_failure));
    DK_CALL(agree(r, check_data_range(r), local_failure));
    /* The network's buffers are sized in int rows: a rank's batch beyond that would wrap. */
    dk_err rows_err = DK_OK;
    if (t->local_batch > INT_MAX)
        rows_err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                                "%s: [train] batch (or, with batch = 0, [fit] train_size) gives rank %d %ld rows per "
                                "step, more than the %d one network call can take: set a smaller [train] batch, or "
                                "use more ranks",
                                cfg->source_path, r->rank, t->local_batch, INT_MAX);
    DK_CALL(agree(r, rows_err, local_failure));
    long mb = t->local_batch;
    if (t->local_test > mb)
        mb = t->local_test < 4096 ? t->local_test : (mb > 4096 ? mb : 4096);
    *max_batch = mb;
    r->samples_per_eval = (double)t->batch;
    return DK_OK;
}

static dk_err setup_pde(dk_run *r, long *max_batch, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    dk_pde_task_settings ps = {
        .problem = dk_pde_problem_find(cfg->pde_problem), .params = dk_config_pde_params(cfg),
        .dtype = cfg->precision, .seed = cfg->seed, .alpha = cfg->pde_alpha, .interior = cfg->pde_interior,
        .boundary = cfg->pde_boundary, .sampling = cfg->pde_sampling, .resample_every = cfg->pde_resample_every,
        .eval_grid = cfg->pde_eval_grid, .eval_points = cfg->pde_eval_points, .rank = r->rank,
        .world_size = r->world};
    DK_CALL(agree(r, dk_pde_task_create(&r->pde, &ps), local_failure));
    *max_batch = dk_pde_task_max_rows(r->pde, cfg->widths, cfg->n_widths, r->device.kind == DK_DEVICE_CUDA);
    r->samples_per_eval = (double)(r->pde->n_int + r->pde->n_bnd);
    return DK_OK;
}

dk_err dk_train_create_optimisers(dk_run *r)
{
    const dk_config *cfg = r->cfg;
    const size_t n = r->net->n_params;
    dk_adam_destroy(&r->adam);
    dk_lbfgs_destroy(&r->lbfgs);
    free(r->lbfgs_x), free(r->lbfgs_g), free(r->grad_sum);
    r->lbfgs_x = r->lbfgs_g = NULL;
    r->grad_sum = NULL;
    if (cfg->optimizer != DK_OPT_LBFGS) {
        dk_adam_settings as = {cfg->beta1, cfg->beta2, cfg->adam_eps, cfg->weight_decay};
        DK_CALL(dk_adam_create(&r->adam, cfg->precision, n, &as));
    }
    if (cfg->optimizer != DK_OPT_ADAM) {
        dk_lbfgs_settings ls = {.history = cfg->lbfgs_history, .max_evals = cfg->lbfgs_max_evals,
                                .c1 = cfg->lbfgs_c1, .c2 = cfg->lbfgs_c2,
                                .tolerance_grad = cfg->lbfgs_tolerance_grad,
                                .tolerance_change = cfg->lbfgs_tolerance_change};
        /* A GPU run keeps the L-BFGS vectors on the GPU; lbfgs_x and lbfgs_g stay the
         * host record that checkpoints read. */
        DK_CALL(dk_lbfgs_create_ops(&r->lbfgs, n, &ls, r->dev ? dk_train_device_vec_ops(r) : dk_vec_ops_cpu()));
        DK_CALL(DK_CALLOC(r->lbfgs_x, n, "L-BFGS iterate"));
        DK_CALL(DK_CALLOC(r->lbfgs_g, n, "L-BFGS gradient"));
        if (r->dev)
            DK_CALL(dk_train_device_lbfgs_alloc(r));
    }
    /* The full-batch objective (L-BFGS, and the losses logged around grid changes) sums
     * the gradient over the training batches. */
    if (r->fit && r->fit->n_batches > 1)
        DK_CALL(dk_aligned_alloc(&r->grad_sum, n * dk_dtype_size(cfg->precision), "full-batch gradient"));
    return DK_OK;
}

static dk_err setup_optimisers(dk_run *r, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    bool adam = cfg->optimizer != DK_OPT_LBFGS, lbfgs = cfg->optimizer != DK_OPT_ADAM;
    r->adam_steps = adam ? cfg->steps : 0;
    r->lbfgs_steps = lbfgs ? cfg->lbfgs_steps : 0;
    r->total_steps = r->adam_steps + r->lbfgs_steps;
    if (adam)
        r->lr = (dk_lr_schedule){.kind = cfg->lr_schedule, .lr = cfg->lr, .lr_min = cfg->lr_min,
                                 .gamma = cfg->lr_gamma, .step_every = cfg->lr_step_every,
                                 .warmup = cfg->warmup_steps, .total = cfg->steps};
    DK_CALL(agree(r, dk_train_create_optimisers(r), local_failure));
    return DK_OK;
}


/* Rank 0: the run directory and the checkpoint directory (a subdirectory of it or not, as
 * another run's [checkpoint] dir may name it) become this process's until it exits. Taken
 * after the resumed checkpoint and the config are checked, so that a refused resume leaves
 * the directory as it was, and before anything there is moved, truncated or deleted. The
 * directories that exist already are locked before either is created: a directory another
 * run holds exists, so every refusal then comes before any mkdir, and a run refused
 * because another holds its checkpoint directory leaves no new, empty run directory. Then
 * the outputs' places are made ready: a run killed while replacing them left a mix, which
 * is repaired (its log stays, as after any failed run), and a directory where an output
 * goes would fail the run only at its end. */
static dk_err claim_dirs(dk_run *r)
{
    const char *dir = r->cfg->run_dir;
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        DK_CALL(dk_run_lock_dir(dir, "run directory", "--run-dir"));
    if (stat(r->ckpt_dir, &st) == 0 && S_ISDIR(st.st_mode))
        DK_CALL(dk_run_lock_dir(r->ckpt_dir, "checkpoint directory", "[checkpoint] dir"));
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_USAGE,
                 "the run directory '%s' (--run-dir, else [output] run_dir) exists and is not a directory", dir);
    if (stat(r->ckpt_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_USAGE, "the checkpoint directory '%s' ([checkpoint] dir) exists and is not a directory",
                 r->ckpt_dir);
    DK_CALL(dk_make_dirs(dir));
    DK_CALL(dk_run_lock_dir(dir, "run directory", "--run-dir"));
    DK_CALL(dk_make_dirs(r->ckpt_dir));
    DK_CALL(dk_run_lock_dir(r->ckpt_dir, "checkpoint directory", "[checkpoint] dir"));
    DK_CALL(dk_check_dir_writable(dir, "run directory", "--run-dir, else [output] run_dir"));
    DK_CALL(dk_check_dir_writable(r->ckpt_dir, "checkpoint directory", "[checkpoint] dir"));
    DK_CALL(dk_outputs_recover(dir, dk_run_output_names, DK_RUN_OUTPUTS, "metrics.jsonl"));
    DK_CALL(dk_outputs_replaceable(dir, dk_run_output_names, DK_RUN_OUTPUTS));
    DK_CALL(dk_run_note_checkpoint_dir(dir, r->ckpt_dir));
    return DK_OK;
}

static dk_err setup(dk_run *r, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    long max_batch = 1;
    DK_CALL(dk_train_device_open(r, local_failure));
    if (cfg->task == DK_TASK_PDE)
        DK_CALL(setup_pde(r, &max_batch, local_failure));
    else
        DK_CALL(setup_fit(r, &max_batch, local_failure));
    /* A resumed run builds its network at the grid size its checkpoint reached. */
    dk_network_settings ns = {
        .widths = cfg->widths, .n_widths = cfg->n_widths, .G = r->resume ? dk_train_resume_grid(r) : cfg->grid,
        .k = cfg->k,
        .grid_lo = cfg->grid_range[0], .grid_hi = cfg->grid_range[1], .dtype = cfg->precision,
        .seed = cfg->seed, .noise_scale = cfg->noise_scale, .scale_base_mu = cfg->scale_base_mu,
        .scale_base_sigma = cfg->scale_base_sigma, .scale_sp = cfg->scale_sp,
        .max_batch = (int)(max_batch > 0 ? max_batch : 1), .n_threads = cfg->threads, .jet = r->pde != NULL,
        .no_init = r->resume != NULL}; /* dk_train_resume_restore reads every value */
    /* Which setting sizes the batch-sized buffers is not visible from the network. */
    char batch_note[320];
    snprintf(batch_note, sizeof batch_note,
             "(the network keeps %ld rows per layer: rank %d's share of [train] batch, or with batch = 0 of [fit] "
             "train_size, and of the test set in blocks of at most 4096): set a smaller [train] batch, or use more "
             "ranks",
             max_batch, r->rank);
    ns.batch_note = r->fit ? batch_note : NULL;
    DK_CALL(agree(r, dk_network_create(&r->net, &ns), local_failure));
    if (r->pde)
        DK_CALL(agree(r, dk_pde_task_bind(r->pde, r->net), local_failure));
    /* Initialisation is a pure function of the seed, so every rank already holds the same
     * parameters; rank 0's are broadcast anyway so that no rank can start different. (A
     * resumed run's are zero until dk_train_resume_restore reads them below.) */
    size_t es = dk_dtype_size(cfg->precision);
    DK_CALL(dk_comm_broadcast(r->comm, r->net->params, r->net->n_params * es, 0, DK_MEM_HOST));
    DK_CALL(setup_optimisers(r, local_failure));
    DK_CALL(agree(r, dk_train_grid_setup(r), local_failure));
    if (r->fit)
        DK_CALL(agree(r, dk_aligned_alloc(&r->dout, (size_t)(r->fit->local_batch > 0 ? r->fit->local_batch : 1) *
                                                        r->fit->n_out * es,
                                          "output gradient"),
                      local_failure));
    if (r->resume)
        DK_CALL(dk_train_resume_restore(r, local_failure));
    dk_err err = dk_config_checkpoint_dir(cfg, r->ckpt_dir, sizeof r->ckpt_dir);
    if (err == DK_OK && r->rank == 0)
        err = claim_dirs(r);
    if (err == DK_OK && r->rank == 0 && r->resume)
        dk_train_resume_announce(r); /* not before: another run may hold the directory */
    DK_CALL(agree(r, err, local_failure));
    /* Set aside before the log is opened: opening it truncates an earlier run's log. */
    if (r->rank == 0) {
        err = dk_train_checkpoint_set_aside(r);
        if (err == DK_OK)
            err = dk_partial_open_seeded(&r->metrics, cfg->run_dir, "metrics.jsonl",
                                         dk_train_resume_carried_metrics(r));
    }
    DK_CALL(agree(r, err, local_failure));
    dk_train_resume_close(r);
    if (r->dev) /* after a restore, so that the device starts from the restored state */
        DK_CALL(agree(r, dk_train_device_bind(r), local_failure));
    if (!r->dev) /* a GPU run's host threads wait on the device, not on each other */
        DK_CALL(agree(r, check_cpu_share(r), local_failure));
    r->last_ckpt_step = r->resumed ? r->step : -1;
    r->t_last_ckpt = r->t_lock_check = dk_train_now();
    return DK_OK;
}

/* FNV-1a over the parameter and grid bytes: ranks compare hashes to prove they hold
 * identical parameters and grids (they must: same reduced gradient, same update, same
 * gathered samples for grid updates). */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static dk_err check_ranks_agree(dk_run *r)
{
    size_t es = dk_dtype_size(r->net->dtype);
    uint64_t mine = hash_bytes(0xcbf29ce484222325ULL, r->net->params, r->net->n_params * es);
    mine = hash_bytes(mine, r->net->state, r->net->n_state * es);
    uint64_t *all;
    DK_CALL(DK_CALLOC(all, (size_t)r->world, "parameter hashes"));
    dk_err err = dk_comm_allgather(r->comm, &mine, all, sizeof mine);
    for (int i = 0; err == DK_OK && i < r->world; i++)
        if (all[i] != all[0])
            err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__,
                               "rank %d holds different parameters or grids from rank 0 at the end of training", i);
    free(all);
    return err;
}

static void teardown(dk_run *r)
{
    dk_train_resume_close(r);
    if (r->metrics)
        fclose(r->metrics); /* a failed run keeps its metrics.jsonl.partial for diagnosis */
    /* L-BFGS first: on a GPU its vectors belong to the device's vector table, which
     * dk_train_device_close frees, and releasing them goes through that table. */
    dk_lbfgs_destroy(&r->lbfgs);
    dk_train_device_close(r);
    free(r->dout);
    free(r->grad_sum);
    free(r->grid_samples);
    dk_network_grid_ws_destroy(&r->grid_ws);
    free(r->lbfgs_x);
    free(r->lbfgs_g);
    dk_adam_destroy(&r->adam);
    dk_network_destroy(&r->net);
    dk_fit_task_destroy(&r->fit);
    dk_pde_task_destroy(&r->pde);
}

/* An evaluate-only run (no updates planned) reports its initial model. The loop measures
 * the training loss only as part of an update, so without this the loss would stay at
 * its initial zero in the output, summary.json and the stage. The full objective is the
 * one the loop uses around grid changes: one all-reduce, the same value on every rank. */
static dk_err measure_initial_model(dk_run *r)
{
    double loss;
    DK_CALL(dk_train_full_loss(r, &loss));
    /* As a training run would stop at its first update: results of a model whose loss is
     * not finite are no results. */
    if (!isfinite(loss))
        DK_CALL(dk_train_initial_loss_not_finite(r, loss));
    DK_CALL(dk_train_evaluate(r, &r->eval));
    return DK_OK;
}

static dk_err train_and_save(dk_run *r)
{
    if (r->rank == 0)
        dk_train_print_header(r);
    if (!r->resumed && r->total_steps == 0)
        DK_CALL(measure_initial_model(r));
    DK_CALL(dk_train_optimise(r));
    if (r->dev)
        DK_CALL(dk_train_device_to_host(r));
    DK_CALL(check_ranks_agree(r));
    if (r->rank == 0) /* the ranks' parameters agree (just checked): rank 0 speaks for all */
        DK_CALL(dk_train_check_params_finite(r));
    if (r->stopped) {
        /* The run is not finished: no final outputs, and metrics.jsonl stays .partial
         * until a resumed run completes it. */
        if (r->rank == 0)
            dk_train_print_stop(r);
    } else {
        if (r->cfg->ckpt_final && r->last_ckpt_step != r->step)
            DK_CALL(dk_train_checkpoint_save(r, "final"));
        if (r->rank == 0)
            DK_CALL(dk_train_write_outputs(r));
    }
    DK_CALL(dk_comm_barrier(r->comm));
    return DK_OK;
}

dk_err dk_train_run(const dk_config *cfg, dk_comm *comm, const char *resume, const char *resume_option,
                    int *local_failure)
{
    /* No evaluation yet: NaN, which checkpoints and logs show as "not measured", not 0. */
    dk_run r = {.cfg = cfg, .comm = comm, .rank = dk_comm_rank(comm), .world = dk_comm_size(comm), .first_loss_step = -1,
             .eval = {NAN, NAN, NAN, NAN}, .resume_option = resume_option};
    r.t_start = dk_train_now();
    *local_failure = 0;
    /* Installed before setup, so that a signal during a long setup is kept for the first
     * step boundary instead of killing the job. */
    dk_err err = agree(&r, dk_signals_install(), local_failure);
    if (err == DK_OK && resume)
        err = dk_train_resume_open(&r, resume, local_failure);
    if (err == DK_OK)
        err = setup(&r, local_failure);
    if (err != DK_OK) {
        teardown(&r);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    err = train_and_save(&r);
    if (err != DK_OK && dk_error_is_agreed()) {
        /* Every rank stopped at this point on values they share (a non-finite loss): rank
         * 0 reports it once, and the ranks end normally, with no abort and no copies. */
        *local_failure = r.rank == 0;
        teardown(&r);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    if (err != DK_OK) {
        /* From here on a failure may be on one rank only: end the job rather than let
         * the others wait in the next collective. */
        fprintf(stderr, "distkan: rank %d: error: %s\n", r.rank, dk_error_message());
        dk_comm_abort(comm, err == DK_ERR_USAGE ? 2 : 1);
    }
    teardown(&r);
    return DK_OK;
}

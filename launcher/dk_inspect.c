#include "dk_inspect.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../checkpoint/dk_ckpt_dir.h"
#include "../checkpoint/dk_ckpt_file.h"
#include "dk_model_file.h"
#include "dk_run_history.h"
#include "dk_state_check.h"

static void print_eval(FILE *f, const Dk__Eval *e)
{
    if (!e)
        return;
    /* A fit has a test RMSE, a PDE the errors against its exact solution; the others are NaN. */
    if (!isnan(e->test_rmse))
        fprintf(f, ", test RMSE %.6e", e->test_rmse);
    if (!isnan(e->rel_l2))
        fprintf(f, ", rel L2 %.4e, max error %.4e, MSE %.4e", e->rel_l2, e->max_err, e->mse);
}

static void print_summary(FILE *f, const dk_ckpt_reader *rd)
{
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    const Dk__Metadata *md = m->metadata;
    fprintf(f, "checkpoint %s\n  format version %u", dk_ckpt_label(rd), m->format_version);
    if (md) {
        time_t when = (time_t)md->created_unix_s;
        char stamp[64] = "?";
        struct tm tm;
        if (gmtime_r(&when, &tm))
            strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &tm);
        fprintf(f, ", distkan %s, written %s on %s by %d rank%s (%s), %.2f s of training\n", md->distkan_version,
                stamp, md->hostname, md->world_size, md->world_size == 1 ? "" : "s", md->reason, md->wall_s);
        fprintf(f, "  config file %s\n", md->config_path);
    } else {
        fprintf(f, "\n");
    }
    const Dk__Schedule *sc = m->schedule;
    if (sc) {
        fprintf(f, "  step %lld (%lld Adam of %lld planned, L-BFGS planned %lld", (long long)sc->step,
                (long long)sc->adam_done, (long long)sc->adam_steps, (long long)sc->lbfgs_steps);
        if (sc->lbfgs_dropped)
            fprintf(f, " after %lld dropped by early stops", (long long)sc->lbfgs_dropped);
        fprintf(f, "), grid stage %d of %zu, %lld grid updates", sc->stage + 1, sc->n_stages,
                (long long)sc->grid_updates);
        if (sc->adam_done > 0)
            fprintf(f, ", last lr %.3e", sc->lr);
        fprintf(f, "\n");
        for (size_t s = 0; s < sc->n_stages; s++) {
            const Dk__Stage *st = sc->stages[s];
            fprintf(f, "    stage %zu: G %d, from step %lld, %lld updates planned, %s\n", s + 1, st->grid,
                    (long long)st->first_step, (long long)st->planned,
                    st->done ? "finished" : (int)s == sc->stage ? "running" : "to come");
        }
    }
    const Dk__Model *md_ = m->model;
    if (md_) {
        fprintf(f, "  model: widths ");
        for (size_t i = 0; i < md_->n_widths; i++)
            fprintf(f, "%s%d", i ? "," : "", md_->widths[i]);
        fprintf(f, ", G %d, k %d, %s, %llu parameters, %llu state values (knots, masks)\n", md_->grid, md_->k,
                dk_ckpt_proto_dtype_name(md_->dtype), (unsigned long long)md_->n_params, (unsigned long long)md_->n_state);
        for (size_t l = 0; l < md_->n_layers; l++)
            fprintf(f, "    layer %zu: %d -> %d, %d basis functions, %d knots per input\n", l, md_->layers[l]->in,
                    md_->layers[l]->out, md_->layers[l]->n_basis, md_->layers[l]->n_knots);
    }
    if (m->loss) {
        fprintf(f, "  loss %.6e", m->loss->total);
        if (!isnan(m->loss->interior))
            fprintf(f, " (interior %.4e, boundary %.4e)", m->loss->interior, m->loss->boundary);
        print_eval(f, m->eval);
        fprintf(f, "\n");
    }
    if (m->adam)
        fprintf(f, "  Adam: step %lld\n", (long long)m->adam->step);
    if (m->lbfgs)
        fprintf(f, "  L-BFGS: %d of %d pairs, %lld iterations, %lld evaluations, loss %.6e%s, phase: %s\n",
                m->lbfgs->count, m->lbfgs->history, (long long)m->lbfgs->steps, (long long)m->lbfgs->evals,
                m->lbfgs->f, m->lbfgs->fresh ? ", restarts with an empty history" : "",
                m->lbfgs->stop && m->lbfgs->stop[0] ? m->lbfgs->stop : "-");
    if (m->data) {
        fprintf(f, "  data: seed %llu, batch clock %lld, collocation epoch %lld", (unsigned long long)m->data->seed,
                (long long)m->data->fit_batch, (long long)m->data->pde_epoch);
        if (m->data->csv_bytes)
            fprintf(f, ", CSV of %llu bytes with CRC-32C %08x", (unsigned long long)m->data->csv_bytes,
                    (unsigned)m->data->csv_crc32c);
        fprintf(f, "\n");
    }
    unsigned long long bytes = 0, chunks = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        bytes += m->tensors[i]->nbytes;
        chunks += m->tensors[i]->n_chunks;
    }
    fprintf(f, "  tensors: %zu, %llu bytes in %llu chunks\n", m->n_tensors, bytes, chunks);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const Dk__Tensor *t = m->tensors[i];
        fprintf(f, "    %-22s %-7s [", t->name, dk_ckpt_proto_dtype_name(t->dtype));
        for (size_t d = 0; d < t->n_shape; d++)
            fprintf(f, "%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
        fprintf(f, "] %llu bytes, %zu chunk%s\n", (unsigned long long)t->nbytes, t->n_chunks,
                t->n_chunks == 1 ? "" : "s");
    }
}

static void print_config(FILE *f, const Dk__Manifest *m)
{
    fprintf(f, "  config:\n");
    const char *p = m->config_ini;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        if (len > 0 && p[0] != '#')
            fprintf(f, "    %.*s\n", len, p);
        p = nl ? nl + 1 : p + len;
    }
}

/* Beyond its checksums, a checkpoint is valid when its manifest agrees with the config
 * stored in it, as a resume checks, its model loads (every layer's tensors there with the
 * shapes the manifest gives, finite values, increasing knots: what predict, functions and
 * a resume read first) and its optimiser state holds values a resume can use
 * (dk_state_check.h). */
static dk_err model_loads(dk_ckpt_reader *rd)
{
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    static dk_config saved; /* large (paths): off the stack */
    char label[DK_CKPT_PATH_MAX + 32];
    snprintf(label, sizeof label, "%s (its config)", dk_ckpt_label(rd));
    DK_CALL(dk_config_load_text(&saved, m->config_ini, label));
    DK_CALL(dk_manifest_check_config(m, &saved, dk_ckpt_label(rd)));
    dk_network *net = NULL;
    dk_err err = dk_model_read(rd, 1, 1, 0, &net);
    dk_network_destroy(&net);
    if (err == DK_OK)
        err = dk_optimizer_check_file(rd);
    return err;
}

/* One file: the summary, the config, then every checksum and the model. */
static int inspect_file(const char *path)
{
    dk_ckpt_reader *rd = NULL;
    if (dk_ckpt_open(&rd, path) != DK_OK) {
        fprintf(stderr, "distkan: error: invalid checkpoint: %s\n", dk_error_message());
        return 1;
    }
    print_summary(stdout, rd);
    print_config(stdout, dk_ckpt_manifest(rd));
    fflush(stdout);
    dk_err err = dk_ckpt_verify(rd);
    size_t chunks = 0;
    for (size_t i = 0; i < dk_ckpt_manifest(rd)->n_tensors; i++)
        chunks += dk_ckpt_manifest(rd)->tensors[i]->n_chunks;
    if (err == DK_OK)
        err = model_loads(rd);
    if (err == DK_OK)
        printf("valid: header, manifest and all %zu chunk checksums verified; the model loads\n", chunks);
    else
        fprintf(stderr, "distkan: error: invalid checkpoint: %s\n", dk_error_message());
    /* As in a directory listing: a name that gives another step makes --resume latest
     * skip the file, so say so (and exit 1) here too. */
    const char *base = strrchr(path, '/');
    const long named = dk_ckpt_name_step(base ? base + 1 : path);
    const Dk__Schedule *sc = dk_ckpt_manifest(rd)->schedule;
    int misnamed = 0;
    if (err == DK_OK && sc && named >= 0 && named != (long)sc->step) {
        fprintf(stderr, "distkan: error: MISNAMED: %s: its name says step %ld but it holds step %lld (renamed or copied?); "
                        "--resume latest skips it\n", path, named, (long long)sc->step);
        misnamed = 1;
    }
    dk_ckpt_close(&rd);
    return err == DK_OK && !misnamed ? 0 : 1;
}

/* A directory: one line per checkpoint, newest first. A directory without checkpoints may
 * be a run directory (`may_be_run`): then its checkpoint directory's (`of_run` names the
 * run directory), where checkpoints of other runs sharing that directory are marked
 * (`logs`, the run's: dk_run_history.h). */
static int inspect_dir(const char *dir, int may_be_run, const char *of_run, const dk_run_logs *logs)
{
    dk_ckpt_entry *entries = NULL;
    int n = 0;
    if (dk_ckpt_list(dir, &entries, &n) != DK_OK) {
        fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return 1;
    }
    if (n == 0) {
        free(entries);
        if (of_run) {
            /* The run's own, set aside by a run that saved none of its own here? */
            dk_ckpt_reader *rd = NULL;
            dk_run_ckpt_found found;
            int n_other = 0;
            char other[DK_CKPT_PATH_MAX], own[DK_CKPT_PATH_MAX];
            if (dk_run_open_checkpoint(of_run, dir, NULL, &rd, &found, &n_other, other, sizeof other) == DK_OK &&
                found == DK_RUN_CKPT_SET_ASIDE) {
                snprintf(own, sizeof own, "%s", dk_ckpt_label(rd));
                dk_ckpt_close(&rd);
                printf("no checkpoint in %s itself; the run's newest, set aside there by a run sharing the "
                       "directory: %s\n", dir, own);
                return inspect_file(own);
            }
            dk_ckpt_close(&rd);
            dk_error_clear();
            /* why the run has none, if its config says */
            dk_model_run_without_checkpoints(of_run, dir);
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
            return 1;
        }
        /* A run directory: its checkpoints are where predict would look for them. */
        char ckpt_dir[DK_CKPT_PATH_MAX];
        struct stat st;
        if (may_be_run && dk_model_run_checkpoint_dir(dir, ckpt_dir, sizeof ckpt_dir) != DK_OK) {
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
            return 1;
        }
        if (may_be_run && stat(ckpt_dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            printf("checkpoints of the run in %s: %s\n", dir, ckpt_dir);
            dk_run_logs *own = NULL;
            if (dk_run_logs_find(dir, &own) != DK_OK) {
                fprintf(stderr, "distkan: error: %s\n", dk_error_message());
                return 1;
            }
            const int status = inspect_dir(ckpt_dir, 0, dir, own);
            dk_run_logs_free(&own);
            return status;
        }
        fprintf(stderr, "distkan: error: %s holds no checkpoints (ckpt-<step>.dkc) and is no run directory\n", dir);
        return 1;
    }
    int bad = 0, misnamed = 0, gone = 0, other_runs = 0;
    for (int i = 0; i < n; i++) {
        dk_ckpt_reader *rd = NULL;
        dk_err err = dk_ckpt_open(&rd, entries[i].path);
        struct stat st;
        if (err != DK_OK && lstat(entries[i].path, &st) != 0 && errno == ENOENT) {
            /* Listed, then removed before it could be opened: a run writing into this
             * directory pruned it (keep). Not a damaged checkpoint. */
            printf("removed  %s  (deleted while this listing ran: a run is pruning this directory)\n",
                   entries[i].path);
            dk_error_clear();
            gone++;
            continue;
        }
        if (err == DK_OK)
            err = dk_ckpt_verify(rd);
        if (err == DK_OK)
            err = model_loads(rd);
        if (err == DK_OK) {
            const Dk__Manifest *m = dk_ckpt_manifest(rd);
            const long long held = m->schedule ? (long long)m->schedule->step : entries[i].step;
            if (held != entries[i].step) {
                /* --resume latest, predict and functions skip it (dk_ckpt_open_latest): it
                 * would pass for a newer checkpoint than it is. */
                printf("MISNAMED %s  its name says step %ld but it holds step %lld (renamed or copied?); latest "
                       "skips it\n",
                       entries[i].path, entries[i].step, held);
                misnamed++;
            } else {
                bool own = true;
                if (dk_run_logs_count(logs) > 0 && dk_run_logs_continued_by(logs, m, &own) != DK_OK) {
                    dk_error_clear(); /* a log it cannot read: no verdict */
                    own = true;
                }
                printf("valid    %s  step %lld, loss %.6e (%s)%s\n", entries[i].path, held,
                       m->loss ? m->loss->total : NAN, m->metadata ? m->metadata->reason : "?",
                       own ? "" : "  another run's: the run's training log does not continue from it");
                other_runs += !own;
            }
        } else {
            printf("INVALID  %s  %s\n", entries[i].path, dk_error_message());
            bad++;
        }
        dk_ckpt_close(&rd);
    }
    free(entries);
    n -= gone;
    if (n == 0) {
        fprintf(stderr, "distkan: error: %s holds no checkpoints any more (all were removed while listing)\n", dir);
        return 1;
    }
    printf("%d of %d checkpoint%s valid", n - bad - misnamed, n, n == 1 ? "" : "s");
    if (misnamed)
        printf(", %d misnamed", misnamed);
    if (other_runs)
        printf(", %d of another run (sharing the checkpoint directory; predict, functions and --resume latest use "
               "the run's own, in %s/earlier-*/ when it was set aside there)", other_runs, dir);
    printf("\n");
    return bad || misnamed ? 1 : 0;
}

int dk_inspect(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return inspect_dir(path, 1, NULL, NULL);
    return inspect_file(path);
}

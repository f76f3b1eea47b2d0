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
        fprintf(f, "), grid stage %lld of %zu, %lld grid updates", (long long)sc->stage + 1, sc->n_stages,
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
        for (size_t i = 0; i < md_->n_input_names; i++) /* the training CSV's header */
            fprintf(f, "%s%s%s", i ? "," : "    inputs (training CSV's columns): ", md_->input_names[i],
                    i + 1 == md_->n_input_names ? "\n" : "");
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

/* A checkpoint that fails a check is invalid, exit 1, also where the check's own class is a
 * usage error (the config stored in it does not parse): the file is at fault, not the
 * command line. */
static dk_err invalid_checkpoint(dk_err err)
{
    static char reason[16384]; /* the whole message with its frames: dk_error_set overwrites it */
    snprintf(reason, sizeof reason, "%s", dk_error_message());
    return dk_error_set(err == DK_ERR_USAGE ? DK_ERR_DATA : err, __FILE__, __LINE__, "invalid checkpoint: %s", reason);
}

/* One file: the summary, the config, then every checksum and the model. */
static dk_err inspect_file(const char *path, FILE *out)
{
    dk_ckpt_reader *rd = NULL;
    dk_err err = dk_ckpt_open(&rd, path);
    if (err != DK_OK)
        return invalid_checkpoint(err);
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    print_summary(out, rd);
    print_config(out, m);
    /* Verifying a large checkpoint takes a while: the summary shows meanwhile, and comes
     * before the verdict on stderr where both go to one file. */
    fflush(out);
    size_t chunks = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        chunks += m->tensors[i]->n_chunks;
    err = dk_ckpt_verify(rd);
    if (err == DK_OK)
        err = model_loads(rd);
    const bool has_schedule = m->schedule != NULL;
    const long long held = has_schedule ? (long long)m->schedule->step : 0;
    dk_ckpt_close(&rd);
    if (err != DK_OK)
        return invalid_checkpoint(err);
    fprintf(out, "valid: header, manifest and all %zu chunk checksums verified; the model loads\n", chunks);
    /* As in a directory listing: a name that gives another step makes --resume latest
     * skip the file, so say so (and exit 1) here too. */
    const char *base = strrchr(path, '/');
    const long named = dk_ckpt_name_step(base ? base + 1 : path);
    if (has_schedule && named >= 0 && named != held)
        DK_ERROR(DK_ERR_DATA,
                 "MISNAMED: %s: its name says step %ld but it holds step %lld (renamed or copied?); --resume latest "
                 "skips it",
                 path, named, held);
    return DK_OK;
}

/* What inspect reads: one checkpoint file, or the checkpoints of a directory. */
typedef struct inspect_target {
    const char *file;       /* a checkpoint file, or NULL: */
    const char *dir;        /* the directory listed, */
    dk_ckpt_entry *entries; /* its checkpoints, newest first (malloc'ed) */
    int n;
    dk_run_logs *logs; /* of a run directory's checkpoints: the run's logs, which tell other runs' apart */
    char run_ckpt_dir[DK_CKPT_PATH_MAX], set_aside[DK_CKPT_PATH_MAX];
} inspect_target;

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A directory without checkpoints of its own, taken for a run directory: its checkpoints
 * are where predict would look for them, in a checkpoint directory that other runs may
 * share (dk_run_history.h). */
static dk_err resolve_run(const char *run_dir, FILE *out, inspect_target *t)
{
    const char *dir = t->run_ckpt_dir;
    DK_CALL(dk_model_run_checkpoint_dir(run_dir, t->run_ckpt_dir, sizeof t->run_ckpt_dir));
    if (!is_dir(dir))
        DK_ERROR(DK_ERR_IO, "%s holds no checkpoints (ckpt-<step>.dkc) and is no run directory", run_dir);
    fprintf(out, "checkpoints of the run in %s: %s\n", run_dir, dir);
    DK_CALL(dk_run_logs_find(run_dir, &t->logs));
    DK_CALL(dk_ckpt_list(dir, &t->entries, &t->n));
    if (t->n > 0) {
        t->dir = dir;
        return DK_OK;
    }
    /* The run's own, set aside by a run that saved none of its own here? */
    dk_ckpt_reader *rd = NULL;
    dk_run_ckpt_found found;
    int n_other = 0;
    char other[DK_CKPT_PATH_MAX];
    if (dk_run_open_checkpoint(run_dir, dir, NULL, &rd, &found, &n_other, other, sizeof other) == DK_OK &&
        found == DK_RUN_CKPT_SET_ASIDE) {
        snprintf(t->set_aside, sizeof t->set_aside, "%s", dk_ckpt_label(rd));
        dk_ckpt_close(&rd);
        fprintf(out,
                "no checkpoint in %s itself; the run's newest, set aside there by a run sharing the directory: %s\n",
                dir, t->set_aside);
        t->file = t->set_aside;
        return DK_OK;
    }
    dk_ckpt_close(&rd);
    dk_error_clear();
    /* why the run has none, if its config says */
    return dk_error_push(dk_model_run_without_checkpoints(run_dir, dir), __FILE__, __LINE__, __func__);
}

static dk_err resolve_target(const char *path, FILE *out, inspect_target *t)
{
    if (!is_dir(path)) {
        t->file = path;
        return DK_OK;
    }
    DK_CALL(dk_ckpt_list(path, &t->entries, &t->n));
    if (t->n > 0) {
        t->dir = path;
        return DK_OK;
    }
    free(t->entries);
    t->entries = NULL;
    DK_CALL(resolve_run(path, out, t));
    return DK_OK;
}

/* What a listing found: its last line and the exit status. */
typedef struct inspect_tally {
    int bad, misnamed, gone, other_runs;
} inspect_tally;

/* One line per checkpoint, newest first; each is verified as a single file is, and one
 * that fails is listed as such (the others are still listed). */
static void list_and_verify(const inspect_target *t, FILE *out, inspect_tally *tally)
{
    for (int i = 0; i < t->n; i++) {
        const dk_ckpt_entry *e = &t->entries[i];
        dk_ckpt_reader *rd = NULL;
        dk_err err = dk_ckpt_open(&rd, e->path);
        struct stat st;
        if (err != DK_OK && lstat(e->path, &st) != 0 && errno == ENOENT) {
            /* Listed, then removed before it could be opened: a run writing into this
             * directory pruned it (keep). Not a damaged checkpoint. */
            fprintf(out, "removed  %s  (deleted while this listing ran: a run is pruning this directory)\n", e->path);
            dk_error_clear();
            tally->gone++;
            continue;
        }
        if (err == DK_OK)
            err = dk_ckpt_verify(rd);
        if (err == DK_OK)
            err = model_loads(rd);
        if (err == DK_OK) {
            const Dk__Manifest *m = dk_ckpt_manifest(rd);
            const long long held = m->schedule ? (long long)m->schedule->step : e->step;
            if (held != e->step) {
                /* --resume latest, predict and functions skip it (dk_ckpt_open_latest): it
                 * would pass for a newer checkpoint than it is. */
                fprintf(out,
                        "MISNAMED %s  its name says step %ld but it holds step %lld (renamed or copied?); latest "
                        "skips it\n",
                        e->path, e->step, held);
                tally->misnamed++;
            } else {
                bool own = true;
                if (dk_run_logs_count(t->logs) > 0 && dk_run_logs_continued_by(t->logs, m, &own) != DK_OK) {
                    dk_error_clear(); /* a log it cannot read: no verdict */
                    own = true;
                }
                fprintf(out, "valid    %s  step %lld, loss %.6e (%s)%s\n", e->path, held,
                        m->loss ? m->loss->total : NAN, m->metadata ? m->metadata->reason : "?",
                        own ? "" : "  another run's: the run's training log does not continue from it");
                tally->other_runs += !own;
            }
        } else {
            fprintf(out, "INVALID  %s  %s\n", e->path, dk_error_message());
            dk_error_clear(); /* reported on its line: the listing goes on */
            tally->bad++;
        }
        dk_ckpt_close(&rd);
    }
}

static dk_err print_total(const inspect_target *t, const inspect_tally *tally, FILE *out, bool *all_valid)
{
    const int n = t->n - tally->gone;
    if (n == 0)
        DK_ERROR(DK_ERR_IO, "%s holds no checkpoints any more (all were removed while listing)", t->dir);
    fprintf(out, "%d of %d checkpoint%s valid", n - tally->bad - tally->misnamed, n, n == 1 ? "" : "s");
    if (tally->misnamed)
        fprintf(out, ", %d misnamed", tally->misnamed);
    if (tally->other_runs)
        fprintf(out,
                ", %d of another run (sharing the checkpoint directory; predict, functions and --resume latest use "
                "the run's own, in %s/earlier-*/ when it was set aside there)",
                tally->other_runs, t->dir);
    fprintf(out, "\n");
    *all_valid = !tally->bad && !tally->misnamed;
    return DK_OK;
}

dk_err dk_inspect(const char *path, FILE *out, bool *all_valid)
{
    *all_valid = false;
    inspect_target t = {0};
    dk_err err;
    DK_CALL_GOTO(err, done, resolve_target(path, out, &t));
    if (t.file) {
        DK_CALL_GOTO(err, done, inspect_file(t.file, out));
        *all_valid = true;
    } else {
        inspect_tally tally = {0};
        list_and_verify(&t, out, &tally);
        DK_CALL_GOTO(err, done, print_total(&t, &tally, out, all_valid));
    }
done:
    free(t.entries);
    dk_run_logs_free(&t.logs);
    return err;
}

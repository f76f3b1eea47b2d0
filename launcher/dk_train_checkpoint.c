/* Writing checkpoints of a training run: when (every N updates, every N seconds, on a stop
 * signal, at the end), and what (dk_train_state_tensors and the manifest below). And,
 * since a run's log and checkpoints take the names an earlier run's hold, setting that
 * run's files aside into <checkpoint dir>/earlier-<time>/ (dk_train_checkpoint_set_aside*):
 * its unfinished log at set-up, its checkpoints and results before this run first saves
 * either, so that no run deletes another's work.
 *
 * Parameters, optimiser state and grids are identical on every rank (the same reduced
 * gradient meets the same update), so rank 0 alone writes; the others go on to the next
 * collective and wait there for it. A failed write ends the job like any training error;
 * the previous checkpoint is intact, because dk_ckpt_write replaces files atomically. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../checkpoint/dk_ckpt_dir.h"
#include "../checkpoint/dk_ckpt_file.h"
#include "../common/dk_fs.h"
#include "dk_run_files.h"
#include "dk_run_history.h"
#include "dk_run_lock.h"
#include "dk_signals.h"
#include "dk_train_device.h"
#include "dk_train_run.h"

double dk_train_control_word(const dk_run *r)
{
    double word = dk_signals_stop_requested() ? 2.0 : 0.0;
    if (r->rank == 0 && r->cfg->ckpt_every_seconds > 0 && dk_train_now() - r->t_last_ckpt >= r->cfg->ckpt_every_seconds)
        word += 1.0;
    return word;
}

/* How often rank 0 checks, between checkpoints, that its lock files are still there: a
 * stat each, so that a second run started after a scratch purge is refused within this
 * many seconds even in a run that writes no checkpoint until its end. */
#define LOCK_CHECK_PERIOD_S 10.0

dk_err dk_train_step_boundary(dk_run *r)
{
    if (r->rank == 0) {
        const double now = dk_train_now();
        if (now - r->t_lock_check >= LOCK_CHECK_PERIOD_S) {
            r->t_lock_check = now;
            DK_CALL(dk_run_lock_recheck());
        }
    }
    /* Decoded from the all-reduced sum: rank 0's clock contributes 1, each signalled
     * rank 2, so the sum is odd exactly when the time is due. Cleared once read, so that
     * an update without a loss evaluation (L-BFGS converged) does not act on it twice. */
    const double word = r->control;
    r->control = 0.0;
    /* A stop requested at the run's last update is just the end of the run (final
     * outputs and checkpoint). */
    const bool stop = word >= 2.0 && r->step < r->total_steps;
    const bool time_due = fmod(word, 2.0) == 1.0;
    const bool every_due = r->cfg->ckpt_every > 0 && r->step % r->cfg->ckpt_every == 0;
    if (!(stop || time_due || every_due))
        return DK_OK;
    DK_CALL(dk_train_checkpoint_save(r, stop ? "signal" : every_due ? "every" : "every_seconds"));
    r->stopped = stop;
    return DK_OK;
}

/* Creates a new directory <ckpt_dir>/earlier-<UTC time> (suffixes -2, -3, ... within one
 * second): moving into an existing one could replace a file of the same name. */
static dk_err make_aside_dir(const char *ckpt_dir, char *aside, size_t cap)
{
    DK_CALL(dk_make_dirs(ckpt_dir));
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", gmtime_r(&now, &tm));
    for (int k = 1; k <= 1000; k++) {
        int len = k == 1 ? snprintf(aside, cap, "%s/earlier-%s", ckpt_dir, stamp)
                         : snprintf(aside, cap, "%s/earlier-%s-%d", ckpt_dir, stamp, k);
        if (len < 0 || (size_t)len >= cap)
            DK_ERROR(DK_ERR_USAGE, "%s: path too long", ckpt_dir);
        if (mkdir(aside, 0777) == 0)
            return DK_OK;
        if (errno != EEXIST)
            DK_ERROR(DK_ERR_IO, "cannot create %s: %s", aside, strerror(errno));
    }
    DK_ERROR(DK_ERR_IO, "no free name for %s", aside);
}

/* Whether a checkpoint belongs to the history this run continues: none does for a fresh
 * run, nor for one resumed from a checkpoint in another directory (the ones here are
 * another history, even with lower steps); those up to the resumed step do for a run
 * resumed from its own directory, if they hold the step their names give and the run's
 * log (the lines it carried over, and its own) continues from them. Another run's
 * checkpoints, in a directory runs share, are not this history whatever their steps
 * (`--resume PATH` of another run's file would otherwise have pruned them). */
static bool continued(const dk_run *r, const dk_ckpt_entry *e)
{
    if (!r->resumed || !r->resumed_in_own_dir || e->step > r->resumed_step)
        return false;
    /* Only by the step it holds: a file renamed or copied under an older step's name is
     * another history's, which pruning (keep) must not delete. One that does not open is
     * this history's, damaged. */
    dk_ckpt_reader *rd = NULL;
    if (dk_ckpt_open(&rd, e->path) != DK_OK) {
        dk_error_clear();
        return true;
    }
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    bool same = !m->schedule || m->schedule->step == e->step;
    char log[DK_PATH_MAX + 32];
    if (same && (size_t)snprintf(log, sizeof log, "%s/metrics.jsonl.partial", r->cfg->run_dir) < sizeof log &&
        dk_log_continued_by(log, m, "the run's training log", &same) != DK_OK) {
        dk_error_clear();
        same = false; /* unsure: set aside, never pruned */
    }
    dk_ckpt_close(&rd);
    return same;
}

/* The run directory's metrics.jsonl.partial, the log of an earlier run that did not finish
 * (stopped by a signal, or failed), if there is one. The new run's log takes that name
 * (dk_partial_open_seeded renames it into place). */
static bool unfinished_log(const dk_run *r, char *path, size_t cap)
{
    struct stat st;
    int len = snprintf(path, cap, "%s/metrics.jsonl.partial", r->cfg->run_dir);
    return len > 0 && (size_t)len < cap && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whether output i of an earlier finished run is in the run directory (its path in path). */
static bool finished_output(const dk_run *r, int i, char *path, size_t cap)
{
    struct stat st;
    const int len = snprintf(path, cap, "%s/%s", r->cfg->run_dir, dk_run_output_names[i]);
    return len > 0 && (size_t)len < cap && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Whether the run directory holds the results of an earlier finished run that this run
 * does not continue: a fresh run, a resume from elsewhere, or a resume that abandons some
 * of the history (checkpoints after its step). Those results are replaced when this run
 * ends; a copy goes aside with that history's checkpoints, so that nothing saved is lost
 * to a run that only meant to start again. */
static bool keeps_earlier_results(const dk_run *r, int abandoned)
{
    if (r->resumed && r->resumed_in_own_dir && abandoned == 0)
        return false;
    char path[DK_PATH_MAX + 32];
    for (int i = 0; i < DK_RUN_OUTPUTS; i++)
        if (finished_output(r, i, path, sizeof path))
            return true;
    return false;
}

/* The directory of this run's set-aside files, made on first use. */
static dk_err make_own_aside_dir(dk_run *r)
{
    if (r->aside_dir[0])
        return DK_OK;
    dk_err err = make_aside_dir(r->ckpt_dir, r->aside_dir, sizeof r->aside_dir);
    if (err != DK_OK)
        r->aside_dir[0] = '\0';
    return err;
}

/* The checkpoints of the directory this run does not continue, newest first, in *n (a list
 * to free). Each is judged once: continued() may open the file. */
static dk_err not_continued(const dk_run *r, dk_ckpt_entry **entries, int *n)
{
    int all = 0;
    DK_CALL(dk_ckpt_list(r->ckpt_dir, entries, &all));
    *n = 0;
    for (int i = 0; i < all; i++)
        if (!continued(r, &(*entries)[i]))
            (*entries)[(*n)++] = (*entries)[i];
    return DK_OK;
}

dk_err dk_train_checkpoint_set_aside(dk_run *r)
{
    if (r->rank != 0)
        return DK_OK;
    dk_ckpt_entry *entries = NULL;
    int to_move = 0;
    DK_CALL(not_continued(r, &entries, &to_move));
    free(entries);
    /* A resumed run carries its log's lines up to the checkpoint over into its own
     * (dk_train_resume_carried_metrics), which replaces the .partial they came from; any other
     * .partial here (a history it does not continue: a fresh run's predecessor, a failed
     * run's, one the resume passed over) goes aside, the checkpoints of that history
     * following when this run first saves. */
    char log[DK_PATH_MAX + 32];
    if (!unfinished_log(r, log, sizeof log) || (r->carried_from_partial && to_move == 0))
        return DK_OK;
    DK_CALL(make_own_aside_dir(r));
    DK_CALL(dk_move_file(log, r->aside_dir, "metrics.jsonl.partial"));
    printf("note: the training log of an earlier unfinished run, %s, moved to %s/\n", log, r->aside_dir);
    fflush(stdout);
    return DK_OK;
}

dk_err dk_train_checkpoint_set_aside_history(dk_run *r)
{
    if (r->rank != 0 || r->history_set_aside)
        return DK_OK;
    dk_ckpt_entry *entries = NULL;
    int to_move = 0, moved = 0, kept = 0;
    DK_CALL(not_continued(r, &entries, &to_move));
    const bool keep_results = keeps_earlier_results(r, to_move);
    dk_err err = DK_OK;
    if (to_move > 0 || keep_results)
        err = make_own_aside_dir(r);
    for (int i = 0; i < DK_RUN_OUTPUTS && keep_results && err == DK_OK; i++) {
        char path[DK_PATH_MAX + 32];
        if (!finished_output(r, i, path, sizeof path))
            continue;
        err = dk_keep_file(path, r->aside_dir, dk_run_output_names[i]);
        kept += err == DK_OK;
    }
    /* Oldest first (the list is newest first): killed half-way, the directory keeps the
     * newest steps of that history, so --resume latest still continues where it ended. */
    for (int i = to_move - 1; i >= 0 && err == DK_OK; i--) {
        const char *base = strrchr(entries[i].path, '/');
        err = dk_move_file(entries[i].path, r->aside_dir, base ? base + 1 : entries[i].path);
        moved += err == DK_OK;
    }
    free(entries);
    /* What was moved before a failure is said too: the user finds it there. */
    if (moved > 0)
        printf("note: %d checkpoint%s of an earlier run in %s %s not from this run's history: moved to %s\n", moved,
               moved == 1 ? "" : "s", r->ckpt_dir, moved == 1 ? "is" : "are", r->aside_dir);
    if (kept > 0)
        printf("note: the results of an earlier run in %s (%d file%s: its log, summary and final parameters), "
               "which this run replaces when it ends, are kept in %s/\n",
               r->cfg->run_dir, kept, kept == 1 ? "" : "s", r->aside_dir);
    fflush(stdout);
    DK_CALL(err);
    r->history_set_aside = true;
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * What a checkpoint holds
 * ------------------------------------------------------------------------------------- */

int dk_train_state_tensors(dk_run *r, dk_state_tensor *t)
{
    const dk_dtype dt = r->net->dtype;
    int n = dk_model_tensors(r->net, t);
    if (r->adam) {
        dk_state_tensor_set(&t[n++], "adam.m", dt, r->adam->m, 1, r->adam->n, 0, 0);
        dk_state_tensor_set(&t[n++], "adam.v", dt, r->adam->v, 1, r->adam->n, 0, 0);
    }
    if (r->lbfgs) {
        dk_lbfgs_state ls; /* host arrays (a GPU run's history is copied to the host first) */
        if (r->dev)
            dk_train_device_lbfgs_view(r, &ls);
        else
            dk_lbfgs_state_view(r->lbfgs, &ls);
        const unsigned long long h = (unsigned long long)ls.history;
        dk_state_tensor_set(&t[n++], "lbfgs.s", DK_F64, ls.s, 2, h, ls.stride, 0);
        dk_state_tensor_set(&t[n++], "lbfgs.y", DK_F64, ls.y, 2, h, ls.stride, 0);
        dk_state_tensor_set(&t[n++], "lbfgs.rho", DK_F64, ls.rho, 1, h, 0, 0);
        dk_state_tensor_set(&t[n++], "lbfgs.x", DK_F64, r->lbfgs_x, 1, ls.n, 0, 0);
        dk_state_tensor_set(&t[n++], "lbfgs.g", DK_F64, r->lbfgs_g, 1, ls.n, 0, 0);
    }
    return n;
}

/* ---------------------------------------------------------------------------------------
 * The manifest
 * ------------------------------------------------------------------------------------- */

static void fill_eval(Dk__Eval *e, const dk_eval *v)
{
    dk__eval__init(e);
    e->test_rmse = v->test_rmse;
    e->rel_l2 = v->rel_l2;
    e->max_err = v->max_err;
    e->mse = v->mse;
}

/* Everything the manifest points to lives here, in dk_train_checkpoint_save's one static
 * instance: protobuf-c messages refer to their parts by pointer. */
typedef struct manifest_parts {
    Dk__Manifest m;
    Dk__Metadata meta;
    dk_model_manifest model;
    Dk__Schedule schedule;
    Dk__Stage stages[DK_GRID_MAX_STAGES];
    Dk__Stage *stage_ptrs[DK_GRID_MAX_STAGES];
    Dk__Eval stage_evals[DK_GRID_MAX_STAGES];
    Dk__Adam adam;
    Dk__Lbfgs lbfgs;
    Dk__DataPosition data;
    Dk__Loss loss;
    Dk__LossHistory history;
    Dk__Eval eval;
    char hostname[256];
} manifest_parts;

/* A random id below 2^53 (a JSON number any reader holds exactly), never 0. Where the
 * kernel gives no random bytes, the time and process id make one unlikely to repeat. */
static uint64_t draw_writer_id(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 40);
        v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9u; /* splitmix64's finaliser: spread the bits */
        v = (v ^ (v >> 27)) * 0x94d049bb133111ebu;
        v ^= v >> 31;
    }
    v &= (UINT64_C(1) << 53) - 1;
    return v ? v : 1;
}

static void fill_manifest(dk_run *r, manifest_parts *p, char *config_ini, const char *reason)
{
    const dk_network *net = r->net;
    dk__manifest__init(&p->m);

    dk__metadata__init(&p->meta);
    p->meta.distkan_version = (char *)DISTKAN_VERSION;
    p->meta.world_size = r->world;
    p->meta.created_unix_s = (int64_t)time(NULL);
    if (gethostname(p->hostname, sizeof p->hostname) != 0)
        p->hostname[0] = '\0';
    p->hostname[sizeof p->hostname - 1] = '\0';
    p->meta.hostname = p->hostname;
    p->meta.wall_s = dk_train_wall(r);
    p->meta.config_path = (char *)r->cfg->source_path;
    p->meta.reason = (char *)reason;
    p->meta.log_bytes = r->log_bytes;
    p->meta.log_crc32c = r->log_crc32c;
    p->meta.log_recorded = true;
    if (r->writer == 0)
        r->writer = draw_writer_id();
    p->meta.writer = r->writer;
    p->m.metadata = &p->meta;
    p->m.config_ini = config_ini;

    dk_model_manifest_fill(&p->model, net);
    if (r->fit && r->fit->names) { /* a CSV's: its header names the inputs first */
        p->model.model.n_input_names = (size_t)r->fit->n_in;
        p->model.model.input_names = r->fit->names;
    }
    p->m.model = &p->model.model;

    dk__schedule__init(&p->schedule);
    p->schedule.step = r->step;
    p->schedule.adam_steps = r->adam_steps;
    p->schedule.lbfgs_steps = r->lbfgs_steps;
    p->schedule.lbfgs_dropped = r->lbfgs_dropped;
    p->schedule.adam_done = r->adam_done;
    p->schedule.stage = r->stage;
    p->schedule.grid_updates = r->grid_updates;
    p->schedule.lr = r->last_lr;
    p->schedule.last_logged = r->last_logged;
    for (int s = 0; s < r->schedule.n_stages; s++) {
        const dk_stage *st = &r->stages[s];
        Dk__Stage *ps = &p->stages[s];
        dk__stage__init(ps);
        ps->grid = st->G;
        ps->first_step = st->first_step;
        ps->planned = st->planned;
        ps->done = st->done;
        ps->loss_before = st->loss_before;
        ps->loss_after = st->loss_after;
        ps->refine_change = st->refine_change;
        ps->loss = st->loss;
        fill_eval(&p->stage_evals[s], &st->eval);
        ps->eval = &p->stage_evals[s];
        p->stage_ptrs[s] = ps;
    }
    p->schedule.n_stages = (size_t)r->schedule.n_stages;
    p->schedule.stages = p->stage_ptrs;
    p->m.schedule = &p->schedule;

    if (r->adam) {
        dk__adam__init(&p->adam);
        p->adam.step = r->adam->step;
        p->m.adam = &p->adam;
    }
    if (r->lbfgs) {
        dk_lbfgs_state ls;
        dk_lbfgs_state_view(r->lbfgs, &ls);
        dk__lbfgs__init(&p->lbfgs);
        p->lbfgs.history = ls.history;
        p->lbfgs.head = ls.head;
        p->lbfgs.count = ls.count;
        p->lbfgs.steps = ls.steps;
        p->lbfgs.evals = ls.evals;
        p->lbfgs.fresh = r->lbfgs_fresh;
        p->lbfgs.f = r->lbfgs_f;
        p->lbfgs.stop = r->lbfgs_stop;
        p->m.lbfgs = &p->lbfgs;
    }

    dk__data_position__init(&p->data);
    p->data.seed = r->cfg->seed;
    p->data.fit_batch = r->fit ? r->adam_done : 0;
    p->data.pde_epoch = r->pde ? r->pde->epoch : -1;
    p->data.csv_bytes = r->fit ? r->fit->csv_bytes : 0;
    p->data.csv_crc32c = r->fit ? r->fit->csv_crc32c : 0;
    p->data.pde_points = r->pde ? DK_COLLOCATION_VERSION : 0;
    p->m.data = &p->data;

    dk__loss__init(&p->loss);
    p->loss.total = r->loss.total;
    p->loss.interior = r->loss.interior;
    p->loss.boundary = r->loss.boundary;
    if (r->first_loss_step >= 0) {
        dk__loss_history__init(&p->history);
        p->history.first = r->first_loss;
        p->history.first_step = r->first_loss_step;
        p->history.grid_rise = r->grid_rise;
        p->history.grid_rise_step = r->grid_rise_step;
        p->history.grid_rise_extension = r->grid_rise_extension;
        p->history.grid_rise_loss = r->grid_rise_loss;
        p->loss.history = &p->history;
    }
    p->m.loss = &p->loss;
    fill_eval(&p->eval, &r->eval);
    p->m.eval = &p->eval;
}

dk_err dk_train_check_params_finite(const dk_run *r)
{
    const dk_network *net = r->net;
    const long e = dk_first_not_finite(net->dtype, net->params, net->n_params);
    if (e >= 0)
        DK_ERROR(DK_ERR_NUMERIC,
                 "the update at step %ld made parameter %ld of %zu %g: lower [train] lr (now %g) or check the data "
                 "or problem; no checkpoint or result holds this state",
                 r->step, e, net->n_params, dk_load(net->dtype, net->params, (size_t)e), r->cfg->lr);
    return DK_OK;
}

/* The training log as it stands (flushed after every line): r->log_bytes and
 * r->log_crc32c extended over what was written since the last checkpoint, read back from
 * the file, so that the checkpoint can name the log it continues. */
static dk_err measure_log(dk_run *r)
{
    if (!r->metrics)
        return DK_OK;
    const off_t end = ftello(r->metrics);
    char what[DK_PATH_MAX + 64];
    snprintf(what, sizeof what, "back %s/metrics.jsonl.partial to record it in a checkpoint", r->cfg->run_dir);
    if (end >= 0)
        DK_CALL(dk_file_crc32c(fileno(r->metrics), (uint64_t)end, &r->log_bytes, &r->log_crc32c, what));
    if (end >= 0 && r->log_bytes < (uint64_t)end)
        DK_ERROR(DK_ERR_IO, "cannot read %s: it is shorter than written", what);
    return DK_OK;
}

dk_err dk_train_checkpoint_save(dk_run *r, const char *reason)
{
    if (r->rank != 0)
        return DK_OK;
    const double t0 = dk_train_now();
    if (r->dev)
        DK_CALL(dk_train_device_to_host(r));
    DK_CALL(dk_train_check_params_finite(r));
    DK_CALL(dk_run_lock_recheck()); /* before this run prunes the directory */
    static dk_state_tensor tensors[DK_MAX_STATE_TENSORS];
    static dk_ckpt_tensor_source sources[DK_MAX_STATE_TENSORS];
    static manifest_parts parts;
    const int n = dk_train_state_tensors(r, tensors);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        dk_state_tensor *t = &tensors[i];
        sources[i] = (dk_ckpt_tensor_source){.name = t->name, .dtype = t->dtype, .n_dims = t->n_dims, .data = t->data};
        for (int d = 0; d < t->n_dims; d++)
            sources[i].shape[d] = t->shape[d];
        bytes += t->count * dk_dtype_size(t->dtype);
    }
    DK_CALL(measure_log(r));
    char *ini = NULL;
    DK_CALL(dk_config_to_text(r->cfg, &ini)); /* the same text as the run's config.ini */
    fill_manifest(r, &parts, ini, reason);
    char path[DK_CKPT_PATH_MAX], staged[DK_CKPT_PATH_MAX + 16];
    dk_err err = dk_ckpt_path(path, sizeof path, r->ckpt_dir, r->step);
    if (err == DK_OK)
        err = dk_make_dirs(r->ckpt_dir);
    /* The first checkpoint is written under another name before the earlier history is set
     * aside, and renamed into place after: a write that fails (a full disk) leaves that
     * history where it was, and usable. */
    const bool first = !r->history_set_aside;
    snprintf(staged, sizeof staged, "%s.first", path);
    if (err == DK_OK)
        err = dk_ckpt_write(first ? staged : path, &parts.m, sources, n, (size_t)r->cfg->ckpt_chunk_bytes);
    free(ini);
    if (err == DK_OK && first) {
        err = dk_train_checkpoint_set_aside_history(r);
        if (err == DK_OK && rename(staged, path) != 0)
            err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot rename %s to %s: %s", staged, path,
                               strerror(errno));
        if (err == DK_OK)
            err = dk_fsync_dir(r->ckpt_dir);
        if (err != DK_OK)
            unlink(staged);
    }
    DK_CALL(err);
    /* The checkpoint is safe on disk: failing to remove older ones (a file made read-only,
     * an NFS hiccup) costs disk space, not the run. */
    if (dk_ckpt_prune(r->ckpt_dir, r->cfg->ckpt_keep) != DK_OK) {
        fprintf(stderr, "distkan: warning: checkpoint at step %ld written, but older checkpoints could not be "
                        "removed ([checkpoint] keep = %d): %s\n",
                r->step, r->cfg->ckpt_keep, dk_error_message());
        dk_error_clear();
    }
    r->t_last_ckpt = dk_train_now();
    r->last_ckpt_step = r->step;
    const double seconds = r->t_last_ckpt - t0;
    printf("checkpoint (%s) at step %ld: %s, %.1f MB in %.2f s\n", reason, r->step, path, (double)bytes / 1e6,
           seconds);
    fflush(stdout);
    DK_CALL(dk_train_log_checkpoint(r, bytes, seconds));
    return DK_OK;
}

/* Resuming a run from a checkpoint.
 *
 * Rank 0 finds the file ("latest": the newest one in the checkpoint directory that
 * verifies, skipping corrupt ones with a warning), verifies every checksum, and broadcasts
 * the manifest; every rank then checks the config against the checkpoint's own and builds
 * its network at the checkpoint's grid size. After setup, rank 0 reads each tensor straight
 * into the run's buffers and broadcasts it, and every rank restores the counters.
 *
 * Nothing in a checkpoint is per-rank: batch and collocation counts are global, points and
 * batches are functions of (seed, position), so a checkpoint resumes on any number of ranks.
 * On the same number of ranks, with the same threads, the resumed run repeats the
 * uninterrupted one bit for bit. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../checkpoint/dk_ckpt_dir.h"
#include "../common/dk_edit_distance.h"
#include "../common/dk_fs.h"
#include "../checkpoint/dk_ckpt_file.h"
#include "dk_run_files.h"
#include "dk_run_history.h"
#include "dk_state_check.h"
#include "dk_train_device.h"
#include "dk_train_run.h"

struct dk_resume {
    Dk__Manifest *manifest;  /* unpacked on every rank */
    dk_ckpt_reader *reader;  /* rank 0 */
    char path[DK_CKPT_PATH_MAX];
    char *metrics;           /* rank 0: the metrics lines to carry over (NULL: none) */
    const dk_config *saved;  /* the checkpoint's own config */
    int n_changed;           /* keys changed since, for dk_train_resume_announce */
    /* A stage that L-BFGS ended early and whose plan grew: it goes on (dk_train_resume_announce
     * says so). reopened_stage is -1 when none. */
    int reopened_stage;
    long reopened_done, reopened_plan;
};

/* ---------------------------------------------------------------------------------------
 * Finding and sharing the checkpoint
 * ------------------------------------------------------------------------------------- */

static dk_err find_set_aside_log(const dk_run *r, const Dk__Manifest *m, char *path, size_t cap, bool *found);

/* Rank 0, --resume latest (or auto, which main.c resolved to the same search): the newest
 * checkpoint of the run in the run directory (dk_run_open_checkpoint), not another run's
 * that shares the checkpoint directory. When the run's own were set aside by such a run,
 * the user says which to continue. spec names the option in messages. */
static dk_err open_latest_of_run(dk_run *r, const char *dir, const char *spec)
{
    struct dk_resume *res = r->resume;
    dk_run_ckpt_found found;
    int n_other = 0;
    char other[DK_CKPT_PATH_MAX];
    const dk_err opened =
        dk_run_open_checkpoint(r->cfg->run_dir, dir, stderr, &res->reader, &found, &n_other, other, sizeof other);
    if (opened == DK_ERR_IO && strcmp(spec, "latest") == 0 &&
        strstr(dk_error_message(), "no checkpoint (ckpt-<step>.dkc)"))
        /* A first submission of a job script written for requeues: say what starts it. */
        DK_ERROR(DK_ERR_IO,
                 "--resume latest: no checkpoint (ckpt-<step>.dkc) in %s to continue (--resume auto starts a new run "
                 "where there is none, and continues the newest where there is one)",
                 dir);
    DK_CALL(opened);
    if (found == DK_RUN_CKPT_SET_ASIDE) {
        char own[DK_CKPT_PATH_MAX];
        snprintf(own, sizeof own, "%s", dk_ckpt_label(res->reader));
        dk_ckpt_close(&res->reader);
        DK_ERROR(DK_ERR_DATA,
                 "--resume %s: no checkpoint in %s continues the run in %s (its training log): they are another "
                 "run's, which shares that checkpoint directory and set this run's aside; its newest is %s: give "
                 "--resume %s to continue this run from it",
                 spec, dir, r->cfg->run_dir, own, own);
    }
    /* Nothing ties the newest checkpoint to this run directory. It is this run's history
     * when its log went aside: a fresh run started here and failed before it saved
     * anything (the history stays usable). Otherwise it may be another run's: the user
     * says whether to continue it here. */
    bool history = false;
    if (found == DK_RUN_CKPT_UNMATCHED) {
        char log[DK_PATH_MAX];
        const dk_err err = find_set_aside_log(r, dk_ckpt_manifest(res->reader), log, sizeof log, &history);
        if (err != DK_OK)
            dk_ckpt_close(&res->reader);
        DK_CALL(err);
    }
    /* In the run directory's own checkpoints/ no other run's can be: the log was edited, and
     * the resume says so when it carries it over. */
    const bool inside = dk_run_checkpoints_inside(r->cfg->run_dir, dir);
    if (((found == DK_RUN_CKPT_UNMATCHED && !history) || found == DK_RUN_CKPT_NO_LOG) && !inside) {
        char newest[DK_CKPT_PATH_MAX];
        snprintf(newest, sizeof newest, "%s", dk_ckpt_label(res->reader));
        dk_ckpt_close(&res->reader);
        DK_ERROR(DK_ERR_DATA,
                 "--resume %s: %s, so nothing shows that the newest checkpoint in %s, %s, is this run's (it may "
                 "be another run's that shares the checkpoint directory): give --resume %s to continue from it",
                 spec, found == DK_RUN_CKPT_NO_LOG ? "the run directory has no training log (metrics.jsonl)"
                                             : "no checkpoint there continues the run directory's training log "
                                               "(deleted or edited?)",
                 dir, newest, newest);
    }
    if (n_other > 0)
        fprintf(stderr,
                "distkan: warning: --resume %s: skipping %d newer checkpoint%s in %s (the newest %s): %s another "
                "run's, which shares that checkpoint directory (the training log in %s does not continue from %s)\n",
                spec, n_other, n_other == 1 ? "" : "s", dir, other, n_other == 1 ? "it is" : "they are", r->cfg->run_dir,
                n_other == 1 ? "it" : "them");
    return DK_OK;
}

/* Rank 0, --resume PATH: a path that does not exist or is a directory is a mistake in the
 * command line, not a failure of the run: exit 2, or a job script that requeues on exit 1
 * repeats it forever. The message says what was likely meant. Other paths are left to
 * dk_ckpt_open, which names the cause. */
static dk_err check_resume_path(const dk_run *r, const char *spec)
{
    struct stat st;
    if (stat(spec, &st) != 0) {
        const int e = errno;
        if (e != ENOENT && e != ENOTDIR)
            return DK_OK;
        const int to_latest = dk_edit_distance(spec, "latest"), to_auto = dk_edit_distance(spec, "auto");
        if (!strchr(spec, '/') && (to_latest <= 2 || to_auto <= 2))
            DK_ERROR(DK_ERR_USAGE,
                     "--resume %s: no such file; did you mean --resume %s? (--resume takes latest, auto or the path "
                     "of a checkpoint file)",
                     spec, to_latest <= to_auto ? "latest" : "auto");
        DK_ERROR(DK_ERR_USAGE, "--resume %s: %s (--resume takes latest, auto or the path of a checkpoint file)", spec,
                 strerror(e));
    }
    if (!S_ISDIR(st.st_mode))
        return DK_OK;
    /* As predict and inspect tell them apart: a directory holding checkpoints is a
     * checkpoint directory, any other a run directory. */
    dk_ckpt_entry *entries = NULL;
    int n = 0;
    char newest[DK_CKPT_PATH_MAX] = "";
    if (dk_ckpt_list(spec, &entries, &n) != DK_OK) {
        dk_error_clear();
        n = 0;
    }
    if (n > 0)
        snprintf(newest, sizeof newest, "%s", entries[0].path);
    free(entries);
    char own[DK_PATH_MAX];
    if (dk_config_checkpoint_dir(r->cfg, own, sizeof own) != DK_OK) {
        dk_error_clear();
        own[0] = '\0';
    }
    const bool own_checkpoints = own[0] && dk_same_file(spec, own);
    if (dk_same_file(spec, r->cfg->run_dir) || own_checkpoints)
        DK_ERROR(DK_ERR_USAGE,
                 "--resume %s: a directory, this run's %s directory; --resume takes latest, auto or a checkpoint "
                 "file: give --resume latest to continue from its newest checkpoint",
                 spec, own_checkpoints ? "checkpoint" : "run");
    /* A run's checkpoints/, even one that holds none yet: its run directory says it all. */
    char parent[DK_CKPT_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", spec);
    for (size_t len = strlen(parent); len > 1 && parent[len - 1] == '/'; len--)
        parent[len - 1] = '\0';
    char *base = strrchr(parent, '/');
    if (!strcmp(base ? base + 1 : parent, "checkpoints")) {
        if (base)
            *base = '\0';
        else
            snprintf(parent, sizeof parent, ".");
        char files[DK_CKPT_PATH_MAX + 64] = " (it holds none yet)";
        if (n > 0)
            snprintf(files, sizeof files, ", or give one of the files (the newest: %s)", newest);
        DK_ERROR(DK_ERR_USAGE,
                 "--resume %s: a checkpoint directory; --resume takes latest, auto or a checkpoint file: to continue "
                 "the run in %s, give --run-dir %s --resume latest%s",
                 spec, parent[0] ? parent : "/", parent[0] ? parent : "/", files);
    }
    if (n == 0)
        DK_ERROR(DK_ERR_USAGE,
                 "--resume %s: a directory; --resume takes latest, auto or a checkpoint file: to continue the run in "
                 "the run directory %s, give --run-dir %s --resume latest",
                 spec, spec, spec);
    DK_ERROR(DK_ERR_USAGE,
             "--resume %s: a checkpoint directory; --resume takes latest, auto or a checkpoint file: give --resume "
             "latest with [checkpoint] dir = %s (--set checkpoint.dir=%s, and the --run-dir of its run), or give one "
             "of the files (the newest: %s)",
             spec, spec, spec, newest);
}

/* A relative [checkpoint] dir is taken from the working directory, so a run resumed from
 * another one (a requeued job script that cds elsewhere) looks in a directory that holds
 * none of its checkpoints: latest would fail, and auto would start afresh and drop the work.
 * The note the run's start left (DK_RUN_CHECKPOINT_NOTE, an absolute path) tells: where it
 * names another directory that holds checkpoints while dir holds none, this is an error that
 * names both. */
static dk_err check_moved_relative_dir(const dk_config *cfg, const char *dir)
{
    char noted[DK_CKPT_PATH_MAX];
    struct timespec written;
    if (!cfg->ckpt_dir[0] || cfg->ckpt_dir[0] == '/' ||
        !dk_run_noted_checkpoint_dir(cfg->run_dir, noted, sizeof noted, &written) || noted[0] != '/' ||
        dk_same_file(noted, dir))
        return DK_OK;
    dk_ckpt_entry *entries = NULL;
    int here = 0, there = 0;
    if (dk_ckpt_list(dir, &entries, &here) != DK_OK)
        return dk_error_push(dk_error_code(), __FILE__, __LINE__, __func__);
    free(entries);
    entries = NULL;
    if (here > 0 || dk_ckpt_list(noted, &entries, &there) != DK_OK || there == 0) {
        dk_error_clear(); /* an unreadable noted directory: the usual search reports what it finds */
        free(entries);
        return DK_OK;
    }
    free(entries);
    char cwd[DK_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, "the working directory");
    DK_ERROR(DK_ERR_USAGE,
             "[checkpoint] dir = %s is relative, so it is taken from the working directory: from %s it holds no "
             "checkpoint, but this run (%s) started with it in %s, which holds %d; nothing was changed: run from "
             "the directory the run started in, or give the checkpoint directory absolutely (--set checkpoint.dir=%s)",
             cfg->ckpt_dir, cwd, cfg->run_dir, noted, there, noted);
}

/* Rank 0: resolves spec, opens and verifies the file, packs its manifest. */
static dk_err open_on_root(dk_run *r, const char *spec, uint8_t **packed, uint64_t *size)
{
    struct dk_resume *res = r->resume;
    if (strcmp(spec, "latest") == 0 || strcmp(spec, "auto") == 0) {
        char dir[DK_PATH_MAX];
        DK_CALL(dk_config_checkpoint_dir(r->cfg, dir, sizeof dir));
        DK_CALL(check_moved_relative_dir(r->cfg, dir));
        DK_CALL(open_latest_of_run(r, dir, spec));
    } else {
        DK_CALL(check_resume_path(r, spec));
        DK_CALL(dk_ckpt_open(&res->reader, spec));
        DK_CALL(dk_ckpt_verify(res->reader));
    }
    const char *path = dk_ckpt_label(res->reader);
    if (strlen(path) >= sizeof res->path)
        DK_ERROR(DK_ERR_USAGE, "--resume: the path is longer than %zu characters", sizeof res->path - 1);
    strcpy(res->path, path);
    const ProtobufCMessage *m = &dk_ckpt_manifest(res->reader)->base;
    *size = protobuf_c_message_get_packed_size(m);
    DK_CALL(dk_calloc((void **)packed, *size ? *size : 1, 1, "checkpoint manifest"));
    protobuf_c_message_pack(m, *packed);
    return DK_OK;
}

/* Every rank: the manifest describes this run's kind of model and state. The config
 * comparison has already matched the keys; these checks catch a file whose manifest
 * disagrees with its own config, as inspect's do (a file it calls valid resumes, and the
 * other way round). */
static dk_err check_manifest(const dk_run *r, const Dk__Manifest *m, const char *path)
{
    DK_CALL(dk_model_check_layers(m->model, path));
    return dk_manifest_check_config(m, r->cfg, path);
}

/* A log set aside by an earlier run into this run's checkpoint directory
 * (dk_run_find_set_aside_log) that begins with the log checkpoint m recorded; false if none
 * does. */
static dk_err find_set_aside_log(const dk_run *r, const Dk__Manifest *m, char *path, size_t cap, bool *found)
{
    *found = false;
    char dir[DK_PATH_MAX];
    if (dk_config_checkpoint_dir(r->cfg, dir, sizeof dir) != DK_OK) {
        dk_error_clear();
        return DK_OK;
    }
    return dk_run_find_set_aside_log(dir, m, "the training log to carry over", path, cap, found);
}

/* Rank 0: the lines of the training log up to checkpoint m: lines of later steps, and
 * lines after the checkpoint's own event at its step, were written after it. The log is
 * the run directory's metrics.jsonl.partial (a stopped run's) or metrics.jsonl (a finished
 * one's), the newer first, and it must begin with the log the checkpoint recorded (its
 * length and CRC-32C), or, for a checkpoint written before the log's first line, with its
 * own event line (which is then all that is carried): another run's log there (a fresh run
 * that failed before it saved anything leaves its own .partial) is not this history, and
 * the history's own may have been set aside by such a run, into <checkpoint
 * dir>/earlier-<time>, where it is looked for next. r->carried_from_partial: the source was
 * the run directory's .partial (the only one the resumed run's log may replace; anything
 * else there is set aside). warn_if_none: say so when no log continues (the run's log
 * starts again at the checkpoint's step). */
static dk_err read_metrics_to_carry(dk_run *r, const Dk__Manifest *m, bool warn_if_none)
{
    const Dk__Metadata *md = m->metadata;
    const long step = (long)m->schedule->step;
    char path[3][DK_PATH_MAX + 64];
    struct stat st[2];
    bool found[3] = {false, false, false};
    const char *names[] = {"metrics.jsonl.partial", "metrics.jsonl"};
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", r->cfg->run_dir, names[i]);
        found[i] = stat(path[i], &st[i]) == 0 && S_ISREG(st[i].st_mode);
    }
    /* A stale .partial of an older failed run must not win over the committed file of a
     * finished run that is now trained further: the newer first. */
    const int first = found[0] && (!found[1] || st[0].st_mtime >= st[1].st_mtime) ? 0 : 1;
    /* Older checkpoints record no log: the newer file, unchecked. One written before the
     * history's first line: a log that begins with its own event line, which is then all
     * that is carried. */
    const bool recorded = dk_ckpt_records_log(m);
    int pick = -1;
    for (int k = 0; k < 2 && pick < 0; k++) {
        const int i = k == 0 ? first : 1 - first;
        bool begins = false;
        if (found[i])
            DK_CALL(dk_log_continued_by(path[i], m, "the training log to carry over", &begins));
        if (begins)
            pick = i;
    }
    if (pick < 0 && recorded) {
        DK_CALL(find_set_aside_log(r, m, path[2], sizeof path[2], &found[2]));
        if (found[2])
            pick = 2;
    }
    if (pick < 0) {
        if (md->log_bytes > 0 && warn_if_none) /* an empty record's line may simply not be written yet */
            fprintf(stderr, "distkan: warning: no training log in %s or set aside in its checkpoint directory begins "
                            "with the log %s continues (%llu bytes; deleted or edited?): the log starts again at "
                            "step %ld\n",
                    r->cfg->run_dir, r->resume->path, (unsigned long long)md->log_bytes, step);
        return DK_OK; /* no log: nothing to carry */
    }
    r->carried_from_partial = pick == 0;
    if (pick == 2)
        printf("note: the training log up to step %ld is carried over from %s\n", step, path[2]);
    FILE *f = fopen(path[pick], "r");
    if (!f)
        DK_ERROR(DK_ERR_IO, "cannot read %s, the training log to carry over: %s", path[pick], strerror(errno));
    size_t size = 0;
    FILE *out = open_memstream(&r->resume->metrics, &size);
    if (!out) {
        fclose(f);
        DK_ERROR(DK_ERR_MEMORY, "cannot buffer the training log %s to carry over", path[pick]);
    }
    char *line = NULL;
    size_t cap = 0;
    char mark[64];
    snprintf(mark, sizeof mark, "{\"step\": %ld, \"event\": \"checkpoint\"", step);
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        /* A line cut short (a write that failed, a crash mid-line) ends what is carried: the
         * log that continues must stay one JSON object per line. */
        if (got < 2 || line[got - 1] != '\n' || line[got - 2] != '}') {
            fprintf(stderr, "distkan: warning: %s ends in an incomplete line; the log carried over stops before it\n",
                    path[pick]);
            break;
        }
        long line_step;
        if (sscanf(line, "{\"step\": %ld", &line_step) != 1 || line_step > step)
            break;
        fputs(line, out);
        if (strncmp(line, mark, strlen(mark)) == 0)
            break;
    }
    free(line);
    const int read_failed = ferror(f);
    fclose(f);
    const int buffer_failed = fclose(out) != 0;
    if (read_failed || buffer_failed) {
        free(r->resume->metrics);
        r->resume->metrics = NULL;
        DK_ERROR(read_failed ? DK_ERR_IO : DK_ERR_MEMORY, "cannot %s the training log %s to carry over",
                 read_failed ? "read" : "buffer", path[pick]);
    }
    return DK_OK;
}

/* Rank 0: whether the checkpoint at path lies in this run's checkpoint directory (the same
 * directory, however spelled). Only then are that directory's older checkpoints, and the
 * run directory's log, the history this run continues; a checkpoint from elsewhere starts
 * another history there. */
static bool in_own_checkpoint_dir(const dk_run *r, const char *path)
{
    char own[DK_PATH_MAX], dir[DK_CKPT_PATH_MAX];
    if (dk_config_checkpoint_dir(r->cfg, own, sizeof own) != DK_OK) {
        dk_error_clear();
        return false;
    }
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0'; /* a checkpoint in / */
    else
        *slash = '\0';
    return dk_same_file(own, dir);
}

/* --resume auto: "latest" when the checkpoint directory holds a checkpoint file, else a new
 * run, so that one job script serves the first submission and every requeue. A directory
 * whose checkpoints all fail to verify still means "latest", which then says so: starting
 * afresh over them would quietly throw away the work they hold. Rank 0 looks (it alone
 * reads checkpoints) and tells the others. In a [checkpoint] dir shared by several runs,
 * "latest" means this run's newest (dk_run_open_checkpoint); where a run sharing the
 * directory set this run's aside, auto takes that file (a requeued job goes on by itself);
 * a run directory without a log owns none of the checkpoints there, and auto starts a new
 * run (a job's first start in a shared directory). */
dk_err dk_train_resume_resolve_auto(dk_comm *comm, const dk_config *cfg, const char **resume, int *report)
{
    static char chosen[DK_CKPT_PATH_MAX];
    int found = 0;
    char dir[DK_PATH_MAX];
    dk_err err = dk_config_checkpoint_dir(cfg, dir, sizeof dir);
    if (err == DK_OK && dk_comm_rank(comm) == 0) {
        dk_ckpt_entry *entries = NULL;
        err = dk_ckpt_list(dir, &entries, &found);
        free(entries);
        if (err == DK_OK && found == 0)
            err = check_moved_relative_dir(cfg, dir);
    }
    snprintf(chosen, sizeof chosen, "auto"); /* dk_train_run: as latest, named auto in its messages */
    if (err == DK_OK && found > 0 && dk_comm_rank(comm) == 0 && !dk_run_checkpoints_inside(cfg->run_dir, dir)) {
        /* A run directory without a log owns none of the checkpoints in a shared directory,
         * whatever they are (other users' files it cannot even open, say). */
        dk_run_logs *logs = NULL;
        err = dk_run_logs_find(cfg->run_dir, &logs);
        if (err == DK_OK && dk_run_logs_count(logs) == 0) {
            printf("--resume auto: %s has no training log, and nothing ties the checkpoints in %s to it (another "
                   "run's): starting a new run (they are set aside when it first saves)\n", cfg->run_dir, dir);
            found = -1; /* said */
        }
        dk_run_logs_free(&logs);
    }
    if (err == DK_OK && found >= 0 && dk_comm_rank(comm) == 0) {
        /* Where a run sharing the directory set this run's own aside, auto takes its newest
         * there (a requeued job goes on by itself), also from a directory that run left
         * empty (it saved none of its own). */
        dk_ckpt_reader *rd = NULL;
        dk_run_ckpt_found kind;
        int n_other = 0;
        char other[DK_CKPT_PATH_MAX];
        if (dk_run_open_checkpoint(cfg->run_dir, dir, NULL, &rd, &kind, &n_other, other, sizeof other) != DK_OK) {
            dk_error_clear(); /* the search in dk_train_run reports it, with the full story (none: a new run) */
        } else if (kind == DK_RUN_CKPT_SET_ASIDE) {
            snprintf(chosen, sizeof chosen, "%s", dk_ckpt_label(rd));
            printf("--resume auto: this run's newest checkpoint is %s, where a run sharing the checkpoint directory "
                   "set it aside: continuing from it\n", chosen);
            found = found > 0 ? found : 1;
        } /* DK_RUN_CKPT_NO_LOG: a shared directory, handled above */
        dk_ckpt_close(&rd);
    }
    DK_CALL(dk_comm_agree(comm, err, report));
    DK_CALL(dk_comm_broadcast(comm, &found, sizeof found, 0, DK_MEM_HOST));
    DK_CALL(dk_comm_broadcast(comm, chosen, sizeof chosen, 0, DK_MEM_HOST));
    *resume = found > 0 ? chosen : NULL;
    if (found == 0 && dk_comm_rank(comm) == 0 && err == DK_OK)
        printf("--resume auto: no checkpoint in %s: starting a new run\n", dir);
    return DK_OK;
}


dk_err dk_train_resume_open(dk_run *r, const char *spec, int *local_failure)
{
    DK_CALL(dk_comm_agree(r->comm, DK_CALLOC(r->resume, 1, "resume state"), local_failure));
    struct dk_resume *res = r->resume;
    uint8_t *packed = NULL;
    uint64_t size = 0;
    dk_err err = r->rank == 0 ? open_on_root(r, spec, &packed, &size) : DK_OK;
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));
    DK_CALL(dk_comm_broadcast(r->comm, &size, sizeof size, 0, DK_MEM_HOST));
    DK_CALL(dk_comm_broadcast(r->comm, res->path, sizeof res->path, 0, DK_MEM_HOST));
    if (r->rank != 0)
        err = dk_calloc((void **)&packed, size ? size : 1, 1, "checkpoint manifest");
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));
    DK_CALL(dk_comm_broadcast(r->comm, packed, size, 0, DK_MEM_HOST));
    res->manifest = dk__manifest__unpack(NULL, size, packed);
    free(packed);
    /* The bytes passed rank 0's checks before they were sent, so only memory can fail. */
    err = res->manifest ? DK_OK : dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "%s: cannot unpack the manifest", res->path);
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));

    /* From here on every rank computes the same verdict from the same bytes. */
    const Dk__Manifest *m = res->manifest;
    static dk_config saved;
    char label[DK_CKPT_PATH_MAX + 32];
    snprintf(label, sizeof label, "%s (its config)", res->path);
    err = dk_config_load_text(&saved, m->config_ini, label);
    int n_changed = 0;
    if (err == DK_OK)
        err = dk_config_check_resume(&saved, r->cfg, res->path, NULL, &n_changed);
    if (err == DK_OK) /* the keys that shape the model now agree: check the manifest against them */
        err = check_manifest(r, m, res->path);
    /* Every rank found the same error: rank 0 reports it. */
    int report = 0;
    dk_err agreed = dk_comm_agree(r->comm, err, &report);
    if (agreed != DK_OK) {
        *local_failure = r->rank == 0;
        return dk_error_push(err != DK_OK ? err : agreed, __FILE__, __LINE__, __func__);
    }
    res->saved = &saved;
    res->n_changed = n_changed;
    err = DK_OK;
    if (r->rank == 0) {
        r->resumed_in_own_dir = in_own_checkpoint_dir(r, res->path);
        r->resumed_step = (long)m->schedule->step;
        /* From another directory, the log is carried too when it is this checkpoint's (a
         * run's own checkpoint, set aside by a run sharing its checkpoint directory). */
        if (r->resumed_in_own_dir || dk_ckpt_records_log(m))
            err = read_metrics_to_carry(r, m, r->resumed_in_own_dir);
    }
    /* A log that cannot be carried over stops the resume: going on would end the history
     * where it began. */
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));
    return DK_OK;
}

void dk_train_resume_announce(const dk_run *r)
{
    const struct dk_resume *res = r->resume;
    const Dk__Manifest *m = res->manifest;
    const Dk__Metadata *md = m->metadata;
    time_t when = (time_t)md->created_unix_s;
    char stamp[64] = "?";
    struct tm tm;
    if (gmtime_r(&when, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("resuming from %s: step %lld, grid stage %d of %zu (G %d), written by %d rank%s at %s (%s)\n", res->path,
           (long long)m->schedule->step, m->schedule->stage + 1, m->schedule->n_stages, m->model->grid,
           md->world_size, md->world_size == 1 ? "" : "s", stamp, md->reason);
    if (res->n_changed > 0) {
        int n = 0;
        printf("config keys changed since the checkpoint (%d):\n", res->n_changed);
        dk_config_check_resume(res->saved, r->cfg, res->path, stdout, &n);
    }
    if (res->reopened_stage >= 0)
        printf("grid stage %d, which L-BFGS ended after %ld of its %ld planned updates, goes on to %ld with a fresh "
               "L-BFGS history\n",
               res->reopened_stage + 1, res->reopened_done, res->reopened_plan,
               r->stages[res->reopened_stage].planned);
    if (r->pde && r->cfg->pde_sampling == DK_SAMPLING_HALTON && m->data->pde_points < DK_COLLOCATION_VERSION)
        printf("note: the checkpoint was written by a distkan whose Halton collocation points were not scrambled; "
               "the resumed run trains on the scrambled points (docs/pde.md), so it does not repeat the run that "
               "wrote it bit for bit\n");
    if (md->world_size != r->world)
        printf("note: the checkpoint was written by %d rank%s and resumes on %d: the split of the batch and the "
               "collocation points changes, so results agree with an uninterrupted run to rounding only\n",
               md->world_size, md->world_size == 1 ? "" : "s", r->world);
    /* The kernels split their sums over the threads: another count sums in another order. */
    if (res->saved->threads != r->cfg->threads)
        printf("note: the checkpoint was written with [dist] threads = %d and resumes with %d: the kernels' sums run "
               "in another order, so results agree with an uninterrupted run to rounding only\n",
               res->saved->threads, r->cfg->threads);
    fflush(stdout);
}

int dk_train_resume_grid(const dk_run *r) { return r->resume->manifest->model->grid; }

/* ---------------------------------------------------------------------------------------
 * Restoring the state
 * ------------------------------------------------------------------------------------- */

/* The run's plan comes from the config, which may have changed step counts: the stages the
 * checkpoint has left keep their lengths, the current one may grow or shrink but not below
 * what it has done, and Adam cannot resume once L-BFGS has started. When the current stage
 * has ended, because its plan ran out (typically the last stage of a finished run) or
 * because L-BFGS stopped early, a plan that grows reopens it: that is how a run is trained
 * further. A plan that shrinks, but not below what was done, leaves an early-ended stage
 * ended. r->resume->reopened_stage: the stage L-BFGS had stopped that goes on (-1: none),
 * whose L-BFGS then starts afresh (the caller clears the restored history): the history it
 * had led to the stop. */
static dk_err restore_plan(dk_run *r, const Dk__Schedule *sc, const char *path)
{
    const dk_config *cfg = r->cfg;
    struct dk_resume *res = r->resume;
    const long lbfgs_done = (long)(sc->step - sc->adam_done);
    long dropped = (long)sc->lbfgs_dropped;
    res->reopened_stage = -1;
    if (r->adam_steps < sc->adam_done || (lbfgs_done > 0 && r->adam_steps != sc->adam_done))
        DK_ERROR(DK_ERR_USAGE, "%s: [train] steps = %ld cannot continue %s: it has done %lld Adam steps%s",
                 cfg->source_path, cfg->steps, path, (long long)sc->adam_done,
                 lbfgs_done > 0 ? " and started L-BFGS, so the Adam phase is over" : "");
    /* Where a stage's count comes from, for the messages. */
    const char *counts = r->schedule.n_stages > 1
                             ? "[grid] steps (set it explicitly where the updates are split equally)"
                             : "[train] steps + [lbfgs] steps";
    for (int s = 0; s <= sc->stage; s++) {
        const Dk__Stage *cs = sc->stages[s];
        dk_stage *st = &r->stages[s];
        const bool current = s == sc->stage;
        const long done_in_stage = current ? (long)(sc->step - cs->first_step) : (long)cs->done;
        if (!current && st->planned != cs->planned)
            DK_ERROR(DK_ERR_USAGE,
                     "%s: grid stage %d (G %d) was finished with %lld updates planned (%lld done) in %s, but the "
                     "step counts now plan %ld: a finished stage keeps its count; change %s for stage %d (the "
                     "current one) or later stages only",
                     cfg->source_path, s + 1, st->G, (long long)cs->planned, (long long)cs->done, path, st->planned,
                     counts, sc->stage + 1);
        if (current && st->planned < done_in_stage)
            DK_ERROR(DK_ERR_USAGE,
                     "%s: the step counts plan %ld updates for grid stage %d (G %d), fewer than the %ld %s has done "
                     "in it; %s may grow, or shrink to no fewer than that",
                     cfg->source_path, st->planned, s + 1, st->G, done_in_stage, path, counts);
        st->first_step = cs->first_step;
        st->done = cs->done;
        if (current && cs->done > 0 && st->planned > cs->planned) {
            /* The stage had ended and its plan grew: it goes on. The updates an early stop
             * dropped from the plan are planned again. */
            const bool early = cs->done < cs->planned;
            if (early) {
                dropped -= (long)(cs->planned - cs->done);
                res->reopened_stage = s;
                res->reopened_done = (long)cs->done;
                res->reopened_plan = (long)cs->planned;
            }
            st->done = 0;
        } else if (current && cs->done > 0 && cs->done < cs->planned) {
            /* It stays ended, with as many updates dropped as the new plan leaves. */
            dropped += st->planned - (long)cs->planned;
        }
        st->loss_before = cs->loss_before;
        st->loss_after = cs->loss_after;
        st->refine_change = cs->refine_change;
        st->loss = cs->loss;
        if (cs->eval)
            st->eval = (dk_eval){cs->eval->test_rmse, cs->eval->rel_l2, cs->eval->max_err, cs->eval->mse};
    }
    if (dropped < 0 || dropped > r->lbfgs_steps)
        DK_ERROR(DK_ERR_DATA, "%s: %lld L-BFGS updates dropped by early stops do not fit the %ld planned", path,
                 (long long)sc->lbfgs_dropped, r->lbfgs_steps);
    r->stage = sc->stage;
    r->step = sc->step;
    r->adam_done = sc->adam_done;
    r->lbfgs_dropped = dropped;
    r->lbfgs_steps -= dropped;
    r->total_steps = r->adam_steps + r->lbfgs_steps;
    if (r->total_steps < r->step)
        DK_ERROR(DK_ERR_USAGE, "%s: the step counts plan %ld updates, fewer than the %ld %s has done",
                 cfg->source_path, r->total_steps, r->step, path);
    r->grid_updates = sc->grid_updates;
    r->last_lr = sc->lr;
    r->last_logged = sc->last_logged;
    return DK_OK;
}

static dk_err restore_counters(dk_run *r)
{
    struct dk_resume *res = r->resume;
    const Dk__Manifest *m = res->manifest;
    if (r->net->n_params != m->model->n_params || r->net->n_state != m->model->n_state)
        DK_ERROR(DK_ERR_DATA, "%s: the model has %llu parameters and %llu state values, but the network built from "
                 "its shapes has %zu and %zu",
                 res->path, (unsigned long long)m->model->n_params, (unsigned long long)m->model->n_state,
                 r->net->n_params, r->net->n_state);
    DK_CALL(restore_plan(r, m->schedule, res->path));
    if (r->adam)
        r->adam->step = (long)m->adam->step;
    if (r->lbfgs) {
        const Dk__Lbfgs *lb = m->lbfgs;
        DK_CALL(dk_lbfgs_restore_counters(r->lbfgs, lb->head, lb->count, (long)lb->steps, (long)lb->evals));
        r->lbfgs_fresh = lb->fresh;
        r->lbfgs_f = lb->f;
        snprintf(r->lbfgs_stop, sizeof r->lbfgs_stop, "%s", lb->stop ? lb->stop : "");
        if (res->reopened_stage >= 0) {
            r->lbfgs_fresh = true;
            r->lbfgs_stop[0] = '\0';
        }
    } else {
        r->lbfgs_fresh = true;
    }
    if (r->pde)
        DK_CALL(dk_pde_task_set_epoch(r->pde, (long)m->data->pde_epoch));
    /* A CSV is identified by its content: the path may differ (a job requeued from another
     * directory, a moved file), the data may not. */
    if (r->fit && r->fit->csv_bytes > 0) {
        const Dk__DataPosition *d = m->data;
        if (d->csv_bytes == 0) {
            if (r->rank == 0)
                fprintf(stderr, "distkan: warning: %s records no fingerprint of its CSV data (an older checkpoint): "
                                "whether %s holds the same data cannot be checked\n",
                        res->path, r->cfg->csv);
        } else if (d->csv_bytes != r->fit->csv_bytes || d->csv_crc32c != r->fit->csv_crc32c) {
            DK_ERROR(DK_ERR_USAGE,
                     "%s: [fit] csv = %s holds other data than the run that wrote %s (%llu bytes with CRC-32C %08x "
                     "then, %llu bytes with %08x now): resuming on changed data would not continue that run; restore "
                     "the file, or start a new run",
                     r->cfg->source_path, r->cfg->csv, res->path, (unsigned long long)d->csv_bytes,
                     (unsigned)d->csv_crc32c, (unsigned long long)r->fit->csv_bytes, (unsigned)r->fit->csv_crc32c);
        }
    }
    if (m->loss)
        r->loss = (dk_loss){m->loss->total, m->loss->interior, m->loss->boundary};
    const Dk__LossHistory *h = m->loss ? m->loss->history : NULL;
    if (h) { /* the divergence warning at the end compares with the run's start, not the resume's */
        r->first_loss = h->first;
        r->first_loss_step = (long)h->first_step;
        r->grid_rise = h->grid_rise;
        r->grid_rise_step = (long)h->grid_rise_step;
        r->grid_rise_extension = h->grid_rise_extension;
        r->grid_rise_loss = h->grid_rise_loss;
    }
    if (m->eval)
        r->eval = (dk_eval){m->eval->test_rmse, m->eval->rel_l2, m->eval->max_err, m->eval->mse};
    /* Wall time continues from the checkpoint. */
    r->t_start = dk_train_now() - m->metadata->wall_s;
    r->resumed = true;
    return DK_OK;
}

/* The values just restored, beyond their checksums: a file that verifies but holds a NaN,
 * a knot out of order or a negative second moment (made or edited by other means) would
 * crash the kernels or train on garbage. */
static dk_err check_restored_values(dk_run *r)
{
    const char *path = r->resume->path;
    DK_CALL(dk_model_check_values(r->net, path));
    dk_optimizer_view v = {.dtype = r->net->dtype, .n = r->net->n_params};
    if (r->adam)
        v.adam_m = r->adam->m, v.adam_v = r->adam->v;
    if (r->lbfgs) {
        dk_lbfgs_state ls; /* host arrays, as the checkpoint filled them */
        if (r->dev)
            dk_train_device_lbfgs_view(r, &ls);
        else
            dk_lbfgs_state_view(r->lbfgs, &ls);
        v.s = ls.s, v.y = ls.y, v.rho = ls.rho, v.history = ls.history, v.head = ls.head, v.count = ls.count;
        v.stride = ls.stride, v.x = r->lbfgs_x, v.g = r->lbfgs_g, v.f = r->lbfgs_f, v.fresh = r->lbfgs_fresh;
    }
    DK_CALL(dk_optimizer_check_values(&v, path));
    return DK_OK;
}

dk_err dk_train_resume_restore(dk_run *r, int *local_failure)
{
    static dk_state_tensor tensors[DK_MAX_STATE_TENSORS];
    const int n = dk_train_state_tensors(r, tensors);
    dk_err err = DK_OK;
    if (r->rank == 0)
        for (int i = 0; i < n && err == DK_OK; i++)
            err = dk_ckpt_read_tensor(r->resume->reader, tensors[i].name, tensors[i].dtype, tensors[i].count,
                                      tensors[i].data);
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));
    for (int i = 0; i < n; i++)
        DK_CALL(dk_comm_broadcast(r->comm, tensors[i].data, tensors[i].count * dk_dtype_size(tensors[i].dtype), 0,
                                  DK_MEM_HOST));
    /* Every rank checks what it holds; the lowest failing rank reports (rank 0 when all fail
     * alike, as they do unless ranks read different data). */
    err = restore_counters(r);
    if (err == DK_OK)
        err = check_restored_values(r);
    int report = 0;
    dk_err agreed = dk_comm_agree(r->comm, err, &report);
    if (agreed != DK_OK) {
        *local_failure = report; /* the lowest failing rank: rank 0 when all fail alike */
        return dk_error_push(err != DK_OK ? err : agreed, __FILE__, __LINE__, __func__);
    }
    return DK_OK;
}

const char *dk_train_resume_carried_metrics(const dk_run *r)
{
    return r->rank == 0 && r->resume ? r->resume->metrics : NULL;
}

void dk_train_resume_close(dk_run *r)
{
    struct dk_resume *res = r->resume;
    if (!res)
        return;
    dk_ckpt_close(&res->reader);
    if (res->manifest)
        dk__manifest__free_unpacked(res->manifest, NULL);
    free(res->metrics);
    free(res);
    r->resume = NULL;
}

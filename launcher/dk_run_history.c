/* realpath is XSI, beyond the POSIX baseline the build defines. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include "dk_run_history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/dk_fs.h"
#include "dk_config.h"
#include "dk_run_files.h"
#include "dk_run_formats.h"

struct dk_run_logs {
    int n;
    char path[2][DK_PATH_MAX]; /* metrics.jsonl.partial, metrics.jsonl: those present */
};

dk_err dk_log_begins_with(const char *path, uint64_t bytes, uint32_t crc, const char *what, bool *begins)
{
    /* O_NONBLOCK: a FIFO under the log's name must not hang the run in open(). */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot read %s, %s: %s", path, what, strerror(errno));
    char label[DK_PATH_MAX + 96];
    snprintf(label, sizeof label, "%s, %s", path, what);
    uint64_t at = 0;
    uint32_t c = 0;
    const dk_err err = dk_file_crc32c(fd, bytes, &at, &c, label);
    close(fd);
    DK_CALL(err);
    *begins = at == bytes && c == crc;
    return DK_OK;
}

static void add_if_file(dk_run_logs *logs, const char *dir, const char *name)
{
    struct stat st;
    char *p = logs->path[logs->n];
    const int n = snprintf(p, DK_PATH_MAX, "%s/%s", dir, name);
    if (n > 0 && n < DK_PATH_MAX && stat(p, &st) == 0 && S_ISREG(st.st_mode))
        logs->n++;
}

static int is_set_aside(const struct dirent *e) { return strncmp(e->d_name, "earlier-", 8) == 0; }

/* The earlier-<time> directories of ckpt_dir, oldest first (the names sort by time): a count
 * and a list to free with free_set_aside; none (0) when ckpt_dir cannot be read. */
static int set_aside_dirs(const char *ckpt_dir, struct dirent ***subs)
{
    *subs = NULL;
    const int n = scandir(ckpt_dir, subs, is_set_aside, alphasort);
    return n > 0 ? n : 0;
}

static void free_set_aside(struct dirent **subs, int n)
{
    for (int i = 0; i < n; i++)
        free(subs[i]);
    free(subs);
}

dk_err dk_run_logs_find(const char *run_dir, dk_run_logs **out)
{
    DK_CALL(DK_CALLOC(*out, 1, "the run's training logs"));
    static const char *const names[] = {"metrics.jsonl.partial", "metrics.jsonl"};
    for (int j = 0; j < 2; j++)
        add_if_file(*out, run_dir, names[j]);
    return DK_OK;
}

int dk_run_logs_count(const dk_run_logs *logs) { return logs ? logs->n : 0; }

void dk_run_logs_free(dk_run_logs **logs)
{
    free(*logs);
    *logs = NULL;
}

/* Whether the log at path begins with the event line of checkpoint m (dk_run_formats.h):
 * its step, tensor bytes (as the line counts them) and writer, what a run whose first line
 * is its checkpoint's writes (a checkpoint before the first logged step, an evaluate-only
 * run, a stop at start-up). A line or a checkpoint of a version that recorded no writer is
 * matched by step and size alone. */
bool dk_log_opened_by_checkpoint(const char *path, const Dk__Manifest *m)
{
    /* O_NONBLOCK: a FIFO under the log's name must not hang the run in open(). */
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    char head[512]; /* an event line is about 210 bytes */
    const ssize_t got = read(fd, head, sizeof head - 1);
    close(fd);
    if (got < 0)
        return false;
    head[got] = '\0';
    char *end = strchr(head, '\n');
    if (!end)
        return false; /* no whole first line */
    *end = '\0';
    const long step = m->schedule ? (long)m->schedule->step : -1;
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        bytes += m->tensors[i]->nbytes;
    const uint64_t writer = m->metadata ? m->metadata->writer : 0;
    dk_log_ckpt_event line;
    if (!dk_log_ckpt_event_parse(head, &line) || line.step != step || line.bytes != bytes)
        return false;
    return line.writer == 0 || writer == 0 || line.writer == writer;
}

bool dk_ckpt_records_log(const Dk__Manifest *m)
{
    return m->metadata && (m->metadata->log_recorded || m->metadata->log_bytes > 0);
}

dk_err dk_log_continued_by(const char *path, const Dk__Manifest *m, const char *what, bool *own)
{
    const Dk__Metadata *md = m->metadata;
    *own = true;
    if (!dk_ckpt_records_log(m)) /* an older version's: no record to go by */
        return DK_OK;
    /* Written before the first line: the log's first line is this checkpoint's event line,
     * the same step, size and writer (another run's at the same step and of the same size,
     * a run sharing the checkpoint directory that also saves before it first logs, differs
     * in its writer). An empty log proves nothing: a run killed before its first line
     * leaves one, and it would own every such checkpoint of every run. */
    if (md->log_bytes == 0) {
        *own = dk_log_opened_by_checkpoint(path, m);
        return DK_OK;
    }
    return dk_log_begins_with(path, md->log_bytes, md->log_crc32c, what, own);
}

dk_err dk_run_logs_continued_by(const dk_run_logs *logs, const Dk__Manifest *m, bool *own)
{
    *own = !dk_ckpt_records_log(m); /* an older version's: every run's */
    for (int i = 0; logs && i < logs->n && !*own; i++)
        DK_CALL(dk_log_continued_by(logs->path[i], m, "the run's training log", own));
    return DK_OK;
}

typedef struct search {
    const dk_run_logs *logs;
    int refused;
    char *first_refused;
    size_t capacity;
} search;

static dk_err continues_run(const dk_ckpt_reader *rd, void *ctx, bool *take)
{
    search *s = ctx;
    DK_CALL(dk_run_logs_continued_by(s->logs, dk_ckpt_manifest(rd), take));
    if (!*take && s->refused++ == 0 && s->first_refused)
        snprintf(s->first_refused, s->capacity, "%s", dk_ckpt_label(rd));
    return DK_OK;
}

/* The run's own checkpoint of the highest step in the set-aside directories of ckpt_dir
 * (a tie to the newer directory); *out NULL if none. Every directory is asked: a history
 * can be split between two of them (a resume from the middle of it sets the later steps
 * aside first, a later run the earlier ones). A fallback search: a directory it cannot
 * read, or whose checkpoints are damaged, is passed over. */
static void open_set_aside(const char *ckpt_dir, const dk_run_logs *logs, dk_ckpt_reader **out)
{
    *out = NULL;
    struct dirent **subs;
    const int n = set_aside_dirs(ckpt_dir, &subs);
    uint64_t best = 0;
    for (int i = n - 1; i >= 0; i--) {
        char dir[DK_PATH_MAX];
        dk_ckpt_reader *rd = NULL;
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", ckpt_dir, subs[i]->d_name) < sizeof dir) {
            search s = {.logs = logs};
            if (dk_ckpt_open_latest_where(dir, continues_run, &s, true, &rd, NULL) != DK_OK)
                dk_error_clear();
        }
        if (!rd)
            continue;
        const Dk__Schedule *sc = dk_ckpt_manifest(rd)->schedule;
        const uint64_t step = sc ? (uint64_t)sc->step : 0;
        if (!*out || step > best) {
            dk_ckpt_close(out);
            *out = rd;
            best = step;
        } else {
            dk_ckpt_close(&rd);
        }
    }
    free_set_aside(subs, n);
}

dk_err dk_run_find_set_aside_log(const char *ckpt_dir, const Dk__Manifest *m, const char *what, char *path,
                                 size_t cap, bool *found)
{
    *found = false;
    if (!m->metadata)
        return DK_OK;
    struct dirent **subs;
    const int n = set_aside_dirs(ckpt_dir, &subs);
    static const char *const names[] = {"metrics.jsonl.partial", "metrics.jsonl"};
    dk_err err = DK_OK;
    for (int i = n - 1; i >= 0 && !*found && err == DK_OK; i--)
        for (int j = 0; j < 2 && !*found && err == DK_OK; j++) {
            struct stat st;
            if ((size_t)snprintf(path, cap, "%s/%s/%s", ckpt_dir, subs[i]->d_name, names[j]) >= cap ||
                stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            err = dk_log_continued_by(path, m, what, found);
        }
    free_set_aside(subs, n);
    return err;
}

dk_err dk_run_note_checkpoint_dir(const char *run_dir, const char *ckpt_dir)
{
    char note[DK_PATH_MAX + 32], temp[DK_PATH_MAX + 64], where[PATH_MAX];
    if ((size_t)snprintf(note, sizeof note, "%s/%s", run_dir, DK_RUN_CHECKPOINT_NOTE) >= sizeof note)
        DK_ERROR(DK_ERR_USAGE, "%s: the path is too long", run_dir);
    if (dk_run_checkpoints_inside(run_dir, ckpt_dir)) {
        if (unlink(note) != 0 && errno != ENOENT)
            DK_ERROR(DK_ERR_IO, "cannot remove %s: %s", note, strerror(errno));
        return DK_OK;
    }
    if (!realpath(ckpt_dir, where))
        DK_ERROR(DK_ERR_IO, "cannot resolve the checkpoint directory %s: %s", ckpt_dir, strerror(errno));
    snprintf(temp, sizeof temp, "%s.tmp.%ld", note, (long)getpid());
    FILE *f = fopen(temp, "w");
    if (!f)
        DK_ERROR(DK_ERR_IO, "cannot write %s: %s", temp, strerror(errno));
    const bool written = fprintf(f, "%s\n", where) > 0;
    if (fclose(f) != 0 || !written || rename(temp, note) != 0) {
        const int e = errno;
        unlink(temp);
        DK_ERROR(DK_ERR_IO, "cannot write %s: %s", note, strerror(e));
    }
    return DK_OK;
}

bool dk_run_noted_checkpoint_dir(const char *run_dir, char *dir, size_t capacity, struct timespec *written)
{
    char note[DK_PATH_MAX + 32];
    struct stat st;
    if ((size_t)snprintf(note, sizeof note, "%s/%s", run_dir, DK_RUN_CHECKPOINT_NOTE) >= sizeof note ||
        stat(note, &st) != 0)
        return false;
    *written = st.st_mtim;
    FILE *f = fopen(note, "r");
    if (!f)
        return false;
    const bool got = fgets(dir, (int)capacity, f) != NULL;
    fclose(f);
    const size_t n = got ? strcspn(dir, "\n") : 0;
    if (!got || n == 0)
        return false;
    dir[n] = '\0';
    return true;
}

bool dk_run_checkpoints_inside(const char *run_dir, const char *ckpt_dir)
{
    char own[DK_PATH_MAX];
    return (size_t)snprintf(own, sizeof own, "%s/checkpoints", run_dir) < sizeof own && dk_same_file(own, ckpt_dir);
}

dk_err dk_run_open_checkpoint(const char *run_dir, const char *ckpt_dir, FILE *warnings, dk_ckpt_reader **out,
                              dk_run_ckpt_found *found, int *n_other_newer, char *other_newer, size_t capacity)
{
    *out = NULL;
    *found = DK_RUN_CKPT_OWN;
    *n_other_newer = 0;
    if (capacity)
        other_newer[0] = '\0';
    dk_run_logs *logs = NULL;
    DK_CALL(dk_run_logs_find(run_dir, &logs));
    const bool shared = !dk_run_checkpoints_inside(run_dir, ckpt_dir);
    if (logs->n == 0 && !shared) {
        /* Its own checkpoints/ (copied there, or the log deleted): nothing else to tell. */
        dk_run_logs_free(&logs);
        return dk_ckpt_open_latest(ckpt_dir, out, warnings);
    }
    /* A directory with no checkpoint at all may still hold the run's own, set aside by a
     * run that saved none of its own there (final = false, or a finished run requeued):
     * straight to the set-aside search, whose fallback then says there is none. */
    dk_ckpt_entry *entries = NULL;
    int n_top = 0;
    dk_err err = dk_ckpt_list(ckpt_dir, &entries, &n_top);
    free(entries);
    search s = {.logs = logs, .first_refused = other_newer, .capacity = capacity};
    if (err == DK_OK && (n_top > 0 || logs->n == 0))
        err = dk_ckpt_open_latest_where(ckpt_dir, continues_run, &s, shared, out, warnings);
    *n_other_newer = s.refused;
    if (err == DK_OK && !*out) {
        open_set_aside(ckpt_dir, logs, out);
        if (*out)
            *found = DK_RUN_CKPT_SET_ASIDE;
        else { /* valid ones, none of this run's: the newest (as before runs were told apart) */
            *found = logs->n == 0 ? DK_RUN_CKPT_NO_LOG : DK_RUN_CKPT_UNMATCHED;
            *n_other_newer = 0;
            err = dk_ckpt_open_latest_where(ckpt_dir, NULL, NULL, shared, out, NULL);
            if (err == DK_OK && !*out)
                err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "no checkpoint of the run in %s (its run "
                                   "directory %s): those there cannot be opened (other users' runs, sharing the "
                                   "directory?) or fail to verify", ckpt_dir, run_dir);
        }
    }
    dk_run_logs_free(&logs);
    return err == DK_OK ? DK_OK : dk_error_push(err, __FILE__, __LINE__, __func__);
}

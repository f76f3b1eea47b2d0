#include "dk_ckpt_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dk_ckpt_file.h"

static const char PREFIX[] = "ckpt-", SUFFIX[] = ".dkc", TEMP_MARK[] = ".tmp.", STAGED_MARK[] = ".first";
enum { STEP_DIGITS = 12 }; /* ckpt-000000000040.dkc: names sort as their steps do */

dk_err dk_ckpt_path(char *out, size_t capacity, const char *dir, long step)
{
    if (step < 0)
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint step %ld is negative", step);
    const int n = snprintf(out, capacity, "%s/%s%0*ld%s", dir, PREFIX, STEP_DIGITS, step, SUFFIX);
    if (n < 0 || (size_t)n >= capacity)
        DK_ERROR(DK_ERR_USAGE, "checkpoint path %s/%s%0*ld%s is longer than %zu bytes", dir, PREFIX, STEP_DIGITS, step,
                 SUFFIX, capacity - 1);
    return DK_OK;
}

/* Length of the run of decimal digits at s. */
static size_t digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Whether the d digits at s are a step as dk_ckpt_path writes it: 12, zero padded, or more
 * without a leading zero (up to 18, which keeps the step inside a long). */
static bool step_digits(const char *s, size_t d)
{
    return d >= STEP_DIGITS && d <= 18 && (d == STEP_DIGITS || s[0] != '0');
}

/* The step of a name "ckpt-<digits>.dkc" as dk_ckpt_path writes it (12 digits, zero
 * padded, or more without a leading zero), or -1 for any other name: a copy a user made
 * as ckpt-40.dkc is no checkpoint of a run, to be resumed from or pruned. More than 18
 * digits (no run gets there) are ignored too, which keeps the step inside a long. */
static long checkpoint_step(const char *name)
{
    const size_t p = sizeof PREFIX - 1;
    if (strncmp(name, PREFIX, p) != 0)
        return -1;
    const size_t d = digits(name + p);
    if (!step_digits(name + p, d) || strcmp(name + p + d, SUFFIX) != 0)
        return -1;
    long step = 0;
    for (size_t i = 0; i < d; i++)
        step = step * 10 + (name[p + i] - '0');
    return step;
}

/* 0 when name is "ckpt-<digits>.dkc.tmp.<digits>", what dk_ckpt_write leaves behind when
 * it is killed between creating its temporary file and renaming it, or a run's first
 * checkpoint staged before it sets an earlier history aside ("ckpt-<digits>.dkc.first",
 * with or without such a temporary suffix); -1 otherwise. */
static long leftover_temp(const char *name)
{
    const size_t p = sizeof PREFIX - 1, s = sizeof SUFFIX - 1, t = sizeof TEMP_MARK - 1, f = sizeof STAGED_MARK - 1;
    if (strncmp(name, PREFIX, p) != 0)
        return -1;
    const size_t d = digits(name + p);
    const char *rest = name + p + d;
    if (!step_digits(name + p, d) || strncmp(rest, SUFFIX, s) != 0)
        return -1;
    rest += s;
    const bool staged = strncmp(rest, STAGED_MARK, f) == 0;
    if (staged)
        rest += f;
    if (staged && *rest == '\0')
        return 0;
    if (strncmp(rest, TEMP_MARK, t) != 0)
        return -1;
    const char *pid = rest + t;
    const size_t e = digits(pid);
    return e > 0 && pid[e] == '\0' ? 0 : -1;
}

static int newest_first(const void *a, const void *b)
{
    const dk_ckpt_entry *x = a, *y = b;
    if (x->step != y->step)
        return x->step > y->step ? -1 : 1;
    /* Leftovers all map to 0 (checkpoint names give one step each): any fixed order, so
     * listings repeat. */
    return strcmp(y->path, x->path);
}

/* The entries of dir whose names `key` maps to a number >= 0 (the entry's step), as
 * "<dir>/<name>" in a malloc'ed array, in directory order. A directory that does not exist
 * has none. Collected completely before the caller acts on any: POSIX leaves readdir's view
 * of a directory that changes during the listing unspecified. */
static dk_err scan_dir(const char *dir, long (*key)(const char *name), dk_ckpt_entry **entries, int *n)
{
    *entries = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return DK_OK;
        DK_ERROR(DK_ERR_IO, "cannot list checkpoint directory %s: %s", dir, strerror(errno));
    }
    dk_err err = DK_OK;
    dk_ckpt_entry *list = NULL;
    int count = 0, capacity = 0;
    for (;;) {
        errno = 0;
        const struct dirent *e = readdir(d);
        if (!e) {
            if (errno != 0)
                err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot list checkpoint directory %s: %s", dir,
                                   strerror(errno));
            break;
        }
        const long step = key(e->d_name);
        if (step < 0)
            continue;
        if (count == capacity) {
            const int grown = capacity ? 2 * capacity : 16;
            dk_ckpt_entry *bigger = capacity < INT_MAX / 2 ? realloc(list, (size_t)grown * sizeof *list) : NULL;
            if (!bigger) {
                err = dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "cannot list checkpoint directory %s: "
                                   "out of memory at %d entries", dir, count);
                break;
            }
            list = bigger;
            capacity = grown;
        }
        dk_ckpt_entry *entry = &list[count];
        entry->step = step;
        const int w = snprintf(entry->path, sizeof entry->path, "%s/%s", dir, e->d_name);
        if (w < 0 || (size_t)w >= sizeof entry->path) {
            err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "checkpoint path %s/%s is longer than %d bytes",
                               dir, e->d_name, DK_CKPT_PATH_MAX - 1);
            break;
        }
        count++;
    }
    closedir(d);
    if (err != DK_OK) {
        free(list);
        return err;
    }
    *entries = list;
    *n = count;
    return DK_OK;
}

dk_err dk_ckpt_list(const char *dir, dk_ckpt_entry **entries, int *n)
{
    DK_CALL(scan_dir(dir, checkpoint_step, entries, n));
    if (*n > 1)
        qsort(*entries, (size_t)*n, sizeof **entries, newest_first);
    return DK_OK;
}

/* The first line of the recorded error without its "<source file>:<line>: " origin and
 * without a leading "<path>: " that the warning already names: the reason alone. */
static const char *reason_of(const char *message, const char *path, size_t *length)
{
    const char *r = message;
    for (const char *q = message; *q && *q != '\n'; q++) {
        const size_t d = *q == ':' ? digits(q + 1) : 0;
        if (d > 0 && q[1 + d] == ':' && q[2 + d] == ' ') {
            r = q + 3 + d;
            break;
        }
    }
    const size_t p = strlen(path);
    if (strncmp(r, path, p) == 0 && strncmp(r + p, ": ", 2) == 0)
        r += p + 2;
    const char *newline = strchr(r, '\n');
    *length = newline ? (size_t)(newline - r) : strlen(r);
    return r;
}

/* A checkpoint that cannot be opened for want of permission, file descriptors or memory, or
 * for an I/O error (dk_ckpt_open_latest_where): an error naming it. */
static dk_err check_openable(const char *path, bool shared)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not block */
    if (fd >= 0) {
        close(fd);
        return DK_OK;
    }
    const int e = errno;
    /* The others are left to dk_ckpt_open_verified to report, and the file skipped. */
    if (!(e == EACCES || e == EPERM || e == EIO || e == EMFILE || e == ENFILE || e == ENOMEM))
        return DK_OK;
    if (shared)
        DK_ERROR(DK_ERR_IO, "%s: cannot be opened: %s (in a directory other runs share: it may be theirs)", path,
                 strerror(e));
    DK_ERROR(DK_ERR_IO, "cannot open checkpoint %s: %s (not skipped for an older checkpoint: fix the cause and "
             "run again, or give an older checkpoint by its path)", path, strerror(e));
}

dk_err dk_ckpt_open_latest_where(const char *dir, dk_ckpt_accept_fn accept, void *ctx, bool shared,
                                 dk_ckpt_reader **out, FILE *warnings)
{
    *out = NULL;
    dk_ckpt_entry *list = NULL;
    int n = 0;
    DK_CALL(dk_ckpt_list(dir, &list, &n));
    if (n == 0)
        DK_ERROR(DK_ERR_IO, "no checkpoint (ckpt-<step>.dkc) in %s", dir);
    int misnamed = 0, refused = 0, closed = 0;
    for (int i = 0; i < n; i++) {
        const dk_err unopenable = check_openable(list[i].path, shared);
        if (unopenable != DK_OK && !shared) {
            free(list);
            return dk_error_push(unopenable, __FILE__, __LINE__, __func__);
        }
        closed += unopenable != DK_OK;
        if (unopenable == DK_OK && dk_ckpt_open_verified(list[i].path, out) == DK_OK) {
            /* A file renamed or copied under another step's name would be taken for that
             * step: newer than it is, and older ones pruned in its favour. */
            const Dk__Manifest *m = dk_ckpt_manifest(*out);
            if (!m->schedule || m->schedule->step == list[i].step) {
                bool take = true;
                const dk_err err = accept ? accept(*out, ctx, &take) : DK_OK;
                if (err == DK_OK && take) {
                    free(list);
                    return DK_OK;
                }
                dk_ckpt_close(out);
                if (err != DK_OK) {
                    free(list);
                    return dk_error_push(err, __FILE__, __LINE__, __func__);
                }
                refused++;
                continue;
            }
            if (warnings)
                fprintf(warnings, "distkan: warning: skipping checkpoint %s: its name says step %ld but it holds step %lld "
                        "(renamed or copied?)\n", list[i].path, list[i].step, (long long)m->schedule->step);
            dk_ckpt_close(out);
            misnamed++;
            continue;
        }
        if (warnings) {
            size_t length;
            const char *reason = reason_of(dk_error_message(), list[i].path, &length);
            fprintf(warnings, "distkan: warning: skipping checkpoint %s: %.*s\n", list[i].path, (int)length, reason);
        }
        dk_error_clear();
    }
    free(list);
    if (refused > 0 || (shared && closed > 0)) /* valid ones none taken, or others' maybe: the caller decides */
        return DK_OK;
    if (closed > 0)
        DK_ERROR(DK_ERR_DATA, "no valid checkpoint in %s: of %d, %d cannot be opened (other runs' in a shared "
                 "directory?), %d failed to verify and %d %s a name that gives another step than the one held", dir, n,
                 closed, n - closed - misnamed, misnamed, misnamed == 1 ? "has" : "have");
    if (misnamed > 0)
        DK_ERROR(DK_ERR_DATA, "no valid checkpoint in %s: %d of %d failed to verify, %d %s a name that gives another "
                 "step than %s (give such a file by its path to use it)", dir, n - misnamed, n, misnamed,
                 misnamed == 1 ? "has" : "have", misnamed == 1 ? "it holds" : "they hold");
    DK_ERROR(DK_ERR_DATA, "no valid checkpoint in %s: all %d failed to verify", dir, n);
}

dk_err dk_ckpt_open_latest(const char *dir, dk_ckpt_reader **out, FILE *warnings)
{
    return dk_ckpt_open_latest_where(dir, NULL, NULL, false, out, warnings);
}

dk_err dk_ckpt_find_latest(const char *dir, char *path, size_t capacity, FILE *warnings)
{
    dk_ckpt_reader *reader = NULL;
    DK_CALL(dk_ckpt_open_latest(dir, &reader, warnings));
    const char *found = dk_ckpt_label(reader);
    const size_t need = strlen(found) + 1;
    dk_err err = DK_OK;
    if (need > capacity)
        err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "checkpoint path %s does not fit in %zu bytes", found,
                           capacity);
    else
        memcpy(path, found, need);
    dk_ckpt_close(&reader);
    return err;
}

dk_err dk_ckpt_prune(const char *dir, int keep)
{
    if (keep < 1)
        DK_ERROR(DK_ERR_USAGE, "checkpoints to keep: %d, at least 1", keep);
    dk_ckpt_entry *entries = NULL;
    int n = 0;
    DK_CALL(dk_ckpt_list(dir, &entries, &n));
    dk_err err = DK_OK;
    for (int i = keep; i < n && err == DK_OK; i++)
        if (unlink(entries[i].path) != 0 && errno != ENOENT)
            err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot remove old checkpoint %s: %s",
                               entries[i].path, strerror(errno));
    free(entries);
    if (err != DK_OK)
        return err;

    dk_ckpt_entry *temps = NULL;
    int n_temps = 0;
    DK_CALL(scan_dir(dir, leftover_temp, &temps, &n_temps));
    for (int i = 0; i < n_temps && err == DK_OK; i++)
        if (unlink(temps[i].path) != 0 && errno != ENOENT)
            err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot remove leftover temporary file %s: %s",
                               temps[i].path, strerror(errno));
    free(temps);
    return err;
}

long dk_ckpt_name_step(const char *name) { return checkpoint_step(name); }

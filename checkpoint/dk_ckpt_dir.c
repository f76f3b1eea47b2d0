#include "dk_ckpt_dir.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dk_ckpt_file.h"

static const char PREFIX[] = "ckpt-", SUFFIX[] = ".dkc", TEMP_MARK[] = ".tmp.";

dk_err dk_ckpt_path(char *out, size_t capacity, const char *dir, long step)
{
    if (step < 0)
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint step %ld is negative", step);
    const int n = snprintf(out, capacity, "%s/%s%012ld%s", dir, PREFIX, step, SUFFIX);
    if (n < 0 || (size_t)n >= capacity)
        DK_ERROR(DK_ERR_USAGE, "checkpoint path %s/%s%012ld%s is longer than %zu bytes", dir, PREFIX, step, SUFFIX,
                 capacity - 1);
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

/* The step of a name "ckpt-<digits>.dkc", or -1 for any other name. More than 18 digits
 * (no run gets there) are ignored too, which keeps the step inside a long. */
static long checkpoint_step(const char *name)
{
    const size_t p = sizeof PREFIX - 1;
    if (strncmp(name, PREFIX, p) != 0)
        return -1;
    const size_t d = digits(name + p);
    if (d == 0 || d > 18 || strcmp(name + p + d, SUFFIX) != 0)
        return -1;
    long step = 0;
    for (size_t i = 0; i < d; i++)
        step = step * 10 + (name[p + i] - '0');
    return step;
}

/* Whether name is "ckpt-<digits>.dkc.tmp.<digits>": what dk_ckpt_write leaves behind when
 * it is killed between creating its temporary file and renaming it. */
static int is_leftover_temp(const char *name)
{
    const size_t p = sizeof PREFIX - 1, s = sizeof SUFFIX - 1, t = sizeof TEMP_MARK - 1;
    if (strncmp(name, PREFIX, p) != 0)
        return 0;
    const size_t d = digits(name + p);
    const char *rest = name + p + d;
    if (d == 0 || strncmp(rest, SUFFIX, s) != 0 || strncmp(rest + s, TEMP_MARK, t) != 0)
        return 0;
    const char *pid = rest + s + t;
    const size_t e = digits(pid);
    return e > 0 && pid[e] == '\0';
}

static int newest_first(const void *a, const void *b)
{
    const dk_ckpt_entry *x = a, *y = b;
    if (x->step != y->step)
        return x->step > y->step ? -1 : 1;
    /* "ckpt-7.dkc" and "ckpt-000000000007.dkc": any fixed order, so listings repeat. */
    return strcmp(y->path, x->path);
}

dk_err dk_ckpt_list(const char *dir, dk_ckpt_entry **entries, int *n)
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
        const long step = checkpoint_step(e->d_name);
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
    if (count > 1)
        qsort(list, (size_t)count, sizeof *list, newest_first);
    *entries = list;
    *n = count;
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

static dk_err open_and_verify(const char *path)
{
    dk_ckpt_reader *reader = NULL;
    DK_CALL(dk_ckpt_open(&reader, path));
    const dk_err err = dk_ckpt_verify(reader);
    dk_ckpt_close(&reader);
    return err;
}

dk_err dk_ckpt_find_latest(const char *dir, char *path, size_t capacity, FILE *warnings)
{
    dk_ckpt_entry *list = NULL;
    int n = 0;
    DK_CALL(dk_ckpt_list(dir, &list, &n));
    if (n == 0)
        DK_ERROR(DK_ERR_IO, "no checkpoint (ckpt-<step>.dkc) in %s", dir);
    for (int i = 0; i < n; i++) {
        if (open_and_verify(list[i].path) != DK_OK) {
            if (warnings) {
                size_t length;
                const char *reason = reason_of(dk_error_message(), list[i].path, &length);
                fprintf(warnings, "warning: skipping checkpoint %s: %.*s\n", list[i].path, (int)length, reason);
            }
            dk_error_clear();
            continue;
        }
        const size_t need = strlen(list[i].path) + 1;
        dk_err err = DK_OK;
        if (need > capacity)
            err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "checkpoint path %s does not fit in %zu bytes",
                               list[i].path, capacity);
        else
            memcpy(path, list[i].path, need);
        free(list);
        return err;
    }
    free(list);
    DK_ERROR(DK_ERR_DATA, "no valid checkpoint in %s: all %d failed to verify", dir, n);
}

/* The leftover temporary files in dir, as "<dir>/<name>" strings (malloc'ed, like the
 * array). Collected before any is removed: POSIX leaves readdir's view of a directory
 * that changes during the listing unspecified. */
static dk_err list_leftover_temps(const char *dir, char ***paths, int *n)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return DK_OK;
        DK_ERROR(DK_ERR_IO, "cannot list checkpoint directory %s: %s", dir, strerror(errno));
    }
    dk_err err = DK_OK;
    char **list = NULL;
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
        if (!is_leftover_temp(e->d_name))
            continue;
        if (count == capacity) {
            const int grown = capacity ? 2 * capacity : 8;
            char **bigger = capacity < INT_MAX / 2 ? realloc(list, (size_t)grown * sizeof *list) : NULL;
            if (!bigger) {
                err = dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "cannot list checkpoint directory %s: "
                                   "out of memory at %d entries", dir, count);
                break;
            }
            list = bigger;
            capacity = grown;
        }
        const size_t size = strlen(dir) + 1 + strlen(e->d_name) + 1;
        err = dk_calloc((void **)&list[count], size, 1, "a file name");
        if (err != DK_OK)
            break;
        snprintf(list[count++], size, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    *paths = list;
    *n = count;
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

    char **temps = NULL;
    int n_temps = 0;
    err = list_leftover_temps(dir, &temps, &n_temps);
    if (err != DK_OK)
        dk_error_push(err, __FILE__, __LINE__, __func__);
    for (int i = 0; i < n_temps; i++) {
        if (err == DK_OK && unlink(temps[i]) != 0 && errno != ENOENT)
            err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot remove leftover temporary file %s: %s",
                               temps[i], strerror(errno));
        free(temps[i]);
    }
    free(temps);
    return err;
}

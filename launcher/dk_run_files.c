#include "dk_run_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../common/dk_crc32c.h"
#include "../common/dk_fs.h"

dk_err dk_make_dirs(const char *dir)
{
    char path[4096];
    if (strlen(dir) >= sizeof path)
        DK_ERROR(DK_ERR_USAGE, "directory path %.64s... is too long (%zu characters)", dir, strlen(dir));
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            /* 0777 and 0666 for every file: the umask decides, so that a project group's
             * members (umask 002) can resume each other's runs in a shared directory. */
            if (path[0] && mkdir(path, 0777) != 0 && errno != EEXIST)
                DK_ERROR(DK_ERR_IO, "cannot create directory '%s': %s", path, strerror(errno));
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0) /* a symbolic link loop (ELOOP), or one to nowhere (ENOENT) */
        DK_ERROR(DK_ERR_IO, "cannot use '%s' as a directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_IO, "'%s' exists and is not a directory", dir);
    return DK_OK;
}

enum { PATH_CAP = 4200 };

const char *const dk_run_output_names[DK_RUN_OUTPUTS] = {
    [DK_OUT_CONFIG] = "config.ini",     [DK_OUT_PARAMS] = "final_params.bin", [DK_OUT_STATE] = "final_state.bin",
    [DK_OUT_SUMMARY] = "summary.json", [DK_OUT_LOG] = "metrics.jsonl"};

static void partial_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s.partial", dir, name);
}

/* A new, empty file under `fresh` (a temporary name next to its final one), never through
 * whatever is there: O_EXCL follows no link and opens no FIFO; a leftover of a crashed run
 * (a file or a link, not a directory) is removed first. */
static dk_err create_exclusive(const char *fresh, FILE **out)
{
    struct stat st;
    if (lstat(fresh, &st) == 0 && !S_ISDIR(st.st_mode))
        unlink(fresh);
    /* Readable too: a run reads its log back to record its checksum in checkpoints. */
    const int fd = open(fresh, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot create '%s': %s", fresh, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        const int e = errno;
        close(fd);
        unlink(fresh);
        DK_ERROR(DK_ERR_IO, "cannot open '%s' for writing: %s", fresh, strerror(e));
    }
    *out = f;
    return DK_OK;
}

/* NAME.partial is created under NAME.partial.new and renamed into place, seed (if any)
 * written and synced first: whatever had the name (an earlier run's file, a symbolic or
 * hard link to a file elsewhere, a FIFO) is replaced as a directory entry, never written
 * through, and a kill leaves either the old file or the new one. */
dk_err dk_partial_open_seeded(FILE **out, const char *dir, const char *name, const char *seed)
{
    char path[PATH_CAP], fresh[PATH_CAP + 8];
    partial_path(path, sizeof path, dir, name);
    snprintf(fresh, sizeof fresh, "%s.new", path);
    FILE *f = NULL;
    DK_CALL(create_exclusive(fresh, &f));
    dk_err err = DK_OK;
    if (seed && (fputs(seed, f) == EOF || fflush(f) != 0 || fsync(fileno(f)) != 0))
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot write '%s': %s", fresh, strerror(errno));
    else if (rename(fresh, path) != 0)
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot rename '%s' to '%s': %s", fresh, path,
                           strerror(errno));
    if (err == DK_OK && seed)
        err = dk_fsync_dir(dir);
    if (err != DK_OK) {
        fclose(f);
        unlink(fresh);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    *out = f; /* the renamed file: later writes go to it */
    return DK_OK;
}

dk_err dk_partial_open(FILE **out, const char *dir, const char *name)
{
    return dk_partial_open_seeded(out, dir, name, NULL);
}

dk_err dk_partial_close(FILE *f, const char *dir, const char *name)
{
    char path[PATH_CAP];
    partial_path(path, sizeof path, dir, name);
    /* A write that failed earlier leaves only the stream's error flag: errno no longer says
     * why, so the message must not quote it. */
    const int earlier = ferror(f);
    /* ... but the usual causes, a full file system or the file size limit (ulimit -f:
     * writes stop exactly at it), can still be seen. */
    struct statvfs vfs;
    const int full = earlier && fstatvfs(fileno(f), &vfs) == 0 && vfs.f_bavail == 0;
    struct rlimit limit;
    struct stat st;
    const int at_limit = earlier && !full && getrlimit(RLIMIT_FSIZE, &limit) == 0 &&
                         limit.rlim_cur != RLIM_INFINITY && fstat(fileno(f), &st) == 0 &&
                         (rlim_t)st.st_size >= limit.rlim_cur;
    errno = 0;
    int failed = earlier || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (failed && full)
        DK_ERROR(DK_ERR_IO, "cannot write '%s': %s (the file system holding it is full)", path, strerror(ENOSPC));
    if (failed && at_limit)
        DK_ERROR(DK_ERR_IO, "cannot write '%s': %s (it reached the file size limit, ulimit -f, of %llu bytes)", path,
                 strerror(EFBIG), (unsigned long long)limit.rlim_cur);
    if (failed && earlier)
        DK_ERROR(DK_ERR_IO, "cannot write '%s': an earlier write to it failed", path);
    if (failed)
        DK_ERROR(DK_ERR_IO, "cannot write '%s': %s", path, strerror(e ? e : EIO));
    return DK_OK;
}

void dk_partial_discard(const char *dir, const char *name)
{
    char path[PATH_CAP];
    partial_path(path, sizeof path, dir, name);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(path);
}

/* ---------------------------------------------------------------------------------------
 * Replacing a set of files
 * ------------------------------------------------------------------------------------- */

/* The three names of one output: NAME, NAME.partial, NAME.previous.<pid>. */
typedef struct output_paths {
    char target[PATH_CAP], partial[PATH_CAP], previous[PATH_CAP];
} output_paths;

/* pid: whose NAME.previous (this process's when it replaces the set). */
static void output_paths_of(output_paths *p, const char *dir, const char *name, long pid)
{
    snprintf(p->target, sizeof p->target, "%s/%s", dir, name);
    partial_path(p->partial, sizeof p->partial, dir, name);
    snprintf(p->previous, sizeof p->previous, "%s/%s.previous.%ld", dir, name, pid);
}

/* Whether NAME can be replaced by a file: absent, a file or a link. */
static dk_err check_target(const output_paths *p)
{
    struct stat st;
    if (lstat(p->target, &st) != 0) {
        if (errno == ENOENT)
            return DK_OK;
        DK_ERROR(DK_ERR_IO, "cannot examine '%s': %s", p->target, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        DK_ERROR(DK_ERR_IO, "'%s' is %s, not a file: the run cannot replace it with its output; move it away "
                 "(the other results there are unchanged)",
                 p->target, S_ISDIR(st.st_mode) ? "a directory" : "a special file");
    return DK_OK;
}

/* Before anything is renamed: every NAME.partial is a file, and every existing NAME a file
 * or symbolic link that a rename can replace (a directory there would fail only the
 * rename of its own file, half-way through the set). */
static dk_err check_replaceable(const output_paths *p)
{
    struct stat st;
    if (lstat(p->partial, &st) != 0 || !S_ISREG(st.st_mode))
        DK_ERROR(DK_ERR_IO, "'%s' is missing or not a file", p->partial);
    DK_CALL(check_target(p));
    return DK_OK;
}

dk_err dk_outputs_replaceable(const char *dir, const char *const *names, int n)
{
    static output_paths p;
    for (int i = 0; i < n; i++) {
        output_paths_of(&p, dir, names[i], (long)getpid());
        DK_CALL(check_target(&p));
    }
    return DK_OK;
}

/* NAME -> NAME.previous.<pid> (when NAME exists), then NAME.partial -> NAME. */
static dk_err place(const output_paths *p, bool *backed, bool *placed)
{
    if (rename(p->target, p->previous) == 0)
        *backed = true;
    else if (errno != ENOENT)
        DK_ERROR(DK_ERR_IO, "cannot move '%s' aside to '%s' to replace it: %s", p->target, p->previous,
                 strerror(errno));
    if (rename(p->partial, p->target) != 0)
        DK_ERROR(DK_ERR_IO, "cannot rename '%s' to '%s': %s", p->partial, p->target, strerror(errno));
    *placed = true;
    return DK_OK;
}

/* Undoes place() for the first n outputs, newest first. A rename that fails here leaves
 * the old file under its .previous name, which the warning gives. */
static void roll_back(const output_paths *p, int n, const bool *backed, const bool *placed)
{
    for (int i = n - 1; i >= 0; i--) {
        if (placed[i] && rename(p[i].target, p[i].partial) != 0)
            fprintf(stderr, "distkan: warning: cannot move '%s' back to '%s': %s\n", p[i].target, p[i].partial,
                    strerror(errno));
        if (backed[i] && rename(p[i].previous, p[i].target) != 0)
            fprintf(stderr, "distkan: warning: cannot restore '%s' from '%s' (the earlier file is there): %s\n",
                    p[i].target, p[i].previous, strerror(errno));
    }
}

dk_err dk_partial_commit_set(const char *dir, const char *const *names, int n)
{
    if (n < 0 || n > DK_COMMIT_MAX)
        DK_ERROR(DK_ERR_INTERNAL, "%d outputs to commit, at most %d supported", n, DK_COMMIT_MAX);
    static output_paths paths[DK_COMMIT_MAX];
    for (int i = 0; i < n; i++) {
        output_paths_of(&paths[i], dir, names[i], (long)getpid());
        DK_CALL(check_replaceable(&paths[i]));
    }
    bool backed[DK_COMMIT_MAX] = {false}, placed[DK_COMMIT_MAX] = {false};
    dk_err err = DK_OK;
    int done = 0;
    for (; done < n && err == DK_OK; done++)
        err = place(&paths[done], &backed[done], &placed[done]);
    /* Only once the directory is synced is the new set durable: until then the old one is
     * kept to go back to. */
    if (err == DK_OK)
        err = dk_fsync_dir(dir);
    if (err != DK_OK) {
        roll_back(paths, done, backed, placed);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    for (int i = 0; i < n; i++)
        if (backed[i])
            unlink(paths[i].previous);
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Moving a file
 * ------------------------------------------------------------------------------------- */

/* Copies the file `from` to `to` (created, must not exist) and fsyncs it. */
static dk_err copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        DK_ERROR(DK_ERR_IO, "cannot open '%s' to copy it: %s", from, strerror(errno));
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!out) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        fclose(in);
        DK_ERROR(DK_ERR_IO, "cannot create '%s': %s", to, strerror(e));
    }
    char buf[1 << 16];
    size_t got;
    int failed = 0;
    while (!failed && (got = fread(buf, 1, sizeof buf, in)) > 0)
        failed = fwrite(buf, 1, got, out) != got;
    int e = errno;
    failed = failed || ferror(in) || fflush(out) != 0 || fsync(fileno(out)) != 0;
    if (failed)
        e = errno;
    fclose(in);
    if (fclose(out) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (failed) {
        unlink(to);
        DK_ERROR(DK_ERR_IO, "cannot copy '%s' to '%s': %s", from, to, strerror(e));
    }
    return DK_OK;
}

dk_err dk_move_file(const char *from, const char *dir, const char *name)
{
    char to[PATH_CAP];
    if (snprintf(to, sizeof to, "%s/%s", dir, name) >= (int)sizeof to)
        DK_ERROR(DK_ERR_USAGE, "'%s/%s': the path is too long", dir, name);
    if (rename(from, to) == 0) {
        DK_CALL(dk_fsync_dir(dir));
        return DK_OK;
    }
    if (errno != EXDEV)
        DK_ERROR(DK_ERR_IO, "cannot move '%s' to '%s': %s", from, to, strerror(errno));
    /* Another file system ([checkpoint] dir elsewhere): the copy is made durable before the
     * original goes. */
    DK_CALL(copy_file(from, to));
    DK_CALL(dk_fsync_dir(dir));
    if (unlink(from) != 0)
        DK_ERROR(DK_ERR_IO, "copied '%s' to '%s' but cannot remove the original: %s", from, to, strerror(errno));
    return DK_OK;
}

dk_err dk_check_dir_writable(const char *dir, const char *what, const char *option)
{
    char probe[PATH_CAP];
    if (snprintf(probe, sizeof probe, "%s/.distkan-write-test.%ld", dir, (long)getpid()) >= (int)sizeof probe)
        DK_ERROR(DK_ERR_USAGE, "%s '%s': the path is too long", what, dir);
    const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot create files in the %s '%s' (%s): %s; the run would fail at its first write "
                            "there: fix the permissions or choose another directory",
                 what, dir, option, strerror(errno));
    close(fd);
    unlink(probe);
    return DK_OK;
}

dk_err dk_keep_file(const char *from, const char *dir, const char *name)
{
    char to[PATH_CAP];
    if (snprintf(to, sizeof to, "%s/%s", dir, name) >= (int)sizeof to)
        DK_ERROR(DK_ERR_USAGE, "'%s/%s': the path is too long", dir, name);
    /* A second name for the same file costs nothing, whatever its size; a file system
     * without hard links, or another one, gets a copy. */
    if (link(from, to) != 0)
        DK_CALL(copy_file(from, to));
    DK_CALL(dk_fsync_dir(dir));
    return DK_OK;
}

void dk_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void dk_json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void dk_json_field(FILE *f, const char *sep, const char *name, double v)
{
    fprintf(f, "%s\"%s\": ", sep, name);
    dk_json_number(f, v);
}

/* ---------------------------------------------------------------------------------------
 * Recovering a replacement that was killed half-way
 * ------------------------------------------------------------------------------------- */

/* The pid of an interrupted replacement of names[] in dir: the P of every
 * NAME.previous.P there (0 when there is none, -1 when they name several pids). */
static long interrupted_pid(const char *dir, const char *const *names, int n)
{
    char pattern[PATH_CAP];
    long pid = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        for (int i = 0; i < n; i++) {
            snprintf(pattern, sizeof pattern, "%s.previous.", names[i]);
            const size_t len = strlen(pattern);
            if (strncmp(e->d_name, pattern, len) != 0 || !e->d_name[len])
                continue;
            char *end = NULL;
            const long p = strtol(e->d_name + len, &end, 10);
            if (*end || p <= 0)
                continue;
            pid = pid == 0 || pid == p ? p : -1;
        }
    closedir(d);
    return pid;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

dk_err dk_outputs_recover(const char *dir, const char *const *names, int n, const char *keep_partial)
{
    if (n < 0 || n > DK_COMMIT_MAX)
        DK_ERROR(DK_ERR_INTERNAL, "%d outputs to recover, at most %d supported", n, DK_COMMIT_MAX);
    const long pid = interrupted_pid(dir, names, n);
    if (pid == 0)
        return DK_OK;
    if (pid < 0)
        DK_ERROR(DK_ERR_IO, "%s holds NAME.previous.<pid> files of several earlier runs: the outputs there are a mix "
                 "that distkan will not sort out; restore them by hand (each .previous file is the output it "
                 "replaced)", dir);
    static output_paths p[DK_COMMIT_MAX];
    bool all_placed = true;
    for (int i = 0; i < n; i++) {
        output_paths_of(&p[i], dir, names[i], pid);
        all_placed &= !exists(p[i].partial);
    }
    /* The replacement renames NAME -> NAME.previous.P, NAME.partial -> NAME, name after name,
     * then syncs the directory and removes the .previous files. With every .partial gone
     * it had placed the whole new set and was removing the old one: finish that. Otherwise
     * it stopped half-way: put the old files back (a name without a .previous file had no
     * old file, so the new one goes), which is what a failed run must leave. */
    for (int i = 0; i < n; i++) {
        const bool placed = !exists(p[i].partial), backed = exists(p[i].previous);
        if (all_placed) {
            if (backed && unlink(p[i].previous) != 0)
                DK_ERROR(DK_ERR_IO, "cannot remove '%s': %s", p[i].previous, strerror(errno));
            continue;
        }
        if (backed && rename(p[i].previous, p[i].target) != 0)
            DK_ERROR(DK_ERR_IO, "cannot move '%s' back to '%s': %s", p[i].previous, p[i].target, strerror(errno));
        if (placed && !backed && unlink(p[i].target) != 0 && errno != ENOENT)
            DK_ERROR(DK_ERR_IO, "cannot remove '%s': %s", p[i].target, strerror(errno));
        if (!placed && (!keep_partial || strcmp(names[i], keep_partial) != 0))
            unlink(p[i].partial);
    }
    DK_CALL(dk_fsync_dir(dir));
    fprintf(stderr, "distkan: note: the outputs in %s were being replaced by process %ld when it ended; %s\n", dir,
            pid, all_placed ? "its new set was complete and stays" : "the earlier set is back in place");
    return DK_OK;
}

dk_err dk_file_crc32c(int fd, uint64_t to, uint64_t *at, uint32_t *crc, const char *what)
{
    static unsigned char chunk[1 << 16];
    while (*at < to) {
        const uint64_t left = to - *at;
        const ssize_t got = pread(fd, chunk, left < sizeof chunk ? (size_t)left : sizeof chunk, (off_t)*at);
        if (got < 0)
            DK_ERROR(DK_ERR_IO, "cannot read %s: %s", what, strerror(errno));
        if (got == 0)
            break;
        *crc = dk_crc32c_update(*crc, chunk, (size_t)got);
        *at += (uint64_t)got;
    }
    return DK_OK;
}

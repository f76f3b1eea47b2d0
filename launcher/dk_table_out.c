/* realpath */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include "dk_table_out.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../checkpoint/dk_ckpt_file.h"
#include "dk_run_files.h"
#include "dk_run_history.h"
#include "dk_run_lock.h"

/* The partial file being written, for the signal handler: a tool interrupted with SIGINT
 * (Ctrl-C) or SIGTERM removes it (unlink is async-signal-safe), then dies of the signal. */
static char partial_path[2 * DK_PATH_MAX + 16];
static volatile sig_atomic_t partial_live;

/* The three signals are blocked while it runs (`timeout` sends its signal twice, to the
 * process and to its group): the second stays pending until the handler returns, and then
 * meets the default action that the handler has restored. */
static void on_interrupt(int sig)
{
    if (partial_live)
        unlink(partial_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* DIR/NAME.partial, where the table is written before it is renamed into place. */
static void partial_name(const dk_table_out *o, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s.partial", o->dir, o->name);
}

static void guard_partial(const dk_table_out *o)
{
    partial_name(o, partial_path, sizeof partial_path);
    partial_live = 1;
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    /* A signal ignored when the tool started (nohup's SIGHUP, SIGINT in a script's
     * background job) stays ignored: handling it would let it end the tool. */
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

static void unguard_partial(void) { partial_live = 0; }

/* Splits path into o->dir and o->name. */
static dk_err split_path(dk_table_out *o, const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!name[0])
        DK_ERROR(DK_ERR_USAGE, "--out %s: expected a file name, not a directory", path);
    if (strlen(path) >= sizeof o->dir)
        DK_ERROR(DK_ERR_USAGE, "--out %s: the path is too long", path);
    if (slash == path)
        strcpy(o->dir, "/");
    else if (slash)
        snprintf(o->dir, sizeof o->dir, "%.*s", (int)(slash - path), path);
    else
        strcpy(o->dir, ".");
    snprintf(o->name, sizeof o->name, "%s", name);
    return DK_OK;
}

static bool exists_in(const char *dir, const char *name)
{
    char path[2 * DK_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Whether dir holds a run's files: its lock or checkpoint note, a stopped run's log, or two
 * of a run's outputs besides `name` (results set aside in earlier-<time>/, or a run whose
 * lock file a scratch purge removed). One config.ini is a person's own file. */
static bool is_run_dir(const char *dir, const char *name)
{
    if (exists_in(dir, DK_RUN_LOCK_FILE) || exists_in(dir, DK_RUN_CHECKPOINT_NOTE) ||
        exists_in(dir, "metrics.jsonl.partial"))
        return true;
    int outputs = 0;
    for (int i = 0; i < DK_RUN_OUTPUTS; i++)
        outputs += strcmp(name, dk_run_output_names[i]) != 0 && exists_in(dir, dk_run_output_names[i]);
    return outputs >= 2;
}

/* Whether name is one of a run's files: an output, its partial form (a stopped run's log
 * is metrics.jsonl.partial) or that file's temporary name. */
static bool is_run_file_name(const char *name)
{
    for (int i = 0; i < DK_RUN_OUTPUTS; i++) {
        const char *out = dk_run_output_names[i];
        const size_t n = strlen(out);
        if (!strncmp(name, out, n) &&
            (!strcmp(name + n, "") || !strcmp(name + n, ".partial") || !strcmp(name + n, ".partial.new")))
            return true;
    }
    return false;
}

/* A table written over a checkpoint (the model just read, say) or over a run's own files
 * would destroy what training produced: refused are names of the checkpoint form
 * (ckpt-*.dkc, which a resume would take for a checkpoint), an existing file that is a
 * distkan checkpoint whatever its name, the run lock file and checkpoint note, and a run's
 * outputs and logs in a directory that holds a run's files (is_run_dir). */
static dk_err refuse_run_files(const dk_table_out *o, const char *given)
{
    char path[2 * DK_PATH_MAX + 2];
    snprintf(path, sizeof path, "%s/%s", o->dir, o->name);
    FILE *f = fopen(path, "rb");
    if (f) {
        char head[sizeof DK_CKPT_MAGIC - 1];
        const int is_checkpoint =
            fread(head, 1, sizeof head, f) == sizeof head && !memcmp(head, DK_CKPT_MAGIC, sizeof head);
        fclose(f);
        if (is_checkpoint)
            DK_ERROR(DK_ERR_USAGE, "--out %s is a distkan checkpoint: the table would destroy a trained model; choose "
                                   "another name",
                     given);
    }
    const size_t len = strlen(o->name);
    if (!strncmp(o->name, "ckpt-", 5) && len > 9 && !strcmp(o->name + len - 4, ".dkc"))
        DK_ERROR(DK_ERR_USAGE, "--out %s: %s is a checkpoint's name (ckpt-<step>.dkc), which a resume would take "
                               "for a checkpoint; choose another name",
                 given, o->name);
    if (!strcmp(o->name, DK_RUN_LOCK_FILE))
        DK_ERROR(DK_ERR_USAGE, "--out %s: %s is the lock file of runs in %s; choose another name", given, o->name,
                 o->dir);
    if (!strcmp(o->name, DK_RUN_CHECKPOINT_NOTE))
        DK_ERROR(DK_ERR_USAGE, "--out %s: %s is where a run notes its checkpoint directory; choose another name", given,
                 o->name);
    if (is_run_file_name(o->name) && is_run_dir(o->dir, o->name))
        DK_ERROR(DK_ERR_USAGE, "--out %s would replace the %s of the run in %s; choose another name", given, o->name,
                 o->dir);
    return DK_OK;
}

dk_err dk_table_out_open(dk_table_out *o, const char *path, const char *input)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        o->stream = 1;
        return DK_OK;
    }
    struct stat st, in;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            DK_ERROR(DK_ERR_USAGE, "--out %s is a directory: expected a file name", path);
        if (input && stat(input, &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino)
            DK_ERROR(DK_ERR_USAGE, "--out %s is the points file %s itself: the table would replace the data it was "
                                   "computed from; choose another name",
                     path, input);
        if (!S_ISREG(st.st_mode)) { /* a device or a pipe: nothing to replace atomically */
            o->f = fopen(path, "w");
            if (!o->f)
                DK_ERROR(DK_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
            o->stream = 1;
            return DK_OK;
        }
    }
    const char *given = path; /* messages name the path as typed, not the link's target */
    char resolved[PATH_MAX];
    struct stat link;
    if (lstat(path, &link) == 0 && S_ISLNK(link.st_mode)) {
        /* Replace the file the link names, not the link; a dangling link names the file
         * to create (its target, taken from the link's directory when relative). */
        if (realpath(path, resolved)) {
            path = resolved;
        } else if (errno == ENOENT) {
            char target[PATH_MAX];
            const ssize_t n = readlink(path, target, sizeof target - 1);
            if (n < 0)
                DK_ERROR(DK_ERR_IO, "--out %s: cannot read the link: %s", path, strerror(errno));
            target[n] = '\0';
            const char *slash = strrchr(path, '/');
            const int dir_len = target[0] == '/' || !slash ? 0 : (int)(slash - path + 1);
            if ((size_t)snprintf(resolved, sizeof resolved, "%.*s%s", dir_len, path, target) >= sizeof resolved)
                DK_ERROR(DK_ERR_USAGE, "--out %s: the link's target is too long", path);
            struct stat chain;
            if (lstat(resolved, &chain) == 0) /* a link to a dangling link: not followed further */
                DK_ERROR(DK_ERR_USAGE, "--out %s: the link names %s, another link that leads nowhere", path,
                         resolved);
            path = resolved;
        } else {
            DK_ERROR(DK_ERR_IO, "--out %s: cannot resolve the link: %s", path, strerror(errno));
        }
    }
    DK_CALL(split_path(o, path));
    /* Said of the path as given, not of the temporary file that would be created first. */
    struct stat dir;
    if (stat(o->dir, &dir) != 0)
        DK_ERROR(DK_ERR_IO, "--out %s: cannot use the directory %s: %s", given, o->dir, strerror(errno));
    if (!S_ISDIR(dir.st_mode))
        DK_ERROR(DK_ERR_IO, "--out %s: %s is not a directory", given, o->dir);
    DK_CALL(refuse_run_files(o, given));
    const char *const names[] = {o->name};
    DK_CALL(dk_outputs_replaceable(o->dir, names, 1));
    DK_CALL(dk_partial_open(&o->f, o->dir, o->name));
    struct stat own;
    if (fstat(fileno(o->f), &own) == 0) {
        o->partial_dev = (unsigned long long)own.st_dev;
        o->partial_ino = (unsigned long long)own.st_ino;
    }
    /* The table replaces a file with the permissions that file had (a private 0600 file
     * stays private), as cp onto it would. */
    struct stat target;
    char target_path[2 * DK_PATH_MAX + 2];
    snprintf(target_path, sizeof target_path, "%s/%s", o->dir, o->name);
    if (stat(target_path, &target) == 0 && S_ISREG(target.st_mode))
        (void)fchmod(fileno(o->f), target.st_mode & 07777);
    guard_partial(o);
    return DK_OK;
}

/* Whether DIR/NAME.partial is still the file this process created. */
static bool partial_is_own(const dk_table_out *o)
{
    char path[2 * DK_PATH_MAX + 16];
    partial_name(o, path, sizeof path);
    struct stat st;
    return stat(path, &st) == 0 && (unsigned long long)st.st_dev == o->partial_dev &&
           (unsigned long long)st.st_ino == o->partial_ino;
}

dk_err dk_table_out_commit(dk_table_out *o)
{
    if (o->stream) {
        FILE *f = o->f;
        o->f = NULL;
        const int failed = fflush(f) != 0 || ferror(f);
        const int e = errno;
        if (f != stdout && fclose(f) != 0 && !failed)
            DK_ERROR(DK_ERR_IO, "cannot write the table: %s", strerror(errno));
        if (failed)
            DK_ERROR(DK_ERR_IO, "cannot write the table%s: %s", f == stdout ? " to standard output" : "",
                     strerror(e ? e : EIO));
        return DK_OK;
    }
    FILE *f = o->f;
    o->f = NULL;
    dk_err err = dk_partial_close(f, o->dir, o->name);
    /* Renamed by name, the partial file must still be this process's: another run of a
     * tool with the same --out replaces it, and would then be committed half-written. */
    const bool own = partial_is_own(o);
    if (err == DK_OK && !own)
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__,
                           "%s/%s: another process writing the same --out replaced this one's %s.partial while it "
                           "wrote: this table was not written (give each its own --out)",
                           o->dir, o->name, o->name);
    const char *const names[] = {o->name};
    if (err == DK_OK)
        err = dk_partial_commit_set(o->dir, names, 1);
    if (err != DK_OK && own)
        dk_partial_discard(o->dir, o->name);
    unguard_partial();
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    return DK_OK;
}

void dk_table_out_discard(dk_table_out *o)
{
    if (o->stream) {
        if (o->f && o->f != stdout)
            fclose(o->f);
        else if (o->f)
            fflush(stdout);
        o->f = NULL;
        return;
    }
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    if (partial_is_own(o))
        dk_partial_discard(o->dir, o->name);
    unguard_partial();
}

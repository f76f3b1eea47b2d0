#include "dk_run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The directories this process holds, one descriptor each (see the header: closing a second
 * descriptor of a lock file would drop the lock). A run locks at most two. Each entry
 * records its owner because a forked child inherits the table but not the locks. */
enum { MAX_HELD = 8, HOLDER_MAX = 512, LOCK_PATH_MAX = 4200 };
static struct held_lock {
    pid_t owner;
    dev_t dev;                  /* the directory */
    ino_t ino;
    dev_t lock_dev;             /* the lock file locked last (dk_run_lock_recheck) */
    ino_t lock_ino;
    char path[LOCK_PATH_MAX];   /* <dir>/.distkan.lock */
    const char *what, *option;  /* for messages; string literals */
} held[MAX_HELD];
static int n_held;

static bool already_held(const struct stat *st)
{
    for (int i = 0; i < n_held; i++)
        if (held[i].owner == getpid() && held[i].dev == st->st_dev && held[i].ino == st->st_ino)
            return true;
    return false;
}

/* "pid P on host H, started T": what a run that finds the lock taken prints. */
static void describe_self(char *out, size_t cap)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    char stamp[64] = "?";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(out, cap, "pid %ld on host %s, started %s", (long)getpid(), host, stamp);
}

/* The holder's own description; if the holder has locked but not yet written it (or wrote
 * it on another NFS client whose data has not arrived), the pid the kernel reports. */
static void describe_holder(int fd, char *out, size_t cap)
{
    ssize_t n = pread(fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    if (out[0])
        return;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
        snprintf(out, cap, "pid %ld, host not yet recorded", (long)fl.l_pid);
    else
        snprintf(out, cap, "its pid and host not yet recorded");
}

static dk_err write_holder(int fd, const char *path)
{
    char me[HOLDER_MAX];
    describe_self(me, sizeof me);
    size_t len = strlen(me);
    me[len++] = '\n';
    /* fsync: on NFS the data would otherwise stay in this client's cache, and a run on
     * another node could not say who holds the directory. */
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, len, 0) != (ssize_t)len || fsync(fd) != 0)
        DK_ERROR(DK_ERR_IO, "cannot write the lock file '%s': %s", path, strerror(errno));
    return DK_OK;
}

/* Opens and locks the lock file at path (of directory dir); its descriptor in *fd, kept
 * open from then on (see the header). */
static dk_err take_lock(const char *path, const char *dir, const char *what, const char *option, int *fd_out,
                        struct stat *lock_st)
{
    *fd_out = -1;
    /* Not through a symbolic link: the holder's line would overwrite whatever file it
     * names, which anyone able to write to a shared run directory could choose. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0 && errno == ELOOP)
        DK_ERROR(DK_ERR_IO, "the lock file '%s' of %s '%s' is a symbolic link: refusing to follow it (remove it)",
                 path, what, dir);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot open the lock file '%s' of %s '%s': %s", path, what, dir, strerror(errno));
    if (fstat(fd, lock_st) != 0 || !S_ISREG(lock_st->st_mode)) {
        close(fd);
        DK_ERROR(DK_ERR_IO, "the lock file '%s' of %s '%s' is not a regular file (remove it)", path, what, dir);
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            char holder[HOLDER_MAX];
            describe_holder(fd, holder, sizeof holder);
            close(fd);
            DK_ERROR(DK_ERR_USAGE,
                     "%s %s is in use by another distkan run (%s): wait for it to end or choose another %s", what,
                     dir, holder, option);
        }
        close(fd);
        if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
            fprintf(stderr,
                    "distkan: warning: cannot lock %s %s (%s): the file system does not support locks, so nothing "
                    "stops another run from writing into it at the same time\n",
                    what, dir, strerror(e));
            return DK_OK;
        }
        DK_ERROR(DK_ERR_IO, "cannot lock '%s': %s", path, strerror(e));
    }
    *fd_out = fd;
    return DK_OK;
}

dk_err dk_run_lock_dir(const char *dir, const char *what, const char *option)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        DK_ERROR(DK_ERR_IO, "cannot lock %s '%s': %s", what, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_IO, "cannot lock %s '%s': it is not a directory", what, dir);
    if (already_held(&st))
        return DK_OK;
    if (n_held == MAX_HELD)
        DK_ERROR(DK_ERR_INTERNAL, "more than %d directories locked by one process", MAX_HELD);
    char path[LOCK_PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, DK_RUN_LOCK_FILE) >= (int)sizeof path)
        DK_ERROR(DK_ERR_USAGE, "%s '%s': the path is too long", what, dir);
    int fd;
    struct stat lock_st;
    DK_CALL(take_lock(path, dir, what, option, &fd, &lock_st));
    if (fd < 0) /* no locks on this file system: warned */
        return DK_OK;
    /* From here on the descriptor stays open until the process exits, even on an error:
     * closing it would release the lock just taken, and holding it does no harm. */
    struct held_lock *h = &held[n_held++];
    *h = (struct held_lock){getpid(), st.st_dev, st.st_ino, lock_st.st_dev, lock_st.st_ino, "", what, option};
    snprintf(h->path, sizeof h->path, "%s", path);
    DK_CALL(write_holder(fd, path));
    return DK_OK;
}

dk_err dk_run_lock_recheck(void)
{
    for (int i = 0; i < n_held; i++) {
        struct held_lock *h = &held[i];
        struct stat now;
        if (h->owner != getpid() ||
            (stat(h->path, &now) == 0 && now.st_dev == h->lock_dev && now.st_ino == h->lock_ino))
            continue;
        /* The directory is the part of the path before the lock file's name. */
        char dir[LOCK_PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(strlen(h->path) - strlen(DK_RUN_LOCK_FILE) - 1), h->path);
        fprintf(stderr,
                "distkan: warning: the lock file %s was removed or replaced while this run held it (a scratch purge "
                "of old files?); locking the directory again\n",
                h->path);
        int fd;
        struct stat lock_st;
        dk_err err = take_lock(h->path, dir, h->what, h->option, &fd, &lock_st);
        if (err == DK_OK && fd >= 0) {
            h->lock_dev = lock_st.st_dev, h->lock_ino = lock_st.st_ino;
            err = write_holder(fd, h->path);
        }
        if (err != DK_OK)
            return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    return DK_OK;
}

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "dk_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dk_err dk_fsync_dir(const char *dir)
{
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot open directory '%s' to sync it: %s", dir, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        const int e = errno;
        close(fd);
        DK_ERROR(DK_ERR_IO, "cannot sync directory '%s': %s", dir, strerror(e));
    }
    close(fd);
    return DK_OK;
}

dk_err dk_fsync_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return dk_fsync_dir(".");
    if (slash == path)
        return dk_fsync_dir("/");
    char *dir = NULL;
    const size_t length = (size_t)(slash - path);
    DK_CALL(dk_calloc((void **)&dir, length + 1, 1, "a directory name"));
    memcpy(dir, path, length);
    const dk_err err = dk_fsync_dir(dir);
    free(dir);
    return err;
}

bool dk_same_file(const char *a, const char *b)
{
    struct stat x, y;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

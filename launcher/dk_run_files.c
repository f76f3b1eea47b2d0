#include "dk_run_files.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

dk_err dk_make_dirs(const char *dir)
{
    char path[4096];
    if (strlen(dir) >= sizeof path)
        DK_ERROR(DK_ERR_USAGE, "run directory path is too long (%zu characters)", strlen(dir));
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (path[0] && mkdir(path, 0755) != 0 && errno != EEXIST)
                DK_ERROR(DK_ERR_IO, "cannot create directory '%s': %s", path, strerror(errno));
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        DK_ERROR(DK_ERR_IO, "'%s' exists and is not a directory", dir);
    return DK_OK;
}

static void partial_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s.partial", dir, name);
}

dk_err dk_partial_open(FILE **out, const char *dir, const char *name)
{
    char path[4200];
    partial_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        DK_ERROR(DK_ERR_IO, "cannot open '%s' for writing: %s", path, strerror(errno));
    *out = f;
    return DK_OK;
}

static dk_err fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        DK_ERROR(DK_ERR_IO, "cannot open directory '%s' to sync it: %s", dir, strerror(errno));
    /* Some file systems refuse fsync on directories (EINVAL); the rename is still done. */
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        DK_ERROR(DK_ERR_IO, "cannot sync directory '%s': %s", dir, strerror(e));
    }
    close(fd);
    return DK_OK;
}

dk_err dk_partial_commit(FILE *f, const char *dir, const char *name)
{
    char from[4200], to[4200];
    partial_path(from, sizeof from, dir, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    int failed = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        e = errno;
    }
    if (failed)
        DK_ERROR(DK_ERR_IO, "cannot write '%s': %s", from, strerror(e));
    if (rename(from, to) != 0)
        DK_ERROR(DK_ERR_IO, "cannot rename '%s' to '%s': %s", from, to, strerror(errno));
    DK_CALL(fsync_dir(dir));
    return DK_OK;
}

dk_err dk_write_file_atomic(const char *dir, const char *name, const void *data, size_t bytes)
{
    FILE *f;
    DK_CALL(dk_partial_open(&f, dir, name));
    if (bytes && fwrite(data, 1, bytes, f) != bytes) {
        int e = errno;
        fclose(f);
        DK_ERROR(DK_ERR_IO, "cannot write %zu bytes to '%s/%s.partial': %s", bytes, dir, name, strerror(e));
    }
    DK_CALL(dk_partial_commit(f, dir, name));
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

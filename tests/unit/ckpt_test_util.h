/* Helpers shared by the checkpoint tests (include after <cmocka.h>): scratch directories,
 * the crash tests' killed children, whole-file reads and writes, error-message assertions, and an independent writer of the
 * file layout of checkpoint/dk_ckpt_file.h for crafting files the library would never
 * write. */
#ifndef CKPT_TEST_UTIL_H
#define CKPT_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/dk_crc32c.h"
#include "common/dk_error.h"

/* A fresh directory under $TMPDIR (or /tmp); path has room for 256 bytes. */
static inline void scratch_dir(char *path, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(path, 256, "%s/distkan-%s-XXXXXX", base && base[0] ? base : "/tmp", tag);
    assert_non_null(mkdtemp(path));
}

/* Sleeps ms milliseconds, through interrupting signals (the crash tests' random delays). */
static inline void sleep_ms(long ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

/* The crash tests' children: child(dir, first, report_fd) works (and never returns) while
 * writing what it has made durable to report_fd, until the parent kills it. */
typedef void (*crash_child_fn)(const char *dir, long first, int report_fd);

/* Forks child(dir, first, the write end of a pipe); returns its pid and the read end. */
static inline pid_t start_child(crash_child_fn child, const char *dir, long first, int *report_fd)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, first, fds[1]);
    }
    close(fds[1]);
    *report_fd = fds[0];
    return pid;
}

/* SIGKILLs the child and reaps it; a child that ended by itself has failed. */
static inline void kill_child(pid_t pid)
{
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        fail_msg("the child ended by itself (status 0x%x): it failed", status);
}

/* The highest number the child reported (or `last` if none), draining and closing the pipe. */
static inline long drain_reports(int fd, long last)
{
    long v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
        if (v > last)
            last = v;
    close(fd);
    return last;
}

/* Removes the files of a scratch directory (it has no subdirectories) and the directory. */
static inline void scratch_remove(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    const struct dirent *e;
    char file[4096];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            unlink(file);
        }
    closedir(d);
    rmdir(path);
}

static inline unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return p;
}

static inline void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static inline int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* err is `code` and the recorded message contains `text`; prints the message otherwise. */
#define assert_dk_error(err, code, text)                                                   \
    do {                                                                                   \
        const dk_err e_ = (err);                                                           \
        if (e_ != (code) || !strstr(dk_error_message(), (text)))                           \
            fail_msg("expected error %d containing \"%s\", got %d: %s", (int)(code), (text), \
                     (int)e_, dk_error_message());                                         \
        dk_error_clear();                                                                  \
    } while (0)

#define assert_dk_ok(expr)                                                                 \
    do {                                                                                   \
        const dk_err e_ = (expr);                                                          \
        if (e_ != DK_OK)                                                                   \
            fail_msg("%s failed: %s", #expr, dk_error_message());                          \
    } while (0)

/* The layout of dk_ckpt_file.h written out again here, field by field, so that the tests
 * can produce headers and manifests the writer never would: a malloc'ed file of
 * 40 + m + d bytes. */
static inline void craft_put(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline unsigned char *craft_file(size_t *size, uint32_t version, uint32_t flags, const void *manifest,
                                        uint64_t m, const void *data, uint64_t d)
{
    *size = 40 + (size_t)m + (size_t)d;
    unsigned char *f = calloc(*size, 1);
    assert_non_null(f);
    memcpy(f, "\x89" "DKCKPT\n", 8);
    craft_put(f + 8, version, 4);
    craft_put(f + 12, flags, 4);
    craft_put(f + 16, m, 8);
    craft_put(f + 24, d, 8);
    craft_put(f + 32, dk_crc32c(manifest, (size_t)m), 4);
    craft_put(f + 36, dk_crc32c(f, 36), 4);
    if (m)
        memcpy(f + 40, manifest, (size_t)m);
    if (d && data)
        memcpy(f + 40 + m, data, (size_t)d);
    return f;
}

/* Overwrites a header field of a crafted (or written) file and recomputes the header CRC,
 * so that what is seen is the field's check, not the checksum's. */
static inline void craft_patch(unsigned char *f, int at, uint64_t v, int bytes)
{
    craft_put(f + at, v, bytes);
    craft_put(f + 36, dk_crc32c(f, 36), 4);
}

#endif

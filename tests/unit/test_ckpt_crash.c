/* A checkpoint write killed at a random moment never costs the previous checkpoint.
 *
 * A child process saves checkpoints of a few MB in a loop (steps n, n+1, ..., each save
 * followed by a prune to the 2 newest) and tells the parent each step it completed; the
 * parent kills it with SIGKILL after a random delay (fixed seed) and then checks the
 * directory as a restarted run would see it: every ckpt-*.dkc file opens and verifies,
 * holds the values written for its step, and the newest one is at least as new as the
 * last step the child reported complete. The next child continues from there. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt_test_util.h"

#include "checkpoint/dk_ckpt_dir.h"
#include "checkpoint/dk_ckpt_file.h"

enum {
    ROUNDS = 30,
    MAX_DELAY_MS = 40,
    KEEP = 2,
    P_COUNT = 3 << 17, /* float64: 3 MiB */
    M_COUNT = 1 << 18, /* float32: 1 MiB */
    CHUNK = 1 << 20,   /* several chunks per tensor */
};

/* The values of step s: exact in their types, different for every step and position. */
static double p_value(long s, size_t i) { return (double)s * 1048576.0 + (double)i; }
static float m_value(long s, size_t i) { return (float)((s % 4096) * 4096 + (long)(i % 4096)); }

typedef struct state_buffers {
    double *p;
    float *m;
} state_buffers;

static void fill(state_buffers *b, long step)
{
    for (size_t i = 0; i < P_COUNT; i++)
        b->p[i] = p_value(step, i);
    for (size_t i = 0; i < M_COUNT; i++)
        b->m[i] = m_value(step, i);
}

/* The child: save, prune, report, forever (until killed). Exits 3 on any error. */
static void child_loop(const char *dir, long first_step, int report_fd)
{
    state_buffers b = {malloc(P_COUNT * sizeof(double)), malloc(M_COUNT * sizeof(float))};
    if (!b.p || !b.m)
        _exit(3);
    for (long step = first_step;; step++) {
        fill(&b, step);
        const dk_ckpt_tensor_source t[] = {
            {.name = "p", .dtype = DK_F64, .n_dims = 2, .shape = {3, P_COUNT / 3}, .data = b.p},
            {.name = "m", .dtype = DK_F32, .n_dims = 1, .shape = {M_COUNT}, .data = b.m},
        };
        Dk__Manifest manifest = DK__MANIFEST__INIT;
        Dk__Schedule schedule = DK__SCHEDULE__INIT;
        schedule.step = step;
        manifest.schedule = &schedule;
        char path[DK_CKPT_PATH_MAX];
        if (dk_ckpt_path(path, sizeof path, dir, step) != DK_OK ||
            dk_ckpt_write(path, &manifest, t, 2, CHUNK) != DK_OK || dk_ckpt_prune(dir, KEEP) != DK_OK) {
            fprintf(stderr, "crash test child: %s\n", dk_error_message());
            _exit(3);
        }
        if (write(report_fd, &step, sizeof step) != (ssize_t)sizeof step)
            _exit(3);
    }
}

/* The checkpoint at path verifies and holds exactly what was written for `step`. */
static void assert_checkpoint_of_step(const char *path, long step, state_buffers *want, state_buffers *got)
{
    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, path));
    assert_dk_ok(dk_ckpt_verify(r));
    assert_int_equal(dk_ckpt_manifest(r)->schedule->step, step);
    assert_dk_ok(dk_ckpt_read_tensor(r, "p", DK_F64, P_COUNT, got->p));
    assert_dk_ok(dk_ckpt_read_tensor(r, "m", DK_F32, M_COUNT, got->m));
    dk_ckpt_close(&r);
    fill(want, step);
    assert_memory_equal(got->p, want->p, P_COUNT * sizeof(double));
    assert_memory_equal(got->m, want->m, M_COUNT * sizeof(float));
}

/* Whether the child `pid` left its temporary file: it was killed inside a save. */
static int has_temp_file_of(const char *dir, pid_t pid)
{
    char suffix[64];
    snprintf(suffix, sizeof suffix, ".dkc.tmp.%ld", (long)pid);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int found = 0;
    const struct dirent *e;
    while ((e = readdir(d))) {
        const size_t n = strlen(e->d_name), k = strlen(suffix);
        found |= n > k && strcmp(e->d_name + n - k, suffix) == 0;
    }
    closedir(d);
    return found;
}

/* The directory as a restarted run sees it; returns the newest step on disk (0: none). */
static long check_directory(const char *dir, long reported, state_buffers *want, state_buffers *got)
{
    dk_ckpt_entry *list = NULL;
    int n = 0;
    assert_dk_ok(dk_ckpt_list(dir, &list, &n));
    /* No bound on n: each kill between a save's rename and its prune leaves one more. */
    for (int i = 0; i < n; i++)
        assert_checkpoint_of_step(list[i].path, list[i].step, want, got);
    const long newest = n > 0 ? list[0].step : 0;
    free(list);
    if (reported > 0) {
        char path[DK_CKPT_PATH_MAX], expected[DK_CKPT_PATH_MAX];
        FILE *warnings = tmpfile();
        assert_dk_ok(dk_ckpt_find_latest(dir, path, sizeof path, warnings));
        assert_dk_ok(dk_ckpt_path(expected, sizeof expected, dir, newest));
        assert_string_equal(path, expected);
        assert_int_equal(ftell(warnings), 0); /* nothing was skipped */
        fclose(warnings);
        assert_true(newest >= reported);
    }
    return newest;
}

static void test_sigkill_during_saves_leaves_every_checkpoint_loadable(void **state)
{
    (void)state;
    char dir[256];
    scratch_dir(dir, "ckpt-crash");
    state_buffers want = {malloc(P_COUNT * sizeof(double)), malloc(M_COUNT * sizeof(float))};
    state_buffers got = {malloc(P_COUNT * sizeof(double)), malloc(M_COUNT * sizeof(float))};
    assert_true(want.p && want.m && got.p && got.m);

    uint64_t seed = 20240601;
    long reported = 0, newest = 0;
    int killed_mid_write = 0;
    for (int round = 0; round < ROUNDS; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const long delay = (long)((seed >> 33) % (MAX_DELAY_MS + 1));
        int fd;
        const pid_t pid = start_child(child_loop, dir, newest + 1, &fd);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        sleep_ms(delay);
        kill_child(pid);
        reported = drain_reports(fd, reported);
        killed_mid_write += has_temp_file_of(dir, pid);
        newest = check_directory(dir, reported, &want, &got);
        if (newest < reported)
            newest = reported;
    }

    /* A last round that surely completes saves (waiting for two reports) before the kill,
     * so that find_latest's success is checked whatever the disk's speed. */
    int fd;
    const pid_t pid = start_child(child_loop, dir, newest + 1, &fd);
    long step, seen = 0;
    while (seen < 2 && read(fd, &step, sizeof step) == (ssize_t)sizeof step) {
        reported = step;
        seen++;
    }
    kill_child(pid);
    reported = drain_reports(fd, reported);
    newest = check_directory(dir, reported, &want, &got);
    assert_int_equal(seen, 2);

    print_message("%d kills, %ld saves, %d of the random kills cut a save short\n", ROUNDS + 1, newest,
                  killed_mid_write);
    free(want.p);
    free(want.m);
    free(got.p);
    free(got.m);
    scratch_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_during_saves_leaves_every_checkpoint_loadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

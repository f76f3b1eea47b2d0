/* A resumed run's log, started from the lines it carries over (dk_partial_open_seeded),
 * killed at a random moment never leaves an emptied or half-written log.
 *
 * A child replaces DIR/metrics.jsonl.partial again and again, each time seeded with the
 * whole of generation g (LINES lines "g i"), then appends one line "g end", and reports g.
 * The parent kills it with SIGKILL after a random delay (fixed seed) and reads the file as
 * the next resume would: it must hold all LINES lines of one generation, at least the last
 * one reported, optionally followed by that generation's end line. Truncating the file in
 * place and then writing (what the log did before) fails this within a few rounds. */
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

#include "launcher/dk_run_files.h"

enum { ROUNDS = 40, MAX_DELAY_MS = 30, LINES = 40000 };

/* Generation g's lines, "g i\n" for i < LINES. */
static char *seed_text(long g)
{
    char *text = malloc((size_t)LINES * 32);
    if (!text)
        _exit(3);
    size_t used = 0;
    for (int i = 0; i < LINES; i++)
        used += (size_t)sprintf(text + used, "%ld %d\n", g, i);
    return text;
}

static void child_loop(const char *dir, long first, int report_fd)
{
    for (long g = first;; g++) {
        char *text = seed_text(g);
        FILE *f = NULL;
        if (dk_partial_open_seeded(&f, dir, "metrics.jsonl", text) != DK_OK) {
            fprintf(stderr, "log crash test child: %s\n", dk_error_message());
            _exit(3);
        }
        free(text);
        if (fprintf(f, "%ld end\n", g) < 0 || fclose(f) != 0)
            _exit(3);
        if (write(report_fd, &g, sizeof g) != (ssize_t)sizeof g)
            _exit(3);
    }
}

/* The generation the log holds whole (its LINES lines, then at most its end line). */
static long check_log(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.jsonl.partial", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long g = -1, gi;
    int i = 0, n;
    char word[16];
    while ((n = fscanf(f, "%ld %15s", &gi, word)) == 2) {
        if (g < 0)
            g = gi;
        if (gi != g)
            fail_msg("the log mixes generations %ld and %ld", g, gi);
        if (strcmp(word, "end") == 0) {
            if (i != LINES)
                fail_msg("generation %ld's end line after %d of its %d lines", g, i, LINES);
            i = -1; /* nothing may follow */
            continue;
        }
        if (i < 0 || atoi(word) != i)
            fail_msg("generation %ld: line '%s' where line %d was due", g, word, i);
        i++;
    }
    fclose(f);
    if (i >= 0 && i != LINES)
        fail_msg("the log holds %d of generation %ld's %d lines: emptied or half written", i, g, LINES);
    return g;
}

static void test_sigkill_while_seeding_keeps_a_whole_log(void **state)
{
    (void)state;
    char dir[256];
    scratch_dir(dir, "log-crash");
    /* The log of the run being resumed: generation 0, whole. */
    char *text = seed_text(0);
    FILE *f = NULL;
    assert_int_equal(dk_partial_open_seeded(&f, dir, "metrics.jsonl", text), DK_OK);
    free(text);
    assert_int_equal(fclose(f), 0);
    uint64_t seed = 20261206;
    long reported = 0, on_disk = 0;
    for (int round = 0; round < ROUNDS; round++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int fd;
        const pid_t pid = start_child(child_loop, dir, on_disk + 1, &fd);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        sleep_ms((long)((seed >> 33) % (MAX_DELAY_MS + 1)));
        kill_child(pid);
        reported = drain_reports(fd, reported);
        on_disk = check_log(dir);
        assert_true(on_disk >= reported);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_while_seeding_keeps_a_whole_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

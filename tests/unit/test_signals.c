/* Stop signals (launcher/dk_signals.h): the first SIGTERM or SIGUSR1 is recorded, a SIGTERM
 * repeated within DISTKAN_SIGNAL_REPEAT_S is the same request, a later one ends the process
 * with status 143. Each case runs in a child process, since the handlers are the process's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/dk_error.h"
#include "launcher/dk_signals.h"

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* The child reports how far it got, one byte per milestone, so that an exit at the wrong
 * moment shows even when its status is the expected one. */
static int progress_fd = -1;
static void milestone(void) { (void)!write(progress_fd, "x", 1); }

/* Runs body in a child with DISTKAN_SIGNAL_REPEAT_S = window (NULL: unset); asserts that
 * it exited (rather than died of a signal), returns its exit status and sets *reached (if
 * not NULL) to the milestones it passed. The body's exit status says which check failed
 * (0 = none). */
static int child_exit(const char *window, int (*body)(void), int *reached)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        progress_fd = fds[1];
        if (window)
            setenv("DISTKAN_SIGNAL_REPEAT_S", window, 1);
        else
            unsetenv("DISTKAN_SIGNAL_REPEAT_S");
        _exit(body());
    }
    close(fds[1]);
    char buf[16];
    ssize_t got;
    int passed = 0;
    while ((got = read(fds[0], buf, sizeof buf)) > 0)
        passed += (int)got;
    close(fds[0]);
    if (reached)
        *reached = passed;
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static int repeated_then_late(void)
{
    if (dk_signals_install() != DK_OK)
        return 10;
    if (dk_signals_stop_requested() != 0)
        return 11;
    raise(SIGTERM);
    if (dk_signals_stop_requested() != SIGTERM)
        return 12;
    raise(SIGTERM); /* within the window: the same request */
    raise(SIGUSR1); /* another kind of request changes nothing */
    if (dk_signals_stop_requested() != SIGTERM)
        return 13;
    milestone();
    if (dk_signals_install() != DK_OK || dk_signals_stop_requested() != SIGTERM) /* installing again keeps it */
        return 14;
    sleep_s(0.4);
    raise(SIGTERM); /* after the window: exits with 143 */
    return 15;
}

static void test_sigterm_within_the_window_is_the_same_request(void **state)
{
    int reached;
    assert_int_equal(child_exit("0.3", repeated_then_late, &reached), 128 + SIGTERM);
    assert_int_equal(reached, 1); /* the repeat did not end it; the late SIGTERM did */
}

static int twice_at_once(void)
{
    if (dk_signals_install() != DK_OK)
        return 10;
    raise(SIGUSR1);
    if (dk_signals_stop_requested() != SIGUSR1)
        return 11;
    raise(SIGTERM); /* window 0: any SIGTERM after the first request exits */
    return 12;
}

static void test_window_zero_makes_any_second_sigterm_immediate(void **state)
{
    assert_int_equal(child_exit("0", twice_at_once, NULL), 128 + SIGTERM);
}

static int default_window(void)
{
    if (dk_signals_install() != DK_OK)
        return 10;
    raise(SIGTERM);
    sleep_s(0.5);
    raise(SIGTERM); /* 0.5 s later: still within the default 2 s */
    return dk_signals_stop_requested() == SIGTERM ? 0 : 11;
}

static void test_default_window_is_two_seconds(void **state)
{
    assert_int_equal(DK_SIGNAL_REPEAT_DEFAULT_S, 2);
    assert_int_equal(child_exit(NULL, default_window, NULL), 0);
}

static int bad_value(void)
{
    const dk_err err = dk_signals_install();
    return err == DK_ERR_USAGE && strstr(dk_error_message(), "DISTKAN_SIGNAL_REPEAT_S = '-1'") ? 0 : 10;
}

static void test_bad_window_is_a_usage_error(void **state)
{
    assert_int_equal(child_exit("-1", bad_value, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_within_the_window_is_the_same_request),
        cmocka_unit_test(test_window_zero_makes_any_second_sigterm_immediate),
        cmocka_unit_test(test_default_window_is_two_seconds),
        cmocka_unit_test(test_bad_window_is_a_usage_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

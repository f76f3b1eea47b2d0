/* One run per directory (launcher/dk_run_lock.h): a directory locked by one process is
 * refused to another with DK_ERR_USAGE naming the holder's pid and host; a process may ask
 * again for a directory it holds, under any spelling, and keeps its lock; the lock goes
 * with its process, however it ends; the lock file says who holds it. Other processes are
 * forked children, which hold their own POSIX locks. */
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt_test_util.h"

#include "launcher/dk_run_lock.h"

/* The child's verdict on locking dir, as its exit status: 0 = refused with a message that
 * names `holder` and dir, 1 = locked, 2 = another error or message. */
static int child_tries(const char *dir, pid_t holder)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dk_err err = dk_run_lock_dir(dir, "run directory", "--run-dir");
        if (err == DK_OK)
            _exit(1);
        char host[256] = "";
        gethostname(host, sizeof host);
        char want[600];
        snprintf(want, sizeof want, "run directory %s is in use by another distkan run (pid %ld on host %s, started ",
                 dir, (long)holder, host);
        if (err != DK_ERR_USAGE || !strstr(dk_error_message(), want) || !strstr(dk_error_message(), "--run-dir")) {
            fprintf(stderr, "child: code %d, message: %s\n(wanted: %s)\n", err, dk_error_message(), want);
            _exit(2);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_lock_refuses_another_process(void **state)
{
    (void)state;
    char dir[256];
    scratch_dir(dir, "lock");
    assert_int_equal(dk_run_lock_dir(dir, "run directory", "--run-dir"), DK_OK);
    assert_int_equal(child_tries(dir, getpid()), 0);
    /* Asked again, under another spelling of the same directory: still held afterwards. */
    char again[300];
    snprintf(again, sizeof again, "%s/.", dir);
    assert_int_equal(dk_run_lock_dir(again, "checkpoint directory", "[checkpoint] dir"), DK_OK);
    assert_int_equal(dk_run_lock_dir(dir, "run directory", "--run-dir"), DK_OK);
    assert_int_equal(child_tries(dir, getpid()), 0);
    scratch_remove(dir);
}

static void test_lock_file_names_holder(void **state)
{
    (void)state;
    char dir[256], path[300], host[256] = "", want[400];
    scratch_dir(dir, "lockfile");
    assert_int_equal(dk_run_lock_dir(dir, "run directory", "--run-dir"), DK_OK);
    snprintf(path, sizeof path, "%s/%s", dir, DK_RUN_LOCK_FILE);
    size_t size;
    char *text = (char *)slurp(path, &size);
    gethostname(host, sizeof host);
    snprintf(want, sizeof want, "pid %ld on host %s, started 2", (long)getpid(), host);
    if (strncmp(text, want, strlen(want)) != 0 || !strstr(text, " UTC\n"))
        fail_msg("lock file holds '%.*s', expected it to start with '%s' and end with ' UTC'", (int)size, text, want);
    free(text);
    scratch_remove(dir);
}

/* A child locks, then ends when told: by exiting, or killed with SIGKILL (no cleanup
 * runs). The directory is then free for the next process, and the lock file still there. */
static void released_when_holder_ends(bool killed)
{
    char dir[256];
    scratch_dir(dir, killed ? "lockkill" : "lockexit");
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char ok = dk_run_lock_dir(dir, "run directory", "--run-dir") == DK_OK ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1 || ok != 'y')
            _exit(1);
        char c;
        _exit(read(go[0], &c, 1) == 1 ? 0 : 1);
    }
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    assert_int_equal(child_tries(dir, pid), 0); /* held by the child */
    if (killed)
        kill(pid, SIGKILL);
    else
        assert_int_equal(write(go[1], "x", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(killed ? WIFSIGNALED(status) : WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, DK_RUN_LOCK_FILE);
    assert_true(file_exists(path));
    assert_int_equal(dk_run_lock_dir(dir, "run directory", "--run-dir"), DK_OK);
    scratch_remove(dir);
}

static void test_lock_released_at_exit(void **state)
{
    (void)state;
    released_when_holder_ends(false);
}

static void test_lock_released_by_sigkill(void **state)
{
    (void)state;
    released_when_holder_ends(true);
}

static void test_missing_directory_is_an_error(void **state)
{
    (void)state;
    assert_int_equal(dk_run_lock_dir("/nonexistent-distkan-dir", "run directory", "--run-dir"), DK_ERR_IO);
    assert_non_null(strstr(dk_error_message(), "/nonexistent-distkan-dir"));
}

/* A lock file that is a symbolic link is not followed (the holder's line would overwrite
 * the file it names) and one that is not a regular file is refused, both naming the path. */
static void test_lock_file_must_be_a_regular_file(void **state)
{
    (void)state;
    char dir[256], lock[300], target[300];
    scratch_dir(dir, "lock_link");
    snprintf(lock, sizeof lock, "%s/.distkan.lock", dir);
    snprintf(target, sizeof target, "%s/precious.txt", dir);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(symlink(target, lock), 0);
    pid_t pid = fork(); /* a child, so that this process holds no lock afterwards */
    assert_true(pid >= 0);
    if (pid == 0) {
        dk_err err = dk_run_lock_dir(dir, "run directory", "--run-dir");
        _exit(err == DK_ERR_IO && strstr(dk_error_message(), "is a symbolic link") ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char text[64] = "";
    f = fopen(target, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    assert_string_equal(text, "precious\n");
    assert_int_equal(unlink(lock), 0);
    assert_int_equal(mkfifo(lock, 0644), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dk_err err = dk_run_lock_dir(dir, "run directory", "--run-dir");
        _exit(err == DK_ERR_IO && strstr(dk_error_message(), "is not a regular file") ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(lock);
    unlink(target);
    scratch_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_refuses_another_process),
        cmocka_unit_test(test_lock_file_names_holder),
        cmocka_unit_test(test_lock_released_at_exit),
        cmocka_unit_test(test_lock_released_by_sigkill),
        cmocka_unit_test(test_missing_directory_is_an_error),
        cmocka_unit_test(test_lock_file_must_be_a_regular_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The checkpoint directory of checkpoint/dk_ckpt_dir.h: names, listing order, choosing the
 * newest checkpoint that verifies (with a warning for each newer one skipped), and pruning
 * that removes old checkpoints and crashed writers' temporary files but nothing else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt_test_util.h"

#include "checkpoint/dk_ckpt_dir.h"
#include "checkpoint/dk_ckpt_file.h"

/* A checkpoint with one tensor "x" of 40 doubles x[i] = step + i / 64, in chunks of 128
 * bytes (so 3 chunks). */
static void write_step(const char *dir, long step)
{
    char path[DK_CKPT_PATH_MAX];
    assert_dk_ok(dk_ckpt_path(path, sizeof path, dir, step));
    double x[40];
    for (int i = 0; i < 40; i++)
        x[i] = (double)step + i / 64.0;
    const dk_ckpt_tensor_source t = {.name = "x", .dtype = DK_F64, .n_dims = 1, .shape = {40}, .data = x};
    Dk__Manifest manifest = DK__MANIFEST__INIT;
    Dk__Schedule schedule = DK__SCHEDULE__INIT;
    schedule.step = step;
    manifest.schedule = &schedule;
    assert_dk_ok(dk_ckpt_write(path, &manifest, &t, 1, 128));
}

static void touch(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    spit(path, "junk", 4);
}

static int exists_in(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return file_exists(path);
}

/* Flips one byte of the file at `at` (from the end when negative). */
static void flip_byte(const char *path, long at)
{
    size_t size;
    unsigned char *f = slurp(path, &size);
    f[at < 0 ? (long)size + at : at] ^= 0x40;
    spit(path, f, size);
    free(f);
}

static void truncate_to(const char *path, off_t length) { assert_int_equal(truncate(path, length), 0); }

static void test_path_is_the_step_zero_padded_to_12_digits(void **state)
{
    (void)state;
    char path[64];
    assert_dk_ok(dk_ckpt_path(path, sizeof path, "run", 100));
    assert_string_equal(path, "run/ckpt-000000000100.dkc");
    assert_dk_ok(dk_ckpt_path(path, sizeof path, "/a/b", 0));
    assert_string_equal(path, "/a/b/ckpt-000000000000.dkc");
    assert_dk_ok(dk_ckpt_path(path, sizeof path, ".", 123456789012));
    assert_string_equal(path, "./ckpt-123456789012.dkc");
    /* "run/ckpt-000000000100.dkc" is 25 characters: 26 bytes fit, 25 do not. */
    assert_dk_ok(dk_ckpt_path(path, 26, "run", 100));
    assert_dk_error(dk_ckpt_path(path, 25, "run", 100), DK_ERR_USAGE,
                    "checkpoint path run/ckpt-000000000100.dkc is longer than 24 bytes");
    assert_dk_error(dk_ckpt_path(path, sizeof path, "run", -1), DK_ERR_INTERNAL, "checkpoint step -1 is negative");
}

static void test_list_finds_only_checkpoints_newest_first(void **state)
{
    (void)state;
    char dir[256];
    scratch_dir(dir, "ckpt-list");
    touch(dir, "ckpt-000000000003.dkc");
    touch(dir, "ckpt-000000000010.dkc");
    touch(dir, "ckpt-000000000002.dkc");
    touch(dir, "ckpt-1000000000007.dkc"); /* beyond 12 digits: as dk_ckpt_path writes it */
    /* Near misses, all ignored: among them names distkan never writes, such as a copy a
     * user made as ckpt-7.dkc, which a run must neither resume from nor prune. */
    const char *others[] = {"ckpt-000000000005.dkc.tmp.123", "ckpt-000000000011.dkc.bak", "ckpt-.dkc",
                            "ckpt-12a.dkc",                  "xckpt-000000000012.dkc",    "ckpt-000000000013.DKC",
                            "ckpt-000000000014.dkc~",        "notes.txt",                 "ckpt-1234567890123456789.dkc" /* 19 digits */,
                            "ckpt-7.dkc",                    "ckpt-00000000015.dkc",      "ckpt-0000000000016.dkc"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        touch(dir, others[i]);

    dk_ckpt_entry *list = NULL;
    int n = -1;
    assert_dk_ok(dk_ckpt_list(dir, &list, &n));
    assert_int_equal(n, 4);
    const long steps[] = {1000000000007, 10, 3, 2};
    const char *names[] = {"ckpt-1000000000007.dkc", "ckpt-000000000010.dkc", "ckpt-000000000003.dkc",
                           "ckpt-000000000002.dkc"};
    for (int i = 0; i < 4; i++) {
        char want[600];
        snprintf(want, sizeof want, "%s/%s", dir, names[i]);
        assert_int_equal(list[i].step, steps[i]);
        assert_string_equal(list[i].path, want);
    }
    free(list);

    /* A directory that does not exist holds no checkpoints. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_dk_ok(dk_ckpt_list(missing, &list, &n));
    assert_int_equal(n, 0);
    assert_null(list);
    scratch_remove(dir);
}

/* The warnings written to a temporary stream, as one string. */
static char *captured(FILE *f)
{
    fflush(f);
    const long n = ftell(f);
    rewind(f);
    char *s = calloc((size_t)n + 1, 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

static void test_find_latest_skips_damaged_newer_checkpoints_with_a_warning(void **state)
{
    (void)state;
    char dir[256], p1[DK_CKPT_PATH_MAX], p2[DK_CKPT_PATH_MAX], p3[DK_CKPT_PATH_MAX], p4[DK_CKPT_PATH_MAX];
    scratch_dir(dir, "ckpt-latest");
    for (long step = 1; step <= 4; step++)
        write_step(dir, step);
    dk_ckpt_path(p1, sizeof p1, dir, 1);
    dk_ckpt_path(p2, sizeof p2, dir, 2);
    dk_ckpt_path(p3, sizeof p3, dir, 3);
    dk_ckpt_path(p4, sizeof p4, dir, 4);

    char found[DK_CKPT_PATH_MAX];
    FILE *warnings = tmpfile();
    assert_dk_ok(dk_ckpt_find_latest(dir, found, sizeof found, warnings));
    assert_string_equal(found, p4);
    char *text = captured(warnings);
    assert_string_equal(text, "");
    free(text);

    /* Step 4 loses its last byte (a tensor byte), step 3 gets a flipped byte in its last
     * chunk: both are skipped, each with one line naming it and the reason. */
    truncate_to(p4, 100);
    flip_byte(p3, -1);
    rewind(warnings);
    assert_dk_ok(dk_ckpt_find_latest(dir, found, sizeof found, warnings));
    assert_string_equal(found, p2);
    text = captured(warnings);
    char want[3 * DK_CKPT_PATH_MAX];
    /* The length step 4's header gives is that of step 2's file (same manifest size). */
    struct stat st;
    assert_int_equal(stat(p2, &st), 0);
    snprintf(want, sizeof want,
             "distkan: warning: skipping checkpoint %s: truncated: 100 bytes, the header says %ld\n"
             "distkan: warning: skipping checkpoint %s: tensor 'x' chunk 2 (data bytes 256..319): checksum mismatch\n",
             p4, (long)st.st_size, p3);
    assert_string_equal(text, want);
    free(text);
    assert_int_equal(dk_error_code(), DK_OK); /* the skipped failures are not left recorded */

    /* The one it returns has the content written for its step. */
    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, found));
    double x[40];
    assert_dk_ok(dk_ckpt_read_tensor(r, "x", DK_F64, 40, x));
    assert_true(x[39] == 2.0 + 39 / 64.0);
    assert_int_equal(dk_ckpt_manifest(r)->schedule->step, 2);
    dk_ckpt_close(&r);

    /* Without a warnings stream the result is the same. */
    assert_dk_ok(dk_ckpt_find_latest(dir, found, sizeof found, NULL));
    assert_string_equal(found, p2);

    /* A path buffer too small is an error, not a cut name. */
    assert_dk_error(dk_ckpt_find_latest(dir, found, strlen(p2), NULL), DK_ERR_INTERNAL, "does not fit in");

    /* All damaged: an error saying how many were tried. */
    flip_byte(p2, 3);
    truncate_to(p1, 0);
    rewind(warnings);
    snprintf(want, sizeof want, "no valid checkpoint in %s: all 4 failed to verify", dir);
    assert_dk_error(dk_ckpt_find_latest(dir, found, sizeof found, warnings), DK_ERR_DATA, want);
    text = captured(warnings);
    assert_non_null(strstr(text, "bad magic"));
    assert_non_null(strstr(text, "truncated: 0 bytes, shorter than the 40-byte header"));
    free(text);
    fclose(warnings);
    scratch_remove(dir);

    /* None at all. */
    scratch_dir(dir, "ckpt-none");
    snprintf(want, sizeof want, "no checkpoint (ckpt-<step>.dkc) in %s", dir);
    assert_dk_error(dk_ckpt_find_latest(dir, found, sizeof found, NULL), DK_ERR_IO, want);
    scratch_remove(dir);
}

/* A valid checkpoint under another step's name (renamed, or copied over) is skipped with a
 * warning: taken for that step it would seem newer than it is. */
static void test_find_latest_skips_a_checkpoint_named_for_another_step(void **state)
{
    (void)state;
    char dir[256], p2[DK_CKPT_PATH_MAX], p9[DK_CKPT_PATH_MAX], found[DK_CKPT_PATH_MAX];
    scratch_dir(dir, "ckpt-renamed");
    write_step(dir, 1);
    write_step(dir, 2);
    dk_ckpt_path(p2, sizeof p2, dir, 2);
    dk_ckpt_path(p9, sizeof p9, dir, 9);
    size_t size;
    unsigned char *bytes = slurp(p2, &size);
    spit(p9, bytes, size); /* step 2's file, named for step 9 */
    free(bytes);
    FILE *warnings = tmpfile();
    assert_dk_ok(dk_ckpt_find_latest(dir, found, sizeof found, warnings));
    assert_string_equal(found, p2);
    char *text = captured(warnings), want[2 * DK_CKPT_PATH_MAX];
    snprintf(want, sizeof want,
             "distkan: warning: skipping checkpoint %s: its name says step 9 but it holds step 2 (renamed or copied?)\n", p9);
    assert_string_equal(text, want);
    free(text);
    fclose(warnings);
    scratch_remove(dir);
}

static void test_prune_keeps_the_newest_and_removes_leftover_temporaries_only(void **state)
{
    (void)state;
    char dir[256];
    scratch_dir(dir, "ckpt-prune");
    for (long step = 1; step <= 5; step++)
        write_step(dir, step);
    touch(dir, "ckpt-000000000006.dkc.tmp.4242");  /* a crashed writer's */
    touch(dir, "ckpt-000000000002.dkc.tmp.17");    /* an older crash */
    touch(dir, "ckpt-000000000007.dkc.first");          /* a first checkpoint staged, then a crash */
    touch(dir, "ckpt-000000000007.dkc.first.tmp.99");   /* ... while it was being written */
    const char *kept[] = {"notes.txt", "ckpt-000000000001.dkc.bak", "x.tmp.5", "ckpt-000000000003.dkc.tmp.",
                          "ckpt-000000000003.dkc.tmp.12x", "ckpt-000000000003.dkc.partial", "ckpt-1.dkc.tmp",
                          "ckpt-000000000003.dkc.firstx", "ckpt-000000000003.dkc.first.tmp.",
                          "ckpt-40.dkc.tmp.1", "ckpt-40.dkc.first" /* not names distkan writes */};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        touch(dir, kept[i]);

    assert_dk_error(dk_ckpt_prune(dir, 0), DK_ERR_USAGE, "checkpoints to keep: 0, at least 1");
    assert_true(exists_in(dir, "ckpt-000000000001.dkc"));

    assert_dk_ok(dk_ckpt_prune(dir, 2));
    assert_true(exists_in(dir, "ckpt-000000000005.dkc"));
    assert_true(exists_in(dir, "ckpt-000000000004.dkc"));
    for (int step = 1; step <= 3; step++) {
        char name[64];
        snprintf(name, sizeof name, "ckpt-%012d.dkc", step);
        assert_false(exists_in(dir, name));
    }
    assert_false(exists_in(dir, "ckpt-000000000006.dkc.tmp.4242"));
    assert_false(exists_in(dir, "ckpt-000000000002.dkc.tmp.17"));
    assert_false(exists_in(dir, "ckpt-000000000007.dkc.first"));
    assert_false(exists_in(dir, "ckpt-000000000007.dkc.first.tmp.99"));
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (!exists_in(dir, kept[i]))
            fail_msg("prune removed %s, which is not a checkpoint", kept[i]);

    /* Keeping more than there are removes nothing; pruning twice is harmless. */
    assert_dk_ok(dk_ckpt_prune(dir, 10));
    assert_dk_ok(dk_ckpt_prune(dir, 2));
    assert_true(exists_in(dir, "ckpt-000000000004.dkc"));
    assert_dk_ok(dk_ckpt_prune(dir, 1));
    assert_true(exists_in(dir, "ckpt-000000000005.dkc"));
    assert_false(exists_in(dir, "ckpt-000000000004.dkc"));
    scratch_remove(dir);

    /* A directory that does not exist has nothing to prune. */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", dir);
    assert_dk_ok(dk_ckpt_prune(missing, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_is_the_step_zero_padded_to_12_digits),
        cmocka_unit_test(test_list_finds_only_checkpoints_newest_first),
        cmocka_unit_test(test_find_latest_skips_damaged_newer_checkpoints_with_a_warning),
        cmocka_unit_test(test_find_latest_skips_a_checkpoint_named_for_another_step),
        cmocka_unit_test(test_prune_keeps_the_newest_and_removes_leftover_temporaries_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

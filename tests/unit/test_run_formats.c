/* The run outputs distkan reads back (launcher/dk_run_formats.h) read back what is written:
 * a checkpoint's event line in metrics.jsonl, whose step, grid, bytes and writer decide
 * which checkpoints are a run's own, and summary.json's top-level "steps". Lines are
 * compared byte for byte with literal lines as every version since writer ids wrote them
 * (the reference: a change of format must show up here), lines of the version before writer
 * ids still read, and a line with any of the fields the reader relies on renamed,
 * reordered or of another event is no checkpoint's. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "launcher/dk_run_formats.h"

/* What one writer call wrote, as a string (the caller frees it). */
typedef struct written {
    char *text;
    size_t size;
    FILE *f;
} written;

static FILE *start(written *w)
{
    w->text = NULL;
    w->size = 0;
    w->f = open_memstream(&w->text, &w->size);
    assert_non_null(w->f);
    return w->f;
}

static char *finish(written *w)
{
    assert_int_equal(fclose(w->f), 0);
    return w->text;
}

/* e's event line, without its newline; it must be one line. */
static char *ckpt_line(const dk_log_ckpt_event *e, double seconds, double wall_s)
{
    written w;
    dk_log_ckpt_event_write(start(&w), e, seconds, wall_s);
    char *line = finish(&w);
    const size_t n = strlen(line);
    assert_true(n > 0 && line[n - 1] == '\n');
    line[n - 1] = '\0';
    assert_null(strchr(line, '\n'));
    return line;
}

static void test_checkpoint_event_line_is_the_documented_line(void **state)
{
    const dk_log_ckpt_event e = {.step = 10, .grid = 5, .bytes = 1234, .writer = 42};
    char *line = ckpt_line(&e, 0.5, 1.25);
    assert_string_equal(line, "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, \"seconds\": "
                              "0.5, \"writer\": 42, \"wall_s\": 1.25}");
    free(line);
}

static void test_event_line_writes_numbers_as_json(void **state)
{
    const char *const names[] = {"loss_before", "loss_after"};
    const double values[] = {0.1, NAN};
    written w;
    dk_log_event_write(start(&w), 7, "grid_update", 20, 2, names, values, 3.0);
    char *text = finish(&w);
    assert_string_equal(text, "{\"step\": 7, \"event\": \"grid_update\", \"grid\": 20, \"loss_before\": "
                              "0.10000000000000001, \"loss_after\": null, \"wall_s\": 3}\n");
    free(text);
}

static void test_checkpoint_event_reads_back_at_extremes(void **state)
{
    const long steps[] = {0, 1, 1000000, LONG_MAX};
    const int grids[] = {1, 5, 10000};
    const uint64_t bytes[] = {0, 1, 123456789012, UINT64_C(1) << 53};
    const uint64_t writers[] = {1, 987654321, (UINT64_C(1) << 53) - 1, UINT64_C(1) << 53};
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++)
        for (size_t g = 0; g < sizeof grids / sizeof *grids; g++)
            for (size_t b = 0; b < sizeof bytes / sizeof *bytes; b++)
                for (size_t w = 0; w < sizeof writers / sizeof *writers; w++) {
                    const dk_log_ckpt_event e = {
                        .step = steps[s], .grid = grids[g], .bytes = bytes[b], .writer = writers[w]};
                    char *line = ckpt_line(&e, 12.345, 6789.5);
                    dk_log_ckpt_event got = {.step = -7, .grid = -7, .bytes = 7, .writer = 7};
                    if (!dk_log_ckpt_event_parse(line, &got))
                        fail_msg("not read as a checkpoint's event line: %s", line);
                    if (got.step != e.step || got.grid != e.grid || got.bytes != e.bytes || got.writer != e.writer)
                        fail_msg("%s read back as step %ld, grid %d, bytes %llu, writer %llu", line, got.step, got.grid,
                                 (unsigned long long)got.bytes, (unsigned long long)got.writer);
                    free(line);
                }
}

/* The line every version between log records and writer ids wrote. */
static void test_line_without_writer_reads_as_recording_none(void **state)
{
    dk_log_ckpt_event got = {.writer = 7};
    assert_true(dk_log_ckpt_event_parse(
        "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"wall_s\": 1.25}",
        &got));
    assert_int_equal(got.step, 10);
    assert_int_equal(got.grid, 5);
    assert_int_equal(got.bytes, 1234);
    assert_int_equal(got.writer, 0);
}

static void test_changed_line_is_no_checkpoint_event(void **state)
{
    static const char *const lines[] = {
        /* another event with the same fields */
        "{\"step\": 10, \"event\": \"grid_update\", \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        /* reordered: grid before event, bytes after seconds, step not first */
        "{\"step\": 10, \"grid\": 5, \"event\": \"checkpoint\", \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"seconds\": 0.5, \"bytes\": 1234, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"event\": \"checkpoint\", \"step\": 10, \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        /* renamed */
        "{\"steps\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"step\": 10, \"event\": \"checkpoint\", \"G\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"nbytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        /* a value of another type */
        "{\"step\": \"10\", \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": null, \"seconds\": 0.5, \"writer\": 42, "
        "\"wall_s\": 1.25}",
        "{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, \"seconds\": 0.5, \"writer\": null, "
        "\"wall_s\": 1.25}",
        /* a training line, and none */
        "{\"step\": 10, \"phase\": \"adam\", \"grid\": 5, \"loss\": 0.5, \"wall_s\": 1.25}",
        "",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        dk_log_ckpt_event got;
        if (dk_log_ckpt_event_parse(lines[i], &got))
            fail_msg("taken for a checkpoint's event line: %s", lines[i]);
    }
}

/* The writer field is found wherever it is; a line whose field has another name reads as
 * recording no writer (a line of a version before writer ids), never as this writer's. */
static void test_writer_is_read_only_under_its_name(void **state)
{
    dk_log_ckpt_event got;
    assert_true(dk_log_ckpt_event_parse("{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, "
                                        "\"writer\": 42, \"seconds\": 0.5, \"wall_s\": 1.25}",
                                        &got));
    assert_int_equal(got.writer, 42);
    assert_true(dk_log_ckpt_event_parse("{\"step\": 10, \"event\": \"checkpoint\", \"grid\": 5, \"bytes\": 1234, "
                                        "\"seconds\": 0.5, \"writer_id\": 42, \"wall_s\": 1.25}",
                                        &got));
    assert_int_equal(got.writer, 0);
}

/* A summary.json around the steps member as the run writes it: members one per line, and
 * stages with their own "steps" (before it here, so that the reader must tell them apart). */
static char *summary_text(long steps)
{
    written w;
    FILE *f = start(&w);
    fputs("{\n  \"stages\": [\n    {\"grid\": 5, \"first_step\": 0, \"steps\": 99}\n  ],\n  \"optimizer\": \"adam\"",
          f);
    dk_summary_steps_write(f, steps);
    fputs(",\n  \"adam_steps\": 3\n}\n", f);
    return finish(&w);
}

static void test_summary_steps_member_is_the_documented_one(void **state)
{
    written w;
    dk_summary_steps_write(start(&w), 42);
    char *text = finish(&w);
    assert_string_equal(text, ",\n  \"steps\": 42");
    free(text);
}

static void test_summary_steps_read_back(void **state)
{
    const long steps[] = {0, 1, 20000, LONG_MAX};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        char *text = summary_text(steps[i]);
        assert_int_equal(dk_summary_steps_read(text), steps[i]);
        free(text);
    }
}

static void test_summary_without_top_level_steps_reads_none(void **state)
{
    /* a stage's steps only; the member on one line with others; not a number; negative */
    assert_int_equal(dk_summary_steps_read("{\n  \"stages\": [\n    {\"grid\": 5, \"steps\": 99}\n  ]\n}\n"), -1);
    assert_int_equal(dk_summary_steps_read("{\"optimizer\": \"adam\", \"steps\": 5}\n"), -1);
    assert_int_equal(dk_summary_steps_read("{\n  \"steps\": null\n}\n"), -1);
    assert_int_equal(dk_summary_steps_read("{\n  \"steps\": -3\n}\n"), -1);
    assert_int_equal(dk_summary_steps_read(""), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_event_line_is_the_documented_line),
        cmocka_unit_test(test_event_line_writes_numbers_as_json),
        cmocka_unit_test(test_checkpoint_event_reads_back_at_extremes),
        cmocka_unit_test(test_line_without_writer_reads_as_recording_none),
        cmocka_unit_test(test_changed_line_is_no_checkpoint_event),
        cmocka_unit_test(test_writer_is_read_only_under_its_name),
        cmocka_unit_test(test_summary_steps_member_is_the_documented_one),
        cmocka_unit_test(test_summary_steps_read_back),
        cmocka_unit_test(test_summary_without_top_level_steps_reads_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

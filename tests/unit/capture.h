/* Text that a printing function writes to a FILE * (views, summaries, INI writers), caught
 * in memory so that a test can search it (include after <cmocka.h>):
 *
 *     captured_text out;
 *     dk_adam_view(adam, capture_begin(&out));
 *     char *text = capture_end(&out);   (malloc'ed, NUL-terminated: free it)
 */
#ifndef DK_TEST_CAPTURE_H
#define DK_TEST_CAPTURE_H

#include <stdio.h>

typedef struct captured_text {
    char *text;
    size_t size;
    FILE *stream;
} captured_text;

/* The stream to print to. */
static inline FILE *capture_begin(captured_text *c)
{
    c->text = NULL;
    c->size = 0;
    c->stream = open_memstream(&c->text, &c->size);
    assert_non_null(c->stream);
    return c->stream;
}

/* Closes the stream and returns what was printed. */
static inline char *capture_end(captured_text *c)
{
    assert_int_equal(fclose(c->stream), 0);
    c->stream = NULL;
    assert_non_null(c->text);
    return c->text;
}

#endif

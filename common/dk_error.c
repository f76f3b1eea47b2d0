#include "dk_error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One error slot per thread. Room for a message that quotes two paths of PATH_MAX (4096)
 * each and still ends with its cause, then the frames of the traceback. */
enum { DK_ERROR_CAPACITY = 16384 };
static _Thread_local char error_text[DK_ERROR_CAPACITY];
static _Thread_local size_t error_length;
static _Thread_local dk_err error_code_value;
static _Thread_local int error_agreed;

static void vappend(const char *fmt, va_list ap)
{
    if (error_length >= sizeof error_text - 1)
        return;
    int n = vsnprintf(error_text + error_length, sizeof error_text - error_length, fmt, ap);
    if (n > 0)
        error_length += (size_t)n;
    if (error_length >= sizeof error_text)
        error_length = sizeof error_text - 1;
}

static void append(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void append(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappend(fmt, ap);
    va_end(ap);
}

dk_err dk_error_set(dk_err code, const char *file, int line, const char *fmt, ...)
{
    error_length = 0;
    error_text[0] = '\0';
    error_code_value = code;
    error_agreed = 0;
    append("%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vappend(fmt, ap);
    va_end(ap);
    return code;
}

dk_err dk_error_push(dk_err code, const char *file, int line, const char *func)
{
    append("\n  from %s:%d (%s)", file, line, func);
    return code;
}

dk_err dk_error_mark_agreed(dk_err code)
{
    error_agreed = 1;
    return code;
}

int dk_error_is_agreed(void) { return error_agreed; }

const char *dk_error_message(void) { return error_length ? error_text : "no error recorded"; }
dk_err dk_error_code(void) { return error_code_value; }

void dk_error_clear(void)
{
    error_length = 0;
    error_text[0] = '\0';
    error_code_value = DK_OK;
    error_agreed = 0;
}

const char *dk_error_code_name(dk_err code)
{
    switch (code) {
    case DK_OK: return "ok";
    case DK_ERR_INTERNAL: return "internal error";
    case DK_ERR_USAGE: return "usage or config error";
    case DK_ERR_IO: return "I/O error";
    case DK_ERR_DATA: return "data error";
    case DK_ERR_MEMORY: return "out of memory";
    case DK_ERR_MPI: return "communication error";
    case DK_ERR_NUMERIC: return "numerical error";
    default: return "unknown error";
    }
}

dk_err dk_calloc(void **out, size_t count, size_t size, const char *what)
{
    *out = NULL;
    if (count == 0 || size == 0)
        return DK_OK;
    if (count > (size_t)-1 / size)
        DK_ERROR(DK_ERR_MEMORY, "size overflow allocating %zu x %zu bytes for %s", count, size, what);
    void *p = calloc(count, size);
    if (!p)
        DK_ERROR(DK_ERR_MEMORY, "cannot allocate %zu bytes for %s", count * size, what);
    *out = p;
    return DK_OK;
}

dk_err dk_grow(void **p, size_t *capacity, size_t count, size_t size, const char *what)
{
    if (*capacity >= count)
        return DK_OK;
    free(*p);
    *p = NULL;
    *capacity = 0;
    DK_CALL(dk_calloc(p, count, size, what));
    *capacity = count;
    return DK_OK;
}

dk_err dk_array_bytes(size_t *bytes, size_t a, size_t b, size_t c, const char *what)
{
    *bytes = 0;
    const size_t ab = a * b;
    if ((a && ab / a != b) || (c && ab > (size_t)-1 / c))
        DK_ERROR(DK_ERR_MEMORY, "size overflow for %s (%zu x %zu x %zu bytes)", what, a, b, c);
    *bytes = ab * c;
    return DK_OK;
}

dk_err dk_aligned_alloc(void **out, size_t bytes, const char *what)
{
    *out = NULL;
    if (bytes == 0)
        return DK_OK;
    if (bytes > SIZE_MAX - 63)
        DK_ERROR(DK_ERR_MEMORY, "size overflow: %zu bytes for %s", bytes, what);
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded);
    if (!p)
        DK_ERROR(DK_ERR_MEMORY, "cannot allocate %zu bytes for %s", rounded, what);
    memset(p, 0, rounded);
    *out = p;
    return DK_OK;
}

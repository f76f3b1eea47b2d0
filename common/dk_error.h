/* One error convention for all of distkan (PETSc style).
 *
 * Every fallible function returns dk_err: 0 on success, a DK_ERR_* code otherwise.
 * The first failure records a message with its file:line (DK_ERROR); every caller
 * that propagates it with DK_CALL appends its own frame, so the final report reads
 * like a traceback:
 *
 *   error: tasks/dk_csv.c:88: data.csv:17: expected 3 columns, found 2
 *     from tasks/dk_fit_task.c:140 (dk_fit_task_create)
 *     from launcher/dk_train.c:97 (dk_train_run)
 *
 * The CPU kernels do not use this: they take validated arrays and cannot fail. The CUDA
 * kernels' wrappers do (kernels/dk_kan_cuda.h): a shape the GPU cannot serve, a launch
 * that fails.
 */
#ifndef DK_ERROR_H
#define DK_ERROR_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int dk_err;

enum {
    DK_OK = 0,
    DK_ERR_INTERNAL = 1, /* a bug in distkan or an unexpected library failure */
    DK_ERR_USAGE = 2,    /* command line or config file: exit code 2 */
    DK_ERR_IO = 3,       /* a file could not be read or written */
    DK_ERR_DATA = 4,     /* malformed data file (CSV row, binary file) */
    DK_ERR_MEMORY = 5,   /* allocation failed */
    DK_ERR_MPI = 6,      /* the communication library reported an error */
    DK_ERR_NUMERIC = 7   /* non-finite loss, singular system, ... */
};

/* Records a new error (clearing any previous one) and returns its code. */
dk_err dk_error_set(dk_err code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Appends a traceback frame to the current error and returns code unchanged. */
dk_err dk_error_push(dk_err code, const char *file, int line, const char *func);

/* Marks the current error as agreed: raised on every rank at the same point, from values
 * that are the same on every rank (an all-reduced loss), so that rank 0 alone reports it
 * and the ranks end together without aborting the job. Returns code unchanged. A new
 * error (dk_error_set) is not agreed until marked. */
dk_err dk_error_mark_agreed(dk_err code);
int dk_error_is_agreed(void);

const char *dk_error_message(void); /* the recorded message with its frames */
dk_err dk_error_code(void);         /* the code of the recorded error, DK_OK if none */
void dk_error_clear(void);
const char *dk_error_code_name(dk_err code);

/* Return a new error from the current function. */
#define DK_ERROR(code, ...) return dk_error_set((code), __FILE__, __LINE__, __VA_ARGS__)
/* The same, for an error every rank raises alike (dk_error_mark_agreed). */
#define DK_ERROR_AGREED(code, ...) return dk_error_mark_agreed(dk_error_set((code), __FILE__, __LINE__, __VA_ARGS__))

/* Call a dk_err function and propagate a failure with a traceback frame. */
#define DK_CALL(expr)                                                                      \
    do {                                                                                   \
        dk_err dk_call_err_ = (expr);                                                      \
        if (dk_call_err_ != DK_OK)                                                         \
            return dk_error_push(dk_call_err_, __FILE__, __LINE__, __func__);              \
    } while (0)

/* Like DK_CALL, but jumps to a cleanup label with `err` set instead of returning. */
#define DK_CALL_GOTO(err, label, expr)                                                     \
    do {                                                                                   \
        (err) = (expr);                                                                    \
        if ((err) != DK_OK) {                                                              \
            dk_error_push((err), __FILE__, __LINE__, __func__);                            \
            goto label;                                                                    \
        }                                                                                  \
    } while (0)

/* Allocation helpers: zeroed memory or a DK_ERR_MEMORY error naming what was wanted. */
dk_err dk_calloc(void **out, size_t count, size_t size, const char *what);
dk_err dk_aligned_alloc(void **out, size_t bytes, const char *what); /* 64-byte aligned, zeroed */
/* Scratch that grows: when *capacity < count, frees *p and allocates count zeroed elements
 * of `size` bytes (the old contents are not kept); otherwise does nothing. Code that must
 * not allocate later (a grid update during training) grows its scratch ahead. */
dk_err dk_grow(void **p, size_t *capacity, size_t count, size_t size, const char *what);
/* *bytes = a * b * c, or DK_ERR_MEMORY naming `what` when the product does not fit in
 * size_t (a huge count from a config must fail as "cannot allocate", never wrap around to
 * a small buffer). */
dk_err dk_array_bytes(size_t *bytes, size_t a, size_t b, size_t c, const char *what);
#define DK_CALLOC(ptr, count, what) dk_calloc((void **)&(ptr), (count), sizeof(*(ptr)), (what))

#ifdef __cplusplus
}
#endif

#endif

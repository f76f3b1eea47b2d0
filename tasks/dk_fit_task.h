/* Function fitting: supervised regression with a mean-squared-error loss.
 *
 * Data come from a built-in function (sampled uniformly on the grid range with the
 * counter-based generator, each rank generating only its own rows) or from a CSV file
 * (each rank parsing only the rows it owns).
 *
 * Global batches are fixed whatever the world size. The training set, in a fixed order,
 * is cut into n_batches = train_size / batch consecutive blocks (batch = train_size when
 * the config says 0); step s uses block (s-1) mod n_batches. Rank r owns the r-th
 * contiguous part of every block (dk_part_begin/end), so only the split depends on the
 * world size, and the sum over ranks of the per-rank losses is the global loss.
 * Rows past n_batches * batch are never used (dk_fit_task.warning says so). The global
 * batch must be at least the world size, so that every rank owns at least one row.
 * The test set is split contiguously across ranks.
 *
 * CSV rows are shuffled by a seeded permutation, the same on every rank: the first
 * test_size permuted rows form the test set, the next train_size (0 = all the rest) the
 * training set, in permuted order.
 */
#ifndef DK_FIT_TASK_H
#define DK_FIT_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"

typedef struct dk_fit_task_settings {
    dk_dtype dtype;
    unsigned long long seed;
    const char *function;    /* built-in name, or NULL/"" when csv is given */
    const char *csv;         /* CSV path, or NULL/"" */
    int target_columns;      /* CSV: the last target_columns columns are targets */
    long train_size, test_size; /* built-in: sample counts; CSV: rows taken (train 0 = all remaining) */
    long batch;              /* global batch, 0 = whole training set */
    double lo, hi;           /* built-in: sampling box [lo, hi]^dim (the grid range) */
    int rank, world_size;
} dk_fit_task_settings;

typedef struct dk_fit_task {
    dk_dtype dtype;
    int n_in, n_out;               /* input and target dimensions */
    long train_size, test_size;    /* global counts actually used: train_size = n_batches * batch */
    long batch;                    /* global batch per step */
    long n_batches;                /* blocks per pass over the training set */
    long local_batch;              /* this rank's rows per step (same for every block) */
    long batch_begin;              /* position of this rank's first row within each block */
    void *train_x, *train_y;       /* this rank's rows: [n_batches][local_batch][n_in|n_out] */
    long local_test;               /* this rank's test rows */
    void *test_x, *test_y;         /* [local_test][n_in|n_out] */
    char description[256];         /* e.g. "exp(sin(pi x)+y^2), 2 inputs" or
                                      "data.csv: 3 inputs, 1 target, 150 rows (120 train, 30 test)" */
    char warning[256];             /* for the log, "" when none: e.g. training rows left out
                                      because batch does not divide the training set */
    uint64_t csv_bytes;            /* a CSV's size and CRC-32C (dk_csv_info); 0 for a built-in */
    uint32_t csv_crc32c;
    char **names;                  /* a CSV's column names [n_in + n_out], blanks trimmed; NULL for a built-in */
    /* A CSV's value of largest magnitude among this rank's training rows (the first in the
     * file of equal ones), its line in the file and 0-based column (largest_line 0: no CSV):
     * the error of a non-finite training loss names it. */
    double largest_value;
    long largest_line;
    int largest_column;
} dk_fit_task;

dk_err dk_fit_task_create(dk_fit_task **out, const dk_fit_task_settings *settings);
void dk_fit_task_destroy(dk_fit_task **task);

/* The first of this rank's rows (index into train_x / train_y, in rows) that update
 * number `step` (1-based) uses; the batch is the local_batch rows from there. */
size_t dk_fit_task_batch_row(const dk_fit_task *task, long step);

/* This rank's inputs and targets for update number `step` (1-based); *rows = local_batch. */
void dk_fit_task_batch(const dk_fit_task *task, long step, const void **x, const void **y, long *rows);

/* Mean squared error over the GLOBAL batch, for this rank's rows (dpred may be NULL):
 * returns sum_rows,j (pred-target)^2 / (batch * n_out) and writes its gradient
 * dpred = 2 (pred - target) / (batch * n_out) (same shape as pred). Summing the returns
 * and gradients over ranks gives the global loss and gradient. */
double dk_fit_task_loss(const dk_fit_task *task, long rows, const void *pred, const void *target,
                        void *dpred);

/* Samples of the training inputs for a grid update: sample j (j < n_samples <= train_size)
 * is global training row floor(j * train_size / n_samples). Writes the samples this rank
 * owns into x[j][n_in] (float64) and leaves the other rows untouched, so that the sum over
 * ranks of zero-filled buffers is the whole sample set, in the same order for any world size. */
void dk_fit_task_grid_samples(const dk_fit_task *task, long n_samples, double *x);

/* Sum of squared errors over `rows` rows (for test RMSE; the caller all-reduces). */
double dk_fit_task_sse(const dk_fit_task *task, long rows, const void *pred, const void *target);
/* For errors whose squares overflow (beyond about 1e154 in float64): the largest half error
 * |pred/2 - target/2| (which itself cannot overflow), and the sum of squares of the half
 * errors divided by `scale` (> 0, e.g. the all-reduced largest): RMSE = 2 scale
 * sqrt(sum / n). */
double dk_fit_task_largest_half_error(const dk_fit_task *task, long rows, const void *pred, const void *target);
double dk_fit_task_sse_scaled(const dk_fit_task *task, long rows, const void *pred, const void *target, double scale);

#endif

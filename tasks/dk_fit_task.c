/* Function fitting: data shards and the mean-squared-error loss (see dk_fit_task.h). */
#include "dk_fit_task.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dk_rng.h"
#include "dk_csv.h"
#include "dk_fit_functions.h"

/* Records an error and leaves through the function's cleanup label. */
#define FIT_FAIL(code, ...)                                                                \
    do {                                                                                   \
        err = dk_error_set((code), __FILE__, __LINE__, __VA_ARGS__);                       \
        goto done;                                                                         \
    } while (0)

static int is_set(const char *s) { return s && s[0]; }

static dk_err check_settings(const dk_fit_task_settings *s)
{
    if (s->dtype != DK_F64 && s->dtype != DK_F32)
        DK_ERROR(DK_ERR_USAGE, "fit task: unknown dtype %d", (int)s->dtype);
    if (s->world_size < 1 || s->rank < 0 || s->rank >= s->world_size)
        DK_ERROR(DK_ERR_USAGE, "fit task: rank %d is not in [0, world size %d)", s->rank, s->world_size);
    if (is_set(s->function) && is_set(s->csv))
        DK_ERROR(DK_ERR_USAGE, "[fit] function = %s and [fit] csv = %s are both set: give one of them",
                 s->function, s->csv);
    if (!is_set(s->function) && !is_set(s->csv))
        DK_ERROR(DK_ERR_USAGE, "[fit] needs either function = NAME (a built-in) or csv = PATH");
    if (s->train_size < 0)
        DK_ERROR(DK_ERR_USAGE, "[fit] train_size = %ld: expected >= 0", s->train_size);
    if (s->test_size < 0)
        DK_ERROR(DK_ERR_USAGE, "[fit] test_size = %ld: expected >= 0", s->test_size);
    if (s->batch < 0)
        DK_ERROR(DK_ERR_USAGE, "[train] batch = %ld: expected >= 0 (0 = the whole training set)", s->batch);
    return DK_OK;
}

/* Cuts train_rows rows into global batches and this rank's share of each. */
static dk_err plan_batches(dk_fit_task *t, const dk_fit_task_settings *s, long train_rows)
{
    long batch = s->batch == 0 || s->batch >= train_rows ? train_rows : s->batch;
    /* With fewer rows than ranks some rank would own nothing; rather than carry empty
     * shards through every layer, ask for a batch the ranks can share. */
    if (batch < s->world_size)
        DK_ERROR(DK_ERR_USAGE,
                 "[train] batch = %ld gives a global batch of %ld rows, fewer than the world size %d: "
                 "every rank needs at least one row per step (use a larger batch or fewer ranks)",
                 s->batch, batch, s->world_size);
    t->batch = batch;
    t->n_batches = train_rows / batch;
    t->train_size = t->n_batches * batch;
    t->batch_begin = (long)dk_part_begin((size_t)batch, s->world_size, s->rank);
    t->local_batch = (long)dk_part_end((size_t)batch, s->world_size, s->rank) - t->batch_begin;
    long unused = train_rows - t->train_size;
    if (unused > 0)
        snprintf(t->warning, sizeof t->warning,
                 "%ld rows are left for training, but [train] batch = %ld divides them into %ld whole batch%s: the "
                 "training set is their first %ld, and the last %ld %s never used",
                 train_rows, batch, t->n_batches, t->n_batches == 1 ? "" : "es", t->train_size, unused,
                 unused == 1 ? "is" : "are");
    else if (s->batch > train_rows)
        snprintf(t->warning, sizeof t->warning,
                 "[train] batch = %ld is more than the %ld training rows: every step uses all of them (full batch)",
                 s->batch, train_rows);
    return DK_OK;
}

/* An allocation that fails names the key that sized it. */
#define TRAIN_SHARE(what) what " (this rank's share of the training set: [fit] train_size, or the CSV's rows)"
#define TEST_SHARE(what) what " (this rank's share of [fit] test_size)"

static dk_err allocate_buffers(dk_fit_task *t)
{
    size_t es = dk_dtype_size(t->dtype), bytes = 0;
    size_t train_rows = (size_t)t->n_batches * (size_t)t->local_batch;
    DK_CALL(dk_array_bytes(&bytes, train_rows, (size_t)t->n_in, es, TRAIN_SHARE("training inputs")));
    DK_CALL(dk_aligned_alloc(&t->train_x, bytes, TRAIN_SHARE("training inputs")));
    DK_CALL(dk_array_bytes(&bytes, train_rows, (size_t)t->n_out, es, TRAIN_SHARE("training targets")));
    DK_CALL(dk_aligned_alloc(&t->train_y, bytes, TRAIN_SHARE("training targets")));
    DK_CALL(dk_array_bytes(&bytes, (size_t)t->local_test, (size_t)t->n_in, es, TEST_SHARE("test inputs")));
    DK_CALL(dk_aligned_alloc(&t->test_x, bytes, TEST_SHARE("test inputs")));
    DK_CALL(dk_array_bytes(&bytes, (size_t)t->local_test, (size_t)t->n_out, es, TEST_SHARE("test targets")));
    DK_CALL(dk_aligned_alloc(&t->test_y, bytes, TEST_SHARE("test targets")));
    return DK_OK;
}

/* Global sample g of a stream: x_d = lo + (hi - lo) u(seed, stream, g dim + d). The target
 * is f of x as stored (after rounding to the run dtype), so that in float32 the network is
 * fitted to f at the very inputs it sees. */
static void sample_point(const dk_fit_function *fn, const dk_fit_task_settings *s, uint64_t stream,
                         uint64_t g, void *x, void *y, size_t row, double *point)
{
    size_t dim = (size_t)fn->dim;
    for (size_t d = 0; d < dim; d++) {
        double u = dk_rng_uniform(s->seed, stream, g * dim + d);
        dk_store(s->dtype, x, row * dim + d, s->lo + (s->hi - s->lo) * u);
        point[d] = dk_load(s->dtype, x, row * dim + d);
    }
    dk_store(s->dtype, y, row, fn->eval(point));
}

static dk_err create_builtin(dk_fit_task *t, const dk_fit_task_settings *s)
{
    const dk_fit_function *fn = dk_fit_function_find(s->function);
    if (!fn) {
        char names[512] = "";
        size_t used = 0;
        for (const dk_fit_function *f = dk_fit_functions; f->name && used < sizeof names; f++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", f->name);
            if (n > 0)
                used += (size_t)n;
        }
        DK_ERROR(DK_ERR_USAGE, "[fit] function = '%s' is not a built-in (known: %s)", s->function, names);
    }
    if (!isfinite(s->lo) || !isfinite(s->hi) || !(s->lo < s->hi))
        DK_ERROR(DK_ERR_USAGE, "sampling box [%g, %g] (the grid range) is empty or not finite", s->lo, s->hi);
    if (s->train_size == 0)
        DK_ERROR(DK_ERR_USAGE, "[fit] train_size = 0: a built-in function needs training samples");
    t->n_in = fn->dim;
    t->n_out = 1;
    t->test_size = s->test_size;
    DK_CALL(plan_batches(t, s, s->train_size));
    size_t test_begin = dk_part_begin((size_t)t->test_size, s->world_size, s->rank);
    t->local_test = (long)(dk_part_end((size_t)t->test_size, s->world_size, s->rank) - test_begin);
    DK_CALL(allocate_buffers(t));

    double *point = NULL;
    DK_CALL(DK_CALLOC(point, (size_t)fn->dim, "sample point"));
    size_t begin = dk_part_begin((size_t)t->batch, s->world_size, s->rank);
    for (long q = 0; q < t->n_batches; q++)
        for (long i = 0; i < t->local_batch; i++) {
            uint64_t g = (uint64_t)q * (uint64_t)t->batch + begin + (uint64_t)i;
            sample_point(fn, s, DK_STREAM_FIT_TRAIN, g, t->train_x, t->train_y,
                         (size_t)q * (size_t)t->local_batch + (size_t)i, point);
        }
    for (long i = 0; i < t->local_test; i++)
        sample_point(fn, s, DK_STREAM_FIT_TEST, test_begin + (uint64_t)i, t->test_x, t->test_y, (size_t)i,
                     point);
    free(point);
    snprintf(t->description, sizeof t->description, "%s, %d input%s", fn->formula, fn->dim,
             fn->dim == 1 ? "" : "s");
    return DK_OK;
}

/* Copies columns [c0, c0 + width) of rows [0, rows) of a [rows][n_cols] table to dst. */
static void copy_columns(size_t es, const char *table, int n_cols, size_t rows, int c0, int width, char *dst)
{
    for (size_t r = 0; r < rows; r++)
        memcpy(dst + r * (size_t)width * es, table + (r * (size_t)n_cols + (size_t)c0) * es, (size_t)width * es);
}

static dk_err create_csv(dk_fit_task *t, const dk_fit_task_settings *s)
{
    dk_err err = DK_OK;
    dk_csv_info info;
    long *perm = NULL, *slot = NULL;
    char *values = NULL;
    DK_CALL(dk_csv_scan(s->csv, &info));

    long n = info.n_rows;
    t->csv_bytes = info.bytes;
    t->csv_crc32c = info.crc32c;
    if (s->target_columns < 1 || s->target_columns >= info.n_cols)
        FIT_FAIL(DK_ERR_USAGE, "[fit] target_columns = %d, but %s has %d columns: at least 1 target and "
                 "1 input column are needed", s->target_columns, s->csv, info.n_cols);
    if (s->test_size > n || s->train_size > n - s->test_size)
        FIT_FAIL(DK_ERR_USAGE, "%s has %ld data rows, fewer than [fit] test_size = %ld plus [fit] "
                 "train_size = %ld", s->csv, n, s->test_size, s->train_size);
    long train_rows = s->train_size ? s->train_size : n - s->test_size;
    if (train_rows == 0)
        FIT_FAIL(DK_ERR_USAGE, "%s has %ld data rows, all taken by [fit] test_size = %ld: none are left "
                 "for training", s->csv, n, s->test_size);
    t->n_out = s->target_columns;
    t->n_in = info.n_cols - s->target_columns;
    t->test_size = s->test_size;
    DK_CALL_GOTO(err, done, plan_batches(t, s, train_rows));
    size_t test_begin = dk_part_begin((size_t)t->test_size, s->world_size, s->rank);
    t->local_test = (long)(dk_part_end((size_t)t->test_size, s->world_size, s->rank) - test_begin);
    DK_CALL_GOTO(err, done, allocate_buffers(t));

    /* Permuted row p is test row p for p < test_size, then training row p - test_size.
     * slot[] maps a file row to where this rank keeps it: its local training rows first,
     * then its local test rows; -1 for rows another rank (or nobody) owns. */
    DK_CALL_GOTO(err, done, DK_CALLOC(perm, (size_t)n, "CSV row permutation"));
    DK_CALL_GOTO(err, done, DK_CALLOC(slot, (size_t)n, "CSV row slots"));
    dk_csv_permutation(s->seed, n, perm);
    for (long i = 0; i < n; i++)
        slot[i] = -1;
    long local_train = t->n_batches * t->local_batch;
    size_t begin = dk_part_begin((size_t)t->batch, s->world_size, s->rank);
    for (long q = 0; q < t->n_batches; q++)
        for (long i = 0; i < t->local_batch; i++)
            slot[perm[t->test_size + q * t->batch + (long)begin + i]] = q * t->local_batch + i;
    for (long k = 0; k < t->local_test; k++)
        slot[perm[(long)test_begin + k]] = local_train + k;
    free(perm);
    perm = NULL;

    size_t es = dk_dtype_size(t->dtype), bytes = 0;
    size_t rows = (size_t)(local_train + t->local_test);
    DK_CALL_GOTO(err, done, dk_array_bytes(&bytes, rows, (size_t)info.n_cols, es, "CSV values"));
    DK_CALL_GOTO(err, done, DK_CALLOC(values, bytes, "CSV values"));
    DK_CALL_GOTO(err, done, dk_csv_read_rows(s->csv, &info, slot, t->dtype, values));
    copy_columns(es, values, info.n_cols, (size_t)local_train, 0, t->n_in, t->train_x);
    copy_columns(es, values, info.n_cols, (size_t)local_train, t->n_in, t->n_out, t->train_y);
    const char *test_values = values + (size_t)local_train * (size_t)info.n_cols * es;
    copy_columns(es, test_values, info.n_cols, (size_t)t->local_test, 0, t->n_in, t->test_x);
    copy_columns(es, test_values, info.n_cols, (size_t)t->local_test, t->n_in, t->n_out, t->test_y);
    /* File order, so that among equal magnitudes the first line wins on any number of ranks. */
    for (long i = 0; i < n; i++)
        for (int c = 0; slot[i] >= 0 && slot[i] < local_train && c < info.n_cols; c++) {
            const double v = dk_load(t->dtype, values, (size_t)slot[i] * (size_t)info.n_cols + (size_t)c);
            if (t->largest_line == 0 || fabs(v) > fabs(t->largest_value)) {
                t->largest_value = v;
                t->largest_line = i + 2; /* the header is line 1 */
                t->largest_column = c;
            }
        }
    t->names = info.names; /* kept for messages */
    info.names = NULL;

    snprintf(t->description, sizeof t->description, "%s: %d input%s, %d target%s, %ld rows (%ld train, %ld test)",
             s->csv, t->n_in, t->n_in == 1 ? "" : "s", t->n_out, t->n_out == 1 ? "" : "s", n, t->train_size,
             t->test_size);

done:
    free(values);
    free(slot);
    free(perm);
    dk_csv_info_free(&info);
    return err;
}

dk_err dk_fit_task_create(dk_fit_task **out, const dk_fit_task_settings *settings)
{
    *out = NULL;
    DK_CALL(check_settings(settings));
    dk_fit_task *t = NULL;
    DK_CALL(DK_CALLOC(t, 1, "fit task"));
    t->dtype = settings->dtype;
    dk_err err = is_set(settings->csv) ? create_csv(t, settings) : create_builtin(t, settings);
    if (err) {
        dk_fit_task_destroy(&t);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    *out = t;
    return DK_OK;
}

void dk_fit_task_destroy(dk_fit_task **task)
{
    if (!task || !*task)
        return;
    dk_fit_task *t = *task;
    free(t->train_x);
    free(t->train_y);
    free(t->test_x);
    free(t->test_y);
    for (int c = 0; t->names && c < t->n_in + t->n_out; c++)
        free(t->names[c]);
    free(t->names);
    free(t);
    *task = NULL;
}

size_t dk_fit_task_batch_row(const dk_fit_task *task, long step)
{
    /* Steps are 1-based; the floor-mod keeps a (meaningless) step <= 0 inside the data. */
    long block = (step - 1) % task->n_batches;
    if (block < 0)
        block += task->n_batches;
    return (size_t)block * (size_t)task->local_batch;
}

void dk_fit_task_batch(const dk_fit_task *task, long step, const void **x, const void **y, long *rows)
{
    size_t es = dk_dtype_size(task->dtype);
    size_t first = dk_fit_task_batch_row(task, step);
    *x = (const char *)task->train_x + first * (size_t)task->n_in * es;
    *y = (const char *)task->train_y + first * (size_t)task->n_out * es;
    *rows = task->local_batch;
}

/* L = sum (p - t)^2 / (B n_out) and dL/dp = 2 (p - t) / (B n_out), with B the global batch:
 * the same denominator on every rank makes the per-rank values add up to the global ones. */
double dk_fit_task_loss(const dk_fit_task *task, long rows, const void *pred, const void *target, void *dpred)
{
    size_t n = (size_t)rows * (size_t)task->n_out;
    double denom = (double)task->batch * (double)task->n_out;
    double two_over = 2.0 / denom, sum = 0.0;
    if (task->dtype == DK_F64) {
        const double *p = pred, *t = target;
        double *g = dpred;
        for (size_t i = 0; i < n; i++) {
            double d = p[i] - t[i];
            sum += d * d;
            if (g)
                g[i] = two_over * d;
        }
    } else {
        const float *p = pred, *t = target;
        float *g = dpred;
        for (size_t i = 0; i < n; i++) {
            double d = (double)p[i] - (double)t[i];
            sum += d * d;
            if (g)
                g[i] = (float)(two_over * d);
        }
    }
    return sum / denom;
}

double dk_fit_task_sse(const dk_fit_task *task, long rows, const void *pred, const void *target)
{
    size_t n = (size_t)rows * (size_t)task->n_out;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = dk_load(task->dtype, pred, i) - dk_load(task->dtype, target, i);
        sum += d * d;
    }
    return sum;
}

double dk_fit_task_largest_half_error(const dk_fit_task *task, long rows, const void *pred, const void *target)
{
    size_t n = (size_t)rows * (size_t)task->n_out;
    double largest = 0.0;
    for (size_t i = 0; i < n; i++)
        largest = fmax(largest, fabs(0.5 * dk_load(task->dtype, pred, i) - 0.5 * dk_load(task->dtype, target, i)));
    return largest;
}

double dk_fit_task_sse_scaled(const dk_fit_task *task, long rows, const void *pred, const void *target, double scale)
{
    size_t n = (size_t)rows * (size_t)task->n_out;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (0.5 * dk_load(task->dtype, pred, i) - 0.5 * dk_load(task->dtype, target, i)) / scale;
        sum += d * d;
    }
    return sum;
}

void dk_fit_task_grid_samples(const dk_fit_task *task, long n_samples, double *x)
{
    const int d = task->n_in;
    for (long j = 0; j < n_samples; j++) {
        /* Evenly spread over the training set: CSV rows are permuted, generated rows are
         * random, so a stride is as good as any subsample and needs no generator. */
        long g = (long)((double)j * (double)task->train_size / (double)n_samples);
        long block = g / task->batch, pos = g % task->batch - task->batch_begin;
        if (pos < 0 || pos >= task->local_batch)
            continue;
        size_t row = (size_t)block * (size_t)task->local_batch + (size_t)pos;
        dk_load_block(task->dtype, task->train_x, row * (size_t)d, (size_t)d, x + (size_t)j * d);
    }
}

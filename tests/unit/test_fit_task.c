/* The fit task's data shards and loss, with ranks simulated by the rank/world_size
 * settings: whatever the world size, the shards put together must be the single-rank
 * data bit for bit, and the per-rank losses and gradients must add up to the global ones. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/dk_rng.h"
#include "tasks/dk_csv.h"
#include "tasks/dk_fit_functions.h"
#include "tasks/dk_fit_task.h"

enum { MAX_RANKS = 4 };

static dk_fit_task_settings builtin(const char *function, long train, long test, long batch)
{
    dk_fit_task_settings s = {0};
    s.dtype = DK_F64;
    s.seed = 42;
    s.function = function;
    s.csv = "";
    s.train_size = train;
    s.test_size = test;
    s.batch = batch;
    s.lo = -1.0;
    s.hi = 1.0;
    s.rank = 0;
    s.world_size = 1;
    return s;
}

static dk_fit_task *create(const dk_fit_task_settings *s)
{
    dk_fit_task *t = NULL;
    dk_err err = dk_fit_task_create(&t, s);
    if (err)
        fail_msg("dk_fit_task_create failed: %s", dk_error_message());
    assert_non_null(t);
    return t;
}

/* A CSV file of rows identifiable by value: row i, column c holds i + c / 8 (exact in
 * binary), so every value tells which file row it came from. */
static char csv_path[64];
static const int csv_cols = 5, csv_targets = 2;
static const long csv_rows = 23;

static int write_csv(void **state)
{
    strcpy(csv_path, "/tmp/dk_test_fit_task_XXXXXX");
    int fd = mkstemp(csv_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "a,b,c,u,v\n");
    for (long i = 0; i < csv_rows; i++)
        for (int c = 0; c < csv_cols; c++)
            fprintf(f, "%.17g%s", (double)i + c / 8.0, c + 1 < csv_cols ? "," : "\n");
    fclose(f);
    return 0;
}

static int remove_csv(void **state)
{
    unlink(csv_path);
    return 0;
}

static dk_fit_task_settings csv_settings(long train, long test, long batch)
{
    dk_fit_task_settings s = builtin("", train, test, batch);
    s.csv = csv_path;
    s.target_columns = csv_targets;
    return s;
}

/* Rank shards, put together block by block in rank order, equal the one-rank data. */
static void assert_shards_concatenate(dk_fit_task_settings s)
{
    s.rank = 0;
    s.world_size = 1;
    dk_fit_task *ref = create(&s);
    size_t es = dk_dtype_size(s.dtype);
    size_t xrow = (size_t)ref->n_in * es, yrow = (size_t)ref->n_out * es;
    assert_int_equal(ref->local_batch, ref->batch);
    assert_int_equal(ref->local_test, ref->test_size);

    for (int p = 1; p <= MAX_RANKS; p++) {
        dk_fit_task *t[MAX_RANKS];
        long batch_total = 0, test_total = 0;
        for (int r = 0; r < p; r++) {
            s.rank = r;
            s.world_size = p;
            t[r] = create(&s);
            assert_int_equal(t[r]->batch, ref->batch);
            assert_int_equal(t[r]->n_batches, ref->n_batches);
            assert_int_equal(t[r]->train_size, ref->train_size);
            assert_int_equal(t[r]->test_size, ref->test_size);
            assert_int_equal(t[r]->local_batch,
                             (long)(dk_part_end((size_t)ref->batch, p, r) - dk_part_begin((size_t)ref->batch, p, r)));
            batch_total += t[r]->local_batch;
            test_total += t[r]->local_test;
        }
        assert_int_equal(batch_total, ref->batch);
        assert_int_equal(test_total, ref->test_size);

        for (long q = 0; q < ref->n_batches; q++) {
            size_t row = (size_t)q * (size_t)ref->batch; /* first row of block q in ref */
            for (int r = 0; r < p; r++) {
                size_t mine = (size_t)q * (size_t)t[r]->local_batch, n = (size_t)t[r]->local_batch;
                assert_memory_equal((char *)t[r]->train_x + mine * xrow, (char *)ref->train_x + row * xrow, n * xrow);
                assert_memory_equal((char *)t[r]->train_y + mine * yrow, (char *)ref->train_y + row * yrow, n * yrow);
                row += n;
            }
        }
        size_t row = 0;
        for (int r = 0; r < p; r++) {
            size_t n = (size_t)t[r]->local_test;
            if (n) {
                assert_memory_equal(t[r]->test_x, (char *)ref->test_x + row * xrow, n * xrow);
                assert_memory_equal(t[r]->test_y, (char *)ref->test_y + row * yrow, n * yrow);
            }
            row += n;
        }
        for (int r = 0; r < p; r++)
            dk_fit_task_destroy(&t[r]);
    }
    dk_fit_task_destroy(&ref);
}

static void test_builtin_shards_concatenate_to_single_rank_data(void **state)
{
    assert_shards_concatenate(builtin("exp_sin_sq", 103, 17, 25)); /* 25 = 4 ranks don't divide */
    assert_shards_concatenate(builtin("exp_4d", 64, 3, 0));        /* fewer test rows than ranks */
    assert_shards_concatenate(builtin("exp_100d", 30, 9, 7));
}

static void test_builtin_rows_follow_the_counter_based_formula(void **state)
{
    dk_fit_task_settings s = builtin("exp_sin_sq", 50, 20, 0);
    s.lo = -2.0;
    s.hi = 3.0;
    dk_fit_task *t = create(&s);
    const dk_fit_function *fn = dk_fit_function_find("exp_sin_sq");
    const double *x = t->train_x, *y = t->train_y, *tx = t->test_x, *ty = t->test_y;
    for (long g = 0; g < 50; g++) {
        double p[2];
        for (int d = 0; d < 2; d++) {
            p[d] = -2.0 + 5.0 * dk_rng_uniform(42, DK_STREAM_FIT_TRAIN, (uint64_t)g * 2 + (uint64_t)d);
            assert_true(x[g * 2 + d] == p[d]);
            assert_true(p[d] >= -2.0 && p[d] <= 3.0);
        }
        assert_true(y[g] == fn->eval(p));
    }
    for (long g = 0; g < 20; g++) {
        double p[2];
        for (int d = 0; d < 2; d++) {
            p[d] = -2.0 + 5.0 * dk_rng_uniform(42, DK_STREAM_FIT_TEST, (uint64_t)g * 2 + (uint64_t)d);
            assert_true(tx[g * 2 + d] == p[d]);
        }
        assert_true(ty[g] == fn->eval(p));
    }
    assert_string_equal(t->description, "exp(sin(pi x)+y^2), 2 inputs");
    assert_string_equal(t->warning, "");
    double first[2] = {x[0], x[1]};
    dk_fit_task_destroy(&t);

    /* a different seed gives different samples */
    s.seed = 43;
    t = create(&s);
    assert_false(((double *)t->train_x)[0] == first[0] && ((double *)t->train_x)[1] == first[1]);
    dk_fit_task_destroy(&t);
}

/* pred = target + a deterministic offset of the global row and column. */
static double offset(long g, int j) { return 0.1 * sin(1.0 + (double)g + 0.37 * j); }

static void test_rank_losses_and_gradients_add_up_to_the_global_ones(void **state)
{
    dk_dtype dtypes[2] = {DK_F64, DK_F32};
    for (int k = 0; k < 2; k++) {
        dk_fit_task_settings s = csv_settings(0, 4, 7); /* 19 training rows: 2 batches of 7 */
        s.dtype = dtypes[k];
        size_t es = dk_dtype_size(s.dtype);
        for (long step = 1; step <= 3; step++) {
            double global_loss = 0.0;
            char grad[2 * 7 * 8], one_grad[2 * 7 * 8];
            for (int p = 1; p <= MAX_RANKS; p++) {
                double loss = 0.0;
                size_t filled = 0;
                for (int r = 0; r < p; r++) {
                    s.rank = r;
                    s.world_size = p;
                    dk_fit_task *t = create(&s);
                    assert_int_equal(t->batch, 7);
                    assert_int_equal(t->n_out, 2);
                    const void *x, *y;
                    long rows;
                    dk_fit_task_batch(t, step, &x, &y, &rows);
                    assert_int_equal(rows, t->local_batch);
                    char pred[2 * 7 * 8], dpred[2 * 7 * 8];
                    long g0 = ((step - 1) % t->n_batches) * t->batch + (long)dk_part_begin(7, p, r);
                    for (long i = 0; i < rows; i++)
                        for (int j = 0; j < 2; j++)
                            dk_store(s.dtype, pred, (size_t)(i * 2 + j),
                                     dk_load(s.dtype, y, (size_t)(i * 2 + j)) + offset(g0 + i, j));
                    loss += dk_fit_task_loss(t, rows, pred, y, dpred);
                    memcpy(grad + filled, dpred, (size_t)rows * 2 * es);
                    filled += (size_t)rows * 2 * es;
                    if (p == 1) {
                        /* independent reference: the mean of squared errors over the batch */
                        double sum = 0.0;
                        for (long i = 0; i < rows; i++)
                            for (int j = 0; j < 2; j++) {
                                double d = dk_load(s.dtype, pred, (size_t)(i * 2 + j)) -
                                           dk_load(s.dtype, y, (size_t)(i * 2 + j));
                                sum += d * d;
                                double want = 2.0 * d / 14.0;
                                double got = dk_load(s.dtype, dpred, (size_t)(i * 2 + j));
                                assert_true(fabs(got - want) <= (k ? 1e-7 : 1e-15) * fabs(want));
                            }
                        assert_true(fabs(loss - sum / 14.0) <= 1e-15 * sum);
                        assert_true(fabs(dk_fit_task_sse(t, rows, pred, y) - sum) <= 1e-15 * sum);
                    }
                    dk_fit_task_destroy(&t);
                }
                assert_int_equal(filled, 7 * 2 * es);
                if (p == 1) {
                    global_loss = loss;
                    memcpy(one_grad, grad, filled);
                } else {
                    assert_true(fabs(loss - global_loss) <= 1e-14 * global_loss);
                    assert_memory_equal(grad, one_grad, filled);
                }
            }
        }
    }
}

static void test_loss_accepts_null_gradient(void **state)
{
    dk_fit_task_settings s = builtin("sin_pi", 8, 0, 4);
    dk_fit_task *t = create(&s);
    const void *x, *y;
    long rows;
    dk_fit_task_batch(t, 2, &x, &y, &rows);
    double pred[4];
    for (int i = 0; i < 4; i++)
        pred[i] = ((const double *)y)[i] + 0.5;
    /* each of 4 rows is off by 1/2: sum 4 * 1/4 = 1, over batch 4 */
    assert_true(fabs(dk_fit_task_loss(t, rows, pred, y, NULL) - 0.25) < 1e-15);
    assert_true(dk_fit_task_loss(t, 0, pred, y, NULL) == 0.0);
    assert_true(dk_fit_task_sse(t, 0, pred, y) == 0.0);
    dk_fit_task_destroy(&t);
}

/* Errors whose squares overflow: the half errors and their scaled squares, from which the
 * trainer builds the test RMSE (2 scale sqrt(sum / n)), are exact for the closed form. */
static void test_scaled_errors_do_not_overflow(void **state)
{
    (void)state;
    dk_fit_task_settings s = builtin("sin_pi", 8, 0, 4);
    dk_fit_task *t = create(&s);
    /* errors 3e200, -4e200 (squares overflow), and 1.7e308 - (-1.7e308), which itself does */
    const double pred[3] = {1e200 + 2e200, -1e200 - 3e200, 1.7e308}, target[3] = {0.0, 0.0, -1.7e308};
    assert_true(isinf(dk_fit_task_sse(t, 2, pred, target)));
    const double half = dk_fit_task_largest_half_error(t, 2, pred, target);
    assert_true(fabs(half - 2e200) <= 1e-15 * 2e200);
    const double sum = dk_fit_task_sse_scaled(t, 2, pred, target, half); /* (1.5/2)^2 + 1 */
    assert_true(fabs(sum - 1.5625) <= 1e-15);
    assert_true(fabs(sqrt(sum / 2) * half * 2.0 - sqrt(12.5) * 1e200) <= 1e-14 * 3.6e200); /* sqrt((9 + 16) / 2) */
    assert_true(fabs(dk_fit_task_largest_half_error(t, 3, pred, target) - 1.7e308) <= 1e-15 * 1.7e308);
    dk_fit_task_destroy(&t);
}

static void test_steps_cycle_through_the_blocks(void **state)
{
    dk_fit_task_settings s = builtin("xy", 10, 0, 3); /* 3 blocks of 3, row 9 unused */
    s.world_size = 2;
    s.rank = 1; /* owns rows 1..2 of each block */
    dk_fit_task *t = create(&s);
    assert_int_equal(t->n_batches, 3);
    assert_int_equal(t->local_batch, 2);
    assert_int_equal(t->train_size, 9);
    assert_non_null(strstr(t->warning, "never used"));
    assert_non_null(strstr(t->warning, "10 rows are left for training"));
    assert_non_null(strstr(t->warning, "their first 9, and the last 1 is never used"));
    long want_block[] = {0, 0, 1, 2, 0, 1, 2, 0};
    for (long step = 1; step <= 7; step++) {
        const void *x, *y;
        long rows;
        dk_fit_task_batch(t, step, &x, &y, &rows);
        assert_int_equal(rows, 2);
        long q = want_block[step];
        assert_ptr_equal(x, (const double *)t->train_x + q * 2 * 2);
        assert_ptr_equal(y, (const double *)t->train_y + q * 2);
        /* and the row is global row 3 q + 1 of the sample stream */
        double x0 = -1.0 + 2.0 * dk_rng_uniform(42, DK_STREAM_FIT_TRAIN, (uint64_t)(3 * q + 1) * 2);
        assert_true(((const double *)x)[0] == x0);
    }
    dk_fit_task_destroy(&t);
}

static void test_batch_zero_or_large_means_the_whole_training_set(void **state)
{
    long batches[] = {0, 40, 41, 1000};
    for (int i = 0; i < 4; i++) {
        dk_fit_task_settings s = builtin("sin_pi", 40, 5, batches[i]);
        dk_fit_task *t = create(&s);
        assert_int_equal(t->batch, 40);
        assert_int_equal(t->n_batches, 1);
        assert_int_equal(t->local_batch, 40);
        assert_int_equal(t->train_size, 40);
        /* A batch larger than the data is allowed, and said. */
        if (batches[i] > 40)
            assert_non_null(strstr(t->warning, "is more than the 40 training rows"));
        else
            assert_string_equal(t->warning, "");
        dk_fit_task_destroy(&t);
    }
}

static void test_smaller_batch_makes_several_blocks(void **state)
{
    dk_fit_task_settings s = builtin("sin_pi", 40, 5, 8);
    s.world_size = 3;
    s.rank = 2; /* rows [5, 8) of each block of 8 */
    dk_fit_task *t = create(&s);
    assert_int_equal(t->batch, 8);
    assert_int_equal(t->n_batches, 5);
    assert_int_equal(t->local_batch, 3);
    assert_string_equal(t->warning, "");
    const double *x = t->train_x;
    for (long q = 0; q < 5; q++)
        for (long i = 0; i < 3; i++) {
            long g = q * 8 + 5 + i;
            assert_true(x[q * 3 + i] == -1.0 + 2.0 * dk_rng_uniform(42, DK_STREAM_FIT_TRAIN, (uint64_t)g));
        }
    dk_fit_task_destroy(&t);
}

static void test_batch_smaller_than_world_size_is_rejected(void **state)
{
    dk_fit_task_settings s = builtin("sin_pi", 40, 5, 3);
    s.world_size = 4;
    s.rank = 3;
    dk_fit_task *t = NULL;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_null(t);
    assert_non_null(strstr(dk_error_message(), "[train] batch = 3"));
    assert_non_null(strstr(dk_error_message(), "world size 4"));
    /* also when the whole training set is the batch */
    s = builtin("sin_pi", 3, 0, 0);
    s.world_size = 4;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "world size 4"));
}

static void test_float32_rows_are_the_rounded_float64_rows(void **state)
{
    dk_fit_task_settings s = builtin("exp_4d", 60, 10, 20);
    dk_fit_task *t64 = create(&s);
    s.dtype = DK_F32;
    dk_fit_task *t32 = create(&s);
    const dk_fit_function *fn = dk_fit_function_find("exp_4d");
    const double *x64 = t64->train_x;
    const float *x32 = t32->train_x, *y32 = t32->train_y;
    for (long g = 0; g < 60; g++) {
        double p[4];
        for (int d = 0; d < 4; d++) {
            assert_true(x32[g * 4 + d] == (float)x64[g * 4 + d]);
            p[d] = x32[g * 4 + d];
        }
        /* the target is f at the float32 input, rounded once */
        assert_true(y32[g] == (float)fn->eval(p));
    }
    const float *tx32 = t32->test_x;
    const double *tx64 = t64->test_x;
    for (long i = 0; i < 40; i++)
        assert_true(tx32[i] == (float)tx64[i]);
    dk_fit_task_destroy(&t64);
    dk_fit_task_destroy(&t32);
    /* and its shards concatenate like the float64 ones */
    assert_shards_concatenate(s);
}

static void test_csv_shards_concatenate_to_single_rank_data(void **state)
{
    assert_shards_concatenate(csv_settings(0, 5, 6)); /* 18 training rows: 3 blocks of 6 */
    assert_shards_concatenate(csv_settings(10, 3, 0));
    dk_fit_task_settings s = csv_settings(0, 2, 5); /* 21 rows: 4 blocks of 5, 1 unused */
    s.dtype = DK_F32;
    assert_shards_concatenate(s);
}

static void test_csv_rows_follow_the_seeded_permutation(void **state)
{
    dk_fit_task_settings s = csv_settings(0, 5, 6);
    dk_fit_task *t = create(&s);
    assert_int_equal(t->n_in, 3);
    assert_int_equal(t->n_out, 2);
    assert_int_equal(t->train_size, 18);
    assert_int_equal(t->test_size, 5);
    long perm[23];
    dk_csv_permutation(42, csv_rows, perm);
    int seen[23] = {0};
    for (long k = 0; k < 23; k++) {
        int test = k < 5;
        long row = test ? k : k - 5;
        const double *x = (const double *)(test ? t->test_x : t->train_x) + row * 3;
        const double *y = (const double *)(test ? t->test_y : t->train_y) + row * 2;
        long file_row = (long)x[0];
        assert_int_equal(file_row, perm[k]);
        seen[file_row]++;
        for (int c = 0; c < 3; c++)
            assert_true(x[c] == (double)file_row + c / 8.0);
        for (int c = 0; c < 2; c++)
            assert_true(y[c] == (double)file_row + (3 + c) / 8.0);
    }
    for (long i = 0; i < 23; i++)
        assert_int_equal(seen[i], 1); /* every row exactly once, train or test */
    assert_non_null(strstr(t->description, "3 inputs, 2 targets, 23 rows (18 train, 5 test)"));
    assert_non_null(strstr(t->description, csv_path));
    dk_fit_task_destroy(&t);
}

/* A loss that overflows before any update names the CSV's training value of largest
 * magnitude: each rank's is the largest of its own training rows (file row i, column c
 * holds i + c / 8, so it is the highest training row's last column), and the largest over
 * the ranks is that of all training rows, found here from the permutation alone. */
static void test_largest_training_value_is_located_in_the_file(void **state)
{
    long perm[23];
    dk_csv_permutation(42, csv_rows, perm);
    long highest = -1; /* training rows are permuted rows 5.. (test_size 5); 18 rows, 3 blocks of 6 */
    for (long k = 5; k < 23; k++)
        highest = perm[k] > highest ? perm[k] : highest;
    dk_fit_task_settings s = csv_settings(0, 5, 6);
    for (int p = 1; p <= MAX_RANKS; p++) {
        double best = -1.0;
        long best_line = 0;
        for (int r = 0; r < p; r++) {
            s.rank = r;
            s.world_size = p;
            dk_fit_task *t = create(&s);
            const double *x = t->train_x;
            long mine = -1; /* this rank's highest training row, from its data */
            for (long i = 0; i < t->n_batches * t->local_batch; i++)
                mine = (long)x[i * 3] > mine ? (long)x[i * 3] : mine;
            assert_true(t->largest_value == (double)mine + 4 / 8.0);
            assert_int_equal(t->largest_line, mine + 2);
            assert_int_equal(t->largest_column, 4);
            assert_string_equal(t->names[0], "a");
            assert_string_equal(t->names[4], "v");
            if (t->largest_value > best) {
                best = t->largest_value;
                best_line = t->largest_line;
            }
            dk_fit_task_destroy(&t);
        }
        assert_true(best == (double)highest + 0.5);
        assert_int_equal(best_line, highest + 2);
    }
    s = builtin("xy", 10, 0, 0);
    dk_fit_task *t = create(&s);
    assert_int_equal(t->largest_line, 0); /* generated data: no file to point into */
    assert_null(t->names);
    dk_fit_task_destroy(&t);
}

static void test_conflicting_or_missing_sources_are_usage_errors(void **state)
{
    dk_fit_task *t = NULL;
    dk_fit_task_settings s = builtin("xy", 10, 0, 0);
    s.csv = csv_path;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "both"));
    s = builtin("", 10, 0, 0);
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    s = builtin("nope", 10, 0, 0);
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "'nope'"));
    assert_non_null(strstr(dk_error_message(), "exp_sin_sq"));
    s = builtin("xy", 0, 0, 0);
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    s = builtin("xy", 10, 0, 0);
    s.lo = 1.0;
    s.hi = 1.0;
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    s = csv_settings(0, 0, 0);
    s.target_columns = 5; /* no input column left */
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_non_null(strstr(dk_error_message(), "target_columns"));
    s = csv_settings(0, 23, 0); /* nothing left to train on */
    assert_int_equal(dk_fit_task_create(&t, &s), DK_ERR_USAGE);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_shards_concatenate_to_single_rank_data),
        cmocka_unit_test(test_builtin_rows_follow_the_counter_based_formula),
        cmocka_unit_test(test_rank_losses_and_gradients_add_up_to_the_global_ones),
        cmocka_unit_test(test_loss_accepts_null_gradient),
        cmocka_unit_test(test_scaled_errors_do_not_overflow),
        cmocka_unit_test(test_steps_cycle_through_the_blocks),
        cmocka_unit_test(test_batch_zero_or_large_means_the_whole_training_set),
        cmocka_unit_test(test_smaller_batch_makes_several_blocks),
        cmocka_unit_test(test_batch_smaller_than_world_size_is_rejected),
        cmocka_unit_test(test_float32_rows_are_the_rounded_float64_rows),
        cmocka_unit_test(test_csv_shards_concatenate_to_single_rank_data),
        cmocka_unit_test(test_csv_rows_follow_the_seeded_permutation),
        cmocka_unit_test(test_largest_training_value_is_located_in_the_file),
        cmocka_unit_test(test_conflicting_or_missing_sources_are_usage_errors),
    };
    return cmocka_run_group_tests(tests, write_csv, remove_csv);
}

/* dk_deadline: the callback runs once when the time runs out and never when the deadline
 * is stopped first; stop does not wait for the time to run out; stop's answer matches what
 * the callback saw when the two race; bad arguments are refused. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <cmocka.h>

#include "dist/dk_deadline.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

struct record {
    atomic_int calls;
    double at;
};

static void on_expired(void *ctx)
{
    struct record *r = ctx;
    r->at = now();
    atomic_fetch_add(&r->calls, 1);
}

static void test_fires_once_after_the_time(void **state)
{
    (void)state;
    struct record r = {0};
    dk_deadline *d = NULL;
    const double t0 = now();
    assert_int_equal(dk_deadline_start(&d, 0.05, on_expired, &r), DK_OK);
    for (int i = 0; i < 500 && atomic_load(&r.calls) == 0; i++)
        sleep_s(0.01);
    assert_int_equal(atomic_load(&r.calls), 1);
    assert_true(r.at - t0 >= 0.05);
    assert_int_equal(dk_deadline_stop(&d), 1);
    assert_null(d);
    assert_int_equal(atomic_load(&r.calls), 1);
}

static void test_stop_cancels_at_once(void **state)
{
    (void)state;
    struct record r = {0};
    dk_deadline *d = NULL;
    assert_int_equal(dk_deadline_start(&d, 60.0, on_expired, &r), DK_OK);
    sleep_s(0.02);
    const double t0 = now();
    assert_int_equal(dk_deadline_stop(&d), 0);
    /* Far below the 60 s: stop wakes the helper rather than waiting for it. */
    assert_true(now() - t0 < 5.0);
    assert_null(d);
    assert_int_equal(atomic_load(&r.calls), 0);
}

static void test_stop_and_expiry_race_consistently(void **state)
{
    (void)state;
    int fired = 0, cancelled = 0;
    for (int i = 0; i < 200; i++) {
        struct record r = {0};
        dk_deadline *d = NULL;
        assert_int_equal(dk_deadline_start(&d, 0.001, on_expired, &r), DK_OK);
        sleep_s(0.0001 * (i % 20)); /* 0 to 1.9 ms: either side may win */
        const int said = dk_deadline_stop(&d);
        assert_int_equal(said, atomic_load(&r.calls));
        fired += said;
        cancelled += !said;
    }
    printf("race: %d fired, %d cancelled first\n", fired, cancelled);
}

static void test_huge_time_is_never(void **state)
{
    (void)state;
    struct record r = {0};
    dk_deadline *d = NULL;
    assert_int_equal(dk_deadline_start(&d, 1e300, on_expired, &r), DK_OK);
    sleep_s(0.02);
    assert_int_equal(dk_deadline_stop(&d), 0);
    assert_int_equal(atomic_load(&r.calls), 0);
}

static void test_refuses_bad_arguments(void **state)
{
    (void)state;
    struct record r = {0};
    const double bad[] = {0.0, -1.0, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dk_deadline *d = (dk_deadline *)&r; /* must be cleared */
        assert_int_equal(dk_deadline_start(&d, bad[i], on_expired, &r), DK_ERR_INTERNAL);
        assert_null(d);
    }
    dk_deadline *d = NULL;
    assert_int_equal(dk_deadline_start(&d, 1.0, NULL, &r), DK_ERR_INTERNAL);
    assert_null(d);
    assert_int_equal(dk_deadline_stop(&d), 0); /* NULL: nothing to stop */
    dk_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_once_after_the_time),
        cmocka_unit_test(test_stop_cancels_at_once),
        cmocka_unit_test(test_stop_and_expiry_race_consistently),
        cmocka_unit_test(test_huge_time_is_never),
        cmocka_unit_test(test_refuses_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

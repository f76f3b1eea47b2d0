/* The grid-extension schedule: stage lengths and the grid-update rhythm against counts
 * worked out by hand and against the properties the header promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "optim/dk_grid_schedule.h"

static const int sizes[DK_GRID_MAX_STAGES] = {3, 5, 10, 20, 50, 100};

/* An equal split covers the total exactly and no two stages differ by more than one
 * update, for every stage count and many totals. */
static void test_equal_split_properties(void **state)
{
    (void)state;
    int G[DK_GRID_MAX_STAGES];
    for (int i = 0; i < DK_GRID_MAX_STAGES; i++)
        G[i] = 2 + i;
    const long totals[] = {32, 33, 63, 100, 1001, 999999937, 2000000000};
    for (int n = 1; n <= DK_GRID_MAX_STAGES; n++)
        for (size_t t = 0; t < sizeof totals / sizeof totals[0]; t++) {
            dk_grid_schedule s;
            dk_grid_schedule_plan(&s, n, G, totals[t], 0, NULL, 0, 0);
            assert_int_equal(s.n_stages, n);
            assert_int_equal(dk_grid_schedule_total(&s), totals[t]);
            for (int i = 0; i < n; i++) {
                assert_int_equal(s.G[i], G[i]);
                assert_true(s.updates[i] == totals[t] / n || s.updates[i] == totals[t] / n + 1);
            }
        }
}

/* 10 updates over 3 stages: 3, 3, 4 (floor(10/3) = 3, floor(20/3) - 3 = 3, 10 - 6 = 4). */
static void test_equal_split_by_hand(void **state)
{
    (void)state;
    dk_grid_schedule s;
    dk_grid_schedule_plan(&s, 3, sizes, 10, 0, NULL, 0, 0);
    assert_true(s.updates[0] == 3 && s.updates[1] == 3 && s.updates[2] == 4);
    dk_grid_schedule_plan(&s, 4, sizes, 6, 0, NULL, 0, 0); /* 1, 2, 1, 2: spread, not bunched at the end */
    assert_true(s.updates[0] == 1 && s.updates[1] == 2 && s.updates[2] == 1 && s.updates[3] == 2);
}

static void test_given_lengths(void **state)
{
    (void)state;
    dk_grid_schedule s;
    const int one[] = {250}, each[] = {100, 400, 1500};
    dk_grid_schedule_plan(&s, 3, sizes, 750, 1, one, 0, 0);
    assert_true(s.updates[0] == 250 && s.updates[1] == 250 && s.updates[2] == 250);
    assert_int_equal(dk_grid_schedule_total(&s), 750);
    dk_grid_schedule_plan(&s, 3, sizes, 2000, 3, each, 0, 0);
    assert_true(s.updates[0] == 100 && s.updates[1] == 400 && s.updates[2] == 1500);
    assert_true(s.G[0] == 3 && s.G[1] == 5 && s.G[2] == 10);
    /* Lengths that miss the total are planned as given: the config rule reports them. */
    dk_grid_schedule_plan(&s, 3, sizes, 10, 1, one, 0, 0);
    assert_int_equal(dk_grid_schedule_total(&s), 750);
}

/* pykan's fit: an update when step % grid_update_freq == 0 and step < stop_grid_update_step. */
static void test_update_rhythm(void **state)
{
    (void)state;
    dk_grid_schedule s;
    dk_grid_schedule_plan(&s, 1, sizes, 100, 0, NULL, 0, 0);
    for (long u = 0; u < 100; u++)
        assert_false(dk_grid_schedule_update_due(&s, u)); /* update_every = 0: never */
    dk_grid_schedule_plan(&s, 1, sizes, 100, 0, NULL, 5, 0);
    int count = 0;
    for (long u = 0; u < 100; u++) {
        assert_int_equal(dk_grid_schedule_update_due(&s, u), u % 5 == 0);
        count += dk_grid_schedule_update_due(&s, u);
    }
    assert_int_equal(count, 20);
    dk_grid_schedule_plan(&s, 1, sizes, 100, 0, NULL, 5, 10); /* before updates 0 and 5 only */
    for (long u = 0; u < 100; u++)
        assert_int_equal(dk_grid_schedule_update_due(&s, u), u == 0 || u == 5);
    dk_grid_schedule_plan(&s, 1, sizes, 100, 0, NULL, 1, 3); /* every update below 3 */
    for (long u = 0; u < 10; u++)
        assert_int_equal(dk_grid_schedule_update_due(&s, u), u < 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_split_properties),
        cmocka_unit_test(test_equal_split_by_hand),
        cmocka_unit_test(test_given_lengths),
        cmocka_unit_test(test_update_rhythm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

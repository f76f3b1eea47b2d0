/* Learning-rate schedules against values worked out from the header's formulas by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_asserts.h"

#include "optim/dk_lr_schedule.h"


static const double tight = 1e-15;

static void test_constant_is_lr_everywhere(void **state)
{
    (void)state;
    const dk_lr_schedule s = {.kind = DK_LR_CONSTANT, .lr = 0.03, .lr_min = 0.001,
                              .gamma = 0.5, .step_every = 3, .warmup = 0, .total = 100};
    const long steps[] = {1, 2, 50, 99, 100, 101, 100000};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++)
        assert_true(dk_lr_at(&s, steps[k]) == 0.03);
}

static void test_cosine_start_middle_end(void **state)
{
    (void)state;
    /* S = total - warmup = 100 and s = step - 1. */
    const dk_lr_schedule s = {.kind = DK_LR_COSINE, .lr = 0.1, .lr_min = 0.001, .total = 100};
    assert_close_abs(dk_lr_at(&s, 1), 0.1, tight);                  /* s = 0: cos 0 = 1 */
    assert_close_abs(dk_lr_at(&s, 26), 0.0855017856687341, 1e-15);  /* s = S/4: (1 + 1/sqrt2)/2 */
    assert_close_abs(dk_lr_at(&s, 51), (0.1 + 0.001) / 2, tight);   /* s = S/2: cos(pi/2) = 0 */
    /* The last update of the run, s = 99: lr_min + (lr - lr_min) sin^2(pi/200)
     * = 0.001 + 0.099 * 0.000246719817 = 0.00102442526, just above lr_min. */
    assert_close_abs(dk_lr_at(&s, 100), 0.0010244252618962857, 1e-15);
    /* The end of the schedule, s = S (step total + 1), is lr_min exactly. */
    assert_true(dk_lr_at(&s, 101) == 0.001);
    /* Strictly decreasing over the run. */
    for (long t = 2; t <= 101; t++)
        assert_true(dk_lr_at(&s, t) < dk_lr_at(&s, t - 1));
}

static void test_cosine_after_warmup(void **state)
{
    (void)state;
    /* warmup 10, total 110: S = 100, the cosine starts at step 11. */
    const dk_lr_schedule s = {.kind = DK_LR_COSINE, .lr = 0.1, .lr_min = 0.001, .warmup = 10,
                              .total = 110};
    assert_close_abs(dk_lr_at(&s, 1), 0.01, tight);
    assert_close_abs(dk_lr_at(&s, 10), 0.1, tight);
    assert_close_abs(dk_lr_at(&s, 11), 0.1, tight);
    assert_close_abs(dk_lr_at(&s, 61), 0.0505, tight);
    assert_close_abs(dk_lr_at(&s, 110), 0.0010244252618962857, 1e-15);
    assert_true(dk_lr_at(&s, 111) == 0.001);
}

static void test_step_decay_boundaries(void **state)
{
    (void)state;
    /* lr * gamma^floor((step-1)/10): steps 1..10 at 1, 11..20 at 0.5, 21..30 at 0.25. */
    const dk_lr_schedule s = {.kind = DK_LR_STEP, .lr = 1.0, .gamma = 0.5, .step_every = 10,
                              .total = 100};
    assert_true(dk_lr_at(&s, 1) == 1.0);
    assert_true(dk_lr_at(&s, 10) == 1.0);
    assert_true(dk_lr_at(&s, 11) == 0.5);
    assert_true(dk_lr_at(&s, 20) == 0.5);
    assert_true(dk_lr_at(&s, 21) == 0.25);
    assert_true(dk_lr_at(&s, 100) == 0.001953125); /* floor(99/10) = 9: 2^-9 */

    /* With warm-up 5 the decay clock starts at step 6: 6..15 at lr, 16.. at lr gamma. */
    dk_lr_schedule w = s;
    w.warmup = 5;
    assert_close_abs(dk_lr_at(&w, 5), 1.0, tight);
    assert_true(dk_lr_at(&w, 6) == 1.0);
    assert_true(dk_lr_at(&w, 15) == 1.0);
    assert_true(dk_lr_at(&w, 16) == 0.5);

    /* step_every <= 0 means no decay. */
    dk_lr_schedule never = s;
    never.step_every = 0;
    assert_true(dk_lr_at(&never, 1000) == 1.0);
}

static void test_warmup_ramps_linearly_to_lr(void **state)
{
    (void)state;
    /* lr * step / warmup: 0.05, 0.10, 0.15, 0.20, then the schedule proper. */
    const dk_lr_kind kinds[] = {DK_LR_CONSTANT, DK_LR_COSINE, DK_LR_STEP};
    for (size_t k = 0; k < 3; k++) {
        const dk_lr_schedule s = {.kind = kinds[k], .lr = 0.2, .lr_min = 0.0, .gamma = 0.1,
                                  .step_every = 50, .warmup = 4, .total = 100};
        assert_close_abs(dk_lr_at(&s, 1), 0.05, tight);
        assert_close_abs(dk_lr_at(&s, 2), 0.10, tight);
        assert_close_abs(dk_lr_at(&s, 3), 0.15, tight);
        assert_true(dk_lr_at(&s, 4) == 0.2); /* exactly lr at the end of warm-up */
        assert_true(dk_lr_at(&s, 5) == 0.2); /* first decay step: s = 0 */
        /* Steps before the first are treated as step 1. */
        assert_close_abs(dk_lr_at(&s, 0), 0.05, tight);
        assert_close_abs(dk_lr_at(&s, -3), 0.05, tight);
    }
}

static void test_beyond_total_clamps_to_the_end_value(void **state)
{
    (void)state;
    const dk_lr_schedule cosine = {.kind = DK_LR_COSINE, .lr = 0.1, .lr_min = 0.002,
                                   .warmup = 5, .total = 45};
    const dk_lr_schedule step = {.kind = DK_LR_STEP, .lr = 1.0, .gamma = 0.5, .step_every = 10,
                                 .total = 35};
    const long beyond[] = {1, 2, 3, 40, 1000, 1000000};
    for (size_t k = 0; k < sizeof beyond / sizeof beyond[0]; k++) {
        /* cosine: without the clamp it would climb back towards lr after s = S. */
        assert_true(dk_lr_at(&cosine, 45 + beyond[k]) == 0.002);
        /* step: the end value is s = S = 35, floor(35/10) = 3, 1 * 0.5^3; no further decay. */
        assert_true(dk_lr_at(&step, 35 + beyond[k]) == 0.125);
    }
}

static void test_total_not_beyond_warmup_has_no_decay_phase(void **state)
{
    (void)state;
    dk_lr_schedule s = {.kind = DK_LR_COSINE, .lr = 0.1, .lr_min = 0.01, .gamma = 0.5,
                        .step_every = 1, .warmup = 10, .total = 10};
    assert_close_abs(dk_lr_at(&s, 10), 0.1, tight);
    assert_true(dk_lr_at(&s, 11) == 0.01); /* the cosine end value */
    /* total < warmup: warm-up still runs its course, then the end value. */
    s.total = 5;
    assert_close_abs(dk_lr_at(&s, 7), 0.07, tight);
    assert_true(dk_lr_at(&s, 12) == 0.01);
    s.kind = DK_LR_STEP;
    assert_true(dk_lr_at(&s, 12) == 0.1); /* S = 0: gamma^0 */
    s.kind = DK_LR_CONSTANT;
    assert_true(dk_lr_at(&s, 12) == 0.1);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(dk_lr_kind_name(DK_LR_CONSTANT), "constant");
    assert_string_equal(dk_lr_kind_name(DK_LR_COSINE), "cosine");
    assert_string_equal(dk_lr_kind_name(DK_LR_STEP), "step");
    assert_string_equal(dk_lr_kind_name((dk_lr_kind)42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_is_lr_everywhere),
        cmocka_unit_test(test_cosine_start_middle_end),
        cmocka_unit_test(test_cosine_after_warmup),
        cmocka_unit_test(test_step_decay_boundaries),
        cmocka_unit_test(test_warmup_ramps_linearly_to_lr),
        cmocka_unit_test(test_beyond_total_clamps_to_the_end_value),
        cmocka_unit_test(test_total_not_beyond_warmup_has_no_decay_phase),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Built-in fit targets against values worked out by hand from their closed forms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_asserts.h"

#include "tasks/dk_fit_functions.h"

static const dk_fit_function *get(const char *name, int dim)
{
    const dk_fit_function *f = dk_fit_function_find(name);
    assert_non_null(f);
    assert_string_equal(f->name, name);
    assert_int_equal(f->dim, dim);
    return f;
}


static void test_exp_sin_sq_matches_closed_form(void **state)
{
    const dk_fit_function *f = get("exp_sin_sq", 2);
    /* sin(pi/2) = 1, 1^2 = 1 -> e^2; sin(pi/6) = 1/2, (1/2)^2 -> e^{3/4}; sin(-pi/2) = -1, 0 -> 1/e */
    assert_close_rel(f->eval((double[]){0.5, 1.0}), exp(2.0), 1e-15);
    assert_close_rel(f->eval((double[]){1.0 / 6.0, 0.5}), exp(0.75), 1e-15);
    assert_close_rel(f->eval((double[]){-0.5, 0.0}), exp(-1.0), 1e-15);
    assert_close_rel(f->eval((double[]){0.0, 0.0}), 1.0, 1e-15);
}

static void test_xy_is_the_product(void **state)
{
    const dk_fit_function *f = get("xy", 2);
    assert_true(f->eval((double[]){3.0, -2.0}) == -6.0);
    assert_true(f->eval((double[]){0.25, 0.5}) == 0.125);
}

static void test_sin_pi_matches_closed_form(void **state)
{
    const dk_fit_function *f = get("sin_pi", 1);
    assert_close_rel(f->eval((double[]){0.5}), 1.0, 1e-15);
    assert_close_rel(f->eval((double[]){1.0 / 6.0}), 0.5, 1e-15);
    assert_close_rel(f->eval((double[]){-0.25}), -sqrt(0.5), 1e-15);
    assert_close_rel(f->eval((double[]){1.0}), 0.0, 1e-15);
}

static void test_exp_4d_matches_closed_form(void **state)
{
    const dk_fit_function *f = get("exp_4d", 4);
    /* x1^2 + x2^2 = 1/2 gives sin(pi/2) = 1; zeros give sin(0) = 0. */
    assert_close_rel(f->eval((double[]){0.5, 0.5, 0.0, 0.0}), exp(0.5), 1e-15);
    assert_close_rel(f->eval((double[]){0.5, 0.5, 0.5, 0.5}), exp(1.0), 1e-15);
    assert_close_rel(f->eval((double[]){0.0, 0.0, 0.0, 0.0}), 1.0, 1e-15);
    /* x1^2 + x2^2 = 3/2 gives sin(3 pi/2) = -1 */
    assert_close_rel(f->eval((double[]){1.0, sqrt(0.5), 0.0, 0.0}), exp(-0.5), 1e-14);
}

static void test_exp_100d_matches_closed_form(void **state)
{
    const dk_fit_function *f = get("exp_100d", 100);
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 1.0; /* sin^2(pi/2) = 1 for every input: mean 1 */
    assert_close_rel(f->eval(x), exp(1.0), 1e-15);
    for (int i = 0; i < 100; i++)
        x[i] = 0.0;
    assert_close_rel(f->eval(x), 1.0, 1e-15);
    for (int i = 0; i < 100; i++)
        x[i] = i < 25 ? 1.0 : 0.5; /* 25 ones and 75 halves: (25 + 75/2) / 100 = 0.625 */
    assert_close_rel(f->eval(x), exp(0.625), 1e-14);
}

static void test_bessel_j0_matches_known_values(void **state)
{
    const dk_fit_function *f = get("bessel_j0", 1);
    assert_close_rel(f->eval((double[]){0.0}), 1.0, 1e-15);
    /* J0(1) = 0.76519768655796655 (Abramowitz & Stegun table 9.1) */
    assert_close_rel(f->eval((double[]){0.05}), 0.76519768655796655, 1e-14);
    /* first zero of J0 is 2.404825557695773 */
    assert_true(fabs(f->eval((double[]){2.404825557695773 / 20.0})) < 1e-13);
}

static void test_gaussian_matches_closed_form(void **state)
{
    const dk_fit_function *f = get("gaussian", 2);
    assert_close_rel(f->eval((double[]){0.0, 0.0}), 1.0, 1e-15);
    assert_close_rel(f->eval((double[]){1.0, -1.0}), exp(-2.0), 1e-15);
}

static void test_find_returns_null_for_unknown_names(void **state)
{
    assert_null(dk_fit_function_find("no_such_function"));
    assert_null(dk_fit_function_find(""));
    assert_null(dk_fit_function_find(NULL));
    assert_null(dk_fit_function_find("XY")); /* names are case-sensitive */
}

static void test_table_entries_are_complete_and_unique(void **state)
{
    int count = 0;
    for (const dk_fit_function *f = dk_fit_functions; f->name; f++, count++) {
        assert_non_null(f->formula);
        assert_true(strlen(f->formula) > 0);
        assert_true(f->dim >= 1);
        assert_non_null(f->eval);
        assert_ptr_equal(dk_fit_function_find(f->name), f);
        for (const dk_fit_function *g = dk_fit_functions; g != f; g++)
            assert_string_not_equal(g->name, f->name);
    }
    assert_true(count >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_sin_sq_matches_closed_form),
        cmocka_unit_test(test_xy_is_the_product),
        cmocka_unit_test(test_sin_pi_matches_closed_form),
        cmocka_unit_test(test_exp_4d_matches_closed_form),
        cmocka_unit_test(test_exp_100d_matches_closed_form),
        cmocka_unit_test(test_bessel_j0_matches_known_values),
        cmocka_unit_test(test_gaussian_matches_closed_form),
        cmocka_unit_test(test_find_returns_null_for_unknown_names),
        cmocka_unit_test(test_table_entries_are_complete_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

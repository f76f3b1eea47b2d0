/* Adam against the closed form of the header, evaluated independently here in long double
 * (m/bc1, sqrt(v/bc2), pow for beta^t), and against numbers worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "test_asserts.h"

#include "optim/dk_adam.h"


static const dk_adam_settings torch_defaults = {
    .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.0};

/* The header's update for one element, written as the paper writes it:
 *   g' = g + wd p;  m = b1 m + (1-b1) g';  v = b2 v + (1-b2) g'^2;
 *   p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps). */
typedef struct ref_state {
    long double p, m, v;
} ref_state;

static void ref_update(ref_state *r, long double g, long t, long double lr,
                       const dk_adam_settings *s)
{
    const long double b1 = s->beta1, b2 = s->beta2;
    const long double gw = g + (long double)s->weight_decay * r->p;
    r->m = b1 * r->m + (1.0L - b1) * gw;
    r->v = b2 * r->v + (1.0L - b2) * gw * gw;
    const long double m_hat = r->m / (1.0L - powl(b1, (long double)t));
    const long double v_hat = r->v / (1.0L - powl(b2, (long double)t));
    r->p -= lr * m_hat / (sqrtl(v_hat) + (long double)s->eps);
}

static void test_three_steps_match_closed_form(void **state)
{
    (void)state;
    enum { N = 3, STEPS = 3 };
    const double lr = 0.1;
    double p[N] = {1.0, -2.0, 0.5};
    const double g[STEPS][N] = {{0.5, -1.0, 2.0}, {1.0, 0.5, -1.0}, {-0.25, 0.25, 3.0}};
    ref_state ref[N];
    for (int i = 0; i < N; i++)
        ref[i] = (ref_state){.p = p[i], .m = 0, .v = 0};

    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, DK_F64, N, &torch_defaults), DK_OK);
    for (int t = 1; t <= STEPS; t++) {
        dk_adam_step(adam, p, g[t - 1], lr);
        assert_int_equal(adam->step, t);
        for (int i = 0; i < N; i++) {
            ref_update(&ref[i], g[t - 1][i], t, lr, &torch_defaults);
            assert_close_abs(p[i], ref[i].p, 1e-14);
            assert_close_abs(((double *)adam->m)[i], ref[i].m, 1e-16);
            assert_close_abs(((double *)adam->v)[i], ref[i].v, 1e-18);
        }
        if (t == 1) {
            /* By hand: after step 1, m = 0.1 g and v = 0.001 g^2, and bc1 = 0.1, bc2 = 0.001
             * undo exactly that, so m_hat = g, v_hat = g^2 and every parameter moves by
             * lr * g / (|g| + eps) = lr * sign(g) * (1 - eps/|g|), about lr:
             *   p0 = 1 - 0.1 * 0.5 / 0.50000001 = 0.900000002 (0.90000000199999996...)
             *   p1 = -2 + 0.1 * 1 / 1.00000001 = -1.900000001
             *   p2 = 0.5 - 0.1 * 2 / 2.00000001 = 0.4000000005 */
            assert_close_abs(p[0], 0.90000000199999996, 1e-15);
            assert_close_abs(p[1], -1.900000001, 1e-15);
            assert_close_abs(p[2], 0.4000000005, 1e-15);
        }
        if (t == 2) {
            /* By hand, element 0 (g = 0.5 then 1.0):
             *   m = 0.9 * 0.05 + 0.1 * 1 = 0.145,  v = 0.999 * 0.00025 + 0.001 * 1 = 0.00124975
             *   bc1 = 1 - 0.81 = 0.19,  bc2 = 1 - 0.998001 = 0.001999
             *   m_hat = 0.7631578947, v_hat = 0.6251875938, sqrt(v_hat) = 0.7906880...
             *   p = 0.900000002 - 0.1 * 0.7631578947 / 0.7906880 = 0.8034818006... */
            assert_close_abs(((double *)adam->m)[0], 0.145, 1e-15);
            assert_close_abs(((double *)adam->v)[0], 0.00124975, 1e-17);
            assert_close_abs(p[0], 0.80348180063850872, 1e-14);
        }
    }
    /* Third step, from a high-precision evaluation of the same recurrence. */
    assert_close_abs(p[0], 0.74462112825555603, 1e-14);
    assert_close_abs(p[1], -1.8672274111845649, 1e-14);
    assert_close_abs(p[2], 0.30983427866210458, 1e-14);
    dk_adam_destroy(&adam);
    assert_null(adam);
}

static void test_first_step_is_lr_whatever_the_gradient_scale(void **state)
{
    (void)state;
    /* Adam's first step is lr * sign(g) for |g| >> eps: the gradient scale cancels. */
    enum { N = 4 };
    double p[N] = {0, 0, 0, 0};
    const double g[N] = {1e-3, -1e3, 7.0, -0.02};
    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, DK_F64, N, &torch_defaults), DK_OK);
    dk_adam_step(adam, p, g, 0.01);
    for (int i = 0; i < N; i++)
        assert_close_abs(p[i], g[i] > 0 ? -0.01 : 0.01, 0.01 * 1e-5);
    dk_adam_destroy(&adam);
}

static void test_weight_decay_is_added_to_the_gradient(void **state)
{
    (void)state;
    enum { N = 3, STEPS = 4 };
    const dk_adam_settings s = {.beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1};
    const double lr = 0.05;
    double p[N] = {2.0, -1.0, 0.3};
    const double g[N] = {0.0, 0.4, -0.05};
    ref_state ref[N];
    for (int i = 0; i < N; i++)
        ref[i] = (ref_state){.p = p[i], .m = 0, .v = 0};
    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, DK_F64, N, &s), DK_OK);
    for (int t = 1; t <= STEPS; t++) {
        dk_adam_step(adam, p, g, lr);
        for (int i = 0; i < N; i++) {
            ref_update(&ref[i], g[i], t, lr, &s);
            assert_close_abs(p[i], ref[i].p, 1e-14);
        }
        if (t == 1) {
            /* By hand, element 0 has no loss gradient: g' = 0.1 * 2 = 0.2, so the first step
             * is lr * 0.2 / (0.2 + 1e-6) = 0.05 * 0.999995000025 = 0.04999975000125 towards 0. */
            assert_close_abs(p[0], 2.0 - 0.04999975000125, 1e-14);
        }
    }
    /* Without the penalty element 0 would not move at all. */
    assert_true(p[0] < 2.0 - 0.15);
    dk_adam_destroy(&adam);
}

/* A smooth, sign-varying sequence away from zero so relative errors are meaningful. */
static double wave(int i, int t, double scale) { return scale * (1.5 + sin(0.7 * i + 1.3 * t)); }

static void test_float32_matches_float64(void **state)
{
    (void)state;
    enum { N = 37, STEPS = 10 }; /* 37: not a multiple of any vector width, exercises the tail */
    const dk_adam_settings s = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
    double p64[N], g64[N];
    float p32[N], g32[N];
    for (int i = 0; i < N; i++) {
        p64[i] = (i % 2 ? -1.0 : 1.0) * (1.0 + 0.1 * i);
        p32[i] = (float)p64[i];
    }
    dk_adam *a64 = NULL, *a32 = NULL;
    assert_int_equal(dk_adam_create(&a64, DK_F64, N, &s), DK_OK);
    assert_int_equal(dk_adam_create(&a32, DK_F32, N, &s), DK_OK);
    assert_int_equal(a32->dtype, DK_F32);
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++) {
            /* The gradient is exactly representable in both, so only arithmetic differs. */
            g32[i] = (float)((i % 3 ? 1.0 : -1.0) * wave(i, t, 0.5));
            g64[i] = (double)g32[i];
        }
        dk_adam_step(a64, p64, g64, 1e-3);
        dk_adam_step(a32, p32, g32, 1e-3);
    }
    for (int i = 0; i < N; i++) {
        assert_close_abs(p32[i], p64[i], 1e-6 * fabs(p64[i]));
        const double m64 = ((double *)a64->m)[i], m32 = ((float *)a32->m)[i];
        const double v64 = ((double *)a64->v)[i], v32 = ((float *)a32->v)[i];
        assert_close_abs(m32, m64, 1e-5 * fabs(m64));
        assert_close_abs(v32, v64, 1e-5 * fabs(v64));
    }
    dk_adam_destroy(&a64);
    dk_adam_destroy(&a32);
}

static void test_reset_range_zeroes_only_the_range(void **state)
{
    (void)state;
    enum { N = 8 };
    const double lr = 0.01;
    double p[N], g[N];
    ref_state ref[N];
    for (int i = 0; i < N; i++) {
        p[i] = 0.1 * (i + 1);
        ref[i] = (ref_state){.p = p[i], .m = 0, .v = 0};
    }
    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, DK_F64, N, &torch_defaults), DK_OK);
    for (int t = 1; t <= 2; t++) {
        for (int i = 0; i < N; i++) {
            g[i] = wave(i, t, 1.0);
            ref_update(&ref[i], g[i], t, lr, &torch_defaults);
        }
        dk_adam_step(adam, p, g, lr);
    }
    double m_before[N], v_before[N];
    memcpy(m_before, adam->m, sizeof m_before);
    memcpy(v_before, adam->v, sizeof v_before);

    dk_adam_reset_range(adam, 2, 5);
    const double *m = adam->m, *v = adam->v;
    for (int i = 0; i < N; i++) {
        const int inside = i >= 2 && i < 5;
        assert_true(m_before[i] != 0.0 && v_before[i] != 0.0);
        assert_true(m[i] == (inside ? 0.0 : m_before[i]));
        assert_true(v[i] == (inside ? 0.0 : v_before[i]));
    }
    /* The step counter is global and stays (see dk_adam.c for why). */
    assert_int_equal(adam->step, 2);

    /* The next update continues t = 3 for everyone; the reset elements start from zero
     * moments, exactly as if their reference state had been zeroed in place. */
    for (int i = 2; i < 5; i++)
        ref[i].m = ref[i].v = 0;
    for (int i = 0; i < N; i++) {
        g[i] = wave(i, 3, 1.0);
        ref_update(&ref[i], g[i], 3, lr, &torch_defaults);
    }
    dk_adam_step(adam, p, g, lr);
    for (int i = 0; i < N; i++)
        assert_close_abs(p[i], ref[i].p, 1e-14);

    /* Ranges past the end are clipped; empty ranges are no-ops. */
    memcpy(m_before, adam->m, sizeof m_before);
    dk_adam_reset_range(adam, 6, 100);
    dk_adam_reset_range(adam, 4, 4);
    dk_adam_reset_range(adam, 5, 3);
    for (int i = 0; i < N; i++)
        assert_true(m[i] == (i >= 6 ? 0.0 : m_before[i]));
    dk_adam_destroy(&adam);
}

/* f(p) = sum_i a_i (p_i - c_i)^2 over curvatures spanning four decades; Adam's per-element
 * scaling should bring every coordinate to c_i regardless of a_i. */
static void minimise_quadratic(dk_dtype dtype, double tol)
{
    enum { N = 10, STEPS = 4000 };
    double a[N], c[N];
    for (int i = 0; i < N; i++) {
        a[i] = pow(10.0, -2.0 + 4.0 * i / (N - 1));
        c[i] = (i % 2 ? -1.0 : 1.0) * (0.5 + 0.3 * i);
    }
    double p64[N] = {0}, g64[N];
    float p32[N] = {0}, g32[N];
    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, dtype, N, &torch_defaults), DK_OK);
    for (int t = 1; t <= STEPS; t++) {
        /* A linearly decaying rate removes Adam's steady-state jitter of order lr. */
        const double lr = 0.05 * (1.0 - (double)(t - 1) / STEPS);
        for (int i = 0; i < N; i++) {
            g64[i] = 2.0 * a[i] * (p64[i] - c[i]);
            g32[i] = (float)(2.0 * a[i] * (p32[i] - c[i]));
        }
        if (dtype == DK_F64)
            dk_adam_step(adam, p64, g64, lr);
        else
            dk_adam_step(adam, p32, g32, lr);
    }
    for (int i = 0; i < N; i++)
        assert_close_abs(dtype == DK_F64 ? p64[i] : (double)p32[i], c[i], tol);
    dk_adam_destroy(&adam);
}

static void test_minimises_convex_quadratic_f64(void **state)
{
    (void)state;
    minimise_quadratic(DK_F64, 1e-9);
}

static void test_minimises_convex_quadratic_f32(void **state)
{
    (void)state;
    minimise_quadratic(DK_F32, 1e-5);
}

static void test_create_rejects_bad_settings(void **state)
{
    (void)state;
    static dk_adam sentinel;
    dk_adam *adam = &sentinel; /* must be reset to NULL on failure */
    dk_adam_settings s = torch_defaults;
    s.beta1 = 1.0;
    assert_int_equal(dk_adam_create(&adam, DK_F64, 4, &s), DK_ERR_USAGE);
    assert_null(adam);
    assert_non_null(strstr(dk_error_message(), "beta1"));
    s = torch_defaults;
    s.beta2 = -0.1;
    assert_int_equal(dk_adam_create(&adam, DK_F64, 4, &s), DK_ERR_USAGE);
    s = torch_defaults;
    s.eps = NAN;
    assert_int_equal(dk_adam_create(&adam, DK_F32, 4, &s), DK_ERR_USAGE);
    s = torch_defaults;
    s.weight_decay = -1.0;
    assert_int_equal(dk_adam_create(&adam, DK_F32, 4, &s), DK_ERR_USAGE);
    dk_error_clear();

    /* An empty parameter set is legal and every operation is a no-op. */
    assert_int_equal(dk_adam_create(&adam, DK_F64, 0, &torch_defaults), DK_OK);
    dk_adam_step(adam, NULL, NULL, 0.1);
    dk_adam_reset_range(adam, 0, 10);
    assert_int_equal(adam->step, 1);
    dk_adam_destroy(&adam);
    dk_adam_destroy(&adam); /* destroying twice is harmless */
}

static void test_view_prints_settings_n_and_step(void **state)
{
    (void)state;
    const dk_adam_settings s = {.beta1 = 0.85, .beta2 = 0.995, .eps = 1e-7, .weight_decay = 0.25};
    dk_adam *adam = NULL;
    assert_int_equal(dk_adam_create(&adam, DK_F32, 5, &s), DK_OK);
    float p[5] = {1, 2, 3, 4, 5}, g[5] = {1, 1, 1, 1, 1};
    dk_adam_step(adam, p, g, 1e-3);
    dk_adam_step(adam, p, g, 1e-3);

    captured_text out;
    dk_adam_view(adam, capture_begin(&out));
    char *text = capture_end(&out);
    assert_non_null(strstr(text, "float32"));
    assert_non_null(strstr(text, "5 parameters"));
    assert_non_null(strstr(text, "step 2"));
    assert_non_null(strstr(text, "beta1 0.85"));
    assert_non_null(strstr(text, "beta2 0.995"));
    assert_non_null(strstr(text, "eps 1e-07"));
    assert_non_null(strstr(text, "weight_decay 0.25"));
    free(text);
    dk_adam_destroy(&adam);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_steps_match_closed_form),
        cmocka_unit_test(test_first_step_is_lr_whatever_the_gradient_scale),
        cmocka_unit_test(test_weight_decay_is_added_to_the_gradient),
        cmocka_unit_test(test_float32_matches_float64),
        cmocka_unit_test(test_reset_range_zeroes_only_the_range),
        cmocka_unit_test(test_minimises_convex_quadratic_f64),
        cmocka_unit_test(test_minimises_convex_quadratic_f32),
        cmocka_unit_test(test_create_rejects_bad_settings),
        cmocka_unit_test(test_view_prints_settings_n_and_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

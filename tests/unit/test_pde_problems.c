/* Built-in PDE problems: each source term against finite differences of its exact solution,
 * the residual's partial derivatives against finite differences of the residual, the
 * registry, parameter checks, domains and hand-worked values. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_asserts.h"

#include "common/dk_rng.h"
#include "tasks/dk_pde_problem.h"

static const double pi = 3.14159265358979323846;

/* Parameter sets every problem is checked with: dimensions 1, 3, 10 for the d-dimensional
 * problems, the config defaults and non-default wave numbers for helmholtz2d, several
 * diffusivities for heat_nd. */
static const dk_pde_params param_sets[] = {
    {.dim = 1, .a1 = 1.0, .a2 = 4.0, .wavenumber = 1.0, .diffusivity = 1.0},
    {.dim = 3, .a1 = 2.0, .a2 = 3.0, .wavenumber = 5.0, .diffusivity = 0.1},
    {.dim = 10, .a1 = 0.5, .a2 = 1.5, .wavenumber = 0.3, .diffusivity = 0.5},
};
enum { N_SETS = sizeof(param_sets) / sizeof(param_sets[0]), N_POINTS = 20, MAXN = 16 };


static int inputs_of(const dk_pde_problem *prob, const dk_pde_params *p)
{
    char why[256] = "";
    int n = prob->inputs(p, why, sizeof why);
    if (n < 1 || n > MAXN)
        fail_msg("%s rejected a valid parameter set (dim %d): %s", prob->name, p->dim, why);
    return n;
}

/* A random point strictly inside the box, away from the faces by 2% so that difference
 * stencils stay in the domain. */
static void random_interior(const dk_pde_problem *prob, const dk_pde_params *p, int n, uint64_t k, double *x)
{
    double lo[MAXN], hi[MAXN];
    prob->domain(p, lo, hi);
    for (int a = 0; a < n; a++) {
        double u = 0.02 + 0.96 * dk_rng_uniform(12345, 1000, k * MAXN + (uint64_t)a);
        x[a] = lo[a] + (hi[a] - lo[a]) * u;
    }
}

/* Du[a], D2u[a] of the exact solution by central differences with one Richardson step:
 * D(h) = D + c h^2 + O(h^4), so (4 D(h/2) - D(h)) / 3 = D + O(h^4). */
static void exact_derivatives(const dk_pde_problem *prob, const dk_pde_params *p, int n, const double *x0,
                              double *du, double *d2u)
{
    const double h = 1e-3;
    double x[MAXN];
    memcpy(x, x0, (size_t)n * sizeof *x);
    double u0 = prob->exact(p, x);
    for (int a = 0; a < n; a++) {
        double d1[2], d2[2];
        for (int s = 0; s < 2; s++) {
            double step = s == 0 ? h : 0.5 * h;
            x[a] = x0[a] + step;
            double up = prob->exact(p, x);
            x[a] = x0[a] - step;
            double um = prob->exact(p, x);
            x[a] = x0[a];
            d1[s] = (up - um) / (2.0 * step);
            d2[s] = (up - 2.0 * u0 + um) / (step * step);
        }
        du[a] = (4.0 * d1[1] - d1[0]) / 3.0;
        d2u[a] = (4.0 * d2[1] - d2[0]) / 3.0;
    }
}

static double call_residual(const dk_pde_problem *prob, const dk_pde_params *p, int n, const double *x, double u,
                            const double *du, const double *d2u, double *dr_du, double *dr_ddu, double *dr_dd2u)
{
    /* NaN sentinels: the residual must write every partial it is asked for. */
    *dr_du = NAN;
    for (int a = 0; a < n; a++)
        dr_ddu[a] = dr_dd2u[a] = NAN;
    double r = prob->residual(p, x, u, du, d2u, dr_du, dr_ddu, dr_dd2u);
    assert_true(isfinite(r));
    assert_true(isfinite(*dr_du));
    for (int a = 0; a < n; a++) {
        assert_true(isfinite(dr_ddu[a]));
        assert_true(isfinite(dr_dd2u[a]));
    }
    return r;
}

/* (r(v + h) - r(v - h)) / 2h at (x, u, du, d2u), with v the argument that *v points to: u,
 * one of du or one of d2u, which is set to v + h, then v - h, then back to v. */
static double residual_difference(const dk_pde_problem *prob, const dk_pde_params *p, int n, const double *x,
                                  double *u, double *du, double *d2u, double *v, double h)
{
    double dr_du, dr_ddu[MAXN], dr_dd2u[MAXN];
    const double v0 = *v;
    *v = v0 + h;
    const double rp = call_residual(prob, p, n, x, *u, du, d2u, &dr_du, dr_ddu, dr_dd2u);
    *v = v0 - h;
    const double rm = call_residual(prob, p, n, x, *u, du, d2u, &dr_du, dr_ddu, dr_dd2u);
    *v = v0;
    return (rp - rm) / (2.0 * h);
}

static void test_exact_solutions_satisfy_their_pdes(void **state)
{
    int problems = 0;
    for (int i = 0; dk_pde_problems[i]; i++, problems++) {
        const dk_pde_problem *prob = dk_pde_problems[i];
        for (int s = 0; s < N_SETS; s++) {
            const dk_pde_params *p = &param_sets[s];
            int n = inputs_of(prob, p);
            for (uint64_t k = 0; k < N_POINTS; k++) {
                double x[MAXN], du[MAXN], d2u[MAXN], dr_ddu[MAXN], dr_dd2u[MAXN], dr_du;
                double zero[MAXN] = {0};
                random_interior(prob, p, n, k + 100 * (uint64_t)s, x);
                exact_derivatives(prob, p, n, x, du, d2u);
                double u = prob->exact(p, x);
                double r = call_residual(prob, p, n, x, u, du, d2u, &dr_du, dr_ddu, dr_dd2u);
                /* The size of the terms that cancel: |r(x,0,0,0)| (the source) plus every
                 * term dr/dv * v, exact for the linear operators here. */
                double source = call_residual(prob, p, n, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u);
                double scale = fabs(source) + fabs(dr_du * u);
                for (int a = 0; a < n; a++)
                    scale += fabs(dr_ddu[a] * du[a]) + fabs(dr_dd2u[a] * d2u[a]);
                /* Difference rounding is about eps |u| / h^2 ~ 1e-9 |u| per D2u term; a source
                 * term wrong in its 4th digit leaves a residual of ~1e-5 of the scale. */
                if (!(fabs(r) < 1e-7 * scale + 1e-12))
                    fail_msg("%s (param set %d, point %d): residual %.3g of terms of size %.3g", prob->name, s,
                             (int)k, r, scale);
            }
        }
    }
    assert_int_equal(problems, 4);
}

static void test_residual_partials_match_differences(void **state)
{
    const double h = 1e-3;
    for (int i = 0; dk_pde_problems[i]; i++) {
        const dk_pde_problem *prob = dk_pde_problems[i];
        for (int s = 0; s < N_SETS; s++) {
            const dk_pde_params *p = &param_sets[s];
            int n = inputs_of(prob, p);
            for (uint64_t k = 0; k < 5; k++) {
                double x[MAXN], du[MAXN], d2u[MAXN], g_ddu[MAXN], g_dd2u[MAXN], g_du;
                random_interior(prob, p, n, 7000 + k, x);
                /* Arbitrary (u, Du, D2u): the residual must be right away from the solution too. */
                uint64_t c = 0;
                double u = 4.0 * dk_rng_uniform(1, 1001, k * 1000 + c++) - 2.0;
                for (int a = 0; a < n; a++) {
                    du[a] = 4.0 * dk_rng_uniform(1, 1001, k * 1000 + c++) - 2.0;
                    d2u[a] = 4.0 * dk_rng_uniform(1, 1001, k * 1000 + c++) - 2.0;
                }
                call_residual(prob, p, n, x, u, du, d2u, &g_du, g_ddu, g_dd2u);
                assert_close_rel(g_du, residual_difference(prob, p, n, x, &u, du, d2u, &u, h), 1e-8);
                for (int a = 0; a < n; a++) {
                    assert_close_rel(g_ddu[a], residual_difference(prob, p, n, x, &u, du, d2u, &du[a], h), 1e-8);
                    assert_close_rel(g_dd2u[a], residual_difference(prob, p, n, x, &u, du, d2u, &d2u[a], h), 1e-8);
                }
            }
        }
    }
}

static void test_registry_finds_every_problem_by_name(void **state)
{
    const char *expected[] = {"poisson2d", "helmholtz2d", "poisson_nd", "heat_nd"};
    char names[256];
    dk_pde_problem_names(names, sizeof names);
    assert_string_equal(names, "poisson2d, helmholtz2d, poisson_nd, heat_nd");
    for (int i = 0; i < 4; i++) {
        const dk_pde_problem *prob = dk_pde_problem_find(expected[i]);
        assert_non_null(prob);
        assert_string_equal(prob->name, expected[i]);
        assert_ptr_equal(prob, dk_pde_problems[i]);
        assert_true(strlen(prob->summary) > 20);
        assert_null(strchr(prob->summary, '\n'));
    }
    assert_null(dk_pde_problems[4]);
    assert_null(dk_pde_problem_find("poisson3d"));
    assert_null(dk_pde_problem_find("Poisson2d"));
    assert_null(dk_pde_problem_find(""));
    assert_null(dk_pde_problem_find(NULL));

    /* A short buffer is truncated and still terminated. */
    char small[8];
    memset(small, 'x', sizeof small);
    dk_pde_problem_names(small, sizeof small);
    assert_string_equal(small, "poisson");
}

static void assert_rejected(const char *name, dk_pde_params p, const char *mentions)
{
    char why[256] = "";
    int n = dk_pde_problem_find(name)->inputs(&p, why, sizeof why);
    if (n != -1)
        fail_msg("%s accepted bad parameters (returned %d)", name, n);
    if (!strstr(why, mentions))
        fail_msg("%s: reason \"%s\" does not mention \"%s\"", name, why, mentions);
}

static void test_inputs_count_and_reject_bad_parameters(void **state)
{
    dk_pde_params ok = {.dim = 7, .a1 = 1.0, .a2 = 4.0, .wavenumber = 1.0, .diffusivity = 0.25};
    char why[64];
    assert_int_equal(dk_pde_problem_find("poisson2d")->inputs(&ok, why, sizeof why), 2);
    assert_int_equal(dk_pde_problem_find("helmholtz2d")->inputs(&ok, why, sizeof why), 2);
    assert_int_equal(dk_pde_problem_find("poisson_nd")->inputs(&ok, why, sizeof why), 7);
    assert_int_equal(dk_pde_problem_find("heat_nd")->inputs(&ok, why, sizeof why), 8);
    dk_pde_params big = ok;
    big.dim = 1000;
    assert_int_equal(dk_pde_problem_find("poisson_nd")->inputs(&big, why, sizeof why), 1000);
    assert_int_equal(dk_pde_problem_find("heat_nd")->inputs(&big, why, sizeof why), 1001);
    assert_true(1001 <= DK_PDE_MAX_DIM);

    dk_pde_params p = ok;
    const int bad_dim[] = {-1, 0, 1001, 1 << 30};
    for (int i = 0; i < 4; i++) {
        p.dim = bad_dim[i];
        assert_rejected("poisson_nd", p, "dim");
        assert_rejected("heat_nd", p, "dim");
    }

    p = ok;
    /* 1e308 is finite, but its decay rate kappa pi^2 is not (initial values NaN). */
    const double bad_kappa[] = {0.0, -1.0, NAN, INFINITY, 1e308};
    for (int i = 0; i < 5; i++) {
        p.diffusivity = bad_kappa[i];
        assert_rejected("heat_nd", p, "diffusivity");
    }
    p.diffusivity = 1e307; /* kappa pi^2 = 9.9e307: finite, accepted */
    assert_int_equal(dk_pde_problem_find("heat_nd")->inputs(&p, why, sizeof why), 8);

    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++) {
        p = ok;
        p.a1 = bad[i];
        assert_rejected("helmholtz2d", p, "finite");
        p = ok;
        p.a2 = bad[i];
        assert_rejected("helmholtz2d", p, "finite");
        p = ok;
        p.wavenumber = bad[i];
        assert_rejected("helmholtz2d", p, "finite");
    }
    /* Finite, but their squares are not (the source term would be inf or NaN). */
    p = ok;
    p.wavenumber = 1e200;
    assert_rejected("helmholtz2d", p, "squares stay finite");
    p = ok;
    p.a1 = -1e160;
    assert_rejected("helmholtz2d", p, "squares stay finite");
    /* Problems without parameters ignore them. */
    p.dim = -5;
    assert_int_equal(dk_pde_problem_find("poisson2d")->inputs(&p, NULL, 0), 2);
}

/* helmholtz2d at a Dirichlet eigenvalue of the square, (pi^2/4)(m^2 + n^2), has no unique
 * solution: the header warns, naming m and n; near one (1e-3 in units of pi^2/4) too;
 * elsewhere nothing. */
static void test_helmholtz_resonance_is_a_caveat(void **state)
{
    (void)state;
    const dk_pde_problem *h = dk_pde_problem_find("helmholtz2d");
    const double pi = 3.14159265358979323846;
    dk_pde_params p = {.a1 = 1.0, .a2 = 1.0};
    char text[400];
    const struct { double k; int says; const char *mentions; } cases[] = {
        {pi * sqrt(2.0), 1, "equals the Dirichlet eigenvalue (pi^2/4)(m^2 + n^2) = 19.7392 (m = 2, n = 2)"},
        {-pi / sqrt(2.0), 1, "(m = 1, n = 1)"},
        {pi / 2.0 * sqrt(13.0), 1, "(m = 2, n = 3)"},
        {pi / 2.0 * sqrt(13.0 + 5e-4), 1, "lies close to"},
        {pi / 2.0 * sqrt(13.0 + 5e-3), 0, ""},
        {1.0, 0, ""},
        {0.0, 0, ""},
        /* At large k the values m^2 + n^2 lie about 1 apart: only k^2 close to one in those
         * units is flagged (a relative 0.1% flagged nearly every k above 100). */
        {pi / 2.0 * sqrt(2002001.0), 1, "equals"}, /* 1000^2 + 1001^2 */
        {pi / 2.0 * sqrt(2002001.5), 0, ""},
        {pi / 2.0 * sqrt(2e12), 0, ""}, /* beyond the search */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p.wavenumber = cases[i].k;
        text[0] = '\0';
        const int says = h->caveat(&p, text, sizeof text);
        if (says != cases[i].says || !strstr(text, cases[i].mentions))
            fail_msg("k = %.17g: caveat %d (\"%s\"), expected %d mentioning \"%s\"", cases[i].k, says, text,
                     cases[i].says, cases[i].mentions);
    }
    assert_null(dk_pde_problem_find("poisson2d")->caveat);
}

static void check_box(const char *name, const dk_pde_params *p, int n, double lo_want, double hi_want,
                      int no_data_axis)
{
    const dk_pde_problem *prob = dk_pde_problem_find(name);
    assert_int_equal(prob->inputs(p, NULL, 0), n);
    double lo[MAXN], hi[MAXN];
    prob->domain(p, lo, hi);
    for (int a = 0; a < n; a++) {
        assert_true(lo[a] == lo_want);
        assert_true(hi[a] == hi_want);
        assert_true(prob->boundary_face(p, a, false));
        assert_true(prob->boundary_face(p, a, true) == (a != no_data_axis));
    }
}

static void test_domains_and_boundary_faces_are_as_documented(void **state)
{
    dk_pde_params p = {.dim = 3, .a1 = 1.0, .a2 = 4.0, .wavenumber = 1.0, .diffusivity = 1.0};
    check_box("poisson2d", &p, 2, -1.0, 1.0, -1);
    check_box("helmholtz2d", &p, 2, -1.0, 1.0, -1);
    check_box("poisson_nd", &p, 3, 0.0, 1.0, -1);
    /* heat_nd: [0,1]^3 x [0,1], the final time t = 1 (axis 3, upper) carries no data. */
    check_box("heat_nd", &p, 4, 0.0, 1.0, 3);
    p.dim = 1;
    check_box("heat_nd", &p, 2, 0.0, 1.0, 1);
}

static void test_poisson2d_matches_hand_values(void **state)
{
    const dk_pde_problem *prob = dk_pde_problem_find("poisson2d");
    dk_pde_params p = {0};
    double dr_du, dr_ddu[2], dr_dd2u[2], zero[2] = {0, 0};
    /* (1/2, 1/2): u = sin(pi/2) sin(pi/4) = 1/sqrt 2;
     * f = -pi^2 (1 + 1) (1/sqrt 2) + 2 pi (1/sqrt 2) = (2 pi - 2 pi^2) / sqrt 2 */
    double x[2] = {0.5, 0.5};
    assert_close_rel(prob->exact(&p, x), 0.70710678118654752, 1e-15);
    double f = (2.0 * pi - 2.0 * pi * pi) * 0.70710678118654752;
    assert_close_rel(f, -9.5148454611, 1e-10);
    /* r = u_xx + u_yy - f, so at u = 0 the residual is -f. */
    assert_close_rel(prob->residual(&p, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u), -f, 1e-14);
    assert_true(dr_du == 0.0 && dr_ddu[0] == 0.0 && dr_ddu[1] == 0.0 && dr_dd2u[0] == 1.0 && dr_dd2u[1] == 1.0);
    /* (1/2, 1): u = sin(pi/2) sin(pi) = 0, f = 0 + 2 pi cos(pi) = -2 pi. */
    x[1] = 1.0;
    assert_true(fabs(prob->exact(&p, x)) < 1e-15);
    assert_close_rel(prob->residual(&p, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u), 2.0 * pi, 1e-14);
    /* (1/2, 1/2) with u_xx, u_yy from the closed forms: -pi^2 u and
     * 2 pi cos(pi/4) - 4 pi^2 (1/4) sin(pi/4): the residual vanishes. */
    x[1] = 0.5;
    double s = 0.70710678118654752;
    double d2u[2] = {-pi * pi * s, 2.0 * pi * s - pi * pi * s};
    assert_true(fabs(prob->residual(&p, x, s, zero, d2u, &dr_du, dr_ddu, dr_dd2u)) < 1e-13);
}

static void test_helmholtz2d_matches_hand_values(void **state)
{
    const dk_pde_problem *prob = dk_pde_problem_find("helmholtz2d");
    dk_pde_params p = {.a1 = 1.0, .a2 = 4.0, .wavenumber = 1.0};
    double dr_du, dr_ddu[2], dr_dd2u[2], zero[2] = {0, 0};
    /* (1/2, 1/8): u = sin(pi/2) sin(pi/2) = 1, q = (1 - 17 pi^2) */
    double x[2] = {0.5, 0.125};
    assert_close_rel(prob->exact(&p, x), 1.0, 1e-15);
    assert_close_rel(prob->residual(&p, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u), 17.0 * pi * pi - 1.0, 1e-14);
    assert_true(dr_du == 1.0 && dr_dd2u[0] == 1.0 && dr_dd2u[1] == 1.0 && dr_ddu[0] == 0.0);
    p.wavenumber = 3.0;
    prob->residual(&p, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u);
    assert_true(dr_du == 9.0);
}

static void test_heat_nd_matches_hand_values(void **state)
{
    const dk_pde_problem *prob = dk_pde_problem_find("heat_nd");
    dk_pde_params p = {.dim = 2, .diffusivity = 0.5};
    /* (1/2, 1/6, t = 1): (sin(pi/2) + sin(pi/6)) exp(-pi^2 / 2) = 1.5 exp(-pi^2/2) */
    assert_close_rel(prob->exact(&p, (double[]){0.5, 1.0 / 6.0, 1.0}), 1.5 * exp(-0.5 * pi * pi), 1e-14);
    assert_close_rel(prob->exact(&p, (double[]){0.5, 1.0 / 6.0, 0.0}), 1.5, 1e-15);
    double dr_du, dr_ddu[3], dr_dd2u[3];
    double r = prob->residual(&p, (double[]){0.3, 0.3, 0.3}, 9.0, (double[]){5.0, 6.0, 2.0},
                              (double[]){1.0, 3.0, 100.0}, &dr_du, dr_ddu, dr_dd2u);
    assert_close_rel(r, 2.0 - 0.5 * (1.0 + 3.0), 1e-15); /* u_t - kappa (u_xx + u_yy), u_tt unused */
    assert_true(dr_du == 0.0 && dr_ddu[0] == 0.0 && dr_ddu[1] == 0.0 && dr_ddu[2] == 1.0);
    assert_true(dr_dd2u[0] == -0.5 && dr_dd2u[1] == -0.5 && dr_dd2u[2] == 0.0);
}

static void test_poisson_nd_matches_hand_values(void **state)
{
    const dk_pde_problem *prob = dk_pde_problem_find("poisson_nd");
    dk_pde_params p = {.dim = 3};
    /* sin(pi/2) + sin(pi/6) + sin(0) = 1.5 */
    double x[3] = {1.0, 1.0 / 3.0, 0.0}, zero[3] = {0, 0, 0}, dr_du, dr_ddu[3], dr_dd2u[3];
    assert_close_rel(prob->exact(&p, x), 1.5, 1e-15);
    assert_close_rel(prob->residual(&p, x, 0.0, zero, zero, &dr_du, dr_ddu, dr_dd2u), 1.5 * pi * pi / 4.0, 1e-15);
}

/* Each problem's `params` names exactly the [pde] parameters it reads (the config warns of
 * the others, dk_config_unused.c): changing a parameter it does not list changes neither
 * its inputs, domain, solution nor residual; changing one it lists changes one of them. */
static void test_params_lists_what_each_problem_reads(void **state)
{
    (void)state;
    static const char *const names[] = {"dim", "a1", "a2", "wavenumber", "diffusivity"};
    for (int i = 0; dk_pde_problems[i]; i++) {
        const dk_pde_problem *prob = dk_pde_problems[i];
        assert_non_null(prob->params);
        const dk_pde_params base = {.dim = 2, .a1 = 1.0, .a2 = 4.0, .wavenumber = 1.0, .diffusivity = 0.1};
        for (int k = 0; k < 5; k++) {
            dk_pde_params p = base;
            switch (k) {
            case 0: p.dim = 3; break;
            case 1: p.a1 = 2.5; break;
            case 2: p.a2 = 1.5; break;
            case 3: p.wavenumber = 2.0; break;
            default: p.diffusivity = 0.7; break;
            }
            const size_t len = strlen(names[k]);
            bool listed = false;
            for (const char *q = prob->params; (q = strstr(q, names[k])) != NULL; q += len)
                listed |= (q == prob->params || q[-1] == ' ') && (q[len] == ' ' || q[len] == '\0');
            bool differs = inputs_of(prob, &p) != inputs_of(prob, &base);
            const int n = inputs_of(prob, &base);
            double lo[MAXN], hi[MAXN], lo2[MAXN], hi2[MAXN];
            if (!differs) {
                prob->domain(&base, lo, hi);
                prob->domain(&p, lo2, hi2);
                differs = memcmp(lo, lo2, (size_t)n * sizeof *lo) || memcmp(hi, hi2, (size_t)n * sizeof *hi);
            }
            for (uint64_t pt = 0; pt < N_POINTS && !differs; pt++) {
                double x[MAXN], du[MAXN], d2u[MAXN], g[3 * MAXN];
                random_interior(prob, &base, n, pt, x);
                for (int a = 0; a < n; a++)
                    du[a] = 0.3 + 0.1 * a, d2u[a] = -0.2 * a;
                double r_du;
                const double r1 = prob->residual(&base, x, 0.7, du, d2u, &r_du, g, g + MAXN);
                const double r2 = prob->residual(&p, x, 0.7, du, d2u, &r_du, g, g + MAXN);
                differs = prob->exact(&base, x) != prob->exact(&p, x) || r1 != r2;
            }
            if (listed != differs)
                fail_msg("%s: [pde] %s is %slisted in params (\"%s\") but changing it %s the problem", prob->name,
                         names[k], listed ? "" : "not ", prob->params, differs ? "changes" : "does not change");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_solutions_satisfy_their_pdes),
        cmocka_unit_test(test_residual_partials_match_differences),
        cmocka_unit_test(test_registry_finds_every_problem_by_name),
        cmocka_unit_test(test_params_lists_what_each_problem_reads),
        cmocka_unit_test(test_inputs_count_and_reject_bad_parameters),
        cmocka_unit_test(test_helmholtz_resonance_is_a_caveat),
        cmocka_unit_test(test_domains_and_boundary_faces_are_as_documented),
        cmocka_unit_test(test_poisson2d_matches_hand_values),
        cmocka_unit_test(test_helmholtz2d_matches_hand_values),
        cmocka_unit_test(test_heat_nd_matches_hand_values),
        cmocka_unit_test(test_poisson_nd_matches_hand_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

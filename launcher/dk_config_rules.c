/* The rules across keys, checked once the file and the overrides are read: each error
 * names the key whose value breaks the rule, where that value came from (file and line,
 * --set, or the default) and what the other keys require of it. */
#include "dk_config_schema.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../kernels/dk_bspline.h"
#include "../layers/dk_grid_refine.h"
#include "../layers/dk_network.h"
#include "../tasks/dk_fit_functions.h"
#include "../tasks/dk_pde_problem.h"

/* "fit.ini:7", "--set train.lr=0.5" or, for a default, "fit.ini". */
static void origin_of(const dk_config_load_state *st, int idx, char *buf, size_t n)
{
    int from = st->from[idx];
    if (from > 0)
        snprintf(buf, n, "%s:%d", st->path, from);
    else if (from < 0)
        snprintf(buf, n, "--set %s", st->overrides[-from - 1]);
    else
        snprintf(buf, n, "%s", st->path);
}

static int key_index(const char *section, const char *key)
{
    int idx = dk_config_find_key(section, key);
    if (idx < 0) { /* a typo in this file: fail loudly in every test */
        fprintf(stderr, "distkan: internal error: no config key [%s] %s\n", section, key);
        abort();
    }
    return idx;
}

/* Cross-key rule violation: "<origin>: [sec] key = 'value': <what>". */
static dk_err cross_error(const dk_config_load_state *st, const char *section, const char *key, const char *what)
{
    int idx = key_index(section, key);
    char where[DK_PATH_MAX + 64], value[DK_PATH_MAX + 16];
    origin_of(st, idx, where, sizeof where);
    dk_config_format_key(&dk_config_keys[idx], st->cfg, value, sizeof value);
    DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': %s", where, section, key, value, what);
}

static dk_err check_fit_keys(const dk_config_load_state *st)
{
    const dk_config *cfg = st->cfg;
    char what[1200];
    if (!cfg->csv[0]) {
        const dk_fit_function *f = dk_fit_function_find(cfg->function);
        if (!f) {
            char names[1024];
            dk_config_expect_function(names, sizeof names);
            snprintf(what, sizeof what, "expected a built-in function when [fit] csv is empty, %s", names);
            return dk_error_push(cross_error(st, "fit", "function", what), __FILE__, __LINE__, __func__);
        }
        if (cfg->train_size < 1)
            DK_CALL(cross_error(st, "fit", "train_size",
                                "expected an integer >= 1 for a built-in function (0 = all rows is for csv only)"));
        if (cfg->target_columns != 1) {
            snprintf(what, sizeof what, "expected 1 without [fit] csv: target columns are a CSV file's, and [fit] "
                     "function = %s has one output", f->name);
            DK_CALL(cross_error(st, "fit", "target_columns", what));
        }
        /* Known from the config alone, so say it here with the file and line rather than
         * after the data have been generated. */
        if (cfg->widths[0] != f->dim || cfg->widths[cfg->n_widths - 1] != 1) {
            snprintf(what, sizeof what,
                     "expected widths that start with %d and end with 1: [fit] function = %s maps R^%d to R",
                     f->dim, f->name, f->dim);
            DK_CALL(cross_error(st, "model", "widths", what));
        }
    } else if (cfg->widths[cfg->n_widths - 1] != cfg->target_columns) {
        snprintf(what, sizeof what, "expected the last width to equal [fit] target_columns = %d", cfg->target_columns);
        DK_CALL(cross_error(st, "model", "widths", what));
    }
    return DK_OK;
}

static dk_err check_pde_keys(const dk_config_load_state *st)
{
    const dk_config *cfg = st->cfg;
    const dk_pde_problem *pb = dk_pde_problem_find(cfg->pde_problem);
    char what[1200], why[512] = "";
    if (!pb) { /* the key's own check rejects unknown names; this guards the table */
        dk_config_expect_problem(why, sizeof why);
        snprintf(what, sizeof what, "expected %s", why);
        return dk_error_push(cross_error(st, "pde", "problem", what), __FILE__, __LINE__, __func__);
    }
    /* Every built-in problem is of second order, and a degree-1 spline has no second
     * derivative: the residual would see only the silu branch's curvature (a run of
     * poisson2d stalled at rel L2 0.97 where k = 3 reaches 0.016). */
    if (cfg->k < 2) {
        snprintf(what, sizeof what, "expected k >= 2 for [task] type = pde: a degree-1 spline has zero second "
                 "derivative, so the PDE residual would see only the silu branch");
        DK_CALL(cross_error(st, "model", "k", what));
    }
    dk_pde_params pp = dk_config_pde_params(cfg);
    int inputs = pb->inputs(&pp, why, sizeof why);
    if (inputs < 0) {
        snprintf(what, sizeof what, "cannot be set up with these [pde] parameters: %s", why);
        DK_CALL(cross_error(st, "pde", "problem", what));
    }
    if (cfg->widths[0] != inputs || cfg->widths[cfg->n_widths - 1] != 1) {
        snprintf(what, sizeof what, "expected widths that start with %d and end with 1: [pde] problem = %s has %d input%s "
                 "and a scalar solution",
                 inputs, pb->name, inputs, inputs == 1 ? "" : "s");
        DK_CALL(cross_error(st, "model", "widths", what));
    }
    /* Boundary points go to the faces with data in turn; with fewer points than faces some
     * face would carry no condition and the problem would have no unique solution. */
    int faces = 0;
    for (int a = 0; a < inputs; a++)
        faces += pb->boundary_face(&pp, a, false) + pb->boundary_face(&pp, a, true);
    if (cfg->pde_boundary < faces) {
        snprintf(what, sizeof what, "expected at least %d, one per face that carries boundary data ([pde] problem = %s "
                 "has %d)", faces, pb->name, faces);
        DK_CALL(cross_error(st, "pde", "boundary_points", what));
    }
    return DK_OK;
}

/* What the run's updates are made of, for messages: "[lbfgs] steps = 800". */
static void describe_total(const dk_config *cfg, char *buf, size_t n)
{
    if (cfg->optimizer == DK_OPT_ADAM)
        snprintf(buf, n, "[train] steps = %ld Adam steps", cfg->steps);
    else if (cfg->optimizer == DK_OPT_LBFGS)
        snprintf(buf, n, "[lbfgs] steps = %ld L-BFGS iterations", cfg->lbfgs_steps);
    else
        snprintf(buf, n, "[train] steps = %ld Adam steps + [lbfgs] steps = %ld L-BFGS iterations", cfg->steps,
                 cfg->lbfgs_steps);
}

/* The grid schedule: sizes increase, [model] grid agrees with the first (and is set from
 * it when not given), stage lengths cover exactly the run's updates. */
static dk_err check_grid_keys(const dk_config_load_state *st)
{
    dk_config *cfg = st->cfg;
    char what[1200], total_text[200];
    const int n = cfg->n_grid_schedule;
    if (n == 0) {
        if (cfg->n_grid_steps > 0)
            DK_CALL(cross_error(st, "grid", "steps", "expected no value without a [grid] schedule (one stage)"));
        return DK_OK;
    }
    for (int s = 1; s < n; s++)
        if (cfg->grid_schedule[s] <= cfg->grid_schedule[s - 1]) {
            snprintf(what, sizeof what, "expected strictly increasing grid sizes (entry %d, %d, is not above %d)",
                     s + 1, cfg->grid_schedule[s], cfg->grid_schedule[s - 1]);
            DK_CALL(cross_error(st, "grid", "schedule", what));
        }
    if (st->from[key_index("model", "grid")] != 0 && cfg->grid != cfg->grid_schedule[0]) {
        snprintf(what, sizeof what, "expected the first size of [grid] schedule, %d (or leave [model] grid unset)",
                 cfg->grid_schedule[0]);
        DK_CALL(cross_error(st, "model", "grid", what));
    }
    cfg->grid = cfg->grid_schedule[0];
    const long total = dk_config_total_updates(cfg);
    describe_total(cfg, total_text, sizeof total_text);
    if (cfg->n_grid_steps == 0) {
        if (total < n) {
            snprintf(what, sizeof what, "has %d stages but the run has %ld update%s (%s): every stage needs one",
                     n, total, total == 1 ? "" : "s", total_text);
            DK_CALL(cross_error(st, "grid", "schedule", what));
        }
        return DK_OK;
    }
    if (cfg->n_grid_steps != 1 && cfg->n_grid_steps != n) {
        snprintf(what, sizeof what, "expected one value or one per stage ([grid] schedule has %d stages), found %d",
                 n, cfg->n_grid_steps);
        DK_CALL(cross_error(st, "grid", "steps", what));
    }
    dk_grid_schedule plan;
    dk_config_grid_schedule(cfg, &plan);
    const long sum = dk_grid_schedule_total(&plan);
    if (sum != total) {
        snprintf(what, sizeof what, "the %d stages add up to %ld updates but the run has %ld (%s): make them agree",
                 n, sum, total, total_text);
        DK_CALL(cross_error(st, "grid", "steps", what));
    }
    return DK_OK;
}

/* The knots of the finest grid the run will use must be finite, distinct and usable in the
 * run's precision: a range like [-1e308, 1e308] or [0, 1e-300] passes each number's own
 * check but would fail mid-run with a message that names neither key. */
static dk_err check_grid_range(const dk_config_load_state *st)
{
    const dk_config *cfg = st->cfg;
    int G = cfg->grid;
    for (int s = 0; s < cfg->n_grid_schedule; s++)
        G = cfg->grid_schedule[s] > G ? cfg->grid_schedule[s] : G;
    const double lo = cfg->grid_range[0], hi = cfg->grid_range[1];
    const double h = (hi - lo) / G;
    const double outer = fmax(fabs(lo - cfg->k * h), fabs(hi + cfg->k * h));
    const bool f32 = cfg->precision == DK_F32;
    const double eps = f32 ? FLT_EPSILON : DBL_EPSILON, big = f32 ? FLT_MAX : DBL_MAX;
    char what[400];
    if (!isfinite(hi - lo) || !isfinite(outer) || outer > big / 4) {
        snprintf(what, sizeof what, "expected a range whose extended knots (k = %d spacings beyond each end) are "
                 "finite in %s", cfg->k, f32 ? "float32" : "float64");
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    /* Spacings far above rounding keep the knots distinct; above dk_bspline_min_spacing
     * keep the basis's derivatives, up to order k (and 2, for PDE losses), finite. */
    if (!(h > 64 * eps * outer)) {
        snprintf(what, sizeof what, "expected a wider range: with G = %d the knot spacing %.3g is within 64 roundings "
                 "of %s knots of size %.3g, which would not stay distinct", G, h, f32 ? "float32" : "float64", outer);
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    /* The knots as the run will store them, grid by grid of the schedule (each refined
     * from the one before, then rounded to the run's precision): rounding alone can take a
     * gap of a range just above the limit below it. */
    const double limit = dk_bspline_min_spacing(cfg->k, big);
    int G_at = G, G_prev = cfg->grid;
    double gap = INFINITY, widest = 0.0;
    double *t = NULL, *t_next = NULL;
    DK_CALL(DK_CALLOC(t, (size_t)G + 2 * cfg->k + 1, "the grid's knots"));
    dk_err err = DK_CALLOC(t_next, (size_t)G + 2 * cfg->k + 1, "the grid's knots");
    if (err == DK_OK) {
        dk_bspline_uniform_grid_f64(lo, hi, G_prev, cfg->k, t);
        for (int s = 0; s <= cfg->n_grid_schedule; s++) {
            const int G_s = s == 0 ? G_prev : cfg->grid_schedule[s - 1];
            if (s > 0 && G_s != G_prev) {
                dk_grid_refine_knots(cfg->k, G_prev, t, G_s, t_next);
                double *swap = t;
                t = t_next, t_next = swap;
                G_prev = G_s;
            }
            const int nk = G_prev + 2 * cfg->k + 1;
            for (int m = 0; m < nk; m++) /* stored; the next grid is refined from these */
                t[m] = f32 ? (double)(float)t[m] : t[m];
            dk_knot_spacing sp;
            dk_knots_usable(t, nk, cfg->k, cfg->precision, &sp);
            if (sp.gap < gap)
                gap = sp.gap, G_at = G_prev;
            widest = fmax(widest, sp.widest);
        }
    }
    free(t);
    free(t_next);
    DK_CALL(err);
    if (!(gap >= limit)) {
        snprintf(what, sizeof what, "expected a wider range: with G = %d the knots, as stored in %s, come %.6g apart, "
                 "below the %.6g that k = %d allows, so the basis's derivatives, of order 1/spacing^%d, would overflow",
                 G_at, f32 ? "float32" : "float64", gap, limit, cfg->k, cfg->k > 2 ? cfg->k : 2);
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    /* The first grid is the widest; its pieces are built with powers of the spacing. */
    const double max_limit = dk_bspline_max_spacing(cfg->k, big);
    if (!(widest <= max_limit)) {
        snprintf(what, sizeof what, "expected a narrower range or a larger [model] grid: with G = %d the knots come "
                 "%.6g apart, above the %.6g that k = %d allows in %s (the powers of the spacing in the basis's pieces "
                 "would overflow); scale the inputs (to about [-1, 1])%s", cfg->grid, widest, max_limit, cfg->k,
                 f32 ? "float32" : "float64", f32 ? " or use float64" : "");
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    return DK_OK;
}

dk_err dk_config_check_rules(const dk_config_load_state *st)
{
    const dk_config *cfg = st->cfg;
    char what[1200];
    /* The grid keys first: they set [model] grid from [grid] schedule, whose first size the
     * range's checks start from. */
    DK_CALL(check_grid_keys(st));
    DK_CALL(check_grid_range(st));
    if (cfg->lr_schedule == DK_LR_COSINE && !(cfg->lr_min < cfg->lr)) {
        char lr[32];
        dk_config_format_double(cfg->lr, lr, sizeof lr);
        snprintf(what, sizeof what, "expected a number < [train] lr = %s when lr_schedule = cosine", lr);
        DK_CALL(cross_error(st, "train", "lr_min", what));
    }
    if (cfg->steps > 0 && cfg->warmup_steps >= cfg->steps) {
        snprintf(what, sizeof what, "expected an integer < [train] steps = %ld", cfg->steps);
        DK_CALL(cross_error(st, "train", "warmup_steps", what));
    }
    if (!(cfg->lbfgs_c1 < cfg->lbfgs_c2)) {
        char c1[32];
        dk_config_format_double(cfg->lbfgs_c1, c1, sizeof c1);
        snprintf(what, sizeof what, "expected a number > [lbfgs] c1 = %s (strong Wolfe needs 0 < c1 < c2 < 1)", c1);
        DK_CALL(cross_error(st, "lbfgs", "c2", what));
    }
    if (cfg->task == DK_TASK_FIT)
        DK_CALL(check_fit_keys(st));
    else
        DK_CALL(check_pde_keys(st));
    return DK_OK;
}

#include "dk_lbfgs.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* A pair (s, y) enters the history only when
 *   y.s > DK_LBFGS_CURVATURE_COS * |s| |y|,
 * i.e. when the cosine of the angle between s and y exceeds 1e-10. The test is invariant
 * under scaling f by a constant and x by a constant (torch's absolute y.s > 1e-10 is not:
 * it skips every pair of a loss of size 1e-6 and accepts noise for a loss of size 1e6).
 * A strong-Wolfe step guarantees y.s >= (1 - c2) |g.s| > 0, so the test only rejects pairs
 * from a line search that ran out of evaluations, or pairs where rounding dominates y.s
 * (whose error is about n eps |s| |y|, far below the threshold for any practical n). A
 * rejected pair is skipped; the history keeps its older pairs. */
#define DK_LBFGS_CURVATURE_COS 1e-10

/* Line search safeguards (Nocedal & Wright, Alg. 3.5/3.6):
 *   bracketing grows the step to t_next in [t + 0.1 (t - t_prev), 10 t] (cubic extrapolation,
 *     clamped; the upper end when the cubic has no minimiser). torch's _strong_wolfe clamps
 *     to the same upper end but a lower end of t + 0.01 (t - t_prev), and takes the middle
 *     of the interval, about 5 t, when the cubic has no minimiser; 0.1 makes every
 *     extrapolation grow the step by a real amount, so the budget is not spent creeping
 *     forward, and the upper end reaches a far minimum in fewer evaluations.
 *   zoom keeps the interpolated point at least 10% of the bracket width from either end when
 *     two interpolations in a row land closer than that, or one lands on or outside an end
 *     (minFunc's and torch's rule); towards a non-finite end it bisects. */
#define DK_LBFGS_GROW_MIN 0.1
#define DK_LBFGS_GROW_MAX 10.0
#define DK_LBFGS_ZOOM_MARGIN 0.1

/* The whole state, flat so that a checkpoint can save it as (scalars, history arrays):
 *   pair k (k = 0 the newest, count - 1 the oldest) lives in slot (head - 1 - k) mod history
 *   of s, y and rho; head is the slot the next pair is written to.
 * Everything else (direction, trial point, gradient buffers, alpha, beta) is scratch that
 * is dead between steps. */
struct dk_lbfgs {
    dk_lbfgs_settings settings;
    const dk_vec_ops *ops; /* where s, y, d, x_trial, g_a, g_b live and how they are combined */
    size_t n;
    size_t stride;  /* doubles between history rows: n rounded up to 8 (64-byte rows) */
    int head;       /* next slot to write, in [0, history) */
    int count;      /* pairs stored, in [0, history] */
    long steps;     /* iterations that moved x */
    long evals;     /* objective evaluations over all steps */

    double *s, *y;  /* [history][stride]: s = x_{k+1} - x_k, y = g_{k+1} - g_k (ops memory) */
    double *rho;    /* [history]: 1 / y.s (host) */
    /* The two-loop recursion's scalars, in the ops' memory: on a GPU they never visit the
     * host, so the recursion runs without a synchronisation. */
    double *alpha;  /* [history] */
    double *beta;   /* one */
    double *d;      /* search direction */
    double *x_trial;
    /* Gradients the line search keeps: the trial point's and the bracket's low end's (the
     * best point so far, the one returned). The high end's gradient is never needed: only
     * its t, f and g.d enter the interpolation, and the high end never becomes the low end
     * (Alg. 3.6 replaces the low end only by a new trial point). The low end starts as t = 0,
     * whose gradient is the caller's g, which is only read. */
    double *g_a, *g_b;
    double *vectors; /* the one ops allocation s, y, d, x_trial, g_a and g_b point into */
    double *scalars; /* the ops allocation alpha and beta point into */
};

/* One point on the line x + t d. */
typedef struct line_point {
    double t, f, gtd; /* step, objective, directional derivative g(x + t d).d */
    const double *g;  /* gradient (low end and trial only) */
    int finite;       /* f and gtd are finite */
} line_point;

/* The first failure of the vector operations since the last check (dk_vec_ops.h). */
static dk_err ops_error(const dk_lbfgs *lb)
{
    return lb->ops->error ? lb->ops->error(lb->ops->ctx) : DK_OK;
}

/* The point x + t d. Both the trial evaluation and the final update go through here, so
 * the accepted x is bitwise the point the objective saw. */
static void point_on_line(const dk_lbfgs *lb, double *out, const double *x, double t, const double *d)
{
    lb->ops->line(lb->ops->ctx, lb->n, x, t, d, out);
}

static int slot_of(const dk_lbfgs *lb, int k) { return dk_lbfgs_pair_slot(lb->head, lb->settings.history, k); }

/* Two-loop recursion (Nocedal & Wright, Alg. 7.4): d = -H g with H the L-BFGS inverse
 * Hessian built on H0 = gamma I, gamma = s.y / y.y of the newest pair (eq. 7.20). Its
 * scalars stay in the ops' memory (alpha_j, beta; 1 / gamma = rho y.y in beta too): none
 * of them decides anything, so a device table runs the recursion without waiting. */
static void two_loop(dk_lbfgs *lb, const double *g)
{
    const dk_vec_ops *ops = lb->ops;
    void *ctx = ops->ctx;
    const size_t n = lb->n;
    double *d = lb->d;
    ops->negate(ctx, n, g, d);
    for (int k = 0; k < lb->count; k++) { /* newest to oldest */
        const int j = slot_of(lb, k);
        const double *s = lb->s + (size_t)j * lb->stride, *y = lb->y + (size_t)j * lb->stride;
        ops->dot_into(ctx, n, s, d, lb->rho[j], lb->alpha + j); /* alpha_j = rho_j s_j.d */
        /* d - alpha_j y, written d + (-alpha_j) y: the same rounded value (negation is exact). */
        ops->axpy_by(ctx, n, lb->alpha + j, NULL, y, d);
    }
    const int newest = slot_of(lb, 0);
    const double *y_new = lb->y + (size_t)newest * lb->stride;
    ops->dot_into(ctx, n, y_new, y_new, lb->rho[newest], lb->beta);
    ops->scale_by_inverse(ctx, n, lb->beta, d); /* d = gamma d */
    for (int k = lb->count - 1; k >= 0; k--) { /* oldest to newest */
        const int j = slot_of(lb, k);
        const double *s = lb->s + (size_t)j * lb->stride, *y = lb->y + (size_t)j * lb->stride;
        ops->dot_into(ctx, n, y, d, lb->rho[j], lb->beta); /* beta = rho_j y_j.d */
        ops->axpy_by(ctx, n, lb->alpha + j, lb->beta, s, d); /* d + (alpha_j - beta) s_j */
    }
}

/* Minimiser of the cubic through (t1, f1) and (t2, f2) with slopes g1, g2 (Nocedal & Wright
 * eq. 3.59, written for the point ordering t1 < t2):
 *   d1 = g1 + g2 - 3 (f1 - f2) / (t1 - t2),  d2 = sqrt(d1^2 - g1 g2),
 *   t  = t2 - (t2 - t1) (g2 + d2 - d1) / (g2 - g1 + 2 d2),
 * clamped to [lo, hi]. When the cubic has no local minimiser (d1^2 < g1 g2) or the formula
 * breaks down numerically, returns fallback. On a quadratic the cubic is the quadratic, so
 * the result is its exact minimiser (up to rounding). */
static double cubic_minimiser(double t1, double f1, double g1, double t2, double f2, double g2,
                              double lo, double hi, double fallback)
{
    if (t1 > t2) {
        double tmp = t1; t1 = t2; t2 = tmp;
        tmp = f1; f1 = f2; f2 = tmp;
        tmp = g1; g1 = g2; g2 = tmp;
    }
    const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2);
    const double radicand = d1 * d1 - g1 * g2;
    if (!(radicand >= 0.0))
        return fallback;
    const double d2 = sqrt(radicand);
    const double t = t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2));
    if (!isfinite(t))
        return fallback;
    return t < lo ? lo : (t > hi ? hi : t);
}

typedef struct line_search {
    dk_lbfgs *lb;
    const double *x;
    dk_lbfgs_objective objective;
    void *ctx;
    double f0, gtd0; /* at t = 0 */
    int evals;
} line_search;

/* The gradient buffer not holding the low end's gradient. */
static double *free_buffer(const dk_lbfgs *lb, const line_point *low)
{
    return low->g == lb->g_a ? lb->g_b : lb->g_a;
}

static dk_err evaluate(line_search *ls, double t, double *g, line_point *out)
{
    dk_lbfgs *lb = ls->lb;
    point_on_line(lb, lb->x_trial, ls->x, t, lb->d);
    /* The objective never sees a trial point whose computation failed. */
    DK_CALL(ops_error(lb));
    double f = 0.0;
    DK_CALL(ls->objective(ls->ctx, lb->x_trial, &f, g));
    ls->evals++;
    out->t = t;
    out->f = f;
    out->gtd = lb->ops->dot(lb->ops->ctx, lb->n, g, lb->d);
    /* A failed dot product is NaN, which the search would read as "too far". */
    DK_CALL(ops_error(lb));
    out->g = g;
    out->finite = isfinite(out->f) && isfinite(out->gtd);
    return DK_OK;
}

/* Trial point fails sufficient decrease f(t) <= f0 + c1 t g0.d, or does not improve on the
 * best point so far, or is non-finite ("too far"): it becomes the high end of a bracket. */
static int too_far(const line_search *ls, const line_point *p, const line_point *low)
{
    return !p->finite || p->f > ls->f0 + ls->lb->settings.c1 * p->t * ls->gtd0 || p->f >= low->f;
}

static int curvature_holds(const line_search *ls, const line_point *p)
{
    return fabs(p->gtd) <= -ls->lb->settings.c2 * ls->gtd0;
}

/* Strong-Wolfe line search from t_init along lb->d. On return *low is the accepted point:
 * one satisfying both Wolfe conditions, or, when the evaluation budget runs out or the
 * bracket collapses, the lowest point found that satisfies sufficient decrease, or t = 0
 * (the start) when there is none. */
static dk_err search(line_search *ls, double t_init, line_point *low)
{
    dk_lbfgs *lb = ls->lb;
    const dk_lbfgs_settings *cfg = &lb->settings;
    line_point high = {0};
    int bracketed = 0;

    /* Alg. 3.5: grow t until a trial point is too far (the bracket is [low, t]), satisfies
     * the curvature condition (done), or has a non-negative slope (the bracket is [t, low]).
     * While growing, low is the previous trial point, the best so far. */
    double t = t_init;
    while (ls->evals < cfg->max_evals) {
        line_point p;
        DK_CALL(evaluate(ls, t, free_buffer(lb, low), &p));
        if (too_far(ls, &p, low)) {
            high = p;
            bracketed = 1;
            break;
        }
        if (curvature_holds(ls, &p)) {
            *low = p;
            return DK_OK;
        }
        if (p.gtd >= 0.0) {
            high = *low;
            high.g = NULL;
            *low = p;
            bracketed = 1;
            break;
        }
        const double grow = p.t - low->t;
        const double t_min = p.t + DK_LBFGS_GROW_MIN * grow, t_max = DK_LBFGS_GROW_MAX * p.t;
        t = cubic_minimiser(low->t, low->f, low->gtd, p.t, p.f, p.gtd, t_min, t_max, t_max);
        *low = p;
    }
    if (!bracketed)
        return DK_OK;

    /* Alg. 3.6: shrink the bracket, keeping low the best point satisfying sufficient
     * decrease and high with low.gtd (high.t - low.t) < 0, so a Wolfe point lies between. */
    const double d_max = lb->ops->max_abs(lb->ops->ctx, lb->n, lb->d);
    int near_end_before = 0;
    while (ls->evals < cfg->max_evals) {
        const double a = fmin(low->t, high.t), b = fmax(low->t, high.t);
        /* The bracket's extent in x is below tolerance_change: no further progress to make. */
        if ((b - a) * d_max < cfg->tolerance_change)
            break;
        double trial;
        if (!high.finite) {
            /* Nothing to interpolate towards a non-finite value: bisect. */
            trial = 0.5 * (a + b);
            near_end_before = 0;
        } else {
            trial = cubic_minimiser(low->t, low->f, low->gtd, high.t, high.f, high.gtd, a, b,
                                    0.5 * (a + b));
            const double margin = DK_LBFGS_ZOOM_MARGIN * (b - a);
            if (fmin(b - trial, trial - a) < margin) {
                if (near_end_before || trial >= b || trial <= a) {
                    trial = (b - trial < trial - a) ? b - margin : a + margin;
                    near_end_before = 0;
                } else {
                    near_end_before = 1;
                }
            } else {
                near_end_before = 0;
            }
        }
        /* No representable point strictly inside the bracket. */
        if (!(trial > a && trial < b))
            break;

        line_point p;
        DK_CALL(evaluate(ls, trial, free_buffer(lb, low), &p));
        if (too_far(ls, &p, low)) {
            high = p;
            high.g = NULL;
            continue;
        }
        if (curvature_holds(ls, &p)) {
            *low = p;
            return DK_OK;
        }
        if (p.gtd * (high.t - low->t) >= 0.0) {
            high = *low;
            high.g = NULL;
        }
        *low = p;
    }
    return DK_OK;
}

dk_err dk_lbfgs_create(dk_lbfgs **out, size_t n, const dk_lbfgs_settings *settings)
{
    return dk_lbfgs_create_ops(out, n, settings, dk_vec_ops_cpu());
}

dk_err dk_lbfgs_create_ops(dk_lbfgs **out, size_t n, const dk_lbfgs_settings *settings, const dk_vec_ops *ops)
{
    *out = NULL;
    if (!settings)
        DK_ERROR(DK_ERR_INTERNAL, "lbfgs: no settings given");
    if (!ops)
        ops = dk_vec_ops_cpu();
    const dk_lbfgs_settings *s = settings;
    if (n < 1)
        DK_ERROR(DK_ERR_USAGE, "lbfgs: n = %zu parameters, need at least 1", n);
    if (s->history < 1)
        DK_ERROR(DK_ERR_USAGE, "lbfgs: history = %d must be >= 1", s->history);
    if (s->max_evals < 1)
        DK_ERROR(DK_ERR_USAGE, "lbfgs: max_evals = %d must be >= 1", s->max_evals);
    /* Negated conditions so that NaN fails. */
    if (!(s->c1 > 0.0 && s->c1 < 1.0))
        DK_ERROR(DK_ERR_USAGE, "lbfgs: c1 = %g must lie in (0, 1)", s->c1);
    if (!(s->c2 > 0.0 && s->c2 < 1.0))
        DK_ERROR(DK_ERR_USAGE, "lbfgs: c2 = %g must lie in (0, 1)", s->c2);
    if (!(s->c1 < s->c2))
        DK_ERROR(DK_ERR_USAGE, "lbfgs: c1 = %g must be below c2 = %g", s->c1, s->c2);
    if (!(s->tolerance_grad >= 0.0))
        DK_ERROR(DK_ERR_USAGE, "lbfgs: tolerance_grad = %g must be >= 0", s->tolerance_grad);
    if (!(s->tolerance_change >= 0.0))
        DK_ERROR(DK_ERR_USAGE, "lbfgs: tolerance_change = %g must be >= 0", s->tolerance_change);

    const size_t m = (size_t)s->history;
    if (n > SIZE_MAX / sizeof(double) - 8)
        DK_ERROR(DK_ERR_MEMORY, "lbfgs: %zu parameters overflow the state size", n);
    const size_t stride = (n + 7) / 8 * 8;
    /* Vectors (the ops' memory): s, y: 2 m rows; d, x_trial, g_a, g_b: 4 rows, every row
     * starting on a 64-byte boundary. Scalars: rho (host, m), alpha and beta (the ops'
     * memory, m + 1). */
    const size_t rows = 2 * m + 4;
    if (stride > SIZE_MAX / sizeof(double) / rows)
        DK_ERROR(DK_ERR_MEMORY, "lbfgs: history %d x %zu parameters overflow the state size",
                 s->history, n);

    dk_lbfgs *lb = NULL;
    DK_CALL(DK_CALLOC(lb, 1, "lbfgs optimiser"));
    lb->ops = ops;
    dk_err err = ops->alloc(ops->ctx, rows * stride, &lb->vectors, "lbfgs history");
    if (err == DK_OK)
        err = ops->alloc(ops->ctx, m + 1, &lb->scalars, "lbfgs two-loop scalars");
    if (err == DK_OK)
        err = dk_calloc((void **)&lb->rho, m, sizeof(double), "lbfgs history scalars");
    if (err != DK_OK) {
        dk_lbfgs_destroy(&lb);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    lb->settings = *s;
    lb->n = n;
    lb->stride = stride;
    double *p = lb->vectors;
    lb->s = p;
    p += m * stride;
    lb->y = p;
    p += m * stride;
    lb->d = p;
    p += stride;
    lb->x_trial = p;
    p += stride;
    lb->g_a = p;
    p += stride;
    lb->g_b = p;
    lb->alpha = lb->scalars;
    lb->beta = lb->scalars + m;
    dk_lbfgs_reset(lb);
    *out = lb;
    return DK_OK;
}

void dk_lbfgs_destroy(dk_lbfgs **lb)
{
    if (!lb || !*lb)
        return;
    if ((*lb)->vectors)
        (*lb)->ops->release((*lb)->ops->ctx, (*lb)->vectors);
    if ((*lb)->scalars)
        (*lb)->ops->release((*lb)->ops->ctx, (*lb)->scalars);
    free((*lb)->rho);
    free(*lb);
    *lb = NULL;
}

void dk_lbfgs_reset(dk_lbfgs *lb)
{
    lb->head = 0;
    lb->count = 0;
}

int dk_lbfgs_pairs(const dk_lbfgs *lb) { return lb->count; }

void dk_lbfgs_state_view(dk_lbfgs *lb, dk_lbfgs_state *out)
{
    *out = (dk_lbfgs_state){.history = lb->settings.history, .head = lb->head, .count = lb->count,
                            .steps = lb->steps, .evals = lb->evals, .n = lb->n, .stride = lb->stride,
                            .s = lb->s, .y = lb->y, .rho = lb->rho};
}

dk_err dk_lbfgs_restore_counters(dk_lbfgs *lb, int head, int count, long steps, long evals)
{
    const int h = lb->settings.history;
    if (head < 0 || head >= h || count < 0 || count > h || steps < 0 || evals < 0)
        DK_ERROR(DK_ERR_DATA, "L-BFGS state out of range: head %d and count %d with history %d, %ld steps, %ld evaluations",
                 head, count, h, steps, evals);
    lb->head = head;
    lb->count = count;
    lb->steps = steps;
    lb->evals = evals;
    return DK_OK;
}

void dk_lbfgs_view(const dk_lbfgs *lb, FILE *f)
{
    const dk_lbfgs_settings *s = &lb->settings;
    fprintf(f, "lbfgs: %zu parameters, %d of %d pairs stored, %ld steps, %ld evaluations\n",
            lb->n, lb->count, s->history, lb->steps, lb->evals);
    fprintf(f, "  strong Wolfe c1 %g, c2 %g, at most %d evaluations per line search\n", s->c1,
            s->c2, s->max_evals);
    fprintf(f, "  tolerance_grad %g (max |g_i|), tolerance_change %g (|df| and max |dx_i|)\n",
            s->tolerance_grad, s->tolerance_change);
}

/* Stores the pair (s, y) (already formed as x_new - x and g_new - g in scratch vectors) if
 * it passes the curvature test above; stats = pair_stats(s, y) = {y.s, s.s, y.y, ...}. The
 * scratch keeps a rejected pair from overwriting the oldest stored one. */
static void push_pair(dk_lbfgs *lb, const double *s_new, const double *y_new, const double stats[4])
{
    const dk_vec_ops *ops = lb->ops;
    const size_t n = lb->n;
    const double ys = stats[0], ss = stats[1], yy = stats[2];
    if (!(ys > DK_LBFGS_CURVATURE_COS * sqrt(ss) * sqrt(yy)) || !isfinite(ys))
        return;
    const int j = lb->head;
    ops->copy(ops->ctx, n, s_new, lb->s + (size_t)j * lb->stride);
    ops->copy(ops->ctx, n, y_new, lb->y + (size_t)j * lb->stride);
    lb->rho[j] = 1.0 / ys;
    lb->head = (lb->head + 1) % lb->settings.history;
    if (lb->count < lb->settings.history)
        lb->count++;
}

/* d = -g with the first trial step t = min(1, 1 / sum |g_i|), torch.optim.LBFGS's rule for
 * its first iteration (with lr = 1): the first trial moves x by at most 1 in the l1 norm,
 * whatever the gradient's scale. Returns that t. */
static double steepest_descent(dk_lbfgs *lb, const double *g)
{
    const dk_vec_ops *ops = lb->ops;
    ops->negate(ops->ctx, lb->n, g, lb->d);
    const double l1 = ops->sum_abs(ops->ctx, lb->n, g);
    return fmin(1.0, 1.0 / l1);
}

dk_err dk_lbfgs_step(dk_lbfgs *lb, double *x, double *f, double *g, dk_lbfgs_objective objective, void *ctx,
                     dk_lbfgs_report *report)
{
    const size_t n = lb->n;
    const dk_lbfgs_settings *cfg = &lb->settings;
    *report = (dk_lbfgs_report){.status = DK_LBFGS_PROGRESS, .evals = 0, .step = 0.0,
                                .directional = 0.0};
    const dk_vec_ops *ops = lb->ops;
    const double g_max = ops->max_abs(ops->ctx, n, g);
    DK_CALL(ops_error(lb));
    if (!isfinite(*f) || !isfinite(g_max))
        DK_ERROR(DK_ERR_NUMERIC, "lbfgs: non-finite %s at the start of a step",
                 isfinite(*f) ? "gradient" : "loss");
    if (g_max <= cfg->tolerance_grad) {
        report->status = DK_LBFGS_CONVERGED;
        return DK_OK;
    }

    /* Direction. The quasi-Newton one can fail to descend only through rounding or a
     * history built from a badly scaled problem; steepest descent always descends. */
    double t_init = 1.0;
    if (lb->count > 0) {
        two_loop(lb, g);
    } else {
        t_init = steepest_descent(lb, g);
    }
    double gtd = ops->dot(ops->ctx, n, g, lb->d);
    DK_CALL(ops_error(lb));
    if (!(gtd < 0.0) && lb->count > 0) {
        dk_lbfgs_reset(lb);
        t_init = steepest_descent(lb, g);
        gtd = ops->dot(ops->ctx, n, g, lb->d);
        DK_CALL(ops_error(lb));
    }
    report->directional = gtd;

    line_search ls = {.lb = lb, .x = x, .objective = objective, .ctx = ctx, .f0 = *f,
                      .gtd0 = gtd, .evals = 0};
    line_point low = {.t = 0.0, .f = *f, .gtd = gtd, .g = g, .finite = 1};
    dk_err err = DK_OK;
    if (gtd < 0.0)
        err = search(&ls, t_init, &low);
    report->evals = ls.evals;
    lb->evals += ls.evals;
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);

    if (low.t == 0.0) {
        /* No decrease anywhere along d: x, f and g were never written. The history is
         * dropped so that a retry starts from steepest descent instead of repeating the
         * same failed search bit for bit. */
        report->status = DK_LBFGS_NO_PROGRESS;
        dk_lbfgs_reset(lb);
        /* The zoom's max |d_i| may have failed with no evaluation after it. */
        DK_CALL(ops_error(lb));
        return DK_OK;
    }

    /* Accept: x_trial becomes the accepted point (recomputed as the trial evaluations
     * computed it), then the pair enters the history before x and g are overwritten. The
     * direction d is dead from here on and the gradient buffer not holding low.g is free:
     * they take s = x_new - x and y = g_new - g. */
    point_on_line(lb, lb->x_trial, x, low.t, lb->d);
    double *s_new = lb->d, *y_new = free_buffer(lb, &low);
    ops->sub(ops->ctx, n, lb->x_trial, x, s_new);
    ops->sub(ops->ctx, n, low.g, g, y_new);
    double stats[4]; /* y.s, s.s, y.y, max |s_i|: one wait on a device table */
    ops->pair_stats(ops->ctx, n, s_new, y_new, stats);
    const double dx_max = stats[3];
    push_pair(lb, s_new, y_new, stats);
    const double df = fabs(low.f - *f);
    ops->copy(ops->ctx, n, lb->x_trial, x);
    ops->copy(ops->ctx, n, low.g, g);
    /* x and g are written: a failure above is returned, not hidden behind a report. */
    DK_CALL(ops_error(lb));
    *f = low.f;
    lb->steps++;
    report->step = low.t;
    if (df < cfg->tolerance_change && dx_max < cfg->tolerance_change)
        report->status = DK_LBFGS_NO_PROGRESS;
    return DK_OK;
}

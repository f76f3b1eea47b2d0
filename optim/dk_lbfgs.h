/* L-BFGS with a strong-Wolfe line search, for full-batch losses (PDE residuals, small
 * fits), in float64 whatever the run's precision.
 *
 * Distributed use: every rank calls dk_lbfgs_step with identical x, f and g (the loss and
 * gradient are all-reduced inside the objective), and every decision below depends only on
 * those values, so all ranks evaluate the objective the same number of times at the same
 * points and end every iteration with identical x: no broadcast is needed.
 *
 * One dk_lbfgs_step is one iteration: the two-loop recursion gives a descent direction
 * (initial inverse Hessian gamma I, gamma = s.y / y.y of the newest pair), the line search
 * finds a step t satisfying the strong Wolfe conditions
 *   f(x + t d) <= f(x) + c1 t g.d   and   |g(x + t d).d| <= c2 |g.d|
 * by bracketing and cubic-interpolation zoom (Nocedal & Wright, Alg. 3.5/3.6), and the
 * pair (s, y) = (x_new - x, g_new - g) enters the history when y.s > 1e-10 |s| |y|
 * (curvature condition with a scale-free margin; otherwise the pair is skipped). A
 * non-finite f (or g.d) at a trial point is treated as "too far" and shrinks the step.
 *
 * First trial step: t = 1 when the history holds pairs. With an empty history (the first
 * step, after dk_lbfgs_reset, or after the history was dropped) d = -g and the first trial
 * is t = min(1, 1 / sum |g_i|), torch.optim.LBFGS's first-iteration rule. A quasi-Newton d
 * that is not a descent direction (g.d >= 0, possible with bad curvature or rounding) drops
 * the history and falls back to that steepest-descent step.
 *
 * All memory is allocated by dk_lbfgs_create: steps allocate nothing.
 *
 * Memory spaces. Every O(n) operation goes through a dk_vec_ops table (dk_vec_ops.h), so
 * the same code drives host vectors (dk_lbfgs_create: the CPU table) or GPU vectors
 * (dk_lbfgs_create_ops with a device table, e.g. optim/dk_vec_cuda.h): x and g of
 * dk_lbfgs_step, the x and g the objective receives, and s and y of the state view live in
 * the table's memory; f, the reports, rho and every other scalar live on the host. A
 * failure the table records (a CUDA error inside a dot product) is returned by
 * dk_lbfgs_step with its traceback; x, f and g are then unspecified. With the CPU table
 * the float64 results are those of the plain loops (one sequential sum per dot product).
 */
#ifndef DK_LBFGS_H
#define DK_LBFGS_H

#include <stddef.h>
#include <stdio.h>

#include "../common/dk_error.h"
#include "dk_vec_ops.h"

typedef struct dk_lbfgs_settings {
    int history;             /* pairs kept (pykan/torch: 10 and 100) */
    int max_evals;           /* objective evaluations per line search (>= 1) */
    double c1, c2;           /* Wolfe constants, 0 < c1 < c2 < 1 (1e-4, 0.9) */
    double tolerance_grad;   /* converged when max |g_i| <= tolerance_grad */
    double tolerance_change; /* no progress when |f_new - f| and max |t d_i| are both below it */
} dk_lbfgs_settings;

/* f and g at x: the caller's loss and gradient (already summed over ranks); x and g are n
 * doubles in the vector table's memory. Returning an error aborts the step with that error. */
typedef dk_err (*dk_lbfgs_objective)(void *ctx, const double *x, double *f, double *g);

typedef enum dk_lbfgs_status {
    DK_LBFGS_PROGRESS = 0,   /* took a step */
    DK_LBFGS_CONVERGED,      /* gradient below tolerance_grad at the start: no step taken */
    DK_LBFGS_NO_PROGRESS     /* the line search found no decrease (x, f, g unchanged; the
                                history is dropped so a retry starts with steepest descent),
                                or the step was taken but |f_new - f| and max |x_new_i - x_i|
                                are both below tolerance_change (x, f, g hold the new point) */
} dk_lbfgs_status;

typedef struct dk_lbfgs_report {
    dk_lbfgs_status status;
    int evals;               /* objective evaluations in this step (<= max_evals) */
    double step;             /* accepted t (0 when no step) */
    double directional;      /* g.d at the start of the line search */
} dk_lbfgs_report;

typedef struct dk_lbfgs dk_lbfgs;

/* Host vectors (the CPU table). */
dk_err dk_lbfgs_create(dk_lbfgs **out, size_t n, const dk_lbfgs_settings *settings);
/* Vectors in ops' memory (NULL: the CPU table); ops (a table and its ctx) must outlive the
 * optimiser. */
dk_err dk_lbfgs_create_ops(dk_lbfgs **out, size_t n, const dk_lbfgs_settings *settings, const dk_vec_ops *ops);
void dk_lbfgs_destroy(dk_lbfgs **lb);

/* Forgets the history (after the parameter vector is re-laid out, e.g. a grid change). */
void dk_lbfgs_reset(dk_lbfgs *lb);
/* Correction pairs currently stored, in [0, history]. */
int dk_lbfgs_pairs(const dk_lbfgs *lb);
void dk_lbfgs_view(const dk_lbfgs *lb, FILE *f);

/* The state that lives between steps, for checkpoints: the counters and pointers to the
 * history arrays inside the optimiser (s and y are [history][stride] doubles in the vector
 * table's memory, the row padding beyond n is zero; rho is [history] doubles on the host). A restore fills the arrays through a view
 * and then sets the counters with dk_lbfgs_restore_counters, which checks them. */
typedef struct dk_lbfgs_state {
    int history, head, count;
    long steps, evals;
    size_t n, stride;
    double *s, *y, *rho;
} dk_lbfgs_state;

void dk_lbfgs_state_view(dk_lbfgs *lb, dk_lbfgs_state *out);
/* The slot of s, y and rho that holds pair k (0 = the newest) of a history whose next
 * pair goes to slot head. */
static inline int dk_lbfgs_pair_slot(int head, int history, int k)
{
    return ((head - 1 - k) % history + history) % history;
}
dk_err dk_lbfgs_restore_counters(dk_lbfgs *lb, int head, int count, long steps, long evals);

/* One iteration from x (n values) where the objective is *f with gradient g. On return
 * x, *f and g hold the accepted point (or the best point found); the last call of the
 * objective may have been at another point, so callers that keep the parameters elsewhere
 * must copy x back. The objective is never called with x itself: trial points live in the
 * optimiser's own buffer, and x, f, g are written only when a step is accepted, so they are
 * also unchanged when the objective fails. A non-finite *f or g at the start is a
 * DK_ERR_NUMERIC error (a NaN anywhere in g counts). If the evaluation budget runs out
 * before both Wolfe conditions hold, the lowest point found that satisfies sufficient
 * decrease is accepted. x and g are in the vector table's memory. */
dk_err dk_lbfgs_step(dk_lbfgs *lb, double *x, double *f, double *g, dk_lbfgs_objective objective, void *ctx,
                     dk_lbfgs_report *report);

#endif

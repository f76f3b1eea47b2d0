/* The chained Rosenbrock function, the curved-valley objective of the L-BFGS tests (test
 * code only): f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, minimum 0 at all ones. */
#ifndef DK_TEST_ROSENBROCK_H
#define DK_TEST_ROSENBROCK_H

#include <stddef.h>

/* f(x) for x[0..n), its gradient into g[0..n). */
static inline double rosenbrock_value_grad(size_t n, const double *x, double *g)
{
    double fx = 0.0;
    for (size_t i = 0; i < n; i++)
        g[i] = 0.0;
    for (size_t i = 0; i + 1 < n; i++) {
        const double u = x[i + 1] - x[i] * x[i], v = 1.0 - x[i];
        fx += 100.0 * u * u + v * v;
        g[i] += -400.0 * x[i] * u - 2.0 * v;
        g[i + 1] += 200.0 * u;
    }
    return fx;
}

#endif

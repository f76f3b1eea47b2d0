/* One edge's learned function, for inspection (`distkan functions`): the same formula as
 * the fused kernels, evaluated point by point rather than for a batch. */
#include <math.h>

#include "../kernels/dk_bspline.h"
#include "dk_network.h"

void dk_network_edge_range(const dk_network *net, int l, int i, double *lo, double *hi)
{
    const dk_layer_view *v = &net->layers[l];
    const size_t row = v->grid + (size_t)i * (size_t)v->shape.n_knots;
    *lo = dk_load(net->dtype, net->state, row + (size_t)net->k);
    *hi = dk_load(net->dtype, net->state, row + (size_t)(net->k + net->G));
}

void dk_network_edge(const dk_network *net, int l, int i, int j, double x, double *base, double *spline,
                     double *mask)
{
    const dk_layer_view *v = &net->layers[l];
    const dk_kan_shape *s = &v->shape;
    const size_t edge = (size_t)i * (size_t)s->out + (size_t)j;
    const size_t knots = v->grid + (size_t)i * (size_t)s->n_knots;
    const size_t coef = v->coef + edge * (size_t)s->n_basis;
    double values[DK_MAX_DEGREE + 1];
    int c0;
    if (net->dtype == DK_F64) {
        c0 = dk_bspline_eval_f64((const double *)net->state + knots, s->n_knots, s->k, x, 0, values);
    } else {
        float fvalues[DK_MAX_DEGREE + 1];
        c0 = dk_bspline_eval_f32((const float *)net->state + knots, s->n_knots, s->k, (float)x, 0, fvalues);
        for (int r = 0; c0 >= 0 && r <= s->k; r++)
            values[r] = fvalues[r];
    }
    double sum = 0.0;
    for (int r = 0; c0 >= 0 && r <= s->k; r++)
        sum += dk_load(net->dtype, net->params, coef + (size_t)(c0 + r)) * values[r];
    const double xm = net->dtype == DK_F64 ? x : (double)(float)x;
    *base = dk_load(net->dtype, net->params, v->scale_base + edge) * (xm / (1.0 + exp(-xm)));
    *spline = dk_load(net->dtype, net->params, v->scale_sp + edge) * sum;
    *mask = dk_load(net->dtype, net->state, v->mask + edge);
}

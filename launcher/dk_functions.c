#include "dk_functions.h"

#include <float.h>
#include <math.h>

#include "../layers/dk_network.h"
#include "dk_config.h"
#include "dk_model_file.h"
#include "dk_table_out.h"

/* Rows with a value that overflowed (a --range far beyond the grids: silu(x) grows like
 * x), and the first of them, for the warning. */
typedef struct edge_tally {
    long non_finite;
    int layer, input, output;
    double x;
} edge_tally;

/* Edge functions of a float32 model are written with float32's round-trip precision:
 * more digits would only print the float64 sum's noise. Non-finite values are written as
 * nan, inf or -inf (printf may write -nan, which few readers take). */
static void write_edges(FILE *f, const dk_network *net, const dk_functions_options *o, edge_tally *tally)
{
    const int digits = dk_dtype_digits(net->dtype);
    const int f32 = net->dtype == DK_F32;
    fprintf(f, "layer,input,output,x,phi,base,spline,mask\n");
    for (int l = 0; l < net->n_layers; l++) {
        const dk_kan_shape *s = &net->layers[l].shape;
        for (int i = 0; i < s->in; i++) {
            double lo = o->lo, hi = o->hi;
            if (!o->has_range)
                dk_network_edge_range(net, l, i, &lo, &hi);
            for (int j = 0; j < s->out; j++)
                for (long p = 0; p < o->points; p++) {
                    /* The last point is hi itself, not lo + (hi - lo) rounded; where hi - lo
                     * overflows (a range near the largest doubles), a convex combination. */
                    const double t = (double)p / (double)(o->points - 1);
                    double x = p == o->points - 1 ? hi : isfinite(hi - lo) ? lo + (hi - lo) * t : lo * (1 - t) + hi * t;
                    if (f32) /* the value a float32 model evaluates, and prints */
                        x = (double)(float)x;
                    double base, spline, mask;
                    dk_network_edge(net, l, i, j, x, &base, &spline, &mask);
                    fprintf(f, "%d,%d,%d", l, i, j);
                    /* + 0.0: a zero prints as 0, not -0 (silu(0) times a negative scale) */
                    const double v[] = {x, mask * (base + spline), base, spline, mask};
                    int finite = 1;
                    for (size_t c = 0; c < sizeof v / sizeof *v; c++) {
                        if (isfinite(v[c])) {
                            fprintf(f, ",%.*g", digits, v[c] + 0.0);
                        } else {
                            fprintf(f, ",%s", isnan(v[c]) ? "nan" : v[c] > 0 ? "inf" : "-inf");
                            finite = 0;
                        }
                    }
                    fputc('\n', f);
                    if (!finite && tally->non_finite++ == 0)
                        *tally = (edge_tally){1, l, i, j, x};
                }
        }
    }
}

dk_err dk_functions(const dk_functions_options *o, FILE *report)
{
    if (o->points < 2 || o->points > DK_FUNCTIONS_MAX_POINTS)
        DK_ERROR(DK_ERR_USAGE, "--points %ld: expected an integer in [2, %d]", o->points, DK_FUNCTIONS_MAX_POINTS);
    if (o->has_range && !(isfinite(o->lo) && isfinite(o->hi) && o->lo < o->hi))
        DK_ERROR(DK_ERR_USAGE, "--range %g,%g: expected two finite numbers LO,HI with LO < HI", o->lo, o->hi);
    dk_trained_model model;
    DK_CALL(dk_model_load(o->model, 1, 1, 0, report, &model));
    const dk_network *net = model.net;
    const char *source = model.source;
    dk_table_out out;
    dk_err err = DK_OK;
    if (o->has_range && net->dtype == DK_F32 && (fabs(o->lo) > FLT_MAX || fabs(o->hi) > FLT_MAX))
        err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                           "--range %g,%g is beyond the float32 range of the model in %s (|x| <= %g)", o->lo, o->hi,
                           source, (double)FLT_MAX);
    if (err == DK_OK)
        err = dk_table_out_open(&out, o->out, NULL);
    edge_tally tally = {0};
    if (err == DK_OK) {
        write_edges(out.f, net, o, &tally);
        err = dk_table_out_commit(&out); /* on failure it has removed its partial file */
    }
    if (err == DK_OK) {
        long edges = 0;
        for (int l = 0; l < net->n_layers; l++)
            edges += (long)net->layers[l].shape.in * net->layers[l].shape.out;
        fprintf(report, "distkan: %ld edge functions at %ld points each, from %s\n", edges, o->points, source);
        if (tally.non_finite > 0)
            fprintf(report,
                    "distkan: warning: %ld row%s hold NaN or infinite values (the first: layer %d input %d output %d "
                    "at x = %.17g): silu(x) times scale_base overflows for x this far beyond the grid\n",
                    tally.non_finite, tally.non_finite == 1 ? "" : "s", tally.layer, tally.input, tally.output,
                    tally.x);
    }
    dk_trained_model_free(&model);
    DK_CALL(err);
    return DK_OK;
}

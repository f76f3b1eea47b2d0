#include "dk_predict.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/dk_bspline.h"
#include "../layers/dk_network.h"
#include "../tasks/dk_csv.h"
#include "dk_model_file.h"
#include "dk_table_out.h"

/* Rows per forward call: large enough to keep the kernels' threads busy, small enough
 * that the derivative buffers ([rows][inputs][width] per layer) stay modest. */
enum { PREDICT_BLOCK_ROWS = 4096 };

typedef struct predict_job {
    const dk_network *net;
    int n_in, n_out, n_cols, derivatives;
    const char *const *names; /* the CSV's column names */
    int digits;               /* dk_dtype_digits: every value reads back exactly */
    const char *out_base;     /* the outputs' column names: out_base, or out_base0, out_base1, ... */
    char numbered_base[24];   /* out_base when the usual names are all taken: out_v2, out_v3, ... */
    int version;              /* that base's number (2, 3, ...), 0 for a named base */
} predict_job;

/* Rows whose outputs (or derivatives) came out NaN or infinite: inputs far beyond the
 * grids can overflow silu's linear growth through the layers. */
typedef struct predict_tally {
    /* The squared half errors |y/2 - t/2| against the targets sum to scale^2 * ssq, kept
     * scaled by the largest so far so that errors of 1e200 do not overflow the sum (as in
     * BLAS's nrm2), and halved so that the difference of two finite values near the
     * largest number does not overflow either: the RMSE of finite values is finite unless
     * it exceeds that number itself. */
    double scale, ssq;
    int nan_error, infinite_error; /* an error that was NaN or infinite: the RMSE is too */
    long non_finite;     /* rows with a non-finite value */
    long first_bad_line; /* the first such row's line in the points file */
} predict_tally;

/* Output o's column name: "out" for a single output, else "out0", "out1", ...; of a numbered
 * base, out0_v2, out1_v2, ... (out_v20 would read as version 20). */
static const char *output_name(const predict_job *j, int o, char *buf, size_t n)
{
    if (j->n_out == 1)
        snprintf(buf, n, "%s", j->out_base);
    else if (j->version)
        snprintf(buf, n, "out%d_v%d", o, j->version);
    else
        snprintf(buf, n, "%s%d", j->out_base, o);
    return buf;
}

/* Whether s is the concatenation a b c d e. */
static int is_joined(const char *s, const char *a, const char *b, const char *c, const char *d, const char *e)
{
    const char *parts[] = {a, b, c, d, e};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        const size_t n = strlen(parts[i]);
        if (strncmp(s, parts[i], n) != 0)
            return 0;
        s += n;
    }
    return *s == '\0';
}

/* Whether column name `col` is one the table adds for output `out`: the output itself or,
 * with derivatives, d_out/d_x or d2_out/d_x^2 for an input x. */
static int added_name(const predict_job *j, const char *col, const char *out)
{
    if (!strcmp(col, out))
        return 1;
    for (int a = 0; j->derivatives && a < j->n_in; a++)
        if (is_joined(col, "d_", out, "/d_", j->names[a], "") || is_joined(col, "d2_", out, "/d_", j->names[a], "^2"))
            return 1;
    return 0;
}

/* "out", unless the points file has a column of a name the table would add for it (out or
 * out0, ..., d_out/d_x, ...): then "predicted", then "model_out", then out_v2, out_v3, ...
 * (out0_v2, out1_v2, ... for several outputs), so that no two columns of the table share a
 * name. A column rules out at most one numbered base, so a free base is found well within
 * the bound below; an error, never a clash, if not. */
static dk_err choose_out_base(predict_job *j, const char *points)
{
    static const char *const bases[] = {"out", "predicted", "model_out"};
    const int n_named = (int)(sizeof bases / sizeof *bases), n_tries = n_named + 32 * (j->n_cols + 1);
    char name[64];
    for (int b = 0; b < n_tries; b++) {
        if (b < n_named) {
            j->out_base = bases[b];
        } else {
            j->version = b - n_named + 2;
            snprintf(j->numbered_base, sizeof j->numbered_base, "out_v%d", j->version);
            j->out_base = j->numbered_base;
        }
        int clash = 0;
        for (int o = 0; o < j->n_out && !clash; o++) {
            output_name(j, o, name, sizeof name);
            for (int c = 0; c < j->n_cols && !clash; c++)
                clash = added_name(j, j->names[c], name);
        }
        if (!clash)
            return DK_OK;
    }
    DK_ERROR(DK_ERR_DATA, "%s:1: every name tried for the output columns (out, predicted, model_out, out_v2 to out_v%d) "
             "is taken by a column of the file", points, n_tries - n_named + 1);
}

/* With derivatives the inputs' names label columns the table adds (d_out/d_x): two inputs
 * of one name would give two columns of one name, neither saying which input it is. */
static dk_err check_input_names(const predict_job *j, const char *points)
{
    for (int a = 0; j->derivatives && a < j->n_in; a++)
        for (int b = 0; b < a; b++)
            if (!strcmp(j->names[a], j->names[b]))
                DK_ERROR(DK_ERR_DATA,
                         "%s:1: columns %d and %d are both named '%s': with --derivatives the inputs' names label "
                         "the derivative columns (d_out/d_%s), so they must differ",
                         points, b + 1, a + 1, j->names[a], j->names[a]);
    return DK_OK;
}

static void write_header(FILE *f, const predict_job *j)
{
    char out[32];
    for (int c = 0; c < j->n_cols; c++)
        fprintf(f, "%s%s", c ? "," : "", j->names[c]);
    for (int o = 0; o < j->n_out; o++)
        fprintf(f, ",%s", output_name(j, o, out, sizeof out));
    for (int o = 0; j->derivatives && o < j->n_out; o++) {
        output_name(j, o, out, sizeof out);
        for (int a = 0; a < j->n_in; a++)
            fprintf(f, ",d_%s/d_%s", out, j->names[a]);
        for (int a = 0; a < j->n_in; a++)
            fprintf(f, ",d2_%s/d_%s^2", out, j->names[a]);
    }
    fputc('\n', f);
}

/* Non-finite values as nan, inf and -inf (printf may write -nan, which few readers take). */
static int write_value(FILE *f, int digits, double v)
{
    fputc(',', f);
    if (isfinite(v)) {
        fprintf(f, "%.*g", digits, v);
        return 1;
    }
    fputs(isnan(v) ? "nan" : v > 0 ? "inf" : "-inf", f);
    return 0;
}

/* Writes rows [0, rows) of one block, whose first row is data row `first`: the CSV's
 * values, u [rows][n_out] and, with derivatives, u1 and u2 [rows][n_in][n_out]. Adds the
 * squared errors against the target columns (if any) and the non-finite rows to *t. */
static void write_block(FILE *f, const predict_job *j, long first, long rows, const void *values, const void *u,
                        const void *u1, const void *u2, predict_tally *t)
{
    const dk_dtype dt = j->net->dtype;
    for (long r = 0; r < rows; r++) {
        int finite = 1;
        for (int c = 0; c < j->n_cols; c++) {
            if (c)
                fputc(',', f);
            fprintf(f, "%.*g", j->digits, dk_load(dt, values, (size_t)r * j->n_cols + c));
        }
        for (int o = 0; o < j->n_out; o++) {
            const double y = dk_load(dt, u, (size_t)r * j->n_out + o);
            finite &= write_value(f, j->digits, y);
            if (j->n_cols > j->n_in) {
                const double e = fabs(0.5 * y - 0.5 * dk_load(dt, values, (size_t)r * j->n_cols + j->n_in + o));
                if (isnan(e)) {
                    t->nan_error = 1;
                } else if (isinf(e)) {
                    t->infinite_error = 1;
                } else if (e > t->scale) {
                    t->ssq = 1.0 + t->ssq * (t->scale / e) * (t->scale / e);
                    t->scale = e;
                } else if (e > 0.0) {
                    t->ssq += (e / t->scale) * (e / t->scale);
                }
            }
        }
        for (int o = 0; j->derivatives && o < j->n_out; o++) {
            const size_t at = (size_t)r * j->n_in * j->n_out + o;
            for (int a = 0; a < j->n_in; a++)
                finite &= write_value(f, j->digits, dk_load(dt, u1, at + (size_t)a * j->n_out));
            for (int a = 0; a < j->n_in; a++)
                finite &= write_value(f, j->digits, dk_load(dt, u2, at + (size_t)a * j->n_out));
        }
        fputc('\n', f);
        if (!finite && t->non_finite++ == 0)
            t->first_bad_line = first + r + 2; /* the header is line 1 */
    }
}

/* An input's points outside its first-layer grid [t_k, t_(G+k)]: the model extrapolates there,
 * which a table of plausible numbers does not show (errors of 5 where the grid gave 0.06). */
typedef struct grid_leave {
    long outside;
    double lo, hi; /* the input's range over the points */
} grid_leave;

/* Points just past the grid's ends are no extrapolation worth a warning (a PDE's boundary
 * after grid updates fitted to interior points, test data a hair beyond the training
 * samples' range): a point counts where the spline basis has lost more than this share of
 * its weight, 1 - sum_c B_c(x) (0 on the grid, ((t_k - x)/h)^k / k! within the first
 * extension interval of width h, 1 past the extended grid). */
#define PREDICT_FADE_REPORTED 1e-3

static double basis_fade(const double *t, int n_knots, int k, double x)
{
    double v[DK_MAX_DEGREE + 1];
    if (dk_bspline_eval_f64(t, n_knots, k, x, 0, v) < 0)
        return 1.0;
    double sum = 0.0;
    for (int r = 0; r <= k; r++)
        sum += v[r];
    return 1.0 - sum;
}

/* leave[a] for every input a of the n rows of values [n][n_cols]; t: scratch for a knot row. */
static void count_outside_grid(const predict_job *j, long n, const void *values, double *t, grid_leave *leave)
{
    const dk_network *net = j->net;
    const dk_layer_view *v = &net->layers[0];
    const int n_knots = v->shape.n_knots;
    for (int a = 0; a < j->n_in; a++) {
        dk_load_block(net->dtype, net->state, v->grid + (size_t)a * (size_t)n_knots, (size_t)n_knots, t);
        const double t_lo = t[net->k], t_hi = t[net->k + net->G];
        grid_leave g = {0, INFINITY, -INFINITY};
        for (long r = 0; r < n; r++) {
            /* Values and knots both as the model stores them: float32 points at the grid's ends
             * are the knots themselves, inside. */
            const double x = dk_load(net->dtype, values, (size_t)r * j->n_cols + a);
            if (x < t_lo || x > t_hi)
                g.outside += basis_fade(t, n_knots, net->k, x) > PREDICT_FADE_REPORTED;
            g.lo = fmin(g.lo, x);
            g.hi = fmax(g.hi, x);
        }
        leave[a] = g;
    }
}

/* One warning per input whose points leave its grid, in the words of train's grid_range
 * warning. */
static void warn_outside_grid(const predict_job *j, long n, const grid_leave *leave, const char *points, FILE *report)
{
    const dk_network *net = j->net;
    const dk_layer_view *v = &net->layers[0];
    for (int a = 0; a < j->n_in; a++) {
        if (leave[a].outside == 0)
            continue;
        double t_lo, t_hi;
        dk_network_edge_range(net, 0, a, &t_lo, &t_hi);
        const size_t row = v->grid + (size_t)a * (size_t)v->shape.n_knots;
        const double ext_lo = dk_load(net->dtype, net->state, row);
        const double ext_hi = dk_load(net->dtype, net->state, row + (size_t)v->shape.n_knots - 1);
        fprintf(report,
                "distkan: warning: the points of %s leave the model's grid for input %d ('%s'), [%g, %g]: the input "
                "spans [%g, %g] (%ld of %ld points far enough outside for the spline terms to lose more than 0.1%% "
                "of their weight); spline terms fade out beyond the grid, and vanish k = %d knot intervals past it "
                "(outside [%g, %g]): there the model extrapolates\n",
                points, a, j->names[a], t_lo, t_hi, leave[a].lo, leave[a].hi, leave[a].outside, n, net->k, ext_lo,
                ext_hi);
    }
}

/* "a,b,c" of n names, cut with "..." where it would pass n_chars. */
static void name_list(char *buf, size_t n_chars, const char *const *names, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const int w = snprintf(buf + used, n_chars - used, "%s%s", i ? "," : "", names[i]);
        if (w < 0 || used + (size_t)w >= n_chars - 4) {
            snprintf(buf + used, n_chars - used, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* predict reads the points' columns by position, so a file whose columns are the training
 * data's in another order gives the model at swapped inputs, plausible numbers without a
 * sign (a user's RMSE of 0.88 where the right order gave 0.016). The checkpoint of a CSV
 * fit records the training header's input names (Model.input_names): a warning when the
 * points' names differ, saying whether they are only reordered. A model without names (a
 * built-in function, a PDE, an older version) is not checked. */
static void warn_input_names(const predict_job *j, const char *const *model_names, const char *points,
                             FILE *report)
{
    const size_t n = model_names ? (size_t)j->n_in : 0;
    size_t differ = 0, found = 0;
    for (size_t a = 0; a < n; a++) {
        differ += strcmp(model_names[a], j->names[a]) != 0;
        for (size_t b = 0; b < n; b++)
            if (!strcmp(model_names[a], j->names[b])) {
                found++;
                break;
            }
    }
    if (differ > 0) {
        char model[512], file[512];
        name_list(model, sizeof model, model_names, n);
        name_list(file, sizeof file, j->names, n);
        fprintf(report,
                "distkan: warning: %s names its input columns %s; the model was trained on %s%s: predict takes "
                "the columns by position, so %s\n",
                points, file, model,
                found == n ? " (the same names in another order)" : "",
                found == n ? "the model sees these inputs swapped: reorder the columns" : "check that they hold the "
                "model's inputs in its order");
    }
}

/* A diverged run's checkpoint holds huge or non-finite parameters: its outputs overflow
 * at any input, which the warning on non-finite rows should then say. NaN wins. */
static double largest_parameter(const dk_network *net)
{
    double largest = 0.0;
    for (size_t e = 0; e < net->n_params; e++) {
        const double v = fabs(dk_load(net->dtype, net->params, e));
        largest = v > largest || isnan(v) ? v : largest;
    }
    return largest;
}

/* Runs the network block by block over the n rows of values [n][n_cols] and writes them. */
/* x holds a block of inputs, u_plain (with derivatives) a block of outputs. */
static void evaluate(dk_network *net, const predict_job *j, long n, const void *values, void *x, void *u_plain,
                     FILE *f, predict_tally *t)
{
    const size_t es = dk_dtype_size(net->dtype);
    for (long b = 0; b < n; b += PREDICT_BLOCK_ROWS) {
        const long rows = n - b < PREDICT_BLOCK_ROWS ? n - b : PREDICT_BLOCK_ROWS;
        const char *block = (const char *)values + (size_t)b * j->n_cols * es;
        const void *in = block;
        if (j->n_cols != j->n_in) { /* targets follow the inputs: gather the inputs */
            for (long r = 0; r < rows; r++)
                memcpy((char *)x + (size_t)r * j->n_in * es, block + (size_t)r * j->n_cols * es, (size_t)j->n_in * es);
            in = x;
        }
        const void *u = dk_network_forward(net, rows, in), *u1 = NULL, *u2 = NULL;
        if (j->derivatives) {
            /* The jet's own values may differ from the plain forward's in the last bit (another
             * order of operations): the outputs are the plain forward's, with or without
             * --derivatives, and the same as the training run's evaluation. */
            memcpy(u_plain, u, (size_t)rows * j->n_out * es);
            (void)dk_network_jet_forward(net, rows, in, &u1, &u2);
            u = u_plain;
        }
        write_block(f, j, b, rows, block, u, u1, u2, t);
    }
}

dk_err dk_predict(const dk_predict_options *o, FILE *report)
{
    dk_trained_model model;
    DK_CALL(dk_model_load(o->model, PREDICT_BLOCK_ROWS, omp_get_max_threads(), o->derivatives, report, &model));
    dk_network *net = model.net;
    const char *source = model.source;
    dk_csv_info info = {0};
    dk_table_out out = {0};
    long *slot = NULL;
    grid_leave *leave = NULL;
    double *knots = NULL;
    void *values = NULL, *x = NULL, *u_plain = NULL;
    const int n_in = net->widths[0], n_out = net->widths[net->n_layers];
    const size_t es = dk_dtype_size(net->dtype);
    dk_err err = DK_OK;
    DK_CALL_GOTO(err, done, dk_csv_scan(o->points, &info));
    if (info.n_cols != n_in && info.n_cols != n_in + n_out) {
        err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__,
                           "%s:1: %d column%s, but the model (%s) takes %d input%s: expected %d column%s (its inputs) "
                           "or %d (its inputs, then its %d output%s as targets)",
                           o->points, info.n_cols, info.n_cols == 1 ? "" : "s", source, n_in, n_in == 1 ? "" : "s",
                           n_in, n_in == 1 ? "" : "s", n_in + n_out, n_out, n_out == 1 ? "" : "s");
        goto done;
    }
    size_t bytes = 0;
    DK_CALL_GOTO(err, done, DK_CALLOC(slot, (size_t)info.n_rows, "CSV row slots"));
    for (long r = 0; r < info.n_rows; r++)
        slot[r] = r;
    DK_CALL_GOTO(err, done, dk_array_bytes(&bytes, (size_t)info.n_rows, (size_t)info.n_cols, es, "points"));
    DK_CALL_GOTO(err, done, dk_aligned_alloc(&values, bytes, "points"));
    DK_CALL_GOTO(err, done, dk_aligned_alloc(&x, (size_t)PREDICT_BLOCK_ROWS * n_in * es, "a block of inputs"));
    if (o->derivatives)
        DK_CALL_GOTO(err, done,
                     dk_aligned_alloc(&u_plain, (size_t)PREDICT_BLOCK_ROWS * n_out * es, "a block of outputs"));
    DK_CALL_GOTO(err, done, dk_csv_read_rows(o->points, &info, slot, net->dtype, values));
    DK_CALL_GOTO(err, done, DK_CALLOC(leave, (size_t)n_in, "the inputs' ranges"));
    DK_CALL_GOTO(err, done, DK_CALLOC(knots, (size_t)net->layers[0].shape.n_knots, "an input's knots"));

    predict_job job = {.net = net, .n_in = n_in, .n_out = n_out, .n_cols = info.n_cols,
                       .derivatives = o->derivatives, .names = (const char *const *)info.names,
                       .digits = dk_dtype_digits(net->dtype)};
    DK_CALL_GOTO(err, done, check_input_names(&job, o->points));
    DK_CALL_GOTO(err, done, choose_out_base(&job, o->points));
    count_outside_grid(&job, info.n_rows, values, knots, leave);
    DK_CALL_GOTO(err, done, dk_table_out_open(&out, o->out, o->points));
    predict_tally tally = {0};
    write_header(out.f, &job);
    evaluate(net, &job, info.n_rows, values, x, u_plain, out.f, &tally);
    DK_CALL_GOTO(err, done, dk_table_out_commit(&out));
    fprintf(report, "distkan: %ld point%s evaluated with %s\n", info.n_rows, info.n_rows == 1 ? "" : "s", source);
    warn_input_names(&job, (const char *const *)model.input_names, o->points, report);
    warn_outside_grid(&job, info.n_rows, leave, o->points, report);
    if (tally.non_finite > 0) {
        const double largest = largest_parameter(net);
        fprintf(report,
                "distkan: warning: %ld row%s gave NaN or infinite values (the first: %s:%ld): the model's values "
                "overflow there, as inputs far outside the range it was trained on do; derivatives also do when "
                "its knots are very close together (their size grows as a power of 1/spacing per layer); the "
                "model's largest parameter is %g in magnitude%s\n",
                tally.non_finite, tally.non_finite == 1 ? "" : "s", o->points, tally.first_bad_line, largest,
                largest > 1e30 || !isfinite(largest) ? ", so the model itself is broken (a checkpoint of a "
                                                       "training run that diverged)" : "");
    }
    if (info.n_cols > n_in)
        fprintf(report, "distkan: RMSE against the %d target column%s of %s: %.6e\n", n_out, n_out == 1 ? "" : "s",
                o->points,
                tally.nan_error        ? NAN
                : tally.infinite_error ? INFINITY
                                       : tally.scale * sqrt(tally.ssq / ((double)info.n_rows * n_out)) * 2.0);
done:
    if (err != DK_OK && out.f)
        dk_table_out_discard(&out);
    free(x);
    free(u_plain);
    free(values);
    free(slot);
    free(leave);
    free(knots);
    dk_csv_info_free(&info);
    dk_trained_model_free(&model);
    return err;
}

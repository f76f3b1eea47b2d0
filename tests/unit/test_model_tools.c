/* The tools that use a trained model: dk_model_load (launcher/dk_model_file.h), predict
 * and functions. A network on random non-uniform grids with masked edges is saved as a
 * checkpoint, loaded back bit for bit, evaluated through `predict` against a dense
 * Cox-de Boor reference (tests/unit/kan_reference.h) and finite differences of it, and
 * tabulated through `functions` against the same reference; bad models, points and
 * options fail with errors that name the file, and leave an existing output untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "capture.h"
#include "ckpt_test_util.h"
#include "kan_reference.h"
#include "checkpoint/dk_ckpt_file.h"
#include "launcher/dk_functions.h"
#include "launcher/dk_model_file.h"
#include "launcher/dk_predict.h"
#include "test_asserts.h"

enum { N_LAYERS = 2, G = 6, K = 3 };
static const int widths[N_LAYERS + 1] = {3, 4, 2};

/* A network whose every parameter, knot and mask comes from make_layer (non-uniform
 * grids, a third of the edges masked off), and the reference layers holding exactly the
 * values the network stores (float32-rounded for a float32 network). */
typedef struct model {
    dk_network *net;
    layer ref[N_LAYERS];
} model;

static model make_model(dk_dtype dtype, uint64_t seed)
{
    model m;
    const dk_network_settings s = {.widths = widths, .n_widths = N_LAYERS + 1, .G = G, .k = K, .grid_lo = -1,
                                   .grid_hi = 1, .dtype = dtype, .seed = 1, .noise_scale = 0.1,
                                   .scale_base_sigma = 1, .scale_sp = 1, .max_batch = 16, .n_threads = 1};
    assert_dk_ok(dk_network_create(&m.net, &s));
    ref_rng r = {seed, 0, 0};
    dk_network *net = m.net;
    for (int l = 0; l < N_LAYERS; l++) {
        layer *L = &m.ref[l];
        *L = make_layer(&r, widths[l], widths[l + 1], G, K);
        const dk_layer_view *v = &net->layers[l];
        const size_t edges = (size_t)L->in * L->out;
        struct {
            double *src;
            void *buf;
            size_t at, n;
        } parts[] = {{L->coef, net->params, v->coef, edges * L->nb}, {L->sb, net->params, v->scale_base, edges},
                     {L->ssp, net->params, v->scale_sp, edges}, {L->grid, net->state, v->grid, (size_t)L->in * L->nk},
                     {L->mask, net->state, v->mask, edges}};
        for (size_t p = 0; p < sizeof parts / sizeof *parts; p++)
            for (size_t e = 0; e < parts[p].n; e++) {
                dk_store(dtype, parts[p].buf, parts[p].at + e, parts[p].src[e]);
                parts[p].src[e] = dk_load(dtype, parts[p].buf, parts[p].at + e);
            }
    }
    return m;
}

static void free_model(model *m)
{
    for (int l = 0; l < N_LAYERS; l++)
        free_layer(&m->ref[l]);
    dk_network_destroy(&m->net);
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

/* The reference's phi of edge i -> j of layer L at x (mask included). */
static double ref_phi(const layer *L, int i, int j, double x, double *base, double *spline)
{
    const size_t e = (size_t)i * L->out + j;
    *base = L->sb[e] * silu(x);
    *spline = L->ssp[e] * ref_spline(L->grid + (size_t)i * L->nk, L->nk, L->k, L->coef + e * L->nb, x);
    return L->mask[e] * (*base + *spline);
}

/* The dense reference network: y [widths[N_LAYERS]] at x [widths[0]]. */
static void ref_forward(const model *m, const double *x, double *y)
{
    double a[8], b[8];
    memcpy(a, x, sizeof(double) * widths[0]);
    for (int l = 0; l < N_LAYERS; l++) {
        const layer *L = &m->ref[l];
        for (int j = 0; j < L->out; j++) {
            b[j] = 0.0;
            for (int i = 0; i < L->in; i++) {
                double base, spline;
                b[j] += ref_phi(L, i, j, a[i], &base, &spline);
            }
        }
        memcpy(a, b, sizeof(double) * L->out);
    }
    memcpy(y, a, sizeof(double) * widths[N_LAYERS]);
}

/* Writes the model's tensors and manifest as a checkpoint, as a training run would, with
 * n_names input names (a CSV fit's header) when names is not NULL. */
static void save_model_named(const dk_network *net, const char *path, char **names, size_t n_names)
{
    Dk__Manifest man;
    dk__manifest__init(&man);
    dk_model_manifest mm;
    dk_model_manifest_fill(&mm, net);
    mm.model.input_names = names;
    mm.model.n_input_names = names ? n_names : 0;
    man.model = &mm.model;
    dk_state_tensor t[DK_MODEL_TENSORS_PER_LAYER * N_LAYERS];
    dk_ckpt_tensor_source src[DK_MODEL_TENSORS_PER_LAYER * N_LAYERS];
    const int n = dk_model_tensors(net, t);
    assert_int_equal(n, DK_MODEL_TENSORS_PER_LAYER * net->n_layers);
    for (int i = 0; i < n; i++) {
        src[i] = (dk_ckpt_tensor_source){.name = t[i].name, .dtype = t[i].dtype, .n_dims = t[i].n_dims,
                                         .data = t[i].data};
        for (int d = 0; d < t[i].n_dims; d++)
            src[i].shape[d] = t[i].shape[d];
    }
    assert_dk_ok(dk_ckpt_write(path, &man, src, n, 0));
}

static void save_model(const dk_network *net, const char *path) { save_model_named(net, path, NULL, 0); }

/* Removes a scratch tree two levels deep (run/checkpoints/...). */
static void remove_tree(const char *dir)
{
    char sub[512];
    snprintf(sub, sizeof sub, "%s/checkpoints", dir);
    scratch_remove(sub);
    scratch_remove(dir);
}

/* A scratch directory holding a saved model (ckpt), and the names of a points file (csv)
 * and an output (out) beside it. */
typedef struct scene {
    char dir[256], ckpt[600], csv[600], out[600];
    model m;
} scene;

static void scene_open(scene *sc, const char *tag, dk_dtype dtype, uint64_t seed)
{
    scratch_dir(sc->dir, tag);
    sc->m = make_model(dtype, seed);
    snprintf(sc->ckpt, sizeof sc->ckpt, "%s/ckpt-000000000005.dkc", sc->dir);
    snprintf(sc->csv, sizeof sc->csv, "%s/points.csv", sc->dir);
    snprintf(sc->out, sizeof sc->out, "%s/out.csv", sc->dir);
    save_model(sc->m.net, sc->ckpt);
}

static void scene_close(scene *sc)
{
    free_model(&sc->m);
    scratch_remove(sc->dir);
}

/* The numbers of a CSV file after its header, row by row: values[r * cols + c]. */
static double *read_table(const char *path, char *header, size_t header_size, long *rows, int *cols)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(header, (int)header_size, f));
    header[strcspn(header, "\n")] = '\0';
    *cols = 1;
    for (const char *p = header; *p; p++)
        *cols += *p == ',';
    size_t cap = 1024, n = 0;
    double *v = malloc(cap * sizeof *v);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (int c = 0; c < *cols; c++) {
            char *end;
            if (n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            v[n++] = strtod(p, &end);
            assert_true(end != p);
            p = end + (*end == ',');
        }
        assert_true(*p == '\n' || *p == '\0');
    }
    fclose(f);
    *rows = (long)(n / (size_t)*cols);
    return v;
}

static void write_text(const char *path, const char *text) { spit(path, text, strlen(text)); }

static char *read_text(const char *path)
{
    size_t n;
    unsigned char *p = slurp(path, &n);
    p = realloc(p, n + 1);
    p[n] = '\0';
    return (char *)p;
}

/* ---------------------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------------------- */

static void check_same_network(const dk_network *a, const dk_network *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->n_layers, b->n_layers);
    for (int l = 0; l <= a->n_layers; l++)
        assert_int_equal(a->widths[l], b->widths[l]);
    assert_int_equal(a->G, b->G);
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->n_params, b->n_params);
    assert_int_equal(a->n_state, b->n_state);
    const size_t es = dk_dtype_size(a->dtype);
    assert_memory_equal(a->params, b->params, a->n_params * es);
    assert_memory_equal(a->state, b->state, a->n_state * es);
}

/* A checkpoint file, its directory and the run directory above it all give the model
 * back bit for bit; a directory gives its newest checkpoint. */
static void load_round_trip(dk_dtype dtype)
{
    char dir[256], ckdir[512], path[600], older[600];
    scratch_dir(dir, "model-load");
    snprintf(ckdir, sizeof ckdir, "%s/checkpoints", dir);
    assert_int_equal(mkdir(ckdir, 0755), 0);
    model other = make_model(dtype, 99), m = make_model(dtype, 7);
    snprintf(older, sizeof older, "%s/ckpt-000000000010.dkc", ckdir);
    snprintf(path, sizeof path, "%s/ckpt-000000000020.dkc", ckdir);
    save_model(other.net, older);
    save_model(m.net, path);
    const char *where[] = {path, ckdir, dir};
    for (int w = 0; w < 3; w++) {
        dk_trained_model back;
        assert_dk_ok(dk_model_load(where[w], 32, 1, 0, NULL, &back));
        check_same_network(back.net, m.net);
        assert_string_equal(back.source, path);
        assert_int_equal(back.net->max_batch, 32);
        assert_null(back.input_names); /* none saved */
        dk_trained_model_free(&back);
    }
    free_model(&other);
    free_model(&m);
    remove_tree(dir);
}

static void test_load_round_trip_f64(void **state) { load_round_trip(DK_F64); }
static void test_load_round_trip_f32(void **state) { load_round_trip(DK_F32); }

/* A damaged newest checkpoint is skipped with a warning in a directory, and is an error
 * named by its tensor when given by name. */
static void test_load_skips_damaged_newest(void **state)
{
    char dir[256], good[600], bad[600];
    scratch_dir(dir, "model-damaged");
    model m = make_model(DK_F64, 3);
    snprintf(good, sizeof good, "%s/ckpt-000000000001.dkc", dir);
    snprintf(bad, sizeof bad, "%s/ckpt-000000000002.dkc", dir);
    save_model(m.net, good);
    save_model(m.net, bad);
    size_t n;
    unsigned char *bytes = slurp(bad, &n);
    bytes[n - 3] ^= 0x10; /* inside the last tensor's data */
    spit(bad, bytes, n);
    free(bytes);

    dk_trained_model back;
    assert_dk_error(dk_model_load(bad, 8, 1, 0, NULL, &back), DK_ERR_DATA, "layers.1.mask");
    assert_null(back.net);
    assert_null(back.source);
    captured_text warn;
    assert_dk_ok(dk_model_load(dir, 8, 1, 0, capture_begin(&warn), &back));
    char *text = capture_end(&warn);
    assert_non_null(strstr(text, "skipping checkpoint"));
    assert_non_null(strstr(text, "ckpt-000000000002.dkc"));
    assert_string_equal(back.source, good);
    check_same_network(back.net, m.net);
    free(text);
    dk_trained_model_free(&back);
    free_model(&m);
    scratch_remove(dir);
}

static void test_load_errors(void **state)
{
    char dir[256], path[600];
    scratch_dir(dir, "model-errors");
    dk_trained_model net;
    snprintf(path, sizeof path, "%s/missing.dkc", dir);
    assert_dk_error(dk_model_load(path, 8, 1, 0, NULL, &net), DK_ERR_IO, "missing.dkc");
    assert_dk_error(dk_model_load(dir, 8, 1, 0, NULL, &net), DK_ERR_IO,
                    "holds no checkpoint");
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_text(path, "not a checkpoint\n");
    assert_dk_error(dk_model_load(path, 8, 1, 0, NULL, &net), DK_ERR_DATA, "notes.txt");

    /* A manifest whose G disagrees with its layers, and knots out of order: files that
     * verify (their CRCs are right) but do not hold a model distkan can run. */
    model m = make_model(DK_F64, 5);
    snprintf(path, sizeof path, "%s/ckpt-000000000001.dkc", dir);
    m.net->G += 1;
    save_model(m.net, path);
    m.net->G -= 1;
    assert_dk_error(dk_model_load(path, 8, 1, 0, NULL, &net), DK_ERR_DATA,
                    "layer 0's shape disagrees");
    double *knots = (double *)m.net->state + m.net->layers[1].grid;
    const double keep = knots[4];
    knots[4] = knots[3];
    save_model(m.net, path);
    assert_dk_error(dk_model_load(path, 8, 1, 0, NULL, &net), DK_ERR_DATA,
                    "tensor layers.1.knots, input 0: knot 4");
    knots[4] = keep;
    /* Input names: one per input or none; the loaded model keeps its own copies. */
    char *names[] = {"a", "b", "c", "d"};
    save_model_named(m.net, path, names, (size_t)m.net->widths[0]);
    assert_dk_ok(dk_model_load(path, 8, 1, 0, NULL, &net));
    assert_non_null(net.input_names);
    for (int a = 0; a < m.net->widths[0]; a++)
        assert_string_equal(net.input_names[a], names[a]);
    dk_trained_model_free(&net);
    assert_null(net.net);
    save_model_named(m.net, path, names, (size_t)m.net->widths[0] + 1);
    assert_dk_error(dk_model_load(path, 8, 1, 0, NULL, &net), DK_ERR_DATA, "the model names 4 inputs but has 3");
    assert_null(net.net);
    assert_null(net.input_names);
    free_model(&m);
    scratch_remove(dir);
}

/* ---------------------------------------------------------------------------------------
 * predict
 * ------------------------------------------------------------------------------------- */

enum { N_POINTS = 40 };

/* Random points, some beyond the grids (where only the silu part is left), as a CSV with
 * the model's inputs and, with targets, reference outputs shifted by a known amount. */
static void write_points(const char *path, double x[N_POINTS][3], const model *m, int targets, double shift)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, targets ? "a,b,c,t0,t1\n" : "a,b,c\n");
    ref_rng r = {11, 1, 0};
    for (int p = 0; p < N_POINTS; p++) {
        for (int i = 0; i < 3; i++) {
            x[p][i] = ref_sym(&r, p % 10 == 0 ? 4.0 : 1.3);
            fprintf(f, "%s%.17g", i ? "," : "", x[p][i]);
        }
        if (targets) {
            double y[2];
            ref_forward(m, x[p], y);
            fprintf(f, ",%.17g,%.17g", y[0] + shift, y[1] - shift);
        }
        fprintf(f, "\n");
    }
    fclose(f);
}

static void predict_matches_reference(dk_dtype dtype, double tol)
{
    scene sc;
    scene_open(&sc, "predict", dtype, 21);
    char header[1024];
    double x[N_POINTS][3];
    write_points(sc.csv, x, &sc.m, 0, 0.0);

    dk_predict_options o = {.model = sc.dir, .points = sc.csv, .out = sc.out};
    assert_dk_ok(dk_predict(&o, stderr));
    long rows;
    int cols;
    double *v = read_table(sc.out, header, sizeof header, &rows, &cols);
    assert_string_equal(header, "a,b,c,out0,out1");
    assert_int_equal(rows, N_POINTS);
    for (int p = 0; p < N_POINTS; p++) {
        double y[2];
        ref_forward(&sc.m, x[p], y);
        for (int i = 0; i < 3; i++) /* the inputs as read, in the model's precision */
            assert_close_rel(dtype == DK_F64 ? v[p * cols + i] : (float)v[p * cols + i],
                             dtype == DK_F64 ? x[p][i] : (float)x[p][i], 0.0);
        assert_close_rel(v[p * cols + 3], y[0], tol);
        assert_close_rel(v[p * cols + 4], y[1], tol);
    }
    free(v);
    scene_close(&sc);
}

static void test_predict_matches_reference_f64(void **state) { predict_matches_reference(DK_F64, 1e-12); }
static void test_predict_matches_reference_f32(void **state) { predict_matches_reference(DK_F32, 2e-5); }

/* Runs predict on points with 2 target columns and returns the RMSE its report prints. */
static double predicted_rmse(const dk_predict_options *o)
{
    captured_text rep;
    assert_dk_ok(dk_predict(o, capture_begin(&rep)));
    char *text = capture_end(&rep);
    const char *at = strstr(text, "RMSE against the 2 target columns");
    assert_non_null(at);
    double rmse = 0;
    assert_int_equal(sscanf(strchr(at, ':') + 1, "%lf", &rmse), 1);
    free(text);
    return rmse;
}

/* --derivatives against central differences of the dense reference, and the RMSE against
 * target columns that differ from the model by +-shift. */
static void test_predict_derivatives_and_rmse(void **state)
{
    scene sc;
    scene_open(&sc, "predict-deriv", DK_F64, 33);
    char header[1024];
    double x[N_POINTS][3];
    const double shift = 0.125;
    write_points(sc.csv, x, &sc.m, 1, shift);
    const model *m = &sc.m;

    dk_predict_options o = {.model = sc.ckpt, .points = sc.csv, .out = sc.out, .derivatives = 1};
    assert_close_rel(predicted_rmse(&o), shift, 1e-6); /* printed to 7 digits */

    long rows;
    int cols;
    double *v = read_table(sc.out, header, sizeof header, &rows, &cols);
    assert_string_equal(header, "a,b,c,t0,t1,out0,out1,d_out0/d_a,d_out0/d_b,d_out0/d_c,d2_out0/d_a^2,"
                                "d2_out0/d_b^2,d2_out0/d_c^2,d_out1/d_a,d_out1/d_b,d_out1/d_c,d2_out1/d_a^2,"
                                "d2_out1/d_b^2,d2_out1/d_c^2");
    assert_int_equal(rows, N_POINTS);
    /* Steps: the first difference's error is h^2 u'''/6, and u''' of cubic splines on
     * knot intervals of ~0.1 reaches thousands; the second's rounding grows as eps/h^2. */
    const double h1 = 1e-5, h2 = 1e-4;
    for (int p = 0; p < N_POINTS; p++) {
        double y[2];
        ref_forward(m, x[p], y);
        assert_close_rel(v[p * cols + 5], y[0], 1e-12);
        assert_close_rel(v[p * cols + 6], y[1], 1e-12);
        for (int a = 0; a < 3; a++) {
            double xs[4][3], ys[4][2];
            const double steps[4] = {h1, -h1, h2, -h2};
            for (int q = 0; q < 4; q++) {
                memcpy(xs[q], x[p], sizeof xs[q]);
                xs[q][a] += steps[q];
                ref_forward(m, xs[q], ys[q]);
            }
            for (int o_ = 0; o_ < 2; o_++) {
                const double d1 = (ys[0][o_] - ys[1][o_]) / (2 * h1);
                const double d2 = (ys[2][o_] - 2 * y[o_] + ys[3][o_]) / (h2 * h2);
                assert_close_rel(v[p * cols + 7 + o_ * 6 + a], d1, 1e-6);
                assert_close_rel(v[p * cols + 7 + o_ * 6 + 3 + a], d2, 1e-3);
            }
        }
    }
    free(v);
    scene_close(&sc);
}

/* Errors of 1e300 square beyond the double range: the RMSE is still their size, not inf. */
static void test_predict_rmse_of_huge_errors(void **state)
{
    scene sc;
    scene_open(&sc, "predict-huge", DK_F64, 33);
    double x[N_POINTS][3];
    write_points(sc.csv, x, &sc.m, 1, 1e300);
    dk_predict_options o = {.model = sc.ckpt, .points = sc.csv, .out = sc.out};
    assert_close_rel(predicted_rmse(&o), 1e300, 1e-6);
    scene_close(&sc);
}

/* Outputs that overflow (here a huge scale_base on every first-layer edge) are written as
 * nan, inf or -inf, never -nan, and the report names how many rows and the first one. */
static void test_predict_reports_non_finite_rows(void **state)
{
    scene sc;
    scene_open(&sc, "predict-overflow", DK_F64, 12);
    const dk_layer_view *v = &sc.m.net->layers[0];
    for (int e = 0; e < v->shape.in * v->shape.out; e++)
        ((double *)sc.m.net->params)[v->scale_base + (size_t)e] = 1e300;
    save_model(sc.m.net, sc.ckpt);
    write_text(sc.csv, "a,b,c\n0.1,0.2,0.3\n1e10,1e10,1e10\n0.3,0.2,0.1\n-1e10,5e9,1e10\n");
    dk_predict_options o = {.model = sc.ckpt, .points = sc.csv, .out = sc.out};
    captured_text rep;
    assert_dk_ok(dk_predict(&o, capture_begin(&rep)));
    char *text = capture_end(&rep);
    if (!strstr(text, "warning: 2 rows gave NaN or infinite values (the first: ") || !strstr(text, "points.csv:3)"))
        fail_msg("report: %s\ntable:\n%s", text, read_text(sc.out));
    free(text);
    char *table = read_text(sc.out);
    assert_null(strstr(table, "-nan"));
    assert_true(strstr(table, "nan") || strstr(table, "inf"));
    free(table);

    /* functions over a range where 1e300 silu(x) overflows: the same warning, naming the
     * first edge and x, and the values written as inf / -inf / nan. */
    dk_functions_options f = {.model = sc.ckpt, .out = sc.out, .points = 3, .has_range = 1, .lo = -1e10, .hi = 1e10};
    assert_dk_ok(dk_functions(&f, capture_begin(&rep)));
    text = capture_end(&rep);
    /* layer 0: 3 inputs x 4 outputs, each infinite at x = 1e10 */
    if (!strstr(text, "warning: 12 rows hold NaN or infinite values (the first: layer 0 input 0 output 0 at x = "
                      "10000000000)"))
        fail_msg("report: %s\ntable:\n%.2000s", text, read_text(sc.out));
    free(text);
    table = read_text(sc.out);
    assert_null(strstr(table, "-nan"));
    assert_non_null(strstr(table, "\n0,0,1,10000000000,inf,inf,"));
    free(table);
    scene_close(&sc);
}

/* Bad points fail naming the file and line, and an existing output stays as it was. */
static void test_predict_errors_keep_output(void **state)
{
    scene sc;
    scene_open(&sc, "predict-errors", DK_F64, 8);
    const char *csv = sc.csv, *out = sc.out;
    char partial[700];
    snprintf(partial, sizeof partial, "%s.partial", out);
    write_text(out, "earlier results\n");
    dk_predict_options o = {.model = sc.ckpt, .points = csv, .out = out};

    write_text(csv, "a,b\n1,2\n");
    assert_dk_error(dk_predict(&o, stderr), DK_ERR_DATA, "points.csv:1: 2 columns");
    write_text(csv, "a,b,c\n0.1,0.2,0.3\n0.1,0.2\n");
    assert_dk_error(dk_predict(&o, stderr), DK_ERR_DATA, "points.csv:3");
    write_text(csv, "a,b,c\n0.1,0.2,zero\n");
    assert_dk_error(dk_predict(&o, stderr), DK_ERR_DATA, "points.csv:2");
    o.points = "/nonexistent/points.csv";
    assert_dk_error(dk_predict(&o, stderr), DK_ERR_IO, "/nonexistent/points.csv");
    o.points = csv;
    write_text(csv, "a,b,c\n0.1,0.2,0.3\n");
    o.out = sc.dir; /* a directory in the way of the output */
    assert_dk_error(dk_predict(&o, stderr), DK_ERR_USAGE, "is a directory");
    o.out = out;

    char *kept = read_text(out);
    assert_string_equal(kept, "earlier results\n");
    free(kept);
    assert_false(file_exists(partial));
    scene_close(&sc);
}

/* ---------------------------------------------------------------------------------------
 * functions
 * ------------------------------------------------------------------------------------- */

static void functions_match_reference(dk_dtype dtype, int has_range, double tol)
{
    scene sc;
    scene_open(&sc, "functions", dtype, 44);
    char header[1024];
    const long points = 9;
    /* A range reaching beyond every extended grid: the spline part must vanish there. */
    dk_functions_options o = {.model = sc.ckpt, .out = sc.out, .points = points, .has_range = has_range,
                              .lo = -7, .hi = 6.5};
    assert_dk_ok(dk_functions(&o, stderr));
    long rows;
    int cols;
    double *v = read_table(sc.out, header, sizeof header, &rows, &cols);
    assert_string_equal(header, "layer,input,output,x,phi,base,spline,mask");
    long expect_rows = 0;
    for (int l = 0; l < N_LAYERS; l++)
        expect_rows += (long)widths[l] * widths[l + 1] * points;
    assert_int_equal(rows, expect_rows);
    long row = 0, outside = 0;
    for (int l = 0; l < N_LAYERS; l++) {
        const layer *L = &sc.m.ref[l];
        for (int i = 0; i < L->in; i++) {
            const double *t = L->grid + (size_t)i * L->nk;
            const double lo = has_range ? -7 : t[K], hi = has_range ? 6.5 : t[K + G];
            for (int j = 0; j < L->out; j++)
                for (long p = 0; p < points; p++, row++) {
                    const double *r = v + row * cols;
                    assert_int_equal((int)r[0], l);
                    assert_int_equal((int)r[1], i);
                    assert_int_equal((int)r[2], j);
                    /* a float32 model's values are printed to float32's round-trip precision */
                    const double x = dtype == DK_F64 ? r[3] : (double)(float)r[3];
                    if (p == 0)
                        assert_close_rel(x, lo, 0.0);
                    if (p == points - 1)
                        assert_true(x == hi);
                    assert_close_rel(x, lo + (hi - lo) * (double)p / (double)(points - 1),
                                     dtype == DK_F64 ? 1e-15 : 1e-7);
                    double base, spline;
                    const double xr = dtype == DK_F64 ? x : (double)(float)x;
                    const double phi = ref_phi(L, i, j, xr, &base, &spline);
                    assert_close_rel(r[4], phi, tol);
                    assert_close_rel(r[5], base, tol);
                    assert_close_rel(r[6], spline, tol);
                    assert_true(r[7] == L->mask[(size_t)i * L->out + j]);
                    if (x < t[0] || x >= t[L->nk - 1]) {
                        outside++;
                        assert_true(r[6] == 0.0);
                    }
                }
        }
    }
    assert_true(has_range ? outside > 0 : outside == 0);
    free(v);
    scene_close(&sc);
}

static void test_functions_match_reference_f64(void **state) { functions_match_reference(DK_F64, 0, 1e-13); }
static void test_functions_range_f64(void **state) { functions_match_reference(DK_F64, 1, 1e-13); }
static void test_functions_match_reference_f32(void **state) { functions_match_reference(DK_F32, 0, 1e-6); }

/* For a one-layer model, the outputs of predict are the sums of the tabulated edge
 * functions at the same inputs: the two tools describe one model. */
static void test_functions_sum_to_predict(void **state)
{
    char dir[256], ckpt[600], out[600], csv[600], pred[600], header[1024];
    scratch_dir(dir, "functions-sum");
    const int w[2] = {2, 3};
    const dk_network_settings s = {.widths = w, .n_widths = 2, .G = 4, .k = 2, .grid_lo = -1.5, .grid_hi = 2,
                                   .dtype = DK_F64, .seed = 9, .noise_scale = 0.5, .scale_base_mu = 0.2,
                                   .scale_base_sigma = 1, .scale_sp = 1, .max_batch = 8, .n_threads = 1};
    dk_network *net = NULL;
    assert_dk_ok(dk_network_create(&net, &s));
    snprintf(ckpt, sizeof ckpt, "%s/model.dkc", dir);
    snprintf(out, sizeof out, "%s/phi.csv", dir);
    snprintf(csv, sizeof csv, "%s/points.csv", dir);
    snprintf(pred, sizeof pred, "%s/pred.csv", dir);
    save_model(net, ckpt);
    const long points = 5; /* the same x on both inputs: both grids are [-1.5, 2] */
    dk_functions_options fo = {.model = ckpt, .out = out, .points = points};
    assert_dk_ok(dk_functions(&fo, stderr));
    long rows;
    int cols;
    double *phi = read_table(out, header, sizeof header, &rows, &cols);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "x0,x1\n");
    for (long p = 0; p < points; p++)
        fprintf(f, "%.17g,%.17g\n", phi[p * cols + 3], phi[p * cols + 3]);
    fclose(f);
    dk_predict_options po = {.model = ckpt, .points = csv, .out = pred};
    assert_dk_ok(dk_predict(&po, stderr));
    long prow;
    int pcols;
    double *y = read_table(pred, header, sizeof header, &prow, &pcols);
    for (long p = 0; p < points; p++)
        for (int j = 0; j < 3; j++) {
            /* rows are ordered (input, output, point) */
            const double sum = phi[((0 * 3 + j) * points + p) * cols + 4] + phi[((1 * 3 + j) * points + p) * cols + 4];
            assert_close_rel(y[p * pcols + 2 + j], sum, 1e-13);
        }
    free(phi);
    free(y);
    dk_network_destroy(&net);
    scratch_remove(dir);
}

static void test_functions_bad_options(void **state)
{
    dk_functions_options o = {.model = "/nonexistent", .points = 1};
    assert_dk_error(dk_functions(&o, stderr), DK_ERR_USAGE, "--points 1");
    o.points = 10;
    o.has_range = 1;
    o.lo = 2;
    o.hi = 1;
    assert_dk_error(dk_functions(&o, stderr), DK_ERR_USAGE, "--range");
    o.has_range = 0;
    assert_dk_error(dk_functions(&o, stderr), DK_ERR_IO, "/nonexistent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_round_trip_f64),
        cmocka_unit_test(test_load_round_trip_f32),
        cmocka_unit_test(test_load_skips_damaged_newest),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_predict_matches_reference_f64),
        cmocka_unit_test(test_predict_matches_reference_f32),
        cmocka_unit_test(test_predict_derivatives_and_rmse),
        cmocka_unit_test(test_predict_rmse_of_huge_errors),
        cmocka_unit_test(test_predict_reports_non_finite_rows),
        cmocka_unit_test(test_predict_errors_keep_output),
        cmocka_unit_test(test_functions_match_reference_f64),
        cmocka_unit_test(test_functions_range_f64),
        cmocka_unit_test(test_functions_match_reference_f32),
        cmocka_unit_test(test_functions_sum_to_predict),
        cmocka_unit_test(test_functions_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

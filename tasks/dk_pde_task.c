#include "dk_pde_task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dk_rng.h"

/* Jet buffers of one layer hold rows x inputs x width numbers twice over (first and
 * second derivatives), plus their gradients: this bounds one of them. A GPU gets chunks 8
 * times larger: each chunk is some 25 kernel launches, which at the CPU's chunk size
 * (10^6 points in 62 chunks) would leave it waiting on launches rather than computing. */
enum { JET_ELEMENTS_PER_CALL = 4 * 1024 * 1024, MIN_CHUNK = 64, MAX_CHUNK = 16384, GPU_CHUNK_FACTOR = 8 };

/* Uniform random points over the domain that measure the size of the exact solution, the
 * same on every rank (a pure function of the problem): enough for a relative 1e-10 test. */
enum { N_PROBE_POINTS = 1024 };

static dk_box task_box(const dk_pde_task *t) { return (dk_box){t->dim, t->lo, t->hi, t->face}; }

/* Stores point x [dim] as row p of buf and sets x to the point as stored (rounded to the
 * run's precision): the exact solution computed at x then belongs to the input the model
 * sees (in float32 the unrounded point's differs by up to 1e-7). */
static void store_point(dk_dtype dtype, void *buf, long p, int dim, double *x)
{
    for (int a = 0; a < dim; a++) {
        dk_store(dtype, buf, (size_t)p * dim + a, x[a]);
        x[a] = dk_load(dtype, buf, (size_t)p * dim + a);
    }
}

/* An allocation that fails names the key that sized it. */
#define INTERIOR_SHARE "interior points (this rank's share of [pde] interior_points)"
#define BOUNDARY_SHARE(what) what " (this rank's share of [pde] boundary_points)"

dk_err dk_pde_task_create(dk_pde_task **out, const dk_pde_task_settings *s)
{
    *out = NULL;
    if (!s->problem)
        DK_ERROR(DK_ERR_USAGE, "no PDE problem given");
    char why[512] = "";
    int dim = s->problem->inputs(&s->params, why, sizeof why);
    if (dim < 1)
        DK_ERROR(DK_ERR_USAGE, "[pde] problem = %s: %s", s->problem->name, why);
    if (dim > DK_PDE_MAX_DIM + 1)
        DK_ERROR(DK_ERR_USAGE, "[pde] problem = %s has %d inputs; at most %d are supported", s->problem->name, dim,
                 DK_PDE_MAX_DIM + 1);
    if (s->interior < s->world_size || s->boundary < s->world_size)
        DK_ERROR(DK_ERR_USAGE,
                 "[pde] interior_points = %ld and boundary_points = %ld must each be at least the number of ranks (%d), "
                 "so that every rank owns points",
                 s->interior, s->boundary, s->world_size);
    dk_pde_task *t;
    DK_CALL(DK_CALLOC(t, 1, "PDE task"));
    t->problem = s->problem;
    t->params = s->params;
    t->dtype = s->dtype;
    t->seed = s->seed;
    t->alpha = s->alpha;
    t->dim = dim;
    t->sampling = s->sampling;
    t->resample_every = s->resample_every;
    t->epoch = -1;
    s->problem->domain(&s->params, t->lo, t->hi);
    for (int a = 0; a < dim; a++)
        for (int side = 0; side < 2; side++)
            t->face[2 * a + side] = s->problem->boundary_face(&s->params, a, side == 1);
    dk_box box = task_box(t);
    dk_err err = DK_OK;
    if (dk_collocation_boundary_faces(&box) < 1) {
        err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "problem %s has no boundary face with data",
                           s->problem->name);
        goto fail;
    }
    if (s->sampling == DK_SAMPLING_HALTON && dim > DK_COLLOCATION_MAX_HALTON_DIM) {
        err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                           "[pde] sampling = halton supports up to %d inputs, problem %s has %d: use uniform",
                           DK_COLLOCATION_MAX_HALTON_DIM, s->problem->name, dim);
        goto fail;
    }
    t->n_int = s->interior;
    t->n_bnd = s->boundary;
    t->int_begin = (long)dk_part_begin((size_t)t->n_int, s->world_size, s->rank);
    t->local_int = (long)dk_part_end((size_t)t->n_int, s->world_size, s->rank) - t->int_begin;
    t->bnd_begin = (long)dk_part_begin((size_t)t->n_bnd, s->world_size, s->rank);
    t->local_bnd = (long)dk_part_end((size_t)t->n_bnd, s->world_size, s->rank) - t->bnd_begin;

    /* Evaluation set: a tensor grid where it stays affordable, random points beyond. */
    bool grid = dim <= 3;
    if (grid) {
        t->n_eval = 1;
        for (int a = 0; a < dim; a++)
            t->n_eval *= s->eval_grid;
    } else {
        t->n_eval = s->eval_points;
    }
    t->eval_begin = (long)dk_part_begin((size_t)t->n_eval, s->world_size, s->rank);
    t->local_eval = (long)dk_part_end((size_t)t->n_eval, s->world_size, s->rank) - t->eval_begin;

    const char *eval_what = grid ? "evaluation points (this rank's share of [pde] eval_grid^inputs)"
                                 : "evaluation points (this rank's share of [pde] eval_points)";
    const char *exact_what = grid ? "exact solution at the evaluation points ([pde] eval_grid^inputs)"
                                  : "exact solution at the evaluation points ([pde] eval_points)";
    const size_t es = dk_dtype_size(s->dtype);
    size_t bytes = 0;
    DK_CALL_GOTO(err, fail, dk_array_bytes(&bytes, (size_t)t->local_int, (size_t)dim, es, INTERIOR_SHARE));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&t->x_int, bytes, INTERIOR_SHARE));
    DK_CALL_GOTO(err, fail, dk_array_bytes(&bytes, (size_t)t->local_bnd, (size_t)dim, es, BOUNDARY_SHARE("boundary points")));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&t->x_bnd, bytes, BOUNDARY_SHARE("boundary points")));
    DK_CALL_GOTO(err, fail, dk_array_bytes(&bytes, (size_t)t->local_bnd, 1, es, BOUNDARY_SHARE("boundary values")));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&t->g_bnd, bytes, BOUNDARY_SHARE("boundary values")));
    DK_CALL_GOTO(err, fail, dk_array_bytes(&bytes, (size_t)(t->local_eval ? t->local_eval : 1), (size_t)dim, es,
                                           eval_what));
    DK_CALL_GOTO(err, fail, dk_aligned_alloc(&t->x_eval, bytes, eval_what));
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->u_eval, (size_t)(t->local_eval ? t->local_eval : 1), exact_what));
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->res_scratch, (size_t)3 * dim + 1, "residual scratch"));
    DK_CALL_GOTO(err, fail, dk_collocation_create(&t->points, t->sampling, t->seed, &box));
    double *x = t->res_scratch; /* free until the first loss */
    for (long p = 0; p < t->local_eval; p++) {
        long g = t->eval_begin + p;
        if (grid) {
            dk_collocation_grid(&box, s->eval_grid, g, x);
        } else {
            for (int a = 0; a < dim; a++)
                x[a] = t->lo[a] + (t->hi[a] - t->lo[a]) *
                                      dk_rng_uniform(s->seed, DK_STREAM_PDE_EVAL, (uint64_t)g * (uint64_t)dim + a);
        }
        store_point(t->dtype, t->x_eval, p, dim, x); /* u* as the model is scored: at the stored point */
        t->u_eval[p] = s->problem->exact(&s->params, x);
    }
    double probe_ss = 0.0;
    for (long p = 0; p < N_PROBE_POINTS; p++) {
        for (int a = 0; a < dim; a++)
            x[a] = t->lo[a] + (t->hi[a] - t->lo[a]) *
                                  dk_rng_uniform(0, DK_STREAM_PDE_PROBE, (uint64_t)p * (uint64_t)dim + a);
        double u = s->problem->exact(&s->params, x);
        probe_ss += u * u;
    }
    t->solution_rms = sqrt(probe_ss / N_PROBE_POINTS);
    snprintf(t->description, sizeof t->description, "%s (%d input%s): %s", s->problem->name, dim, dim == 1 ? "" : "s",
             s->problem->summary);
    *out = t;
    return DK_OK;
fail:
    dk_pde_task_destroy(&t);
    return err;
}

void dk_pde_task_destroy(dk_pde_task **pt)
{
    if (!pt || !*pt)
        return;
    dk_pde_task *t = *pt;
    dk_collocation_destroy(&t->points);
    free(t->x_int);
    free(t->x_bnd);
    free(t->g_bnd);
    free(t->x_eval);
    free(t->u_eval);
    free(t->grad_sum);
    free(t->gu);
    free(t->gu1);
    free(t->gu2);
    free(t->res_scratch);
    free(t);
    *pt = NULL;
}

long dk_pde_task_max_rows(const dk_pde_task *t, const int *widths, int n_widths, int on_gpu)
{
    long widest = 1;
    for (int l = 0; l < n_widths; l++)
        widest = widths[l] > widest ? widths[l] : widest;
    const long factor = on_gpu ? GPU_CHUNK_FACTOR : 1;
    long rows = factor * JET_ELEMENTS_PER_CALL / ((long)t->dim * widest);
    rows = rows < MIN_CHUNK ? MIN_CHUNK : rows > factor * MAX_CHUNK ? factor * MAX_CHUNK : rows;
    long most = t->local_int > t->local_bnd ? t->local_int : t->local_bnd;
    most = t->local_eval > most ? t->local_eval : most;
    return rows < most ? rows : (most > 0 ? most : 1);
}

static void generate_points(dk_pde_task *t, long epoch)
{
    double *x = t->res_scratch;
    dk_collocation_set_epoch(t->points, epoch);
    for (long p = 0; p < t->local_int; p++) {
        dk_collocation_interior(t->points, t->int_begin + p, x);
        for (int a = 0; a < t->dim; a++)
            dk_store(t->dtype, t->x_int, (size_t)p * t->dim + a, x[a]);
    }
    for (long p = 0; p < t->local_bnd; p++) {
        dk_collocation_boundary(t->points, t->bnd_begin + p, x);
        store_point(t->dtype, t->x_bnd, p, t->dim, x); /* data and input agree */
        dk_store(t->dtype, t->g_bnd, (size_t)p, t->problem->exact(&t->params, x));
    }
    t->epoch = epoch;
}

dk_err dk_pde_task_bind(dk_pde_task *t, const dk_network *net)
{
    if (net->n_dir != t->dim || net->widths[0] != t->dim || net->widths[net->n_layers] != 1)
        DK_ERROR(DK_ERR_USAGE, "the network (%d inputs, %d outputs, jet %s) does not fit problem %s (%d inputs, 1 output)",
                 net->widths[0], net->widths[net->n_layers], net->n_dir ? "on" : "off", t->problem->name, t->dim);
    const size_t es = dk_dtype_size(t->dtype);
    t->chunk = net->max_batch;
    t->n_params = net->n_params;
    DK_CALL(dk_aligned_alloc(&t->grad_sum, t->n_params * es, "PDE gradient sum"));
    DK_CALL(dk_aligned_alloc(&t->gu, (size_t)t->chunk * es, "loss gradient"));
    DK_CALL(dk_aligned_alloc(&t->gu1, (size_t)t->chunk * t->dim * es, "loss gradient"));
    DK_CALL(dk_aligned_alloc(&t->gu2, (size_t)t->chunk * t->dim * es, "loss gradient"));
    generate_points(t, 0);
    return DK_OK;
}

dk_err dk_pde_task_rebind(dk_pde_task *t, const dk_network *net)
{
    if (net->max_batch != t->chunk || net->widths[0] != t->dim || net->n_dir != t->dim)
        DK_ERROR(DK_ERR_INTERNAL, "PDE task rebind: the network's batch capacity or inputs changed (%d rows, %d inputs; "
                 "bound to %ld rows, %d inputs)", net->max_batch, net->widths[0], t->chunk, t->dim);
    free(t->grad_sum);
    t->grad_sum = NULL;
    t->n_params = net->n_params;
    DK_CALL(dk_aligned_alloc(&t->grad_sum, t->n_params * dk_dtype_size(t->dtype), "PDE gradient sum"));
    return DK_OK;
}

void dk_pde_task_grid_samples(const dk_pde_task *t, long n_samples, double *x)
{
    const int d = t->dim;
    for (long j = 0; j < n_samples; j++) {
        const long g = (long)((double)j * (double)t->n_int / (double)n_samples);
        const long local = g - t->int_begin;
        if (local < 0 || local >= t->local_int)
            continue;
        dk_load_block(t->dtype, t->x_int, (size_t)local * d, (size_t)d, x + (size_t)j * d);
    }
}

dk_err dk_pde_task_set_epoch(dk_pde_task *t, long epoch)
{
    if (epoch < 0 || (t->resample_every == 0 && epoch != 0))
        DK_ERROR(DK_ERR_DATA, "collocation epoch %ld is impossible with resample_every = %ld", epoch, t->resample_every);
    if (epoch != t->epoch)
        generate_points(t, epoch);
    return DK_OK;
}

bool dk_pde_task_prepare_step(dk_pde_task *t, long step)
{
    long epoch = t->resample_every > 0 ? (step - 1) / t->resample_every : 0;
    if (epoch == t->epoch)
        return false;
    generate_points(t, epoch);
    return true;
}

/* Interior chunk: residual at each point from the jet outputs; the loss gradient with
 * respect to u, Du[a], D2u[a] is 2 alpha r dr/d(.) / N_int. Residuals are formed in
 * float64 whatever the run's precision. */
static double interior_chunk(dk_pde_task *t, dk_network *net, long begin, long rows)
{
    const int d = t->dim;
    const dk_dtype dt = t->dtype;
    const size_t es = dk_dtype_size(dt);
    const void *xs = (const char *)t->x_int + (size_t)begin * d * es;
    const void *u1, *u2;
    const void *u = dk_network_jet_forward(net, rows, xs, &u1, &u2);
    double *du = t->res_scratch, *d2u = du + d, *dr_ddu = du + 2 * d;
    double xv[DK_PDE_MAX_DIM + 1], dr_dd2u[DK_PDE_MAX_DIM + 1];
    double sum = 0.0;
    const double scale = 2.0 * t->alpha / (double)t->n_int;
    for (long p = 0; p < rows; p++) {
        for (int a = 0; a < d; a++) {
            xv[a] = dk_load(dt, xs, (size_t)p * d + a);
            du[a] = dk_load(dt, u1, (size_t)p * d + a);
            d2u[a] = dk_load(dt, u2, (size_t)p * d + a);
        }
        double dr_du;
        double r = t->problem->residual(&t->params, xv, dk_load(dt, u, (size_t)p), du, d2u, &dr_du, dr_ddu, dr_dd2u);
        sum += r * r;
        dk_store(dt, t->gu, (size_t)p, scale * r * dr_du);
        for (int a = 0; a < d; a++) {
            dk_store(dt, t->gu1, (size_t)p * d + a, scale * r * dr_ddu[a]);
            dk_store(dt, t->gu2, (size_t)p * d + a, scale * r * dr_dd2u[a]);
        }
    }
    dk_network_jet_backward(net, rows, t->gu, t->gu1, t->gu2);
    return t->alpha * sum / (double)t->n_int;
}

/* Boundary chunk: plain forward and backward (no derivatives needed). */
static double boundary_chunk(dk_pde_task *t, dk_network *net, long begin, long rows)
{
    const dk_dtype dt = t->dtype;
    const size_t es = dk_dtype_size(dt);
    const void *xs = (const char *)t->x_bnd + (size_t)begin * t->dim * es;
    const void *u = dk_network_forward(net, rows, xs);
    double sum = 0.0;
    for (long p = 0; p < rows; p++) {
        double e = dk_load(dt, u, (size_t)p) - dk_load(dt, t->g_bnd, (size_t)(begin + p));
        sum += e * e;
        dk_store(dt, t->gu, (size_t)p, 2.0 * e / (double)t->n_bnd);
    }
    dk_network_backward(net, rows, t->gu);
    return sum / (double)t->n_bnd;
}

double dk_pde_task_loss(dk_pde_task *t, dk_network *net, double *interior, double *boundary)
{
    double li = 0.0, lb = 0.0;
    bool first = true;
    for (long b = 0; b < t->local_int; b += t->chunk) {
        long rows = t->local_int - b < t->chunk ? t->local_int - b : t->chunk;
        li += interior_chunk(t, net, b, rows);
        dk_network_accumulate_grads(net, t->grad_sum, first);
        first = false;
    }
    for (long b = 0; b < t->local_bnd; b += t->chunk) {
        long rows = t->local_bnd - b < t->chunk ? t->local_bnd - b : t->chunk;
        lb += boundary_chunk(t, net, b, rows);
        dk_network_accumulate_grads(net, t->grad_sum, first);
        first = false;
    }
    memcpy(net->grads, t->grad_sum, t->n_params * dk_dtype_size(t->dtype));
    *interior = li;
    *boundary = lb;
    return li + lb;
}

dk_err dk_pde_task_linear_form(const dk_pde_task *t, double *coef, double *f)
{
    if (!t->problem->linear)
        DK_ERROR(DK_ERR_USAGE, "[pde] problem = %s: its residual is not linear with constant coefficients, "
                 "which the GPU backend needs; train it with [dist] device = cpu", t->problem->name);
    const int d = t->dim;
    double zeros[2 * (DK_PDE_MAX_DIM + 1)] = {0}, xv[DK_PDE_MAX_DIM + 1] = {0};
    for (long p = 0; p < t->local_int; p++) {
        dk_load_block(t->dtype, t->x_int, (size_t)p * d, (size_t)d, xv);
        f[p] = -t->problem->residual(&t->params, xv, 0.0, zeros, zeros + d, &coef[0], coef + 1, coef + 1 + d);
    }
    if (t->local_int == 0) /* the coefficients still come out of one call */
        t->problem->residual(&t->params, xv, 0.0, zeros, zeros + d, &coef[0], coef + 1, coef + 1 + d);
    return DK_OK;
}

void dk_pde_task_evaluate(const dk_pde_task *t, dk_network *net, double *sse, double *ss_exact, double *max_err)
{
    const size_t es = dk_dtype_size(t->dtype);
    double s = 0.0, se = 0.0, mx = 0.0;
    for (long b = 0; b < t->local_eval; b += t->chunk) {
        long rows = t->local_eval - b < t->chunk ? t->local_eval - b : t->chunk;
        const void *u = dk_network_forward(net, rows, (const char *)t->x_eval + (size_t)b * t->dim * es);
        for (long p = 0; p < rows; p++) {
            double exact = t->u_eval[b + p], e = dk_load(t->dtype, u, (size_t)p) - exact;
            s += e * e;
            se += exact * exact;
            /* NaN must win the max: a diverged model is not accurate. */
            if (fabs(e) > mx || isnan(e))
                mx = isnan(e) ? NAN : fabs(e);
        }
    }
    *sse = s;
    *ss_exact = se;
    *max_err = mx;
}

bool dk_pde_task_rel_l2_defined(const dk_pde_task *t, double ss_exact)
{
    /* Written so that a zero on either side is undefined. */
    return ss_exact > 0 && sqrt(ss_exact / (double)t->n_eval) > DK_PDE_EVAL_MIN_RELATIVE_RMS * t->solution_rms;
}

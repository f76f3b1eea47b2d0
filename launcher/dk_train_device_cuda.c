/* The GPU side of a training run (see dk_train_device.h). Built only with CUDA.
 *
 * Memory: everything a step touches is allocated here once per binding (setup, and again
 * after a grid extension changes the parameter count): the network mirror, the task's
 * data, the optimiser state, gradient sums and loss accumulators. Steps allocate nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dk_cuda.h"
#include "../layers/dk_network_cuda.h"
#include "../optim/dk_adam_cuda.h"
#include "../optim/dk_vec_cuda.h"
#include "../tasks/dk_loss_cuda.h"
#include "dk_train_device.h"

struct dk_device_run {
    void *stream;
    dk_comm_choice comm;
    dk_vec_ops *ops;          /* float64 device vectors for L-BFGS */
    dk_network_cuda *net;     /* mirror of r->net */
    void *adam_m, *adam_v;
    double *lbfgs_x, *lbfgs_g;          /* the iterate and gradient on the device */
    double *lbfgs_s_host, *lbfgs_y_host; /* host copies of the history, for checkpoints */
    size_t lbfgs_history_doubles;
    void *grad_sum;           /* gradient summed over batches or chunks */
    /* fit */
    void *train_x, *train_y, *test_x, *test_y, *dout;
    /* pde */
    void *x_int, *x_bnd, *g_bnd, *x_eval, *u_eval;
    double *f_int, *coef, *f_host;
    void *gu, *gu1, *gu2;
    /* losses */
    double *acc;              /* device accumulators: [0] fit loss / eval SSE, [1] interior, [2] boundary, [3] spare */
    void *scratch;            /* reduction scratch of the loss kernels */
    double *pinned;           /* page-locked: [0, DK_N_SLOTS) slots read back, [DK_N_SLOTS] control word sent */
};

static void free_binding(struct dk_device_run *d)
{
    dk_network_cuda_destroy(&d->net);
    void **bufs[] = {&d->adam_m, &d->adam_v, (void **)&d->lbfgs_x, (void **)&d->lbfgs_g, &d->grad_sum,
                     &d->train_x, &d->train_y, &d->test_x, &d->test_y, &d->dout, &d->x_int, &d->x_bnd,
                     &d->g_bnd, &d->x_eval, &d->u_eval, (void **)&d->f_int, (void **)&d->coef, &d->gu,
                     &d->gu1, &d->gu2, &d->scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        dk_cuda_free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(d->lbfgs_s_host);
    free(d->lbfgs_y_host);
    free(d->f_host);
    d->lbfgs_s_host = d->lbfgs_y_host = d->f_host = NULL;
}

dk_err dk_train_device_start(dk_run *r, dk_comm_choice comm)
{
    struct dk_device_run *d;
    DK_CALL(DK_CALLOC(d, 1, "device run"));
    r->dev = d;
    d->comm = comm;
    dk_err local = dk_cuda_stream_create(&d->stream);
    if (local == DK_OK)
        local = dk_cuda_malloc((void **)&d->acc, 4 * sizeof(double), "loss accumulators");
    if (local == DK_OK)
        local = dk_cuda_host_alloc((void **)&d->pinned, 8 * sizeof(double), "loss read-back");
    if (local == DK_OK)
        local = dk_vec_ops_cuda_create(&d->ops, d->stream);
    /* Agree before dk_comm_enable_device, which is collective: a rank that failed here
     * must not leave the others waiting inside it. */
    int report = 0;
    dk_err agreed = dk_comm_agree(r->comm, local, &report);
    if (local != DK_OK)
        return dk_error_push(local, __FILE__, __LINE__, __func__);
    DK_CALL(agreed);
    DK_CALL(dk_comm_enable_device(r->comm, comm == DK_COMM_CHOICE_NCCL ? DK_COMM_NCCL : DK_COMM_MPI, d->stream));
    return DK_OK;
}

void dk_train_device_close(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    if (!d)
        return;
    if (d->stream)
        dk_cuda_stream_sync(d->stream);
    free_binding(d);
    dk_vec_ops_cuda_destroy(&d->ops);
    dk_cuda_free(d->acc);
    dk_cuda_host_free(d->pinned);
    dk_cuda_stream_destroy(d->stream);
    free(d);
    r->dev = NULL;
}

const dk_vec_ops *dk_train_device_vec_ops(dk_run *r) { return r->dev->ops; }

/* ---------------------------------------------------------------------------------------
 * Binding: device copies of the model, the task and the optimiser state
 * ------------------------------------------------------------------------------------- */

static dk_err upload(void **dst, const void *src, size_t bytes, void *stream, const char *what)
{
    DK_CALL(dk_cuda_malloc(dst, bytes ? bytes : 1, what));
    DK_CALL(dk_cuda_to_device(*dst, src, bytes, stream));
    return DK_OK;
}

static dk_err bind_fit(dk_run *r, struct dk_device_run *d)
{
    const dk_fit_task *t = r->fit;
    const size_t es = dk_dtype_size(t->dtype), train_rows = (size_t)t->n_batches * (size_t)t->local_batch;
    DK_CALL(upload(&d->train_x, t->train_x, train_rows * t->n_in * es, d->stream, "training inputs"));
    DK_CALL(upload(&d->train_y, t->train_y, train_rows * t->n_out * es, d->stream, "training targets"));
    DK_CALL(upload(&d->test_x, t->test_x, (size_t)t->local_test * t->n_in * es, d->stream, "test inputs"));
    DK_CALL(upload(&d->test_y, t->test_y, (size_t)t->local_test * t->n_out * es, d->stream, "test targets"));
    size_t rows = (size_t)(t->local_batch > r->net->max_batch ? t->local_batch : r->net->max_batch);
    DK_CALL(dk_cuda_malloc(&d->dout, rows * t->n_out * es, "output gradient"));
    DK_CALL(dk_cuda_malloc(&d->scratch, dk_loss_cuda_scratch_bytes(rows * t->n_out), "loss scratch"));
    return DK_OK;
}

static dk_err bind_pde(dk_run *r, struct dk_device_run *d)
{
    const dk_pde_task *t = r->pde;
    const size_t es = dk_dtype_size(t->dtype), dim = (size_t)t->dim, chunk = (size_t)t->chunk;
    DK_CALL(DK_CALLOC(d->f_host, (size_t)(t->local_int > 0 ? t->local_int : 1), "interior sources"));
    DK_CALL(dk_cuda_malloc((void **)&d->f_int, (size_t)(t->local_int > 0 ? t->local_int : 1) * sizeof(double),
                           "interior sources"));
    DK_CALL(dk_cuda_malloc((void **)&d->coef, (1 + 2 * dim) * sizeof(double), "residual coefficients"));
    DK_CALL(dk_cuda_malloc(&d->x_int, (size_t)t->local_int * dim * es + 1, "interior points"));
    DK_CALL(dk_cuda_malloc(&d->x_bnd, (size_t)t->local_bnd * dim * es + 1, "boundary points"));
    DK_CALL(dk_cuda_malloc(&d->g_bnd, (size_t)t->local_bnd * es + 1, "boundary values"));
    DK_CALL(upload(&d->x_eval, t->x_eval, (size_t)t->local_eval * dim * es, d->stream, "evaluation points"));
    DK_CALL(upload(&d->u_eval, t->u_eval, (size_t)t->local_eval * sizeof(double), d->stream, "exact solution"));
    DK_CALL(dk_cuda_malloc(&d->gu, chunk * es, "loss gradient (u)"));
    DK_CALL(dk_cuda_malloc(&d->gu1, chunk * dim * es, "loss gradient (Du)"));
    DK_CALL(dk_cuda_malloc(&d->gu2, chunk * dim * es, "loss gradient (D2u)"));
    DK_CALL(dk_cuda_malloc(&d->scratch, dk_loss_cuda_scratch_bytes(chunk), "loss scratch"));
    return dk_train_device_points_changed(r);
}

dk_err dk_train_device_points_changed(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    const dk_pde_task *t = r->pde;
    if (!d || !t || !d->x_int)
        return DK_OK;
    const size_t es = dk_dtype_size(t->dtype), dim = (size_t)t->dim;
    double coef[1 + 2 * (DK_PDE_MAX_DIM + 1)];
    DK_CALL(dk_pde_task_linear_form(t, coef, d->f_host));
    DK_CALL(dk_cuda_to_device(d->coef, coef, (1 + 2 * dim) * sizeof(double), d->stream));
    DK_CALL(dk_cuda_to_device(d->f_int, d->f_host, (size_t)t->local_int * sizeof(double), d->stream));
    DK_CALL(dk_cuda_to_device(d->x_int, t->x_int, (size_t)t->local_int * dim * es, d->stream));
    DK_CALL(dk_cuda_to_device(d->x_bnd, t->x_bnd, (size_t)t->local_bnd * dim * es, d->stream));
    DK_CALL(dk_cuda_to_device(d->g_bnd, t->g_bnd, (size_t)t->local_bnd * es, d->stream));
    return DK_OK;
}

dk_err dk_train_device_lbfgs_alloc(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    dk_lbfgs_state ls;
    dk_lbfgs_state_view(r->lbfgs, &ls);
    free(d->lbfgs_s_host);
    free(d->lbfgs_y_host);
    dk_cuda_free(d->lbfgs_x);
    dk_cuda_free(d->lbfgs_g);
    d->lbfgs_s_host = d->lbfgs_y_host = d->lbfgs_x = d->lbfgs_g = NULL;
    d->lbfgs_history_doubles = (size_t)ls.history * ls.stride;
    DK_CALL(DK_CALLOC(d->lbfgs_s_host, d->lbfgs_history_doubles, "L-BFGS history (host copy)"));
    DK_CALL(DK_CALLOC(d->lbfgs_y_host, d->lbfgs_history_doubles, "L-BFGS history (host copy)"));
    DK_CALL(dk_cuda_malloc((void **)&d->lbfgs_x, ls.n * sizeof(double), "L-BFGS iterate"));
    DK_CALL(dk_cuda_malloc((void **)&d->lbfgs_g, ls.n * sizeof(double), "L-BFGS gradient"));
    return DK_OK;
}

dk_err dk_train_device_bind(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    const dk_network *net = r->net;
    const size_t es = dk_dtype_size(net->dtype);
    dk_network_cuda_destroy(&d->net);
    DK_CALL(dk_network_cuda_create(&d->net, net, d->stream));
    dk_cuda_free(d->grad_sum);
    dk_cuda_free(d->adam_m);
    dk_cuda_free(d->adam_v);
    d->grad_sum = d->adam_m = d->adam_v = NULL;
    DK_CALL(dk_cuda_malloc(&d->grad_sum, net->n_params * es, "gradient sum"));
    if (r->adam) {
        DK_CALL(dk_cuda_malloc(&d->adam_m, net->n_params * es, "Adam first moments"));
        DK_CALL(dk_cuda_malloc(&d->adam_v, net->n_params * es, "Adam second moments"));
    }
    if (!d->train_x && !d->x_int) /* task data: once (grid changes leave it as it is) */
        DK_CALL(r->fit ? bind_fit(r, d) : bind_pde(r, d));
    return dk_train_device_from_host(r);
}

/* ---------------------------------------------------------------------------------------
 * Host <-> device
 * ------------------------------------------------------------------------------------- */

dk_err dk_train_device_to_host(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    const size_t es = dk_dtype_size(r->net->dtype);
    DK_CALL(dk_network_cuda_download(d->net, r->net));
    if (r->adam && d->adam_m) {
        DK_CALL(dk_cuda_to_host(r->adam->m, d->adam_m, r->adam->n * es, d->stream));
        DK_CALL(dk_cuda_to_host(r->adam->v, d->adam_v, r->adam->n * es, d->stream));
    }
    if (r->lbfgs && d->lbfgs_x) {
        dk_lbfgs_state ls;
        dk_lbfgs_state_view(r->lbfgs, &ls);
        DK_CALL(dk_cuda_to_host(r->lbfgs_x, d->lbfgs_x, ls.n * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_host(r->lbfgs_g, d->lbfgs_g, ls.n * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_host(d->lbfgs_s_host, ls.s, d->lbfgs_history_doubles * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_host(d->lbfgs_y_host, ls.y, d->lbfgs_history_doubles * sizeof(double), d->stream));
    }
    return DK_OK;
}

dk_err dk_train_device_from_host(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    const size_t es = dk_dtype_size(r->net->dtype);
    DK_CALL(dk_network_cuda_upload(d->net, r->net));
    if (r->adam && d->adam_m) {
        DK_CALL(dk_cuda_to_device(d->adam_m, r->adam->m, r->adam->n * es, d->stream));
        DK_CALL(dk_cuda_to_device(d->adam_v, r->adam->v, r->adam->n * es, d->stream));
    }
    if (r->lbfgs && d->lbfgs_x) {
        dk_lbfgs_state ls;
        dk_lbfgs_state_view(r->lbfgs, &ls);
        DK_CALL(dk_cuda_to_device(d->lbfgs_x, r->lbfgs_x, ls.n * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_device(d->lbfgs_g, r->lbfgs_g, ls.n * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_device(ls.s, d->lbfgs_s_host, d->lbfgs_history_doubles * sizeof(double), d->stream));
        DK_CALL(dk_cuda_to_device(ls.y, d->lbfgs_y_host, d->lbfgs_history_doubles * sizeof(double), d->stream));
    }
    return DK_OK;
}

void dk_train_device_lbfgs_view(dk_run *r, dk_lbfgs_state *out)
{
    dk_lbfgs_state_view(r->lbfgs, out);
    out->s = r->dev->lbfgs_s_host;
    out->y = r->dev->lbfgs_y_host;
}

/* ---------------------------------------------------------------------------------------
 * The loss
 * ------------------------------------------------------------------------------------- */

static const char *at(const void *base, size_t elements, dk_dtype dt)
{
    return (const char *)base + elements * dk_dtype_size(dt);
}

/* As fit_local_loss in dk_train_loop.c, on the device: acc[0] receives the loss. */
static dk_err fit_local(dk_run *r, long step, bool full)
{
    struct dk_device_run *d = r->dev;
    const dk_fit_task *t = r->fit;
    const dk_network *net = r->net;
    const dk_dtype dt = net->dtype;
    const long first = full ? 1 : step, last = full ? t->n_batches : step;
    const bool averaged = full && t->n_batches > 1;
    for (long b = first; b <= last; b++) {
        const size_t row0 = dk_fit_task_batch_row(t, b);
        const void *pred;
        DK_CALL(dk_network_cuda_forward(d->net, t->local_batch, at(d->train_x, row0 * t->n_in, dt), &pred));
        DK_CALL(dk_loss_cuda_mse(dt, (size_t)t->local_batch * t->n_out, pred, at(d->train_y, row0 * t->n_out, dt),
                                 (double)t->batch * (double)t->n_out, d->dout, d->acc, d->scratch, d->stream));
        DK_CALL(dk_network_cuda_backward(d->net, t->local_batch, d->dout));
        if (averaged)
            DK_CALL(dk_vec_cuda_accumulate(dt, net->n_params, d->net->grads, d->grad_sum, b == first, d->stream));
    }
    if (averaged) {
        const double inv = 1.0 / (double)t->n_batches;
        DK_CALL(dk_cuda_device_copy(d->net->grads, d->grad_sum, net->n_params * dk_dtype_size(dt), d->stream));
        DK_CALL(dk_vec_cuda_scale(dt, net->n_params, inv, d->net->grads, d->stream));
        DK_CALL(dk_vec_cuda_scale(DK_F64, 1, inv, d->acc, d->stream));
    }
    return DK_OK;
}

/* As dk_pde_task_loss, on the device: acc[1] and acc[2] receive the two terms. */
static dk_err pde_local(dk_run *r)
{
    struct dk_device_run *d = r->dev;
    const dk_pde_task *t = r->pde;
    const dk_network *net = r->net;
    const dk_dtype dt = net->dtype;
    const size_t dim = (size_t)t->dim;
    bool first = true;
    for (long b = 0; b < t->local_int; b += t->chunk) {
        long rows = t->local_int - b < t->chunk ? t->local_int - b : t->chunk;
        const void *u, *u1, *u2;
        DK_CALL(dk_network_cuda_jet_forward(d->net, rows, at(d->x_int, (size_t)b * dim, dt), &u, &u1, &u2));
        DK_CALL(dk_loss_cuda_pde_interior(dt, (size_t)rows, t->dim, u, u1, u2, d->f_int + b, d->coef, t->alpha,
                                          (double)t->n_int, d->gu, d->gu1, d->gu2, d->acc + 1, d->scratch,
                                          d->stream));
        DK_CALL(dk_network_cuda_jet_backward(d->net, rows, d->gu, d->gu1, d->gu2));
        DK_CALL(dk_vec_cuda_accumulate(dt, net->n_params, d->net->grads, d->grad_sum, first, d->stream));
        first = false;
    }
    for (long b = 0; b < t->local_bnd; b += t->chunk) {
        long rows = t->local_bnd - b < t->chunk ? t->local_bnd - b : t->chunk;
        const void *u;
        DK_CALL(dk_network_cuda_forward(d->net, rows, at(d->x_bnd, (size_t)b * dim, dt), &u));
        DK_CALL(dk_loss_cuda_mse(dt, (size_t)rows, u, at(d->g_bnd, (size_t)b, dt), (double)t->n_bnd, d->gu,
                                 d->acc + 2, d->scratch, d->stream));
        DK_CALL(dk_network_cuda_backward(d->net, rows, d->gu));
        DK_CALL(dk_vec_cuda_accumulate(dt, net->n_params, d->net->grads, d->grad_sum, first, d->stream));
        first = false;
    }
    if (first) /* no points on this rank: it contributes zero */
        DK_CALL(dk_cuda_memset_zero(d->grad_sum, net->n_params * dk_dtype_size(dt), d->stream));
    DK_CALL(dk_cuda_device_copy(d->net->grads, d->grad_sum, net->n_params * dk_dtype_size(dt), d->stream));
    return DK_OK;
}

dk_err dk_train_device_global_loss(dk_run *r, long step, bool full, double sums[DK_N_SLOTS])
{
    struct dk_device_run *d = r->dev;
    const dk_network *net = r->net;
    const dk_dtype dt = net->dtype;
    const size_t es = dk_dtype_size(dt);
    DK_CALL(dk_cuda_memset_zero(d->acc, 4 * sizeof(double), d->stream));
    DK_CALL(r->pde ? pde_local(r) : fit_local(r, step, full));
    /* The loss terms (acc[0..2], in slot order) go into the gradient's spare slots on the
     * device, the control word (host-side) beside them, and one all-reduce carries
     * everything. */
    char *slots = (char *)d->net->grads + net->n_params * es;
    DK_CALL(dk_vec_cuda_store_scalars(dt, slots, d->acc, DK_SLOT_CONTROL, d->stream));
    double *control = &d->pinned[DK_N_SLOTS]; /* pinned's staging element, after the read-back */
    if (dt == DK_F64)
        *control = dk_train_control_word(r);
    else
        ((float *)control)[0] = (float)dk_train_control_word(r);
    /* Queued without a wait, so that the host does not stall the step here: the staging
     * element is next written in the next evaluation, after the read-back below has waited
     * for this stream. */
    DK_CALL(dk_cuda_to_device_async(slots + DK_SLOT_CONTROL * es, control, es, d->stream));
    DK_CALL(dk_comm_allreduce_sum(r->comm, d->net->grads, net->n_params + DK_N_SLOTS, dt, DK_MEM_DEVICE));
    DK_CALL(dk_cuda_to_host(d->pinned, slots, DK_N_SLOTS * es, d->stream));
    for (int i = 0; i < DK_N_SLOTS; i++)
        sums[i] = dk_load(dt, d->pinned, (size_t)i);
    if (r->pde)
        sums[DK_SLOT_LOSS] = sums[DK_SLOT_INTERIOR] + sums[DK_SLOT_BOUNDARY];
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Optimisers
 * ------------------------------------------------------------------------------------- */

dk_err dk_train_device_adam(dk_run *r, double lr)
{
    struct dk_device_run *d = r->dev;
    dk_adam_scalars s = dk_adam_next_scalars(r->adam, lr);
    DK_CALL(dk_adam_cuda_step(r->net->dtype, r->net->n_params, d->net->params, d->net->grads, d->adam_m, d->adam_v,
                              &s, d->stream));
    return DK_OK;
}

double *dk_train_device_lbfgs_x(dk_run *r) { return r->dev->lbfgs_x; }
double *dk_train_device_lbfgs_g(dk_run *r) { return r->dev->lbfgs_g; }

dk_err dk_train_device_params_to_x(dk_run *r, double *x)
{
    return dk_vec_cuda_to_f64(r->net->dtype, r->net->n_params, r->dev->net->params, x, r->dev->stream);
}

dk_err dk_train_device_x_to_params(dk_run *r, const double *x)
{
    return dk_vec_cuda_from_f64(r->net->dtype, r->net->n_params, x, r->dev->net->params, r->dev->stream);
}

dk_err dk_train_device_grads_to_g(dk_run *r, double *g)
{
    return dk_vec_cuda_to_f64(r->net->dtype, r->net->n_params, r->dev->net->grads, g, r->dev->stream);
}

/* ---------------------------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------------------------- */

dk_err dk_train_device_evaluate(dk_run *r, double sums[2], double *max_err)
{
    struct dk_device_run *d = r->dev;
    const dk_dtype dt = r->net->dtype;
    const long cap = r->net->max_batch;
    DK_CALL(dk_cuda_memset_zero(d->acc, 4 * sizeof(double), d->stream));
    if (r->fit) {
        const dk_fit_task *t = r->fit;
        for (long row = 0; row < t->local_test; row += cap) {
            long n = t->local_test - row < cap ? t->local_test - row : cap;
            const void *pred;
            DK_CALL(dk_network_cuda_forward(d->net, n, at(d->test_x, (size_t)row * t->n_in, dt), &pred));
            DK_CALL(dk_loss_cuda_mse(dt, (size_t)n * t->n_out, pred, at(d->test_y, (size_t)row * t->n_out, dt), 1.0,
                                     NULL, d->acc, d->scratch, d->stream));
        }
    } else {
        const dk_pde_task *t = r->pde;
        for (long b = 0; b < t->local_eval; b += t->chunk) {
            long rows = t->local_eval - b < t->chunk ? t->local_eval - b : t->chunk;
            const void *u;
            DK_CALL(dk_network_cuda_forward(d->net, rows, at(d->x_eval, (size_t)b * t->dim, dt), &u));
            DK_CALL(dk_loss_cuda_pde_eval(dt, (size_t)rows, u, (const double *)d->u_eval + b, d->acc, d->scratch,
                                          d->stream));
        }
    }
    DK_CALL(dk_cuda_to_host(d->pinned, d->acc, 3 * sizeof(double), d->stream));
    sums[0] = d->pinned[0];
    sums[1] = d->pinned[1];
    *max_err = d->pinned[2];
    return DK_OK;
}

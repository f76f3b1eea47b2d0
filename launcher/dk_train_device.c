/* Choosing where a run computes (see dk_train_device.h). Built with or without CUDA. */
#include "dk_train_device.h"

#include <stdio.h>

#include "../kernels/dk_kan_cuda.h"

/* Implemented in dk_train_device_cuda.c: creates r->dev on the activated GPU. */
dk_err dk_train_device_start(dk_run *r, dk_comm_choice comm);

/* `auto` after all takes the CPU, for the reason `why` (the log's device line). */
static void use_cpu(dk_device_choice *d, const char *why)
{
    d->kind = DK_DEVICE_CPU;
    snprintf(d->why, sizeof d->why, "%s", why);
    snprintf(d->name, sizeof d->name, "cpu");
}

/* A model the CUDA kernels cannot serve (why_not, e.g. "layer 1 (70000 -> 1) is too wide for
 * the CUDA kernels"), found at set-up rather than mid-run, for every rank alike: `cuda` is a
 * configuration error naming `key` (detail: more on the limit) and what to do instead
 * (`advice`), `auto` takes the CPU and says why. */
static dk_err refuse_or_use_cpu(dk_run *r, const char *key, const char *why_not, const char *detail,
                                const char *advice, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    if (cfg->device == DK_DEVICE_CUDA)
        DK_CALL(dk_comm_agree(r->comm,
                              dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: %s: %s%s; use [dist] device = cpu, or %s",
                                           cfg->source_path, key, why_not, detail, advice),
                              local_failure));
    char why[sizeof r->device.why];
    snprintf(why, sizeof why, "device = auto: %s", why_not);
    use_cpu(&r->device, why);
    return DK_OK;
}

#ifdef DISTKAN_HAVE_CUDA
/* Whether the chosen GPUs can run the backward at the largest G of the run's grid
 * schedule: the parameter-gradient kernel keeps a column of G + k sums per edge in shared
 * memory (float64, k = 3: G <= 899 on an H100, 889 for the PDE kernels). Found here rather
 * than at the first backward at that G, which may come after hours of a grid schedule, and
 * before the GPU is made current, so that `auto` leaves it untouched. The smallest GPU of
 * the job decides, for every rank alike: "" when it fits, else why not, in `why`. */
static dk_err grid_fits_gpu(dk_run *r, char *why, size_t cap, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    dk_grid_schedule plan;
    dk_config_grid_schedule(cfg, &plan);
    int G = cfg->grid;
    for (int s = 0; s < plan.n_stages; s++)
        G = plan.G[s] > G ? plan.G[s] : G;
    const int jet = cfg->task == DK_TASK_PDE;
    size_t mine = 0;
    DK_CALL(dk_comm_agree(r->comm, dk_kan_cuda_smem_limit(r->device.ordinal, &mine), local_failure));
    double neg_limit = -(double)mine; /* the smallest limit, as a maximum */
    DK_CALL(dk_comm_allreduce_max_f64(r->comm, &neg_limit, 1));
    const size_t limit = (size_t)-neg_limit;
    why[0] = '\0';
    const size_t need = dk_kan_cuda_param_smem_bytes(G, cfg->k, cfg->precision, jet);
    if (need > limit)
        snprintf(why, cap, "G = %d needs %zu bytes of shared memory per block in the CUDA %sbackward, more than "
                 "the GPU%s gives (%zu bytes: at most G = %d at k = %d in %s)", G, need, jet ? "second-order " : "",
                 r->world > 1 ? " of the job that gives least" : "", limit,
                 dk_kan_cuda_largest_grid(cfg->k, cfg->precision, jet, limit), cfg->k,
                 cfg->precision == DK_F64 ? "float64" : "float32");
    return DK_OK;
}
#endif

dk_err dk_train_device_open(dk_run *r, int *local_failure)
{
    const dk_config *cfg = r->cfg;
    dk_err err = dk_device_choose(cfg->device, dk_comm_local_rank(r->comm), dk_comm_local_size(r->comm), &r->device);
    DK_CALL(dk_comm_agree(r->comm, err, local_failure));
    /* One rank without a GPU puts an `auto` run on the CPU everywhere: collectives need
     * every rank to agree. */
    double cpu_somewhere = r->device.kind == DK_DEVICE_CPU;
    DK_CALL(dk_comm_allreduce_max_f64(r->comm, &cpu_somewhere, 1));
    if (cpu_somewhere > 0 && r->device.kind == DK_DEVICE_CUDA)
        use_cpu(&r->device, "device = auto: some rank sees no CUDA device");
    if (r->device.kind == DK_DEVICE_CPU)
        return DK_OK;
    /* The kernels' launch limits, here rather than at the first forward, mid-run: `auto`
     * then takes the CPU, `cuda` is a configuration error. The same verdict on every rank. */
    char why_not[sizeof r->device.why - 16];
    for (int l = 0; l + 1 < cfg->n_widths; l++) {
        if (cfg->widths[l] <= DK_KAN_CUDA_MAX_IN && cfg->widths[l + 1] <= DK_KAN_CUDA_MAX_OUT)
            continue;
        char detail[96];
        snprintf(why_not, sizeof why_not, "layer %d (%d -> %d) is too wide for the CUDA kernels", l, cfg->widths[l],
                 cfg->widths[l + 1]);
        snprintf(detail, sizeof detail, " (at most %d inputs and %d outputs per layer)", DK_KAN_CUDA_MAX_IN,
                 DK_KAN_CUDA_MAX_OUT);
        return refuse_or_use_cpu(r, "[model] widths", why_not, detail, "narrower layers", local_failure);
    }
#ifdef DISTKAN_HAVE_CUDA
    DK_CALL(grid_fits_gpu(r, why_not, sizeof why_not, local_failure));
    if (why_not[0])
        return refuse_or_use_cpu(r, "[model] grid / [grid] schedule", why_not, "", "a smaller G", local_failure);
#endif
    DK_CALL(dk_comm_agree(r->comm, dk_device_activate(&r->device), local_failure));
    /* Two ranks of a node on one physical GPU (the same PCI bus id, whatever ordinal each
     * sees it under) put the all-reduce on MPI for every rank. Counting ranks against
     * visible GPUs would not do: a scheduler may give each rank a single GPU of its own. */
    int a = -1, b = -1;
    char where[160];
    DK_CALL(dk_comm_find_shared(r->comm, r->device.bus, &a, &b, where, sizeof where));
    r->device.shared = a >= 0;
    if (r->device.shared)
        snprintf(r->device.sharing, sizeof r->device.sharing, "ranks %d and %d share GPU %s", a, b, where);
    dk_comm_choice comm = DK_COMM_CHOICE_MPI;
    DK_CALL(dk_comm_agree(r->comm, dk_device_comm(cfg->comm, &r->device, r->world, &comm), local_failure));
#ifdef DISTKAN_HAVE_CUDA
    DK_CALL(dk_comm_agree(r->comm, dk_train_device_start(r, comm), local_failure));
    return DK_OK;
#else
    DK_ERROR(DK_ERR_INTERNAL, "a GPU was chosen in a build without CUDA");
#endif
}

#ifndef DISTKAN_HAVE_CUDA
/* Without the CUDA backend r->dev is always NULL and none of these is ever reached; they
 * exist so that the launcher has one code path for both builds. */
#define UNREACHABLE DK_ERROR(DK_ERR_INTERNAL, "%s called in a build without CUDA", __func__)
dk_err dk_train_device_bind(dk_run *r) { UNREACHABLE; }
const dk_vec_ops *dk_train_device_vec_ops(dk_run *r) { return NULL; }
dk_err dk_train_device_lbfgs_alloc(dk_run *r) { UNREACHABLE; }
dk_err dk_train_device_points_changed(dk_run *r) { UNREACHABLE; }
dk_err dk_train_device_to_host(dk_run *r) { UNREACHABLE; }
dk_err dk_train_device_from_host(dk_run *r) { UNREACHABLE; }
dk_err dk_train_device_global_loss(dk_run *r, long step, bool full, double sums[DK_N_SLOTS]) { UNREACHABLE; }
dk_err dk_train_device_adam(dk_run *r, double lr) { UNREACHABLE; }
double *dk_train_device_lbfgs_x(dk_run *r) { return NULL; }
double *dk_train_device_lbfgs_g(dk_run *r) { return NULL; }
dk_err dk_train_device_params_to_x(dk_run *r, double *x) { UNREACHABLE; }
dk_err dk_train_device_x_to_params(dk_run *r, const double *x) { UNREACHABLE; }
dk_err dk_train_device_grads_to_g(dk_run *r, double *g) { UNREACHABLE; }
void dk_train_device_lbfgs_view(dk_run *r, dk_lbfgs_state *out) { dk_lbfgs_state_view(r->lbfgs, out); }
dk_err dk_train_device_evaluate(dk_run *r, double sums[2], double *max_err) { UNREACHABLE; }
void dk_train_device_close(dk_run *r) {}
#endif

/* The table of configuration keys: each key's section, type, default, range, whether a
 * resumed run may change it, and its one-line documentation. Adding a key means adding its
 * field to dk_config (dk_config.h) and one entry here; parsing, printing, the resume check
 * and the key reference follow from the entry. */
#include "dk_config_schema.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../tasks/dk_fit_functions.h"
#include "../tasks/dk_pde_problem.h"

/* Enum keys are stored through an int; the enums involved must have int's representation. */
_Static_assert(sizeof(dk_dtype) == sizeof(int), "dk_dtype is stored as int");
_Static_assert(sizeof(dk_lr_kind) == sizeof(int), "dk_lr_kind is stored as int");
_Static_assert(sizeof(dk_task_kind) == sizeof(int), "dk_task_kind is stored as int");
_Static_assert(sizeof(dk_optimizer_kind) == sizeof(int), "dk_optimizer_kind is stored as int");
_Static_assert(sizeof(dk_sampling) == sizeof(int), "dk_sampling is stored as int");

#define FIELD(f) .offset = offsetof(dk_config, f), .size = sizeof(((dk_config *)0)->f)

static const char *const precision_names[] = {"float64", "float32", NULL}; /* = dk_dtype */
static const char *const device_names[] = {"auto", "cpu", "cuda", NULL};       /* = dk_device_kind */
static const char *const comm_names[] = {"auto", "nccl", "mpi", NULL};         /* = dk_comm_choice */
static const char *const optimizer_names[] = {"adam", "lbfgs", "adam_then_lbfgs", NULL}; /* = dk_optimizer_kind */
static const char *const sampling_names[] = {"uniform", "halton", NULL};    /* = dk_sampling */
static const char *const lr_schedule_names[] = {"constant", "cosine", "step", NULL}; /* = dk_lr_kind */
static const char *const task_names[] = {"fit", "pde", NULL};              /* = dk_task_kind */

/* [fit] function: a built-in name, or empty (required only when csv is empty, which is a
 * cross-key rule). */
static bool accepts_function(const char *value) { return !value[0] || dk_fit_function_find(value) != NULL; }

void dk_config_expect_function(char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "one of: ");
    for (const dk_fit_function *f = dk_fit_functions; f->name && used < n; f++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", f == dk_fit_functions ? "" : ", ", f->name);
    if (used < n)
        snprintf(buf + used, n - used, " (or empty when csv is set)");
}

static bool accepts_problem(const char *value) { return dk_pde_problem_find(value) != NULL; }

void dk_config_expect_problem(char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "one of: ");
    if (used < n)
        dk_pde_problem_names(buf + used, n - used);
}

static void expect_csv(char *buf, size_t n) { snprintf(buf, n, "a file path, or empty"); }
static void expect_run_dir(char *buf, size_t n) { snprintf(buf, n, "a directory path, or empty for runs/<config file stem>"); }
static void expect_checkpoint_dir(char *buf, size_t n) { snprintf(buf, n, "a directory path, or empty for <run_dir>/checkpoints"); }

const dk_key_spec dk_config_keys[] = {
    /* [model] */
    {.section = "model", .key = "widths", .type = DK_KEY_INT_LIST, .default_text = "2,5,1", FIELD(widths),
     .count_offset = offsetof(dk_config, n_widths), .imin = 1, .imax = INT_MAX, .min_count = 2,
     .max_count = DK_MAX_LAYERS + 1,
     .doc = "Layer widths from inputs to outputs: 2,5,1 is 2 inputs, one hidden layer of 5, 1 output."},
    {.section = "model", .key = "grid", .type = DK_KEY_INT, .default_text = "5", FIELD(grid), .imin = 1, .imax = DK_MAX_GRID,
     .doc = "Grid intervals G per input; each activation has G + k B-spline coefficients. Set-up costs O(G k^2) "
            "per input from G = 257 on; every grid change (extension, update from samples) O(G^3) per input (an "
            "extension 1000 -> 2000: about 7 s, 2000 -> 4000: 49 s, on one core of a busy machine)."},
    {.section = "model", .key = "k", .type = DK_KEY_INT, .default_text = "3", FIELD(k), .imin = 1, .imax = 7,
     .doc = "B-spline degree (3 = cubic)."},
    {.section = "model", .key = "grid_range", .type = DK_KEY_DOUBLE_PAIR, .default_text = "-1,1", FIELD(grid_range),
     .doc = "Initial grid interval lo,hi of every input; also the sampling box of built-in functions. The knot "
            "spacing (hi - lo)/G must stay far above the knots' rounding and large enough for the basis's "
            "derivatives, of order 1/spacing^k, to stay finite (about 3e-5 for k = 7 in float32), and small enough "
            "for the powers spacing^k in its pieces to stay finite (about 3e4 for k = 7 in float32, 8e11 for k = 3): "
            "scale inputs in physical units."},
    {.section = "model", .key = "grid_eps", .type = DK_KEY_DOUBLE, .default_text = "0.02", FIELD(grid_eps), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MAX,
     .doc = "Grid update knots = grid_eps * uniform + (1 - grid_eps) * sample quantiles."},
    {.section = "model", .key = "precision", .type = DK_KEY_ENUM, .default_text = "float64", FIELD(precision),
     .names = precision_names, .doc = "Element type of parameters, gradients and data."},
    {.section = "model", .key = "seed", .type = DK_KEY_INT, .default_text = "0", FIELD(seed), .imin = 0,
     .imax = LLONG_MAX, .doc = "Seed of the random initial coefficients and of generated data."},
    {.section = "model", .key = "noise_scale", .type = DK_KEY_DOUBLE, .default_text = "0.3", FIELD(noise_scale),
     .dmin = 0, .range = DK_RANGE_MIN, .doc = "Scale of the random noise in the initial spline coefficients (pykan noise_scale)."},
    {.section = "model", .key = "scale_base_mu", .type = DK_KEY_DOUBLE, .default_text = "0.0", FIELD(scale_base_mu),
     .doc = "Mean of the initial scale of the residual base branch (pykan scale_base_mu)."},
    {.section = "model", .key = "scale_base_sigma", .type = DK_KEY_DOUBLE, .default_text = "1.0",
     FIELD(scale_base_sigma), .dmin = 0, .range = DK_RANGE_MIN,
     .doc = "Spread of the initial scale of the residual base branch (pykan scale_base_sigma)."},
    {.section = "model", .key = "scale_sp", .type = DK_KEY_DOUBLE, .default_text = "1.0", FIELD(scale_sp),
     .doc = "Initial scale of the spline branch (pykan scale_sp)."},

    /* [train] */
    {.section = "train", .key = "optimizer", .type = DK_KEY_ENUM, .default_text = "adam", FIELD(optimizer),
     .names = optimizer_names,
     .doc = "adam; lbfgs (full-batch L-BFGS, [lbfgs] section); adam_then_lbfgs ([train] steps Adam steps, then "
            "[lbfgs] steps L-BFGS iterations)."},
    {.section = "train", .key = "steps", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "1000", FIELD(steps), .imin = 0,
     .imax = 1000000000,
     .doc = "Adam steps (optimizer adam or adam_then_lbfgs; unused by lbfgs). 0 = evaluate only."},
    {.section = "train", .key = "lr", .type = DK_KEY_DOUBLE, .default_text = "0.01", FIELD(lr), .dmin = 0,
     .range = DK_RANGE_MIN | DK_RANGE_MIN_OPEN, .doc = "Base (peak) learning rate."},
    {.section = "train", .key = "lr_schedule", .type = DK_KEY_ENUM, .default_text = "constant", FIELD(lr_schedule),
     .names = lr_schedule_names,
     .doc = "After warm-up: constant lr, cosine decay to lr_min, or step decay by lr_gamma every lr_step_every steps."},
    {.section = "train", .key = "lr_min", .type = DK_KEY_DOUBLE, .default_text = "0", FIELD(lr_min), .dmin = 0,
     .range = DK_RANGE_MIN, .doc = "Floor of the cosine schedule; must be < lr when lr_schedule = cosine."},
    {.section = "train", .key = "lr_gamma", .type = DK_KEY_DOUBLE, .default_text = "0.5", FIELD(lr_gamma), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MIN_OPEN | DK_RANGE_MAX, .doc = "Decay factor of the step schedule."},
    {.section = "train", .key = "lr_step_every", .type = DK_KEY_INT, .default_text = "1000", FIELD(lr_step_every),
     .imin = 1, .imax = LLONG_MAX, .doc = "Period of the step schedule, in steps."},
    {.section = "train", .key = "warmup_steps", .type = DK_KEY_INT, .default_text = "0", FIELD(warmup_steps), .imin = 0,
     .imax = LLONG_MAX, .doc = "Linear warm-up steps from lr/warmup_steps to lr; must be < steps when steps > 0."},
    {.section = "train", .key = "beta1", .type = DK_KEY_DOUBLE, .default_text = "0.9", FIELD(beta1), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MAX | DK_RANGE_MAX_OPEN, .doc = "Adam decay rate of the first-moment estimate."},
    {.section = "train", .key = "beta2", .type = DK_KEY_DOUBLE, .default_text = "0.999", FIELD(beta2), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MAX | DK_RANGE_MAX_OPEN, .doc = "Adam decay rate of the second-moment estimate."},
    {.section = "train", .key = "eps", .type = DK_KEY_DOUBLE, .default_text = "1e-8", FIELD(adam_eps), .dmin = 0,
     .range = DK_RANGE_MIN | DK_RANGE_MIN_OPEN, .doc = "Adam epsilon, added to the denominator sqrt(v) + eps."},
    {.section = "train", .key = "weight_decay", .type = DK_KEY_DOUBLE, .default_text = "0", FIELD(weight_decay),
     /* Bounded because Adam's update is scale-free: beyond about 1 the decay term alone sets
      * each step (lr toward zero), and a huge one overflows the second moment to inf, which
      * freezes every parameter while the loss stays finite: a run that would fail silently. */
     .dmin = 0, .dmax = 1000, .range = DK_RANGE_MIN | DK_RANGE_MAX,
     .doc = "Weight decay coefficient (0 = none), L2 added to the Adam gradient as torch.optim.Adam."},
    {.section = "train", .key = "batch", .type = DK_KEY_INT, .default_text = "0", FIELD(batch), .imin = 0,
     .imax = LLONG_MAX, .doc = "Global batch per step, summed over ranks, at least the number of ranks; 0 = the whole training set."},
    {.section = "train", .key = "log_every", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "100", FIELD(log_every), .imin = 1,
     .imax = LLONG_MAX, .doc = "Report the loss every this many steps (and at the last step)."},

    /* [lbfgs] */
    {.section = "lbfgs", .key = "steps", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "100", FIELD(lbfgs_steps), .imin = 0,
     .imax = 1000000000,
     .doc = "L-BFGS iterations (one line search each) for optimizer lbfgs or adam_then_lbfgs; a run stops earlier "
            "when the line search makes no progress."},
    {.section = "lbfgs", .key = "history", .type = DK_KEY_INT, .default_text = "10", FIELD(lbfgs_history), .imin = 1,
     .imax = 1000, .doc = "Correction pairs kept (memory: 2 x history x parameters float64 numbers)."},
    {.section = "lbfgs", .key = "max_evals", .type = DK_KEY_INT, .default_text = "25", FIELD(lbfgs_max_evals),
     .imin = 1, .imax = 1000, .doc = "Loss and gradient evaluations allowed per line search."},
    {.section = "lbfgs", .key = "c1", .type = DK_KEY_DOUBLE, .default_text = "1e-4", FIELD(lbfgs_c1), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MAX | DK_RANGE_MIN_OPEN | DK_RANGE_MAX_OPEN,
     .doc = "Strong Wolfe sufficient-decrease constant (0 < c1 < c2)."},
    {.section = "lbfgs", .key = "c2", .type = DK_KEY_DOUBLE, .default_text = "0.9", FIELD(lbfgs_c2), .dmin = 0,
     .dmax = 1, .range = DK_RANGE_MIN | DK_RANGE_MAX | DK_RANGE_MIN_OPEN | DK_RANGE_MAX_OPEN,
     .doc = "Strong Wolfe curvature constant (c1 < c2 < 1)."},
    {.section = "lbfgs", .key = "tolerance_grad", .resume_may_change = true, .type = DK_KEY_DOUBLE, .default_text = "0",
     FIELD(lbfgs_tolerance_grad), .dmin = 0, .range = DK_RANGE_MIN,
     .doc = "Stop when the largest gradient component is at most this (0 = never, as pykan)."},
    {.section = "lbfgs", .key = "tolerance_change", .resume_may_change = true, .type = DK_KEY_DOUBLE, .default_text = "0",
     FIELD(lbfgs_tolerance_change), .dmin = 0, .range = DK_RANGE_MIN,
     .doc = "Stop when both the loss change and the largest parameter change of a step are below this "
            "(0 = never); a line search also stops narrowing its bracket once the bracket's width moves no "
            "parameter by this much (torch: a fixed 1e-9)."},

    /* [grid] */
    {.section = "grid", .key = "schedule", .type = DK_KEY_INT_LIST, .default_text = "", FIELD(grid_schedule),
     .count_offset = offsetof(dk_config, n_grid_schedule), .imin = 1, .imax = DK_MAX_GRID, .min_count = 0,
     .max_count = DK_GRID_MAX_STAGES,
     .doc = "Grid extension: G of each training stage, strictly increasing, e.g. 5,10,20,50; the network starts at "
            "the first (which [model] grid must equal if set) and is refined at each stage change. Empty = no "
            "extension."},
    {.section = "grid", .key = "steps", .resume_may_change = true, .type = DK_KEY_INT_LIST, .default_text = "", FIELD(grid_steps),
     .count_offset = offsetof(dk_config, n_grid_steps), .imin = 1, .imax = INT_MAX, .min_count = 0,
     .max_count = DK_GRID_MAX_STAGES,
     .doc = "Updates (Adam steps and L-BFGS iterations) per stage: one value for every stage or one per stage, "
            "summing to the run's updates; empty = the run's updates split equally."},
    {.section = "grid", .key = "update_every", .type = DK_KEY_INT, .default_text = "0", FIELD(grid_update_every),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "Grid update from samples (knots to the inputs' quantiles, splines refitted) before update 0, N, 2N, "
            "... of every stage; 0 = never (pykan's grid_update_freq)."},
    {.section = "grid", .key = "update_until", .type = DK_KEY_INT, .default_text = "0", FIELD(grid_update_until),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "No grid update at or after this update of a stage (pykan's stop_grid_update_step); 0 = the whole "
            "stage."},
    {.section = "grid", .key = "update_samples", .type = DK_KEY_INT, .default_text = "2048",
     FIELD(grid_update_samples), .imin = 1, .imax = 1000000,
     .doc = "Global input samples per grid update, spread evenly over the training set (fit) or the current "
            "interior collocation points (PDE), at most all of them; every rank gets the same set."},

    /* [task] */
    {.section = "task", .key = "type", .type = DK_KEY_ENUM, .default_text = "fit", FIELD(task), .names = task_names,
     .doc = "fit = regression on a built-in function or a CSV file ([fit]); pde = physics-informed solution of a "
            "built-in PDE ([pde])."},

    /* [fit] */
    {.section = "fit", .key = "function", .type = DK_KEY_STRING, .default_text = "exp_sin_sq", FIELD(function),
     .accepts = accepts_function, .expect = dk_config_expect_function,
     .doc = "Built-in target function; ignored, and cleared, when csv is set."},
    {.section = "fit", .key = "csv", .type = DK_KEY_STRING, .default_text = "", FIELD(csv), .expect = expect_csv, .path = true,
     .resume_may_change = true,
     .doc = "CSV dataset; when non-empty, function is ignored. The last target_columns columns are targets. On "
            "resume the path may differ, the file's contents may not (checked by size and CRC-32C)."},
    {.section = "fit", .key = "target_columns", .type = DK_KEY_INT, .default_text = "1", FIELD(target_columns),
     .imin = 1, .imax = INT_MAX, .doc = "CSV only: how many trailing columns are targets."},
    {.section = "fit", .key = "train_size", .type = DK_KEY_INT, .default_text = "1000", FIELD(train_size), .imin = 0,
     .imax = LLONG_MAX, .doc = "Training samples; with csv, 0 = every row not in the test set (built-in: >= 1)."},
    {.section = "fit", .key = "test_size", .type = DK_KEY_INT, .default_text = "1000", FIELD(test_size), .imin = 0,
     .imax = LLONG_MAX, .doc = "Test samples, held out for evaluation."},

    /* [pde] */
    {.section = "pde", .key = "problem", .type = DK_KEY_STRING, .default_text = "poisson2d", FIELD(pde_problem),
     .accepts = accepts_problem, .expect = dk_config_expect_problem,
     .doc = "Built-in problem (docs/pde.md lists the equations): poisson2d, helmholtz2d, poisson_nd, heat_nd."},
    {.section = "pde", .key = "dim", .type = DK_KEY_INT, .default_text = "2", FIELD(pde_dim), .imin = 1,
     .imax = DK_PDE_MAX_SPACE_DIM, .doc = "Spatial dimension d of poisson_nd and heat_nd (heat_nd has d + 1 inputs)."},
    {.section = "pde", .key = "a1", .type = DK_KEY_DOUBLE, .default_text = "1", FIELD(pde_a1),
     .doc = "helmholtz2d: u = sin(a1 pi x) sin(a2 pi y); a1, a2 and wavenumber whose squares overflow are refused."},
    {.section = "pde", .key = "a2", .type = DK_KEY_DOUBLE, .default_text = "4", FIELD(pde_a2),
     .doc = "helmholtz2d: see a1."},
    {.section = "pde", .key = "wavenumber", .type = DK_KEY_DOUBLE, .default_text = "1", FIELD(pde_wavenumber),
     .doc = "helmholtz2d: k in u_xx + u_yy + k^2 u = q; where k^2 is an eigenvalue (pi^2/4)(m^2 + n^2) of the "
            "square the solution is not unique, and the run warns (docs/pde.md)."},
    {.section = "pde", .key = "diffusivity", .type = DK_KEY_DOUBLE, .default_text = "0.1", FIELD(pde_diffusivity),
     .dmin = 0, .range = DK_RANGE_MIN | DK_RANGE_MIN_OPEN, .doc = "heat_nd: kappa in u_t = kappa Laplacian u; kappa pi^2 must be finite."},
    {.section = "pde", .key = "alpha", .type = DK_KEY_DOUBLE, .default_text = "0.01", FIELD(pde_alpha), .dmin = 0,
     /* Bounded for the reason weight_decay is: a huge weight squares past the largest
      * double (float: 1e38) in Adam's second moment, which then freezes the run silently. */
     .dmax = 1e6, .range = DK_RANGE_MIN | DK_RANGE_MIN_OPEN | DK_RANGE_MAX,
     .doc = "Loss = alpha * mean(residual^2) + mean((u - g)^2 on the boundary) (pykan's tutorial: 0.01)."},
    {.section = "pde", .key = "interior_points", .type = DK_KEY_INT, .default_text = "4096", FIELD(pde_interior),
     .imin = 1, .imax = LLONG_MAX, .doc = "Interior collocation points, summed over ranks; at least the number of ranks."},
    {.section = "pde", .key = "boundary_points", .type = DK_KEY_INT, .default_text = "1024", FIELD(pde_boundary),
     .imin = 1, .imax = LLONG_MAX, .doc = "Boundary collocation points, summed over ranks (at least the number of ranks, "
            "and one per face that carries boundary data: 4 for poisson2d and helmholtz2d, 2 dim for poisson_nd, "
            "2 dim + 1 for heat_nd), shared equally by the faces."},
    {.section = "pde", .key = "sampling", .type = DK_KEY_ENUM, .default_text = "halton", FIELD(pde_sampling),
     .names = sampling_names,
     .doc = "Collocation points: uniform random, or the scrambled, randomly shifted Halton sequence (low discrepancy)."},
    {.section = "pde", .key = "resample_every", .type = DK_KEY_INT, .default_text = "0", FIELD(pde_resample_every),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "Draw new collocation points every this many steps (0 = never); clears the L-BFGS history."},
    {.section = "pde", .key = "eval_grid", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "51", FIELD(pde_eval_grid), .imin = 2,
     .imax = 100000, .doc = "Evaluation on a tensor grid of eval_grid points per axis (problems with up to 3 inputs)."},
    {.section = "pde", .key = "eval_points", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "10000", FIELD(pde_eval_points),
     .imin = 1, .imax = LLONG_MAX, .doc = "Evaluation on this many uniform random points (problems with more than 3 inputs)."},

    /* [dist] */
    {.section = "dist", .key = "threads", .resume_may_change = true, .type = DK_KEY_INT, .default_text = "1", FIELD(threads), .imin = 1,
     .imax = 1024,
     .doc = "OpenMP threads per rank; part of the config because results are bitwise reproducible only for a "
            "fixed thread count."},
    {.section = "dist", .key = "device", .resume_may_change = true, .type = DK_KEY_ENUM, .default_text = "auto",
     FIELD(device), .names = device_names,
     .doc = "Where each rank computes: cuda (one GPU per rank, chosen by its rank on the node), cpu, or auto "
            "(cuda when every rank sees a GPU, distkan was built with CUDA and the model fits the GPU kernels: "
            "at most 65535 inputs and 65535 x 32 outputs per layer, and a largest G of the grid schedule that fits the GPU's shared "
            "memory, 899 at k = 3 in float64 on an H100 (docs/gpu.md); else cpu, saying why)."},
    {.section = "dist", .key = "comm", .resume_may_change = true, .type = DK_KEY_ENUM, .default_text = "auto",
     FIELD(comm), .names = comm_names,
     .doc = "Gradient all-reduce on GPUs: nccl, or mpi (staged through host memory; lets several ranks share "
            "a GPU); auto = nccl unless ranks share a GPU or there is one rank (nothing to sum). CPU runs always "
            "use MPI."},

    /* [output] */
    {.section = "output", .key = "run_dir", .resume_may_change = true, .type = DK_KEY_STRING, .default_text = "", FIELD(run_dir),
     .expect = expect_run_dir, .path = true,
     .doc = "Directory for logs, checkpoints and the resolved config; empty = runs/<config file stem>; "
            "--run-dir overrides."},

    /* [checkpoint] */
    {.section = "checkpoint", .key = "every", .type = DK_KEY_INT, .default_text = "0", FIELD(ckpt_every), .imin = 0,
     .imax = LLONG_MAX, .resume_may_change = true,
     .doc = "Write a checkpoint after every this many updates; 0 = never (SIGTERM, SIGUSR1 and the end of the run "
            "still write one)."},
    {.section = "checkpoint", .key = "every_seconds", .type = DK_KEY_DOUBLE, .default_text = "0",
     FIELD(ckpt_every_seconds), .dmin = 0, .range = DK_RANGE_MIN, .resume_may_change = true,
     .doc = "Also write one when this many seconds have passed since the last (rank 0's clock decides for all "
            "ranks); 0 = never."},
    {.section = "checkpoint", .key = "keep", .type = DK_KEY_INT, .default_text = "3", FIELD(ckpt_keep), .imin = 1,
     .imax = 1000000, .resume_may_change = true,
     .doc = "Newest checkpoints kept; older ones are removed once a new one is safely on disk."},
    {.section = "checkpoint", .key = "dir", .type = DK_KEY_STRING, .default_text = "", FIELD(ckpt_dir),
     .expect = expect_checkpoint_dir, .path = true, .resume_may_change = true,
     .doc = "Directory of the checkpoints (ckpt-<step>.dkc); empty = <run_dir>/checkpoints."},
    {.section = "checkpoint", .key = "chunk_bytes", .type = DK_KEY_INT, .default_text = "67108864",
     FIELD(ckpt_chunk_bytes), .imin = 1, .imax = 1073741824, .resume_may_change = true,
     .doc = "Tensor bytes per checksummed chunk of a checkpoint file (a corrupt chunk is located to this size); raised "
            "where a model would need more than about a million chunks, which its manifest could not list."},
    {.section = "checkpoint", .key = "final", .type = DK_KEY_BOOL, .default_text = "true", FIELD(ckpt_final),
     .resume_may_change = true,
     .doc = "Write a checkpoint at the end of the run too (a later run can resume from it with more steps)."},
};
_Static_assert(sizeof dk_config_keys / sizeof dk_config_keys[0] == DK_CONFIG_N_KEYS,
               "DK_CONFIG_N_KEYS (dk_config_schema.h) is the number of keys");


const char *const dk_config_sections[] = {"model", "train", "lbfgs", "grid",   "task",
                                          "fit",   "pde",   "dist",  "output", "checkpoint"};
_Static_assert(sizeof dk_config_sections / sizeof dk_config_sections[0] == DK_CONFIG_N_SECTIONS,
               "DK_CONFIG_N_SECTIONS (dk_config_schema.h) is the number of sections");

int dk_config_find_section(const char *name)
{
    for (int i = 0; i < DK_CONFIG_N_SECTIONS; i++)
        if (strcmp(dk_config_sections[i], name) == 0)
            return i;
    return -1;
}

int dk_config_find_key(const char *section, const char *key)
{
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++)
        if (strcmp(dk_config_keys[i].section, section) == 0 && strcmp(dk_config_keys[i].key, key) == 0)
            return i;
    return -1;
}

int dk_config_sections_with_key(const char *key, const char *skip_section, char *buf, size_t n)
{
    int found = 0, total = 0;
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++)
        total += strcmp(dk_config_keys[i].key, key) == 0 && strcmp(dk_config_keys[i].section, skip_section) != 0;
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < DK_CONFIG_N_KEYS && used < n; i++)
        if (strcmp(dk_config_keys[i].key, key) == 0 && strcmp(dk_config_keys[i].section, skip_section) != 0) {
            found++;
            const char *sep = found == 1 ? "" : found == total ? " or " : ", ";
            used += (size_t)snprintf(buf + used, n - used, "%s[%s]", sep, dk_config_keys[i].section);
        }
    return found;
}

const char *dk_config_optimizer_name(dk_optimizer_kind kind) { return optimizer_names[kind]; }

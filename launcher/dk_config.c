/* Run configuration: one schema table (keys[] below) drives parsing, defaults, range
 * checks, the resolved INI printout and the key reference, so the four cannot drift apart.
 *
 * INI dialect (Debian's libinih 55, driven through ini_parse_stream with our own line
 * reader, see read_line):
 *   - `key = value` under a `[section]`; whitespace around section names, keys and values
 *     is trimmed. inih also accepts `key: value`.
 *   - Whole-line comments start with ';' or '#'. An inline comment starts with ';' preceded
 *     by whitespace; '#' after a value is NOT a comment (it stays in the value, and the
 *     error message points this out).
 *   - A section may appear more than once; its keys merge. A key set twice in the file is
 *     an error ("set twice, first at line N"); --set overrides apply after the file, in
 *     order, and may set any key again.
 *   - Keys before the first [section], unknown sections (even empty ones) and unknown keys
 *     are errors. Indented lines are ordinary lines (inih's multi-line continuation values
 *     are disabled, because an indented `key = value` would silently be glued onto the
 *     previous key's value).
 *   - Lines are limited to 197 characters (inih's fixed line buffer); longer values can
 *     be given with --set.
 */
#include "dk_config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <ini.h>

#include "../tasks/dk_fit_functions.h"
#include "../tasks/dk_pde_problem.h"

/* The longest line the INI parser reads back (inih's buffer holds "\r\n\0" besides). */
#define DK_INI_LINE_MAX (INI_MAX_LINE - 3)

/* Enum keys are stored through an int; the enums involved must have int's representation. */
_Static_assert(sizeof(dk_dtype) == sizeof(int), "dk_dtype is stored as int");
_Static_assert(sizeof(dk_lr_kind) == sizeof(int), "dk_lr_kind is stored as int");
_Static_assert(sizeof(dk_task_kind) == sizeof(int), "dk_task_kind is stored as int");
_Static_assert(sizeof(dk_optimizer_kind) == sizeof(int), "dk_optimizer_kind is stored as int");
_Static_assert(sizeof(dk_sampling) == sizeof(int), "dk_sampling is stored as int");

/* ---------------------------------------------------------------------------------------
 * The schema
 * ------------------------------------------------------------------------------------- */

typedef enum key_type {
    KT_INT,         /* int, long or unsigned long long field (by size), in [imin, imax] */
    KT_DOUBLE,      /* finite double, range in dmin/dmax/range flags */
    KT_ENUM,        /* one of names[]; the index is stored as int */
    KT_BOOL,        /* true/false (yes/no, on/off, 1/0 accepted); stored as bool */
    KT_STRING,      /* any text shorter than the field; `accepts` may restrict it */
    KT_INT_LIST,    /* comma-separated ints, each in [imin, imax], count in [min_count, max_count] */
    KT_DOUBLE_PAIR  /* "lo,hi", two finite numbers with lo < hi */
} key_type;

enum {
    R_MIN = 1,      /* dmin is a bound */
    R_MAX = 2,      /* dmax is a bound */
    R_MIN_OPEN = 4, /* the lower bound is exclusive */
    R_MAX_OPEN = 8  /* the upper bound is exclusive */
};

typedef struct key_spec {
    const char *section;
    const char *key;
    key_type type;
    const char *default_text;      /* parsed like any value, so defaults are checked too */
    size_t offset, size;           /* the field in dk_config */
    size_t count_offset;           /* KT_INT_LIST: the int that receives the entry count */
    long long imin, imax;          /* KT_INT, KT_INT_LIST entries (inclusive) */
    double dmin, dmax;             /* KT_DOUBLE, with `range` */
    unsigned range;
    int min_count, max_count;      /* KT_INT_LIST */
    const char *const *names;      /* KT_ENUM, NULL-terminated */
    bool (*accepts)(const char *value);        /* KT_STRING: extra validation */
    void (*expect)(char *buf, size_t n);       /* KT_STRING: expectation text */
    bool resume_may_change;        /* a resumed run may use another value (dk_config_check_resume) */
    const char *doc;
} key_spec;

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

static void expect_function(char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "one of: ");
    for (const dk_fit_function *f = dk_fit_functions; f->name && used < n; f++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", f == dk_fit_functions ? "" : ", ", f->name);
    if (used < n)
        snprintf(buf + used, n - used, " (or empty when csv is set)");
}

static bool accepts_problem(const char *value) { return dk_pde_problem_find(value) != NULL; }

static void expect_problem(char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "one of: ");
    if (used < n)
        dk_pde_problem_names(buf + used, n - used);
}

static void expect_csv(char *buf, size_t n) { snprintf(buf, n, "a file path, or empty"); }
static void expect_run_dir(char *buf, size_t n) { snprintf(buf, n, "a directory path, or empty for runs/<config file stem>"); }
static void expect_checkpoint_dir(char *buf, size_t n) { snprintf(buf, n, "a directory path, or empty for <run_dir>/checkpoints"); }

static const key_spec keys[] = {
    /* [model] */
    {.section = "model", .key = "widths", .type = KT_INT_LIST, .default_text = "2,5,1", FIELD(widths),
     .count_offset = offsetof(dk_config, n_widths), .imin = 1, .imax = INT_MAX, .min_count = 2,
     .max_count = DK_MAX_LAYERS + 1,
     .doc = "Layer widths from inputs to outputs: 2,5,1 is 2 inputs, one hidden layer of 5, 1 output."},
    {.section = "model", .key = "grid", .type = KT_INT, .default_text = "5", FIELD(grid), .imin = 1, .imax = 100000,
     .doc = "Grid intervals G per input; each activation has G + k B-spline coefficients."},
    {.section = "model", .key = "k", .type = KT_INT, .default_text = "3", FIELD(k), .imin = 1, .imax = 7,
     .doc = "B-spline degree (3 = cubic)."},
    {.section = "model", .key = "grid_range", .type = KT_DOUBLE_PAIR, .default_text = "-1,1", FIELD(grid_range),
     .doc = "Initial grid interval lo,hi of every input; also the sampling box of built-in functions."},
    {.section = "model", .key = "grid_eps", .type = KT_DOUBLE, .default_text = "0.02", FIELD(grid_eps), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MAX,
     .doc = "Grid update knots = grid_eps * uniform + (1 - grid_eps) * sample quantiles."},
    {.section = "model", .key = "precision", .type = KT_ENUM, .default_text = "float64", FIELD(precision),
     .names = precision_names, .doc = "Element type of parameters, gradients and data."},
    {.section = "model", .key = "seed", .type = KT_INT, .default_text = "0", FIELD(seed), .imin = 0,
     .imax = LLONG_MAX, .doc = "Seed of the random initial coefficients and of generated data."},
    {.section = "model", .key = "noise_scale", .type = KT_DOUBLE, .default_text = "0.3", FIELD(noise_scale),
     .dmin = 0, .range = R_MIN, .doc = "Scale of the random noise in the initial spline coefficients (pykan noise_scale)."},
    {.section = "model", .key = "scale_base_mu", .type = KT_DOUBLE, .default_text = "0.0", FIELD(scale_base_mu),
     .doc = "Mean of the initial scale of the residual base branch (pykan scale_base_mu)."},
    {.section = "model", .key = "scale_base_sigma", .type = KT_DOUBLE, .default_text = "1.0",
     FIELD(scale_base_sigma), .dmin = 0, .range = R_MIN,
     .doc = "Spread of the initial scale of the residual base branch (pykan scale_base_sigma)."},
    {.section = "model", .key = "scale_sp", .type = KT_DOUBLE, .default_text = "1.0", FIELD(scale_sp),
     .doc = "Initial scale of the spline branch (pykan scale_sp)."},

    /* [train] */
    {.section = "train", .key = "optimizer", .type = KT_ENUM, .default_text = "adam", FIELD(optimizer),
     .names = optimizer_names,
     .doc = "adam; lbfgs (full-batch L-BFGS, [lbfgs] section); adam_then_lbfgs ([train] steps Adam steps, then "
            "[lbfgs] steps L-BFGS iterations)."},
    {.section = "train", .key = "steps", .resume_may_change = true, .type = KT_INT, .default_text = "1000", FIELD(steps), .imin = 0,
     .imax = 1000000000,
     .doc = "Adam steps (optimizer adam or adam_then_lbfgs; unused by lbfgs). 0 = evaluate only."},
    {.section = "train", .key = "lr", .type = KT_DOUBLE, .default_text = "0.01", FIELD(lr), .dmin = 0,
     .range = R_MIN | R_MIN_OPEN, .doc = "Base (peak) learning rate."},
    {.section = "train", .key = "lr_schedule", .type = KT_ENUM, .default_text = "constant", FIELD(lr_schedule),
     .names = lr_schedule_names,
     .doc = "After warm-up: constant lr, cosine decay to lr_min, or step decay by lr_gamma every lr_step_every steps."},
    {.section = "train", .key = "lr_min", .type = KT_DOUBLE, .default_text = "0", FIELD(lr_min), .dmin = 0,
     .range = R_MIN, .doc = "Floor of the cosine schedule; must be < lr when lr_schedule = cosine."},
    {.section = "train", .key = "lr_gamma", .type = KT_DOUBLE, .default_text = "0.5", FIELD(lr_gamma), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MIN_OPEN | R_MAX, .doc = "Decay factor of the step schedule."},
    {.section = "train", .key = "lr_step_every", .type = KT_INT, .default_text = "1000", FIELD(lr_step_every),
     .imin = 1, .imax = LLONG_MAX, .doc = "Period of the step schedule, in steps."},
    {.section = "train", .key = "warmup_steps", .type = KT_INT, .default_text = "0", FIELD(warmup_steps), .imin = 0,
     .imax = LLONG_MAX, .doc = "Linear warm-up steps from lr/warmup_steps to lr; must be < steps when steps > 0."},
    {.section = "train", .key = "beta1", .type = KT_DOUBLE, .default_text = "0.9", FIELD(beta1), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MAX | R_MAX_OPEN, .doc = "Adam decay rate of the first-moment estimate."},
    {.section = "train", .key = "beta2", .type = KT_DOUBLE, .default_text = "0.999", FIELD(beta2), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MAX | R_MAX_OPEN, .doc = "Adam decay rate of the second-moment estimate."},
    {.section = "train", .key = "eps", .type = KT_DOUBLE, .default_text = "1e-8", FIELD(adam_eps), .dmin = 0,
     .range = R_MIN | R_MIN_OPEN, .doc = "Adam epsilon, added to the denominator sqrt(v) + eps."},
    {.section = "train", .key = "weight_decay", .type = KT_DOUBLE, .default_text = "0", FIELD(weight_decay),
     /* Bounded because Adam's update is scale-free: beyond about 1 the decay term alone sets
      * each step (lr toward zero), and a huge one overflows the second moment to inf, which
      * freezes every parameter while the loss stays finite: a run that would fail silently. */
     .dmin = 0, .dmax = 1000, .range = R_MIN | R_MAX,
     .doc = "Weight decay coefficient (0 = none), L2 added to the Adam gradient as torch.optim.Adam."},
    {.section = "train", .key = "batch", .type = KT_INT, .default_text = "0", FIELD(batch), .imin = 0,
     .imax = LLONG_MAX, .doc = "Global batch per step, summed over ranks; 0 = the whole training set."},
    {.section = "train", .key = "log_every", .resume_may_change = true, .type = KT_INT, .default_text = "100", FIELD(log_every), .imin = 1,
     .imax = LLONG_MAX, .doc = "Report the loss every this many steps (and at the last step)."},

    /* [lbfgs] */
    {.section = "lbfgs", .key = "steps", .resume_may_change = true, .type = KT_INT, .default_text = "100", FIELD(lbfgs_steps), .imin = 0,
     .imax = 1000000000,
     .doc = "L-BFGS iterations (one line search each) for optimizer lbfgs or adam_then_lbfgs; a run stops earlier "
            "when the line search makes no progress."},
    {.section = "lbfgs", .key = "history", .type = KT_INT, .default_text = "10", FIELD(lbfgs_history), .imin = 1,
     .imax = 1000, .doc = "Correction pairs kept (memory: 2 x history x parameters float64 numbers)."},
    {.section = "lbfgs", .key = "max_evals", .type = KT_INT, .default_text = "25", FIELD(lbfgs_max_evals),
     .imin = 1, .imax = 1000, .doc = "Loss and gradient evaluations allowed per line search."},
    {.section = "lbfgs", .key = "c1", .type = KT_DOUBLE, .default_text = "1e-4", FIELD(lbfgs_c1), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MAX | R_MIN_OPEN | R_MAX_OPEN,
     .doc = "Strong Wolfe sufficient-decrease constant (0 < c1 < c2)."},
    {.section = "lbfgs", .key = "c2", .type = KT_DOUBLE, .default_text = "0.9", FIELD(lbfgs_c2), .dmin = 0,
     .dmax = 1, .range = R_MIN | R_MAX | R_MIN_OPEN | R_MAX_OPEN,
     .doc = "Strong Wolfe curvature constant (c1 < c2 < 1)."},
    {.section = "lbfgs", .key = "tolerance_grad", .type = KT_DOUBLE, .default_text = "0",
     FIELD(lbfgs_tolerance_grad), .dmin = 0, .range = R_MIN,
     .doc = "Stop when the largest gradient component is at most this (0 = never, as pykan)."},
    {.section = "lbfgs", .key = "tolerance_change", .type = KT_DOUBLE, .default_text = "0",
     FIELD(lbfgs_tolerance_change), .dmin = 0, .range = R_MIN,
     .doc = "Stop when both the loss change and the largest parameter change of a step are below this "
            "(0 = never)."},

    /* [grid] */
    {.section = "grid", .key = "schedule", .type = KT_INT_LIST, .default_text = "", FIELD(grid_schedule),
     .count_offset = offsetof(dk_config, n_grid_schedule), .imin = 1, .imax = 100000, .min_count = 0,
     .max_count = DK_MAX_GRID_STAGES,
     .doc = "Grid extension: G of each training stage, strictly increasing, e.g. 5,10,20,50; the network starts at "
            "the first (which [model] grid must equal if set) and is refined at each stage change. Empty = no "
            "extension."},
    {.section = "grid", .key = "steps", .resume_may_change = true, .type = KT_INT_LIST, .default_text = "", FIELD(grid_steps),
     .count_offset = offsetof(dk_config, n_grid_steps), .imin = 1, .imax = INT_MAX, .min_count = 0,
     .max_count = DK_MAX_GRID_STAGES,
     .doc = "Updates (Adam steps and L-BFGS iterations) per stage: one value for every stage or one per stage, "
            "summing to the run's updates; empty = the run's updates split equally."},
    {.section = "grid", .key = "update_every", .type = KT_INT, .default_text = "0", FIELD(grid_update_every),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "Grid update from samples (knots to the inputs' quantiles, splines refitted) before update 0, N, 2N, "
            "... of every stage; 0 = never (pykan's grid_update_freq)."},
    {.section = "grid", .key = "update_until", .type = KT_INT, .default_text = "0", FIELD(grid_update_until),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "No grid update at or after this update of a stage (pykan's stop_grid_update_step); 0 = the whole "
            "stage."},
    {.section = "grid", .key = "update_samples", .type = KT_INT, .default_text = "2048",
     FIELD(grid_update_samples), .imin = 1, .imax = 1000000,
     .doc = "Global input samples per grid update, spread evenly over the training set (fit) or the current "
            "interior collocation points (PDE), at most all of them; every rank gets the same set."},

    /* [task] */
    {.section = "task", .key = "type", .type = KT_ENUM, .default_text = "fit", FIELD(task), .names = task_names,
     .doc = "fit = regression on a built-in function or a CSV file ([fit]); pde = physics-informed solution of a "
            "built-in PDE ([pde])."},

    /* [fit] */
    {.section = "fit", .key = "function", .type = KT_STRING, .default_text = "exp_sin_sq", FIELD(function),
     .accepts = accepts_function, .expect = expect_function,
     .doc = "Built-in target function; ignored, and cleared, when csv is set."},
    {.section = "fit", .key = "csv", .type = KT_STRING, .default_text = "", FIELD(csv), .expect = expect_csv,
     .resume_may_change = true,
     .doc = "CSV dataset; when non-empty, function is ignored. The last target_columns columns are targets. On "
            "resume the path may differ, the file's contents may not (checked by size and CRC-32C)."},
    {.section = "fit", .key = "target_columns", .type = KT_INT, .default_text = "1", FIELD(target_columns),
     .imin = 1, .imax = INT_MAX, .doc = "CSV only: how many trailing columns are targets."},
    {.section = "fit", .key = "train_size", .type = KT_INT, .default_text = "1000", FIELD(train_size), .imin = 0,
     .imax = LLONG_MAX, .doc = "Training samples; with csv, 0 = every row not in the test set (built-in: >= 1)."},
    {.section = "fit", .key = "test_size", .type = KT_INT, .default_text = "1000", FIELD(test_size), .imin = 0,
     .imax = LLONG_MAX, .doc = "Test samples, held out for evaluation."},

    /* [pde] */
    {.section = "pde", .key = "problem", .type = KT_STRING, .default_text = "poisson2d", FIELD(pde_problem),
     .accepts = accepts_problem, .expect = expect_problem,
     .doc = "Built-in problem (docs/pde.md lists the equations): poisson2d, helmholtz2d, poisson_nd, heat_nd."},
    {.section = "pde", .key = "dim", .type = KT_INT, .default_text = "2", FIELD(pde_dim), .imin = 1,
     .imax = DK_PDE_MAX_SPACE_DIM, .doc = "Spatial dimension d of poisson_nd and heat_nd (heat_nd has d + 1 inputs)."},
    {.section = "pde", .key = "a1", .type = KT_DOUBLE, .default_text = "1", FIELD(pde_a1),
     .doc = "helmholtz2d: u = sin(a1 pi x) sin(a2 pi y)."},
    {.section = "pde", .key = "a2", .type = KT_DOUBLE, .default_text = "4", FIELD(pde_a2),
     .doc = "helmholtz2d: see a1."},
    {.section = "pde", .key = "wavenumber", .type = KT_DOUBLE, .default_text = "1", FIELD(pde_wavenumber),
     .doc = "helmholtz2d: k in u_xx + u_yy + k^2 u = q."},
    {.section = "pde", .key = "diffusivity", .type = KT_DOUBLE, .default_text = "0.1", FIELD(pde_diffusivity),
     .dmin = 0, .range = R_MIN | R_MIN_OPEN, .doc = "heat_nd: kappa in u_t = kappa Laplacian u."},
    {.section = "pde", .key = "alpha", .type = KT_DOUBLE, .default_text = "0.01", FIELD(pde_alpha), .dmin = 0,
     /* Bounded for the reason weight_decay is: a huge weight squares past the largest
      * double (float: 1e38) in Adam's second moment, which then freezes the run silently. */
     .dmax = 1e6, .range = R_MIN | R_MIN_OPEN | R_MAX,
     .doc = "Loss = alpha * mean(residual^2) + mean((u - g)^2 on the boundary) (pykan's tutorial: 0.01)."},
    {.section = "pde", .key = "interior_points", .type = KT_INT, .default_text = "4096", FIELD(pde_interior),
     .imin = 1, .imax = LLONG_MAX, .doc = "Interior collocation points, summed over ranks."},
    {.section = "pde", .key = "boundary_points", .type = KT_INT, .default_text = "1024", FIELD(pde_boundary),
     .imin = 1, .imax = LLONG_MAX, .doc = "Boundary collocation points, summed over ranks, shared equally by the faces."},
    {.section = "pde", .key = "sampling", .type = KT_ENUM, .default_text = "halton", FIELD(pde_sampling),
     .names = sampling_names,
     .doc = "Collocation points: uniform random, or the randomly shifted Halton sequence (low discrepancy)."},
    {.section = "pde", .key = "resample_every", .type = KT_INT, .default_text = "0", FIELD(pde_resample_every),
     .imin = 0, .imax = LLONG_MAX,
     .doc = "Draw new collocation points every this many steps (0 = never); clears the L-BFGS history."},
    {.section = "pde", .key = "eval_grid", .resume_may_change = true, .type = KT_INT, .default_text = "51", FIELD(pde_eval_grid), .imin = 2,
     .imax = 100000, .doc = "Evaluation on a tensor grid of eval_grid points per axis (problems with up to 3 inputs)."},
    {.section = "pde", .key = "eval_points", .resume_may_change = true, .type = KT_INT, .default_text = "10000", FIELD(pde_eval_points),
     .imin = 1, .imax = LLONG_MAX, .doc = "Evaluation on this many uniform random points (problems with more than 3 inputs)."},

    /* [dist] */
    {.section = "dist", .key = "threads", .resume_may_change = true, .type = KT_INT, .default_text = "1", FIELD(threads), .imin = 1,
     .imax = 1024,
     .doc = "OpenMP threads per rank; part of the config because results are bitwise reproducible only for a "
            "fixed thread count."},
    {.section = "dist", .key = "device", .resume_may_change = true, .type = KT_ENUM, .default_text = "auto",
     FIELD(device), .names = device_names,
     .doc = "Where each rank computes: cuda (one GPU per rank, chosen by its rank on the node), cpu, or auto "
            "(cuda when every rank sees a GPU and distkan was built with CUDA, else cpu)."},
    {.section = "dist", .key = "comm", .resume_may_change = true, .type = KT_ENUM, .default_text = "auto",
     FIELD(comm), .names = comm_names,
     .doc = "Gradient all-reduce on GPUs: nccl, or mpi (staged through host memory; lets several ranks share "
            "a GPU); auto = nccl unless ranks share a GPU or there is one rank (nothing to sum). CPU runs always "
            "use MPI."},

    /* [output] */
    {.section = "output", .key = "run_dir", .resume_may_change = true, .type = KT_STRING, .default_text = "", FIELD(run_dir),
     .expect = expect_run_dir,
     .doc = "Directory for logs, checkpoints and the resolved config; empty = runs/<config file stem>; "
            "--run-dir overrides."},

    /* [checkpoint] */
    {.section = "checkpoint", .key = "every", .type = KT_INT, .default_text = "0", FIELD(ckpt_every), .imin = 0,
     .imax = LLONG_MAX, .resume_may_change = true,
     .doc = "Write a checkpoint after every this many updates; 0 = never (SIGTERM, SIGUSR1 and the end of the run "
            "still write one)."},
    {.section = "checkpoint", .key = "every_seconds", .type = KT_DOUBLE, .default_text = "0",
     FIELD(ckpt_every_seconds), .dmin = 0, .range = R_MIN, .resume_may_change = true,
     .doc = "Also write one when this many seconds have passed since the last (rank 0's clock decides for all "
            "ranks); 0 = never."},
    {.section = "checkpoint", .key = "keep", .type = KT_INT, .default_text = "3", FIELD(ckpt_keep), .imin = 1,
     .imax = 1000000, .resume_may_change = true,
     .doc = "Newest checkpoints kept; older ones are removed once a new one is safely on disk."},
    {.section = "checkpoint", .key = "dir", .type = KT_STRING, .default_text = "", FIELD(ckpt_dir),
     .expect = expect_checkpoint_dir, .resume_may_change = true,
     .doc = "Directory of the checkpoints (ckpt-<step>.dkc); empty = <run_dir>/checkpoints."},
    {.section = "checkpoint", .key = "chunk_bytes", .type = KT_INT, .default_text = "67108864",
     FIELD(ckpt_chunk_bytes), .imin = 1, .imax = 1073741824, .resume_may_change = true,
     .doc = "Tensor bytes per checksummed chunk of a checkpoint file (a corrupt chunk is located to this size); raised "
            "where a model would need more than about a million chunks, which its manifest could not list."},
    {.section = "checkpoint", .key = "final", .type = KT_BOOL, .default_text = "true", FIELD(ckpt_final),
     .resume_may_change = true,
     .doc = "Write a checkpoint at the end of the run too (a later run can resume from it with more steps)."},
};

enum { N_KEYS = sizeof keys / sizeof keys[0] };

static const char *const sections[] = {"model", "train", "lbfgs", "grid", "task", "fit", "pde", "dist", "output",
                                       "checkpoint"};
enum { N_SECTIONS = sizeof sections / sizeof sections[0] };

/* ---------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------- */

static int find_section(const char *name)
{
    for (int i = 0; i < N_SECTIONS; i++)
        if (strcmp(sections[i], name) == 0)
            return i;
    return -1;
}

static int find_key(const char *section, const char *key)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
            return i;
    return -1;
}

static int find_key_named(const char *key, const char *skip_section)
{
    for (int i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].key, key) == 0 && strcmp(keys[i].section, skip_section) != 0)
            return i;
    return -1;
}

/* Optimal-string-alignment distance, so that a swapped pair of letters ("widht") counts
 * as one edit when suggesting the key that was probably meant. */
static int edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX)
        return INT_MAX;
    int d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* A suggestion is worth making only when it is much closer than a random word. */
static bool close_enough(const char *typed, const char *candidate)
{
    int d = edit_distance(typed, candidate);
    return d <= 2 && (size_t)d < strlen(candidate);
}

/* Copies [begin, end) without surrounding whitespace; false if it does not fit. */
static bool copy_trimmed(char *dst, size_t cap, const char *begin, const char *end)
{
    while (begin < end && isspace((unsigned char)*begin))
        begin++;
    while (end > begin && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - begin);
    if (n >= cap)
        return false;
    memcpy(dst, begin, n);
    dst[n] = '\0';
    return true;
}

typedef enum { INT_OK, INT_NOT_INTEGER, INT_OVERFLOW } int_parse;

static int_parse parse_integer(const char *s, long long *out)
{
    if (!*s)
        return INT_NOT_INTEGER;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        return INT_NOT_INTEGER;
    if (errno == ERANGE)
        return INT_OVERFLOW;
    *out = v;
    return INT_OK;
}

/* Underflow (1e-400) is accepted as the nearest double and left to the range check;
 * overflow, NaN and infinities are not numbers here. */
static bool parse_number(const char *s, double *out)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return false;
    *out = v;
    return true;
}

static bool in_range(const key_spec *s, double v)
{
    if (s->range & R_MIN) {
        if ((s->range & R_MIN_OPEN) ? !(v > s->dmin) : !(v >= s->dmin))
            return false;
    }
    if (s->range & R_MAX) {
        if ((s->range & R_MAX_OPEN) ? !(v < s->dmax) : !(v <= s->dmax))
            return false;
    }
    return true;
}

/* The upper bound an int field can hold, whatever the schema says. */
static long long type_max(const key_spec *s) { return s->size == sizeof(int) ? INT_MAX : LLONG_MAX; }

/* Shortest %g form that reads back as the same double, so written configs round-trip
 * exactly and still look like what a person would type. */
static void format_double(double v, char *buf, size_t n)
{
    if (v == floor(v) && fabs(v) < 1e15) { /* 1000, not 1e+03 */
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void store_integer(const key_spec *s, void *field, long long v)
{
    if (s->size == sizeof(int)) {
        int x = (int)v;
        memcpy(field, &x, sizeof x);
    } else {
        /* long and unsigned long long fields: same width and, for values in
         * [0, LLONG_MAX] or any long, the same representation. */
        _Static_assert(sizeof(long) == sizeof(long long), "long fields are stored as long long");
        memcpy(field, &v, sizeof v);
    }
}

static long long load_integer(const key_spec *s, const void *field)
{
    if (s->size == sizeof(int)) {
        int x;
        memcpy(&x, field, sizeof x);
        return x;
    }
    long long v;
    memcpy(&v, field, sizeof v);
    return v;
}

/* ---------------------------------------------------------------------------------------
 * Values: describe, parse, format
 * ------------------------------------------------------------------------------------- */

/* What a key accepts, as a phrase that completes "expected ...". */
static void describe(const key_spec *s, char *buf, size_t n)
{
    switch (s->type) {
    case KT_INT:
        if (s->imax < type_max(s))
            snprintf(buf, n, "an integer in [%lld, %lld]", s->imin, s->imax);
        else
            snprintf(buf, n, "an integer >= %lld", s->imin);
        return;
    case KT_DOUBLE: {
        char lo[32], hi[32];
        format_double(s->dmin, lo, sizeof lo);
        format_double(s->dmax, hi, sizeof hi);
        if ((s->range & R_MIN) && (s->range & R_MAX))
            snprintf(buf, n, "a number in %c%s, %s%c", (s->range & R_MIN_OPEN) ? '(' : '[', lo, hi,
                     (s->range & R_MAX_OPEN) ? ')' : ']');
        else if (s->range & R_MIN)
            snprintf(buf, n, "a number %s %s", (s->range & R_MIN_OPEN) ? ">" : ">=", lo);
        else if (s->range & R_MAX)
            snprintf(buf, n, "a number %s %s", (s->range & R_MAX_OPEN) ? "<" : "<=", hi);
        else
            snprintf(buf, n, "a finite number");
        return;
    }
    case KT_ENUM: {
        size_t used = (size_t)snprintf(buf, n, "one of: ");
        for (int i = 0; s->names[i] && used < n; i++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? ", " : "", s->names[i]);
        return;
    }
    case KT_BOOL:
        snprintf(buf, n, "true or false");
        return;
    case KT_STRING:
        if (s->expect)
            s->expect(buf, n);
        else
            snprintf(buf, n, "text shorter than %zu characters", s->size);
        return;
    case KT_INT_LIST:
        if (s->imax < INT_MAX)
            snprintf(buf, n, "a comma-separated list of %d to %d integers, each in [%lld, %lld]", s->min_count,
                     s->max_count, s->imin, s->imax);
        else
            snprintf(buf, n, "a comma-separated list of %d to %d integers, each >= %lld", s->min_count,
                     s->max_count, s->imin);
        return;
    case KT_DOUBLE_PAIR:
        snprintf(buf, n, "two finite numbers lo,hi with lo < hi");
        return;
    }
    snprintf(buf, n, "?");
}

/* Parses `value` into the key's field of cfg. On failure the field is unchanged and
 * `detail` may receive a parenthesized reason appended to the expectation. */
static bool parse_into(const key_spec *s, const char *value, dk_config *cfg, char *detail, size_t dn)
{
    void *field = (char *)cfg + s->offset;
    detail[0] = '\0';
    switch (s->type) {
    case KT_INT: {
        long long v = 0;
        int_parse r = parse_integer(value, &v);
        double d;
        if (r == INT_NOT_INTEGER) {
            if (parse_number(value, &d)) /* 1e3, 2.0: numbers, but not written as integers */
                snprintf(detail, dn, " (write integers in plain digits, without exponent or decimal point)");
            return false;
        }
        if (r == INT_OVERFLOW || v < s->imin || v > s->imax || v > type_max(s)) {
            /* The expectation does not show a bound that is only the field's type limit. */
            if (s->imax >= type_max(s) && (r == INT_OVERFLOW ? value[0] != '-' : v > type_max(s)))
                snprintf(detail, dn, " (at most %lld)", type_max(s));
            return false;
        }
        store_integer(s, field, v);
        return true;
    }
    case KT_DOUBLE: {
        double v;
        if (!parse_number(value, &v) || !in_range(s, v))
            return false;
        memcpy(field, &v, sizeof v);
        return true;
    }
    case KT_ENUM:
        for (int i = 0; s->names[i]; i++)
            if (strcmp(value, s->names[i]) == 0) {
                memcpy(field, &i, sizeof i);
                return true;
            }
        return false;
    case KT_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(value, yes[i]) || !strcmp(value, no[i])) {
                bool b = !strcmp(value, yes[i]);
                memcpy(field, &b, sizeof b);
                return true;
            }
        return false;
    }
    case KT_STRING: {
        size_t len = strlen(value);
        if (len >= s->size) {
            snprintf(detail, dn, " (too long: %zu characters, at most %zu)", len, s->size - 1);
            return false;
        }
        if (s->accepts && !s->accepts(value))
            return false;
        /* Zero the whole field so that equal configurations compare equal bytewise. */
        memset(field, 0, s->size);
        memcpy(field, value, len);
        return true;
    }
    case KT_INT_LIST: {
        int tmp[DK_MAX_LAYERS + 1];
        int count = 0;
        if (!value[0] && s->min_count > 0)
            return false;
        if (!value[0]) {
            memset(field, 0, s->size);
            memcpy((char *)cfg + s->count_offset, &count, sizeof count);
            return true;
        }
        for (const char *p = value;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            char token[32];
            long long v = 0;
            if (count == s->max_count) {
                snprintf(detail, dn, " (more than %d entries)", s->max_count);
                return false;
            }
            if (!copy_trimmed(token, sizeof token, p, end)) {
                snprintf(detail, dn, " (entry %d is not an integer)", count + 1);
                return false;
            }
            if (!token[0]) {
                snprintf(detail, dn, " (entry %d is empty)", count + 1);
                return false;
            }
            int_parse r = parse_integer(token, &v);
            if (r == INT_NOT_INTEGER) {
                snprintf(detail, dn, " (entry %d, '%s', is not an integer)", count + 1, token);
                return false;
            }
            if (r == INT_OVERFLOW || v > INT_MAX || v > s->imax) {
                snprintf(detail, dn, " (entry %d, %s, is too large)", count + 1, token);
                return false;
            }
            if (v < s->imin) {
                snprintf(detail, dn, " (entry %d is %s)", count + 1, token);
                return false;
            }
            tmp[count++] = (int)v;
            if (!comma)
                break;
            p = comma + 1;
        }
        if (count < s->min_count) {
            snprintf(detail, dn, " (found %d entr%s)", count, count == 1 ? "y" : "ies");
            return false;
        }
        memset(field, 0, s->size);
        memcpy(field, tmp, (size_t)count * sizeof tmp[0]);
        memcpy((char *)cfg + s->count_offset, &count, sizeof count);
        return true;
    }
    case KT_DOUBLE_PAIR: {
        const char *comma = strchr(value, ',');
        char a[64], b[64];
        double pair[2];
        if (!comma || strchr(comma + 1, ',')) {
            if (value[0])
                snprintf(detail, dn, " (found %s)", comma ? "more than two entries" : "one entry");
            return false;
        }
        if (!copy_trimmed(a, sizeof a, value, comma) || !copy_trimmed(b, sizeof b, comma + 1, comma + strlen(comma)) ||
            !parse_number(a, &pair[0]) || !parse_number(b, &pair[1]))
            return false;
        if (!(pair[0] < pair[1])) {
            snprintf(detail, dn, " (lo is not below hi)");
            return false;
        }
        memcpy(field, pair, sizeof pair);
        return true;
    }
    }
    return false;
}

static void format_value(const key_spec *s, const dk_config *cfg, char *buf, size_t n)
{
    const void *field = (const char *)cfg + s->offset;
    buf[0] = '\0';
    switch (s->type) {
    case KT_INT:
        snprintf(buf, n, "%lld", load_integer(s, field));
        return;
    case KT_DOUBLE: {
        double v;
        memcpy(&v, field, sizeof v);
        format_double(v, buf, n);
        return;
    }
    case KT_ENUM: {
        int v, count = 0;
        memcpy(&v, field, sizeof v);
        while (s->names[count])
            count++;
        snprintf(buf, n, "%s", v >= 0 && v < count ? s->names[v] : "?");
        return;
    }
    case KT_BOOL: {
        bool b;
        memcpy(&b, field, sizeof b);
        snprintf(buf, n, "%s", b ? "true" : "false");
        return;
    }
    case KT_STRING:
        snprintf(buf, n, "%.*s", (int)s->size, (const char *)field);
        return;
    case KT_INT_LIST: {
        int count, v;
        memcpy(&count, (const char *)cfg + s->count_offset, sizeof count);
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < count && used < n; i++) {
            memcpy(&v, (const char *)field + (size_t)i * sizeof v, sizeof v);
            used += (size_t)snprintf(buf + used, n - used, "%s%d", i ? "," : "", v);
        }
        return;
    }
    case KT_DOUBLE_PAIR: {
        double pair[2];
        char a[32], b[32];
        memcpy(pair, field, sizeof pair);
        format_double(pair[0], a, sizeof a);
        format_double(pair[1], b, sizeof b);
        snprintf(buf, n, "%s,%s", a, b);
        return;
    }
    }
}

/* Sets one key from its text; `where` ("fit.ini:7" or "--set train.lr=x") leads the
 * error message. */
static dk_err set_key(dk_config *cfg, const key_spec *s, const char *value, const char *where)
{
    /* A newline (--set "a.b=x<newline>c = d") would become a line of its own in config.ini
     * and the checkpoints; other control characters have no place in any value either. */
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s: the value contains a control character (byte 0x%02X at position %d)",
                     where, s->section, s->key, *p, (int)((const char *)p - value) + 1);
    char detail[256];
    if (parse_into(s, value, cfg, detail, sizeof detail))
        return DK_OK;
    char expect[1024];
    describe(s, expect, sizeof expect);
    /* inih only strips ';' comments, so "lr = 0.1  # note" arrives with the note. */
    const char *hint = (strstr(value, " #") || strstr(value, "\t#")) && !detail[0]
                           ? " (inline comments start with ';', not '#')"
                           : "";
    DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': expected %s%s%s", where, s->section, s->key, value, expect, detail,
             hint);
}

static dk_err unknown_section(const char *where, const char *name)
{
    char known[256] = "", hint[128] = "";
    size_t used = 0;
    for (int i = 0; i < N_SECTIONS; i++) {
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", sections[i]);
        if (!hint[0] && close_enough(name, sections[i]))
            snprintf(hint, sizeof hint, "; did you mean [%s]?", sections[i]);
    }
    DK_ERROR(DK_ERR_USAGE, "%s: unknown section [%s]%s (known sections: %s)", where, name, hint, known);
}

static dk_err unknown_key(const char *where, const char *section, const char *key)
{
    char known[1024] = "", hint[160] = "";
    size_t used = 0;
    for (int i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", keys[i].key);
        if (!hint[0] && close_enough(key, keys[i].key))
            snprintf(hint, sizeof hint, "; did you mean '%s'?", keys[i].key);
    }
    int elsewhere = find_key_named(key, section);
    if (elsewhere >= 0)
        snprintf(hint, sizeof hint, "; it belongs in section [%s]", keys[elsewhere].section);
    DK_ERROR(DK_ERR_USAGE, "%s: unknown key '%s' in section [%s]%s (known keys: %s)", where, key, section, hint,
             known);
}

/* ---------------------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------------------- */

typedef struct load_state {
    dk_config *cfg;
    const char *path;
    FILE *file;
    char line[1024];     /* the current line; far longer than inih's limit */
    int lineno;          /* lines handed to inih so far = inih's own count */
    bool failed;         /* an error is recorded; stop reading */
    int fail_line;       /* the line that caused it (inih never sees lines after it) */
    /* Where each key got its value, for "set twice" and cross-key messages:
     * 0 = default, > 0 = file line, < 0 = -(1 + index of the --set override). */
    int from[N_KEYS];
    const char *const *overrides;
} load_state;

static void fail_at(load_state *st, int line)
{
    st->failed = true;
    st->fail_line = line;
}

/* Reads one line into st->line without its newline: its length, -1 at the end of the file,
 * or -2 when the line does not fit (the rest is left unread: the file is rejected anyway,
 * and a mistaken /dev/zero or multi-gigabyte file must not be read into memory). */
static long next_line(load_state *st, bool *has_nul)
{
    long n = 0;
    int c;
    *has_nul = false;
    while ((c = getc(st->file)) != EOF && c != '\n') {
        if (n + 1 >= (long)sizeof st->line)
            return -2;
        *has_nul |= c == '\0';
        st->line[n++] = (char)c;
    }
    st->line[n] = '\0';
    return c == EOF && n == 0 ? -1 : n;
}

/* inih's fgets-style reader. Reading lines ourselves gives the handler the line number
 * that Debian's inih does not pass, turns inih's silent splitting of over-long lines into
 * an error, and lets us strip leading whitespace so that inih never treats an indented
 * line as the continuation of the previous value. */
static char *read_line(char *buf, int num, void *stream)
{
    load_state *st = stream;
    if (st->failed)
        return NULL;
    errno = 0;
    bool has_nul = false;
    long len = next_line(st, &has_nul);
    if (len == -1) {
        if (ferror(st->file)) {
            dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "cannot read config file '%s': %s", st->path,
                         strerror(errno ? errno : EIO));
            fail_at(st, st->lineno + 1);
        }
        return NULL;
    }
    st->lineno++;
    if (has_nul) { /* C strings would silently end the line there */
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s:%d: the line contains a NUL byte: is this a text file?",
                     st->path, st->lineno);
        fail_at(st, st->lineno);
        return NULL;
    }
    char *start = st->line;
    if (st->lineno == 1 && !strncmp(start, "\xEF\xBB\xBF", 3)) /* UTF-8 byte order mark */
        start += 3;
    while (*start && isspace((unsigned char)*start))
        start++;
    size_t n = len < 0 ? sizeof st->line : strlen(start);
    while (n > 0 && n < sizeof st->line && start[n - 1] == '\r')
        n--;
    /* inih needs room for "\r\n\0" after the longest line. */
    if (num < 3 || n > (size_t)num - 3) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                     "%s:%d: line is longer than %d characters, the limit of the INI parser; shorten it or "
                     "give the value with --set section.key=value",
                     st->path, st->lineno, num - 3);
        fail_at(st, st->lineno);
        return NULL;
    }
    /* inih does not report section headers to the handler, so check them here: an
     * unknown section is an error even when it holds no keys. */
    if (start[0] == '[') {
        const char *close = memchr(start, ']', n);
        char name[256]; /* the line is shorter than this */
        if (close && copy_trimmed(name, sizeof name, start + 1, close) && find_section(name) < 0) {
            char where[DK_PATH_MAX + 32];
            snprintf(where, sizeof where, "%s:%d", st->path, st->lineno);
            unknown_section(where, name);
            fail_at(st, st->lineno);
            return NULL;
        }
    }
    memcpy(buf, start, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return buf;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    char where[DK_PATH_MAX + 32], sec[DK_NAME_MAX];
    snprintf(where, sizeof where, "%s:%d", st->path, st->lineno);
    if (!name[0]) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: syntax error, expected key = value or [section]", where);
        fail_at(st, st->lineno);
        return 0;
    }
    /* inih keeps the spaces of "[ model ]". */
    if (!copy_trimmed(sec, sizeof sec, section, section + strlen(section)))
        sec[0] = '?', sec[1] = '\0';
    if (!sec[0]) {
        int elsewhere = find_key_named(name, "");
        char hint[128] = "";
        if (elsewhere >= 0)
            snprintf(hint, sizeof hint, "; it belongs in section [%s]", keys[elsewhere].section);
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: key '%s' comes before any [section] header%s", where, name,
                     hint);
        fail_at(st, st->lineno);
        return 0;
    }
    if (find_section(sec) < 0) { /* read_line has rejected it already; kept for safety */
        unknown_section(where, sec);
        fail_at(st, st->lineno);
        return 0;
    }
    int idx = find_key(sec, name);
    if (idx < 0) {
        unknown_key(where, sec, name);
        fail_at(st, st->lineno);
        return 0;
    }
    if (st->from[idx] > 0) {
        dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "%s: [%s] %s set twice, first at line %d", where, sec, name,
                     st->from[idx]);
        fail_at(st, st->lineno);
        return 0;
    }
    if (set_key(st->cfg, &keys[idx], value, where) != DK_OK) {
        fail_at(st, st->lineno);
        return 0;
    }
    st->from[idx] = st->lineno;
    return 1;
}

/* Applies "section.key=value"; st (may be NULL) records where the key came from. */
static dk_err apply_assignment(dk_config *cfg, const char *assignment, const char *origin, load_state *st,
                               int override_index)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    char sec[DK_NAME_MAX], key[DK_NAME_MAX];
    if (!dot || !copy_trimmed(sec, sizeof sec, assignment, dot) || !copy_trimmed(key, sizeof key, dot + 1, eq) ||
        !sec[0] || !key[0])
        DK_ERROR(DK_ERR_USAGE, "%s: expected section.key=value, e.g. --set train.lr=0.001", origin);
    if (find_section(sec) < 0)
        DK_CALL(unknown_section(origin, sec));
    int idx = find_key(sec, key);
    if (idx < 0)
        DK_CALL(unknown_key(origin, sec, key));
    static char value[DK_PATH_MAX + 1]; /* large; configuration is loaded on one thread */
    if (!copy_trimmed(value, sizeof value, eq + 1, eq + strlen(eq)))
        DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s: the value is longer than %d characters", origin, sec, key, DK_PATH_MAX);
    DK_CALL(set_key(cfg, &keys[idx], value, origin));
    if (st)
        st->from[idx] = -(1 + override_index);
    return DK_OK;
}

/* "fit.ini:7", "--set train.lr=0.5" or, for a default, "fit.ini". */
static void origin_of(const load_state *st, int idx, char *buf, size_t n)
{
    int from = st->from[idx];
    if (from > 0)
        snprintf(buf, n, "%s:%d", st->path, from);
    else if (from < 0)
        snprintf(buf, n, "--set %s", st->overrides[-from - 1]);
    else
        snprintf(buf, n, "%s", st->path);
}

static int key_index(const char *section, const char *key)
{
    int idx = find_key(section, key);
    if (idx < 0) { /* a typo in this file: fail loudly in every test */
        fprintf(stderr, "distkan: internal error: no config key [%s] %s\n", section, key);
        abort();
    }
    return idx;
}

/* Cross-key rule violation: "<origin>: [sec] key = 'value': <what>". */
static dk_err cross_error(const load_state *st, const char *section, const char *key, const char *what)
{
    int idx = key_index(section, key);
    char where[DK_PATH_MAX + 64], value[DK_PATH_MAX + 16];
    origin_of(st, idx, where, sizeof where);
    format_value(&keys[idx], st->cfg, value, sizeof value);
    DK_ERROR(DK_ERR_USAGE, "%s: [%s] %s = '%s': %s", where, section, key, value, what);
}

static dk_err check_fit_keys(const load_state *st)
{
    const dk_config *cfg = st->cfg;
    char what[1200];
    if (!cfg->csv[0]) {
        const dk_fit_function *f = dk_fit_function_find(cfg->function);
        if (!f) {
            char names[1024];
            expect_function(names, sizeof names);
            snprintf(what, sizeof what, "expected a built-in function when [fit] csv is empty, %s", names);
            return dk_error_push(cross_error(st, "fit", "function", what), __FILE__, __LINE__, __func__);
        }
        if (cfg->train_size < 1)
            DK_CALL(cross_error(st, "fit", "train_size",
                                "expected an integer >= 1 for a built-in function (0 = all rows is for csv only)"));
        /* Known from the config alone, so say it here with the file and line rather than
         * after the data have been generated. */
        if (cfg->widths[0] != f->dim || cfg->widths[cfg->n_widths - 1] != 1) {
            snprintf(what, sizeof what,
                     "expected widths that start with %d and end with 1: [fit] function = %s maps R^%d to R",
                     f->dim, f->name, f->dim);
            DK_CALL(cross_error(st, "model", "widths", what));
        }
    } else if (cfg->widths[cfg->n_widths - 1] != cfg->target_columns) {
        snprintf(what, sizeof what, "expected the last width to equal [fit] target_columns = %d", cfg->target_columns);
        DK_CALL(cross_error(st, "model", "widths", what));
    }
    return DK_OK;
}

static dk_err check_pde_keys(const load_state *st)
{
    const dk_config *cfg = st->cfg;
    const dk_pde_problem *pb = dk_pde_problem_find(cfg->pde_problem);
    char what[1200], why[512] = "";
    if (!pb) { /* the key's own check rejects unknown names; this guards the table */
        expect_problem(why, sizeof why);
        snprintf(what, sizeof what, "expected %s", why);
        return dk_error_push(cross_error(st, "pde", "problem", what), __FILE__, __LINE__, __func__);
    }
    dk_pde_params pp = dk_config_pde_params(cfg);
    int inputs = pb->inputs(&pp, why, sizeof why);
    if (inputs < 0) {
        snprintf(what, sizeof what, "cannot be set up with these [pde] parameters: %s", why);
        DK_CALL(cross_error(st, "pde", "problem", what));
    }
    if (cfg->widths[0] != inputs || cfg->widths[cfg->n_widths - 1] != 1) {
        snprintf(what, sizeof what, "expected widths that start with %d and end with 1: [pde] problem = %s has %d input%s "
                 "and a scalar solution",
                 inputs, pb->name, inputs, inputs == 1 ? "" : "s");
        DK_CALL(cross_error(st, "model", "widths", what));
    }
    /* Boundary points go to the faces with data in turn; with fewer points than faces some
     * face would carry no condition and the problem would have no unique solution. */
    int faces = 0;
    for (int a = 0; a < inputs; a++)
        faces += pb->boundary_face(&pp, a, false) + pb->boundary_face(&pp, a, true);
    if (cfg->pde_boundary < faces) {
        snprintf(what, sizeof what, "expected at least %d, one per face that carries boundary data ([pde] problem = %s "
                 "has %d)", faces, pb->name, faces);
        DK_CALL(cross_error(st, "pde", "boundary_points", what));
    }
    return DK_OK;
}

/* What the run's updates are made of, for messages: "[lbfgs] steps = 800". */
static void describe_total(const dk_config *cfg, char *buf, size_t n)
{
    if (cfg->optimizer == DK_OPT_ADAM)
        snprintf(buf, n, "[train] steps = %ld Adam steps", cfg->steps);
    else if (cfg->optimizer == DK_OPT_LBFGS)
        snprintf(buf, n, "[lbfgs] steps = %ld L-BFGS iterations", cfg->lbfgs_steps);
    else
        snprintf(buf, n, "[train] steps = %ld Adam steps + [lbfgs] steps = %ld L-BFGS iterations", cfg->steps,
                 cfg->lbfgs_steps);
}

/* The grid schedule: sizes increase, [model] grid agrees with the first (and is set from
 * it when not given), stage lengths cover exactly the run's updates. */
static dk_err check_grid_keys(const load_state *st)
{
    dk_config *cfg = st->cfg;
    char what[1200], total_text[200];
    const int n = cfg->n_grid_schedule;
    if (n == 0) {
        if (cfg->n_grid_steps > 0)
            DK_CALL(cross_error(st, "grid", "steps", "expected no value without a [grid] schedule (one stage)"));
        return DK_OK;
    }
    for (int s = 1; s < n; s++)
        if (cfg->grid_schedule[s] <= cfg->grid_schedule[s - 1]) {
            snprintf(what, sizeof what, "expected strictly increasing grid sizes (entry %d, %d, is not above %d)",
                     s + 1, cfg->grid_schedule[s], cfg->grid_schedule[s - 1]);
            DK_CALL(cross_error(st, "grid", "schedule", what));
        }
    if (st->from[key_index("model", "grid")] != 0 && cfg->grid != cfg->grid_schedule[0]) {
        snprintf(what, sizeof what, "expected the first size of [grid] schedule, %d (or leave [model] grid unset)",
                 cfg->grid_schedule[0]);
        DK_CALL(cross_error(st, "model", "grid", what));
    }
    cfg->grid = cfg->grid_schedule[0];
    const long total = dk_config_total_updates(cfg);
    describe_total(cfg, total_text, sizeof total_text);
    if (cfg->n_grid_steps == 0) {
        if (total < n) {
            snprintf(what, sizeof what, "has %d stages but the run has %ld update%s (%s): every stage needs one",
                     n, total, total == 1 ? "" : "s", total_text);
            DK_CALL(cross_error(st, "grid", "schedule", what));
        }
        return DK_OK;
    }
    if (cfg->n_grid_steps != 1 && cfg->n_grid_steps != n) {
        snprintf(what, sizeof what, "expected one value or one per stage ([grid] schedule has %d stages), found %d",
                 n, cfg->n_grid_steps);
        DK_CALL(cross_error(st, "grid", "steps", what));
    }
    long stage_steps[DK_MAX_GRID_STAGES], sum = 0;
    dk_config_grid_stages(cfg, stage_steps);
    for (int s = 0; s < n; s++)
        sum += stage_steps[s];
    if (sum != total) {
        snprintf(what, sizeof what, "the %d stages add up to %ld updates but the run has %ld (%s): make them agree",
                 n, sum, total, total_text);
        DK_CALL(cross_error(st, "grid", "steps", what));
    }
    return DK_OK;
}

/* The knots of the finest grid the run will use must be finite, distinct and usable in the
 * run's precision: a range like [-1e308, 1e308] or [0, 1e-300] passes each number's own
 * check but would fail mid-run with a message that names neither key. */
static dk_err check_grid_range(const load_state *st)
{
    const dk_config *cfg = st->cfg;
    int G = cfg->grid;
    for (int s = 0; s < cfg->n_grid_schedule; s++)
        G = cfg->grid_schedule[s] > G ? cfg->grid_schedule[s] : G;
    const double lo = cfg->grid_range[0], hi = cfg->grid_range[1];
    const double h = (hi - lo) / G;
    const double outer = fmax(fabs(lo - cfg->k * h), fabs(hi + cfg->k * h));
    const bool f32 = cfg->precision == DK_F32;
    const double eps = f32 ? FLT_EPSILON : DBL_EPSILON, big = f32 ? FLT_MAX : DBL_MAX;
    char what[400];
    if (!isfinite(hi - lo) || !isfinite(outer) || outer > big / 4) {
        snprintf(what, sizeof what, "expected a range whose extended knots (k = %d spacings beyond each end) are "
                 "finite in %s", cfg->k, f32 ? "float32" : "float64");
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    /* Spacings far above rounding keep the knots distinct; above 1/sqrt(max) keeps the
     * second derivatives of the basis (PDE losses), of order 1/h^2, finite. */
    if (!(h > 64 * eps * outer) || !(h > 1 / sqrt(big))) {
        snprintf(what, sizeof what, "expected a wider range: with G = %d the knot spacing %.3g is too small for %s "
                 "numbers of size %.3g", G, h, f32 ? "float32" : "float64", outer);
        DK_CALL(cross_error(st, "model", "grid_range", what));
    }
    return DK_OK;
}

static dk_err check_cross_keys(const load_state *st)
{
    const dk_config *cfg = st->cfg;
    char what[1200];
    DK_CALL(check_grid_range(st));
    if (cfg->lr_schedule == DK_LR_COSINE && !(cfg->lr_min < cfg->lr)) {
        char lr[32];
        format_double(cfg->lr, lr, sizeof lr);
        snprintf(what, sizeof what, "expected a number < [train] lr = %s when lr_schedule = cosine", lr);
        DK_CALL(cross_error(st, "train", "lr_min", what));
    }
    if (cfg->steps > 0 && cfg->warmup_steps >= cfg->steps) {
        snprintf(what, sizeof what, "expected an integer < [train] steps = %ld", cfg->steps);
        DK_CALL(cross_error(st, "train", "warmup_steps", what));
    }
    if (!(cfg->lbfgs_c1 < cfg->lbfgs_c2)) {
        char c1[32];
        format_double(cfg->lbfgs_c1, c1, sizeof c1);
        snprintf(what, sizeof what, "expected a number > [lbfgs] c1 = %s (strong Wolfe needs 0 < c1 < c2 < 1)", c1);
        DK_CALL(cross_error(st, "lbfgs", "c2", what));
    }
    DK_CALL(check_grid_keys(st));
    if (cfg->task == DK_TASK_FIT)
        DK_CALL(check_fit_keys(st));
    else
        DK_CALL(check_pde_keys(st));
    return DK_OK;
}

/* runs/<file name without directory and extension>, e.g. runs/poisson for cfg/poisson.ini. */
static dk_err default_run_dir(dk_config *cfg, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    /* "..ini" and "...ini" would name runs/. and runs/.. (runs/ itself, or the directory
     * above it): such a stem, like an empty one, gives runs/config. */
    if (len == 0 || (len == 1 && base[0] == '.') || (len == 2 && base[0] == '.' && base[1] == '.'))
        base = "config", len = strlen(base);
    int n = snprintf(cfg->run_dir, sizeof cfg->run_dir, "runs/%.*s", (int)len, base);
    if (n < 0 || (size_t)n >= sizeof cfg->run_dir)
        DK_ERROR(DK_ERR_USAGE, "%s: the default run directory runs/<name> is too long; set [output] run_dir", path);
    return DK_OK;
}

/* ---------------------------------------------------------------------------------------
 * Public interface
 * ------------------------------------------------------------------------------------- */

const char *dk_config_optimizer_name(dk_optimizer_kind kind) { return optimizer_names[kind]; }

long dk_config_total_updates(const dk_config *cfg)
{
    return (cfg->optimizer != DK_OPT_LBFGS ? cfg->steps : 0) + (cfg->optimizer != DK_OPT_ADAM ? cfg->lbfgs_steps : 0);
}

int dk_config_grid_stages(const dk_config *cfg, long *stage_steps)
{
    const int n = cfg->n_grid_schedule > 0 ? cfg->n_grid_schedule : 1;
    const long total = dk_config_total_updates(cfg);
    for (int s = 0; s < n; s++)
        stage_steps[s] = cfg->n_grid_steps == 0 ? total * (s + 1) / n - total * s / n
                                                : cfg->grid_steps[cfg->n_grid_steps == 1 ? 0 : s];
    return n;
}

dk_pde_params dk_config_pde_params(const dk_config *cfg)
{
    return (dk_pde_params){.dim = cfg->pde_dim, .a1 = cfg->pde_a1, .a2 = cfg->pde_a2,
                           .wavenumber = cfg->pde_wavenumber, .diffusivity = cfg->pde_diffusivity};
}

void dk_config_defaults(dk_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++)
        if (set_key(cfg, &keys[i], keys[i].default_text, "default") != DK_OK) {
            /* The schema contradicts itself: a bug, caught by the first test run. */
            fprintf(stderr, "distkan: internal error: bad default: %s\n", dk_error_message());
            abort();
        }
}

/* Parses `file` (called `path` in messages) over the defaults already in cfg, applies the
 * overrides and checks the cross-key rules. */
static dk_err load_stream(dk_config *cfg, FILE *file, const char *path, const char *const *overrides,
                          int n_overrides)
{
    load_state st = {.cfg = cfg, .path = path, .overrides = overrides, .file = file};
    int ret = ini_parse_stream(read_line, &st, on_key, &st);
    if (ret == -2)
        DK_ERROR(DK_ERR_MEMORY, "%s: out of memory while parsing", path);
    /* inih keeps going after a syntax error (a line without '=' or an unclosed '['), so
     * such an error may precede the one our reader or handler stopped at. */
    if (ret > 0 && (!st.failed || ret < st.fail_line))
        DK_ERROR(DK_ERR_USAGE, "%s:%d: syntax error, expected key = value or [section]", path, ret);
    if (st.failed)
        return dk_error_push(dk_error_code(), __FILE__, __LINE__, __func__);

    static char origin[DK_PATH_MAX + 16];
    for (int i = 0; i < n_overrides; i++) {
        if (!overrides[i])
            DK_ERROR(DK_ERR_INTERNAL, "override %d is NULL", i);
        snprintf(origin, sizeof origin, "--set %s", overrides[i]);
        DK_CALL(apply_assignment(cfg, overrides[i], origin, &st, i));
    }

    DK_CALL(check_cross_keys(&st));
    /* The header promises "function is empty when csv is set": the fit task then has one
     * source of data to look at. */
    if (cfg->csv[0])
        memset(cfg->function, 0, sizeof cfg->function);
    return DK_OK;
}

static dk_err set_source(dk_config *cfg, const char *path)
{
    dk_config_defaults(cfg);
    if (!path || !path[0])
        DK_ERROR(DK_ERR_USAGE, "no config file given");
    if (strlen(path) >= sizeof cfg->source_path)
        DK_ERROR(DK_ERR_USAGE, "config file path is longer than %zu characters", sizeof cfg->source_path - 1);
    strcpy(cfg->source_path, path);
    return DK_OK;
}

dk_err dk_config_load(dk_config *cfg, const char *path, const char *const *overrides, int n_overrides)
{
    DK_CALL(set_source(cfg, path));
    FILE *file = fopen(path, "r");
    if (!file)
        DK_ERROR(DK_ERR_USAGE, "cannot open config file '%s': %s", path, strerror(errno));
    dk_err err = load_stream(cfg, file, path, overrides, n_overrides);
    fclose(file);
    DK_CALL(err);
    if (!cfg->run_dir[0])
        DK_CALL(default_run_dir(cfg, path));
    return DK_OK;
}

dk_err dk_config_load_text(dk_config *cfg, const char *text, const char *label)
{
    DK_CALL(set_source(cfg, label));
    if (!text[0])
        DK_ERROR(DK_ERR_USAGE, "%s: the configuration is empty", label);
    FILE *file = fmemopen((void *)text, strlen(text), "r");
    if (!file)
        DK_ERROR(DK_ERR_MEMORY, "%s: cannot read the configuration text: %s", label, strerror(errno));
    dk_err err = load_stream(cfg, file, label, NULL, 0);
    fclose(file);
    DK_CALL(err);
    return DK_OK;
}

dk_err dk_config_check_resume(const dk_config *saved, const dk_config *now, const char *checkpoint_label,
                              FILE *changes, int *n_changed)
{
    static char a[DK_PATH_MAX + 16], b[DK_PATH_MAX + 16];
    char fixed[2048] = "";
    size_t used = 0;
    int n_fixed = 0;
    *n_changed = 0;
    for (int i = 0; i < N_KEYS; i++) {
        format_value(&keys[i], saved, a, sizeof a);
        format_value(&keys[i], now, b, sizeof b);
        if (strcmp(a, b) == 0)
            continue;
        if (keys[i].resume_may_change) {
            if (changes)
                fprintf(changes, "  [%s] %s: %s -> %s\n", keys[i].section, keys[i].key, a, b);
            (*n_changed)++;
            continue;
        }
        n_fixed++;
        if (used < sizeof fixed)
            used += (size_t)snprintf(fixed + used, sizeof fixed - used, "\n  [%s] %s: the checkpoint has '%s', the config '%s'",
                                     keys[i].section, keys[i].key, a, b);
    }
    if (n_fixed > 0)
        DK_ERROR(DK_ERR_USAGE,
                 "%s: cannot resume from %s: %d key%s differ%s from the checkpoint and cannot change on resume "
                 "(only step counts, log_every, threads, run_dir, the CSV path (not its data), evaluation sizes and "
                 "[checkpoint] keys can):%s",
                 now->source_path, checkpoint_label, n_fixed, n_fixed == 1 ? "" : "s", n_fixed == 1 ? "s" : "", fixed);
    return DK_OK;
}

dk_err dk_config_checkpoint_dir(const dk_config *cfg, char *out, size_t capacity)
{
    int n = cfg->ckpt_dir[0] ? snprintf(out, capacity, "%s", cfg->ckpt_dir)
                             : snprintf(out, capacity, "%s/checkpoints", cfg->run_dir);
    if (n < 0 || (size_t)n >= capacity)
        DK_ERROR(DK_ERR_USAGE, "%s: the checkpoint directory path is longer than %zu characters; set [checkpoint] dir",
                 cfg->source_path, capacity - 1);
    return DK_OK;
}

dk_err dk_config_set(dk_config *cfg, const char *assignment, const char *origin)
{
    static char made[DK_PATH_MAX + 16];
    if (!origin) {
        snprintf(made, sizeof made, "--set %s", assignment);
        origin = made;
    }
    DK_CALL(apply_assignment(cfg, assignment, origin, NULL, 0));
    return DK_OK;
}

void dk_config_write_ini(const dk_config *cfg, FILE *f)
{
    static char value[DK_PATH_MAX + 16];
    fprintf(f, "# distkan configuration: every key with the value the run used.\n");
    if (cfg->source_path[0]) {
        /* A comment is a line too: a long path loses its start rather than make the text
         * unreadable. */
        const char *path = cfg->source_path;
        const size_t len = strlen(path), room = DK_INI_LINE_MAX - strlen("# resolved from ...");
        if (len > room)
            fprintf(f, "# resolved from ...%s\n", path + len - room);
        else
            fprintf(f, "# resolved from %s\n", path);
    }
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", sections[s]);
        for (int i = 0; i < N_KEYS; i++) {
            if (strcmp(keys[i].section, sections[s]) != 0)
                continue;
            format_value(&keys[i], cfg, value, sizeof value);
            fprintf(f, "%s = %s\n", keys[i].key, value);
        }
    }
}

dk_err dk_config_to_text(const dk_config *cfg, char **text)
{
    *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f)
        DK_ERROR(DK_ERR_MEMORY, "cannot write the configuration to memory: %s", strerror(errno));
    dk_config_write_ini(cfg, f);
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        DK_ERROR(DK_ERR_MEMORY, "cannot write the configuration to memory");
    }
    return DK_OK;
}

/* The text without its comment lines (which name the source file): what must read back. */
static void strip_comments(char *text)
{
    char *out = text;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const size_t n = end ? (size_t)(end - line) + 1 : strlen(line);
        if (line[0] != '#') {
            memmove(out, line, n);
            out += n;
        }
        line += n;
    }
    *out = '\0';
}

/* The first line where the written configuration and its reading back differ, by section
 * and key, with both values: the user then knows which value to change and why. */
static dk_err report_unstorable(const dk_config *cfg, const char *text, const char *again)
{
    char section[DK_NAME_MAX] = "";
    const char *a = text, *b = again;
    while (*a && *b) {
        const size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        if (a[0] == '[' && na >= 2 && na - 2 < sizeof section) {
            memcpy(section, a + 1, na - 2);
            section[na - 2] = '\0';
        }
        if (na != nb || memcmp(a, b, na) != 0) {
            const char *eq = memchr(a, '=', na), *eq_b = memchr(b, '=', nb);
            const int key_len = eq && eq > a ? (int)(eq - a - 1) : (int)na;
            const char *value = eq ? eq + 2 : a, *value_b = eq_b ? eq_b + 2 : b;
            DK_ERROR(DK_ERR_USAGE,
                     "%s (with any --set and --run-dir): [%s] %.*s = '%.*s' cannot be stored in config.ini and "
                     "checkpoints: it reads back as "
                     "'%.*s' (an INI value cannot begin or end with blanks, and ' ;' or ' #' starts a comment); "
                     "choose a value without them",
                     cfg->source_path, section, key_len, a, (int)(na - (size_t)(value - a)), value,
                     (int)(nb - (size_t)(value_b - b)), value_b);
        }
        a += na + (a[na] == '\n');
        b += nb + (b[nb] == '\n');
    }
    DK_ERROR(DK_ERR_USAGE,
             "%s: the resolved configuration does not read back as written (a value the INI format cannot carry?); "
             "see `distkan check`",
             cfg->source_path);
}

dk_err dk_config_check_storable(const dk_config *cfg)
{
    char *text = NULL;
    DK_CALL(dk_config_to_text(cfg, &text));
    /* Lines first: the message can then name the key. */
    char section[DK_NAME_MAX] = "";
    dk_err err = DK_OK;
    for (const char *line = text; *line && err == DK_OK;) {
        const char *end = strchr(line, '\n');
        const size_t n = end ? (size_t)(end - line) : strlen(line);
        if (line[0] == '[' && n >= 2 && n - 2 < sizeof section) {
            memcpy(section, line + 1, n - 2);
            section[n - 2] = '\0';
        } else if (n > DK_INI_LINE_MAX) {
            const char *eq = memchr(line, '=', n);
            const int key_len = eq && eq > line ? (int)(eq - line - 1) : 0;
            err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                               "%s (with any --set and --run-dir): [%s] %.*s: the value is too long to store: its "
                               "line in config.ini and in every "
                               "checkpoint would have %zu characters, more than the %d the INI parser reads back, so "
                               "the run could never be resumed; shorten it (for a path, a symbolic link to the "
                               "directory works)",
                               cfg->source_path, section, key_len, line, n, DK_INI_LINE_MAX);
        }
        line += n + (end != NULL);
    }
    /* Then a full round trip through the parser, which is what a resume will do. */
    static dk_config back;
    char *again = NULL;
    if (err == DK_OK)
        err = dk_config_load_text(&back, text, "the resolved configuration");
    if (err == DK_OK)
        err = dk_config_to_text(&back, &again);
    if (err == DK_OK) {
        strip_comments(text);
        strip_comments(again);
        if (strcmp(text, again) != 0)
            err = report_unstorable(cfg, text, again);
    }
    free(text);
    free(again);
    if (err != DK_OK)
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    return DK_OK;
}

/* Two lines a key, so that a terminal does not wrap it: the key, its default and what it
 * accepts, then its meaning under the expectation. */
void dk_config_write_reference(FILE *f)
{
    char expect[1024];
    int wkey = (int)strlen("key"), wdef = (int)strlen("default");
    for (int i = 0; i < N_KEYS; i++) {
        int k = (int)strlen(keys[i].key);
        int d = keys[i].default_text[0] ? (int)strlen(keys[i].default_text) : (int)strlen("(empty)");
        wkey = k > wkey ? k : wkey;
        wdef = d > wdef ? d : wdef;
    }
    fprintf(f, "  %-*s  %-*s  %s\n  %-*s  %-*s  %s\n", wkey, "key", wdef, "default", "expected", wkey, "", wdef, "",
            "meaning");
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", sections[s]);
        for (int i = 0; i < N_KEYS; i++) {
            if (strcmp(keys[i].section, sections[s]) != 0)
                continue;
            describe(&keys[i], expect, sizeof expect);
            fprintf(f, "  %-*s  %-*s  %s\n  %-*s  %-*s  %s\n", wkey, keys[i].key, wdef,
                    keys[i].default_text[0] ? keys[i].default_text : "(empty)", expect, wkey, "", wdef, "",
                    keys[i].doc);
        }
    }
}

/* Markdown table cells: '|' would end the cell, "<stem>" would vanish as an HTML tag and
 * "a*b*c" would turn italic. */
static void md_cell(FILE *f, const char *text)
{
    for (; *text; text++) {
        if (*text == '<')
            fputs("&lt;", f);
        else if (*text == '>')
            fputs("&gt;", f);
        else {
            if (*text == '|' || *text == '*')
                fputc('\\', f);
            fputc(*text, f);
        }
    }
}

void dk_config_write_reference_markdown(FILE *f)
{
    char expect[1024];
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "%s### [%s]\n\n| Key | Default | Expected | Meaning |\n|---|---|---|---|\n", s ? "\n" : "",
                sections[s]);
        for (int i = 0; i < N_KEYS; i++) {
            if (strcmp(keys[i].section, sections[s]) != 0)
                continue;
            describe(&keys[i], expect, sizeof expect);
            fprintf(f, "| `%s` | ", keys[i].key);
            if (keys[i].default_text[0]) {
                fputc('`', f);
                fputs(keys[i].default_text, f); /* code span: no escapes */
                fputc('`', f);
            } else {
                fputs("*(empty)*", f);
            }
            fputs(" | ", f);
            md_cell(f, expect);
            fputs(" | ", f);
            md_cell(f, keys[i].doc);
            fputs(" |\n", f);
        }
    }
}

/* Run configuration: an INI file (parsed with inih) plus `--set section.key=value`
 * overrides, checked against one schema table (dk_config_schema.c) that also holds every key's
 * default, range and one-line documentation.
 *
 * Errors name the file and line (or the --set argument), the key, the value given and
 * what was expected, and return DK_ERR_USAGE (exit code 2):
 *   examples/fit.ini:7: [train] lr = 'fast': expected a number > 0
 *   examples/fit.ini:3: unknown key 'widht' in section [model]; did you mean 'widths'? (known keys: ...)
 *   --set train.steps=-5: [train] steps = '-5': expected an integer in [0, 1000000000]
 * The INI dialect (comments, repeated keys, line length) is described in dk_config_read.c.
 */
#ifndef DK_CONFIG_H
#define DK_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "../common/dk_device.h"
#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "../layers/dk_network.h"
#include "../optim/dk_grid_schedule.h"
#include "../optim/dk_lr_schedule.h"
#include "../tasks/dk_collocation.h"
#include "../tasks/dk_pde_problem.h"

/* Layers: the network's own limit. Grid stages: DK_GRID_MAX_STAGES. */
enum { DK_MAX_LAYERS = DK_NETWORK_MAX_LAYERS, DK_PATH_MAX = 4096, DK_NAME_MAX = 64 };
/* The largest grid: initialisation and every grid change solve dense least-squares
 * problems of (G + k) unknowns per input, O(G^3) (G = 4000: about 20 s per input on one
 * core, and 8 (G + 1) (G + k) bytes), so beyond this a run would look hung. */
enum { DK_MAX_GRID = 10000 };

typedef enum { DK_TASK_FIT = 0, DK_TASK_PDE = 1 } dk_task_kind;
/* adam_then_lbfgs: [train] steps Adam steps, then [lbfgs] steps L-BFGS iterations. */
typedef enum { DK_OPT_ADAM = 0, DK_OPT_LBFGS = 1, DK_OPT_ADAM_THEN_LBFGS = 2 } dk_optimizer_kind;

typedef struct dk_config {
    /* [model] */
    int widths[DK_MAX_LAYERS + 1]; /* widths, e.g. 2,5,1 */
    int n_widths;                  /* number of entries in widths (layers + 1), >= 2 */
    int grid;                      /* G, intervals per input */
    int k;                         /* spline degree */
    double grid_range[2];          /* lo, hi */
    double grid_eps;               /* used by grid update from samples */
    dk_dtype precision;
    unsigned long long seed;
    double noise_scale;            /* pykan's noise_scale for initial coefficients */
    double scale_base_mu, scale_base_sigma, scale_sp;

    /* [train] */
    dk_optimizer_kind optimizer;
    long steps;                    /* Adam steps (optimizer adam or adam_then_lbfgs) */
    double lr;
    dk_lr_kind lr_schedule;
    double lr_min;
    double lr_gamma;
    long lr_step_every;
    long warmup_steps;
    double beta1, beta2, adam_eps, weight_decay; /* keys beta1, beta2, eps, weight_decay */
    long batch;                    /* global batch; 0 = the whole training set */
    long log_every;

    /* [lbfgs] */
    long lbfgs_steps;              /* iterations (optimizer lbfgs or adam_then_lbfgs) */
    int lbfgs_history;
    int lbfgs_max_evals;           /* objective evaluations per line search */
    double lbfgs_c1, lbfgs_c2;
    double lbfgs_tolerance_grad, lbfgs_tolerance_change;

    /* [grid] */
    int grid_schedule[DK_GRID_MAX_STAGES]; /* G of each stage; empty (n = 0) = [model] grid throughout */
    int n_grid_schedule;
    int grid_steps[DK_GRID_MAX_STAGES];    /* updates per stage: none = equal split, one = every stage */
    int n_grid_steps;
    long grid_update_every;        /* grid update from samples every N updates of a stage; 0 = never */
    long grid_update_until;        /* no update at or after this update of a stage; 0 = whole stage */
    long grid_update_samples;      /* global samples per update */

    /* [task] */
    dk_task_kind task;

    /* [fit] */
    char function[DK_NAME_MAX];    /* built-in target name; empty when csv is set */
    char csv[DK_PATH_MAX];         /* CSV dataset path; empty for a built-in function */
    int target_columns;            /* the last target_columns CSV columns are targets */
    long train_size, test_size;

    /* [pde] */
    char pde_problem[DK_NAME_MAX];
    int pde_dim;                   /* spatial dimension of poisson_nd and heat_nd */
    double pde_a1, pde_a2, pde_wavenumber; /* helmholtz2d */
    double pde_diffusivity;        /* heat_nd */
    double pde_alpha;              /* weight of the interior residual term */
    long pde_interior, pde_boundary; /* global collocation point counts */
    dk_sampling pde_sampling;
    long pde_resample_every;       /* 0 = never */
    long pde_eval_grid;            /* evaluation grid points per axis (inputs <= 3) */
    long pde_eval_points;          /* random evaluation points (inputs > 3) */

    /* [dist] */
    int threads;                   /* OpenMP threads per rank */
    dk_device_kind device;         /* auto, cpu, cuda */
    dk_comm_choice comm;           /* auto, nccl, mpi (GPU runs) */

    /* [output] */
    char run_dir[DK_PATH_MAX];     /* default runs/<config file stem>; --run-dir overrides */

    /* [checkpoint] */
    long ckpt_every;               /* checkpoint every N updates; 0 = never */
    double ckpt_every_seconds;     /* and/or every this many seconds of training; 0 = never */
    int ckpt_keep;                 /* newest checkpoints kept */
    char ckpt_dir[DK_PATH_MAX];    /* empty = <run_dir>/checkpoints */
    long ckpt_chunk_bytes;         /* tensor bytes per checksummed chunk */
    bool ckpt_final;               /* write one at the end of the run */

    /* Where the configuration came from, for messages and the summary. */
    char source_path[DK_PATH_MAX];
    /* Warnings, one line each, about keys the file or --set gave that this configuration
     * never reads (a [pde] section in a fit run, say); empty when none. Filled by
     * dk_config_load; `check` and `train` print them. */
    char unread_keys[4096];
} dk_config;

/* The config spelling of an optimizer ("adam", "lbfgs", "adam_then_lbfgs"). */
const char *dk_config_optimizer_name(dk_optimizer_kind kind);

/* The run's updates (Adam steps plus L-BFGS iterations the optimizer plans), and its grid
 * schedule: one stage of [model] grid without a [grid] schedule; the config checks made
 * the stages' updates positive and summing to the total. */
long dk_config_total_updates(const dk_config *cfg);
void dk_config_grid_schedule(const dk_config *cfg, dk_grid_schedule *out);

/* The [pde] problem parameters. */
dk_pde_params dk_config_pde_params(const dk_config *cfg);

/* Fills every key with its default (run_dir stays empty). */
void dk_config_defaults(dk_config *cfg);

/* Parses an INI file over the defaults, then applies the overrides in order
 * (each "section.key=value"), then checks cross-key rules (e.g. lr_min < lr for cosine,
 * widths match the built-in function), clears function when csv is set (csv wins) and
 * fills run_dir from the file name when unset (runs/<stem>, e.g. runs/poisson).
 * A missing or unreadable file is DK_ERR_USAGE naming the path. On error *cfg holds a
 * partial configuration and must not be used. */
dk_err dk_config_load(dk_config *cfg, const char *path, const char *const *overrides, int n_overrides);

/* Applies one "section.key=value" assignment (no cross-key checks); `origin` names it in
 * errors, e.g. "--set train.lr=0.1"; NULL means "--set <assignment>". */
dk_err dk_config_set(dk_config *cfg, const char *assignment, const char *origin);
/* Whether byte c is a control character (C0 or DEL), which no value, path or comment line
 * of a configuration may hold: a line end would start a line of its own. Values allow tab. */
static inline bool dk_config_is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }
/* A configuration loaded from a file whose name holds a control character has no default
 * run directory (runs/<name> could not be stored): an error naming the file unless
 * [output] run_dir or --run-dir gave one. */
dk_err dk_config_require_run_dir(const dk_config *cfg);

/* Prints each line of cfg->unread_keys as "<prefix>warning: <config file>: <line>". */
void dk_config_print_unread(const dk_config *cfg, FILE *f, const char *prefix);

/* Writes the resolved configuration as a valid INI file (every key, current values), so
 * that a run can be reproduced from its run directory. */
void dk_config_write_ini(const dk_config *cfg, FILE *f);
/* The same text in memory; *text is malloc'ed (free it). */
dk_err dk_config_to_text(const dk_config *cfg, char **text);
/* "# <before><path><after>" as one line a configuration may hold: a long path shortened
 * to its end ("..." first), control characters written as '?'. */
void dk_config_write_path_comment(FILE *f, const char *before, const char *path, const char *after);
/* Whether the resolved configuration can be stored and read back: config.ini and every
 * checkpoint hold it as INI text, and a resume parses it again. DK_ERR_USAGE naming the
 * key whose line would be longer than the parser reads (a long run_dir or csv path), or
 * saying what did not read back; called before a run starts, so that no run can write
 * checkpoints it could never resume from. */
dk_err dk_config_check_storable(const dk_config *cfg);

/* Loads a configuration from INI text (a checkpoint's resolved config); `label` stands for
 * the file name in messages. Same rules as dk_config_load, without overrides. */
dk_err dk_config_load_text(dk_config *cfg, const char *text, const char *label);

/* Compares the configuration a checkpoint was written with (`saved`) with the one a
 * resumed run uses (`now`), key by key. Keys that may change on resume (step counts,
 * logging, checkpoint settings, threads, run directory, evaluation set size) are listed on
 * `changes` (if not NULL), one "  [section] key: old -> new" line each, and *n_changed
 * counts them. Any other difference is a DK_ERR_USAGE error listing every such key with
 * both values. */
dk_err dk_config_check_resume(const dk_config *saved, const dk_config *now, const char *checkpoint_label,
                              FILE *changes, int *n_changed);

/* The checkpoint directory: [checkpoint] dir, or <run_dir>/checkpoints when empty. */
dk_err dk_config_checkpoint_dir(const dk_config *cfg, char *out, size_t capacity);

/* Writes every key, one line each, with its default, what it accepts and its meaning
 * (for `distkan keys`). */
void dk_config_write_reference(FILE *f);

/* The same as Markdown: one table per section (for the README, `distkan keys --markdown`). */
void dk_config_write_reference_markdown(FILE *f);

#endif

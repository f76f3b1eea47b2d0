/* Keys a person set, in the file or with --set, that the resolved configuration never
 * reads: [pde] keys in a fit run (the [task] type forgotten, and the built-in function
 * trained instead), [lbfgs] keys under Adam, a helmholtz2d wave number given to
 * poisson_nd. A run would go ahead as if they were not there. They are warnings, not
 * errors: one file may serve several set-ups, and switching one key
 * (--set train.optimizer=lbfgs) must not make the rest of it invalid.
 *
 * A configuration distkan wrote (config.ini, which lists every key) is not a person's
 * choice of keys: there only the --set overrides are looked at.
 *
 * A file that sets no key at all is warned of too. */
#include "dk_config_schema.h"

#include <string.h>

#include "../tasks/dk_pde_problem.h"

static bool is(const dk_key_spec *s, const char *section, const char *key)
{
    return !strcmp(s->section, section) && (!key || !strcmp(s->key, key));
}

/* Whether the problem reads the [pde] key (its `params` list). */
static bool problem_reads(const dk_pde_problem *pb, const char *key)
{
    const size_t n = strlen(key);
    for (const char *p = pb->params; (p = strstr(p, key)) != NULL; p += n)
        if ((p == pb->params || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* Why cfg does not read the key, in buf; NULL when it does. task_given: [task] type was
 * set rather than left at its default. */
static const char *why_unread(const dk_config *cfg, const dk_key_spec *s, bool task_given, char *buf, size_t n)
{
    if (is(s, "pde", NULL) && cfg->task != DK_TASK_PDE)
        return task_given ? "[task] type = fit reads no [pde] key"
                          : "[task] type is fit (the default), which reads no [pde] key: to solve the PDE, set "
                            "[task] type = pde";
    if (is(s, "fit", NULL) && cfg->task != DK_TASK_FIT)
        return "[task] type = pde reads no [fit] key";
    if (is(s, "fit", "function") && cfg->csv[0])
        return "[fit] csv is set, and the data come from it";
    if (is(s, "lbfgs", NULL) && cfg->optimizer == DK_OPT_ADAM)
        return "[train] optimizer = adam runs no L-BFGS iteration";
    /* batch still sizes the pieces the full-batch gradient is summed in. */
    if (is(s, "train", NULL) && cfg->optimizer == DK_OPT_LBFGS && !is(s, "train", "optimizer") &&
        !is(s, "train", "log_every") && !is(s, "train", "batch"))
        return "[train] optimizer = lbfgs runs no Adam step";
    if (is(s, "train", "lr_min") && cfg->lr_schedule != DK_LR_COSINE)
        return "only lr_schedule = cosine reads it";
    if ((is(s, "train", "lr_gamma") || is(s, "train", "lr_step_every")) && cfg->lr_schedule != DK_LR_STEP)
        return "only lr_schedule = step reads it";
    if ((is(s, "grid", "update_until") || is(s, "grid", "update_samples") || is(s, "model", "grid_eps")) &&
        cfg->grid_update_every == 0)
        return "it applies to grid updates from samples, and [grid] update_every = 0 makes none";
    if (is(s, "train", "batch") && cfg->task == DK_TASK_PDE)
        return "a PDE run takes all its collocation points at every step ([pde] interior_points, boundary_points)";
    if (is(s, "dist", "comm") && cfg->device == DK_DEVICE_CPU)
        return "it chooses the GPUs' all-reduce, and [dist] device = cpu (CPU runs always use MPI)";
    if (is(s, "pde", NULL) && cfg->task == DK_TASK_PDE) {
        const dk_pde_problem *pb = dk_pde_problem_find(cfg->pde_problem);
        if (!pb)
            return NULL;
        const bool parameter = is(s, "pde", "dim") || is(s, "pde", "a1") || is(s, "pde", "a2") ||
                               is(s, "pde", "wavenumber") || is(s, "pde", "diffusivity");
        if (parameter && !problem_reads(pb, s->key)) {
            snprintf(buf, n, "[pde] problem = %s does not read it (its parameters: %s)", pb->name,
                     pb->params[0] ? pb->params : "none");
            return buf;
        }
        dk_pde_params pp = dk_config_pde_params(cfg);
        char why[256];
        const int inputs = pb->inputs(&pp, why, sizeof why);
        if (is(s, "pde", "eval_grid") && inputs > 3)
            return "the evaluation uses a tensor grid only for problems with up to 3 inputs (else eval_points)";
        if (is(s, "pde", "eval_points") && inputs >= 0 && inputs <= 3)
            return "problems with up to 3 inputs are evaluated on a tensor grid (eval_grid)";
    }
    return NULL;
}

void dk_config_note_unread(const dk_config_load_state *st, char *notes, size_t cap)
{
    const dk_config *cfg = st->cfg;
    const bool task_given = st->from[dk_config_find_key("task", "type")] != 0;
    size_t used = 0;
    notes[0] = '\0';
    /* A file that sets nothing (empty, or comments and section headers only) is more often
     * the wrong file or a truncated copy than a wish for every default. */
    bool any_set = false;
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++)
        any_set |= st->from[i] != 0;
    if (!any_set)
        used += (size_t)snprintf(notes, cap, "sets no key (and no --set was given): every setting is its default, "
                                             "so the run fits the built-in function %s\n",
                                 cfg->function);
    /* One line per reason, listing its keys: "[lbfgs] history (line 12), c1 (--set) set but
     * not used: ...". Where a key was set, briefly: the file's path, which may be long, is
     * printed once per line (dk_config_print_unread). */
    bool said[DK_CONFIG_N_KEYS] = {false};
    char why[DK_CONFIG_N_KEYS][320];
    const char *reason[DK_CONFIG_N_KEYS];
    for (int i = 0; i < DK_CONFIG_N_KEYS; i++) {
        const bool chosen = st->from[i] < 0 || (st->from[i] > 0 && !st->written);
        reason[i] = chosen ? why_unread(cfg, &dk_config_keys[i], task_given, why[i], sizeof why[i]) : NULL;
    }
    for (int i = 0; i < DK_CONFIG_N_KEYS && used < cap; i++) {
        if (!reason[i] || said[i])
            continue;
        const char *section = NULL;
        for (int j = i; j < DK_CONFIG_N_KEYS && used < cap; j++) {
            if (!reason[j] || said[j] || strcmp(reason[j], reason[i]) != 0)
                continue;
            said[j] = true;
            char origin[32] = "--set";
            if (st->from[j] > 0)
                snprintf(origin, sizeof origin, "line %d", st->from[j]);
            const bool same_section = section && !strcmp(section, dk_config_keys[j].section);
            section = dk_config_keys[j].section;
            used += (size_t)snprintf(notes + used, cap - used, "%s%s%s%s%s (%s)", j == i ? "" : ", ",
                                     same_section ? "" : "[", same_section ? "" : section, same_section ? "" : "] ",
                                     dk_config_keys[j].key, origin);
        }
        if (used < cap)
            used += (size_t)snprintf(notes + used, cap - used, " set but not used: %s\n", reason[i]);
    }
}

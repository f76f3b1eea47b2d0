#include "dk_model_file.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../checkpoint/dk_ckpt_dir.h"
#include "../checkpoint/dk_ckpt_file.h"
#include "../common/dk_fs.h"
#include "../kernels/dk_bspline.h"
#include "dk_config.h"
#include "dk_run_formats.h"
#include "dk_run_history.h"

void dk_state_tensor_set(dk_state_tensor *t, const char *name, dk_dtype dtype, void *data, int n_dims,
                         unsigned long long d0, unsigned long long d1, unsigned long long d2)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    const unsigned long long dims[3] = {d0, d1, d2};
    t->count = 1;
    for (int i = 0; i < n_dims; i++) {
        t->shape[i] = dims[i];
        t->count *= (size_t)dims[i];
    }
    t->data = data;
}

int dk_model_tensors(const dk_network *net, dk_state_tensor *t)
{
    const dk_dtype dt = net->dtype;
    const size_t es = dk_dtype_size(dt);
    char *params = net->params, *state = net->state;
    char name[48];
    int n = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const unsigned long long in = (unsigned long long)v->shape.in, out = (unsigned long long)v->shape.out;
        snprintf(name, sizeof name, "layers.%d.coef", l);
        dk_state_tensor_set(&t[n++], name, dt, params + v->coef * es, 3, in, out, (unsigned long long)v->shape.n_basis);
        snprintf(name, sizeof name, "layers.%d.scale_base", l);
        dk_state_tensor_set(&t[n++], name, dt, params + v->scale_base * es, 2, in, out, 0);
        snprintf(name, sizeof name, "layers.%d.scale_sp", l);
        dk_state_tensor_set(&t[n++], name, dt, params + v->scale_sp * es, 2, in, out, 0);
        snprintf(name, sizeof name, "layers.%d.knots", l);
        dk_state_tensor_set(&t[n++], name, dt, state + v->grid * es, 2, in, (unsigned long long)v->shape.n_knots, 0);
        snprintf(name, sizeof name, "layers.%d.mask", l);
        dk_state_tensor_set(&t[n++], name, dt, state + v->mask * es, 2, in, out, 0);
    }
    return n;
}

void dk_model_manifest_fill(dk_model_manifest *p, const dk_network *net)
{
    dk__model__init(&p->model);
    for (int l = 0; l <= net->n_layers; l++)
        p->widths[l] = net->widths[l];
    p->model.n_widths = (size_t)net->n_layers + 1;
    p->model.widths = p->widths;
    p->model.k = net->k;
    p->model.grid = net->G;
    p->model.dtype = dk_ckpt_dtype_to_proto(net->dtype);
    p->model.n_params = net->n_params;
    p->model.n_state = net->n_state;
    for (int l = 0; l < net->n_layers; l++) {
        Dk__Layer *ly = &p->layers[l];
        dk__layer__init(ly);
        ly->in = net->layers[l].shape.in;
        ly->out = net->layers[l].shape.out;
        ly->n_basis = net->layers[l].shape.n_basis;
        ly->n_knots = net->layers[l].shape.n_knots;
        p->layer_ptrs[l] = ly;
    }
    p->model.n_layers = (size_t)net->n_layers;
    p->model.layers = p->layer_ptrs;
}

/* ---------------------------------------------------------------------------------------
 * Loading
 * ------------------------------------------------------------------------------------- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The run directory's config.ini, as this version reads it (NULL: none, or not readable as
 * one); when the file is there, when it was written in *written (else 0). One copy, static:
 * it is large, and the tools that load models are single-threaded. */
static const dk_config *run_config(const char *run_dir, struct timespec *written)
{
    static dk_config cfg;
    char ini[DK_CKPT_PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(ini, sizeof ini, "%s/config.ini", run_dir) >= sizeof ini || stat(ini, &st) != 0 ||
        access(ini, R_OK) != 0)
        return NULL;
    *written = st.st_mtim;
    if (dk_config_load(&cfg, ini, NULL, 0) != DK_OK) {
        dk_error_clear();
        return NULL;
    }
    return &cfg;
}

/* The run directory's config.ini (run_config), or NULL, and in noted[cap] the checkpoint
 * directory its note names where the note is at least as new (true returned): a run that
 * has not ended (stopped, or still going) has no config.ini yet, or an earlier run's, and
 * the note its start left says where its checkpoints go. To the nanosecond, and a tie to
 * the note: a run that starts within the second in which the one before it ended must not
 * be sent to the earlier run's checkpoints (both files of one run name the same place). */
static bool note_decides(const char *run_dir, const dk_config **cfg, char *noted, size_t cap)
{
    struct timespec ini_written = {0, 0}, note_written = {0, 0};
    *cfg = run_config(run_dir, &ini_written);
    return dk_run_noted_checkpoint_dir(run_dir, noted, cap, &note_written) &&
           (note_written.tv_sec > ini_written.tv_sec ||
            (note_written.tv_sec == ini_written.tv_sec && note_written.tv_nsec >= ini_written.tv_nsec));
}

/* The config writes no checkpoint: final = false, no every, no every_seconds. */
static bool saves_no_checkpoint(const dk_config *cfg)
{
    return !cfg->ckpt_final && cfg->ckpt_every == 0 && cfg->ckpt_every_seconds == 0.0;
}

/* The last path component of `path`, trailing slashes left out: *len characters from the
 * returned pointer. */
static const char *last_component(const char *path, size_t *len)
{
    size_t end = strlen(path);
    while (end > 1 && path[end - 1] == '/')
        end--;
    size_t start = end;
    while (start > 0 && path[start - 1] != '/')
        start--;
    *len = end - start;
    return path + start;
}

/* The directory a finished run's relative [checkpoint] dir named, when it does not resolve
 * from here: the absolute path the run's start noted (DK_RUN_CHECKPOINT_NOTE), if that is
 * a directory of the same name (the note of the run that wrote config.ini: a later start
 * would have replaced it and made it decide); else NULL. */
static const char *noted_in_place_of(const char *relative, const char *noted)
{
    size_t a, b;
    const char *want = last_component(relative, &a), *have = last_component(noted, &b);
    return noted[0] == '/' && a == b && !memcmp(want, have, a) && is_dir(noted) ? noted : NULL;
}

/* A relative [checkpoint] dir was taken from where the run started. It is tried through the
 * run's note (noted_in_place_of), then from here. */
dk_err dk_model_run_checkpoint_dir(const char *run_dir, char *dir, size_t capacity)
{
    if ((size_t)snprintf(dir, capacity, "%s/checkpoints", run_dir) >= capacity)
        DK_ERROR(DK_ERR_USAGE, "%s: the path is too long", run_dir);
    const dk_config *cfg; /* unreadable: the default place */
    char noted[DK_CKPT_PATH_MAX] = "";
    const char *found;
    if (note_decides(run_dir, &cfg, noted, sizeof noted)) {
        if (!is_dir(noted))
            DK_ERROR(DK_ERR_IO, "%s: its %s names %s, which is not a directory (moved?): give the checkpoint directory "
                     "itself", run_dir, DK_RUN_CHECKPOINT_NOTE, noted);
        found = noted;
    } else {
        if (!cfg || !cfg->ckpt_dir[0])
            return DK_OK;
        /* A relative dir through the note first: a directory of that name here may be
         * another run's (a run started elsewhere with the same [checkpoint] dir). */
        const char *through_note = cfg->ckpt_dir[0] != '/' ? noted_in_place_of(cfg->ckpt_dir, noted) : NULL;
        const bool here = is_dir(cfg->ckpt_dir);
        /* The same directory keeps the spelling the run was given, in messages too. */
        found = through_note && !(here && dk_same_file(through_note, cfg->ckpt_dir)) ? through_note
                : here                                                              ? cfg->ckpt_dir
                                                                                    : NULL;
        if (!found)
            DK_ERROR(DK_ERR_IO,
                     "%s: its config.ini sets [checkpoint] dir = %s, which is not a directory%s: give the checkpoint "
                     "directory itself",
                     run_dir, cfg->ckpt_dir,
                     cfg->ckpt_dir[0] == '/' ? "" : " from here (a relative dir is taken from where the run started)");
    }
    if ((size_t)snprintf(dir, capacity, "%s", found) >= capacity)
        DK_ERROR(DK_ERR_USAGE, "%s: the path is too long", found);
    return DK_OK;
}

/* Whether the last run in run_dir has ended (its config.ini is newer than the note of any
 * later start) with a config that saves no checkpoint: final = false, no every, no
 * every_seconds. Checkpoints in its directory are then another run's, whatever they are. */
static bool ended_without_checkpoints(const char *run_dir)
{
    const dk_config *cfg;
    char noted[DK_CKPT_PATH_MAX];
    return !note_decides(run_dir, &cfg, noted, sizeof noted) && cfg && saves_no_checkpoint(cfg);
}

dk_err dk_model_run_without_checkpoints(const char *run_dir, const char *dir)
{
    struct timespec written;
    const dk_config *cfg = run_config(run_dir, &written);
    if (cfg && saves_no_checkpoint(cfg))
        DK_ERROR(DK_ERR_IO,
                 "the run in %s wrote no checkpoint: its config.ini sets [checkpoint] final = false, and neither every "
                 "nor every_seconds; its final_params.bin and final_state.bin hold the model, but predict, functions "
                 "and --resume read checkpoints: train with final = true",
                 run_dir);
    DK_ERROR(DK_ERR_IO,
             "no checkpoint (ckpt-<step>.dkc) in %s, the checkpoint directory of the run in %s (it has saved none yet, "
             "or they were moved or deleted)",
             dir, run_dir);
}

/* The step a run directory's summary.json says the run ended at, or -1 (no summary: the
 * run has not ended, or it is no run directory). */
static long summary_final_step(const char *run_dir)
{
    char path[DK_CKPT_PATH_MAX], text[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/summary.json", run_dir) >= sizeof path)
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    const size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return dk_summary_steps_read(text);
}

/* A checkpoint file, a checkpoint directory or a run directory, opened and verified. */
static dk_err open_model(const char *path, FILE *warnings, dk_ckpt_reader **reader)
{
    struct stat st;
    if (stat(path, &st) != 0)
        DK_ERROR(DK_ERR_IO, "%s: %s (expected a checkpoint file, a checkpoint directory or a run directory)", path,
                 strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        DK_CALL(dk_ckpt_open_verified(path, reader));
        return DK_OK;
    }
    dk_ckpt_entry *entries = NULL;
    int n = 0;
    DK_CALL(dk_ckpt_list(path, &entries, &n));
    free(entries);
    if (n > 0) {
        DK_CALL(dk_ckpt_open_latest(path, reader, warnings));
        return DK_OK;
    }
    char dir[DK_CKPT_PATH_MAX];
    DK_CALL(dk_model_run_checkpoint_dir(path, dir, sizeof dir));
    if (!is_dir(dir))
        DK_ERROR(DK_ERR_IO,
                 "%s holds no checkpoint (ckpt-<step>.dkc) and no checkpoints/ directory: expected a checkpoint file, "
                 "a checkpoint directory or a run directory (for a run with its own [checkpoint] dir, give that "
                 "directory)",
                 path);
    DK_CALL(dk_ckpt_list(dir, &entries, &n));
    free(entries);
    if (ended_without_checkpoints(path)) /* those there are another run's */
        return dk_model_run_without_checkpoints(path, dir);
    dk_run_ckpt_found found;
    int n_other = 0;
    char other[DK_CKPT_PATH_MAX];
    const dk_err err = dk_run_open_checkpoint(path, dir, warnings, reader, &found, &n_other, other, sizeof other);
    if (err != DK_OK && n == 0) { /* none there, and none of the run's set aside: say why */
        dk_error_clear();
        return dk_model_run_without_checkpoints(path, dir);
    }
    DK_CALL(err);
    if (warnings && found == DK_RUN_CKPT_SET_ASIDE)
        fprintf(warnings,
                "distkan: note: the checkpoints in %s are another run's (a run sharing that checkpoint directory); the "
                "newest of the run in %s is %s, where that run set it aside\n",
                dir, path, dk_ckpt_label(*reader));
    else if (warnings && found == DK_RUN_CKPT_NO_LOG)
        fprintf(warnings,
                "distkan: warning: %s has no training log (metrics.jsonl), so nothing shows which checkpoint in %s is "
                "its run's: using the newest there, %s\n",
                path, dir, dk_ckpt_label(*reader));
    else if (warnings && found == DK_RUN_CKPT_UNMATCHED)
        fprintf(warnings,
                "distkan: warning: no checkpoint in %s continues the training log of the run in %s (another run's "
                "checkpoints, or the log was edited or replaced): using the newest there, %s\n",
                dir, path, dk_ckpt_label(*reader));
    else if (warnings && n_other > 0)
        fprintf(warnings,
                "distkan: note: skipping %d newer checkpoint%s in %s (the newest %s): another run's, which shares that "
                "checkpoint directory\n",
                n_other, n_other == 1 ? "" : "s", dir, other);
    /* A run that wrote no checkpoint at its end ([checkpoint] final = false) leaves an
     * older model in its checkpoints than in its final_params.bin: say which one this is. */
    const long final_step = summary_final_step(path);
    const Dk__Manifest *m = dk_ckpt_manifest(*reader);
    if (warnings && m->schedule && final_step > m->schedule->step)
        fprintf(warnings,
                "distkan: warning: the run in %s ended at step %ld (its summary.json), but the newest checkpoint in %s "
                "is step %lld: that step's model is used (the run's last checkpoints are gone or damaged, or it wrote "
                "none at its end: [checkpoint] final = false)\n",
                path, final_step, dir, (long long)m->schedule->step);
    return DK_OK;
}

/* The manifest's model must describe a network distkan can build, and each layer tensor
 * must have the size that network gives it, checked against the tensor table before
 * anything is allocated: a manifest that claims a huge G cannot ask for gigabytes. */
dk_err dk_model_check_layers(const Dk__Model *m, const char *label)
{
    if (!m)
        DK_ERROR(DK_ERR_DATA, "%s: the manifest holds no model", label);
    if (m->n_widths < 2 || m->n_widths > DK_NETWORK_MAX_LAYERS + 1 || m->n_layers != m->n_widths - 1)
        DK_ERROR(DK_ERR_DATA, "%s: the model has %zu widths and %zu layers (expected 2 to %d widths, one layer fewer)",
                 label, m->n_widths, m->n_layers, DK_NETWORK_MAX_LAYERS + 1);
    const size_t es = dk_ckpt_proto_dtype_size(m->dtype);
    if (es == 0)
        DK_ERROR(DK_ERR_DATA, "%s: the model's precision is not float32 or float64", label);
    if (m->k < 1 || m->k > DK_MAX_DEGREE || m->grid < 1 || m->grid > DK_MAX_GRID)
        DK_ERROR(DK_ERR_DATA, "%s: the model has G = %d, k = %d (expected 1 <= G <= %d, 1 <= k <= %d)", label, m->grid,
                 m->k, DK_MAX_GRID, DK_MAX_DEGREE);
    for (size_t l = 0; l < m->n_layers; l++) {
        const Dk__Layer *ly = m->layers[l];
        if (!ly || ly->in != m->widths[l] || ly->out != m->widths[l + 1] || ly->in < 1 || ly->out < 1 ||
            ly->n_basis != m->grid + m->k || ly->n_knots != m->grid + 2 * m->k + 1)
            DK_ERROR(DK_ERR_DATA, "%s: layer %zu's shape disagrees with the model's widths, G and k", label, l);
    }
    if (m->n_input_names != 0 && m->n_input_names != (size_t)m->widths[0])
        DK_ERROR(DK_ERR_DATA, "%s: the model names %zu inputs but has %d (%s)", label, m->n_input_names, m->widths[0],
                 DK_FOREIGN_VALUE_HINT);
    return DK_OK;
}

static dk_err check_model(const dk_ckpt_reader *rd, const char *label, const Dk__Model *m)
{
    DK_CALL(dk_model_check_layers(m, label));
    const size_t es = dk_ckpt_proto_dtype_size(m->dtype);
    for (size_t l = 0; l < m->n_layers; l++) {
        const Dk__Layer *ly = m->layers[l];
        const uint64_t edges = (uint64_t)ly->in * (uint64_t)ly->out;
        const struct {
            const char *what;
            uint64_t count;
        } expect[DK_MODEL_TENSORS_PER_LAYER] = {
            {"coef", edges * (uint64_t)ly->n_basis}, {"scale_base", edges}, {"scale_sp", edges},
            {"knots", (uint64_t)ly->in * (uint64_t)ly->n_knots}, {"mask", edges}};
        for (int e = 0; e < DK_MODEL_TENSORS_PER_LAYER; e++) {
            char name[48];
            snprintf(name, sizeof name, "layers.%zu.%s", l, expect[e].what);
            const Dk__Tensor *t = dk_ckpt_find(rd, name);
            if (!t)
                DK_ERROR(DK_ERR_DATA, "%s: tensor %s is missing", label, name);
            if (t->dtype != m->dtype || t->nbytes != expect[e].count * es)
                DK_ERROR(DK_ERR_DATA, "%s: tensor %s holds %llu bytes of %s, the model needs %llu of %s", label, name,
                         (unsigned long long)t->nbytes, dk_ckpt_proto_dtype_name(t->dtype),
                         (unsigned long long)(expect[e].count * es), dk_ckpt_proto_dtype_name(m->dtype));
        }
    }
    return DK_OK;
}

/* The tensor and element of parameter e (a flat index into net->params), for messages. */
static void name_parameter(const dk_network *net, size_t e, char *buf, size_t n)
{
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const size_t edges = (size_t)v->shape.in * (size_t)v->shape.out;
        const struct {
            const char *what;
            size_t at, count;
        } blocks[3] = {{"coef", v->coef, edges * (size_t)v->shape.n_basis},
                       {"scale_base", v->scale_base, edges},
                       {"scale_sp", v->scale_sp, edges}};
        for (int b = 0; b < 3; b++)
            if (e >= blocks[b].at && e < blocks[b].at + blocks[b].count) {
                snprintf(buf, n, "tensor layers.%d.%s, element %zu,", l, blocks[b].what, e - blocks[b].at);
                return;
            }
    }
    snprintf(buf, n, "parameter %zu", e);
}

dk_err dk_model_check_values(const dk_network *net, const char *label)
{
    const long bad = dk_first_not_finite(net->dtype, net->params, net->n_params);
    if (bad >= 0) {
        char where[96];
        name_parameter(net, (size_t)bad, where, sizeof where);
        DK_ERROR(DK_ERR_DATA, "%s: %s is %g: %s", label, where, dk_load(net->dtype, net->params, (size_t)bad),
                 DK_FOREIGN_VALUE_HINT);
    }
    const double largest = net->dtype == DK_F32 ? FLT_MAX : DBL_MAX;
    const double limit = dk_bspline_min_spacing(net->k, largest), max_limit = dk_bspline_max_spacing(net->k, largest);
    for (int l = 0; l < net->n_layers; l++) {
        const dk_layer_view *v = &net->layers[l];
        const int nk = v->shape.n_knots;
        for (int i = 0; i < v->shape.in; i++)
            for (int m = 0; m < nk; m++) {
                const size_t at = v->grid + (size_t)i * nk + (size_t)m;
                const double t = dk_load(net->dtype, net->state, at);
                if (!isfinite(t))
                    DK_ERROR(DK_ERR_DATA, "%s: tensor layers.%d.knots, input %d: knot %d is %g: %s", label, l, i, m, t,
                             DK_FOREIGN_VALUE_HINT);
                const double before = m > 0 ? dk_load(net->dtype, net->state, at - 1) : -INFINITY;
                if (!(t > before))
                    DK_ERROR(DK_ERR_DATA, "%s: tensor layers.%d.knots, input %d: knot %d (%.17g) is not above knot %d "
                             "(%.17g): %s", label, l, i, m, t, m - 1, before, DK_FOREIGN_VALUE_HINT);
                if (m > 0 && t - before < limit)
                    DK_ERROR(DK_ERR_DATA, "%s: tensor layers.%d.knots, input %d: knot %d is only %.3g above knot %d, "
                             "below the %.3g that k = %d allows (the basis's derivatives would overflow): %s", label, l,
                             i, m, t - before, m - 1, limit, net->k, DK_FOREIGN_VALUE_HINT);
                if (m > 0 && t - before > max_limit)
                    /* No "not written by distkan": versions before this limit wrote such grids. */
                    DK_ERROR(DK_ERR_DATA, "%s: tensor layers.%d.knots, input %d: knot %d is %.3g above knot %d, above "
                             "the %.3g that k = %d allows (the powers of the spacing in the basis's pieces overflow "
                             "or lose their precision): this grid cannot be evaluated reliably; retrain with the "
                             "inputs scaled", label, l, i, m, t - before, m - 1, max_limit, net->k);
            }
        const size_t edges = (size_t)v->shape.in * (size_t)v->shape.out;
        for (size_t e = 0; e < edges; e++) {
            const double mask = dk_load(net->dtype, net->state, v->mask + e);
            if (mask != 0.0 && mask != 1.0)
                DK_ERROR(DK_ERR_DATA, "%s: tensor layers.%d.mask, element %zu, is %g (a mask is 0 or 1): %s", label, l,
                         e, mask, DK_FOREIGN_VALUE_HINT);
        }
    }
    return DK_OK;
}

dk_err dk_model_read(dk_ckpt_reader *rd, int max_batch, int n_threads, int jet, dk_network **net)
{
    *net = NULL;
    const char *label = dk_ckpt_label(rd);
    const Dk__Model *m = dk_ckpt_manifest(rd)->model;
    DK_CALL(check_model(rd, label, m));
    int widths[DK_NETWORK_MAX_LAYERS + 1];
    for (size_t l = 0; l < m->n_widths; l++)
        widths[l] = m->widths[l];
    /* No initialisation: every parameter, knot and mask is loaded below. */
    const dk_network_settings s = {.widths = widths, .n_widths = (int)m->n_widths, .G = m->grid, .k = m->k,
                                   .grid_lo = -1.0, .grid_hi = 1.0, .dtype = m->dtype == DK__DTYPE__F64 ? DK_F64 : DK_F32,
                                   .max_batch = max_batch, .n_threads = n_threads, .jet = jet, .no_init = true};
    DK_CALL(dk_network_create(net, &s));
    dk_state_tensor tensors[DK_MODEL_TENSORS_PER_LAYER * DK_NETWORK_MAX_LAYERS];
    const int n = dk_model_tensors(*net, tensors);
    dk_err err = DK_OK;
    for (int i = 0; i < n && err == DK_OK; i++)
        err = dk_ckpt_read_tensor(rd, tensors[i].name, tensors[i].dtype, tensors[i].count, tensors[i].data);
    if (err == DK_OK)
        err = dk_model_check_values(*net, label);
    if (err != DK_OK) {
        dk_network_destroy(net);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    return DK_OK;
}

void dk_trained_model_free(dk_trained_model *m)
{
    if (m->input_names) /* set only with a network, one per input */
        for (int a = 0; a < m->net->widths[0]; a++)
            free(m->input_names[a]);
    free(m->input_names);
    free(m->source);
    dk_network_destroy(&m->net);
    *m = (dk_trained_model){0};
}

/* The checkpoint's own copies of the names go with its reader: the model keeps its own. */
static dk_err copy_input_names(const Dk__Model *m, dk_trained_model *out)
{
    if (m->n_input_names == 0) /* dk_model_read has checked it is 0 or one per input */
        return DK_OK;
    DK_CALL(DK_CALLOC(out->input_names, m->n_input_names, "the model's input names"));
    for (size_t a = 0; a < m->n_input_names; a++)
        if (!(out->input_names[a] = strdup(m->input_names[a])))
            DK_ERROR(DK_ERR_MEMORY, "out of memory copying the model's input names");
    return DK_OK;
}

dk_err dk_model_load(const char *path, int max_batch, int n_threads, int jet, FILE *warnings, dk_trained_model *out)
{
    *out = (dk_trained_model){0};
    dk_ckpt_reader *rd = NULL;
    DK_CALL(open_model(path, warnings, &rd));
    dk_err err = dk_model_read(rd, max_batch, n_threads, jet, &out->net);
    if (err == DK_OK && !(out->source = strdup(dk_ckpt_label(rd))))
        err = dk_error_set(DK_ERR_MEMORY, __FILE__, __LINE__, "out of memory copying a path");
    if (err == DK_OK)
        err = copy_input_names(dk_ckpt_manifest(rd)->model, out);
    dk_ckpt_close(&rd);
    if (err != DK_OK) {
        dk_trained_model_free(out);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    return DK_OK;
}

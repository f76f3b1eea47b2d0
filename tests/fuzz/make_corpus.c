/* Writes the seed corpus of fuzz_ckpt_reader: small valid checkpoints made by
 * dk_ckpt_write, each reaching a different part of the reader. Deterministic (no clock,
 * no host name), so regenerating changes nothing unless the format does.
 *
 *   scripts/fuzz.sh --make-corpus     (writes tests/fuzz/corpus/)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "checkpoint/dk_ckpt_file.h"

/* Values of tensor `seed`, as a training run's would be: smooth, signed, not round. */
static void *values(dk_dtype dtype, size_t count, int seed)
{
    void *p = calloc(count ? count : 1, dk_dtype_size(dtype));
    if (!p) {
        fprintf(stderr, "make_corpus: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < count; i++)
        dk_store(dtype, p, i, (double)seed + 0.01 * (double)i - 0.5 / (double)(i + 2));
    return p;
}

static void write_or_die(const char *dir, const char *name, Dk__Manifest *m, dk_ckpt_tensor_source *t, int n,
                         size_t chunk_bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (dk_ckpt_write(path, m, t, n, chunk_bytes) != DK_OK) {
        fprintf(stderr, "make_corpus: %s\n", dk_error_message());
        exit(1);
    }
    for (int i = 0; i < n; i++)
        free((void *)t[i].data);
    printf("make_corpus: wrote %s\n", path);
}

/* The manifest of a small two-layer run in the middle of its second grid stage. */
static void full_manifest(Dk__Manifest *m)
{
    static Dk__Metadata metadata = DK__METADATA__INIT;
    metadata.distkan_version = "0.1.0";
    metadata.world_size = 2;
    metadata.created_unix_s = 1700000000;
    metadata.hostname = "corpus";
    metadata.wall_s = 12.5;
    metadata.config_path = "examples/fit.ini";
    metadata.reason = "every";
    static int32_t widths[] = {2, 3, 1};
    static Dk__Layer layers[2] = {DK__LAYER__INIT, DK__LAYER__INIT};
    static Dk__Layer *layer_list[2];
    for (int l = 0; l < 2; l++) {
        layers[l].in = widths[l];
        layers[l].out = widths[l + 1];
        layers[l].n_basis = 8;
        layers[l].n_knots = 12;
        layer_list[l] = &layers[l];
    }
    static Dk__Model model = DK__MODEL__INIT;
    model.n_widths = 3;
    model.widths = widths;
    model.k = 3;
    model.grid = 5;
    model.dtype = DK__DTYPE__F32;
    model.n_params = 84;
    model.n_state = 108;
    model.n_layers = 2;
    model.layers = layer_list;
    static Dk__Eval stage_eval = DK__EVAL__INIT;
    stage_eval.test_rmse = 0.03;
    stage_eval.rel_l2 = 0.02;
    stage_eval.max_err = 0.1;
    stage_eval.mse = 9e-4;
    static Dk__Stage stages[2] = {DK__STAGE__INIT, DK__STAGE__INIT};
    static Dk__Stage *stage_list[2] = {&stages[0], &stages[1]};
    stages[0].grid = 3, stages[0].planned = 100, stages[0].done = 100, stages[0].loss = 0.01;
    stages[0].eval = &stage_eval;
    stages[1].grid = 5, stages[1].first_step = 100, stages[1].planned = 100;
    stages[1].loss_before = 0.01, stages[1].loss_after = 0.012, stages[1].refine_change = 1e-6;
    static Dk__Schedule schedule = DK__SCHEDULE__INIT;
    schedule.step = 150;
    schedule.adam_steps = 160;
    schedule.lbfgs_steps = 40;
    schedule.adam_done = 130;
    schedule.stage = 1;
    schedule.n_stages = 2;
    schedule.stages = stage_list;
    schedule.grid_updates = 2;
    schedule.lr = 1e-3;
    schedule.last_logged = 150;
    static Dk__Adam adam = DK__ADAM__INIT;
    adam.step = 130;
    static Dk__Lbfgs lbfgs = DK__LBFGS__INIT;
    lbfgs.history = 4, lbfgs.head = 2, lbfgs.count = 2, lbfgs.steps = 20, lbfgs.evals = 23;
    lbfgs.f = 0.0095;
    lbfgs.stop = "max_steps";
    static Dk__DataPosition data = DK__DATA_POSITION__INIT;
    data.seed = 42, data.fit_batch = 130, data.pde_epoch = -1;
    static Dk__Loss loss = DK__LOSS__INIT;
    loss.total = 0.0095;
    static Dk__Eval eval = DK__EVAL__INIT;
    eval.test_rmse = 0.028;
    dk__manifest__init(m);
    m->metadata = &metadata;
    m->config_ini = "[model]\nwidths = 2,3,1\ngrid = 3\nk = 3\n\n[train]\noptimizer = adam+lbfgs\n";
    m->model = &model;
    m->schedule = &schedule;
    m->adam = &adam;
    m->lbfgs = &lbfgs;
    m->data = &data;
    m->loss = &loss;
    m->eval = &eval;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus <directory>\n");
        return 2;
    }
    const char *dir = argv[1];

    /* One small tensor, a nearly empty manifest. */
    Dk__Manifest m = DK__MANIFEST__INIT;
    Dk__Schedule schedule = DK__SCHEDULE__INIT;
    schedule.step = 1;
    m.schedule = &schedule;
    dk_ckpt_tensor_source tiny[] = {{"x", DK_F64, 1, {3}, values(DK_F64, 3, 1)}};
    write_or_die(dir, "tiny.dkc", &m, tiny, 1, 0);

    /* No tensors: an empty data region. */
    write_or_die(dir, "no_tensors.dkc", &m, NULL, 0, 0);

    /* Every manifest message, and the tensors of a two-layer float32 run with Adam and
     * L-BFGS state (an empty and a scalar tensor among them). */
    full_manifest(&m);
    dk_ckpt_tensor_source full[] = {
        {"layers.0.coef", DK_F32, 3, {2, 3, 8}, values(DK_F32, 48, 1)},
        {"layers.0.scale_base", DK_F32, 2, {2, 3}, values(DK_F32, 6, 2)},
        {"layers.0.scale_sp", DK_F32, 2, {2, 3}, values(DK_F32, 6, 3)},
        {"layers.0.knots", DK_F32, 2, {2, 12}, values(DK_F32, 24, 4)},
        {"layers.1.coef", DK_F32, 3, {3, 1, 8}, values(DK_F32, 24, 5)},
        {"adam.m", DK_F32, 1, {84}, values(DK_F32, 84, 6)},
        {"lbfgs.rho", DK_F64, 1, {4}, values(DK_F64, 4, 7)},
        {"lbfgs.s", DK_F64, 2, {0, 84}, values(DK_F64, 0, 8)},
        {"lbfgs.f", DK_F64, 0, {0}, values(DK_F64, 1, 9)},
    };
    write_or_die(dir, "full.dkc", &m, full, (int)(sizeof full / sizeof full[0]), 0);

    /* Many short chunks (16 bytes; tensor sizes that leave short last chunks). */
    dk__manifest__init(&m);
    m.schedule = &schedule;
    dk_ckpt_tensor_source chunked[] = {
        {"a", DK_F32, 1, {7}, values(DK_F32, 7, 1)},
        {"b", DK_F64, 2, {3, 3}, values(DK_F64, 9, 2)},
        {"c", DK_F32, 4, {1, 1, 1, 3}, values(DK_F32, 3, 3)},
        {"d", DK_F64, 1, {2}, values(DK_F64, 2, 4)},
    };
    write_or_die(dir, "chunks.dkc", &m, chunked, (int)(sizeof chunked / sizeof chunked[0]), 16);
    return 0;
}

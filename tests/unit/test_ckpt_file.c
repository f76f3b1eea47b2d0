/* The checkpoint file of checkpoint/dk_ckpt_file.h: what is written comes back field for
 * field and byte for byte, the bytes on disk follow the documented layout (checked by
 * reading them here, not through the reader), and no damage to a file is ever accepted:
 * every truncation and every byte flip of a small checkpoint is rejected with a message
 * that names the damaged part. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt_test_util.h"

#include "checkpoint/dk_ckpt_file.h"

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int same_double_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* --- a manifest with every field set ------------------------------------------------------ */

typedef struct full_manifest {
    Dk__Manifest m;
    Dk__Metadata metadata;
    Dk__Model model;
    int32_t widths[3];
    Dk__Layer layers[2];
    Dk__Layer *layer_list[2];
    Dk__Schedule schedule;
    Dk__Stage stages[2];
    Dk__Stage *stage_list[2];
    Dk__Eval stage_eval;
    Dk__Adam adam;
    Dk__Lbfgs lbfgs;
    Dk__DataPosition data;
    Dk__Loss loss;
    Dk__LossHistory history;
    Dk__Eval eval;
} full_manifest;

static void full_manifest_init(full_manifest *f)
{
    dk__manifest__init(&f->m);
    dk__metadata__init(&f->metadata);
    f->metadata.distkan_version = "0.1.0-test";
    f->metadata.world_size = 4;
    f->metadata.created_unix_s = 1700000000123;
    f->metadata.hostname = "node-17";
    f->metadata.wall_s = 1234.5678;
    f->metadata.config_path = "examples/fit_\xc3\xa9t\xc3\xa9.ini"; /* UTF-8 */
    f->metadata.reason = "signal";
    f->m.metadata = &f->metadata;
    f->m.config_ini = "[model]\nwidths = 2,5,1\n\n[train]\nlr = 1e-3\n";

    dk__model__init(&f->model);
    f->widths[0] = 2, f->widths[1] = 5, f->widths[2] = 1;
    f->model.n_widths = 3;
    f->model.widths = f->widths;
    f->model.k = 3;
    f->model.grid = 20;
    f->model.dtype = DK__DTYPE__F32;
    f->model.n_params = 5000000000ull; /* beyond 32 bits */
    f->model.n_state = 7;
    for (int l = 0; l < 2; l++) {
        dk__layer__init(&f->layers[l]);
        f->layers[l].in = f->widths[l];
        f->layers[l].out = f->widths[l + 1];
        f->layers[l].n_basis = 23;
        f->layers[l].n_knots = 27 + l;
        f->layer_list[l] = &f->layers[l];
    }
    f->model.n_layers = 2;
    f->model.layers = f->layer_list;
    f->m.model = &f->model;

    dk__schedule__init(&f->schedule);
    f->schedule.step = 1500;
    f->schedule.adam_steps = 1000;
    f->schedule.lbfgs_steps = 600;
    f->schedule.lbfgs_dropped = -3; /* negative int64 */
    f->schedule.adam_done = 1000;
    f->schedule.stage = 1;
    f->schedule.grid_updates = 12;
    f->schedule.lr = 1.0e-3;
    f->schedule.last_logged = 1499;
    dk__eval__init(&f->stage_eval);
    f->stage_eval.test_rmse = 0.25;
    f->stage_eval.rel_l2 = 1e-310; /* subnormal */
    f->stage_eval.max_err = INFINITY;
    f->stage_eval.mse = -0.0;
    for (int s = 0; s < 2; s++) {
        dk__stage__init(&f->stages[s]);
        f->stages[s].grid = 5 << s;
        f->stages[s].first_step = 700 * s;
        f->stages[s].planned = 700;
        f->stages[s].done = s == 0 ? 700 : 0;
        f->stages[s].loss_before = 0.5 / (s + 1);
        f->stages[s].loss_after = 0.25 / (s + 1);
        f->stages[s].refine_change = 1e-7;
        f->stages[s].loss = 0.125;
        f->stages[s].eval = s == 0 ? &f->stage_eval : NULL;
        f->stage_list[s] = &f->stages[s];
    }
    f->schedule.n_stages = 2;
    f->schedule.stages = f->stage_list;
    f->m.schedule = &f->schedule;

    dk__adam__init(&f->adam);
    f->adam.step = 1000;
    f->m.adam = &f->adam;
    dk__lbfgs__init(&f->lbfgs);
    f->lbfgs.history = 10;
    f->lbfgs.head = 3;
    f->lbfgs.count = 10;
    f->lbfgs.steps = 500;
    f->lbfgs.evals = 612;
    f->lbfgs.fresh = 1;
    f->lbfgs.f = -2.5e-9;
    f->lbfgs.stop = "line search failed";
    f->m.lbfgs = &f->lbfgs;
    dk__data_position__init(&f->data);
    f->data.seed = 0x8000000000000005ull; /* top bit set */
    f->data.fit_batch = 1000;
    f->data.pde_epoch = -1;
    f->m.data = &f->data;
    dk__loss__init(&f->loss);
    f->loss.total = 3.5e-4;
    f->loss.interior = 3.0e-4;
    f->loss.boundary = 0.5e-4;
    dk__loss_history__init(&f->history);
    f->history.first = 2.5;
    f->history.first_step = 1;
    f->history.grid_rise = 12.5;
    f->history.grid_rise_step = 7;
    f->history.grid_rise_extension = 1;
    f->loss.history = &f->history;
    f->m.loss = &f->loss;
    dk__eval__init(&f->eval);
    f->eval.test_rmse = 0.01;
    f->eval.rel_l2 = 0.02;
    f->eval.max_err = 0.03;
    f->eval.mse = NAN;
    f->m.eval = &f->eval;
}

/* --- tensors ------------------------------------------------------------------------------- */

enum { MAX_TENSORS = 8 };

typedef struct tensor_set {
    dk_ckpt_tensor_source src[MAX_TENSORS];
    void *data[MAX_TENSORS];
    size_t count[MAX_TENSORS];
    int n;
} tensor_set;

/* Adds a tensor whose values are a function of (seed, index), so that any two tensors and
 * any two positions differ. */
static void add_tensor(tensor_set *s, const char *name, dk_dtype dtype, int n_dims, const uint64_t *shape,
                       int seed)
{
    assert_true(s->n < MAX_TENSORS);
    dk_ckpt_tensor_source *t = &s->src[s->n];
    *t = (dk_ckpt_tensor_source){.name = name, .dtype = dtype, .n_dims = n_dims};
    size_t count = 1;
    for (int d = 0; d < n_dims; d++) {
        t->shape[d] = shape[d];
        count *= (size_t)shape[d];
    }
    void *p = calloc(count ? count : 1, dk_dtype_size(dtype));
    assert_non_null(p);
    for (size_t i = 0; i < count; i++)
        dk_store(dtype, p, i, seed * 1000.0 + (double)i * 0.37 - 1.0 / (double)(i + 3));
    t->data = p;
    s->data[s->n] = p;
    s->count[s->n] = count;
    s->n++;
}

static void tensor_set_free(tensor_set *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->data[i]);
    s->n = 0;
}

static size_t source_bytes(const tensor_set *s, int i) { return s->count[i] * dk_dtype_size(s->src[i].dtype); }

/* Reads every tensor of s back and compares the bytes. */
static void assert_tensors_read_back(dk_ckpt_reader *r, const tensor_set *s)
{
    for (int i = 0; i < s->n; i++) {
        const size_t bytes = source_bytes(s, i);
        unsigned char *got = malloc(bytes ? bytes : 1);
        assert_non_null(got);
        memset(got, 0xA5, bytes);
        assert_dk_ok(dk_ckpt_read_tensor(r, s->src[i].name, s->src[i].dtype, s->count[i], got));
        assert_memory_equal(got, s->src[i].data, bytes ? bytes : 0);
        free(got);
    }
}

/* --- the per-test fixture ------------------------------------------------------------------ */

/* What a test leaves to be cleaned up: a scratch directory with a checkpoint path in it, up
 * to three tensor sets, and a file image (the small checkpoint of the damage tests). The
 * teardown frees and removes them all, also after a failed assertion. */
typedef struct fixture {
    char dir[256], path[300];
    tensor_set sets[3];
    unsigned char *file;
    size_t size;    /* of file */
    uint64_t msize; /* the manifest bytes in file */
} fixture;

static int fixture_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    scratch_dir(fx->dir, "ckpt-file");
    snprintf(fx->path, sizeof fx->path, "%s/ckpt-000000000100.dkc", fx->dir);
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    fixture *fx = *state;
    for (int i = 0; i < 3; i++)
        tensor_set_free(&fx->sets[i]);
    free(fx->file);
    scratch_remove(fx->dir);
    free(fx);
    return 0;
}

/* --- round trip ---------------------------------------------------------------------------- */

static void test_round_trip_keeps_every_manifest_field_and_tensor_byte(void **state)
{
    fixture *fx = *state;
    const char *path = fx->path;
    full_manifest f;
    full_manifest_init(&f);
    tensor_set *s = &fx->sets[0];
    add_tensor(s, "layers.0.coef", DK_F64, 3, (const uint64_t[]){2, 3, 4}, 1);
    add_tensor(s, "layers.0.knots", DK_F32, 2, (const uint64_t[]){2, 7}, 2);
    add_tensor(s, "adam.m", DK_F64, 1, (const uint64_t[]){5}, 3);
    add_tensor(s, "empty", DK_F32, 2, (const uint64_t[]){0, 7}, 4);
    add_tensor(s, "lbfgs.rho", DK_F64, 0, NULL, 5); /* a scalar: no dimensions, 1 element */
    add_tensor(s, "four.dims", DK_F32, 4, (const uint64_t[]){1, 2, 3, 2}, 6);
    assert_dk_ok(dk_ckpt_write(path, &f.m, s->src, s->n, 0));
    assert_int_equal(f.m.format_version, DK_CKPT_FORMAT_VERSION);
    assert_int_equal(f.m.n_tensors, 0);
    assert_null(f.m.tensors);
    assert_true(file_exists(path));

    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, path));
    assert_string_equal(dk_ckpt_label(r), path);
    const Dk__Manifest *m = dk_ckpt_manifest(r);
    assert_int_equal(m->format_version, 1);
    assert_string_equal(m->metadata->distkan_version, "0.1.0-test");
    assert_int_equal(m->metadata->world_size, 4);
    assert_int_equal(m->metadata->created_unix_s, 1700000000123);
    assert_string_equal(m->metadata->hostname, "node-17");
    assert_true(m->metadata->wall_s == 1234.5678);
    assert_string_equal(m->metadata->config_path, "examples/fit_\xc3\xa9t\xc3\xa9.ini");
    assert_string_equal(m->metadata->reason, "signal");
    assert_string_equal(m->config_ini, f.m.config_ini);
    assert_int_equal(m->model->n_widths, 3);
    assert_int_equal(m->model->widths[1], 5);
    assert_int_equal(m->model->dtype, DK__DTYPE__F32);
    assert_true(m->model->n_params == 5000000000ull);
    assert_int_equal(m->model->n_layers, 2);
    assert_int_equal(m->model->layers[1]->n_knots, 28);
    assert_int_equal(m->schedule->lbfgs_dropped, -3);
    assert_int_equal(m->schedule->n_stages, 2);
    assert_int_equal(m->schedule->stages[1]->grid, 10);
    assert_non_null(m->schedule->stages[0]->eval);
    assert_null(m->schedule->stages[1]->eval);
    assert_true(same_double_bits(m->schedule->stages[0]->eval->rel_l2, 1e-310));
    assert_true(isinf(m->schedule->stages[0]->eval->max_err));
    /* proto3 leaves out scalar fields equal to zero, and protobuf-c compares doubles by
     * value: -0.0 is left out and reads back as +0.0. Manifest numbers are for resuming
     * counters and for reading, never for bit-exact state (tensors are raw bytes). */
    assert_true(same_double_bits(m->schedule->stages[0]->eval->mse, 0.0));
    assert_int_equal(m->adam->step, 1000);
    assert_true(m->lbfgs->fresh);
    assert_true(m->lbfgs->f == -2.5e-9);
    assert_string_equal(m->lbfgs->stop, "line search failed");
    assert_true(m->data->seed == 0x8000000000000005ull);
    assert_int_equal(m->data->pde_epoch, -1);
    assert_true(m->loss->boundary == 0.5e-4);
    assert_non_null(m->loss->history);
    assert_true(m->loss->history->first == 2.5 && m->loss->history->first_step == 1);
    assert_true(m->loss->history->grid_rise == 12.5 && m->loss->history->grid_rise_step == 7);
    assert_true(m->loss->history->grid_rise_extension);
    assert_true(isnan(m->eval->mse));

    /* Everything else too: the manifest read back, less its tensor table, packs to the
     * very bytes of the one given. */
    Dk__Manifest without = *m;
    without.n_tensors = 0;
    without.tensors = NULL;
    const size_t n_given = protobuf_c_message_get_packed_size(&f.m.base);
    assert_int_equal(protobuf_c_message_get_packed_size(&without.base), n_given);
    unsigned char *given = malloc(n_given), *back = malloc(n_given);
    protobuf_c_message_pack(&f.m.base, given);
    protobuf_c_message_pack(&without.base, back);
    assert_memory_equal(given, back, n_given);
    free(given);
    free(back);

    /* The table, in the order given, laid end to end. */
    assert_int_equal(m->n_tensors, s->n);
    uint64_t offset = 0;
    for (int i = 0; i < s->n; i++) {
        const Dk__Tensor *t = m->tensors[i];
        assert_ptr_equal(dk_ckpt_find(r, s->src[i].name), t);
        assert_string_equal(t->name, s->src[i].name);
        assert_int_equal(t->dtype, s->src[i].dtype == DK_F64 ? DK__DTYPE__F64 : DK__DTYPE__F32);
        assert_int_equal(t->n_shape, s->src[i].n_dims);
        for (int d = 0; d < s->src[i].n_dims; d++)
            assert_int_equal(t->shape[d], s->src[i].shape[d]);
        assert_int_equal(t->offset, offset);
        assert_int_equal(t->nbytes, source_bytes(s, i));
        assert_int_equal(t->n_chunks, t->nbytes ? 1 : 0);
        if (t->nbytes) {
            assert_int_equal(t->chunks[0]->offset, offset);
            assert_int_equal(t->chunks[0]->length, t->nbytes);
            assert_int_equal(t->chunks[0]->crc32c, dk_crc32c(s->src[i].data, t->nbytes));
        }
        offset += t->nbytes;
    }
    assert_int_equal(dk_ckpt_find(r, "lbfgs.rho")->nbytes, 8);
    assert_int_equal(dk_ckpt_find(r, "empty")->nbytes, 0);
    assert_null(dk_ckpt_find(r, "layers.0"));
    assert_null(dk_ckpt_find(r, ""));
    assert_dk_ok(dk_ckpt_verify(r));
    assert_tensors_read_back(r, s);
    dk_ckpt_close(&r);
    assert_null(r);

    /* The bytes on disk, read here without the reader: the header fields, both CRCs, and
     * every tensor's raw little-endian bytes where the table puts them. */
    size_t size;
    unsigned char *file = fx->file = slurp(path, &size); /* freed by the teardown */
    assert_memory_equal(file, "\x89" "DKCKPT\n", 8);
    assert_int_equal(get_le(file + 8, 4), 1);
    assert_int_equal(get_le(file + 12, 4), 0);
    const uint64_t msize = get_le(file + 16, 8), dsize = get_le(file + 24, 8);
    assert_int_equal(dsize, offset);
    assert_int_equal(size, 40 + msize + dsize);
    assert_int_equal(get_le(file + 32, 4), dk_crc32c(file + 40, msize));
    assert_int_equal(get_le(file + 36, 4), dk_crc32c(file, 36));
    offset = 0;
    for (int i = 0; i < s->n; i++) {
        assert_memory_equal(file + 40 + msize + offset, s->src[i].data, source_bytes(s, i) ? source_bytes(s, i) : 0);
        offset += source_bytes(s, i);
    }
    /* Little-endian on disk whatever the host: the first double of layers.0.coef is
     * 1000 - 1/3, whose IEEE bits are 0x408F3D5555555555. */
    assert_int_equal(get_le(file + 40 + msize, 8), 0x408F3D5555555555ull);
}

/* Chunks of 24 bytes over tensors of 28, 40, 12, 72 and 52 bytes: short last chunks, a
 * single short chunk, an exact multiple. The table expected is written out by hand. */
static void test_small_chunk_limit_cuts_tensors_into_the_expected_chunks(void **state)
{
    fixture *fx = *state;
    const char *path = fx->path;
    tensor_set *s = &fx->sets[0];
    add_tensor(s, "a", DK_F32, 1, (const uint64_t[]){7}, 1);
    add_tensor(s, "b", DK_F64, 1, (const uint64_t[]){5}, 2);
    add_tensor(s, "c", DK_F32, 1, (const uint64_t[]){3}, 3);
    add_tensor(s, "d", DK_F64, 2, (const uint64_t[]){3, 3}, 4);
    add_tensor(s, "e", DK_F32, 1, (const uint64_t[]){13}, 5);
    Dk__Manifest manifest = DK__MANIFEST__INIT;
    assert_dk_ok(dk_ckpt_write(path, &manifest, s->src, s->n, 24));

    static const struct {
        uint64_t offset, nbytes;
        size_t n;
        uint64_t chunk[3][2];
    } want[] = {
        {0, 28, 2, {{0, 24}, {24, 4}}},
        {28, 40, 2, {{28, 24}, {52, 16}}},
        {68, 12, 1, {{68, 12}}},
        {80, 72, 3, {{80, 24}, {104, 24}, {128, 24}}},
        {152, 52, 3, {{152, 24}, {176, 24}, {200, 4}}},
    };
    size_t size;
    const unsigned char *file = fx->file = slurp(path, &size); /* freed by the teardown */
    const uint64_t data_start = 40 + get_le(file + 16, 8);
    assert_int_equal(get_le(file + 24, 8), 204);
    assert_int_equal(size, data_start + 204);

    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, path));
    const Dk__Manifest *m = dk_ckpt_manifest(r);
    assert_int_equal(m->n_tensors, 5);
    for (int i = 0; i < 5; i++) {
        const Dk__Tensor *t = m->tensors[i];
        assert_int_equal(t->offset, want[i].offset);
        assert_int_equal(t->nbytes, want[i].nbytes);
        assert_int_equal(t->n_chunks, want[i].n);
        for (size_t c = 0; c < want[i].n; c++) {
            assert_int_equal(t->chunks[c]->offset, want[i].chunk[c][0]);
            assert_int_equal(t->chunks[c]->length, want[i].chunk[c][1]);
            /* The CRC of the bytes in the file at that place, and those are the source's. */
            const unsigned char *at = file + data_start + want[i].chunk[c][0];
            assert_int_equal(t->chunks[c]->crc32c, dk_crc32c(at, want[i].chunk[c][1]));
            assert_memory_equal(at, (const unsigned char *)s->src[i].data + (want[i].chunk[c][0] - want[i].offset),
                                want[i].chunk[c][1]);
        }
    }
    assert_dk_ok(dk_ckpt_verify(r));
    assert_tensors_read_back(r, s);
    dk_ckpt_close(&r);

    /* An odd limit cuts through elements; the bytes still come back. */
    assert_dk_ok(dk_ckpt_write(path, &manifest, s->src, s->n, 7));
    assert_dk_ok(dk_ckpt_open(&r, path));
    assert_int_equal(dk_ckpt_find(r, "d")->n_chunks, 11); /* 72 = 10 x 7 + 2 */
    assert_int_equal(dk_ckpt_find(r, "d")->chunks[10]->length, 2);
    assert_dk_ok(dk_ckpt_verify(r));
    assert_tensors_read_back(r, s);
    dk_ckpt_close(&r);

    /* A limit so small that the chunks could overflow the manifest (3 MiB in 1-byte chunks:
     * 3.1 million entries, where the writer allows half the 64 MiB manifest at a worst-case
     * 32 bytes an entry, 1,048,576) is raised to the smallest size that fits,
     * ceil((3 MiB + 204) / (1,048,576 - 6)) = 4, instead of failing the write. */
    add_tensor(s, "big", DK_F64, 1, (const uint64_t[]){393216}, 6);
    assert_dk_ok(dk_ckpt_write(path, &manifest, s->src, s->n, 1));
    assert_dk_ok(dk_ckpt_open(&r, path));
    assert_int_equal(dk_ckpt_find(r, "big")->n_chunks, 786432);
    assert_int_equal(dk_ckpt_find(r, "big")->chunks[0]->length, 4);
    assert_int_equal(dk_ckpt_find(r, "d")->n_chunks, 18); /* the small tensors follow the same size */
    assert_dk_ok(dk_ckpt_verify(r));
    assert_tensors_read_back(r, s);
    dk_ckpt_close(&r);
}

static void test_writing_over_a_checkpoint_replaces_it(void **state)
{
    fixture *fx = *state;
    tensor_set *one = &fx->sets[0], *two = &fx->sets[1];
    add_tensor(one, "p", DK_F64, 1, (const uint64_t[]){100}, 1);
    add_tensor(two, "p", DK_F64, 1, (const uint64_t[]){100}, 2);
    Dk__Manifest manifest = DK__MANIFEST__INIT;
    assert_dk_ok(dk_ckpt_write(fx->path, &manifest, one->src, one->n, 0));
    assert_dk_ok(dk_ckpt_write(fx->path, &manifest, two->src, two->n, 0));
    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, fx->path));
    assert_tensors_read_back(r, two);
    dk_ckpt_close(&r);
}

/* A chunk longer than the reader's 4 MiB verification buffer: dk_ckpt_verify reads such a
 * chunk in pieces and must carry the CRC from piece to piece. Every other test writes
 * chunks far below 4 MiB, so a reader that restarted the CRC at each piece (checking only
 * the last piece against the whole chunk's CRC) would pass them all; here the intact file
 * would fail. One float64 tensor of 655,360 elements (5 MiB, values i * 0.5) under the
 * default 64 MiB chunk size (chunk_bytes 0) is one 5 MiB chunk: pieces 0..4 MiB - 1 and
 * 4 MiB..5 MiB - 1. The CRC recorded for it is checked against a one-shot CRC of the
 * 5 MiB computed here, and a byte flipped at data offset 4 MiB + 1, in the second piece,
 * must be caught. */
static void test_a_chunk_longer_than_the_verify_buffer_is_checked_whole(void **state)
{
    fixture *fx = *state;
    const char *path = fx->path;
    enum { ELEMENTS = 655360, BYTES = ELEMENTS * 8, FLIP_AT = (4 << 20) + 1 };
    tensor_set *s = &fx->sets[0];
    add_tensor(s, "big", DK_F64, 1, (const uint64_t[]){ELEMENTS}, 1);
    double *values = s->data[0];
    for (size_t i = 0; i < ELEMENTS; i++)
        values[i] = (double)i * 0.5;
    Dk__Manifest manifest = DK__MANIFEST__INIT;
    assert_dk_ok(dk_ckpt_write(path, &manifest, s->src, s->n, 0));

    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open_verified(path, &r));
    const Dk__Tensor *t = dk_ckpt_find(r, "big");
    assert_non_null(t);
    assert_int_equal(t->nbytes, BYTES);
    assert_int_equal(t->n_chunks, 1);
    assert_int_equal(t->chunks[0]->offset, 0);
    assert_int_equal(t->chunks[0]->length, BYTES);
    assert_int_equal(t->chunks[0]->crc32c, dk_crc32c(values, BYTES));
    dk_ckpt_close(&r);

    /* The file holds the values where the layout puts them; flip one bit of the byte at
     * data offset 4 MiB + 1 (inside element 524,288, whose value 262,144 = 0x4110000000000000
     * has byte 1 zero) and write it back. */
    size_t size;
    unsigned char *file = fx->file = slurp(path, &size); /* freed by the teardown */
    const uint64_t msize = get_le(file + 16, 8);
    assert_int_equal(get_le(file + 24, 8), BYTES);
    assert_int_equal(size, 40 + msize + BYTES);
    assert_memory_equal(file + 40 + msize, values, BYTES);
    assert_int_equal(get_le(file + 40 + msize + (4 << 20), 8), 0x4110000000000000ull);
    file[40 + msize + FLIP_AT] ^= 0x01;
    spit(path, file, size);
    /* The header and manifest are intact, so it opens; only the chunk's CRC fails. */
    assert_dk_ok(dk_ckpt_open(&r, path));
    dk_ckpt_close(&r);
    char want[300];
    snprintf(want, sizeof want, "%s: tensor 'big' chunk 0 (data bytes 0..5242879): checksum mismatch", path);
    assert_dk_error(dk_ckpt_open_verified(path, &r), DK_ERR_DATA, want);
    assert_null(r);
}

/* --- the small checkpoint the damage tests start from -------------------------------------- */

/* Tensors w (float64 [2][3], 48 bytes: chunks 0..23, 24..47), b (float32 [5], 20 bytes:
 * chunk 48..67), e (float32 [0], no chunk) and s (a float64 scalar: chunk 68..75). */
static const struct {
    const char *name;
    int chunk;
    uint64_t first, last;
} small_chunks[] = {{"w", 0, 0, 23}, {"w", 1, 24, 47}, {"b", 0, 48, 67}, {"s", 0, 68, 75}};
enum { SMALL_DATA = 76 };

/* The fixture of the damage tests: the small checkpoint written to fx->path and read into
 * fx->file (fx->size bytes, fx->msize of them the manifest's), its tensors in fx->sets[0]. */
static int small_checkpoint_setup(void **state)
{
    fixture_setup(state);
    fixture *fx = *state;
    tensor_set *s = &fx->sets[0];
    add_tensor(s, "w", DK_F64, 2, (const uint64_t[]){2, 3}, 1);
    add_tensor(s, "b", DK_F32, 1, (const uint64_t[]){5}, 2);
    add_tensor(s, "e", DK_F32, 1, (const uint64_t[]){0}, 3);
    add_tensor(s, "s", DK_F64, 0, NULL, 4);
    full_manifest f;
    full_manifest_init(&f);
    f.m.config_ini = "[model]\nwidths = 2,1\n";
    assert_dk_ok(dk_ckpt_write(fx->path, &f.m, s->src, s->n, 24));
    fx->file = slurp(fx->path, &fx->size);
    fx->msize = get_le(fx->file + 16, 8);
    assert_int_equal(get_le(fx->file + 24, 8), SMALL_DATA);
    assert_int_equal(fx->size, 40 + fx->msize + SMALL_DATA);
    return 0;
}

/* A copy of exactly n bytes, so that the address sanitizer sees any read past the end. */
static unsigned char *exact_copy(const unsigned char *p, size_t n)
{
    unsigned char *q = malloc(n ? n : 1);
    assert_non_null(q);
    memcpy(q, p, n);
    return q;
}

static void test_every_truncation_is_rejected_as_truncated(void **state)
{
    const fixture *fx = *state;
    const unsigned char *file = fx->file;
    const size_t size = fx->size;
    const char *path = fx->path; /* overwritten by each truncated copy */
    char want[200];
    for (size_t n = 0; n < size; n++) {
        if (n < 40)
            snprintf(want, sizeof want, ": truncated: %zu bytes, shorter than the 40-byte header", n);
        else
            snprintf(want, sizeof want, ": truncated: %zu bytes, the header says %zu", n, size);
        unsigned char *copy = exact_copy(file, n);
        dk_ckpt_reader *r = NULL;
        assert_dk_error(dk_ckpt_open_memory(&r, copy, n, "mem"), DK_ERR_DATA, want);
        assert_null(r);
        free(copy);
        /* And through a real file, named in the message. */
        spit(path, file, n);
        char named[600];
        snprintf(named, sizeof named, "%s%s", path, want);
        assert_dk_error(dk_ckpt_open(&r, path), DK_ERR_DATA, named);
        assert_null(r);
    }
}

/* What a flip at byte `at` must be reported as; for data bytes also the tensor hit. */
static const char *expected_damage(size_t at, uint64_t msize, char *buf, size_t cap, const char **tensor)
{
    *tensor = NULL;
    if (at < 8)
        return "mem: not a distkan checkpoint (bad magic)";
    if (at < 40)
        return "mem: header checksum mismatch";
    if (at < 40 + msize)
        return "mem: manifest checksum mismatch";
    const uint64_t d = at - 40 - msize;
    for (size_t i = 0; i < sizeof small_chunks / sizeof small_chunks[0]; i++)
        if (d >= small_chunks[i].first && d <= small_chunks[i].last) {
            snprintf(buf, cap, "mem: tensor '%s' chunk %d (data bytes %" PRIu64 "..%" PRIu64 "): checksum mismatch",
                     small_chunks[i].name, small_chunks[i].chunk, small_chunks[i].first, small_chunks[i].last);
            *tensor = small_chunks[i].name;
            return buf;
        }
    fail_msg("byte %zu is in no part", at);
    return NULL;
}

static void test_every_byte_flip_is_rejected_naming_the_damaged_part(void **state)
{
    const fixture *fx = *state;
    const unsigned char *file = fx->file;
    const size_t size = fx->size;
    const uint64_t msize = fx->msize;
    const tensor_set *s = &fx->sets[0];
    const unsigned char masks[] = {0x01, 0x80, 0xFF};
    int rejected_at_open = 0, rejected_by_verify = 0;
    for (size_t at = 0; at < size; at++)
        for (size_t k = 0; k < sizeof masks; k++) {
            unsigned char *copy = exact_copy(file, size);
            copy[at] ^= masks[k];
            char buf[200];
            const char *tensor;
            const char *want = expected_damage(at, msize, buf, sizeof buf, &tensor);
            dk_ckpt_reader *r = NULL;
            const dk_err err = dk_ckpt_open_memory(&r, copy, size, "mem");
            if (!tensor) {
                assert_dk_error(err, DK_ERR_DATA, want);
                assert_null(r);
                rejected_at_open++;
            } else {
                /* Tensor bytes are not read at open: verify and reading that tensor find
                 * it, with the same words; the other tensors still read. */
                assert_dk_ok(err);
                assert_dk_error(dk_ckpt_verify(r), DK_ERR_DATA, want);
                for (int i = 0; i < s->n; i++) {
                    void *dst = calloc(s->count[i] ? s->count[i] : 1, 8);
                    const dk_err e = dk_ckpt_read_tensor(r, s->src[i].name, s->src[i].dtype, s->count[i], dst);
                    if (strcmp(s->src[i].name, tensor) == 0)
                        assert_dk_error(e, DK_ERR_DATA, want);
                    else
                        assert_dk_ok(e);
                    free(dst);
                }
                dk_ckpt_close(&r);
                rejected_by_verify++;
            }
            free(copy);
        }
    assert_int_equal(rejected_at_open, 3 * (40 + (int)msize));
    assert_int_equal(rejected_by_verify, 3 * SMALL_DATA);
}

static void test_foreign_files_are_not_checkpoints(void **state)
{
    (void)state;
    const char *texts[] = {"hello, world\n", "\x89PNG\r\n\x1a\n and then some bytes of an image.......", "abc",
                           "\x89" "DKCKPT\r"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dk_ckpt_reader *r = NULL;
        assert_dk_error(dk_ckpt_open_memory(&r, texts[i], strlen(texts[i]), "x.dkc"), DK_ERR_DATA,
                        "x.dkc: not a distkan checkpoint (bad magic)");
    }
    /* The start of a checkpoint, cut short, is truncated rather than foreign. */
    dk_ckpt_reader *r = NULL;
    assert_dk_error(dk_ckpt_open_memory(&r, "\x89" "DK", 3, "x.dkc"), DK_ERR_DATA,
                    "x.dkc: truncated: 3 bytes, shorter than the 40-byte header");
    assert_dk_error(dk_ckpt_open_memory(&r, NULL, 0, NULL), DK_ERR_DATA,
                    "(memory): truncated: 0 bytes, shorter than the 40-byte header");
    assert_dk_error(dk_ckpt_open(&r, "/nonexistent/ckpt-000000000001.dkc"), DK_ERR_IO,
                    "cannot open checkpoint /nonexistent/ckpt-000000000001.dkc: No such file or directory");
    assert_dk_error(dk_ckpt_open(&r, "/tmp"), DK_ERR_IO, "/tmp: not a regular file");
}

/* Header fields with a correct header CRC: each field's own check speaks. */
static void test_header_fields_are_checked_one_by_one(void **state)
{
    const fixture *fx = *state;
    const size_t size = fx->size;
    char too_long[200], one_short[200], want[200];
    snprintf(too_long, sizeof too_long,
             "mem: the header says the manifest is %" PRIu64 " bytes, more than the %" PRIu64 "-byte limit",
             DK_CKPT_MAX_MANIFEST + 1, DK_CKPT_MAX_MANIFEST);
    snprintf(one_short, sizeof one_short, "mem: truncated: %zu bytes, the header says %zu", size, size + 1);
    /* Each case overwrites one or two header fields of a copy (craft_patch); bytes 0 ends
     * the list of patches. */
    const struct {
        struct {
            int at;
            uint64_t value;
            int bytes;
        } patch[2];
        const char *want;
    } cases[] = {
        {{{8, 7, 4}}, "mem: format version 7, this distkan reads version 1"},
        {{{12, 0x10, 4}}, "mem: header flags 0x10 set, this distkan knows none"},
        {{{16, DK_CKPT_MAX_MANIFEST + 1, 8}}, too_long},
        {{{24, UINT64_MAX - 5, 8}}, "more than any file holds"},
        /* A data length one larger: the file is one byte short of what the header says. */
        {{{24, SMALL_DATA + 1, 8}}, one_short},
        /* Manifest length one less: the manifest CRC no longer matches its shorter bytes. */
        {{{16, fx->msize - 1, 8}, {24, SMALL_DATA + 1, 8}}, "mem: manifest checksum mismatch"},
    };
    dk_ckpt_reader *r = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *f = exact_copy(fx->file, size);
        for (int k = 0; k < 2 && cases[i].patch[k].bytes; k++)
            craft_patch(f, cases[i].patch[k].at, cases[i].patch[k].value, cases[i].patch[k].bytes);
        assert_dk_error(dk_ckpt_open_memory(&r, f, size, "mem"), DK_ERR_DATA, cases[i].want);
        assert_null(r);
        free(f);
    }

    /* Trailing garbage. */
    unsigned char *f = malloc(size + 3);
    assert_non_null(f);
    memcpy(f, fx->file, size);
    memcpy(f + size, "xyz", 3);
    snprintf(want, sizeof want, "mem: %zu bytes, the header says %zu: trailing bytes after the data", size + 3, size);
    assert_dk_error(dk_ckpt_open_memory(&r, f, size + 3, "mem"), DK_ERR_DATA, want);
    free(f);
}

/* --- crafted manifests: each rule of the tensor table -------------------------------------- */

typedef struct crafted {
    Dk__Manifest m;
    Dk__Tensor t[3];
    Dk__Tensor *list[3];
    Dk__Chunk c[3][3];
    Dk__Chunk *clist[3][3];
    uint64_t shape[3][6];
    uint64_t data_bytes;
} crafted;

/* a: float64 [2] (16 bytes, one chunk at 0), b: float32 [3] (12 bytes, one chunk at 16),
 * in a 28-byte data region of zeros; CRCs correct, so this one opens and verifies. */
static void crafted_init(crafted *x)
{
    memset(x, 0, sizeof *x);
    dk__manifest__init(&x->m);
    x->m.format_version = 1;
    const char *names[] = {"a", "b"};
    const Dk__DType types[] = {DK__DTYPE__F64, DK__DTYPE__F32};
    const uint64_t dims[] = {2, 3}, offsets[] = {0, 16}, bytes[] = {16, 12};
    static const unsigned char zeros[16];
    for (int i = 0; i < 2; i++) {
        Dk__Tensor *t = &x->t[i];
        dk__tensor__init(t);
        t->name = (char *)names[i];
        t->dtype = types[i];
        x->shape[i][0] = dims[i];
        t->shape = x->shape[i];
        t->n_shape = 1;
        t->offset = offsets[i];
        t->nbytes = bytes[i];
        for (int c = 0; c < 3; c++) {
            dk__chunk__init(&x->c[i][c]);
            x->clist[i][c] = &x->c[i][c];
        }
        x->c[i][0].offset = offsets[i];
        x->c[i][0].length = bytes[i];
        x->c[i][0].crc32c = dk_crc32c(zeros, bytes[i]);
        t->chunks = x->clist[i];
        t->n_chunks = 1;
        x->list[i] = t;
    }
    x->m.n_tensors = 2;
    x->m.tensors = x->list;
    x->data_bytes = 28;
}

/* Packs x into a file and opens it: DK_OK, or the error of dk_ckpt_open_memory. */
static dk_err crafted_open(const crafted *x, int verify)
{
    const size_t m = protobuf_c_message_get_packed_size(&x->m.base);
    unsigned char *packed = malloc(m ? m : 1);
    protobuf_c_message_pack(&x->m.base, packed);
    unsigned char *data = calloc(x->data_bytes ? x->data_bytes : 1, 1);
    size_t size;
    unsigned char *file = craft_file(&size, 1, 0, packed, m, data, x->data_bytes);
    dk_ckpt_reader *r = NULL;
    dk_err err = dk_ckpt_open_memory(&r, file, size, "crafted");
    if (err == DK_OK && verify)
        err = dk_ckpt_verify(r);
    dk_ckpt_close(&r);
    free(file);
    free(data);
    free(packed);
    return err;
}

static void test_inconsistent_tensor_tables_are_rejected_by_name(void **state)
{
    (void)state;
    crafted x;
    crafted_init(&x);
    assert_dk_ok(crafted_open(&x, 1));

    crafted_init(&x);
    x.m.format_version = 2;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: manifest format_version 2 differs from the header's 1");

    crafted_init(&x);
    x.t[1].name = "";
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 1 of the table has an empty name");

    crafted_init(&x);
    x.t[1].name = "a";
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a' appears twice");

    crafted_init(&x);
    x.t[0].dtype = DK__DTYPE__DTYPE_UNSPECIFIED;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': unknown dtype 0");
    crafted_init(&x);
    x.t[1].dtype = (Dk__DType)9;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'b': unknown dtype 9");

    crafted_init(&x);
    x.t[0].n_shape = 5;
    for (int d = 0; d < 5; d++)
        x.shape[0][d] = 1;
    x.shape[0][0] = 2;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': 5 dimensions, at most 4");

    crafted_init(&x);
    x.shape[0][0] = 3;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': nbytes 16, but its shape of float64 makes 24");

    crafted_init(&x);
    x.t[0].n_shape = 2;
    x.shape[0][0] = x.shape[0][1] = 1ull << 40;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': its shape holds more than 2^64 elements");
    crafted_init(&x);
    x.shape[0][0] = 1ull << 62;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': its shape holds more than 2^64 bytes");

    crafted_init(&x);
    x.t[1].offset = x.c[1][0].offset = 20;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA,
                    "crafted: tensor 'b': 12 bytes at offset 20 run past the data region's 28");

    crafted_init(&x);
    x.t[0].n_chunks = 2;
    x.c[0][0].length = 8;
    x.c[0][1].offset = 9;
    x.c[0][1].length = 7;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA,
                    "crafted: tensor 'a' chunk 1: offset 9, expected 8 (chunks tile the tensor in order)");

    crafted_init(&x);
    x.t[0].n_chunks = 2;
    x.c[0][0].length = 0;
    x.c[0][1].length = 16;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a' chunk 0: empty");

    crafted_init(&x);
    x.c[1][0].length = 13;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA,
                    "crafted: tensor 'b' chunk 0: 13 bytes at 16 run past the tensor's end at 28");

    crafted_init(&x);
    x.c[0][0].length = 8;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'a': its chunks cover 8 of its 16 bytes");

    crafted_init(&x);
    x.t[1].n_chunks = 0;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'b': its chunks cover 0 of its 12 bytes");

    crafted_init(&x);
    x.t[1].offset = x.c[1][0].offset = 8;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensors 'a' and 'b' overlap (data bytes 8..15)");

    crafted_init(&x);
    x.data_bytes = 32;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: data bytes 28..31 belong to no tensor");

    crafted_init(&x);
    x.data_bytes = 32;
    x.t[0].offset = x.c[0][0].offset = 4;
    x.t[1].offset = x.c[1][0].offset = 20;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: data bytes 0..3 belong to no tensor");

    crafted_init(&x);
    x.m.n_tensors = 0;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: data bytes 0..27 belong to no tensor");

    /* An empty tensor may sit anywhere inside the region, but not past it. */
    crafted_init(&x);
    x.shape[1][0] = 0;
    x.t[1].nbytes = 0;
    x.t[1].n_chunks = 0;
    x.t[1].offset = 3;
    x.data_bytes = 16;
    assert_dk_ok(crafted_open(&x, 1));
    x.t[1].offset = 17;
    assert_dk_error(crafted_open(&x, 0), DK_ERR_DATA, "crafted: tensor 'b': 0 bytes at offset 17 run past the data region's 16");

    /* A correct table whose chunk CRC is wrong opens, and fails verification. */
    crafted_init(&x);
    x.c[1][0].crc32c ^= 1;
    assert_dk_ok(crafted_open(&x, 0));
    assert_dk_error(crafted_open(&x, 1), DK_ERR_DATA, "crafted: tensor 'b' chunk 0 (data bytes 16..27): checksum mismatch");
}

static void test_manifest_that_is_not_protobuf_is_rejected(void **state)
{
    (void)state;
    /* A tag with field number 0 and a truncated varint: no dk.Manifest parses from these. */
    const unsigned char junk[][4] = {{0x00, 0x00, 0x00, 0x00}, {0xFF, 0xFF, 0xFF, 0xFF}};
    for (int i = 0; i < 2; i++) {
        size_t size;
        unsigned char *file = craft_file(&size, 1, 0, junk[i], 4, NULL, 0);
        dk_ckpt_reader *r = NULL;
        assert_dk_error(dk_ckpt_open_memory(&r, file, size, "junk"), DK_ERR_DATA,
                        "junk: manifest does not parse as dk.Manifest");
        free(file);
    }
    /* An empty manifest is a valid message with format_version 0, which the header's 1
     * contradicts. */
    size_t size;
    unsigned char *file = craft_file(&size, 1, 0, "", 0, NULL, 0);
    dk_ckpt_reader *r = NULL;
    assert_dk_error(dk_ckpt_open_memory(&r, file, size, "empty"), DK_ERR_DATA,
                    "empty: manifest format_version 0 differs from the header's 1");
    free(file);
}

static void test_reading_with_the_wrong_dtype_or_count_names_the_tensor(void **state)
{
    const fixture *fx = *state;
    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open_memory(&r, fx->file, fx->size, "mem"));
    double buf[8];
    assert_dk_error(dk_ckpt_read_tensor(r, "w", DK_F32, 6, buf), DK_ERR_DATA,
                    "mem: tensor 'w' is float64, float32 was asked for");
    assert_dk_error(dk_ckpt_read_tensor(r, "b", DK_F64, 5, buf), DK_ERR_DATA,
                    "mem: tensor 'b' is float32, float64 was asked for");
    assert_dk_error(dk_ckpt_read_tensor(r, "w", DK_F64, 5, buf), DK_ERR_DATA,
                    "mem: tensor 'w' has 6 elements, 5 were asked for");
    assert_dk_error(dk_ckpt_read_tensor(r, "s", DK_F64, 0, buf), DK_ERR_DATA,
                    "mem: tensor 's' has 1 elements, 0 were asked for");
    assert_dk_error(dk_ckpt_read_tensor(r, "adam.m", DK_F64, 6, buf), DK_ERR_DATA, "mem: no tensor 'adam.m'");
    assert_dk_ok(dk_ckpt_read_tensor(r, "e", DK_F32, 0, buf));
    assert_dk_ok(dk_ckpt_read_tensor(r, "s", DK_F64, 1, buf));
    assert_true(buf[0] == 4000.0 - 1.0 / 3.0);
    dk_ckpt_close(&r);
}

/* The directory holds `name` and nothing with ".tmp." in its name. */
static void assert_no_temp_left(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    const struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            fail_msg("temporary file %s/%s left behind", dir, e->d_name);
    closedir(d);
}

static void test_failed_writes_leave_the_old_file_and_no_temporary(void **state)
{
    fixture *fx = *state;
    const char *dir = fx->dir, *path = fx->path;
    char want[600];
    tensor_set *old = &fx->sets[0], *bad = &fx->sets[1], *big = &fx->sets[2];
    add_tensor(old, "p", DK_F64, 1, (const uint64_t[]){10}, 1);
    Dk__Manifest manifest = DK__MANIFEST__INIT;
    assert_dk_ok(dk_ckpt_write(path, &manifest, old->src, old->n, 0));

    /* Invalid sources: nothing is written. */
    add_tensor(bad, "p", DK_F64, 1, (const uint64_t[]){10}, 2);
    add_tensor(bad, "p", DK_F32, 1, (const uint64_t[]){3}, 3);
    assert_dk_error(dk_ckpt_write(path, &manifest, bad->src, bad->n, 0), DK_ERR_INTERNAL,
                    "checkpoint tensor 'p' is given twice");
    assert_int_equal(manifest.n_tensors, 0);
    assert_null(manifest.tensors);
    bad->src[1].name = "q";
    bad->src[1].n_dims = 5;
    assert_dk_error(dk_ckpt_write(path, &manifest, bad->src, bad->n, 0), DK_ERR_INTERNAL,
                    "checkpoint tensor 'q': 5 dimensions, at most 4");
    bad->src[1].n_dims = 1;
    bad->src[1].data = NULL;
    assert_dk_error(dk_ckpt_write(path, &manifest, bad->src, bad->n, 0), DK_ERR_INTERNAL,
                    "checkpoint tensor 'q': 12 bytes but no data");
    bad->src[1].data = bad->data[1];

    /* A manifest that already lists tensors is refused, and left as it was. */
    Dk__Tensor stray = DK__TENSOR__INIT;
    Dk__Tensor *stray_list[] = {&stray};
    manifest.n_tensors = 1;
    manifest.tensors = stray_list;
    assert_dk_error(dk_ckpt_write(path, &manifest, old->src, old->n, 0), DK_ERR_INTERNAL, "already lists 1 tensors");
    assert_ptr_equal(manifest.tensors, stray_list);
    manifest.n_tensors = 0;
    manifest.tensors = NULL;

    /* A directory that does not exist. */
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no/ckpt.dkc", dir);
    snprintf(want, sizeof want, "cannot create %s/no/ckpt.dkc.tmp.%ld: No such file or directory", dir,
             (long)getpid());
    assert_dk_error(dk_ckpt_write(missing, &manifest, old->src, old->n, 0), DK_ERR_IO, want);

    /* The disk refusing bytes mid-write (a file size limit of 64 KiB against a 1 MiB
     * tensor): the error names the temporary file, which is removed. */
    add_tensor(big, "p", DK_F64, 1, (const uint64_t[]){1 << 17}, 4);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = saved;
    small.rlim_cur = 64 << 10;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    const dk_err err = dk_ckpt_write(path, &manifest, big->src, big->n, 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, previous);
    snprintf(want, sizeof want, "cannot write %s.tmp.%ld: File too large", path, (long)getpid());
    assert_dk_error(err, DK_ERR_IO, want);

    dk_ckpt_reader *r = NULL;
    assert_dk_ok(dk_ckpt_open(&r, path));
    assert_dk_ok(dk_ckpt_verify(r));
    assert_tensors_read_back(r, old);
    dk_ckpt_close(&r);
    assert_no_temp_left(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_keeps_every_manifest_field_and_tensor_byte, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_small_chunk_limit_cuts_tensors_into_the_expected_chunks, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_writing_over_a_checkpoint_replaces_it, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_a_chunk_longer_than_the_verify_buffer_is_checked_whole, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation_is_rejected_as_truncated, small_checkpoint_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_flip_is_rejected_naming_the_damaged_part,
                                        small_checkpoint_setup, fixture_teardown),
        cmocka_unit_test(test_foreign_files_are_not_checkpoints),
        cmocka_unit_test_setup_teardown(test_header_fields_are_checked_one_by_one, small_checkpoint_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_inconsistent_tensor_tables_are_rejected_by_name),
        cmocka_unit_test(test_manifest_that_is_not_protobuf_is_rejected),
        cmocka_unit_test_setup_teardown(test_reading_with_the_wrong_dtype_or_count_names_the_tensor,
                                        small_checkpoint_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_writes_leave_the_old_file_and_no_temporary, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

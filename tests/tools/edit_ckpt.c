/* edit_ckpt IN.dkc OUT.dkc TENSOR INDEX VALUE
 * edit_ckpt IN.dkc OUT.dkc @FIELD 0 VALUE
 *
 * Writes a copy of a verified checkpoint in which element INDEX of TENSOR is VALUE (any
 * strtod text: 5.0, -inf, nan), or a manifest field is (@adam.step, @lbfgs.steps,
 * @metadata.world_size, @metadata.wall_s, @schedule.step, @schedule.stage, @data.seed,
 * @data.pde_points, @data.fit_batch, @model.grid, @model with VALUE 0 (the model left out),
 * @layers.L.in), with every checksum recomputed: a file that passes every integrity check
 * and still holds a value distkan never writes. Tests use it to show that such values are
 * caught where they are read (resume, predict, inspect), not trained on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/dk_ckpt_file.h"

static dk_dtype dtype_of(const Dk__Tensor *t) { return t->dtype == DK__DTYPE__F32 ? DK_F32 : DK_F64; }

static int fail(const char *what)
{
    fprintf(stderr, "edit_ckpt: %s\n", what);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 6)
        return fail("usage: edit_ckpt IN.dkc OUT.dkc TENSOR INDEX VALUE");
    dk_ckpt_reader *rd = NULL;
    if (dk_ckpt_open(&rd, argv[1]) != DK_OK || dk_ckpt_verify(rd) != DK_OK)
        return fail(dk_error_message());
    const Dk__Manifest *m = dk_ckpt_manifest(rd);
    const size_t index = strtoull(argv[4], NULL, 10);
    const double value = strtod(argv[5], NULL);
    /* A mutable copy of the manifest, without its tensor table (dk_ckpt_write makes it). */
    const size_t packed_size = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *packed = malloc(packed_size ? packed_size : 1);
    dk_ckpt_tensor_source *src = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *src);
    void **data = calloc(m->n_tensors ? m->n_tensors : 1, sizeof *data);
    if (!packed || !src || !data)
        return fail("out of memory");
    protobuf_c_message_pack(&m->base, packed);
    Dk__Manifest *copy = dk__manifest__unpack(NULL, packed_size, packed);
    if (!copy)
        return fail("cannot copy the manifest");
    int edited = 0;
    if (argv[3][0] == '@') {
        const char *f = argv[3] + 1;
        int layer = -1;
        if (!strcmp(f, "adam.step") && copy->adam)
            copy->adam->step = (int64_t)value, edited = 1;
        else if (!strcmp(f, "lbfgs.steps") && copy->lbfgs)
            copy->lbfgs->steps = (int64_t)value, edited = 1;
        else if (!strcmp(f, "metadata.world_size") && copy->metadata)
            copy->metadata->world_size = (int32_t)value, edited = 1;
        else if (!strcmp(f, "metadata.wall_s") && copy->metadata)
            copy->metadata->wall_s = value, edited = 1;
        else if (!strcmp(f, "schedule.step") && copy->schedule)
            copy->schedule->step = (int64_t)value, edited = 1;
        else if (!strcmp(f, "schedule.stage") && copy->schedule)
            copy->schedule->stage = (int32_t)value, edited = 1;
        else if (!strcmp(f, "data.seed") && copy->data)
            copy->data->seed = (uint64_t)value, edited = 1;
        else if (!strcmp(f, "data.pde_points") && copy->data)
            copy->data->pde_points = (uint32_t)value, edited = 1;
        else if (!strcmp(f, "data.fit_batch") && copy->data)
            copy->data->fit_batch = (int64_t)value, edited = 1;
        else if (!strcmp(f, "model.grid") && copy->model)
            copy->model->grid = (int32_t)value, edited = 1;
        else if (!strcmp(f, "model") && copy->model && value == 0.0)
            copy->model = NULL, edited = 1; /* the field is optional in the format (the copy leaks) */
        else if (sscanf(f, "layers.%d.in", &layer) == 1 && copy->model && layer >= 0 &&
                 (size_t)layer < copy->model->n_layers)
            copy->model->layers[layer]->in = (int32_t)value, edited = 1;
        if (!edited)
            return fail("no such manifest field in this checkpoint");
    }
    for (size_t i = 0; i < m->n_tensors; i++) {
        const Dk__Tensor *t = m->tensors[i];
        const dk_dtype dt = dtype_of(t);
        const size_t count = t->nbytes / dk_dtype_size(dt);
        data[i] = malloc(t->nbytes ? t->nbytes : 1);
        if (!data[i] || dk_ckpt_read_tensor(rd, t->name, dt, count, data[i]) != DK_OK)
            return fail(dk_error_message());
        if (argv[3][0] != '@' && strcmp(t->name, argv[3]) == 0) {
            if (index >= count)
                return fail("INDEX is beyond the tensor");
            dk_store(dt, data[i], index, value);
            edited = 1;
        }
        src[i] = (dk_ckpt_tensor_source){.name = t->name, .dtype = dt, .n_dims = (int)t->n_shape, .data = data[i]};
        for (size_t d = 0; d < t->n_shape && d < DK_CKPT_MAX_DIMS; d++)
            src[i].shape[d] = t->shape[d];
    }
    if (!edited)
        return fail("no such tensor");
    const size_t n_tensors = copy->n_tensors;
    Dk__Tensor **tensors = copy->tensors;
    copy->n_tensors = 0;
    copy->tensors = NULL;
    const dk_err err = dk_ckpt_write(argv[2], copy, src, (int)m->n_tensors, 0);
    copy->n_tensors = n_tensors;
    copy->tensors = tensors;
    if (err != DK_OK)
        return fail(dk_error_message());
    dk__manifest__free_unpacked(copy, NULL);
    for (size_t i = 0; i < m->n_tensors; i++)
        free(data[i]);
    free(data);
    free(src);
    free(packed);
    dk_ckpt_close(&rd);
    return 0;
}

#include "dk_ckpt_table.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dk_ckpt_file.h"
#include "dk_ckpt_layout.h"

/* nbytes the shape and dtype imply, or an error when that overflows 64 bits. A zero
 * dimension makes the tensor empty whatever the others say. */
static dk_err implied_bytes(uint64_t *out, const Dk__Tensor *t, size_t elem, const char *label)
{
    uint64_t elements = 1;
    for (size_t d = 0; d < t->n_shape; d++)
        if (t->shape[d] == 0) {
            *out = 0;
            return DK_OK;
        }
    for (size_t d = 0; d < t->n_shape; d++) {
        if (elements > UINT64_MAX / t->shape[d])
            DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': its shape holds more than 2^64 elements", label, t->name);
        elements *= t->shape[d];
    }
    if (elements > UINT64_MAX / elem)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': its shape holds more than 2^64 bytes", label, t->name);
    *out = elements * elem;
    return DK_OK;
}

static dk_err check_chunks(const Dk__Tensor *t, const char *label)
{
    const uint64_t end = t->offset + t->nbytes; /* no overflow: checked against the data region */
    uint64_t at = t->offset;
    for (size_t c = 0; c < t->n_chunks; c++) {
        const Dk__Chunk *k = t->chunks[c];
        if (k->offset != at)
            DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' chunk %zu: offset %" PRIu64 ", expected %" PRIu64
                     " (chunks tile the tensor in order)", label, t->name, c, k->offset, at);
        if (k->length == 0)
            DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' chunk %zu: empty", label, t->name, c);
        if (k->length > end - at)
            DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' chunk %zu: %" PRIu64 " bytes at %" PRIu64
                     " run past the tensor's end at %" PRIu64, label, t->name, c, k->length, at, end);
        at += k->length;
    }
    if (at != end)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': its chunks cover %" PRIu64 " of its %" PRIu64 " bytes", label,
                 t->name, at - t->offset, t->nbytes);
    return DK_OK;
}

static dk_err check_tensor(const Dk__Tensor *t, size_t index, uint64_t data_bytes, const char *label)
{
    if (!t->name || !t->name[0])
        DK_ERROR(DK_ERR_DATA, "%s: tensor %zu of the table has an empty name", label, index);
    const size_t elem = dk_ckpt_proto_dtype_size(t->dtype);
    if (elem == 0)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': unknown dtype %d", label, t->name, (int)t->dtype);
    if (t->n_shape > DK_CKPT_MAX_DIMS)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': %zu dimensions, at most %d", label, t->name, t->n_shape,
                 DK_CKPT_MAX_DIMS);
    uint64_t bytes;
    DK_CALL(implied_bytes(&bytes, t, elem, label));
    if (t->nbytes != bytes)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': nbytes %" PRIu64 ", but its shape of %s makes %" PRIu64, label,
                 t->name, t->nbytes, dk_ckpt_proto_dtype_name(t->dtype), bytes);
    if (t->offset > data_bytes || t->nbytes > data_bytes - t->offset)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s': %" PRIu64 " bytes at offset %" PRIu64
                 " run past the data region's %" PRIu64, label, t->name, t->nbytes, t->offset, data_bytes);
    DK_CALL(check_chunks(t, label));
    return DK_OK;
}

static int by_name_order(const void *a, const void *b)
{
    const Dk__Tensor *x = *(const Dk__Tensor *const *)a, *y = *(const Dk__Tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int by_offset_order(const void *a, const void *b)
{
    const Dk__Tensor *x = *(const Dk__Tensor *const *)a, *y = *(const Dk__Tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* With the tensors in offset order, each non-empty one must start where the previous one
 * ended: a gap would hold bytes no CRC covers, an overlap two tensors' claims on one byte. */
static dk_err check_tiling(const Dk__Tensor **by_offset, size_t n, uint64_t data_bytes, const char *label)
{
    uint64_t at = 0;
    const Dk__Tensor *previous = NULL;
    for (size_t i = 0; i < n; i++) {
        const Dk__Tensor *t = by_offset[i];
        if (t->nbytes == 0)
            continue;
        if (t->offset < at)
            DK_ERROR(DK_ERR_DATA, "%s: tensors '%s' and '%s' overlap (data bytes %" PRIu64 "..%" PRIu64 ")", label,
                     previous->name, t->name, t->offset, at - 1);
        if (t->offset > at)
            DK_ERROR(DK_ERR_DATA, "%s: data bytes %" PRIu64 "..%" PRIu64 " belong to no tensor", label, at,
                     t->offset - 1);
        at = t->offset + t->nbytes;
        previous = t;
    }
    if (at != data_bytes)
        DK_ERROR(DK_ERR_DATA, "%s: data bytes %" PRIu64 "..%" PRIu64 " belong to no tensor", label, at,
                 data_bytes - 1);
    return DK_OK;
}

dk_err dk_ckpt_table_check(const Dk__Manifest *m, uint64_t data_bytes, const char *label,
                           const Dk__Tensor ***by_name)
{
    *by_name = NULL;
    const size_t n = m->n_tensors;
    for (size_t i = 0; i < n; i++)
        DK_CALL(check_tensor(m->tensors[i], i, data_bytes, label));

    dk_err err = DK_OK;
    const Dk__Tensor **names = NULL, **offsets = NULL;
    DK_CALL_GOTO(err, done, DK_CALLOC(names, n, "the checkpoint's tensor index"));
    DK_CALL_GOTO(err, done, DK_CALLOC(offsets, n, "the checkpoint's tensor index"));
    for (size_t i = 0; i < n; i++)
        names[i] = offsets[i] = m->tensors[i];
    if (n > 0) {
        qsort(names, n, sizeof *names, by_name_order);
        qsort(offsets, n, sizeof *offsets, by_offset_order);
    }
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1]->name, names[i]->name) == 0) {
            err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "%s: tensor '%s' appears twice", label,
                               names[i]->name);
            goto done;
        }
    DK_CALL_GOTO(err, done, check_tiling(offsets, n, data_bytes, label));
    *by_name = names;
    names = NULL;
done:
    free(names);
    free(offsets);
    return err;
}

const Dk__Tensor *dk_ckpt_table_find(const Dk__Tensor *const *by_name, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        const int c = strcmp(by_name[mid]->name, name);
        if (c == 0)
            return by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

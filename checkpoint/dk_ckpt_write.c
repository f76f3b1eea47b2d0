/* The writer of dk_ckpt_file.h: table first (the manifest precedes the data, so every
 * chunk's CRC is computed from memory before a byte is written), then one sequential
 * write of header, manifest and tensors into a temporary file that is synced and renamed
 * over the target. */
#include "dk_ckpt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/dk_fs.h"
#include "dk_ckpt_layout.h"
#include "../common/dk_crc32c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint tensors are stored little-endian and written without conversion"
#endif

/* Bytes per write call: bounded so that no single call approaches the 2 GiB Linux moves
 * at most, and so that an interrupted call loses little. */
enum { WRITE_PIECE = 64 << 20 };

/* The manifest's tensor table, built from the sources; the Dk__* structs point into these
 * arrays and, for names and shapes, into the sources themselves. */
typedef struct table {
    Dk__Tensor *tensors;
    Dk__Tensor **tensor_list;
    Dk__Chunk *chunks;
    Dk__Chunk **chunk_list;
    uint64_t data_bytes;
} table;

static void table_free(table *t)
{
    free(t->tensors);
    free(t->tensor_list);
    free(t->chunks);
    free(t->chunk_list);
    *t = (table){0};
}

static dk_err source_bytes(uint64_t *out, const dk_ckpt_tensor_source *src, int index)
{
    const dk_ckpt_tensor_source *s = &src[index];
    if (!s->name || !s->name[0])
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor %d has no name", index);
    if (s->dtype != DK_F64 && s->dtype != DK_F32)
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor '%s': unknown dtype %d", s->name, (int)s->dtype);
    if (s->n_dims < 0 || s->n_dims > DK_CKPT_MAX_DIMS)
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor '%s': %d dimensions, at most %d", s->name, s->n_dims,
                 DK_CKPT_MAX_DIMS);
    /* No dimensions is a scalar (the empty product, 1 element); a zero dimension an empty
     * tensor, stored with no chunks. */
    uint64_t bytes = dk_dtype_size(s->dtype);
    for (int d = 0; d < s->n_dims; d++) {
        if (s->shape[d] != 0 && bytes > UINT64_MAX / s->shape[d])
            DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor '%s': its shape holds more than 2^64 bytes", s->name);
        bytes *= s->shape[d];
    }
    if (bytes > 0 && !s->data)
        DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor '%s': %" PRIu64 " bytes but no data", s->name, bytes);
    for (int j = 0; j < index; j++) /* quadratic, but a checkpoint has tens of tensors */
        if (strcmp(src[j].name, s->name) == 0)
            DK_ERROR(DK_ERR_INTERNAL, "checkpoint tensor '%s' is given twice", s->name);
    *out = bytes;
    return DK_OK;
}

/* The chunks of each tensor: consecutive pieces of chunk_bytes, the last one shorter. */
static void fill_chunks(table *t, const dk_ckpt_tensor_source *src, int n, uint64_t chunk_bytes)
{
    size_t c = 0;
    for (int i = 0; i < n; i++) {
        Dk__Tensor *tensor = &t->tensors[i];
        const unsigned char *bytes = src[i].data;
        tensor->chunks = &t->chunk_list[c];
        for (uint64_t done = 0; done < tensor->nbytes;) {
            const uint64_t length = tensor->nbytes - done < chunk_bytes ? tensor->nbytes - done : chunk_bytes;
            Dk__Chunk *chunk = &t->chunks[c];
            dk__chunk__init(chunk);
            chunk->offset = tensor->offset + done;
            chunk->length = length;
            chunk->crc32c = dk_crc32c(bytes + done, (size_t)length);
            t->chunk_list[c++] = chunk;
            tensor->n_chunks++;
            done += length;
        }
    }
}

/* A chunk's manifest entry: offset, length and CRC as varints with their tags (at most
 * 11 + 11 + 6 bytes), inside a length-delimited field (2 more); rounded up. */
enum { CHUNK_ENTRY_MAX = 32 };

/* The chunk size actually used: the one asked for, or larger where that would make more
 * chunks than half the manifest limit holds (a tiny [checkpoint] chunk_bytes on a large
 * model). Chunking only sets how finely corruption is located, so a checkpoint must never
 * fail for it, least of all the one written at the end of a long run. */
static uint64_t usable_chunk_bytes(uint64_t asked, uint64_t data_bytes, int n_tensors)
{
    const uint64_t max_chunks = DK_CKPT_MAX_MANIFEST / 2 / CHUNK_ENTRY_MAX;
    if ((uint64_t)n_tensors >= max_chunks)
        return asked; /* hopeless either way: pack_front reports the manifest's size */
    /* sum over tensors of ceil(nbytes / c) <= data_bytes / c + n_tensors */
    const uint64_t room = max_chunks - (uint64_t)n_tensors;
    const uint64_t least = data_bytes / room + (data_bytes % room != 0);
    return asked > least ? asked : least;
}

static dk_err table_build(table *t, const dk_ckpt_tensor_source *src, int n, uint64_t chunk_bytes)
{
    *t = (table){0};
    dk_err err = DK_OK;
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->tensors, (size_t)n, "the checkpoint tensor table"));
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->tensor_list, (size_t)n, "the checkpoint tensor table"));
    for (int i = 0; i < n; i++) {
        Dk__Tensor *tensor = &t->tensors[i];
        dk__tensor__init(tensor);
        DK_CALL_GOTO(err, fail, source_bytes(&tensor->nbytes, src, i));
        if (tensor->nbytes > UINT64_MAX - t->data_bytes) {
            err = dk_error_set(DK_ERR_INTERNAL, __FILE__, __LINE__, "checkpoint tensors hold more than 2^64 bytes");
            goto fail;
        }
        t->data_bytes += tensor->nbytes;
    }
    chunk_bytes = usable_chunk_bytes(chunk_bytes, t->data_bytes, n);
    t->data_bytes = 0;
    uint64_t total_chunks = 0;
    for (int i = 0; i < n; i++) {
        Dk__Tensor *tensor = &t->tensors[i];
        /* protobuf-c's structs are not const-qualified; packing only reads these. */
        tensor->name = (char *)src[i].name;
        tensor->dtype = dk_ckpt_dtype_to_proto(src[i].dtype);
        tensor->n_shape = (size_t)src[i].n_dims;
        tensor->shape = (uint64_t *)src[i].shape;
        tensor->offset = t->data_bytes;
        t->data_bytes += tensor->nbytes;
        total_chunks += tensor->nbytes / chunk_bytes + (tensor->nbytes % chunk_bytes != 0);
        t->tensor_list[i] = tensor;
    }
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->chunks, (size_t)total_chunks, "the checkpoint chunk table"));
    DK_CALL_GOTO(err, fail, DK_CALLOC(t->chunk_list, (size_t)total_chunks, "the checkpoint chunk table"));
    fill_chunks(t, src, n, chunk_bytes);
    return DK_OK;
fail:
    table_free(t);
    return err;
}

/* Header and manifest, as one buffer of 40 + M bytes. */
static dk_err pack_front(unsigned char **out, size_t *size, Dk__Manifest *manifest, uint64_t data_bytes)
{
    const size_t m = protobuf_c_message_get_packed_size(&manifest->base);
    if (m > DK_CKPT_MAX_MANIFEST)
        DK_ERROR(DK_ERR_INTERNAL, "the checkpoint manifest would be %zu bytes, more than the %" PRIu64
                 "-byte limit (too many chunks? a larger chunk size makes fewer)", m, DK_CKPT_MAX_MANIFEST);
    unsigned char *buffer = NULL;
    DK_CALL(dk_calloc((void **)&buffer, DK_CKPT_HEADER_BYTES + m, 1, "the checkpoint manifest"));
    const size_t packed = protobuf_c_message_pack(&manifest->base, buffer + DK_CKPT_HEADER_BYTES);
    if (packed != m) {
        free(buffer);
        DK_ERROR(DK_ERR_INTERNAL, "the checkpoint manifest packed to %zu bytes, %zu were computed", packed, m);
    }
    const dk_ckpt_header h = {
        .version = DK_CKPT_FORMAT_VERSION,
        .flags = 0,
        .manifest_bytes = m,
        .data_bytes = data_bytes,
        .manifest_crc = dk_crc32c(buffer + DK_CKPT_HEADER_BYTES, m),
    };
    dk_ckpt_header_encode(buffer, &h);
    *out = buffer;
    *size = DK_CKPT_HEADER_BYTES + m;
    return DK_OK;
}

static dk_err write_all(int fd, const void *data, uint64_t n, const char *path)
{
    const unsigned char *p = data;
    while (n > 0) {
        const size_t want = n < WRITE_PIECE ? (size_t)n : WRITE_PIECE;
        const ssize_t put = write(fd, p, want);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            DK_ERROR(DK_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        }
        if (put == 0)
            DK_ERROR(DK_ERR_IO, "cannot write %s: the system accepted no bytes", path);
        p += put;
        n -= (uint64_t)put;
    }
    return DK_OK;
}

static dk_err write_file(int fd, const char *path, const unsigned char *front, size_t front_size,
                         const dk_ckpt_tensor_source *src, const table *t, int n)
{
    DK_CALL(write_all(fd, front, front_size, path));
    for (int i = 0; i < n; i++)
        DK_CALL(write_all(fd, src[i].data, t->tensors[i].nbytes, path));
    if (fsync(fd) != 0)
        DK_ERROR(DK_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
    return DK_OK;
}

dk_err dk_ckpt_write(const char *path, Dk__Manifest *manifest, const dk_ckpt_tensor_source *tensors, int n_tensors,
                     size_t chunk_bytes)
{
    if (manifest->n_tensors != 0 || manifest->tensors)
        DK_ERROR(DK_ERR_INTERNAL, "%s: the manifest given to dk_ckpt_write already lists %zu tensors", path,
                 manifest->n_tensors);
    if (n_tensors < 0)
        DK_ERROR(DK_ERR_INTERNAL, "%s: %d tensors", path, n_tensors);
    if (chunk_bytes == 0)
        chunk_bytes = DK_CKPT_DEFAULT_CHUNK_BYTES;

    table t;
    DK_CALL(table_build(&t, tensors, n_tensors, chunk_bytes));
    manifest->format_version = DK_CKPT_FORMAT_VERSION;
    manifest->n_tensors = (size_t)n_tensors;
    manifest->tensors = t.tensor_list;
    unsigned char *front = NULL;
    size_t front_size = 0;
    dk_err err = pack_front(&front, &front_size, manifest, t.data_bytes);
    manifest->n_tensors = 0;
    manifest->tensors = NULL;
    if (err != DK_OK) {
        table_free(&t);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }

    char *temp = NULL;
    const size_t temp_size = strlen(path) + 32;
    int fd = -1;
    DK_CALL_GOTO(err, done, dk_calloc((void **)&temp, temp_size, 1, "a file name"));
    snprintf(temp, temp_size, "%s.tmp.%ld", path, (long)getpid());
    fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot create %s: %s", temp, strerror(errno));
        goto done;
    }
    DK_CALL_GOTO(err, discard, write_file(fd, temp, front, front_size, tensors, &t, n_tensors));
    const int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot write %s: %s", temp, strerror(errno));
        goto discard;
    }
    if (rename(temp, path) != 0) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot rename %s to %s: %s", temp, path,
                           strerror(errno));
        goto discard;
    }
    DK_CALL_GOTO(err, done, dk_fsync_dir_of(path));
    goto done;
discard:
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlink(temp);
done:
    free(temp);
    free(front);
    table_free(&t);
    return err;
}

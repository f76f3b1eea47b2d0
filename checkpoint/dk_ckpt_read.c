/* The reader of dk_ckpt_file.h. Every length in a file is a claim to check, never a size
 * to allocate: the header must agree with the file's real length before anything else is
 * read, the manifest is bounded by DK_CKPT_MAX_MANIFEST and that length, tensors are read
 * into memory the caller sized, and verification streams through a buffer of at most
 * VERIFY_BUFFER bytes. Files and memory buffers go through the same code; only read_at
 * differs. */
#include "dk_ckpt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dk_ckpt_layout.h"
#include "dk_ckpt_table.h"
#include "../common/dk_crc32c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint tensors are stored little-endian and read without conversion"
#endif

enum {
    VERIFY_BUFFER = 4 << 20,
    /* Linux moves at most about 2 GiB per read call; smaller pieces keep that explicit. */
    READ_PIECE = 1 << 30,
};

struct dk_ckpt_reader {
    char *label;
    int fd;                     /* -1 for a memory source */
    const unsigned char *memory;
    uint64_t size;              /* of the file or buffer */
    uint64_t data_start;        /* 40 + manifest length */
    uint64_t data_bytes;
    Dk__Manifest *manifest;
    const Dk__Tensor **by_name; /* manifest->n_tensors entries, sorted by name */
};

/* dst = bytes [at, at + n) of the source; the callers only ask for ranges the header
 * and the table checks have placed inside the source's size. */
static dk_err read_at(const dk_ckpt_reader *r, uint64_t at, void *dst, size_t n)
{
    if (at > r->size || n > r->size - at)
        DK_ERROR(DK_ERR_INTERNAL, "%s: read of %zu bytes at %" PRIu64 " past the end (%" PRIu64 " bytes)", r->label,
                 n, at, r->size);
    if (r->fd < 0) {
        if (n > 0)
            memcpy(dst, r->memory + at, n);
        return DK_OK;
    }
    unsigned char *p = dst;
    while (n > 0) {
        const size_t want = n < READ_PIECE ? n : READ_PIECE;
        const ssize_t got = pread(r->fd, p, want, (off_t)at);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            DK_ERROR(DK_ERR_IO, "%s: read failed at byte %" PRIu64 ": %s", r->label, at, strerror(errno));
        }
        if (got == 0)
            DK_ERROR(DK_ERR_DATA, "%s: the file ended at byte %" PRIu64 ", it had %" PRIu64
                     " bytes when opened (changed since?)", r->label, at, r->size);
        p += got;
        at += (uint64_t)got;
        n -= (size_t)got;
    }
    return DK_OK;
}

static dk_err read_manifest(dk_ckpt_reader *r, const dk_ckpt_header *h)
{
    dk_err err = DK_OK;
    unsigned char *bytes = NULL;
    /* Bounded twice over: by DK_CKPT_MAX_MANIFEST and by the file's real length. */
    const size_t m = (size_t)h->manifest_bytes;
    DK_CALL_GOTO(err, done, dk_calloc((void **)&bytes, m ? m : 1, 1, "the checkpoint manifest"));
    DK_CALL_GOTO(err, done, read_at(r, DK_CKPT_HEADER_BYTES, bytes, m));
    if (dk_crc32c(bytes, m) != h->manifest_crc) {
        err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "%s: manifest checksum mismatch", r->label);
        goto done;
    }
    /* protobuf-c allocates in proportion to the bytes it parses, so this too is bounded
     * by the manifest length. */
    r->manifest = dk__manifest__unpack(NULL, m, bytes);
    if (!r->manifest) {
        err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__, "%s: manifest does not parse as dk.Manifest", r->label);
        goto done;
    }
    if (r->manifest->format_version != h->version)
        err = dk_error_set(DK_ERR_DATA, __FILE__, __LINE__,
                           "%s: manifest format_version %" PRIu32 " differs from the header's %" PRIu32, r->label,
                           r->manifest->format_version, h->version);
done:
    free(bytes);
    return err;
}

static dk_err open_source(dk_ckpt_reader *r)
{
    unsigned char header_bytes[DK_CKPT_HEADER_BYTES];
    const size_t have = r->size < DK_CKPT_HEADER_BYTES ? (size_t)r->size : DK_CKPT_HEADER_BYTES;
    DK_CALL(read_at(r, 0, header_bytes, have));
    dk_ckpt_header h;
    DK_CALL(dk_ckpt_header_decode(&h, header_bytes, r->size, r->label));
    r->data_start = DK_CKPT_HEADER_BYTES + h.manifest_bytes;
    r->data_bytes = h.data_bytes;
    DK_CALL(read_manifest(r, &h));
    DK_CALL(dk_ckpt_table_check(r->manifest, r->data_bytes, r->label, &r->by_name));
    return DK_OK;
}

static dk_err reader_new(dk_ckpt_reader **out, const char *label)
{
    dk_ckpt_reader *r = NULL;
    DK_CALL(DK_CALLOC(r, 1, "a checkpoint reader"));
    r->fd = -1;
    const size_t n = strlen(label) + 1;
    dk_err err = dk_calloc((void **)&r->label, n, 1, "a checkpoint's name");
    if (err != DK_OK) {
        free(r);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    memcpy(r->label, label, n);
    *out = r;
    return DK_OK;
}

dk_err dk_ckpt_open_memory(dk_ckpt_reader **out, const void *data, size_t size, const char *label)
{
    *out = NULL;
    dk_ckpt_reader *r = NULL;
    DK_CALL(reader_new(&r, label ? label : "(memory)"));
    r->memory = data;
    r->size = size;
    dk_err err = open_source(r);
    if (err != DK_OK) {
        dk_ckpt_close(&r);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    *out = r;
    return DK_OK;
}

dk_err dk_ckpt_open(dk_ckpt_reader **out, const char *path)
{
    *out = NULL;
    dk_ckpt_reader *r = NULL;
    DK_CALL(reader_new(&r, path));
    dk_err err = DK_OK;
    /* O_NONBLOCK: a FIFO under a checkpoint's name must fail the regular-file check below,
     * not block the open waiting for a writer. Regular files ignore the flag. */
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (r->fd < 0) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot open checkpoint %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "cannot stat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = dk_error_set(DK_ERR_IO, __FILE__, __LINE__, "%s: not a regular file", path);
        goto fail;
    }
    r->size = (uint64_t)st.st_size;
    DK_CALL_GOTO(err, fail, open_source(r));
    *out = r;
    return DK_OK;
fail:
    dk_ckpt_close(&r);
    return err;
}

void dk_ckpt_close(dk_ckpt_reader **reader)
{
    dk_ckpt_reader *r = *reader;
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->manifest)
        dk__manifest__free_unpacked(r->manifest, NULL);
    free(r->by_name);
    free(r->label);
    free(r);
    *reader = NULL;
}

const Dk__Manifest *dk_ckpt_manifest(const dk_ckpt_reader *reader) { return reader->manifest; }
const char *dk_ckpt_label(const dk_ckpt_reader *reader) { return reader->label; }

const Dk__Tensor *dk_ckpt_find(const dk_ckpt_reader *reader, const char *name)
{
    return dk_ckpt_table_find(reader->by_name, reader->manifest->n_tensors, name);
}

static dk_err chunk_mismatch(const dk_ckpt_reader *r, const Dk__Tensor *t, size_t c)
{
    const Dk__Chunk *k = t->chunks[c];
    DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' chunk %zu (data bytes %" PRIu64 "..%" PRIu64 "): checksum mismatch",
             r->label, t->name, c, k->offset, k->offset + k->length - 1);
}

dk_err dk_ckpt_read_tensor(dk_ckpt_reader *reader, const char *name, dk_dtype dtype, size_t count, void *dst)
{
    const dk_ckpt_reader *r = reader;
    const Dk__Tensor *t = dk_ckpt_find(r, name);
    if (!t)
        DK_ERROR(DK_ERR_DATA, "%s: no tensor '%s'", r->label, name);
    if (t->dtype != dk_ckpt_dtype_to_proto(dtype))
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' is %s, %s was asked for", r->label, name,
                 dk_ckpt_proto_dtype_name(t->dtype), dk_dtype_name(dtype));
    const uint64_t elements = t->nbytes / dk_ckpt_proto_dtype_size(t->dtype);
    if (elements != count)
        DK_ERROR(DK_ERR_DATA, "%s: tensor '%s' has %" PRIu64 " elements, %zu were asked for", r->label, name,
                 elements, count);
    unsigned char *out = dst;
    for (size_t c = 0; c < t->n_chunks; c++) {
        const Dk__Chunk *k = t->chunks[c];
        unsigned char *piece = out + (k->offset - t->offset);
        DK_CALL(read_at(r, r->data_start + k->offset, piece, (size_t)k->length));
        if (dk_crc32c(piece, (size_t)k->length) != k->crc32c)
            DK_CALL(chunk_mismatch(r, t, c));
    }
    return DK_OK;
}

dk_err dk_ckpt_verify(dk_ckpt_reader *reader)
{
    const dk_ckpt_reader *r = reader;
    const size_t capacity = r->data_bytes < VERIFY_BUFFER ? (size_t)r->data_bytes : VERIFY_BUFFER;
    unsigned char *buffer = NULL;
    DK_CALL(dk_calloc((void **)&buffer, capacity, 1, "the checkpoint verification buffer"));
    dk_err err = DK_OK;
    for (size_t i = 0; i < r->manifest->n_tensors; i++) {
        const Dk__Tensor *t = r->manifest->tensors[i];
        for (size_t c = 0; c < t->n_chunks; c++) {
            const Dk__Chunk *k = t->chunks[c];
            uint32_t crc = 0;
            for (uint64_t done = 0; done < k->length;) {
                const size_t piece = k->length - done < capacity ? (size_t)(k->length - done) : capacity;
                DK_CALL_GOTO(err, out, read_at(r, r->data_start + k->offset + done, buffer, piece));
                crc = dk_crc32c_update(crc, buffer, piece);
                done += piece;
            }
            if (crc != k->crc32c)
                DK_CALL_GOTO(err, out, chunk_mismatch(r, t, c));
        }
    }
out:
    free(buffer);
    return err;
}

dk_err dk_ckpt_open_verified(const char *path, dk_ckpt_reader **out)
{
    DK_CALL(dk_ckpt_open(out, path));
    const dk_err err = dk_ckpt_verify(*out);
    if (err != DK_OK)
        dk_ckpt_close(out);
    return err;
}

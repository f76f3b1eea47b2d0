#include "dk_ckpt_layout.h"

#include <inttypes.h>
#include <string.h>

#include "../common/dk_crc32c.h"

enum {
    MAGIC_BYTES = 8,
    AT_VERSION = 8,
    AT_FLAGS = 12,
    AT_MANIFEST_BYTES = 16,
    AT_DATA_BYTES = 24,
    AT_MANIFEST_CRC = 32,
    AT_HEADER_CRC = 36,
};

/* Fields are assembled byte by byte: the layout is little-endian on any host. */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void dk_ckpt_header_encode(unsigned char out[DK_CKPT_HEADER_BYTES], const dk_ckpt_header *h)
{
    memcpy(out, DK_CKPT_MAGIC, MAGIC_BYTES);
    put32(out + AT_VERSION, h->version);
    put32(out + AT_FLAGS, h->flags);
    put64(out + AT_MANIFEST_BYTES, h->manifest_bytes);
    put64(out + AT_DATA_BYTES, h->data_bytes);
    put32(out + AT_MANIFEST_CRC, h->manifest_crc);
    put32(out + AT_HEADER_CRC, dk_crc32c(out, AT_HEADER_CRC));
}

dk_err dk_ckpt_header_decode(dk_ckpt_header *h, const unsigned char *bytes, uint64_t file_size,
                             const char *label)
{
    /* A short file whose bytes all agree with the magic is a truncated checkpoint; any
     * disagreement means it never was one. */
    const size_t have = file_size < MAGIC_BYTES ? (size_t)file_size : MAGIC_BYTES;
    if (memcmp(bytes, DK_CKPT_MAGIC, have) != 0)
        DK_ERROR(DK_ERR_DATA, "%s: not a distkan checkpoint (bad magic)", label);
    if (file_size < DK_CKPT_HEADER_BYTES)
        DK_ERROR(DK_ERR_DATA, "%s: truncated: %" PRIu64 " bytes, shorter than the %d-byte header", label,
                 file_size, DK_CKPT_HEADER_BYTES);
    if (get32(bytes + AT_HEADER_CRC) != dk_crc32c(bytes, AT_HEADER_CRC))
        DK_ERROR(DK_ERR_DATA, "%s: header checksum mismatch", label);

    *h = (dk_ckpt_header){
        .version = get32(bytes + AT_VERSION),
        .flags = get32(bytes + AT_FLAGS),
        .manifest_bytes = get64(bytes + AT_MANIFEST_BYTES),
        .data_bytes = get64(bytes + AT_DATA_BYTES),
        .manifest_crc = get32(bytes + AT_MANIFEST_CRC),
    };
    if (h->version != DK_CKPT_FORMAT_VERSION)
        DK_ERROR(DK_ERR_DATA, "%s: format version %" PRIu32 ", this distkan reads version %d", label, h->version,
                 DK_CKPT_FORMAT_VERSION);
    if (h->flags != 0)
        DK_ERROR(DK_ERR_DATA, "%s: header flags 0x%" PRIx32 " set, this distkan knows none", label, h->flags);
    if (h->manifest_bytes > DK_CKPT_MAX_MANIFEST)
        DK_ERROR(DK_ERR_DATA, "%s: the header says the manifest is %" PRIu64 " bytes, more than the %" PRIu64
                 "-byte limit", label, h->manifest_bytes, DK_CKPT_MAX_MANIFEST);
    const uint64_t before_data = DK_CKPT_HEADER_BYTES + h->manifest_bytes;
    if (h->data_bytes > UINT64_MAX - before_data)
        DK_ERROR(DK_ERR_DATA, "%s: the header says the data region is %" PRIu64 " bytes, more than any file holds",
                 label, h->data_bytes);
    const uint64_t total = before_data + h->data_bytes;
    if (file_size < total)
        DK_ERROR(DK_ERR_DATA, "%s: truncated: %" PRIu64 " bytes, the header says %" PRIu64, label, file_size, total);
    if (file_size > total)
        DK_ERROR(DK_ERR_DATA, "%s: %" PRIu64 " bytes, the header says %" PRIu64 ": trailing bytes after the data",
                 label, file_size, total);
    return DK_OK;
}

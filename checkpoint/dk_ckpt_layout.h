/* The fixed 40-byte header of a checkpoint file (layout in dk_ckpt_file.h), shared by the
 * writer and the reader; internal to checkpoint/. */
#ifndef DK_CKPT_LAYOUT_H
#define DK_CKPT_LAYOUT_H

#include <stdint.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "checkpoint/dk_checkpoint.pb-c.h"
#include "dk_ckpt_file.h"

typedef struct dk_ckpt_header {
    uint32_t version;
    uint32_t flags;
    uint64_t manifest_bytes;
    uint64_t data_bytes;
    uint32_t manifest_crc;
} dk_ckpt_header;

/* out[0..40): magic, the fields little-endian, and the CRC-32C of bytes 0..35. */
void dk_ckpt_header_encode(unsigned char out[DK_CKPT_HEADER_BYTES], const dk_ckpt_header *h);

/* Checks the first min(file_size, 40) bytes of a file of file_size bytes, in the order
 * that gives the most useful message: magic, length >= 40, header CRC (before the version,
 * so a damaged version field reads as damage), version, flags, manifest bound, and that the
 * file is exactly 40 + M + D bytes. Messages start with "<label>: ". */
dk_err dk_ckpt_header_decode(dk_ckpt_header *h, const unsigned char *bytes, uint64_t file_size,
                             const char *label);

#endif

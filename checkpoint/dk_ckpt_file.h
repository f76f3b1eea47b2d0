/* One checkpoint file: writing it atomically and reading it back with every byte verified.
 *
 * Layout (all integers little-endian):
 *
 *   offset  size  field
 *        0     8  magic "\x89DKCKPT\n" (the high byte and the newline catch 7-bit and
 *                 text-mode mangling, as PNG's signature does)
 *        8     4  format version (DK_CKPT_FORMAT_VERSION)
 *       12     4  flags, 0 (reserved)
 *       16     8  manifest length M (bytes, <= DK_CKPT_MAX_MANIFEST)
 *       24     8  data length D (bytes)
 *       32     4  CRC-32C of the manifest bytes
 *       36     4  CRC-32C of header bytes 0..35
 *       40     M  manifest: dk.Manifest (checkpoint/dk_checkpoint.proto), protobuf
 *     40+M     D  data region: every tensor's bytes, in chunks of at most chunk_bytes,
 *                 each with its own CRC-32C in the manifest
 *
 * The file is exactly 40 + M + D bytes: anything shorter is truncated, anything longer is
 * rejected too. Tensors never go through protobuf, so no message approaches protobuf's
 * 2 GiB limit, and a corrupt chunk is named by tensor and byte range.
 *
 * Writing is crash-safe: the bytes go to a temporary file in the target's directory, which
 * is fsync'ed, renamed over the target name and the directory fsync'ed. A crash at any
 * point leaves either the old state or the complete new file, never a partial file under
 * the final name. */
#ifndef DK_CKPT_FILE_H
#define DK_CKPT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/dk_dtype.h"
#include "../common/dk_error.h"
#include "checkpoint/dk_checkpoint.pb-c.h"

enum {
    DK_CKPT_FORMAT_VERSION = 1,
    DK_CKPT_HEADER_BYTES = 40,
    DK_CKPT_MAX_DIMS = 4,
};
#define DK_CKPT_MAGIC "\x89" "DKCKPT\n"
/* Manifests hold metadata, the config and the tensor table: far below this. The bound
 * keeps a corrupt length field from asking for gigabytes. */
#define DK_CKPT_MAX_MANIFEST ((uint64_t)64 << 20)
/* Default chunk size: large enough that the manifest stays small (16 chunks per GiB),
 * small enough that a corrupt region is located precisely. */
#define DK_CKPT_DEFAULT_CHUNK_BYTES ((size_t)64 << 20)

/* A tensor to write: count = product of shape elements of dtype at data (host memory).
 * n_dims = 0 is a scalar (the empty product: 1 element); a 0 in shape makes an empty
 * tensor, stored with nbytes 0 and no chunks (data may then be NULL). */
typedef struct dk_ckpt_tensor_source {
    const char *name;
    dk_dtype dtype;
    int n_dims;
    uint64_t shape[DK_CKPT_MAX_DIMS];
    const void *data;
} dk_ckpt_tensor_source;

/* Writes `manifest` (every field but tensors, which this function fills in from the
 * sources and clears again before returning) and the tensors to `path` atomically, as
 * described above; chunk_bytes = 0 means DK_CKPT_DEFAULT_CHUNK_BYTES, and a size so small
 * that the chunks would fill more than half of DK_CKPT_MAX_MANIFEST is raised to the
 * smallest that does not (readers take any chunk size). Sets
 * manifest->format_version. Tensors are laid out in the order given, end to end; each
 * chunk's CRC is computed from memory before anything is written (the manifest precedes
 * the data), so the sources must not change during the call. On failure the temporary
 * file is removed and `path` is untouched, with one exception: when syncing the directory
 * fails after the rename, the new file is in place but may not survive a power loss, and
 * that is reported as an error.
 *
 * Manifest scalars follow proto3: a field equal to zero is not stored, and a double -0.0
 * reads back as +0.0 (protobuf-c compares by value). Tensor bytes are stored raw. */
dk_err dk_ckpt_write(const char *path, Dk__Manifest *manifest, const dk_ckpt_tensor_source *tensors, int n_tensors,
                     size_t chunk_bytes);

/* The manifest's element types, to and from distkan's. */
static inline Dk__DType dk_ckpt_dtype_to_proto(dk_dtype t) { return t == DK_F64 ? DK__DTYPE__F64 : DK__DTYPE__F32; }
static inline const char *dk_ckpt_proto_dtype_name(Dk__DType t)
{
    return t == DK__DTYPE__F64 ? "float64" : t == DK__DTYPE__F32 ? "float32" : "unknown dtype";
}
static inline size_t dk_ckpt_proto_dtype_size(Dk__DType t)
{
    return t == DK__DTYPE__F64 ? 8 : t == DK__DTYPE__F32 ? 4 : 0;
}

typedef struct dk_ckpt_reader dk_ckpt_reader;

/* Opens a checkpoint: checks the magic, header CRC, version, the file length, the manifest
 * CRC, unpacks the manifest and checks that the tensor table is consistent (names unique
 * and non-empty, known dtypes, nbytes = elements x size, chunks tiling each tensor in order
 * inside the data region, no two tensors overlapping and no data byte outside a tensor, so
 * that every byte of the file is under some CRC). Tensor bytes are not read yet. Every
 * error names the file and the part that failed: "header", "manifest", or the tensor and
 * chunk. Damaged files are DK_ERR_DATA, failures of the system (open, read) DK_ERR_IO. */
dk_err dk_ckpt_open(dk_ckpt_reader **out, const char *path);
/* The same on a buffer (the fuzz target); `label` stands for the file name in messages.
 * The buffer must outlive the reader. */
dk_err dk_ckpt_open_memory(dk_ckpt_reader **out, const void *data, size_t size, const char *label);
void dk_ckpt_close(dk_ckpt_reader **reader);

const Dk__Manifest *dk_ckpt_manifest(const dk_ckpt_reader *reader);
const char *dk_ckpt_label(const dk_ckpt_reader *reader);
/* The tensor named `name`, or NULL. */
const Dk__Tensor *dk_ckpt_find(const dk_ckpt_reader *reader, const char *name);

/* Reads tensor `name` into dst after checking that it exists with this dtype and exactly
 * `count` elements; verifies the CRC of every chunk (the bytes are checked in dst, which
 * holds partial data after a failure). */
dk_err dk_ckpt_read_tensor(dk_ckpt_reader *reader, const char *name, dk_dtype dtype, size_t count, void *dst);

/* Verifies the CRC of every chunk of every tensor, reading through a bounded buffer. */
dk_err dk_ckpt_verify(dk_ckpt_reader *reader);

/* dk_ckpt_open, then dk_ckpt_verify: a reader only for a file whose every byte checks. */
dk_err dk_ckpt_open_verified(const char *path, dk_ckpt_reader **out);

#endif

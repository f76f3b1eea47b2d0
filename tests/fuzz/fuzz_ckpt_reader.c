/* libFuzzer target for the checkpoint reader (built and run by scripts/fuzz.sh).
 *
 * Any input goes through the same checks as a file on disk (dk_ckpt_open_memory shares
 * every one with dk_ckpt_open): either it is rejected with an error, or it opens, and then
 * verification and reading every tensor into a buffer sized from the validated table must
 * not crash, leak or read out of bounds. The invariants the reader promises after a
 * successful open are checked here too; a broken one aborts, which the fuzzer reports.
 *
 * Checksums make a format hard to fuzz: nearly every mutation fails the header or
 * manifest CRC and goes no deeper. So each input is also tried a second time with those
 * two CRCs recomputed (in a copy, here in the harness; the reader has no switch for it),
 * which lets mutations reach the manifest parser and the tensor table checks. Chunk CRCs
 * need no such help: a bad one fails only after the chunk was read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint/dk_ckpt_file.h"
#include "common/dk_crc32c.h"

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_ckpt_reader: broken invariant: %s\n", what);
        abort();
    }
}

static void read_every_tensor(dk_ckpt_reader *r, size_t input_size)
{
    const Dk__Manifest *m = dk_ckpt_manifest(r);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const Dk__Tensor *t = m->tensors[i];
        require(dk_ckpt_find(r, t->name) == t, "find returns the table's tensor");
        require(t->dtype == DK__DTYPE__F32 || t->dtype == DK__DTYPE__F64, "known dtype");
        require(t->nbytes <= input_size, "a tensor fits in the input");
        const dk_dtype dtype = t->dtype == DK__DTYPE__F64 ? DK_F64 : DK_F32;
        const size_t count = (size_t)t->nbytes / dk_dtype_size(dtype);
        /* Exactly nbytes, so that the address sanitizer sees any write past them. */
        unsigned char *dst = malloc(t->nbytes ? (size_t)t->nbytes : 1);
        if (!dst)
            abort();
        const dk_err err = dk_ckpt_read_tensor(r, t->name, dtype, count, dst);
        require(err == DK_OK || err == DK_ERR_DATA, "reading fails only as bad data");
        /* The other dtype, and one element more, are refused before anything is read. */
        require(dk_ckpt_read_tensor(r, t->name, dtype == DK_F64 ? DK_F32 : DK_F64, count, dst) == DK_ERR_DATA,
                "a wrong dtype is refused");
        require(dk_ckpt_read_tensor(r, t->name, dtype, count + 1, dst) == DK_ERR_DATA,
                "a wrong count is refused");
        dk_error_clear();
        free(dst);
    }
}

static void try_input(const uint8_t *data, size_t size)
{
    dk_ckpt_reader *r = NULL;
    if (dk_ckpt_open_memory(&r, data, size, "fuzz") != DK_OK) {
        require(r == NULL, "a failed open returns no reader");
        require(dk_error_code() == DK_ERR_DATA, "a bad input is a data error");
        dk_error_clear();
        return;
    }
    const dk_err verified = dk_ckpt_verify(r);
    require(verified == DK_OK || verified == DK_ERR_DATA, "verification fails only as bad data");
    dk_error_clear();
    read_every_tensor(r, size);
    dk_ckpt_close(&r);
    require(r == NULL, "close clears the pointer");
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The header's manifest CRC (bytes 32..35) and its own CRC (36..39) made right for
 * whatever the mutated header and manifest now say (layout in dk_ckpt_file.h). */
static void fix_checksums(uint8_t *f, size_t size)
{
    uint64_t m = 0;
    for (int i = 0; i < 8; i++)
        m |= (uint64_t)f[16 + i] << (8 * i);
    if (m <= size - DK_CKPT_HEADER_BYTES)
        put32(f + 32, dk_crc32c(f + DK_CKPT_HEADER_BYTES, (size_t)m));
    put32(f + 36, dk_crc32c(f, 36));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_input(data, size);
    if (size >= DK_CKPT_HEADER_BYTES) {
        /* An exact-size copy, so that reads past its end are caught as they would be in data. */
        uint8_t *copy = malloc(size);
        if (!copy)
            abort();
        memcpy(copy, data, size);
        fix_checksums(copy, size);
        try_input(copy, size);
        free(copy);
    }
    return 0;
}

/* CRC-32C (Castagnoli): the checksum of every checkpoint header, manifest and data chunk.
 *
 * Parameters: reflected polynomial 0x82F63B78 (0x1EDC6F41 bit-reversed), initial value
 * 0xFFFFFFFF, final XOR 0xFFFFFFFF; dk_crc32c("123456789", 9) = 0xE3069283. Castagnoli's
 * polynomial rather than zlib's because it detects more error patterns at the lengths we
 * use (Castagnoli et al. 1993) and x86 computes it in hardware (SSE4.2 crc32).
 *
 * Incremental convention (the one zlib's crc32() uses): the running value is always a
 * finished CRC. Start from 0, feed the pieces in order:
 *
 *   uint32_t crc = 0;
 *   crc = dk_crc32c_update(crc, a, na);
 *   crc = dk_crc32c_update(crc, b, nb);   // == dk_crc32c(a || b, na + nb)
 *
 * so a CRC can be continued without knowing whether the previous piece was the first. */
#ifndef DK_CRC32C_H
#define DK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of the bytes seen so far followed by p[0..n); crc = 0 before the first byte. */
uint32_t dk_crc32c_update(uint32_t crc, const void *p, size_t n);

/* dk_crc32c_update(0, p, n). */
uint32_t dk_crc32c(const void *p, size_t n);

/* The portable table-driven path (slicing by 8), whatever the build. dk_crc32c_update uses
 * the SSE4.2 instruction when the compiler targets it and this otherwise; both compute the
 * same function, which test_crc32c checks. */
uint32_t dk_crc32c_update_portable(uint32_t crc, const void *p, size_t n);

/* 1 when dk_crc32c_update runs on the SSE4.2 crc32 instruction, 0 when it is the
 * portable path. */
int dk_crc32c_hardware(void);

#endif

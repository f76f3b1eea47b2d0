#include "dk_crc32c.h"

#include <string.h>

#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the slicing-by-8 loop reads 8 bytes as one little-endian word"
#endif

/* crc32c_table[8][256], constant data: nothing to initialise, nothing to race on. */
#include "dk_crc32c_table.inc"

/* Internally the register holds the CRC before its final inversion; the public functions
 * invert on entry and exit, which is what makes the zlib-style convention of the header
 * (continue from a finished CRC) work. */
static uint32_t portable_raw(uint32_t c, const unsigned char *p, size_t n)
{
    /* Slicing by 8: a block of 8 bytes b0..b7 XORed into the register advances the CRC by
     * T7[b0] ^ T6[b1] ^ ... ^ T0[b7], where Tk[b] is the CRC step of byte b followed by k
     * zero bytes (CRC is linear over GF(2), so the bytes' contributions add). */
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        const uint32_t lo = (uint32_t)w ^ c, hi = (uint32_t)(w >> 32);
        c = crc32c_table[7][lo & 0xFF] ^ crc32c_table[6][(lo >> 8) & 0xFF] ^ crc32c_table[5][(lo >> 16) & 0xFF] ^
            crc32c_table[4][lo >> 24] ^ crc32c_table[3][hi & 0xFF] ^ crc32c_table[2][(hi >> 8) & 0xFF] ^
            crc32c_table[1][(hi >> 16) & 0xFF] ^ crc32c_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = crc32c_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

uint32_t dk_crc32c_update_portable(uint32_t crc, const void *p, size_t n)
{
    return ~portable_raw(~crc, p, n);
}

#ifdef __SSE4_2__
/* The crc32 instruction is exactly the register update above (reflected Castagnoli, no
 * inversions), 8 bytes per instruction. One dependency chain runs at about 8 bytes per 3
 * cycles: several GB/s, well above the disk a checkpoint goes to. */
static uint32_t hardware_raw(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}

uint32_t dk_crc32c_update(uint32_t crc, const void *p, size_t n) { return ~hardware_raw(~crc, p, n); }
int dk_crc32c_hardware(void) { return 1; }
#else
uint32_t dk_crc32c_update(uint32_t crc, const void *p, size_t n) { return ~portable_raw(~crc, p, n); }
int dk_crc32c_hardware(void) { return 0; }
#endif

uint32_t dk_crc32c(const void *p, size_t n) { return dk_crc32c_update(0, p, n); }

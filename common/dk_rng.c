#include "dk_rng.h"

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t dk_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* Hash the key first, then walk a Weyl sequence by index: distinct (seed, stream)
     * pairs get unrelated starting points, consecutive indices stay well mixed. */
    uint64_t key = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ (stream * 0xd1b54a32d192ed03ULL));
    return mix64(key + (index + 1) * 0x9e3779b97f4a7c15ULL);
}

double dk_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(dk_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

uint64_t dk_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n)
{
    /* Multiply-shift with rejection: retries draw further along a private sub-index so
     * the result stays a pure function of (seed, stream, index). */
    uint64_t threshold = (0 - n) % n;
    for (uint64_t attempt = 0;; attempt++) {
        uint64_t x = dk_rng_u64(seed, stream ^ (attempt << 48), index);
        __uint128_t m = (__uint128_t)x * n;
        if ((uint64_t)m >= threshold)
            return (uint64_t)(m >> 64);
    }
}

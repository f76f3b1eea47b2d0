/* CRC-32C against published check values (the CRC catalogue's "123456789" and RFC 3720
 * appendix B.4), against a bit-at-a-time CRC written here from the definition, and the
 * incremental convention of the header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dk_crc32c.h"

/* The definition: register starts at all ones, each input bit (least significant first)
 * shifts the register right and XORs the reflected polynomial when the bit shifted out
 * differs from it, and the result is inverted. */
static uint32_t bitwise_crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            const uint32_t bit = (c ^ (uint32_t)(p[i] >> b)) & 1u;
            c = (c >> 1) ^ (bit ? 0x82F63B78u : 0u);
        }
    return ~c;
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)lcg(&seed);
}

static void test_published_check_values(void **state)
{
    (void)state;
    unsigned char zeros[32], ones[32], ascending[32], descending[32];
    for (int i = 0; i < 32; i++) {
        zeros[i] = 0x00;
        ones[i] = 0xFF;
        ascending[i] = (unsigned char)i;
        descending[i] = (unsigned char)(31 - i);
    }
    /* Each value through the public function, the portable path and the definition. */
    const struct {
        const void *p;
        size_t n;
        uint32_t crc;
    } cases[] = {
        {"123456789", 9, 0xE3069283u},  {zeros, 32, 0x8A9136AAu},     {ones, 32, 0x62A8AB43u},
        {ascending, 32, 0x46DD794Eu},   {descending, 32, 0x113FDB5Cu}, {"", 0, 0x00000000u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(dk_crc32c(cases[i].p, cases[i].n), cases[i].crc);
        assert_int_equal(dk_crc32c_update_portable(0, cases[i].p, cases[i].n), cases[i].crc);
        assert_int_equal(bitwise_crc32c(cases[i].p, cases[i].n), cases[i].crc);
    }
}

/* Every length 0..300 at every alignment 0..7 (the slicing loop's head and tail cases),
 * then a megabyte in one piece: every table entry is read hundreds of times there, so a
 * wrong entry cannot hide. */
static void test_portable_and_public_paths_match_the_definition(void **state)
{
    (void)state;
    enum { BIG = 1 << 20 };
    unsigned char *buf = malloc(BIG + 8);
    assert_non_null(buf);
    fill_random(buf, BIG + 8, 42);
    for (size_t align = 0; align < 8; align++)
        for (size_t n = 0; n <= 300; n++) {
            const uint32_t want = bitwise_crc32c(buf + align, n);
            assert_int_equal(dk_crc32c_update_portable(0, buf + align, n), want);
            assert_int_equal(dk_crc32c(buf + align, n), want);
        }
    const uint32_t want = bitwise_crc32c(buf + 3, BIG);
    assert_int_equal(dk_crc32c_update_portable(0, buf + 3, BIG), want);
    assert_int_equal(dk_crc32c(buf + 3, BIG), want);
    free(buf);
}

static void test_update_over_every_split_equals_one_shot(void **state)
{
    (void)state;
    enum { N = 1000 };
    unsigned char buf[N];
    fill_random(buf, N, 7);
    const uint32_t whole = bitwise_crc32c(buf, N);
    for (size_t split = 0; split <= N; split++) {
        assert_int_equal(dk_crc32c_update(dk_crc32c(buf, split), buf + split, N - split), whole);
        assert_int_equal(dk_crc32c_update_portable(dk_crc32c_update_portable(0, buf, split), buf + split,
                                                   N - split),
                         whole);
    }
    /* Three pieces, and empty pieces anywhere change nothing. */
    uint32_t c = dk_crc32c_update(0, buf, 0);
    c = dk_crc32c_update(c, buf, 333);
    c = dk_crc32c_update(c, buf + 333, 0);
    c = dk_crc32c_update(c, buf + 333, 334);
    c = dk_crc32c_update(c, buf + 667, N - 667);
    assert_int_equal(c, whole);
}

static void test_hardware_path_matches_portable(void **state)
{
    (void)state;
    if (!dk_crc32c_hardware()) {
        print_message("dk_crc32c_update is the portable path in this build (no SSE4.2): nothing to compare\n");
        skip();
    }
    enum { N = 4096 };
    unsigned char buf[N + 8];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        fill_random(buf, sizeof buf, seed);
        for (size_t align = 0; align < 8; align++)
            for (size_t n = 0; n <= N; n += 1 + n / 16) {
                const uint32_t start = (uint32_t)lcg(&seed);
                assert_int_equal(dk_crc32c_update(start, buf + align, n),
                                 dk_crc32c_update_portable(start, buf + align, n));
            }
    }
}

/* A checksum is only useful if it changes: every single-bit error in 64 bytes does. */
static void test_every_single_bit_flip_changes_the_crc(void **state)
{
    (void)state;
    unsigned char buf[64];
    fill_random(buf, sizeof buf, 3);
    const uint32_t clean = dk_crc32c(buf, sizeof buf);
    for (size_t bit = 0; bit < 8 * sizeof buf; bit++) {
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_not_equal(dk_crc32c(buf, sizeof buf), clean);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_check_values),
        cmocka_unit_test(test_portable_and_public_paths_match_the_definition),
        cmocka_unit_test(test_update_over_every_split_equals_one_shot),
        cmocka_unit_test(test_hardware_path_matches_portable),
        cmocka_unit_test(test_every_single_bit_flip_changes_the_crc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

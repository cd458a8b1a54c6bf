/* Unit test of CRC-32C (csrc/protect/crc32c.c).
 *
 * Golden values, chaining, and the hardware path (radrt_crc32c, radrt_crc32c_x3,
 * radrt_crc32c_blocks) against the always-compiled portable slicing-by-8 path
 * (radrt_crc32c_portable), which in turn is checked against a bit-at-a-time
 * reference, on every length 0..300 at random offsets. Buffers are malloc'd
 * with their exact length so AddressSanitizer catches any read past the end.
 * Both paths are exercised in the default build (x86 SSE4.2, or ARMv8 CRC under
 * `make test-aarch64`). To run every test with the portable path as radrt_crc32c
 * (radrt_crc32c_hw() == 0), build into a separate directory:
 *   make -C csrc test CC="cc -DRADRT_CRC32C_PORTABLE" OUT=../build/csrc-tests-portable
 *   make -C csrc test-aarch64 AARCH64_CC="aarch64-linux-gnu-gcc -DRADRT_CRC32C_PORTABLE" \
 *        OUT=../build/csrc-tests-portable
 * Exits non-zero on the first failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protect/crc32c.h"
#include "check.h"

static uint8_t *rand_bytes(size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd_u32();
    return p;
}

/* Bit at a time, straight from the definition. */
static uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void test_golden(void) {
    uint8_t zeros[32], ones[32];
    memset(zeros, 0, sizeof zeros);
    memset(ones, 0xff, sizeof ones);
    const struct { const void *data; size_t n; uint32_t want; } cases[] = {
        {"123456789", 9, 0xE3069283u}, {zeros, 32, 0x8A9136AAu}, {ones, 32, 0x62A8AB43u}, {"", 0, 0u},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *buf = malloc(cases[i].n ? cases[i].n : 1);
        memcpy(buf, cases[i].data, cases[i].n);
        CHECK(radrt_crc32c(0, buf, cases[i].n) == cases[i].want, "golden %zu: %08x", i,
              radrt_crc32c(0, buf, cases[i].n));
        CHECK(radrt_crc32c_portable(0, buf, cases[i].n) == cases[i].want, "golden portable %zu", i);
        CHECK(crc_bitwise(0, buf, cases[i].n) == cases[i].want, "golden bitwise %zu", i);
        free(buf);
    }
}

static void test_paths_agree(void) {
    for (size_t n = 0; n <= 300; n++) {
        for (int rep = 0; rep < 4; rep++) {
            size_t offset = rnd_u32() % 16;
            uint8_t *buf = rand_bytes(offset + n);
            const uint8_t *p = buf + offset;
            uint32_t seed = rep == 0 ? 0 : rnd_u32();
            uint32_t want = crc_bitwise(seed, p, n);
            CHECK(radrt_crc32c_portable(seed, p, n) == want, "portable n=%zu off=%zu", n, offset);
            CHECK(radrt_crc32c(seed, p, n) == want, "crc32c n=%zu off=%zu", n, offset);
            free(buf);
        }
    }
}

/* Long inputs (the hardware path splits them into interleaved stripes and
 * combines the stripe CRCs): lengths around multiples of 8, 24 and 96 KiB. */
static void test_long(void) {
    const size_t lengths[] = {8191, 24575, 24576, 24577, 24576 + 8, 49152 + 13, 98304, 98304 + 7, 250001};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t n = lengths[i], offset = rnd_u32() % 8;
        uint8_t *buf = rand_bytes(offset + n);
        uint32_t seed = rnd_u32(), want = crc_bitwise(seed, buf + offset, n);
        CHECK(radrt_crc32c(seed, buf + offset, n) == want, "long n=%zu", n);
        CHECK(radrt_crc32c_portable(seed, buf + offset, n) == want, "long portable n=%zu", n);
        free(buf);
    }
}

static void test_chaining(void) {
    for (int rep = 0; rep < 200; rep++) {
        size_t n = rnd_u32() % 5000, cut = n ? rnd_u32() % (n + 1) : 0;
        uint8_t *buf = rand_bytes(n);
        uint32_t whole = radrt_crc32c(0, buf, n);
        CHECK(radrt_crc32c(radrt_crc32c(0, buf, cut), buf + cut, n - cut) == whole, "chain n=%zu cut=%zu", n, cut);
        CHECK(radrt_crc32c_portable(radrt_crc32c_portable(0, buf, cut), buf + cut, n - cut) == whole,
              "portable chain n=%zu cut=%zu", n, cut);
        free(buf);
    }
}

static void test_x3(void) {
    for (size_t n = 0; n <= 300; n += 1 + n / 16) {
        uint8_t *a = rand_bytes(n), *b = rand_bytes(n), *c = rand_bytes(n);
        uint32_t got[4] = {0, 0, 0, 0xdeadbeefu};
        radrt_crc32c_x3(a, b, c, n, got);
        CHECK(got[0] == crc_bitwise(0, a, n) && got[1] == crc_bitwise(0, b, n) && got[2] == crc_bitwise(0, c, n),
              "x3 n=%zu", n);
        CHECK(got[3] == 0xdeadbeefu, "x3 wrote past crcs[2]");
        free(a), free(b), free(c);
    }
}

static void check_blocks(size_t nbytes, size_t block_size) {
    size_t nblocks = (nbytes + block_size - 1) / block_size;
    uint8_t *data = rand_bytes(nbytes);
    uint32_t *crcs = malloc((nblocks + 1) * sizeof *crcs);
    crcs[nblocks] = 0xdeadbeefu;
    radrt_crc32c_blocks(data, nbytes, block_size, crcs);
    for (size_t i = 0; i < nblocks; i++) {
        size_t off = i * block_size, len = nbytes - off < block_size ? nbytes - off : block_size;
        CHECK(crcs[i] == radrt_crc32c_portable(0, data + off, len), "blocks nbytes=%zu bs=%zu block %zu",
              nbytes, block_size, i);
    }
    CHECK(crcs[nblocks] == 0xdeadbeefu, "blocks nbytes=%zu bs=%zu wrote past the last block", nbytes, block_size);
    free(data), free(crcs);
}

static void test_blocks(void) {
    const size_t sizes[] = {1, 3, 8, 13, 64, 100, 4096};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t nblocks = 0; nblocks <= 8; nblocks++) {
            check_blocks(nblocks * sizes[s], sizes[s]);           /* all blocks full */
            check_blocks(nblocks * sizes[s] + sizes[s] / 2, sizes[s]);  /* last block half */
            check_blocks(nblocks * sizes[s] + 1, sizes[s]);       /* last block one byte */
        }
    check_blocks(5, 4096); /* one short block */
}

int main(void) {
    printf("crc32c hardware path: %d\n", radrt_crc32c_hw());
    test_golden();
    test_paths_agree();
    test_long();
    test_chaining();
    test_x3();
    test_blocks();
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("crc32c ok\n");
    return 0;
}

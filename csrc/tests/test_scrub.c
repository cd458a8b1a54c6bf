/* Unit test of the block scrubber (csrc/protect/scrub.c).
 *
 * Copies of random bytes (each malloc'd with its exact length, so
 * AddressSanitizer catches any access outside [0, nbytes)) with baseline CRCs
 * from radrt_crc32c_blocks; bits flipped in chosen copies and blocks; after
 * radrt_scrub_blocks the bytes and every report field are checked: one, two or
 * three copies corrupted in one block, the same bit in two copies (repaired from
 * the third, although the majority is wrong), three different bits (majority
 * verifies), the same bit in all three (uncorrectable), the short last block,
 * one and two copies, block ranges, and counters that accumulate over calls.
 * Exits non-zero on the first failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protect/crc32c.h"
#include "protect/scrub.h"
#include "check.h"

typedef struct {
    size_t nbytes, block_size, nblocks;
    int ncopies;
    uint8_t *clean, *copies[3];
    uint32_t *baseline;
} region;

static region make_region(size_t nbytes, size_t block_size, int ncopies) {
    region r = {nbytes, block_size, (nbytes + block_size - 1) / block_size, ncopies, malloc(nbytes), {0}, NULL};
    for (size_t i = 0; i < nbytes; i++) r.clean[i] = (uint8_t)rnd_u32();
    r.baseline = malloc((r.nblocks ? r.nblocks : 1) * sizeof(uint32_t));
    radrt_crc32c_blocks(r.clean, nbytes, block_size, r.baseline);
    for (int k = 0; k < ncopies; k++) {
        r.copies[k] = malloc(nbytes);
        memcpy(r.copies[k], r.clean, nbytes);
    }
    return r;
}

static void free_region(region *r) {
    for (int k = 0; k < r->ncopies; k++) free(r->copies[k]);
    free(r->clean), free(r->baseline);
}

/* Flips bit `bit` (0..7) of byte `byte` of block `block` in copy k. */
static void flip(region *r, int k, size_t block, size_t byte, int bit) {
    r->copies[k][block * r->block_size + byte] ^= (uint8_t)(1u << bit);
}

static radrt_scrub_report scrub_all(region *r) {
    radrt_scrub_report rep = {0, 0, 0, 0, 0, 0, 0};
    radrt_scrub_blocks(r->copies, r->ncopies, r->nbytes, r->block_size, r->baseline, 0, r->nblocks, &rep);
    return rep;
}

static int all_clean(const region *r) {
    for (int k = 0; k < r->ncopies; k++)
        if (memcmp(r->copies[k], r->clean, r->nbytes) != 0) return 0;
    return 1;
}

#define CHECK_REPORT(rep, checked, detected, corrected, uncorr, bad_block, bad_copy, uncorr_block)              \
    CHECK((rep).blocks_checked == (checked) && (rep).upsets_detected == (detected) &&                         \
              (rep).upsets_corrected == (corrected) && (rep).uncorrectable == (uncorr) &&                      \
              (rep).first_bad_block == (bad_block) && (rep).first_bad_copy == (bad_copy) &&                    \
              (rep).first_uncorrectable_block == (uncorr_block),                                               \
          "report checked=%llu detected=%llu corrected=%llu uncorrectable=%llu first_bad=%lld/%d "             \
          "first_uncorrectable=%lld",                                                                          \
          (unsigned long long)(rep).blocks_checked, (unsigned long long)(rep).upsets_detected,                 \
          (unsigned long long)(rep).upsets_corrected, (unsigned long long)(rep).uncorrectable,                 \
          (long long)(rep).first_bad_block, (rep).first_bad_copy, (long long)(rep).first_uncorrectable_block)

static void test_clean(void) {
    for (int ncopies = 1; ncopies <= 3; ncopies++) {
        region r = make_region(1000, 64, ncopies);
        radrt_scrub_report rep = scrub_all(&r);
        CHECK_REPORT(rep, (uint64_t)ncopies * 16, 0, 0, 0, -1, -1, -1);
        CHECK(all_clean(&r), "clean pass changed bytes");
        free_region(&r);
    }
}

/* Every non-empty set of the three copies corrupted in one block, each with a
 * different bit: one or two bad copies are repaired from a verifying one, three
 * from the majority (each bit is wrong in one copy only). */
static void test_three_copies_one_block(void) {
    for (unsigned set = 1; set < 8; set++) {
        region r = make_region(4096 + 100, 256, 3);
        size_t block = 7, byte = rnd_u32() % 256;
        int nbad = 0, first = -1;
        for (int k = 0; k < 3; k++)
            if (set >> k & 1) {
                flip(&r, k, block, byte, k);
                nbad++;
                if (first < 0) first = k;
            }
        radrt_scrub_report rep = scrub_all(&r);
        CHECK_REPORT(rep, 3 * 17, (uint64_t)nbad, (uint64_t)nbad, 0, 7, first, -1);
        CHECK(all_clean(&r), "set %u: not repaired", set);
        free_region(&r);
    }
}

static void test_same_bit_in_two_copies(void) {
    for (int good = 0; good < 3; good++) {
        region r = make_region(2048, 512, 3);
        for (int k = 0; k < 3; k++)
            if (k != good) flip(&r, k, 2, 100, 5);
        radrt_scrub_report rep = scrub_all(&r);
        CHECK_REPORT(rep, 12, 2, 2, 0, 2, good == 0 ? 1 : 0, -1);
        CHECK(all_clean(&r), "same bit in two copies (good copy %d): not repaired from the third", good);
        free_region(&r);
    }
}

static void test_same_bit_in_all_copies(void) {
    region r = make_region(2048, 512, 3);
    for (int k = 0; k < 3; k++) flip(&r, k, 1, 3, 0);
    uint8_t *corrupted = malloc(r.nbytes);
    memcpy(corrupted, r.copies[0], r.nbytes);
    radrt_scrub_report rep = scrub_all(&r);
    CHECK_REPORT(rep, 12, 3, 0, 1, 1, 0, 1);
    for (int k = 0; k < 3; k++)
        CHECK(memcmp(r.copies[k], corrupted, r.nbytes) == 0, "uncorrectable block: copy %d not the majority", k);
    free(corrupted);
    free_region(&r);
}

/* Copies 0 and 1 share a flip, copy 2 has another: nothing verifies and the
 * majority carries the shared flip, so the block is uncorrectable and all
 * three are left as the majority. */
static void test_wrong_majority(void) {
    region r = make_region(1024, 128, 3);
    flip(&r, 0, 4, 10, 1);
    flip(&r, 1, 4, 10, 1);
    flip(&r, 2, 4, 90, 6);
    uint8_t *majority = malloc(r.nbytes);
    memcpy(majority, r.clean, r.nbytes);
    majority[4 * 128 + 10] ^= 1u << 1;
    radrt_scrub_report rep = scrub_all(&r);
    CHECK_REPORT(rep, 24, 3, 0, 1, 4, 0, 4);
    for (int k = 0; k < 3; k++)
        CHECK(memcmp(r.copies[k], majority, r.nbytes) == 0, "wrong majority: copy %d not the majority", k);
    free(majority);
    free_region(&r);
}

static void test_short_last_block(void) {
    for (int k = 0; k < 3; k++) {
        region r = make_region(10 * 100 + 13, 100, 3); /* 11 blocks, the last 13 bytes */
        flip(&r, k, 10, 12, 7);
        radrt_scrub_report rep = scrub_all(&r);
        CHECK_REPORT(rep, 33, 1, 1, 0, 10, k, -1);
        CHECK(all_clean(&r), "short last block, copy %d: not repaired", k);
        free_region(&r);
    }
}

static void test_one_and_two_copies(void) {
    region one = make_region(999, 100, 1);
    flip(&one, 0, 9, 98, 3);
    uint8_t *corrupted = malloc(one.nbytes);
    memcpy(corrupted, one.copies[0], one.nbytes);
    radrt_scrub_report rep = scrub_all(&one);
    CHECK_REPORT(rep, 10, 1, 0, 1, 9, 0, 9);
    CHECK(memcmp(one.copies[0], corrupted, one.nbytes) == 0, "one copy: bytes changed");
    free(corrupted);
    free_region(&one);

    for (int k = 0; k < 2; k++) {
        region two = make_region(999, 100, 2);
        flip(&two, k, 3, 0, 0);
        rep = scrub_all(&two);
        CHECK_REPORT(rep, 20, 1, 1, 0, 3, k, -1);
        CHECK(all_clean(&two), "two copies, copy %d bad: not repaired", k);
        free_region(&two);
    }

    region two = make_region(999, 100, 2);
    flip(&two, 0, 5, 1, 1);
    flip(&two, 1, 5, 2, 2);
    uint8_t *before[2] = {malloc(two.nbytes), malloc(two.nbytes)};
    for (int k = 0; k < 2; k++) memcpy(before[k], two.copies[k], two.nbytes);
    rep = scrub_all(&two);
    CHECK_REPORT(rep, 20, 2, 0, 1, 5, 0, 5);
    for (int k = 0; k < 2; k++) {
        CHECK(memcmp(two.copies[k], before[k], two.nbytes) == 0, "two copies both bad: copy %d changed", k);
        free(before[k]);
    }
    free_region(&two);
}

/* Only [first_block, first_block + nblocks) is checked, clamped to the blocks
 * that exist; counters add up over calls, first_* describe the last call. */
static void test_ranges_and_accumulation(void) {
    region r = make_region(1000, 100, 3);
    flip(&r, 1, 2, 5, 0);
    flip(&r, 2, 8, 5, 0);
    radrt_scrub_report rep = {0, 0, 0, 0, 0, 0, 0};
    radrt_scrub_blocks(r.copies, 3, r.nbytes, r.block_size, r.baseline, 3, 4, &rep); /* blocks 3..6: clean */
    CHECK_REPORT(rep, 12, 0, 0, 0, -1, -1, -1);
    radrt_scrub_blocks(r.copies, 3, r.nbytes, r.block_size, r.baseline, 6, 1000, &rep); /* 6..9 */
    CHECK_REPORT(rep, 24, 1, 1, 0, 8, 2, -1);
    radrt_scrub_blocks(r.copies, 3, r.nbytes, r.block_size, r.baseline, 10, 5, &rep); /* past the end */
    CHECK_REPORT(rep, 24, 1, 1, 0, -1, -1, -1);
    radrt_scrub_blocks(r.copies, 3, r.nbytes, r.block_size, r.baseline, 0, 0, &rep);
    CHECK_REPORT(rep, 24, 1, 1, 0, -1, -1, -1);
    radrt_scrub_blocks(r.copies, 3, r.nbytes, r.block_size, r.baseline, 0, 10, &rep);
    CHECK_REPORT(rep, 54, 2, 2, 0, 2, 1, -1);
    CHECK(all_clean(&r), "ranges: not repaired");
    free_region(&r);
}

/* Random flips in one copy of random regions are always corrected. */
static void test_random_single_copy(void) {
    for (int trial = 0; trial < 300; trial++) {
        int ncopies = 2 + (int)(rnd_u32() % 2), bad = (int)(rnd_u32() % (unsigned)ncopies);
        size_t block_size = 1 + rnd_u32() % 300, nbytes = 1 + rnd_u32() % 3000;
        region r = make_region(nbytes, block_size, ncopies);
        for (int f = 1 + (int)(rnd_u32() % 10); f > 0; f--) {
            size_t bit = rnd_u32() % (nbytes * 8);
            r.copies[bad][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        radrt_scrub_report rep = scrub_all(&r);
        CHECK(rep.upsets_detected == rep.upsets_corrected && rep.uncorrectable == 0 && all_clean(&r),
              "random trial %d: detected %llu corrected %llu", trial, (unsigned long long)rep.upsets_detected,
              (unsigned long long)rep.upsets_corrected);
        free_region(&r);
    }
}

int main(void) {
    test_clean();
    test_three_copies_one_block();
    test_same_bit_in_two_copies();
    test_same_bit_in_all_copies();
    test_wrong_majority();
    test_short_last_block();
    test_one_and_two_copies();
    test_ranges_and_accumulation();
    test_random_single_copy();
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("scrub ok\n");
    return 0;
}

/* Unit test of bitwise TMR voting (csrc/protect/vote.c).
 *
 * Random buffers of random lengths (0..2000, so every tail length and partial
 * last chunk occurs) at independent random offsets per replica, corrupted in
 * one replica, in two replicas in different words, or anywhere in all three;
 * radrt_vote3 and radrt_vote3_into are compared with a byte-wise reference
 * (majority, and the per-word report: a word is 8 bytes at a multiple of 8,
 * the n % 8 tail bytes one short word). Each replica sits in a malloc of its
 * exact extent, so AddressSanitizer catches any access outside [0, n).
 * Exits non-zero on the first failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protect/vote.h"
#include "check.h"

static void flip(uint8_t *p, size_t n) {
    size_t bit = rnd_u32() % (n * 8);
    p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Byte-wise reference: majority into `want`, report as the word-wise voter should give it. */
static radrt_vote_report reference(uint8_t *const rep[3], size_t n, uint8_t *want) {
    radrt_vote_report r = {0, 0, 0};
    for (size_t i = 0; i < n; i++)
        want[i] = (uint8_t)((rep[0][i] & rep[1][i]) | (rep[0][i] & rep[2][i]) | (rep[1][i] & rep[2][i]));
    for (size_t off = 0; off < n; off += 8) {
        size_t w = n - off < 8 ? n - off : 8;
        int ab = memcmp(rep[0] + off, rep[1] + off, w) == 0, ac = memcmp(rep[0] + off, rep[2] + off, w) == 0,
            bc = memcmp(rep[1] + off, rep[2] + off, w) == 0;
        if (ab && ac) continue;
        r.words_disagreeing++;
        r.no_majority += !ab && !ac && !bc;
        for (int k = 0; k < 3; k++)
            if (memcmp(rep[k] + off, want + off, w) != 0) r.odd_replicas |= 1u << k;
    }
    return r;
}

static int same_report(radrt_vote_report a, radrt_vote_report b) {
    return a.words_disagreeing == b.words_disagreeing && a.odd_replicas == b.odd_replicas &&
           a.no_majority == b.no_majority;
}

enum corruption { CLEAN, ONE_REPLICA, TWO_REPLICAS_DIFFERENT_WORDS, ANYWHERE };

/* Runs both voters on one random case; returns the reference report. */
static radrt_vote_report run_case(size_t n, enum corruption kind) {
    uint8_t *clean = malloc(n ? n : 1), *base[3], *rep[3], *copy[3], *want = malloc(n ? n : 1);
    size_t offset[3];
    for (size_t i = 0; i < n; i++) clean[i] = (uint8_t)rnd_u32();
    for (int k = 0; k < 3; k++) {
        offset[k] = rnd_u32() % 8;
        base[k] = malloc(offset[k] + n + (n == 0));
        rep[k] = base[k] + offset[k];
        memcpy(rep[k], clean, n);
    }
    int odd = (int)(rnd_u32() % 3), other = (odd + 1 + (int)(rnd_u32() % 2)) % 3;
    size_t nwords = (n + 7) / 8;
    if (n > 0 && kind == ONE_REPLICA)
        for (int f = 1 + (int)(rnd_u32() % 5); f > 0; f--) flip(rep[odd], n);
    if (n > 8 && kind == TWO_REPLICAS_DIFFERENT_WORDS) {
        size_t w1 = rnd_u32() % nwords, w2 = (w1 + 1 + rnd_u32() % (nwords - 1)) % nwords;
        flip(rep[odd] + 8 * w1, n - 8 * w1 < 8 ? n - 8 * w1 : 8);
        flip(rep[other] + 8 * w2, n - 8 * w2 < 8 ? n - 8 * w2 : 8);
    }
    if (n > 0 && kind == ANYWHERE)
        for (int f = (int)(rnd_u32() % 20); f > 0; f--) flip(rep[rnd_u32() % 3], n);

    radrt_vote_report want_report = reference(rep, n, want);
    if (kind == ONE_REPLICA || kind == TWO_REPLICAS_DIFFERENT_WORDS || kind == CLEAN)
        CHECK(memcmp(want, clean, n) == 0, "reference majority is not the clean value");

    for (int k = 0; k < 3; k++) {
        copy[k] = malloc(n ? n : 1);
        memcpy(copy[k], rep[k], n);
    }
    uint8_t *out = malloc(n ? n : 1);
    radrt_vote_report into = {0, 0, 0};
    radrt_vote3_into(rep[0], rep[1], rep[2], out, n, &into);
    CHECK(memcmp(out, want, n) == 0, "vote3_into n=%zu kind=%d: wrong majority", n, kind);
    CHECK(same_report(into, want_report), "vote3_into n=%zu kind=%d: report %llu/%u/%u, want %llu/%u/%u", n,
          kind, (unsigned long long)into.words_disagreeing, into.odd_replicas, into.no_majority,
          (unsigned long long)want_report.words_disagreeing, want_report.odd_replicas, want_report.no_majority);
    for (int k = 0; k < 3; k++) CHECK(memcmp(rep[k], copy[k], n) == 0, "vote3_into changed input %d", k);

    radrt_vote_report got = {0, 0, 0};
    radrt_vote3(rep[0], rep[1], rep[2], n, &got);
    for (int k = 0; k < 3; k++) CHECK(memcmp(rep[k], want, n) == 0, "vote3 n=%zu kind=%d: replica %d", n, kind, k);
    CHECK(same_report(got, want_report), "vote3 n=%zu kind=%d: report %llu/%u/%u, want %llu/%u/%u", n, kind,
          (unsigned long long)got.words_disagreeing, got.odd_replicas, got.no_majority,
          (unsigned long long)want_report.words_disagreeing, want_report.odd_replicas, want_report.no_majority);
    if (kind == ONE_REPLICA && n > 0) CHECK(got.odd_replicas == 1u << odd, "odd replica %d: %u", odd, got.odd_replicas);
    if (kind == TWO_REPLICAS_DIFFERENT_WORDS && n > 8)
        CHECK(got.odd_replicas == (1u << odd | 1u << other) && got.words_disagreeing == 2 && got.no_majority == 0,
              "two replicas %d,%d: %u", odd, other, got.odd_replicas);
    if (kind == CLEAN) CHECK(got.words_disagreeing == 0 && got.odd_replicas == 0, "clean buffers disagree");

    for (int k = 0; k < 3; k++) free(base[k]), free(copy[k]);
    free(clean), free(want), free(out);
    return want_report;
}

/* A word where all three differ pairwise, and a flip in the tail word. */
static void test_specific(void) {
    uint8_t a[21], b[21], c[21];
    memset(a, 0x5a, sizeof a);
    memcpy(b, a, sizeof a);
    memcpy(c, a, sizeof a);
    a[8] ^= 1, b[9] ^= 2, c[15] ^= 4; /* word 1: three different values, majority = clean */
    c[20] ^= 0x80;                    /* tail word (bytes 16..20) */
    radrt_vote_report r = {5, 0, 1};  /* counts are added, not reset */
    radrt_vote3(a, b, c, sizeof a, &r);
    CHECK(r.words_disagreeing == 5 + 2 && r.no_majority == 1 + 1 && r.odd_replicas == 7, "specific: %llu %u %u",
          (unsigned long long)r.words_disagreeing, r.no_majority, r.odd_replicas);
    for (size_t i = 0; i < sizeof a; i++)
        CHECK(a[i] == 0x5a && b[i] == 0x5a && c[i] == 0x5a, "specific: byte %zu not repaired", i);
}

int main(void) {
    for (int trial = 0; trial < 3000; trial++) {
        size_t n = trial < 300 ? (size_t)trial : rnd_u32() % 2001;
        run_case(n, (enum corruption)(trial % 4));
    }
    test_specific();
    if (failures) {
        printf("%d failures\n", failures);
        return 1;
    }
    printf("vote ok\n");
    return 0;
}

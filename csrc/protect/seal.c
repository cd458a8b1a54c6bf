/* Seals (see seal.h). The loop reads 16 words per step as one 8-lane vector of
 * 64-bit integers (GCC vector extensions: AVX-512 on x86-64 with -march=native,
 * NEON registers on aarch64, scalar elsewhere), accumulating per lane the words
 * and a running sum of them (no multiply); lanes are combined at the end. The tail (fewer than 16 words, and a partial last word) goes
 * through the scalar loop. Memory-bound: one read of the buffer. */
#include "seal.h"

#include <string.h>

typedef uint64_t v8u __attribute__((vector_size(64)));

static void seal_words(radrt_seal *seal, const uint8_t *p, size_t nbytes, uint64_t index0) {
    /* 64 bytes per step, read as 8 lanes of 64 bits: lane l holds word 2l in its low
     * half and word 2l + 1 in its high half, split by a mask and a shift (no widening
     * shuffle). Per half, A accumulates the words and R adds A before each step
     * (Fletcher's running sum), so after T steps SUM_t t w_t = (T - 1) A - R: the
     * index weighting costs adds only. Word i = 16 t + 2 l (+ 1). */
    size_t nwords = nbytes / 4, steps = nwords / 16, i = steps * 16;
    v8u a_lo = {0}, a_hi = {0}, r_lo = {0}, r_hi = {0};
    for (size_t t = 0; t < steps; t++) {
        v8u q;
        memcpy(&q, p + 64 * t, 64);
        r_lo += a_lo;
        r_hi += a_hi;
        a_lo += q & 0xffffffffu;
        a_hi += q >> 32;
    }
    uint64_t sum = 0, wsum = 0;
    for (int l = 0; l < 8; l++) {
        /* SUM_t (16 t + 2 l + 1 + index0) w = 16 (SUM_t t w) + (2 l + 1 + index0) A, and + 1 for hi */
        uint64_t tw_lo = steps ? (uint64_t)(steps - 1) * a_lo[l] - r_lo[l] : 0;
        uint64_t tw_hi = steps ? (uint64_t)(steps - 1) * a_hi[l] - r_hi[l] : 0;
        sum += a_lo[l] + a_hi[l];
        wsum += 16 * tw_lo + (uint64_t)(2 * l + 1 + index0) * a_lo[l];
        wsum += 16 * tw_hi + (uint64_t)(2 * l + 2 + index0) * a_hi[l];
    }
    for (; i < nwords; i++) {
        uint32_t w;
        memcpy(&w, p + 4 * i, 4);
        sum += w;
        wsum += (index0 + i + 1) * (uint64_t)w;
    }
    size_t tail = nbytes % 4;
    if (tail) {
        uint32_t w = 0;
        for (size_t k = 0; k < tail; k++) w |= (uint32_t)p[4 * nwords + k] << (8 * k);
        sum += w;
        wsum += (index0 + nwords + 1) * (uint64_t)w;
    }
    seal->sum += sum;
    seal->wsum += wsum;
}

void radrt_seal_add(radrt_seal *seal, const void *p, size_t nbytes, uint64_t index0) {
    seal_words(seal, (const uint8_t *)p, nbytes, index0);
}

void radrt_seal_copy(radrt_seal *seal, const void *src, void *dst, size_t nbytes) {
    /* Seal the source first, then copy: what lands in dst is checked later
     * against the caller's bytes, so an upset during the copy is caught. */
    seal->sum = seal->wsum = 0;
    seal_words(seal, (const uint8_t *)src, nbytes, 0);
    memcpy(dst, src, nbytes);
}

void radrt_seal_all(const radrt_sealed *t, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        t[k].seal->sum = t[k].seal->wsum = 0;
        seal_words(t[k].seal, (const uint8_t *)t[k].p, t[k].nbytes, 0);
    }
}

int64_t radrt_seal_verify(const radrt_sealed *t, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        radrt_seal s = {0, 0};
        seal_words(&s, (const uint8_t *)t[k].p, t[k].nbytes, 0);
        if (s.sum != t[k].seal->sum || s.wsum != t[k].seal->wsum) return k;
    }
    return -1;
}

int radrt_seal_equal(const radrt_sealed *a, const radrt_sealed *b, int64_t n) {
    for (int64_t k = 0; k < n; k++)
        if (a[k].seal->sum != b[k].seal->sum || a[k].seal->wsum != b[k].seal->wsum) return 0;
    return 1;
}

int radrt_seal_sums_match(const radrt_sealed *a, int64_t na, const radrt_sealed *b, int64_t nb) {
    uint64_t sa = 0, sb = 0;
    for (int64_t k = 0; k < na; k++) sa += a[k].seal->sum;
    for (int64_t k = 0; k < nb; k++) sb += b[k].seal->sum;
    return sa == sb;
}

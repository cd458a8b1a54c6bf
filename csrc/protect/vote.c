/* Bitwise majority voting of three replicas: see vote.h.
 *
 * The buffers are walked in chunks of VOTE_CHUNK bytes. Each chunk is first
 * compared with an OR-reduction of (a^b)|(a^c) over its bytes, a loop the
 * compiler vectorises; equal chunks (the normal case) are only read (vote3)
 * or copied from `a` (vote3_into). A chunk with a difference is voted word by
 * word: m = (x&y)|(x&z)|(y&z) on 8-byte words loaded with memcpy (any
 * alignment), the short tail word zero-padded in all three, so padding never
 * disagrees. radrt_vote3 writes only the words of a replica that differ from
 * the majority; radrt_vote3_into writes all n bytes of `out`.
 *
 * Invariants: nothing outside [0, n) of any buffer is read or written; the
 * result and the report depend only on the input bytes (deterministic).
 */
#include "vote.h"

#include <string.h>

#define VOTE_CHUNK 256

static int chunk_differs(const uint8_t *a, const uint8_t *b, const uint8_t *c, size_t len) {
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (uint8_t)((a[i] ^ b[i]) | (a[i] ^ c[i]));
    return diff != 0;
}

static inline uint64_t load_word(const uint8_t *p, size_t len) {
    uint64_t w = 0;
    memcpy(&w, p, len);
    return w;
}

/* Majority of one word of the three replicas; counts the disagreement. */
static uint64_t vote_word(uint64_t x, uint64_t y, uint64_t z, radrt_vote_report *report) {
    uint64_t m = (x & y) | (x & z) | (y & z);
    report->words_disagreeing++;
    report->odd_replicas |= (uint32_t)(x != m) | (uint32_t)(y != m) << 1 | (uint32_t)(z != m) << 2;
    report->no_majority += x != y && x != z && y != z;
    return m;
}

/* Votes [0, len) of a chunk word by word and writes the majority into dst[r]
 * (r = 0..2; NULL: nothing): everywhere when dst[r] is a separate buffer, only
 * where replica r differs from the majority when dst[r] is src[r] itself. */
static void vote_chunk(const uint8_t *const src[3], uint8_t *const dst[3], size_t len,
                       radrt_vote_report *report) {
    for (size_t off = 0; off < len; off += 8) {
        size_t w = len - off < 8 ? len - off : 8;
        uint64_t v[3], m;
        for (int r = 0; r < 3; r++) v[r] = load_word(src[r] + off, w);
        m = v[0] == v[1] && v[0] == v[2] ? v[0] : vote_word(v[0], v[1], v[2], report);
        for (int r = 0; r < 3; r++)
            if (dst[r] && (dst[r] != src[r] || v[r] != m)) memcpy(dst[r] + off, &m, w);
    }
}

void radrt_vote3(uint8_t *a, uint8_t *b, uint8_t *c, size_t n, radrt_vote_report *report) {
    for (size_t off = 0; off < n; off += VOTE_CHUNK) {
        size_t len = n - off < VOTE_CHUNK ? n - off : VOTE_CHUNK;
        if (!chunk_differs(a + off, b + off, c + off, len)) continue;
        const uint8_t *const src[3] = {a + off, b + off, c + off};
        uint8_t *const dst[3] = {a + off, b + off, c + off};
        vote_chunk(src, dst, len, report);
    }
}

void radrt_vote3_into(const uint8_t *a, const uint8_t *b, const uint8_t *c, uint8_t *out, size_t n,
                      radrt_vote_report *report) {
    for (size_t off = 0; off < n; off += VOTE_CHUNK) {
        size_t len = n - off < VOTE_CHUNK ? n - off : VOTE_CHUNK;
        if (!chunk_differs(a + off, b + off, c + off, len)) {
            memcpy(out + off, a + off, len);
            continue;
        }
        const uint8_t *const src[3] = {a + off, b + off, c + off};
        uint8_t *const dst[3] = {out + off, NULL, NULL};
        vote_chunk(src, dst, len, report);
    }
}

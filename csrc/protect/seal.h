/* Seals: the checksum abft chains from a tensor's producer to its consumers.
 *
 * A buffer of n bytes is read as little-endian 32-bit words w_0 .. w_{W-1},
 * W = ceil(n / 4), the last word zero-padded. Its seal is two 64-bit sums
 *     sum  = SUM_i w_i                 (mod 2^64)
 *     wsum = SUM_i (index0 + i + 1) w_i (mod 2^64)
 * where index0 is the word index of the first word within the whole tensor
 * (0 for a whole buffer). Both are sums of per-word terms, so a seal can be
 * accumulated in any order (a GEMM seals its output tile by tile as it stores
 * it) and the seals of two parts add up to the seal of the whole.
 *
 * What it detects: any change confined to one word (sum changes by the
 * word's difference, never 0 mod 2^64 for |difference| < 2^32); any change of
 * two words (sum catches unequal differences; equal and opposite ones change
 * wsum by (i - j) * d, not 0 mod 2^64 for tensors below 2^32 words); many
 * more, but not every multi-word pattern (it is not a CRC: CRC-32C guards the
 * weights at rest, where order does not matter and blocks are scrubbed).
 */
#ifndef RADRT_SEAL_H
#define RADRT_SEAL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t sum, wsum;
} radrt_seal;

/* Add the seal of [p, p + nbytes) (word index index0 onwards) into *seal. */
void radrt_seal_add(radrt_seal *seal, const void *p, size_t nbytes, uint64_t index0);

/* Seal src while copying it to dst (the copy-in of an input): *seal = seal(src). */
void radrt_seal_copy(radrt_seal *seal, const void *src, void *dst, size_t nbytes);

/* One tensor of a step: the buffer, its size, and its expected seal. */
typedef struct {
    const void *p;
    size_t nbytes;
    radrt_seal *seal;
} radrt_sealed;

/* Seal every buffer into its seal slot (producer side). */
void radrt_seal_all(const radrt_sealed *t, int64_t n);

/* 1 when every seal slot of a equals the one of b (same n), else 0. */
int radrt_seal_equal(const radrt_sealed *a, const radrt_sealed *b, int64_t n);

/* 1 when the plain sums of a's seals and of b's seals add up to the same value (mod 2^64):
 * the invariant of an op whose output words are its input words, moved (Concat,
 * Transpose, Split, a copy), else 0. */
int radrt_seal_sums_match(const radrt_sealed *a, int64_t na, const radrt_sealed *b, int64_t nb);

/* Index of the first buffer whose seal no longer matches, or -1 (consumer side). */
int64_t radrt_seal_verify(const radrt_sealed *t, int64_t n);

#endif

/* Bitwise triple-modular-redundancy voting of three replicas of a buffer.
 *
 * Units of comparison are 8-byte words at offsets 0, 8, 16, ... of the buffers;
 * when n is not a multiple of 8 the last n % 8 bytes form one short word (tail).
 * Deterministic; reads and writes only [0, n) of each buffer; any alignment.
 */
#ifndef RADRT_VOTE_H
#define RADRT_VOTE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t words_disagreeing;  /* 8-byte words (or tail bytes) where the three copies were not all equal */
    uint32_t odd_replicas;       /* bit r set when replica r disagreed with the majority somewhere */
    uint32_t no_majority;        /* count of words where all three copies differed pairwise */
} radrt_vote_report;

/* Bitwise majority of three buffers of n bytes; where they differ, writes the majority
 * into all three. Adds counts into *report. Fast path: when all three are equal (the
 * normal case) it only reads (compare in chunks of, e.g., 256 bytes with an OR-reduction
 * of (a^b)|(a^c) the compiler vectorises; only chunks with a difference are fixed word by
 * word). Buffers may have any alignment (use memcpy for unaligned 8-byte loads). */
void radrt_vote3(uint8_t *a, uint8_t *b, uint8_t *c, size_t n, radrt_vote_report *report);

/* Majority of three buffers written into `out` (a fourth buffer), same report.
 * `out` must not overlap a, b or c; a, b and c are only read. */
void radrt_vote3_into(const uint8_t *a, const uint8_t *b, const uint8_t *c, uint8_t *out, size_t n,
                      radrt_vote_report *report);

#endif

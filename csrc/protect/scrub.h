/* Scrubbing: verify copies of a memory region block by block against baseline
 * CRC-32C values and repair upsets from a verified copy or a verified majority.
 *
 * Counters in the report accumulate over calls (the caller zeroes them once);
 * the first_* fields describe the call that just returned: each call sets them
 * to -1 on entry and then to the first finding. Block indices are absolute
 * (block i covers bytes [i * block_size, (i + 1) * block_size) and is checked
 * against baseline[i]), not relative to first_block. Blocks past the end of the
 * copies are not checked; ncopies outside 1..3 or block_size 0 check nothing
 * (the Python side validates both).
 */
#ifndef RADRT_SCRUB_H
#define RADRT_SCRUB_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t blocks_checked;     /* block-copies checked */
    uint64_t upsets_detected;    /* block-copies whose CRC did not match the baseline */
    uint64_t upsets_corrected;   /* of those, repaired (the block-copy now matches its baseline) */
    uint64_t uncorrectable;      /* blocks with no copy that verifies and no majority that verifies */
    int64_t  first_bad_block;    /* -1 if none: first block index (in this call) with a detected upset */
    int32_t  first_bad_copy;     /* -1 if none */
    int64_t  first_uncorrectable_block; /* -1 if none */
} radrt_scrub_report;

/* Verify blocks [first_block, first_block + nblocks) of `ncopies` (1..3) equally long
 * copies of the same bytes against baseline CRCs, and repair:
 * - a copy whose block CRC mismatches is overwritten from a copy whose block verifies;
 * - if no copy verifies and ncopies == 3, the bitwise majority of the three is computed
 *   (into copies[0]'s block), and if ITS CRC verifies it is copied to all copies
 *   (corrected), else the block is uncorrectable (left as the majority in all copies);
 * - with ncopies <= 2 and no verifying copy: uncorrectable, bytes left as they are.
 * Adds counts into *report (does not zero it). Never reads or writes outside
 * [0, nbytes) of each copy. */
void radrt_scrub_blocks(uint8_t *const *copies, int ncopies, size_t nbytes, size_t block_size,
                        const uint32_t *baseline, size_t first_block, size_t nblocks,
                        radrt_scrub_report *report);

#endif

/* Scrubbing of replicated memory regions: see scrub.h.
 *
 * For each block b in the requested range (clamped to the blocks that exist,
 * ceil(nbytes / block_size)), bytes [b * block_size, min((b + 1) * block_size,
 * nbytes)) of every copy are CRC-32C'd (three copies through the interleaved
 * radrt_crc32c_x3) and compared with baseline[b]. A clean block is only read.
 * Repair, in order of preference:
 * 1. some copy verifies: every copy that does not is overwritten from the first
 *    copy that does (identical bytes, so it now verifies);
 * 2. none verifies and there are three copies: the bitwise majority is voted
 *    into all three (radrt_vote3); corrected if it verifies, else uncorrectable;
 * 3. otherwise uncorrectable, the bytes left untouched.
 * An uncorrectable block is counted and reported, never hidden.
 *
 * Invariants: nothing outside [0, nbytes) of any copy is read or written (the
 * short last block is handled by its length); the outcome depends only on the
 * bytes and the baseline (deterministic); no allocation.
 */
#include "scrub.h"

#include <string.h>

#include "crc32c.h"
#include "vote.h"

static void block_crcs(uint8_t *const *copies, int ncopies, size_t off, size_t len, uint32_t crc[3]) {
    if (ncopies == 3) {
        radrt_crc32c_x3(copies[0] + off, copies[1] + off, copies[2] + off, len, crc);
        return;
    }
    for (int r = 0; r < ncopies; r++) crc[r] = radrt_crc32c(0, copies[r] + off, len);
}

static void mark_uncorrectable(radrt_scrub_report *report, size_t block) {
    report->uncorrectable++;
    if (report->first_uncorrectable_block < 0) report->first_uncorrectable_block = (int64_t)block;
}

static void scrub_block(uint8_t *const *copies, int ncopies, size_t block, size_t off, size_t len,
                        uint32_t want, radrt_scrub_report *report) {
    uint32_t crc[3];
    int good = -1, nbad = 0;
    block_crcs(copies, ncopies, off, len, crc);
    report->blocks_checked += (uint64_t)ncopies;
    for (int r = 0; r < ncopies; r++) {
        if (crc[r] == want) {
            if (good < 0) good = r;
            continue;
        }
        nbad++;
        if (report->first_bad_block < 0) {
            report->first_bad_block = (int64_t)block;
            report->first_bad_copy = r;
        }
    }
    if (nbad == 0) return;
    report->upsets_detected += (uint64_t)nbad;
    if (good >= 0) {
        for (int r = 0; r < ncopies; r++)
            if (crc[r] != want) memcpy(copies[r] + off, copies[good] + off, len);
        report->upsets_corrected += (uint64_t)nbad;
    } else if (ncopies == 3) {
        radrt_vote_report votes = {0, 0, 0};
        radrt_vote3(copies[0] + off, copies[1] + off, copies[2] + off, len, &votes);
        if (radrt_crc32c(0, copies[0] + off, len) == want)
            report->upsets_corrected += 3;
        else
            mark_uncorrectable(report, block);
    } else {
        mark_uncorrectable(report, block);
    }
}

void radrt_scrub_blocks(uint8_t *const *copies, int ncopies, size_t nbytes, size_t block_size,
                        const uint32_t *baseline, size_t first_block, size_t nblocks,
                        radrt_scrub_report *report) {
    report->first_bad_block = -1;
    report->first_bad_copy = -1;
    report->first_uncorrectable_block = -1;
    if (ncopies < 1 || ncopies > 3 || block_size == 0) return;
    size_t total = nbytes / block_size + (nbytes % block_size != 0);
    if (first_block >= total) return;
    size_t end = nblocks < total - first_block ? first_block + nblocks : total;
    for (size_t b = first_block; b < end; b++) {
        size_t off = b * block_size, len = nbytes - off < block_size ? nbytes - off : block_size;
        scrub_block(copies, ncopies, b, off, len, baseline[b], report);
    }
}

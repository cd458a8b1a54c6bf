/* CRC-32C (Castagnoli) of memory regions: the checksum behind scrubbing.
 *
 * Standard CRC-32C: reflected, polynomial 0x82F63B78, initial value and final
 * XOR 0xFFFFFFFF folded into the `crc` argument, so a fresh CRC starts from
 * crc = 0 and CRCs chain: radrt_crc32c(radrt_crc32c(0, a, n1), b, n2) is the
 * CRC of a||b. Check value of "123456789": 0xE3069283.
 *
 * Every function reads exactly the bytes it is given, nothing outside, and is
 * deterministic; the hardware and portable paths give identical results.
 */
#ifndef RADRT_CRC32C_H
#define RADRT_CRC32C_H
#include <stddef.h>
#include <stdint.h>

uint32_t radrt_crc32c(uint32_t crc, const void *data, size_t n);  /* standard CRC-32C (Castagnoli, reflected, poly 0x82F63B78); call with crc=0 for a fresh CRC; chaining: radrt_crc32c(radrt_crc32c(0,a,n1), b, n2) == crc of a||b. Check value of "123456789" is 0xE3069283. */
int radrt_crc32c_hw(void);   /* 1 when the hardware instruction path is compiled in and used */
void radrt_crc32c_blocks(const uint8_t *data, size_t nbytes, size_t block_size, uint32_t *crcs); /* crcs[i] = crc of block i; the last block may be short; nblocks = ceil(nbytes/block_size) */

/* The table-driven (slicing-by-8) implementation, always compiled: the
 * reference the hardware path is tested against, and the path radrt_crc32c
 * takes when the CPU has no CRC instruction or RADRT_CRC32C_PORTABLE is defined. */
uint32_t radrt_crc32c_portable(uint32_t crc, const void *data, size_t n);

/* Fresh CRCs of three equally long buffers: crcs[i] = radrt_crc32c(0, buffer i, n).
 * The hardware path runs the three CRC chains interleaved, which hides the
 * latency of the CRC instruction (one chain alone is latency bound). */
void radrt_crc32c_x3(const void *a, const void *b, const void *c, size_t n, uint32_t *crcs);

#endif

/* radrt C core: memory regions and byte-level helpers shared by every kernel.
 *
 * Every byte an inference depends on lives in a region allocated here
 * (64-byte aligned, zeroed), so the Python side can checksum, triplicate,
 * vote and fault-inject it by (region, byte offset, bit).
 *
 * Kernel contract (see README "Adding an op"): Python `prepare` validates
 * shapes, dtypes and attributes once; the C `invoke` functions trust their
 * arguments, allocate nothing, start no threads, and are deterministic
 * (same input bits give the same output bits on every run).
 */
#ifndef RADRT_CORE_H
#define RADRT_CORE_H
#include <stddef.h>
#include <stdint.h>

#define RADRT_MAX_DIMS 8

void *radrt_region_alloc(size_t nbytes);
void radrt_region_free(void *p);

/* Checked size arithmetic for the kernels' own scratch-size functions: the
 * product / sum of two sizes, or -1 when an operand is negative (an earlier
 * overflow, or a size that is not one) or the result overflows int64. -1
 * propagates, so a chain of them is checked once at its end. Python computes
 * every other size (runtime/sizes.py); these keep C from trusting a size it
 * computed itself. */
int64_t radrt_size_mul(int64_t a, int64_t b);
int64_t radrt_size_add(int64_t a, int64_t b);

/* Copy n bytes (graph outputs that alias inputs or constants). */
void radrt_copy(const void *src, void *dst, size_t nbytes);

/* Flip one bit of a byte in place (the fault-injection primitive). */
void radrt_flip_bit(void *base, size_t byte_offset, int bit);

/* Force one bit to 0 or 1 (stuck-at faults). */
void radrt_set_bit(void *base, size_t byte_offset, int bit, int value);

#endif

/* Region allocation and byte helpers: see core.h. */
#include "core.h"
#include <stdlib.h>
#include <string.h>

void *radrt_region_alloc(size_t nbytes) {
    size_t rounded = (nbytes + 63u) & ~(size_t)63u;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (p) memset(p, 0, rounded);
    return p;
}

void radrt_region_free(void *p) { free(p); }

void radrt_copy(const void *src, void *dst, size_t nbytes) {
    memmove(dst, src, nbytes);
}

void radrt_flip_bit(void *base, size_t byte_offset, int bit) {
    volatile uint8_t *b = (volatile uint8_t *)base + byte_offset;
    *b = (uint8_t)(*b ^ (uint8_t)(1u << (bit & 7)));
}

void radrt_set_bit(void *base, size_t byte_offset, int bit, int value) {
    volatile uint8_t *b = (volatile uint8_t *)base + byte_offset;
    uint8_t mask = (uint8_t)(1u << (bit & 7));
    *b = (uint8_t)(value ? (*b | mask) : (*b & (uint8_t)~mask));
}

int64_t radrt_size_mul(int64_t a, int64_t b) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return -1;
    return r;
}

int64_t radrt_size_add(int64_t a, int64_t b) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return -1;
    return r;
}

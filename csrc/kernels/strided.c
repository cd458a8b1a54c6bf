/* Strided N-d copy. Python coalesces the axes first (merging axes that are
 * contiguous in the source, dropping size-1 axes), so the common cases reach
 * one of three inner loops over the last axis (or last two):
 *   - source contiguous along the last axis: one memcpy per row (Slice with
 *     step 1, channel shuffle, the CNN transposes that keep W innermost);
 *   - source contiguous along the second-last axis only: a 2-D transpose in
 *     square tiles, so both the reads and the writes stay in cache;
 *   - anything else: an element loop with the source stride.
 * The outer axes are walked with an odometer. Elements are moved with
 * fixed-size memcpy, which compiles to single loads/stores and does not
 * depend on pointer alignment. Python proves every address it reaches lies
 * inside the source tensor. */
#include "strided.h"

#include <string.h>

#define TILE 16

#define ELEMENT_LOOP(SIZE)                                                        \
    for (int64_t i = 0; i < n; i++) memcpy(d + i * dstride, s + i * sstride, SIZE); \
    return;

/* Copy n elements of `size` bytes with the given byte strides. */
static void copy_elements(char *d, const char *s, int64_t n, int64_t dstride, int64_t sstride,
                          int64_t size) {
    switch (size) {
    case 1: ELEMENT_LOOP(1)
    case 2: ELEMENT_LOOP(2)
    case 4: ELEMENT_LOOP(4)
    case 8: ELEMENT_LOOP(8)
    default:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * dstride, s + i * sstride, (size_t)size);
    }
}

/* dst[a][b] (rows x cols, contiguous) = src[a * size + b * col_stride]. */
static void transpose_tiles(char *d, const char *s, int64_t rows, int64_t cols, int64_t col_stride,
                            int64_t size) {
    for (int64_t a0 = 0; a0 < rows; a0 += TILE) {
        int64_t a1 = a0 + TILE < rows ? a0 + TILE : rows;
        for (int64_t b0 = 0; b0 < cols; b0 += TILE) {
            int64_t b1 = b0 + TILE < cols ? b0 + TILE : cols;
            for (int64_t b = b0; b < b1; b++)
                copy_elements(d + (a0 * cols + b) * size, s + a0 * size + b * col_stride, a1 - a0,
                              cols * size, size, size);
        }
    }
}

void radrt_strided_copy(const void *src, void *dst, const radrt_strided_t *p) {
    const int64_t nd = p->ndim, size = p->itemsize;
    for (int64_t k = 0; k < nd; k++)
        if (p->shape[k] == 0) return;
    const int64_t cols = p->shape[nd - 1], col_stride = p->src_stride[nd - 1];
    const int blocked = nd >= 2 && col_stride != size && p->src_stride[nd - 2] == size;
    const int64_t outer_nd = blocked ? nd - 2 : nd - 1;
    const int64_t block = blocked ? p->shape[nd - 2] * cols * size : cols * size;
    int64_t rows = 1;
    for (int64_t k = 0; k < outer_nd; k++) rows *= p->shape[k];

    int64_t idx[RADRT_COPY_MAX_DIMS] = {0};
    const char *s = (const char *)src + p->src_offset;
    char *d = (char *)dst;
    for (int64_t r = 0; r < rows; r++, d += block) {
        if (blocked)
            transpose_tiles(d, s, p->shape[nd - 2], cols, col_stride, size);
        else if (col_stride == size)
            memcpy(d, s, (size_t)block);
        else
            copy_elements(d, s, cols, size, col_stride, size);
        for (int64_t k = outer_nd - 1; k >= 0; k--) {
            s += p->src_stride[k];
            if (++idx[k] < p->shape[k]) break;
            s -= p->src_stride[k] * p->shape[k];
            idx[k] = 0;
        }
    }
}

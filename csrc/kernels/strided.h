/* Strided N-d copy: the kernel behind Transpose, Slice, Expand and Tile.
 * dst is contiguous with shape `shape`; element i of dst comes from
 * src + src_offset + sum_d idx_d * src_stride[d] (byte strides, negative for
 * reversed slices, 0 for broadcast axes). Elements are `itemsize` bytes. */
#ifndef RADRT_STRIDED_H
#define RADRT_STRIDED_H
#include <stddef.h>
#include <stdint.h>

#define RADRT_COPY_MAX_DIMS 16

typedef struct {
    int64_t ndim;
    int64_t itemsize;
    int64_t src_offset;
    int64_t shape[RADRT_COPY_MAX_DIMS];
    int64_t src_stride[RADRT_COPY_MAX_DIMS];
} radrt_strided_t;

void radrt_strided_copy(const void *src, void *dst, const radrt_strided_t *p);

#endif

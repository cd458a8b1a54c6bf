/* Per-axis table copy: the kernel behind Pad (all modes) and nearest Resize.
 * dst is contiguous with shape `shape`; for output index o on axis d,
 * offsets[table_start[d] + o] is the byte offset that axis contributes in
 * src, or -1 when that output position is padding (then the element is the
 * `itemsize` bytes at `fill`). On the last axis, outputs [run_begin, run_end)
 * read consecutive source elements: one memcpy. */
#ifndef RADRT_PAD_H
#define RADRT_PAD_H
#include <stdint.h>

#include "../core.h"

typedef struct {
    int64_t ndim;
    int64_t itemsize;
    int64_t run_begin;
    int64_t run_end;
    int64_t shape[RADRT_MAX_DIMS];
    int64_t table_start[RADRT_MAX_DIMS];
} radrt_table_copy_t;

void radrt_table_copy(const void *src, void *dst, const int64_t *offsets, const void *fill,
                      const radrt_table_copy_t *p);

#endif

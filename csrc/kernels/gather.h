/* Gather along one axis: data viewed as (outer, axis_dim, inner_bytes),
 * indices (n_indices values, int32 or int64, negative counts from the end),
 * out as (outer, n_indices, inner_bytes). */
#ifndef RADRT_GATHER_H
#define RADRT_GATHER_H
#include <stdint.h>

/* Returns the number of out-of-range indices (0 on success). Every index is
 * checked before it is used: an out-of-range index never reads data; its
 * output slice is zero-filled (so the output is still deterministic).
 * A negative size (outer, axis_dim, inner_bytes, n_indices) touches no memory
 * and returns -1: Python checks sizes first (runtime.sizes), this is the
 * kernel's own guard against a length it would otherwise memset. */
int64_t radrt_gather(const void *data, const void *indices, int64_t index_is_int64, void *out,
                     int64_t outer, int64_t axis_dim, int64_t inner_bytes, int64_t n_indices);

#endif

/* Concat and Split along one axis, for any element size: the tensor is
 * `outer` rows, each row the concatenation of one block per part
 * (block_bytes[i] = dim_i * inner * itemsize). */
#ifndef RADRT_CONCAT_H
#define RADRT_CONCAT_H
#include <stdint.h>

void radrt_concat(const void *const *parts, const int64_t *block_bytes, int64_t nparts,
                  int64_t outer, void *dst);
/* A NULL part is an output nobody reads: skipped. */
void radrt_split(const void *src, void *const *parts, const int64_t *block_bytes, int64_t nparts,
                 int64_t outer);

#endif

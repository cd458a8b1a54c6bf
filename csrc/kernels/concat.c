/* Concat/Split: one memcpy per (row, part). For the CNN channel concat
 * (axis 1, batch 1) outer is 1 and each input is a single memcpy. Empty
 * parts (block 0) are never touched, so their pointers are never used. */
#include "concat.h"

#include <string.h>

void radrt_concat(const void *const *parts, const int64_t *block_bytes, int64_t nparts,
                  int64_t outer, void *dst) {
    char *d = (char *)dst;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nparts; i++) {
            if (block_bytes[i] == 0) continue;
            memcpy(d, (const char *)parts[i] + o * block_bytes[i], (size_t)block_bytes[i]);
            d += block_bytes[i];
        }
}

void radrt_split(const void *src, void *const *parts, const int64_t *block_bytes, int64_t nparts,
                 int64_t outer) {
    const char *s = (const char *)src;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < nparts; i++) {
            if (block_bytes[i] != 0 && parts[i] != NULL)
                memcpy((char *)parts[i] + o * block_bytes[i], s, (size_t)block_bytes[i]);
            s += block_bytes[i];
        }
}

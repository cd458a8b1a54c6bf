/* Gather: one memcpy of inner_bytes per (outer row, index). Indices are read
 * once per outer row and bounds-checked each time (runtime indices are
 * untrusted input); out-of-range ones are counted and give zero bytes. */
#include "gather.h"

#include <string.h>

int64_t radrt_gather(const void *data, const void *indices, int64_t index_is_int64, void *out,
                     int64_t outer, int64_t axis_dim, int64_t inner_bytes, int64_t n_indices) {
    const char *src = (const char *)data;
    char *d = (char *)out;
    int64_t bad = 0;
    if (outer < 0 || axis_dim < 0 || inner_bytes < 0 || n_indices < 0) return -1;
    for (int64_t o = 0; o < outer; o++) {
        const char *row = src + o * axis_dim * inner_bytes;
        for (int64_t j = 0; j < n_indices; j++, d += inner_bytes) {
            int64_t k = index_is_int64 ? ((const int64_t *)indices)[j]
                                       : (int64_t)((const int32_t *)indices)[j];
            if (k < 0) k += axis_dim;
            if (k < 0 || k >= axis_dim) {
                memset(d, 0, (size_t)inner_bytes);
                bad++;
                continue;
            }
            memcpy(d, row + k * inner_bytes, (size_t)inner_bytes);
        }
    }
    return bad;
}

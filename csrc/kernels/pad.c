/* Per-axis table copy. Python builds, per axis, the source byte offset of
 * every output position (reflect, edge and wrap padding, cropping by negative
 * pads, nearest-neighbour resampling all reduce to such tables) and checks
 * every entry lies inside the source; this loop only adds table entries.
 * Rows (all axes but the last) are walked with an odometer; a row whose
 * outer position is padding is filled whole, and a row reading the same source
 * row as the row before it (nearest upsampling) is a copy of that row. */
#include "pad.h"

#include <string.h>

static void fill_elements(char *d, const char *fill, int64_t n, int64_t size) {
    for (int64_t i = 0; i < n; i++) memcpy(d + i * size, fill, (size_t)size);
}

#define ROW_LOOP(SIZE)                                                              \
    for (int64_t j = 0; j < cols; j++) {                                            \
        if (j == run_begin && run_end > run_begin) {                                \
            memcpy(d + j * (SIZE), s + last[j], (size_t)((run_end - j) * (SIZE)));  \
            j = run_end - 1;                                                        \
        } else {                                                                    \
            memcpy(d + j * (SIZE), last[j] < 0 ? fill : s + last[j], (SIZE));       \
        }                                                                           \
    }                                                                               \
    return;

/* One output row: table lookups, the contiguous run as one memcpy. */
static void copy_row(char *d, const char *s, const int64_t *last, int64_t cols, int64_t run_begin,
                     int64_t run_end, const char *fill, int64_t size) {
    switch (size) {
    case 1: ROW_LOOP(1)
    case 2: ROW_LOOP(2)
    case 4: ROW_LOOP(4)
    case 8: ROW_LOOP(8)
    default: ROW_LOOP((size_t)size)
    }
}

void radrt_table_copy(const void *src, void *dst, const int64_t *offsets, const void *fill,
                      const radrt_table_copy_t *p) {
    const int64_t nd = p->ndim, size = p->itemsize;
    for (int64_t k = 0; k < nd; k++)
        if (p->shape[k] == 0) return;
    const int64_t cols = p->shape[nd - 1];
    const int64_t *last = offsets + p->table_start[nd - 1];
    int64_t rows = 1;
    for (int64_t k = 0; k < nd - 1; k++) rows *= p->shape[k];

    int64_t idx[RADRT_MAX_DIMS] = {0};
    int64_t prev_base = 0;
    int prev_pad = 1;
    char *d = (char *)dst;
    for (int64_t r = 0; r < rows; r++, d += cols * size) {
        int64_t base = 0;
        int pad_row = 0;
        for (int64_t k = 0; k < nd - 1; k++) {
            int64_t off = offsets[p->table_start[k] + idx[k]];
            if (off < 0) pad_row = 1;
            base += off;
        }
        if (pad_row) {
            fill_elements(d, (const char *)fill, cols, size);
        } else if (r > 0 && !prev_pad && base == prev_base) {
            /* the same source row as the row just written (nearest upsampling repeats
             * rows): the same bytes, copied whole */
            memcpy(d, d - cols * size, (size_t)(cols * size));
        } else {
            copy_row(d, (const char *)src + base, last, cols, p->run_begin, p->run_end,
                     (const char *)fill, size);
        }
        prev_base = base;
        prev_pad = pad_row;
        for (int64_t k = nd - 2; k >= 0; k--) {
            if (++idx[k] < p->shape[k]) break;
            idx[k] = 0;
        }
    }
}

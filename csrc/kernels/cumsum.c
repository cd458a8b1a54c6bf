/* CumSum (cumsum.h has the layout and the order of summation). One loop per type,
 * stamped out by a macro; ADD is the type's addition (wrapping for integers).
 * The scan walks the positions k of the axis through a signed step (+1, or -1
 * with reverse) from `first`; every pointer it forms is inside the tensor. */
#include "cumsum.h"

#include <stdint.h>

#include "typed.h"

#define DEFINE_CUMSUM(S, T, ADD)                                                                   \
    static void S##_cumsum(const T *x, T *y, int exclusive, int reverse, size_t outer, size_t len,  \
                           size_t inner) {                                                          \
        if (len == 0 || inner == 0) return;                                                         \
        const size_t first = reverse ? len - 1 : 0;                                                 \
        const ptrdiff_t step = reverse ? -(ptrdiff_t)inner : (ptrdiff_t)inner;                      \
        for (size_t o = 0; o < outer; o++) {                                                        \
            const T *xr = x + (o * len + first) * inner;                                            \
            T *yr = y + (o * len + first) * inner;                                                  \
            for (size_t j = 0; j < inner; j++) yr[j] = exclusive ? (T)0 : xr[j];                    \
            for (size_t k = 1; k < len; k++) {                                                      \
                const T *prev = yr;                                                                 \
                const T *add = exclusive ? xr : xr + step;                                          \
                xr += step;                                                                         \
                yr += step;                                                                         \
                for (size_t j = 0; j < inner; j++) yr[j] = ADD(prev[j], add[j]);                    \
            }                                                                                       \
        }                                                                                           \
    }

#define FADD(a, b) ((a) + (b))
#define ADD_U32(a, b) ((uint32_t)((uint32_t)(a) + (uint32_t)(b)))
#define ADD_U64(a, b) ((uint64_t)((uint64_t)(a) + (uint64_t)(b)))
#define ADD_I32(a, b) ((int32_t)ADD_U32(a, b))
#define ADD_I64(a, b) ((int64_t)ADD_U64(a, b))

DEFINE_CUMSUM(f32, float, FADD)
DEFINE_CUMSUM(f64, double, FADD)
DEFINE_CUMSUM(i32, int32_t, ADD_I32)
DEFINE_CUMSUM(u32, uint32_t, ADD_U32)
DEFINE_CUMSUM(i64, int64_t, ADD_I64)
DEFINE_CUMSUM(u64, uint64_t, ADD_U64)

int radrt_cumsum(const void *x, void *y, int dtype, int exclusive, int reverse, size_t outer, size_t len,
                 size_t inner) {
    switch (dtype) {
    case RADRT_T_F32: f32_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    case RADRT_T_F64: f64_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    case RADRT_T_I32: i32_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    case RADRT_T_U32: u32_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    case RADRT_T_I64: i64_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    case RADRT_T_U64: u64_cumsum(x, y, exclusive, reverse, outer, len, inner); return 0;
    default: return -1;
    }
}

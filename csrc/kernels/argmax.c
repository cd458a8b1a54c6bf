/* ArgMax / ArgMin (argmax.h has the semantics and the layout). One scan per
 * (type, compare), stamped out by a macro; the compare is a plain C relational
 * operator, false with a NaN operand. */
#include "argmax.h"

#include "typed.h"

#define GT(a, b) ((a) > (b))
#define GE(a, b) ((a) >= (b))
#define LT(a, b) ((a) < (b))
#define LE(a, b) ((a) <= (b))

/* y[o * inner + j] = index of the element that wins BETTER(candidate, best). */
#define DEFINE_SCAN(NAME, T, BETTER)                                                       \
    static void NAME(const T *x, int64_t *y, size_t outer, size_t len, size_t inner) {     \
        if (len == 0) return;                                                              \
        for (size_t o = 0; o < outer; o++) {                                               \
            const T *xo = x + o * len * inner;                                             \
            int64_t *yo = y + o * inner;                                                   \
            if (inner == 1) {                                                              \
                T best = xo[0];                                                            \
                size_t at = 0;                                                             \
                for (size_t k = 1; k < len; k++)                                           \
                    if (BETTER(xo[k], best)) {                                             \
                        best = xo[k];                                                      \
                        at = k;                                                            \
                    }                                                                      \
                yo[0] = (int64_t)at;                                                       \
                continue;                                                                  \
            }                                                                              \
            for (size_t j = 0; j < inner; j++) yo[j] = 0;                                  \
            for (size_t k = 1; k < len; k++) {                                             \
                const T *row = xo + k * inner;                                             \
                for (size_t j = 0; j < inner; j++)                                         \
                    if (BETTER(row[j], xo[(size_t)yo[j] * inner + j])) yo[j] = (int64_t)k; \
            }                                                                              \
        }                                                                                  \
    }

#define DEFINE_TYPE(S, T)                                                                           \
    DEFINE_SCAN(S##_max_first, T, GT)                                                               \
    DEFINE_SCAN(S##_max_last, T, GE)                                                                \
    DEFINE_SCAN(S##_min_first, T, LT)                                                               \
    DEFINE_SCAN(S##_min_last, T, LE)                                                                \
    static void S##_arg(const void *x, int64_t *y, int op, int last, size_t outer, size_t len,      \
                        size_t inner) {                                                             \
        const T *t = (const T *)x;                                                                  \
        if (op == RADRT_ARG_MAX)                                                                    \
            (last ? S##_max_last : S##_max_first)(t, y, outer, len, inner);                         \
        else                                                                                        \
            (last ? S##_min_last : S##_min_first)(t, y, outer, len, inner);                         \
    }

DEFINE_TYPE(f32, float)
DEFINE_TYPE(f64, double)
DEFINE_TYPE(i8, int8_t)
DEFINE_TYPE(u8, uint8_t)
DEFINE_TYPE(i16, int16_t)
DEFINE_TYPE(u16, uint16_t)
DEFINE_TYPE(i32, int32_t)
DEFINE_TYPE(u32, uint32_t)
DEFINE_TYPE(i64, int64_t)
DEFINE_TYPE(u64, uint64_t)

int radrt_arg_extreme(const void *x, int64_t *y, int dtype, int op, int select_last, size_t outer, size_t len,
                      size_t inner) {
    if (op != RADRT_ARG_MAX && op != RADRT_ARG_MIN) return -1;
    const int last = select_last != 0;
    switch (dtype) {
    case RADRT_T_F32: f32_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_F64: f64_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_I8: i8_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_U8: u8_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_I16: i16_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_U16: u16_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_I32: i32_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_U32: u32_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_I64: i64_arg(x, y, op, last, outer, len, inner); return 0;
    case RADRT_T_U64: u64_arg(x, y, op, last, outer, len, inner); return 0;
    default: return -1;
    }
}

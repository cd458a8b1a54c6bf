/* Elementwise ops on every numeric type (typed.h has the semantics). One generic
 * loop per (op, type), stamped out by macros: the output is walked row by row as in
 * elementwise.c (an odometer over the outer dims, innermost strides 0 or 1), and
 * each row loop reads a[i * sa], b[i * sb]. Integer arithmetic that may overflow is
 * done in an unsigned type of at least 32 bits and truncated (wraps, no undefined
 * behaviour). */
#include <math.h>
#include <string.h>

#include "typed.h"

/* Walk the broadcast output row by row: ROW(pa, pb, py, n, sa, sb) per row. */
#define BCAST_ROWS(T_A, T_Y, ROW)                                                    \
    do {                                                                             \
        const int last = p->ndim - 1;                                                \
        const size_t row = (size_t)p->shape[last];                                   \
        const int64_t sa = p->a_stride[last], sb = p->b_stride[last];                \
        size_t rows = 1;                                                             \
        for (int d = 0; d < last; d++) rows *= (size_t)p->shape[d];                  \
        if (row == 0 || rows == 0) return 0;                                         \
        int64_t idx[RADRT_MAX_DIMS] = {0};                                           \
        const T_A *pa = (const T_A *)a, *pb = (const T_A *)b;                        \
        T_Y *py = (T_Y *)y;                                                          \
        for (size_t r = 0; r < rows; r++) {                                          \
            ROW(pa, pb, py + r * row, row, sa, sb);                                  \
            for (int d = last - 1; d >= 0; d--) {                                    \
                pa += p->a_stride[d];                                                \
                pb += p->b_stride[d];                                                \
                if (++idx[d] < p->shape[d]) break;                                   \
                pa -= p->a_stride[d] * p->shape[d];                                  \
                pb -= p->b_stride[d] * p->shape[d];                                  \
                idx[d] = 0;                                                          \
            }                                                                        \
        }                                                                            \
        return 0;                                                                    \
    } while (0)

/* A row loop computing y[i] = EXPR(x, z) with x = a[i * sa], z = b[i * sb]. */
#define DEFINE_ROW(NAME, T_A, T_Y, EXPR)                                                       \
    static void NAME(const T_A *a, const T_A *b, T_Y *y, size_t n, int64_t sa, int64_t sb) {  \
        for (size_t i = 0; i < n; i++) {                                                       \
            const T_A x = a[(int64_t)i * sa], z = b[(int64_t)i * sb];                          \
            y[i] = (T_Y)(EXPR);                                                                \
        }                                                                                      \
    }

/* Integer helpers per type: wrapping add/sub/mul, safe div/mod, integer pow. */
#define COMMON_HELPERS(S, T, U)                                                      \
    static inline T S##_add(T x, T z) { return (T)((U)x + (U)z); }                   \
    static inline T S##_sub(T x, T z) { return (T)((U)x - (U)z); }                   \
    static inline T S##_mul(T x, T z) { return (T)((U)x * (U)z); }                   \
    static inline T S##_upow(T x, U k) {                                             \
        U r = 1, base = (U)x;                                                        \
        for (; k; k >>= 1) {                                                         \
            if (k & 1) r *= base;                                                    \
            base *= base;                                                            \
        }                                                                            \
        return (T)r;                                                                 \
    }

#define SIGNED_HELPERS(S, T, U, TMIN)                                                \
    COMMON_HELPERS(S, T, U)                                                          \
    static inline T S##_div(T x, T z) {                                              \
        if (z == 0) return 0;                                                        \
        if (x == (T)(TMIN) && z == -1) return x;                                     \
        return (T)(x / z);                                                           \
    }                                                                                \
    static inline T S##_fmod(T x, T z) {                                             \
        if (z == 0 || z == -1) return 0;                                             \
        return (T)(x % z);                                                           \
    }                                                                                \
    static inline T S##_mod(T x, T z) {                                              \
        T r = S##_fmod(x, z);                                                        \
        if (r != 0 && ((r < 0) != (z < 0))) r = (T)(r + z);                          \
        return r;                                                                    \
    }                                                                                \
    static inline T S##_pow(T x, T e) {                                              \
        if (e < 0) return x == 1 ? 1 : (x == -1 ? ((e & 1) ? -1 : 1) : 0);           \
        return S##_upow(x, (U)e);                                                    \
    }

#define UNSIGNED_HELPERS(S, T, U)                                                    \
    COMMON_HELPERS(S, T, U)                                                          \
    static inline T S##_div(T x, T z) { return z == 0 ? 0 : (T)(x / z); }            \
    static inline T S##_fmod(T x, T z) { return z == 0 ? 0 : (T)(x % z); }           \
    static inline T S##_mod(T x, T z) { return S##_fmod(x, z); }                     \
    static inline T S##_pow(T x, T e) { return S##_upow(x, (U)e); }

/* U: the unsigned type the arithmetic wraps in, at least 32 bits so that the
 * operands are not promoted to (signed) int, whose overflow is undefined. */
SIGNED_HELPERS(i8, int8_t, uint32_t, INT8_MIN)
UNSIGNED_HELPERS(u8, uint8_t, uint32_t)
SIGNED_HELPERS(i16, int16_t, uint32_t, INT16_MIN)
UNSIGNED_HELPERS(u16, uint16_t, uint32_t)
SIGNED_HELPERS(i32, int32_t, uint32_t, INT32_MIN)
UNSIGNED_HELPERS(u32, uint32_t, uint32_t)
SIGNED_HELPERS(i64, int64_t, uint64_t, INT64_MIN)
UNSIGNED_HELPERS(u64, uint64_t, uint64_t)

/* Comparison rows, the same for every type. */
#define COMPARE_ROWS(S, T)                                                                     \
    DEFINE_ROW(S##_row_eq, T, uint8_t, x == z)                                                 \
    DEFINE_ROW(S##_row_lt, T, uint8_t, x < z)                                                  \
    DEFINE_ROW(S##_row_gt, T, uint8_t, x > z)                                                  \
    DEFINE_ROW(S##_row_le, T, uint8_t, x <= z)                                                 \
    DEFINE_ROW(S##_row_ge, T, uint8_t, x >= z)

/* The dispatch of one type over the rows it defines; the variadic tail adds cases
 * (integer Mod). */
#define BINARY_DISPATCH(S, T, ...)                                                             \
    static int S##_binary(const radrt_bcast_t *p, int op, const void *a, const void *b, void *y) { \
        switch (op) {                                                                          \
        case RADRT_TOP_ADD: BCAST_ROWS(T, T, S##_row_add);                                     \
        case RADRT_TOP_SUB: BCAST_ROWS(T, T, S##_row_sub);                                     \
        case RADRT_TOP_MUL: BCAST_ROWS(T, T, S##_row_mul);                                     \
        case RADRT_TOP_DIV: BCAST_ROWS(T, T, S##_row_div);                                     \
        case RADRT_TOP_FMOD: BCAST_ROWS(T, T, S##_row_fmod);                                   \
        case RADRT_TOP_POW: BCAST_ROWS(T, T, S##_row_pow);                                     \
        case RADRT_TOP_MAX: BCAST_ROWS(T, T, S##_row_max);                                     \
        case RADRT_TOP_MIN: BCAST_ROWS(T, T, S##_row_min);                                     \
        case RADRT_TOP_EQ: BCAST_ROWS(T, uint8_t, S##_row_eq);                                 \
        case RADRT_TOP_LT: BCAST_ROWS(T, uint8_t, S##_row_lt);                                 \
        case RADRT_TOP_GT: BCAST_ROWS(T, uint8_t, S##_row_gt);                                 \
        case RADRT_TOP_LE: BCAST_ROWS(T, uint8_t, S##_row_le);                                 \
        case RADRT_TOP_GE: BCAST_ROWS(T, uint8_t, S##_row_ge);                                 \
        __VA_ARGS__                                                                            \
        default: return -1;                                                                    \
        }                                                                                      \
    }

/* Every op of one integer type: row loops and the dispatch. */
#define INT_TYPE(S, T)                                                                         \
    DEFINE_ROW(S##_row_add, T, T, S##_add(x, z))                                               \
    DEFINE_ROW(S##_row_sub, T, T, S##_sub(x, z))                                               \
    DEFINE_ROW(S##_row_mul, T, T, S##_mul(x, z))                                               \
    DEFINE_ROW(S##_row_div, T, T, S##_div(x, z))                                               \
    DEFINE_ROW(S##_row_mod, T, T, S##_mod(x, z))                                               \
    DEFINE_ROW(S##_row_fmod, T, T, S##_fmod(x, z))                                             \
    DEFINE_ROW(S##_row_pow, T, T, S##_pow(x, z))                                               \
    DEFINE_ROW(S##_row_max, T, T, x > z ? x : z)                                               \
    DEFINE_ROW(S##_row_min, T, T, x < z ? x : z)                                               \
    COMPARE_ROWS(S, T)                                                                         \
    BINARY_DISPATCH(S, T, case RADRT_TOP_MOD: BCAST_ROWS(T, T, S##_row_mod);)

INT_TYPE(i8, int8_t)
INT_TYPE(u8, uint8_t)
INT_TYPE(i16, int16_t)
INT_TYPE(u16, uint16_t)
INT_TYPE(i32, int32_t)
INT_TYPE(u32, uint32_t)
INT_TYPE(i64, int64_t)
INT_TYPE(u64, uint64_t)

/* Floating types: arithmetic for float64 (float32's is elementwise.c, but Mod
 * (fmod = 1) is here for both), comparisons for both. Max/Min propagate NaN. */
#define FLOAT_TYPE(S, T, FMOD, POW)                                                            \
    DEFINE_ROW(S##_row_add, T, T, x + z)                                                       \
    DEFINE_ROW(S##_row_sub, T, T, x - z)                                                       \
    DEFINE_ROW(S##_row_mul, T, T, x * z)                                                       \
    DEFINE_ROW(S##_row_div, T, T, x / z)                                                       \
    DEFINE_ROW(S##_row_fmod, T, T, FMOD(x, z))                                                 \
    DEFINE_ROW(S##_row_pow, T, T, POW(x, z))                                                   \
    DEFINE_ROW(S##_row_max, T, T, (x > z || x != x) ? x : z)                                   \
    DEFINE_ROW(S##_row_min, T, T, (x < z || x != x) ? x : z)                                   \
    COMPARE_ROWS(S, T)                                                                         \
    BINARY_DISPATCH(S, T)

FLOAT_TYPE(f32, float, fmodf, powf)
FLOAT_TYPE(f64, double, fmod, pow)

DEFINE_ROW(bool_row_and, uint8_t, uint8_t, x & z)
DEFINE_ROW(bool_row_or, uint8_t, uint8_t, x | z)
DEFINE_ROW(bool_row_xor, uint8_t, uint8_t, x ^ z)
DEFINE_ROW(bool_row_eq, uint8_t, uint8_t, x == z)

static int bool_binary(const radrt_bcast_t *p, int op, const void *a, const void *b, void *y) {
    switch (op) {
    case RADRT_TOP_AND: BCAST_ROWS(uint8_t, uint8_t, bool_row_and);
    case RADRT_TOP_OR: BCAST_ROWS(uint8_t, uint8_t, bool_row_or);
    case RADRT_TOP_XOR: BCAST_ROWS(uint8_t, uint8_t, bool_row_xor);
    case RADRT_TOP_EQ: BCAST_ROWS(uint8_t, uint8_t, bool_row_eq);
    default: return -1;
    }
}

int radrt_typed_binary(const radrt_bcast_t *p, int op, int dtype, const void *a, const void *b, void *y) {
    switch (dtype) {
    case RADRT_T_F32: return f32_binary(p, op, a, b, y);
    case RADRT_T_F64: return f64_binary(p, op, a, b, y);
    case RADRT_T_I8: return i8_binary(p, op, a, b, y);
    case RADRT_T_U8: return u8_binary(p, op, a, b, y);
    case RADRT_T_I16: return i16_binary(p, op, a, b, y);
    case RADRT_T_U16: return u16_binary(p, op, a, b, y);
    case RADRT_T_I32: return i32_binary(p, op, a, b, y);
    case RADRT_T_U32: return u32_binary(p, op, a, b, y);
    case RADRT_T_I64: return i64_binary(p, op, a, b, y);
    case RADRT_T_U64: return u64_binary(p, op, a, b, y);
    case RADRT_T_BOOL: return bool_binary(p, op, a, b, y);
    default: return -1;
    }
}

int radrt_typed_variadic(const radrt_bcast_t *steps, int op, int dtype, const void *const *inputs,
                         size_t n_inputs, void *y) {
    if (radrt_typed_binary(&steps[0], op, dtype, inputs[0], inputs[1], y)) return -1;
    for (size_t k = 2; k < n_inputs; k++)
        if (radrt_typed_binary(&steps[k - 1], op, dtype, y, inputs[k], y)) return -1;
    return 0;
}

void radrt_where(const radrt_where_t *p, size_t elem_size, const uint8_t *c, const void *x, const void *z,
                 void *y) {
    const int last = p->ndim - 1;
    const size_t row = (size_t)p->shape[last];
    size_t rows = 1;
    for (int d = 0; d < last; d++) rows *= (size_t)p->shape[d];
    if (row == 0 || rows == 0) return;
    const int64_t sc = p->c_stride[last], sx = p->x_stride[last], sz = p->z_stride[last];
    int64_t idx[RADRT_MAX_DIMS] = {0};
    int64_t oc = 0, ox = 0, oz = 0;  /* element offsets of the row's start */
    unsigned char *py = (unsigned char *)y;
    const unsigned char *bx = (const unsigned char *)x, *bz = (const unsigned char *)z;
    for (size_t r = 0; r < rows; r++) {
        for (size_t i = 0; i < row; i++) {
            const int64_t k = (int64_t)i;
            const unsigned char *src = c[oc + k * sc] ? bx + (size_t)(ox + k * sx) * elem_size
                                                      : bz + (size_t)(oz + k * sz) * elem_size;
            memcpy(py + (r * row + i) * elem_size, src, elem_size);
        }
        for (int d = last - 1; d >= 0; d--) {
            oc += p->c_stride[d];
            ox += p->x_stride[d];
            oz += p->z_stride[d];
            if (++idx[d] < p->shape[d]) break;
            oc -= p->c_stride[d] * p->shape[d];
            ox -= p->x_stride[d] * p->shape[d];
            oz -= p->z_stride[d] * p->shape[d];
            idx[d] = 0;
        }
    }
}

void radrt_not(const uint8_t *x, uint8_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = !x[i];
}

/* Sign (sign.h has the semantics): one branch-free loop per type. Signed integers
 * and floats take (x > 0) - (x < 0): 1, -1 or 0 (both compares are false for +-0
 * and NaN), and a NaN (x != x) keeps x itself; unsigned types take x != 0. */
#include "sign.h"

#include <stdint.h>

#include "typed.h"

#define DEFINE_INT(S, T)                                                         \
    static void S##_sign(const T *x, T *y, size_t n) {                           \
        for (size_t i = 0; i < n; i++) y[i] = (T)((x[i] > 0) - (x[i] < 0));      \
    }

#define DEFINE_UINT(S, T)                                                        \
    static void S##_sign(const T *x, T *y, size_t n) {                           \
        for (size_t i = 0; i < n; i++) y[i] = (T)(x[i] != 0);                    \
    }

#define DEFINE_FLOAT(S, T)                                                       \
    static void S##_sign(const T *x, T *y, size_t n) {                           \
        for (size_t i = 0; i < n; i++) {                                         \
            const T v = x[i];                                                    \
            y[i] = v != v ? v : (T)((v > 0) - (v < 0));                          \
        }                                                                        \
    }

DEFINE_FLOAT(f32, float)
DEFINE_FLOAT(f64, double)
DEFINE_INT(i8, int8_t)
DEFINE_UINT(u8, uint8_t)
DEFINE_INT(i16, int16_t)
DEFINE_UINT(u16, uint16_t)
DEFINE_INT(i32, int32_t)
DEFINE_UINT(u32, uint32_t)
DEFINE_INT(i64, int64_t)
DEFINE_UINT(u64, uint64_t)

int radrt_sign(const void *x, void *y, int dtype, size_t n) {
    switch (dtype) {
    case RADRT_T_F32: f32_sign(x, y, n); return 0;
    case RADRT_T_F64: f64_sign(x, y, n); return 0;
    case RADRT_T_I8: i8_sign(x, y, n); return 0;
    case RADRT_T_U8: u8_sign(x, y, n); return 0;
    case RADRT_T_I16: i16_sign(x, y, n); return 0;
    case RADRT_T_U16: u16_sign(x, y, n); return 0;
    case RADRT_T_I32: i32_sign(x, y, n); return 0;
    case RADRT_T_U32: u32_sign(x, y, n); return 0;
    case RADRT_T_I64: i64_sign(x, y, n); return 0;
    case RADRT_T_U64: u64_sign(x, y, n); return 0;
    default: return -1;
    }
}

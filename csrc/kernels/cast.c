/* Casts to and from float32, one flat branch-free loop each.
 *
 * Semantics (ONNX leaves float->int out-of-range undefined; radrt defines it,
 * so replicas agree and no C undefined behaviour is reached):
 * - float -> integer truncates toward zero, saturates to the type's range,
 *   and maps NaN to 0 (numpy's astype instead wraps or gives INT_MIN);
 * - float -> bool is x != 0 (NaN gives true); bool -> float reads any nonzero
 *   byte as 1;
 * - float32 <-> float16 and float64 -> float32 round to nearest even,
 *   overflow to +-inf, keep NaN (as numpy); integer -> float rounds to nearest.
 * The float16 conversions work on bits (no _Float16 needed) and are exact
 * bit tricks: half -> float scales the shifted bits by 2^112; float -> half
 * is the rounding-by-addition method of Maratyszcza's FP16 library. */
#include <math.h>
#include <string.h>

#include "cast.h"

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t magnitude = h & 0x7fffu;
    /* Normals and subnormals: exact, the product is a normal float. */
    uint32_t bits = float_to_bits(bits_to_float(magnitude << 13) * 0x1p112f);
    bits = magnitude >= 0x7c00u ? 0x7f800000u | (magnitude & 0x3ffu) << 13 : bits;
    return bits_to_float(bits | sign);
}

static inline uint16_t float_to_half(float f) {
    /* Overflow to inf first, then scale back so that adding the bias below
     * rounds the mantissa to 10 bits (nearest even) in float hardware. */
    float base = (fabsf(f) * 0x1p112f) * 0x1p-110f;
    const uint32_t w = float_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xff000000u;
    bias = bias < 0x71000000u ? 0x71000000u : bias;
    base = bits_to_float((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = float_to_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x7c00u) + (bits & 0x0fffu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

void radrt_cast_f32_to_f16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = float_to_half(x[i]);
}

/* Cast to float16 and back in one pass: the two casts' bits, without the float16
 * tensor between them (runtime.compile's fuse_float16_round). */
void radrt_cast_f32_via_f16(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = half_to_float(float_to_half(x[i]));
}

void radrt_cast_f16_to_f32(const uint16_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = half_to_float(x[i]);
}

void radrt_cast_f32_to_f64(const float *x, double *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (double)x[i];
}

void radrt_cast_f64_to_f32(const double *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = (float)x[i];
}

void radrt_cast_f32_to_bool(const float *x, uint8_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] != 0.0f;
}

void radrt_cast_bool_to_f32(const uint8_t *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] != 0 ? 1.0f : 0.0f;
}

/* LO is the type's minimum and HI its maximum + 1, both powers of two (or 0)
 * and so exact floats; HI * (1 - 2^-24) is the largest float below HI. The
 * clamped value converts without undefined behaviour; v >= HI then gives MAX. */
#define FLOAT_TO_INT(NAME, T, LO, HI, MAX)                                    \
    void radrt_cast_f32_to_##NAME(const float *x, T *y, size_t n) {           \
        const float below_hi = (HI) * (1.0f - 0x1p-24f);                      \
        for (size_t i = 0; i < n; i++) {                                      \
            const float v = x[i];                                             \
            float c = v != v ? 0.0f : v;                                      \
            c = c < (LO) ? (LO) : c;                                          \
            c = c > below_hi ? below_hi : c;                                  \
            y[i] = v >= (HI) ? (MAX) : (T)c;                                  \
        }                                                                     \
    }                                                                         \
    void radrt_cast_##NAME##_to_f32(const T *x, float *y, size_t n) {         \
        for (size_t i = 0; i < n; i++) y[i] = (float)x[i];                    \
    }

FLOAT_TO_INT(i8, int8_t, -0x1p7f, 0x1p7f, INT8_MAX)
FLOAT_TO_INT(u8, uint8_t, 0.0f, 0x1p8f, UINT8_MAX)
FLOAT_TO_INT(i16, int16_t, -0x1p15f, 0x1p15f, INT16_MAX)
FLOAT_TO_INT(u16, uint16_t, 0.0f, 0x1p16f, UINT16_MAX)
FLOAT_TO_INT(i32, int32_t, -0x1p31f, 0x1p31f, INT32_MAX)
FLOAT_TO_INT(u32, uint32_t, 0.0f, 0x1p32f, UINT32_MAX)
FLOAT_TO_INT(i64, int64_t, -0x1p63f, 0x1p63f, INT64_MAX)
FLOAT_TO_INT(u64, uint64_t, 0.0f, 0x1p64f, UINT64_MAX)

/* QuantizeLinear / DequantizeLinear (quantize.h has the semantics). One loop per
 * type over [outer, channels, inner]; the division is a true division (not a
 * multiplication by 1/scale), so the rounding matches the spec's x / y_scale. */
#include <math.h>

#include "quantize.h"

#define QUANTIZE(NAME, T, LO, HI)                                                              \
    void NAME(const float *x, const float *scale, const T *zero_point, T *y,                   \
              size_t outer, size_t channels, size_t inner) {                                   \
        for (size_t o = 0; o < outer; o++)                                                     \
            for (size_t c = 0; c < channels; c++) {                                            \
                const float s = scale[c];                                                      \
                const float zp = (float)zero_point[c];                                         \
                const size_t base = (o * channels + c) * inner;                                \
                for (size_t i = 0; i < inner; i++) {                                           \
                    const float v = x[base + i];                                               \
                    float q = nearbyintf(v / s) + zp;                                          \
                    if (q != q) q = zp;                                                        \
                    q = q < (LO) ? (LO) : (q > (HI) ? (HI) : q);                               \
                    y[base + i] = (T)q;                                                        \
                }                                                                              \
            }                                                                                  \
    }

QUANTIZE(radrt_quantize_i8, int8_t, -128.0f, 127.0f)
QUANTIZE(radrt_quantize_u8, uint8_t, 0.0f, 255.0f)

#define DEQUANTIZE(NAME, T)                                                                    \
    void NAME(const T *x, const float *scale, const T *zero_point, float *y,                   \
              size_t outer, size_t channels, size_t inner) {                                   \
        for (size_t o = 0; o < outer; o++)                                                     \
            for (size_t c = 0; c < channels; c++) {                                            \
                const float s = scale[c];                                                      \
                const int32_t zp = (int32_t)zero_point[c];                                     \
                const size_t base = (o * channels + c) * inner;                                \
                for (size_t i = 0; i < inner; i++)                                             \
                    y[base + i] = (float)((int32_t)x[base + i] - zp) * s;                      \
            }                                                                                  \
    }

DEQUANTIZE(radrt_dequantize_i8, int8_t)
DEQUANTIZE(radrt_dequantize_u8, uint8_t)

void radrt_dequantize_i32(const int32_t *x, const float *scale, float *y,
                          size_t outer, size_t channels, size_t inner) {
    for (size_t o = 0; o < outer; o++)
        for (size_t c = 0; c < channels; c++) {
            const float s = scale[c];
            const size_t base = (o * channels + c) * inner;
            for (size_t i = 0; i < inner; i++) y[base + i] = (float)x[base + i] * s;
        }
}

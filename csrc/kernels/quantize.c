/* QuantizeLinear / DequantizeLinear (quantize.h has the semantics). Every kernel
 * walks the tensor as [outer, channels, inner] (CHANNEL_WALK) and applies one
 * element expression with its channel's scale s and zero point zp. The division is
 * a true division (not a multiplication by 1/scale), so the rounding matches the
 * spec's x / y_scale. */
#include <math.h>

#include "quantize.h"

/* y[k] = EXPR for every element k, with s = scale[c] and zp = ZP(c) of its channel. */
#define CHANNEL_WALK(ZP_T, ZP, EXPR)                                                           \
    for (size_t o = 0; o < outer; o++)                                                         \
        for (size_t c = 0; c < channels; c++) {                                                \
            const float s = scale[c];                                                          \
            const ZP_T zp = (ZP);                                                              \
            const size_t base = (o * channels + c) * inner;                                    \
            for (size_t i = 0; i < inner; i++) y[base + i] = (EXPR);                           \
        }

static inline float saturate(float q, float zp, float lo, float hi) {
    if (q != q) return zp;
    return q < lo ? lo : (q > hi ? hi : q);
}

#define QUANTIZE(NAME, T, LO, HI)                                                              \
    void NAME(const float *x, const float *scale, const T *zero_point, T *y,                   \
              size_t outer, size_t channels, size_t inner) {                                   \
        CHANNEL_WALK(float, (float)zero_point[c],                                              \
                     (T)saturate(nearbyintf(x[base + i] / s) + zp, zp, (LO), (HI)))            \
    }

QUANTIZE(radrt_quantize_i8, int8_t, -128.0f, 127.0f)
QUANTIZE(radrt_quantize_u8, uint8_t, 0.0f, 255.0f)

#define DEQUANTIZE(NAME, T)                                                                    \
    void NAME(const T *x, const float *scale, const T *zero_point, float *y,                   \
              size_t outer, size_t channels, size_t inner) {                                   \
        CHANNEL_WALK(int32_t, (int32_t)zero_point[c], (float)((int32_t)x[base + i] - zp) * s)  \
    }

DEQUANTIZE(radrt_dequantize_i8, int8_t)
DEQUANTIZE(radrt_dequantize_u8, uint8_t)

void radrt_dequantize_i32(const int32_t *x, const float *scale, float *y,
                          size_t outer, size_t channels, size_t inner) {
    CHANNEL_WALK(int32_t, 0, (float)(x[base + i] - zp) * s)
}

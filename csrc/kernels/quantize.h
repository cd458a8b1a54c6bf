/* QuantizeLinear and DequantizeLinear (ONNX QDQ form), per tensor or per axis.
 * The tensor is seen as [outer, channels, inner]: channel c uses scale[c] and
 * zero_point[c] (per tensor: channels = 1). Python (runtime/ops/quantize.py)
 * validates shapes and types; C trusts them.
 *
 * Quantize: y = saturate(round(x / scale) + zero_point), rounding half to even
 * (the spec), saturating to [-128, 127] (int8) or [0, 255] (uint8); NaN gives the
 * zero point (the spec leaves it undefined). Dequantize: y = (x - zero_point) * scale
 * for int8, uint8 and int32 x (int32: the zero point is 0). */
#ifndef RADRT_QUANTIZE_H
#define RADRT_QUANTIZE_H
#include <stddef.h>
#include <stdint.h>

void radrt_quantize_i8(const float *x, const float *scale, const int8_t *zero_point, int8_t *y,
                       size_t outer, size_t channels, size_t inner);
void radrt_quantize_u8(const float *x, const float *scale, const uint8_t *zero_point, uint8_t *y,
                       size_t outer, size_t channels, size_t inner);
void radrt_dequantize_i8(const int8_t *x, const float *scale, const int8_t *zero_point, float *y,
                         size_t outer, size_t channels, size_t inner);
void radrt_dequantize_u8(const uint8_t *x, const float *scale, const uint8_t *zero_point, float *y,
                         size_t outer, size_t channels, size_t inner);
void radrt_dequantize_i32(const int32_t *x, const float *scale, float *y,
                          size_t outer, size_t channels, size_t inner);

#endif

/* Integer convolution and matrix product of int8/uint8 models (ONNX ConvInteger,
 * MatMulInteger, QLinearConv, QLinearMatMul), accumulating in int32.
 *
 * Every operand is widened at each call to int16 with its zero point subtracted (values
 * in [-255, 255], exact), each row of K values padded with zeros to a multiple of
 * RADRT_IGEMM_KSTEP; the product sums int16 x int16 products in int32 (exact:
 * runtime/ops/integer.py refuses at compile time any shape whose sum could leave int32).
 * Weights stay int8/uint8 in the weights region (one byte each: the fewest bits to
 * upset); the widened copy lives in scratch for the op only. Then the output is either
 * the int32 accumulator (ConvInteger, MatMulInteger) or requantized:
 *   y = saturate(round_half_even((float)(acc + bias) * scale) + y_zero_point)
 * with scale = x_scale * w_scale / y_scale computed once in float32 by the caller
 * (per output channel for a conv, per output column for a matmul, or one value), the
 * order of operations of onnxruntime's requantization (MlasRequantizeOutput), so int8
 * results equal onnxruntime's bit for bit (tests/ops/test_integer.py).
 *
 * Conv padding reads as the input's zero point (so contributes 0 after subtraction),
 * which is what the spec's zero-padding of the dequantized input means. */
#ifndef RADRT_INTEGER_H
#define RADRT_INTEGER_H
#include <stddef.h>
#include <stdint.h>

#include "conv.h" /* radrt_im2col */

/* Output of an integer product: the int32 accumulator, or requantized to uint8/int8. */
#define RADRT_QOUT_I32 0
#define RADRT_QOUT_U8 1
#define RADRT_QOUT_I8 2

/* K is padded to a multiple of this (a 512-bit vector of int16). */
#define RADRT_IGEMM_KSTEP 32

/* C (M x N, row stride ldc) = A B^T for A (M x Kp) and B (N x Kp), both row-major with
 * Kp a multiple of RADRT_IGEMM_KSTEP: every C element is the dot product of two rows. */
void radrt_igemm(int64_t M, int64_t N, int64_t Kp, const int16_t *a, const int16_t *b, int32_t *c, int64_t ldc);

/* y[i] = saturate(round_half_even((float)(acc[i] + bias[r]) * scale[s]) + zero_point)
 * for a rows x cols accumulator, r the row (bias per row: bias_per = 1), s the row or
 * the column (scale_per = 1 row, 2 column, 0 one scale); bias NULL for none; out_kind
 * RADRT_QOUT_U8 or _I8. NaN (scale is finite, acc is not: cannot occur) gives zero_point. */
void radrt_requantize(const int32_t *acc, int64_t rows, int64_t cols, const int32_t *bias, const float *scale,
                      int scale_per, int32_t zero_point, int out_kind, void *y);

typedef struct {
    int64_t batch, in_channels, out_channels, group;
    radrt_im2col geom; /* of one group: geom.channels = in_channels / group */
    int x_signed;      /* x int8 (1) or uint8 (0) */
    int w_signed;      /* w (ONNX layout) int8 (1) or uint8 (0) */
    int out_kind;
    int scale_per_channel; /* requantize: scale per output channel (1) or one (0) */
    int32_t y_zero_point;
} radrt_qconv_params;

/* x: (batch, in_channels, spatial...) int8/uint8; x_zero_point one value of x's type or
 * NULL; w_zero_point: out_channels int32 or NULL (0); bias: out_channels int32 or NULL (added before requantizing, or to the int32
 * output); scale: see radrt_requantize (unused for RADRT_QOUT_I32); y: (batch,
 * out_channels, out spatial...) of out_kind's type. scratch: radrt_qconv_scratch_bytes. */
void radrt_qconv(const radrt_qconv_params *p, const void *x, const void *x_zero_point, const void *w,
                 const int32_t *w_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch);
/* Bytes of scratch for radrt_qconv; SIZE_MAX on overflow. */
size_t radrt_qconv_scratch_bytes(const radrt_qconv_params *p);

typedef struct {
    int64_t batch, M, N, K;
    int a_signed;
    /* B: int8/uint8 (b_signed), K x N row-major, or N x K when b_transposed (a constant
     * B is transposed once at compile time); b_zero_point one int32 per column or NULL.
     * b_batch_stride: elements between the B of consecutive products (0: one B). */
    int b_signed, b_transposed;
    int64_t b_batch_stride;
    int out_kind;
    int scale_per_column; /* requantize: scale per column of B (1) or one (0) */
    int32_t y_zero_point;
} radrt_qmatmul_params;

/* batch products of A (batch, M, K) int8/uint8 with a_zero_point (one value of A's type,
 * or NULL) and B; y (batch, M, N) of out_kind's type. scratch: radrt_qmatmul_scratch_bytes. */
void radrt_qmatmul(const radrt_qmatmul_params *p, const void *a, const void *a_zero_point, const void *b,
                   const int32_t *b_zero_point, const float *scale, void *y, void *scratch);
size_t radrt_qmatmul_scratch_bytes(const radrt_qmatmul_params *p);

/* DynamicQuantizeLinear (uint8), as the spec and onnx's reference: with lo = min(0, min
 * x), hi = max(0, max x) over the finite x, scale = (hi == lo ? 1 : hi - lo) / 255,
 * zero_point = saturate(round_half_even(0 - lo / scale)), y = saturate(round_half_even(x /
 * scale) + zero_point): an infinite x saturates to 0 or 255 (the spec's range would be
 * infinite, every other value quantized to one step), NaN gives zero_point. */
void radrt_dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zero_point);

#endif

/* The com.microsoft QLinear ops that onnxruntime's QOperator quantizer emits for CNNs,
 * on uint8 and int8 tensors with per-tensor scales and zero points (constants; Python,
 * runtime/ops/qlinear.py, validates everything and computes the float constants; C
 * trusts them). Each kernel follows onnxruntime's arithmetic (MLAS, x86-64) so results
 * are bit-exact where its order of float operations is known:
 *
 * QLinearAdd: ra = A_scale / C_scale, rb = B_scale / C_scale, fixed = C_zp - fma(rb, B_zp,
 *   ra * A_zp) (float32, from Python); per element C = sat(rint(fma(a, ra, fma(b, rb, fixed)))),
 *   and a row whose b (a) is one value repeated folds it first: fixed' = fma(b, rb, fixed),
 *   C = sat(rint(fma(a, ra, fixed'))) (MLAS's AVX2 kernel).
 * QLinearMul: r = A_scale * B_scale / C_scale; C = sat(rint(((a - A_zp) * (b - B_zp)) * r + C_zp)),
 *   the product rounded before the add (no fused multiply-add, as MLAS's SSE2 kernel).
 * Broadcasting for both: a radrt_bcast_t (csrc/kernels/elementwise.h; op and act_* unused).
 * rint is round half to even; sat clamps to [0, 255] or [-128, 127].
 *
 * radrt_qlinear_lookup: y[i] = table[(uint8_t)x[i]], one 256-byte table built in Python
 *   (QLinearSigmoid, QLinearLeakyRelu: table[q] = quantize(f(dequantize(q)))).
 * radrt_qlinear_concat: the inputs' blocks along the axis in turn, each through its own
 *   table (requantized to the output's scale and zero point) or copied (table NULL: same
 *   scale and zero point).
 * radrt_qlinear_global_avgpool: per plane of `size` elements, acc = sum(x) - x_zp * size
 *   (exact, int64), y = sat(rint(clamp((float)acc * scale, lo - y_zp, hi - y_zp)) + y_zp) with
 *   scale = x_scale / (y_scale * size) from Python.
 * radrt_qlinear_avgpool: per plane, dequantize into scratch ((float)(x - x_zp) * x_scale),
 *   float32 AveragePool by radrt_avgpool (csrc/kernels/pool.h; params->planes is ignored,
 *   one plane at a time), then y = sat(rint(v / y_scale + y_zp)). Scratch:
 *   radrt_pool_plane_scratch_floats floats (pool.h; SIZE_MAX when it overflows).
 * radrt_qlinear_softmax: onnxruntime's QLinearSoftmax (contrib_ops/cpu/quantization/
 *   qlinear_softmax.cc). The tensor is (outer, len, inner), normalised along len (stride
 *   inner). Per line: m = max(x); e_i = table[x_i - m + 255] (table: 256 floats from Python,
 *   table[k] = (float)exp(((k - 255) + shift) * x_scale) in double, shift = max(0, log(FLT_MAX /
 *   len) - 5) / x_scale, so the line's maximum reads e^(log(FLT_MAX / len) - 5) and the sum
 *   cannot overflow; the input zero point cancels in x - m); sum = e_0 + e_1 + ... in float32,
 *   in order; y_i = sat(rint((e_i * y_mult) / (sum * sum_scale)) + y_zp) with y_mult =
 *   floor(1 / y_scale) * sum_scale (float32, from Python; floor(1 / y_scale) is onnxruntime's
 *   choice, not 1 / y_scale). sum_scale is 1, or 2^-64 when table[255] * floor(1 / y_scale)
 *   overflows float32 (a short line and a small y_scale): both factors scaled by a power of
 *   two, the quotient is the one float32 would give without overflow, which is what
 *   onnxruntime 1.32 returns (its source's e_i * y_mult would be +inf). */
#ifndef RADRT_QLINEAR_H
#define RADRT_QLINEAR_H
#include <stddef.h>
#include <stdint.h>
#include "elementwise.h"
#include "pool.h"

typedef struct {
    radrt_bcast_t shape;  /* the broadcast walk (op, act_min, act_max unused) */
    float ratio_a;        /* Add: A_scale / C_scale; Mul: A_scale * B_scale / C_scale */
    float ratio_b;        /* Add: B_scale / C_scale; Mul: unused */
    float fixed;          /* Add: C_zp - (ratio_a * A_zp + ratio_b * B_zp); Mul: C_zp */
    int32_t zp_a, zp_b;
} radrt_qbinary_t;

void radrt_qlinear_add_u8(const radrt_qbinary_t *p, const uint8_t *a, const uint8_t *b, uint8_t *y);
void radrt_qlinear_add_i8(const radrt_qbinary_t *p, const int8_t *a, const int8_t *b, int8_t *y);
void radrt_qlinear_mul_u8(const radrt_qbinary_t *p, const uint8_t *a, const uint8_t *b, uint8_t *y);
void radrt_qlinear_mul_i8(const radrt_qbinary_t *p, const int8_t *a, const int8_t *b, int8_t *y);

void radrt_qlinear_lookup(const uint8_t *x, uint8_t *y, const uint8_t *table, size_t n);

/* inputs[k] holds outer blocks of block[k] bytes; y gets, for each outer index, every
 * input's block in turn. tables[k] NULL: a copy. */
void radrt_qlinear_concat(const uint8_t *const *inputs, const uint8_t *const *tables, const int64_t *block,
                          size_t n_inputs, size_t outer, uint8_t *y);

void radrt_qlinear_global_avgpool_u8(const uint8_t *x, uint8_t *y, size_t planes, size_t size, int32_t x_zp,
                                     float scale, int32_t y_zp);
void radrt_qlinear_global_avgpool_i8(const int8_t *x, int8_t *y, size_t planes, size_t size, int32_t x_zp,
                                     float scale, int32_t y_zp);

void radrt_qlinear_avgpool_u8(const uint8_t *x, uint8_t *y, const float *divisors, const radrt_pool_params *p,
                              float x_scale, int32_t x_zp, float y_scale, int32_t y_zp, float *scratch);
void radrt_qlinear_avgpool_i8(const int8_t *x, int8_t *y, const float *divisors, const radrt_pool_params *p,
                              float x_scale, int32_t x_zp, float y_scale, int32_t y_zp, float *scratch);

void radrt_qlinear_softmax_u8(const uint8_t *x, uint8_t *y, const float *table, size_t outer, size_t len,
                              size_t inner, float y_mult, float sum_scale, int32_t y_zp);
void radrt_qlinear_softmax_i8(const int8_t *x, int8_t *y, const float *table, size_t outer, size_t len,
                              size_t inner, float y_mult, float sum_scale, int32_t y_zp);

#endif

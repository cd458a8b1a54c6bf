/* Integer convolution and matrix product of int8/uint8 models (ONNX ConvInteger,
 * MatMulInteger, QLinearConv, QLinearMatMul, com.microsoft QGemm), accumulating in int32.
 *
 * At each call, weights are normalised to int8 and activations to uint8 in scratch (rows
 * of K values padded with zeros to a multiple of RADRT_IGEMM_KSTEP), and every output is
 * the exact integer sum_k (w_k - zero point) (x_k - zero point), computed as a uint8 x
 * int8 dot product corrected for the zero points (integer.c). runtime/ops/integer.py
 * refuses at compile time any shape whose sum could leave int32. Weights stay
 * int8/uint8 in the weights region (one byte each: the fewest bits to upset). Then the
 * output is the int32 sum (ConvInteger, MatMulInteger), or requantized:
 *   y = saturate(round_half_even((float)(acc + bias) * scale) + y_zero_point)
 * with scale = x_scale * w_scale / y_scale computed once in float32 by the caller
 * (per output channel for a conv, per output column for a matmul, or one value), the
 * order of operations of onnxruntime's requantization (MlasRequantizeOutput), so int8
 * results equal onnxruntime's bit for bit (tests/ops/test_integer.py).
 *
 * Conv padding reads as the input's zero point (so contributes 0 after subtraction),
 * which is what the spec's zero-padding of the dequantized input means.
 *
 * ABFT (ck not NULL, side RADRT_ABFT_EXACT; runtime/protect/abft.py), for packed constant
 * weights only. Integer sums make Huang & Abraham's checksums exact: compared modulo
 * 2^32, where both sides are exact, with no threshold, so no false alarm and every error
 * of one accumulator is seen (its difference is below 2^32 in magnitude). Per image and
 * group, after the output stage:
 * - the output stage is computed again from the accumulators and compared with y as
 *   stored (an upset of y or of the requantization arithmetic);
 * - GEMM path: for each activation row n (a conv's output position, a matmul's row of A),
 *   sum_m acc[m][n] against sum_k isum[k] (b[n][k] - zb), isum being the golden sums of
 *   the weight rows minus their zero points (ck->isum, one K vector per group): an upset
 *   of a weight, a zero point, a packed activation or an accumulator, or of the product's
 *   arithmetic, after the accumulators were formed and until this check;
 * - depthwise path: for each output channel m, sum_n acc[m][n] against sum_t (w[m][t] -
 *   za[m]) (S[t] - positions zb), S[t] the sum of the inputs tap t reads over all output
 *   positions (the weights are then the ones the kernel read: their seal verifies them).
 * The check reads the accumulators after the output stage (so an upset of one between
 * the product and the output stage is seen), then y is sealed word by word into
 * ck->seal (seal.h; ck->seal_base its first word), so an upset of y after the check is
 * seen by its reader. Results add to ck->checked (checksums compared) and ck->exceeded
 * (checksums or output-stage words that differ). Not covered (as for the float GEMM): an
 * upset of the input between its seal check and the normalisation into scratch. */
#ifndef RADRT_INTEGER_H
#define RADRT_INTEGER_H
#include <stddef.h>
#include <stdint.h>

#include "conv.h" /* radrt_im2col */
#include "gemm.h" /* radrt_abft */

/* Output of an integer product: the int32 accumulator, requantized to uint8/int8, or
 * scaled to float32 (com.microsoft QGemm without y_scale: y = (float)(acc + bias) * scale). */
#define RADRT_QOUT_I32 0
#define RADRT_QOUT_U8 1
#define RADRT_QOUT_I8 2
#define RADRT_QOUT_F32 3

/* K is padded to a multiple of this (a 256-bit vector of bytes). */
#define RADRT_IGEMM_KSTEP 32
/* Weight rows the product may read past the last one (zeros; their results are dropped). */
#define RADRT_IGEMM_ROW_PAD 8
/* Bytes of the product's packing panel (radrt_igemm_operands.panel) per Kp. */
#define RADRT_IGEMM_PANEL_ROWS 32

/* The normalised operands of one product: rows_a weight rows (int8, Kp each, zero point
 * zero_a[m] and sum sum_a[m] over the K real values; RADRT_IGEMM_ROW_PAD readable rows
 * of zeros after the last) and rows_b activation rows (uint8, Kp each, zero point zero_b,
 * sums sum_b[n]; sum_b may be NULL when every zero_a is 0); panel: scratch of
 * RADRT_IGEMM_PANEL_ROWS x Kp bytes. */
typedef struct {
    int64_t rows_a, rows_b, K, Kp;
    const int8_t *a;
    const int32_t *zero_a, *sum_a;
    const uint8_t *b;
    int32_t zero_b;
    const int32_t *sum_b;
    uint8_t *panel;
    /* Exact ABFT's prediction (NULL: none): check is RADRT_IGEMM_CHECK_ROWS rows of Kp
     * int8, the base-256 digits of the golden weight-row sums v (digit r in row r, the
     * rest zeros), and expected[n] receives sum_r 256^r dot(row r, b row n) = sum_k v[k]
     * b[n][k] modulo 2^32, from the same packed activations the product reads. */
    const int8_t *check;
    uint32_t *expected;
} radrt_igemm_operands;

/* Rows of radrt_igemm_operands.check (4 digits, then zeros: the product reads 8 rows). */
#define RADRT_IGEMM_CHECK_ROWS 8

/* c[m * c_rs + n * c_cs] = sum_k (a[m][k] - zero_a[m]) (b[n][k] - zero_b), exact when it
 * fits int32 and K x 255 x 128 < 2^31. */
void radrt_igemm(const radrt_igemm_operands *o, int32_t *c, int64_t c_rs, int64_t c_cs);

/* The output stage of a rows x cols accumulator: with b = bias[r * bias_rs + c * bias_cs]
 * (bias NULL: 0) and s = scale[r * scale_rs + c * scale_cs],
 *   RADRT_QOUT_I32: y = acc + b;
 *   RADRT_QOUT_U8 / _I8: y = saturate(round_half_even((float)(acc + b) * s) + zero_point);
 *   RADRT_QOUT_F32: y = (float)(acc + b) * s;
 * acc + b formed in int32, wrapping (exact: the caller bounds the sums with the bias). */
void radrt_requantize(const int32_t *acc, int64_t rows, int64_t cols, const int32_t *bias, int64_t bias_rs,
                      int64_t bias_cs, const float *scale, int64_t scale_rs, int64_t scale_cs, int32_t zero_point,
                      int out_kind, void *y);

typedef struct {
    int64_t batch, in_channels, out_channels, group;
    radrt_im2col geom; /* of one group: geom.channels = in_channels / group */
    int x_signed;      /* x int8 (1) or uint8 (0) */
    int w_signed;      /* w (ONNX layout) int8 (1) or uint8 (0) */
    int w_packed;      /* w is radrt_qconv_pack's block (w_zero_point unused) */
    int out_kind;
    int scale_per_channel; /* requantize: scale per output channel (1) or one (0) */
    int32_t y_zero_point;
} radrt_qconv_params;

/* x: (batch, in_channels, spatial...) int8/uint8; x_zero_point one value of x's type or
 * NULL; w_zero_point: out_channels int32 or NULL (0); bias: out_channels int32 or NULL;
 * scale: see radrt_requantize (unused for RADRT_QOUT_I32); y: (batch,
 * out_channels, out spatial...) of out_kind's type. scratch: radrt_qconv_scratch_bytes.
 * ck: NULL, or the exact ABFT checks above (w_packed only; ck->isum: group x K values,
 * unused by a depthwise conv). */
void radrt_qconv(const radrt_qconv_params *p, const void *x, const void *x_zero_point, const void *w,
                 const int32_t *w_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch,
                 radrt_abft *ck);
/* Bytes of scratch for radrt_qconv; SIZE_MAX on overflow. */
size_t radrt_qconv_scratch_bytes(const radrt_qconv_params *p);

typedef struct {
    int64_t batch, M, N, K;
    int a_signed;
    int64_t a_rs, a_cs; /* element strides of one A (M x K): (K, 1), or (1, M) transposed */
    /* B: int8/uint8 (b_signed), K x N row-major, or N x K when b_transposed (a constant
     * B is transposed once at compile time); b_zero_point one int32 per column or NULL.
     * b_batch_stride: elements between the B of consecutive products (0: one B). */
    int b_signed, b_transposed;
    int b_packed; /* b is radrt_qmatmul_pack's block of one 2-D B (b_zero_point unused) */
    int64_t b_batch_stride;
    int out_kind;
    int scale_per_column; /* output stage: scale per column of B (1) or one (0) */
    int32_t y_zero_point;
    int64_t bias_rs, bias_cs; /* strides of the int32 bias (QGemm's C) over the M x N output */
} radrt_qmatmul_params;

/* batch products of A (batch, M, K) int8/uint8 with a_zero_point (one value of A's type,
 * or NULL) and B, plus bias (NULL: none); y (batch, M, N) of out_kind's type.
 * scratch: radrt_qmatmul_scratch_bytes. ck: NULL, or the exact ABFT checks above
 * (b_packed only; ck->isum: K values, the sums over B's columns). */
void radrt_qmatmul(const radrt_qmatmul_params *p, const void *a, const void *a_zero_point, const void *b,
                   const int32_t *b_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch,
                   radrt_abft *ck);
size_t radrt_qmatmul_scratch_bytes(const radrt_qmatmul_params *p);

/* Weights packed once (at compile time, for constant weights): rows of K values (a conv's
 * output channels, a matmul's columns of B) normalised to int8 with their zero points and
 * sums, in the layout the product reads (integer.c). Weights stay one byte each plus the
 * padding of K to a multiple of RADRT_IGEMM_KSTEP. radrt_qweights_bytes: the block's size
 * (SIZE_MAX on overflow); the packers take the params the kernel will get. */
size_t radrt_qweights_bytes(int64_t rows, int64_t K);
void radrt_qconv_pack(const radrt_qconv_params *p, const void *w, const int32_t *w_zero_point, void *packed);
void radrt_qmatmul_pack(const radrt_qmatmul_params *p, const void *b, const int32_t *b_zero_point, void *packed);

/* DynamicQuantizeLinear (uint8), as the spec and onnx's reference: with lo = min(0, min
 * x), hi = max(0, max x) over the finite x, scale = (hi == lo ? 1 : hi - lo) / 255
 * (1 / 255 too when that underflows to 0: a range of a few subnormals),
 * zero_point = saturate(round_half_even(0 - lo / scale)), y = saturate(round_half_even(x /
 * scale) + zero_point): an infinite x saturates to 0 or 255 (the spec's range would be
 * infinite, every other value quantized to one step), NaN gives zero_point. */
void radrt_dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zero_point);

#endif

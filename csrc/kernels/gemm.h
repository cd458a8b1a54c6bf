/* Packed, cache-blocked float32 GEMM core: C = epilogue(A * B).
 *
 * A is M x K, B is K x N, C is M x N row-major with row stride ldc. Either
 * operand may come pre-packed (radrt_gemm_pack_a/_b, done once at prepare
 * time for constant weights) or dense with arbitrary element strides (packed
 * into `scratch` at run time); B may also be the implicit im2col matrix of a
 * convolution input (radrt_im2col), packed straight from the image.
 *
 * The epilogue, applied when C is stored, is
 *   C = clamp(alpha * AB + beta * bias[i*bias_rs + j*bias_cs], act_min, act_max)
 * (bias may be NULL; bias_cs is 0 or 1; act_min/act_max = -inf/+inf for none),
 * so a bias, Gemm's beta*C and a Relu/Clip activation fuse into the store.
 *
 * Deterministic: every C element is one fused multiply-add chain over k in
 * increasing order within blocks of RADRT_GEMM_KC, blocks added in order; the
 * order depends only on K, never on data, alignment or tile position.
 */
#ifndef RADRT_GEMM_H
#define RADRT_GEMM_H
#include <stddef.h>
#include <stdint.h>

#include "conv.h" /* radrt_im2col */

typedef struct {
    float alpha, beta;
    const float *bias;
    int64_t bias_rs, bias_cs;
    float act_min, act_max;
} radrt_epilogue;

/* A dense (rs, cs strides), pre-packed, or absent. */
typedef struct {
    const float *data;
    int64_t rs, cs;
    int packed;
} radrt_operand;

/* Floats of a pre-packed A (M x K) / B (K x N); SIZE_MAX for a negative or
 * overflowing size (as for every *_scratch_floats function). */
size_t radrt_gemm_packed_a_floats(int64_t M, int64_t K);
size_t radrt_gemm_packed_b_floats(int64_t K, int64_t N);
void radrt_gemm_pack_a(const float *a, int64_t rs, int64_t cs, int64_t M, int64_t K, float *dst);
void radrt_gemm_pack_b(const float *b, int64_t rs, int64_t cs, int64_t K, int64_t N, float *dst);

/* Scratch floats radrt_sgemm needs for these shapes and operand kinds (SIZE_MAX
 * for negative sizes). */
size_t radrt_sgemm_scratch_floats(int64_t M, int64_t N, int64_t K, int a_packed, int b_packed);

/* C = epilogue(A * B). b_conv, when not NULL, replaces b (B is its im2col of
 * the image b_conv_x). */
void radrt_sgemm(int64_t M, int64_t N, int64_t K, const radrt_operand *a, const radrt_operand *b,
                 const radrt_im2col *b_conv, const float *b_conv_x,
                 float *c, int64_t ldc, const radrt_epilogue *ep, float *scratch);

/* Sizes of the micro-kernel (they depend on the target ISA). */
int radrt_gemm_mr(void);
int radrt_gemm_nr(void);

#endif

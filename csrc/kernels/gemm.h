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

/* ---- ABFT: checksums fused into the product (optional, ck = NULL: off) ------
 *
 * Algorithm-based fault tolerance (Huang & Abraham, IEEE Trans. Comput. 1984),
 * fused into the packing and the micro-kernel store as in FT-BLAS (Zhai et
 * al., ICS'21). One operand is the constant weight matrix W; the caller gives
 * its golden checksum vector (computed in float64 from the golden weights and
 * rounded to float32):
 *   COLUMNS (W = A, M x K): wsum[k] = sum_i A[i][k], one checksum per column j
 *   ROWS    (W = B, K x N): wsum[k] = sum_j B[k][j], one checksum per row i
 * and wabs the same sums of |W|. Let r = alpha * AB + beta * bias be C before
 * the activation clamp. radrt_sgemm computes, for COLUMNS (ROWS swaps i, j):
 *   observed_j = sum_i r_ij        (in the store of the last K block, float32)
 *   expected_j = alpha * sum_k wsum[k] B[k][j] + beta * bias_sum
 *   mag_j      = |alpha| * sum_k wabs[k] |B[k][j]| + |beta| * bias_abs
 *                (from the packed B panels right after packing: what the
 *                micro-kernel reads; ROWS from the packed A panels of the first
 *                column block)
 *   tol_j      = lambda * u * (2 sqrt(K + 2) + sqrt(n + 1)) mag_j
 *                + FLT_MIN * (K + 1),   u = 2^-24,
 * n being the number of terms of one checksum (COLUMNS: M, ROWS: N), and
 * counts |observed_j - expected_j| > tol_j as exceeded.
 *
 * Where tol comes from: observed and expected are two float32 evaluations of
 * the same exact sum; each of the two length-(K+2) dot products (K products,
 * alpha, bias, the float32 rounding of wsum) errs by at most gamma_{K+2} mag_j,
 * and summing the n values r_ij adds at most gamma_n sum_i |r_ij| <= gamma_n mag_j
 * (|r_ij| <= |alpha| sum_k |A_ik B_kj| + |beta bias_i|, up to rounding; bounding
 * by mag spares the micro-kernel a sum of |r| per stored vector), with the
 * deterministic gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2nd ed. 2002, sec. 3.1). Rounding errors behave as
 * independent zero-mean variables in practice, and Higham & Mary (SIAM J. Sci.
 * Comput. 41(5), 2019) bound them by gamma~_n(lambda) = lambda sqrt(n) u with
 * probability at least 1 - 2 exp(-lambda^2 / 2) (1 - u)^n: that is the bound
 * above. lambda is the caller's (the engine's) choice: larger means fewer false
 * alarms and a larger smallest detectable error; tests/ops/test_abft_kernels.py
 * and csrc/tests/test_abft.c report the worst clean |observed - expected| / tol.
 * The FLT_MIN term absorbs underflow (each product may lose up to FLT_MIN/2).
 *
 * An upset in the packed weights, in B as packed (not before packing), in the
 * accumulators or in the partial sums of C kept between K blocks changes
 * observed but not expected.
 *
 * Non-finite values: a checksum whose expected or mag is not finite (an Inf or
 * NaN in the weights or in B) cannot be compared: it counts as nonfinite, not
 * as checked. A checksum with finite expected and mag < FLT_MAX / 4 whose
 * observed is not finite counts as checked and exceeded: finite
 * inputs of that magnitude cannot produce it, an upset can (an exponent flip). */
/* A is the constant (weight) operand: one checksum per column j of C */
#define RADRT_ABFT_COLUMNS 0
/* B is the constant (weight) operand: one checksum per row i of C */
#define RADRT_ABFT_ROWS 1
/* A depthwise convolution (conv.h, RADRT_CONV_DEPTHWISE): one checksum per image and
 * output channel, predicted from window sums of the input plane (conv.c); not a
 * radrt_sgemm side (radrt_abft_work_floats refuses it: see radrt_conv_abft_work_floats) */
#define RADRT_ABFT_DEPTHWISE 2
/* An integer product (integer.h: radrt_qconv, radrt_qmatmul): exact int32 checksums,
 * no threshold (the sums are compared modulo 2^32, where they are exact) */
#define RADRT_ABFT_EXACT 3

typedef struct radrt_abft_s {
    int side;
    const float *wsum; /* K floats (see above) */
    const float *wabs; /* K floats */
    /* Sum along the checksum direction of the epilogue bias term (COLUMNS:
     * sum_i bias[i*rs + j*cs], the same for every j; ROWS: sum_j ..., the same
     * for every i), from the golden bias, and the same sum of |bias|. Pointers
     * so that a grouped Conv can give one value per group: radrt_sgemm reads
     * bias_sum[0], radrt_conv gives group g the view bias_sum + g. NULL: 0. */
    const float *bias_sum;
    const float *bias_abs;
    float lambda;      /* threshold scale, see above */
    float *work;       /* radrt_abft_work_floats(M, N, side) floats, owned by the caller */
    /* Results, accumulated over every radrt_sgemm call made with this struct (a
     * Conv makes one per image and group); the caller zeroes them. */
    int64_t checked;   /* checksums compared */
    int64_t exceeded;  /* |observed - expected| > tol */
    int64_t nonfinite; /* observed, expected or tol not finite: not compared */
    float worst;       /* max over compared checksums of |observed - expected| / tol */
    /* The chained seal of the product's output (csrc/protect/seal.h: two uint64, sum
     * and index-weighted sum of the stored 32-bit words), accumulated from the values
     * the micro-kernel stores, in its registers, so no upset between the store and
     * the seal goes unseen; NULL: none. seal_base is the element index of C[0][0]
     * within the sealed tensor (a Conv sets it per image and group). The caller
     * zeroes seal[0..1] before the op. */
    uint64_t *seal;
    int64_t seal_base;
    /* The seal of the pre-packed weight operand as the product reads it (COLUMNS: A,
     * ROWS: B; seal.h layout), accumulated block by block right before the
     * micro-kernel reads each block (so the block is then in cache): the caller
     * compares it with the seal of the golden packed weights, so an upset of any
     * weight bit is caught at use, exactly, whatever its size. NULL: not sealed (a
     * weight operand that is not pre-packed is never sealed). wseal_base is the word
     * index of the operand's first float in the sealed buffer (a grouped Conv sets
     * it per group). The caller zeroes wseal[0..1] before the op. */
    uint64_t *wseal;
    int64_t wseal_base;
    /* RADRT_ABFT_EXACT: per group, K int32 sums of the packed weight rows minus their
     * zero points, modulo 2^32, in the packed order of k (integer.h); NULL otherwise. */
    const int32_t *isum;
} radrt_abft;

/* Compares count checksums (expected[i], mag[i], observed[i]) by the rule above (K
 * products per result, n results summed into each) and adds the verdicts (checked /
 * exceeded / nonfinite, worst) to *ck: the one definition of the tolerance, shared
 * by radrt_sgemm and the depthwise conv. */
void radrt_abft_check_sums(radrt_abft *ck, const double *expected, const double *mag, const double *observed,
                           int64_t count, int64_t K, int64_t n);

/* Floats of radrt_abft.work for one radrt_sgemm of an M x N product (3 per
 * checksum); SIZE_MAX for a negative size, an unknown side or on overflow. */
size_t radrt_abft_work_floats(int64_t M, int64_t N, int side);

/* Scratch floats radrt_sgemm needs for these shapes and operand kinds (SIZE_MAX
 * for negative sizes). */
size_t radrt_sgemm_scratch_floats(int64_t M, int64_t N, int64_t K, int a_packed, int b_packed);

/* C = epilogue(A * B). b_conv, when not NULL, replaces b (B is its im2col of
 * the image b_conv_x). ck: NULL, or the ABFT checksums to compute and compare
 * (results added to *ck; with ck the unchecked results are unchanged, bit for bit). */
void radrt_sgemm(int64_t M, int64_t N, int64_t K, const radrt_operand *a, const radrt_operand *b,
                 const radrt_im2col *b_conv, const float *b_conv_x,
                 float *c, int64_t ldc, const radrt_epilogue *ep, float *scratch, radrt_abft *ck);

/* Sizes of the micro-kernel (they depend on the target ISA). */
int radrt_gemm_mr(void);
int radrt_gemm_nr(void);

#endif

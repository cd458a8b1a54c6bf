/* Integer convolution and matrix product (integer.h has the semantics).
 *
 * Operands are first normalised: weights to int8 (uint8 weights minus 128), activations
 * to uint8 (int8 activations plus 128), each zero point moved with them, rows of K
 * values padded with zeros to Kp, a multiple of RADRT_IGEMM_KSTEP, and each row's sum
 * kept. Then every output is a dot product of a weight row a and an activation row b,
 * corrected for the zero points (za per weight row, zb per tensor):
 *   sum_k (a_k - za)(b_k - zb) = sum_k a_k b_k - za sum_k b_k - zb sum_k a_k + K za zb.
 * With AVX-512 VNNI, vnni_8x32 computes 8 weight rows x 32 activation rows by vpdpbusd
 * from a panel of 32 activation rows packed 4 bytes of k per lane (the layout the
 * instruction multiplies); elsewhere igemm_4x4 computes 4 x 4 dot products in one pass
 * over k, which the compiler vectorises (widening multiply-adds). The raw sums stay below
 * 2^31 (K x 255 x 128, K bounded by the caller) and the corrected result is formed
 * modulo 2^32, exact because it fits int32, so the result is independent of the path and
 * the order.
 *
 * Weights are packed by radrt_qconv_pack / radrt_qmatmul_pack (normalised rows with their
 * zero points and sums): once at compile time when constant, else into scratch at each
 * call. A convolution normalises its input image by image and group into a channels-last
 * padded image; a depthwise group (one input channel) then runs direct loops over it
 * (depthwise_group); a pointwise one reads it as the im2row matrix; any other group is
 * gathered into the im2row matrix (one row of Kp values per output position; padding
 * holds the zero point, so it contributes 0). A matrix product's weight rows are B's
 * columns, its activation rows A's rows. On x86-64 the channels-last image is made by
 * 16 x 16 byte transposes and (VNNI) the panel by 16 x 16 word transposes.
 *
 * The output stage (requantize_row: AVX-512 and scalar, the same bits) works in int32.
 * Exact ABFT (integer.h): the golden weight-row sums' base-256 digits (check_digits) run
 * as 8 more weight rows on each panel (radrt_igemm_operands.check), the output stage
 * runs a second time comparing instead of storing and summing the accumulators per
 * column, then check_product compares the sums; check_depthwise for depthwise groups;
 * seal_through seals y as it is checked. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "integer.h"
#include "../protect/seal.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define IG_AVX512 1
#else
#define IG_AVX512 0
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define IG_VNNI 1
/* 8 weight rows x 32 activation rows by vpdpbusd: the activations packed as panel[k/4][j][4]
 * (32 rows, 4 consecutive k of row j in one 32-bit lane), each weight row's 4 bytes of a
 * k quad broadcast to every lane; 16 accumulators, 2 loads and 8 broadcasts per quad. */
static void vnni_8x32(const int8_t *a, int64_t Kp, const uint8_t *panel, int32_t raw[8][32]) {
    /* 16 named accumulators, not an array: GCC keeps an array of vectors partly on the
     * stack and copies the rest every step (measured 2x slower). */
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int64_t kq = 0; kq < Kp / 4; kq++) {
        const __m512i b0 = _mm512_loadu_si512((const void *)(panel + kq * 128));
        const __m512i b1 = _mm512_loadu_si512((const void *)(panel + kq * 128 + 64));
        const int8_t *q = a + 4 * kq;
#define RADRT_VNNI_ROW(r, lo, hi)                                                   \
    do {                                                                            \
        int32_t quad;                                                               \
        memcpy(&quad, q + (r) * Kp, 4);                                             \
        const __m512i w = _mm512_set1_epi32(quad);                                  \
        lo = _mm512_dpbusd_epi32(lo, b0, w);                                        \
        hi = _mm512_dpbusd_epi32(hi, b1, w);                                        \
    } while (0)
        RADRT_VNNI_ROW(0, c00, c01);
        RADRT_VNNI_ROW(1, c10, c11);
        RADRT_VNNI_ROW(2, c20, c21);
        RADRT_VNNI_ROW(3, c30, c31);
        RADRT_VNNI_ROW(4, c40, c41);
        RADRT_VNNI_ROW(5, c50, c51);
        RADRT_VNNI_ROW(6, c60, c61);
        RADRT_VNNI_ROW(7, c70, c71);
#undef RADRT_VNNI_ROW
    }
    const __m512i out[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                               {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (int r = 0; r < 8; r++) {
        _mm512_storeu_si512((void *)raw[r], out[r][0]);
        _mm512_storeu_si512((void *)(raw[r] + 16), out[r][1]);
    }
}

/* out[i] = dword i of each of the 16 rows r[0..15] (a 16 x 16 transpose of 32-bit words:
 * interleaves of words and pairs, then two rounds of 128-bit lane shuffles). */
static void transpose_16x16_epi32(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* r[4i + q] (i: rows 4i..4i+3) holds, in 128-bit lane L, word 4L + q of those rows */
    for (int q = 0; q < 4; q++) {
        t[q] = _mm512_shuffle_i32x4(r[q], r[4 + q], 0x88);          /* lanes 0, 2 of rows 0-7 */
        t[4 + q] = _mm512_shuffle_i32x4(r[q], r[4 + q], 0xdd);      /* lanes 1, 3 */
        t[8 + q] = _mm512_shuffle_i32x4(r[8 + q], r[12 + q], 0x88);
        t[12 + q] = _mm512_shuffle_i32x4(r[8 + q], r[12 + q], 0xdd);
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm512_shuffle_i32x4(t[q], t[8 + q], 0x88);          /* words q (lane 0), ...: */
        r[8 + q] = _mm512_shuffle_i32x4(t[q], t[8 + q], 0xdd);
        r[4 + q] = _mm512_shuffle_i32x4(t[4 + q], t[12 + q], 0x88);
        r[12 + q] = _mm512_shuffle_i32x4(t[4 + q], t[12 + q], 0xdd);
    }
}

/* panel[kq][j][4] = b[n0 + j][4 kq .. 4 kq + 3] for j < count, zeros for the rest: 16
 * rows x 16 words at a time by transposes, the last 32 bytes of a row (Kp a multiple of
 * 32, not always of 64) one word at a time. */
static void pack_panel(const uint8_t *b, int64_t Kp, int64_t count, uint8_t *panel) {
    const int64_t K64 = Kp / 64 * 64;
    for (int64_t j0 = 0; j0 < 32; j0 += 16)
        for (int64_t k0 = 0; k0 < K64; k0 += 64) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = j0 + i < count ? _mm512_loadu_si512((const void *)(b + (j0 + i) * Kp + k0))
                                      : _mm512_setzero_si512();
            transpose_16x16_epi32(r);
            for (int i = 0; i < 16; i++) _mm512_storeu_si512((void *)(panel + ((k0 / 4 + i) * 32 + j0) * 4), r[i]);
        }
    for (int64_t j = 0; j < 32; j++)
        for (int64_t kq = K64 / 4; kq < Kp / 4; kq++) {
            if (j < count)
                memcpy(panel + (kq * 32 + j) * 4, b + j * Kp + 4 * kq, 4);
            else
                memset(panel + (kq * 32 + j) * 4, 0, 4);
        }
}
#else
#define IG_VNNI 0
static void igemm_4x4(const int8_t *restrict a, const uint8_t *restrict b, int64_t Kp, int32_t raw[4][4]) {
    const int8_t *a0 = a, *a1 = a + Kp, *a2 = a + 2 * Kp, *a3 = a + 3 * Kp;
    const uint8_t *b0 = b, *b1 = b + Kp, *b2 = b + 2 * Kp, *b3 = b + 3 * Kp;
    int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    int32_t s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (int64_t k = 0; k < Kp; k++) {
        const int32_t x0 = a0[k], x1 = a1[k], x2 = a2[k], x3 = a3[k];
        const int32_t y0 = b0[k], y1 = b1[k], y2 = b2[k], y3 = b3[k];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
        s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
        s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
    }
    raw[0][0] = s00; raw[0][1] = s01; raw[0][2] = s02; raw[0][3] = s03;
    raw[1][0] = s10; raw[1][1] = s11; raw[1][2] = s12; raw[1][3] = s13;
    raw[2][0] = s20; raw[2][1] = s21; raw[2][2] = s22; raw[2][3] = s23;
    raw[3][0] = s30; raw[3][1] = s31; raw[3][2] = s32; raw[3][3] = s33;
}

static int32_t dot(const int8_t *restrict a, const uint8_t *restrict b, int64_t Kp) {
    int32_t s = 0;
    for (int64_t k = 0; k < Kp; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}
#endif

/* The zero-point correction of weight row m that does not depend on the activation row,
 * K za zb - zb sum_a[m], modulo 2^32: every output is formed in uint32 arithmetic, which
 * wraps, and equals the exact sum because that sum fits int32 (the caller's bound). */
static uint32_t row_correction(const radrt_igemm_operands *o, int64_t m) {
    const int64_t zb = o->zero_b;
    return (uint32_t)(o->K * (int64_t)o->zero_a[m] * zb - zb * (int64_t)o->sum_a[m]);
}

/* Corrected outputs of weight row m for activation rows n0 .. n0 + count - 1. */
static void store_row(const radrt_igemm_operands *o, int64_t m, int64_t n0, int64_t count, const int32_t *raw,
                      int32_t *c, int64_t c_rs, int64_t c_cs) {
    const uint32_t corr = row_correction(o, m), za = (uint32_t)o->zero_a[m];
    int32_t *out = c + m * c_rs + n0 * c_cs;
    if (o->sum_b)
        for (int64_t q = 0; q < count; q++)
            out[q * c_cs] = (int32_t)((uint32_t)raw[q] + corr - za * (uint32_t)o->sum_b[n0 + q]);
    else
        for (int64_t q = 0; q < count; q++) out[q * c_cs] = (int32_t)((uint32_t)raw[q] + corr);
}

/* sum_r 256^r raw[r][q] over the 4 digit rows, modulo 2^32. */
static uint32_t digits_value(const int32_t (*raw)[32], int64_t q) {
    return (uint32_t)raw[0][q] + ((uint32_t)raw[1][q] << 8) + ((uint32_t)raw[2][q] << 16) +
           ((uint32_t)raw[3][q] << 24);
}

void radrt_igemm(const radrt_igemm_operands *o, int32_t *c, int64_t c_rs, int64_t c_cs) {
    const int64_t M = o->rows_a, N = o->rows_b, Kp = o->Kp;
#if IG_VNNI
    /* Weight rows are read 8 at a time: the caller's buffer has RADRT_IGEMM_ROW_PAD rows
     * of zeros after row M - 1; their results are not stored. */
    for (int64_t n0 = 0; n0 < N; n0 += 32) {
        const int64_t cols = N - n0 < 32 ? N - n0 : 32;
        pack_panel(o->b + n0 * Kp, Kp, cols, o->panel);
        for (int64_t m0 = 0; m0 < M; m0 += 8) {
            int32_t raw[8][32];
            vnni_8x32(o->a + m0 * Kp, Kp, o->panel, raw);
            const int64_t rows = M - m0 < 8 ? M - m0 : 8;
            for (int64_t r = 0; r < rows; r++) store_row(o, m0 + r, n0, cols, raw[r], c, c_rs, c_cs);
        }
        if (o->check) {   /* the digit rows of the checksum, on the same panel */
            int32_t raw[8][32];
            vnni_8x32(o->check, Kp, o->panel, raw);
            for (int64_t q = 0; q < cols; q++) o->expected[n0 + q] = digits_value(raw, q);
        }
    }
#else
    const int64_t M4 = M / 4 * 4, N4 = N / 4 * 4;
    for (int64_t i = 0; i < M4; i += 4) {
        for (int64_t j = 0; j < N4; j += 4) {
            int32_t raw[4][4];
            igemm_4x4(o->a + i * Kp, o->b + j * Kp, Kp, raw);
            for (int r = 0; r < 4; r++) store_row(o, i + r, j, 4, raw[r], c, c_rs, c_cs);
        }
        for (int64_t r = i; r < i + 4; r++)
            for (int64_t j = N4; j < N; j++) {
                const int32_t d = dot(o->a + r * Kp, o->b + j * Kp, Kp);
                store_row(o, r, j, 1, &d, c, c_rs, c_cs);
            }
    }
    for (int64_t r = M4; r < M; r++)
        for (int64_t j = 0; j < N; j++) {
            const int32_t d = dot(o->a + r * Kp, o->b + j * Kp, Kp);
            store_row(o, r, j, 1, &d, c, c_rs, c_cs);
        }
    if (o->check)   /* the digit rows of the checksum */
        for (int64_t j = 0; j < N; j++) {
            int32_t raw[4][32];
            for (int r = 0; r < 4; r++) raw[r][0] = dot(o->check + r * Kp, o->b + j * Kp, Kp);
            o->expected[j] = digits_value(raw, 0);
        }
#endif
}

/* The digit rows of exact ABFT (radrt_igemm_operands.check) for the K golden sums v:
 * v[k] = sum_r 256^r d_r[k] modulo 2^32 with every digit d_r in [-128, 127]; rows 4..7
 * and k >= K zero. */
static void check_digits(const int32_t *v, int64_t K, int64_t Kp, int8_t *rows) {
    memset(rows, 0, (size_t)(RADRT_IGEMM_CHECK_ROWS * Kp));
    for (int64_t k = 0; k < K; k++) {
        int64_t u = v[k];
        for (int r = 0; r < 4; r++) {
            const int64_t d = ((u + 128) & 255) - 128;
            rows[r * Kp + k] = (int8_t)d;
            u = (u - d) / 256;
        }
    }
}

static int64_t padded_k(int64_t K) { return (K + RADRT_IGEMM_KSTEP - 1) / RADRT_IGEMM_KSTEP * RADRT_IGEMM_KSTEP; }

static int32_t zero_point_of(const void *zp, int is_signed) {
    if (!zp) return 0;
    return is_signed ? (int32_t) * (const int8_t *)zp : (int32_t) * (const uint8_t *)zp;
}

static inline int32_t load_int(const void *p, int64_t i, int is_signed) {
    return is_signed ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

/* rows x K weights (row stride rs, column stride cs), int8 or uint8, as int8 rows of Kp
 * (uint8 minus 128), with each row's zero point (zp per row or NULL: 0) moved alike and
 * its sum. */
static void weight_rows(const void *w, int is_signed, int64_t rows, int64_t K, int64_t rs, int64_t cs,
                        const int32_t *zp, int8_t *out, int32_t *zero, int32_t *sum, int64_t Kp) {
    const int32_t shift = is_signed ? 0 : 128;
    for (int64_t r = 0; r < rows; r++) {
        int8_t *dst = out + r * Kp;
        int32_t total = 0;
        for (int64_t k = 0; k < K; k++) {
            const int32_t v = load_int(w, r * rs + k * cs, is_signed) - shift;
            dst[k] = (int8_t)v;
            total += v;
        }
        memset(dst + K, 0, (size_t)(Kp - K));
        zero[r] = (zp ? zp[r] : 0) - shift;
        sum[r] = total;
    }
}

/* rows x K activations of a matrix (strides rs, cs), int8 or uint8, as uint8 rows of Kp
 * (int8 plus 128) and their sums. */
static void activation_rows(const void *x, int is_signed, int64_t rows, int64_t K, int64_t rs, int64_t cs,
                            uint8_t *out, int32_t *sum, int64_t Kp) {
    const int32_t shift = is_signed ? 128 : 0;
    for (int64_t r = 0; r < rows; r++) {
        uint8_t *dst = out + r * Kp;
        int32_t total = 0;
        for (int64_t k = 0; k < K; k++) {
            const int32_t v = load_int(x, r * rs + k * cs, is_signed) + shift;
            dst[k] = (uint8_t)v;
            total += v;
        }
        memset(dst + K, 0, (size_t)(Kp - K));
        sum[r] = total;
    }
}

/* acc + b modulo 2^32: exact, since the compile-time bound keeps every sum of an
 * accumulator and its bias inside int32 (runtime/ops/integer.py); an upset value wraps
 * (defined behaviour) and is caught by the checks. */
static inline int32_t biased(int32_t acc, int32_t b) { return (int32_t)((uint32_t)acc + (uint32_t)b); }

/* One output-stage value of v = acc + b with scale s, before the conversion to the output
 * type (RADRT_QOUT_U8 / _I8: rounded half to even, shifted and saturated to [lo, hi]). */
static inline float quantized_value(int32_t v, float s, float zp, float lo, float hi) {
    const float q = nearbyintf((float)v * s) + zp;
    return q < lo ? lo : (q > hi ? hi : q);
}

/* One row of the output stage with one bias b and one scale s (the convolution's case:
 * both per output channel), to uint8 or int8 bytes (the conversion gives the bits of
 * either). verify: compare with y instead of storing, and return nonzero when a value
 * differs; colsum (verify only, may be NULL): colsum[j] += acc[j], the column sums of
 * exact ABFT taken in the same pass. With AVX-512, 16 values per step by the same
 * operations in the same order (conversion, multiply, round half to even, add, clamp),
 * so the same bits as the scalar loop. */
static int requantize_row(const int32_t *acc, int64_t cols, int32_t b, float s, float zp, float lo, float hi,
                          int verify, uint32_t *colsum, uint8_t *out) {
    uint8_t bad = 0;
    int64_t j = 0;
#if IG_AVX512
    const __m512i vb = _mm512_set1_epi32(b);
    const __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps(zp), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __m128i vbad = _mm_setzero_si128();
    for (; j + 16 <= cols; j += 16) {
        const __m512i a = _mm512_loadu_si512((const void *)(acc + j));
        if (verify && colsum)
            _mm512_storeu_si512((void *)(colsum + j), _mm512_add_epi32(_mm512_loadu_si512((void *)(colsum + j)), a));
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, vb)), vs);
        f = _mm512_add_ps(_mm512_roundscale_ps(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        const __m128i q = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(f, vlo), vhi)));
        if (verify)
            vbad = _mm_or_si128(vbad, _mm_xor_si128(q, _mm_loadu_si128((const __m128i *)(const void *)(out + j))));
        else
            _mm_storeu_si128((__m128i *)(void *)(out + j), q);
    }
    bad = !_mm_testz_si128(vbad, vbad);
#endif
    for (; j < cols; j++) {
        const uint8_t q = (uint8_t)(int32_t)quantized_value(biased(acc[j], b), s, zp, lo, hi);
        if (!verify) {
            out[j] = q;
            continue;
        }
        bad |= out[j] ^ q;
        if (colsum) colsum[j] += (uint32_t)acc[j];
    }
    return bad != 0;
}

/* One int32 row of the output stage, out[j] = acc[j] + b (requantize_row's verify and
 * colsum): loops the compiler vectorises. */
static int int32_row(const int32_t *acc, int64_t cols, int32_t b, int verify, uint32_t *colsum, int32_t *out) {
    if (!verify) {
        for (int64_t j = 0; j < cols; j++) out[j] = biased(acc[j], b);
        return 0;
    }
    uint32_t bad = 0;
    for (int64_t j = 0; j < cols; j++) bad |= (uint32_t)(out[j] ^ biased(acc[j], b));
    if (colsum)
        for (int64_t j = 0; j < cols; j++) colsum[j] += (uint32_t)acc[j];
    return bad != 0;
}

/* radrt_requantize, or (verify) nonzero when an output of y differs from what it would
 * store, adding each column's accumulators into colsum (when not NULL). */
static int output_stage(const int32_t *acc, int64_t rows, int64_t cols, const int32_t *bias, int64_t bias_rs,
                        int64_t bias_cs, const float *scale, int64_t scale_rs, int64_t scale_cs, int32_t zero_point,
                        int out_kind, int verify, uint32_t *colsum, void *y) {
    const float lo = out_kind == RADRT_QOUT_I8 ? -128.0f : 0.0f, hi = out_kind == RADRT_QOUT_I8 ? 127.0f : 255.0f;
    const float zp = (float)zero_point;
    const int quantized = out_kind == RADRT_QOUT_U8 || out_kind == RADRT_QOUT_I8;
    int bad = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (quantized && (!bias || bias_cs == 0) && scale_cs == 0) {
            bad |= requantize_row(acc + r * cols, cols, bias ? bias[r * bias_rs] : 0, scale[r * scale_rs], zp, lo, hi,
                                  verify, colsum, (uint8_t *)y + r * cols);
            continue;
        }
        if (out_kind == RADRT_QOUT_I32 && (!bias || bias_cs == 0)) {   /* ConvInteger: one bias (or none) per row */
            bad |= int32_row(acc + r * cols, cols, bias ? bias[r * bias_rs] : 0, verify, colsum,
                             (int32_t *)y + r * cols);
            continue;
        }
        for (int64_t j = 0; j < cols; j++) {
            const int64_t i = r * cols + j;
            if (verify && colsum) colsum[j] += (uint32_t)acc[i];
            const int32_t v = biased(acc[i], bias ? bias[r * bias_rs + j * bias_cs] : 0);
            if (out_kind == RADRT_QOUT_I32) {
                if (verify) bad |= ((int32_t *)y)[i] != v;
                else ((int32_t *)y)[i] = v;
            } else if (out_kind == RADRT_QOUT_F32) {
                const float f = (float)v * scale[r * scale_rs + j * scale_cs];
                if (verify) bad |= memcmp(&((float *)y)[i], &f, 4) != 0;
                else ((float *)y)[i] = f;
            } else {
                const float q = quantized_value(v, scale[r * scale_rs + j * scale_cs], zp, lo, hi);
                if (out_kind == RADRT_QOUT_I8) {
                    if (verify) bad |= ((int8_t *)y)[i] != (int8_t)q;
                    else ((int8_t *)y)[i] = (int8_t)q;
                } else {
                    if (verify) bad |= ((uint8_t *)y)[i] != (uint8_t)q;
                    else ((uint8_t *)y)[i] = (uint8_t)q;
                }
            }
        }
    }
    return bad;
}

void radrt_requantize(const int32_t *acc, int64_t rows, int64_t cols, const int32_t *bias, int64_t bias_rs,
                      int64_t bias_cs, const float *scale, int64_t scale_rs, int64_t scale_cs, int32_t zero_point,
                      int out_kind, void *y) {
    output_stage(acc, rows, cols, bias, bias_rs, bias_cs, scale, scale_rs, scale_cs, zero_point, out_kind, 0, NULL, y);
}

static size_t out_elem_bytes(int out_kind) {
    return out_kind == RADRT_QOUT_I32 || out_kind == RADRT_QOUT_F32 ? 4 : 1;
}

/* ---- convolution ----------------------------------------------------------------- */

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

#if defined(__SSE2__)
/* out[w * C + c] = in[c * plane + w] ^ flip for 16 channels x 16 pixels: a 16 x 16 byte
 * transpose by four rounds of interleaves (bytes, then pairs, quads and octets of
 * channels), 16-byte loads and stores; flip 0x80 maps int8 to uint8 (v + 128). */
static void transpose_16x16(const uint8_t *in, int64_t plane, uint8_t *out, int64_t C, __m128i flip) {
    __m128i r[16], a[16], b[16], c[16];
    for (int i = 0; i < 16; i++) r[i] = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(in + i * plane)), flip);
    for (int i = 0; i < 8; i++) {   /* a[i]: pixels 0-7 of channels 2i, 2i+1; a[8 + i]: pixels 8-15 */
        a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        a[8 + i] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++)   /* b[4g + q]: pixels 4g..4g+3 of channels 4q..4q+3 */
        for (int i = 0; i < 4; i++) {
            b[8 * h + i] = _mm_unpacklo_epi16(a[8 * h + 2 * i], a[8 * h + 2 * i + 1]);
            b[8 * h + 4 + i] = _mm_unpackhi_epi16(a[8 * h + 2 * i], a[8 * h + 2 * i + 1]);
        }
    for (int g = 0; g < 4; g++)   /* c[4g + 2j + h]: pixels 4g + 2h, +1 of channels 8j..8j+7 */
        for (int j = 0; j < 2; j++) {
            c[4 * g + 2 * j] = _mm_unpacklo_epi32(b[4 * g + 2 * j], b[4 * g + 2 * j + 1]);
            c[4 * g + 2 * j + 1] = _mm_unpackhi_epi32(b[4 * g + 2 * j], b[4 * g + 2 * j + 1]);
        }
    for (int g = 0; g < 4; g++)
        for (int h = 0; h < 2; h++) {
            const int64_t w = 4 * g + 2 * h;
            _mm_storeu_si128((__m128i *)(void *)(out + w * C), _mm_unpacklo_epi64(c[4 * g + h], c[4 * g + 2 + h]));
            _mm_storeu_si128((__m128i *)(void *)(out + (w + 1) * C),
                             _mm_unpackhi_epi64(c[4 * g + h], c[4 * g + 2 + h]));
        }
}
#endif

/* The padded image of one group of one image, channels last: pixel (d, h, w) of the
 * padded grid holds its channels.. values contiguously, as uint8 (int8 plus 128), and
 * the frame holds the zero point (also shifted). pdims: the padded grid (padded_dims). */
static void padded_image(const radrt_im2col *g, const void *x, int is_signed, uint8_t pad, uint8_t *dst,
                         const int64_t *pdims) {
    const int64_t plane = prod3(g->in), C = g->channels;
    const uint8_t flip = is_signed ? 0x80 : 0;   /* int8 v + 128 as uint8 is v ^ 0x80 */
    const uint8_t *xb = (const uint8_t *)x;
    int framed = 0;
    for (int d = 0; d < 3; d++) framed |= pdims[d] != g->in[d];
    if (framed) memset(dst, pad, (size_t)(prod3(pdims) * C));
    for (int64_t d = 0; d < g->in[0]; d++)
        for (int64_t h = 0; h < g->in[1]; h++) {
            uint8_t *row = dst + ((d + g->pad[0]) * pdims[1] + h + g->pad[1]) * pdims[2] * C + g->pad[2] * C;
            const int64_t src = (d * g->in[1] + h) * g->in[2];
            /* blocks of 16 pixels: 16 x 16 transposes, then one channel at a time */
            for (int64_t w0 = 0; w0 < g->in[2]; w0 += 16) {
                const int64_t n = g->in[2] - w0 < 16 ? g->in[2] - w0 : 16;
                uint8_t *out = row + w0 * C;
                int64_t c = 0;
#if defined(__SSE2__)
                if (n == 16)
                    for (; c + 16 <= C; c += 16)
                        transpose_16x16(xb + c * plane + src + w0, plane, out + c, C, _mm_set1_epi8((char)flip));
#endif
                for (; c < C; c++) {
                    const uint8_t *in = xb + c * plane + src + w0;
                    for (int64_t w = 0; w < n; w++) out[w * C + c] = in[w] ^ flip;
                }
            }
        }
}

/* The padded grid: each input size plus its begin pad and what the last window reaches. */
static void padded_dims(const radrt_im2col *g, int64_t *pdims) {
    for (int d = 0; d < 3; d++) {
        const int64_t reach = (g->out[d] - 1) * g->stride[d] + (g->kernel[d] - 1) * g->dilation[d] + 1;
        const int64_t size = g->in[d] + g->pad[d];
        pdims[d] = reach > size ? reach : size;
    }
}

/* dst[0..n) = src[0..n), n >= 16: a tap's channels, inline (a memcpy call per tap cost
 * more than the copy), 16 bytes at a time on x86-64. */
static inline void copy_run(uint8_t *restrict dst, const uint8_t *restrict src, int64_t n) {
    int64_t c = 0;
#if defined(__SSE2__)
    for (; c + 16 <= n; c += 16)
        _mm_storeu_si128((__m128i *)(void *)(dst + c), _mm_loadu_si128((const __m128i *)(const void *)(src + c)));
#endif
    for (; c < n; c++) dst[c] = src[c];
}

/* The im2row matrix of one group of one image (positions x Kp uint8): row n holds the
 * K values output position n reads, in (kd, kh, kw, channel) order (each tap's channels
 * are contiguous in the padded image), then zeros; when sums is not NULL, each row's sum
 * over its K values. */
static void im2row_u8(const radrt_im2col *g, const uint8_t *image, const int64_t *pdims, uint8_t *rows,
                      int32_t *sums, int64_t Kp) {
    const int64_t C = g->channels, K = C * prod3(g->kernel);
    /* undilated along w, a row of taps is kernel[2] adjacent pixels: one run of bytes */
    const int64_t run = g->dilation[2] == 1 ? g->kernel[2] * C : C, runs = g->dilation[2] == 1 ? 1 : g->kernel[2];
    uint8_t *dst = rows;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++)
            for (int64_t ow = 0; ow < g->out[2]; ow++, dst += Kp) {
                uint8_t *out = dst;
                for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                    for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                        for (int64_t kw = 0; kw < runs; kw++, out += run) {
                            const int64_t pixel = ((od * g->stride[0] + kd * g->dilation[0]) * pdims[1] +
                                                   oh * g->stride[1] + kh * g->dilation[1]) * pdims[2] +
                                                  ow * g->stride[2] + kw * g->dilation[2];
                            if (run >= 16)
                                copy_run(out, image + pixel * C, run);
                            else   /* a few bytes (a first layer's 1 x 1): the plain loop is fastest */
                                for (int64_t c = 0; c < run; c++) out[c] = image[pixel * C + c];
                        }
                memset(dst + K, 0, (size_t)(Kp - K));
                if (sums) {
                    int32_t total = 0;
                    for (int64_t k = 0; k < K; k++) total += dst[k];
                    *sums++ = total;
                }
            }
}

/* The weights of a convolution (out_channels x channels x kernel, ONNX layout) as int8
 * rows in im2row's (kd, kh, kw, channel) order, with zero points and sums (weight_rows). */
static void conv_weight_rows(const radrt_qconv_params *p, const void *w, const int32_t *zp, int8_t *out,
                             int32_t *zero, int32_t *sum, int64_t Kp) {
    const int64_t C = p->geom.channels, taps = prod3(p->geom.kernel), K = C * taps;
    const int32_t shift = p->w_signed ? 0 : 128;
    for (int64_t m = 0; m < p->out_channels; m++) {
        int8_t *dst = out + m * Kp;
        int32_t total = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < taps; t++) {
                const int32_t v = load_int(w, (m * C + c) * taps + t, p->w_signed) - shift;
                dst[t * C + c] = (int8_t)v;
                total += v;
            }
        memset(dst + K, 0, (size_t)(Kp - K));
        zero[m] = (zp ? zp[m] : 0) - shift;
        sum[m] = total;
    }
}

/* A depthwise group (one input channel): for each of the group's output channels, the
 * int32 outputs straight from the padded plane (channels = 1: the padded image is the
 * plane), each tap's weight times a row of inputs at a time (vectorised over ow when the
 * stride is 1). w8 rows and zero points as conv_weight_rows gives them. */
static void depthwise_group(const radrt_im2col *g, const uint8_t *plane, const int64_t *pdims, int32_t x_zero,
                            const int8_t *w8, const int32_t *w_zero, int64_t rows, int64_t Kp, int32_t *acc) {
    const int64_t positions = prod3(g->out), ow_n = g->out[2], sw = g->stride[2];
    for (int64_t m = 0; m < rows; m++) {
        for (int64_t od = 0; od < g->out[0]; od++)
            for (int64_t oh = 0; oh < g->out[1]; oh++) {
                int32_t *out = acc + m * positions + (od * g->out[1] + oh) * ow_n;
                memset(out, 0, (size_t)ow_n * sizeof(int32_t));
                int64_t t = 0;
                for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                    for (int64_t kh = 0; kh < g->kernel[1]; kh++) {
                        const uint8_t *src = plane + ((od * g->stride[0] + kd * g->dilation[0]) * pdims[1] +
                                                      oh * g->stride[1] + kh * g->dilation[1]) * pdims[2];
                        for (int64_t kw = 0; kw < g->kernel[2]; kw++, t++) {
                            const int32_t wv = (int32_t)w8[m * Kp + t] - w_zero[m];
                            const uint8_t *sp = src + kw * g->dilation[2];
                            if (sw == 1)
                                for (int64_t ow = 0; ow < ow_n; ow++) out[ow] += wv * ((int32_t)sp[ow] - x_zero);
                            else
                                for (int64_t ow = 0; ow < ow_n; ow++) out[ow] += wv * ((int32_t)sp[ow * sw] - x_zero);
                        }
                    }
            }
    }
}

/* ---- exact ABFT (integer.h) ------------------------------------------------------- */

/* The exact checksums of one radrt_igemm product made with its prediction
 * (radrt_igemm_operands.check, .expected), one per activation row n: the sum over the
 * weight rows of c[m][n] (observed[n] when the caller summed it; else summed here from c
 * with c_rs = 1, a matrix product's rows, c_cs its row stride) against expected[n] - zb
 * sum_k v[k], modulo 2^32 (v: the golden sums of the weight rows minus their zero
 * points). Returns the number that differ. */
static int64_t check_product(const radrt_igemm_operands *o, const int32_t *v, const uint32_t *observed,
                             const int32_t *c, int64_t c_cs) {
    uint32_t vsum = 0;
    for (int64_t k = 0; k < o->K; k++) vsum += (uint32_t)v[k];
    const uint32_t shift = (uint32_t)o->zero_b * vsum;
    int64_t bad = 0;
    for (int64_t n = 0; n < o->rows_b; n++) {
        uint32_t total = 0;
        if (observed)
            total = observed[n];
        else
            for (int64_t m = 0; m < o->rows_a; m++) total += (uint32_t)c[n * c_cs + m];
        bad += total != o->expected[n] - shift;
    }
    return bad;
}

/* The exact checksums of one depthwise group (depthwise_group's arguments): per output
 * channel m, sum_n acc[m][n] against sum_t (w[m][t] - za[m]) (S[t] - positions x_zero),
 * S[t] the sum over output positions of the input tap t reads. Each S[t] is a sum over
 * the rows that tap reads of that row's sum at kw (rowsum: one per padded row, made once
 * per kw), so the check costs about kernel_h x fewer additions than the convolution.
 * work: taps + pdims[0] x pdims[1] uint32 (S, then rowsum). */
static int64_t check_depthwise(const radrt_im2col *g, const uint8_t *plane, const int64_t *pdims, int32_t x_zero,
                               const int8_t *w8, const int32_t *w_zero, int64_t rows, int64_t Kp, const int32_t *acc,
                               uint32_t *work) {
    const int64_t positions = prod3(g->out), sw = g->stride[2], taps = prod3(g->kernel);
    const int64_t KH = g->kernel[1], KW = g->kernel[2], prow = pdims[0] * pdims[1];
    uint32_t *S = work, *rowsum = work + taps;
    for (int64_t kw = 0; kw < KW; kw++) {
        for (int64_t r = 0; r < prow; r++) {
            const uint8_t *src = plane + r * pdims[2] + kw * g->dilation[2];
            uint32_t total = 0;
            for (int64_t ow = 0; ow < g->out[2]; ow++) total += src[ow * sw];
            rowsum[r] = total;
        }
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < KH; kh++) {
                uint32_t total = 0;
                for (int64_t od = 0; od < g->out[0]; od++)
                    for (int64_t oh = 0; oh < g->out[1]; oh++)
                        total += rowsum[(od * g->stride[0] + kd * g->dilation[0]) * pdims[1] + oh * g->stride[1] +
                                        kh * g->dilation[1]];
                S[(kd * KH + kh) * KW + kw] = total - (uint32_t)positions * (uint32_t)x_zero;
            }
    }
    int64_t bad = 0;
    for (int64_t m = 0; m < rows; m++) {
        uint32_t observed = 0, expected = 0;
        for (int64_t n = 0; n < positions; n++) observed += (uint32_t)acc[m * positions + n];
        for (int64_t k = 0; k < taps; k++) expected += (uint32_t)((int32_t)w8[m * Kp + k] - w_zero[m]) * S[k];
        bad += observed != expected;
    }
    return bad;
}

/* Seals y as the checked parts of it are done: whole words up to byte `end` (all of y
 * when last), from where the previous call stopped (*done, bytes). */
static void seal_through(radrt_abft *ck, const void *y, size_t end, int last, size_t *done) {
    const size_t upto = last ? end : end / 4 * 4;
    if (ck->seal && upto > *done)
        radrt_seal_add((radrt_seal *)(void *)ck->seal, (const char *)y + *done, upto - *done,
                       (uint64_t)ck->seal_base + *done / 4);
    if (upto > *done) *done = upto;
}

static int64_t conv_k(const radrt_qconv_params *p) { return p->geom.channels * prod3(p->geom.kernel); }

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* Sum of the 64-byte aligned sizes (a product of two counts and an element size each),
 * SIZE_MAX when it does not fit int64. */
static size_t scratch_sum(const size_t (*parts)[3], int n) {
    const size_t limit = (size_t)INT64_MAX / 8;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const size_t a = parts[i][0], b = parts[i][1], e = parts[i][2];
        if (a && b > limit / a) return SIZE_MAX;
        if (a * b > limit / e) return SIZE_MAX;
        total += align64(a * b * e);
        if (total > limit) return SIZE_MAX;
    }
    return total;
}

/* ---- packed weights: [rows of Kp int8 + RADRT_IGEMM_ROW_PAD zero rows][zero points,
 * int32][sums, int32], each part 64-byte aligned. Built at compile time for constant
 * weights (runtime/ops/integer.py), or into scratch at each call for runtime ones. */

size_t radrt_qweights_bytes(int64_t rows, int64_t K) {
    const size_t parts[3][3] = {{(size_t)rows + RADRT_IGEMM_ROW_PAD, (size_t)padded_k(K), 1}, {(size_t)rows, 1, 4},
                                {(size_t)rows, 1, 4}};
    if (rows < 0 || K < 0) return SIZE_MAX;
    return scratch_sum(parts, 3);
}

typedef struct {
    int8_t *rows;
    int32_t *zero, *sum;
} packed_parts;

static packed_parts parts_of(const void *packed, int64_t rows, int64_t Kp) {
    char *b = (char *)(uintptr_t)packed;   /* the kernels only read a compile-time block */
    packed_parts q;
    q.rows = (int8_t *)b;
    q.zero = (int32_t *)(b + align64((size_t)((rows + RADRT_IGEMM_ROW_PAD) * Kp)));
    q.sum = (int32_t *)((char *)q.zero + align64((size_t)rows * 4));
    return q;
}

void radrt_qconv_pack(const radrt_qconv_params *p, const void *w, const int32_t *w_zero_point, void *packed) {
    const int64_t Kp = padded_k(conv_k(p)), cout = p->out_channels;
    const packed_parts q = parts_of(packed, cout, Kp);
    conv_weight_rows(p, w, w_zero_point, q.rows, q.zero, q.sum, Kp);
    memset(q.rows + cout * Kp, 0, (size_t)(RADRT_IGEMM_ROW_PAD * Kp));
}

void radrt_qmatmul_pack(const radrt_qmatmul_params *p, const void *b, const int32_t *b_zero_point, void *packed) {
    const int64_t N = p->N, K = p->K, Kp = padded_k(K);
    const packed_parts q = parts_of(packed, N, Kp);
    if (p->b_transposed)   /* N x K: row n is column n of B */
        weight_rows(b, p->b_signed, N, K, K, 1, b_zero_point, q.rows, q.zero, q.sum, Kp);
    else                   /* K x N: column n has stride N */
        weight_rows(b, p->b_signed, N, K, 1, N, b_zero_point, q.rows, q.zero, q.sum, Kp);
    memset(q.rows + N * Kp, 0, (size_t)(RADRT_IGEMM_ROW_PAD * Kp));
}

/* Scratch: the padded image, the im2row and its sums of one group; the int32 outputs of
 * one group; the packing panel; exact ABFT's digit rows, predictions (one per position)
 * and sums (one per position, or per tap and padded row); the packed weights when they
 * are not packed already. */
size_t radrt_qconv_scratch_bytes(const radrt_qconv_params *p) {
    const size_t Kp = (size_t)padded_k(conv_k(p)), positions = (size_t)prod3(p->geom.out);
    const size_t cout_g = (size_t)(p->out_channels / p->group), K = (size_t)conv_k(p);
    int64_t pdims[3];
    padded_dims(&p->geom, pdims);
    const size_t prow = (size_t)(pdims[0] * pdims[1]);   /* padded rows: check_depthwise's row sums */
    const size_t weights = p->w_packed ? 0 : radrt_qweights_bytes(p->out_channels, conv_k(p));
    const size_t parts[9][3] = {{(size_t)p->geom.channels, (size_t)prod3(pdims), 1},   /* padded image */
                                {positions, Kp, 1}, {positions, 1, 4}, {cout_g, positions, 4},
                                {RADRT_IGEMM_PANEL_ROWS, Kp, 1}, {RADRT_IGEMM_CHECK_ROWS, Kp, 1}, {positions, 1, 4},
                                {positions > K + prow ? positions : K + prow, 1, 4}, {weights, 1, 1}};
    return weights == SIZE_MAX ? SIZE_MAX : scratch_sum(parts, 9);
}

void radrt_qconv(const radrt_qconv_params *p, const void *x, const void *x_zero_point, const void *w,
                 const int32_t *w_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch,
                 radrt_abft *ck) {
    const int64_t K = conv_k(p), Kp = padded_k(K), positions = prod3(p->geom.out), plane = prod3(p->geom.in);
    const int64_t cout = p->out_channels, cout_g = cout / p->group;
    const int32_t x_zp = zero_point_of(x_zero_point, p->x_signed);
    char *s = (char *)scratch;
    int64_t pdims[3];
    padded_dims(&p->geom, pdims);
    uint8_t *image = (uint8_t *)s;
    s += align64((size_t)(p->geom.channels * prod3(pdims)));
    uint8_t *rows = (uint8_t *)s;
    s += align64((size_t)(positions * Kp));
    int32_t *row_sum = (int32_t *)s;
    s += align64((size_t)positions * 4);
    int32_t *acc = (int32_t *)s;
    s += align64((size_t)(cout_g * positions) * 4);
    uint8_t *panel = (uint8_t *)s;
    s += align64((size_t)(RADRT_IGEMM_PANEL_ROWS * Kp));
    int8_t *digits = (int8_t *)s;
    s += align64((size_t)(RADRT_IGEMM_CHECK_ROWS * Kp));
    uint32_t *expected = (uint32_t *)s;
    s += align64((size_t)positions * 4);
    uint32_t *sums = (uint32_t *)s;   /* column sums (GEMM path) or window sums (depthwise) */
    const int64_t prow = pdims[0] * pdims[1];
    s += align64((size_t)(positions > K + prow ? positions : K + prow) * 4);
    if (!p->w_packed) {
        radrt_qconv_pack(p, w, w_zero_point, s);
        w = s;
        ck = NULL;   /* checked only with constant (packed) weights: see integer.h */
    }
    const packed_parts q = parts_of(w, cout, Kp);
    const int8_t *w8 = q.rows;
    const int32_t *w_zero = q.zero, *w_sum = q.sum;
    int sums_needed = 0;   /* the im2row sums only matter with a weight zero point */
    for (int64_t m = 0; m < cout; m++) sums_needed |= w_zero[m] != 0;
    const int32_t x_zero = x_zp + (p->x_signed ? 128 : 0);
    const size_t yb = out_elem_bytes(p->out_kind);
    int pointwise = K == Kp;   /* 1 x 1, stride 1, no pad, channels a multiple of the K step */
    for (int d = 0; d < 3; d++)
        pointwise &= p->geom.kernel[d] == 1 && p->geom.stride[d] == 1 && p->geom.pad[d] == 0 &&
                     p->geom.out[d] == p->geom.in[d];
    const int depthwise = p->geom.channels == 1 && p->group > 1;
    size_t sealed = 0;   /* bytes of y sealed (ck) */
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t grp = 0; grp < p->group; grp++) {
            const char *xg = (const char *)x + (size_t)((n * p->in_channels + grp * p->geom.channels) * plane);
            padded_image(&p->geom, xg, p->x_signed, (uint8_t)x_zero, image, pdims);
            const int64_t m0 = grp * cout_g;
            radrt_igemm_operands o = {0};
            if (depthwise) {   /* direct, no im2row */
                depthwise_group(&p->geom, image, pdims, x_zero, w8 + m0 * Kp, w_zero + m0, cout_g, Kp, acc);
            } else {
                const uint8_t *b = rows;
                if (pointwise) {   /* the channels-last image is the im2row matrix already */
                    b = image;
                    if (sums_needed)
                        for (int64_t j = 0; j < positions; j++) {
                            int32_t total = 0;
                            for (int64_t k = 0; k < K; k++) total += image[j * Kp + k];
                            row_sum[j] = total;
                        }
                } else {
                    im2row_u8(&p->geom, image, pdims, rows, sums_needed ? row_sum : NULL, Kp);
                }
                const radrt_igemm_operands g = {cout_g, positions, K, Kp, w8 + m0 * Kp, w_zero + m0, w_sum + m0,
                                                b, x_zero, sums_needed ? row_sum : NULL, panel, NULL, NULL};
                o = g;
                if (ck) {   /* the prediction, computed by the product from the same panels */
                    check_digits(ck->isum + grp * K, K, Kp, digits);
                    o.check = digits;
                    o.expected = expected;
                    memset(sums, 0, (size_t)positions * 4);
                }
                radrt_igemm(&o, acc, positions, 1);
            }
            const size_t y0 = (size_t)((n * cout + m0) * positions) * yb;
            for (int verify = 0; verify <= (ck != NULL); verify++) {   /* store, then (ck) check what was stored */
                const int bad = output_stage(acc, cout_g, positions, bias ? bias + m0 : NULL, 1, 0,
                                             p->scale_per_channel ? scale + m0 : scale, p->scale_per_channel, 0,
                                             p->y_zero_point, p->out_kind, verify, depthwise ? NULL : sums,
                                             (char *)y + y0);
                if (verify) ck->exceeded += bad != 0;
            }
            if (ck) {   /* after the output stage read the accumulators: see integer.h */
                if (depthwise) {
                    ck->exceeded += check_depthwise(&p->geom, image, pdims, x_zero, w8 + m0 * Kp, w_zero + m0,
                                                    cout_g, Kp, acc, sums);
                    ck->checked += cout_g;
                } else {
                    ck->exceeded += check_product(&o, ck->isum + grp * K, sums, acc, 1);
                    ck->checked += positions;
                }
                seal_through(ck, y, y0 + (size_t)(cout_g * positions) * yb,
                             n == p->batch - 1 && grp == p->group - 1, &sealed);
            }
        }
}

/* ---- matrix product --------------------------------------------------------------- */

/* Scratch: A's rows (M x Kp) and sums; the int32 product; the packing panel; exact
 * ABFT's digit rows and predictions (one per row of A); B packed (its columns as weight
 * rows) when it is not packed already. */
size_t radrt_qmatmul_scratch_bytes(const radrt_qmatmul_params *p) {
    const size_t Kp = (size_t)padded_k(p->K), M = (size_t)p->M, N = (size_t)p->N;
    const size_t weights = p->b_packed ? 0 : radrt_qweights_bytes(p->N, p->K);
    const size_t parts[7][3] = {{M, Kp, 1}, {M, 1, 4}, {M, N, 4}, {RADRT_IGEMM_PANEL_ROWS, Kp, 1},
                                {RADRT_IGEMM_CHECK_ROWS, Kp, 1}, {M, 1, 4}, {weights, 1, 1}};
    return weights == SIZE_MAX ? SIZE_MAX : scratch_sum(parts, 7);
}

void radrt_qmatmul(const radrt_qmatmul_params *p, const void *a, const void *a_zero_point, const void *b,
                   const int32_t *b_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch,
                   radrt_abft *ck) {
    const int64_t M = p->M, N = p->N, K = p->K, Kp = padded_k(K);
    char *s = (char *)scratch;
    uint8_t *a8 = (uint8_t *)s;
    s += align64((size_t)(M * Kp));
    int32_t *a_sum = (int32_t *)s;
    s += align64((size_t)M * 4);
    int32_t *acc = (int32_t *)s;
    s += align64((size_t)(M * N) * 4);
    uint8_t *panel = (uint8_t *)s;
    s += align64((size_t)(RADRT_IGEMM_PANEL_ROWS * Kp));
    int8_t *digits = (int8_t *)s;
    s += align64((size_t)(RADRT_IGEMM_CHECK_ROWS * Kp));
    uint32_t *expected = (uint32_t *)s;
    s += align64((size_t)M * 4);
    const int32_t a_zp = zero_point_of(a_zero_point, p->a_signed) + (p->a_signed ? 128 : 0);
    const size_t yb = out_elem_bytes(p->out_kind);
    if (!p->b_packed) ck = NULL;   /* checked only with a constant (packed) B: see integer.h */
    if (ck) check_digits(ck->isum, K, Kp, digits);
    size_t sealed = 0;   /* bytes of y sealed (ck) */
    for (int64_t i = 0; i < p->batch; i++) {
        const void *packed = b;
        if (!p->b_packed) {
            if (i == 0 || p->b_batch_stride)
                radrt_qmatmul_pack(p, (const char *)b + (size_t)(i * p->b_batch_stride), b_zero_point, s);
            packed = s;
        }
        const packed_parts q = parts_of(packed, N, Kp);
        activation_rows((const char *)a + (size_t)(i * M * K), p->a_signed, M, K, p->a_rs, p->a_cs, a8, a_sum, Kp);
        /* weight rows are B's columns: C[i][j] = dot(column j, row i), stored at i * N + j */
        const radrt_igemm_operands o = {N, M, K, Kp, q.rows, q.zero, q.sum, a8, a_zp, a_sum, panel,
                                        ck ? digits : NULL, expected};
        radrt_igemm(&o, acc, 1, N);
        const size_t y0 = (size_t)(i * M * N) * yb;
        for (int verify = 0; verify <= (ck != NULL); verify++) {   /* store, then (ck) check what was stored */
            const int bad = output_stage(acc, M, N, bias, p->bias_rs, p->bias_cs, scale, 0, p->scale_per_column,
                                         p->y_zero_point, p->out_kind, verify, NULL, (char *)y + y0);
            if (verify) ck->exceeded += bad != 0;
        }
        if (ck) {   /* after the output stage read the accumulators: see integer.h */
            ck->exceeded += check_product(&o, ck->isum, NULL, acc, N);
            ck->checked += M;
            seal_through(ck, y, y0 + (size_t)(M * N) * yb, i == p->batch - 1, &sealed);
        }
    }
}

/* ---- DynamicQuantizeLinear ---------------------------------------------------------- */

void radrt_dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zero_point) {
    float lo = 0.0f, hi = 0.0f;
    int64_t i = 0;
#if IG_AVX512
    /* the range over finite values (inf skipped, NaN compares false): masked min/max */
    __m512 vlo = _mm512_setzero_ps(), vhi = _mm512_setzero_ps();
    const __m512 vinf = _mm512_set1_ps(INFINITY);
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __mmask16 finite = _mm512_cmp_ps_mask(_mm512_abs_ps(v), vinf, _CMP_LT_OQ);
        vlo = _mm512_mask_min_ps(vlo, finite, vlo, v);
        vhi = _mm512_mask_max_ps(vhi, finite, vhi, v);
    }
    lo = _mm512_reduce_min_ps(vlo);
    hi = _mm512_reduce_max_ps(vhi);
#endif
    for (; i < n; i++) {
        const float v = x[i];
        if (isinf(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    float s = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    if (s == 0.0f) s = 1.0f / 255.0f; /* a range of subnormals: as all zero (0 / 0 otherwise) */
    float z = nearbyintf(0.0f - lo / s);
    z = z < 0.0f ? 0.0f : (z > 255.0f ? 255.0f : z);
    i = 0;
#if IG_AVX512
    /* the same operations as the loop below (divide, round half to even, add, NaN to z,
     * clamp), 16 at a time */
    const __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps(z), v255 = _mm512_set1_ps(255.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 q = _mm512_add_ps(_mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(x + i), vs),
                                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        q = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q), q, vz);
        q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), v255);
        _mm_storeu_si128((__m128i *)(void *)(y + i), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q)));
    }
#endif
    for (; i < n; i++) {
        float q = nearbyintf(x[i] / s) + z;
        if (q != q) q = z;
        q = q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q);
        y[i] = (uint8_t)q;
    }
    *scale = s;
    *zero_point = (uint8_t)z;
}

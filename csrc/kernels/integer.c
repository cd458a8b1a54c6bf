/* Integer convolution and matrix product (integer.h has the semantics).
 *
 * The product: every C element is the dot product of a row of A and a row of B (both
 * int16, K padded with zeros to a multiple of RADRT_IGEMM_KSTEP). igemm_4x4 computes a
 * 4 x 4 tile as 16 dot products in one pass over k, each loaded value used 4 times; the
 * compiler vectorises the k loop into int16 multiply-add instructions (vpmaddwd, or
 * vpdpwssd with VNNI) on x86 and their NEON equivalents. int32 addition is exact here
 * (the caller bounds every sum), so the result does not depend on the order.
 *
 * A convolution widens its weights once per call (out_channels x Kp) and its input
 * image by image and group into the im2row matrix (one row of Kp values per output
 * position, padding 0 = the zero point subtracted), then each output channel of the
 * group is a row of dot products with those rows; the (channel, position) plane is
 * requantized when asked. A matrix product widens A (M x Kp) and B (N x Kp, transposed
 * when given K x N). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "integer.h"

static void igemm_4x4(const int16_t *restrict a, const int16_t *restrict b, int64_t Kp, int32_t *restrict c,
                      int64_t ldc) {
    const int16_t *a0 = a, *a1 = a + Kp, *a2 = a + 2 * Kp, *a3 = a + 3 * Kp;
    const int16_t *b0 = b, *b1 = b + Kp, *b2 = b + 2 * Kp, *b3 = b + 3 * Kp;
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
    c[0] = s00; c[1] = s01; c[2] = s02; c[3] = s03;
    c += ldc;
    c[0] = s10; c[1] = s11; c[2] = s12; c[3] = s13;
    c += ldc;
    c[0] = s20; c[1] = s21; c[2] = s22; c[3] = s23;
    c += ldc;
    c[0] = s30; c[1] = s31; c[2] = s32; c[3] = s33;
}

static int32_t dot(const int16_t *restrict a, const int16_t *restrict b, int64_t Kp) {
    int32_t s = 0;
    for (int64_t k = 0; k < Kp; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

void radrt_igemm(int64_t M, int64_t N, int64_t Kp, const int16_t *a, const int16_t *b, int32_t *c, int64_t ldc) {
    const int64_t M4 = M / 4 * 4, N4 = N / 4 * 4;
    for (int64_t i = 0; i < M4; i += 4) {
        for (int64_t j = 0; j < N4; j += 4) igemm_4x4(a + i * Kp, b + j * Kp, Kp, c + i * ldc + j, ldc);
        for (int64_t r = i; r < i + 4; r++)
            for (int64_t j = N4; j < N; j++) c[r * ldc + j] = dot(a + r * Kp, b + j * Kp, Kp);
    }
    for (int64_t r = M4; r < M; r++)
        for (int64_t j = 0; j < N; j++) c[r * ldc + j] = dot(a + r * Kp, b + j * Kp, Kp);
}

static int64_t padded_k(int64_t K) { return (K + RADRT_IGEMM_KSTEP - 1) / RADRT_IGEMM_KSTEP * RADRT_IGEMM_KSTEP; }

static inline int32_t load_int(const void *p, int64_t i, int is_signed) {
    return is_signed ? (int32_t)((const int8_t *)p)[i] : (int32_t)((const uint8_t *)p)[i];
}

/* rows x K values (row stride rs, column stride cs) of an int8/uint8 matrix, minus the
 * zero point of the row (zp per row, or NULL) or of all (zp_all), as rows of Kp int16. */
static void widen_rows(const void *x, int is_signed, int64_t rows, int64_t K, int64_t rs, int64_t cs,
                       const int32_t *zp, int32_t zp_all, int16_t *y, int64_t Kp) {
    for (int64_t r = 0; r < rows; r++) {
        const int32_t z = zp ? zp[r] : zp_all;
        int16_t *dst = y + r * Kp;
        if (cs == 1 && is_signed)
            for (int64_t k = 0; k < K; k++) dst[k] = (int16_t)(((const int8_t *)x)[r * rs + k] - z);
        else if (cs == 1)
            for (int64_t k = 0; k < K; k++) dst[k] = (int16_t)(((const uint8_t *)x)[r * rs + k] - z);
        else
            for (int64_t k = 0; k < K; k++) dst[k] = (int16_t)(load_int(x, r * rs + k * cs, is_signed) - z);
        memset(dst + K, 0, (size_t)(Kp - K) * sizeof(int16_t));
    }
}

static int32_t zero_point_of(const void *zp, int is_signed) {
    if (!zp) return 0;
    return is_signed ? (int32_t) * (const int8_t *)zp : (int32_t) * (const uint8_t *)zp;
}

void radrt_requantize(const int32_t *acc, int64_t rows, int64_t cols, const int32_t *bias, const float *scale,
                      int scale_per, int32_t zero_point, int out_kind, void *y) {
    const float lo = out_kind == RADRT_QOUT_I8 ? -128.0f : 0.0f, hi = out_kind == RADRT_QOUT_I8 ? 127.0f : 255.0f;
    const float zp = (float)zero_point;
    for (int64_t r = 0; r < rows; r++) {
        const int32_t b = bias ? bias[r] : 0;
        const float row_scale = scale[scale_per == 1 ? r : 0];
        for (int64_t j = 0; j < cols; j++) {
            const float s = scale_per == 2 ? scale[j] : row_scale;
            float q = nearbyintf((float)((int64_t)acc[r * cols + j] + b) * s) + zp;
            q = q < lo ? lo : (q > hi ? hi : q);
            if (out_kind == RADRT_QOUT_I8)
                ((int8_t *)y)[r * cols + j] = (int8_t)q;
            else
                ((uint8_t *)y)[r * cols + j] = (uint8_t)q;
        }
    }
}

static size_t out_elem_bytes(int out_kind) { return out_kind == RADRT_QOUT_I32 ? 4 : 1; }

/* ---- convolution ----------------------------------------------------------------- */

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* The im2row matrix of one group of one image (positions x Kp int16, row n holding the
 * K = channels x kernel values output position n reads, then zeros): x points at the
 * group's first channel plane. */
static void im2row_i16(const radrt_im2col *g, const void *x, int is_signed, int32_t zp, int16_t *rows,
                       int64_t Kp) {
    const int64_t plane = prod3(g->in), K = g->channels * prod3(g->kernel);
    int16_t *dst = rows;
    for (int64_t od = 0; od < g->out[0]; od++)
        for (int64_t oh = 0; oh < g->out[1]; oh++)
            for (int64_t ow = 0; ow < g->out[2]; ow++, dst += Kp) {
                int64_t k = 0;
                for (int64_t c = 0; c < g->channels; c++)
                    for (int64_t kd = 0; kd < g->kernel[0]; kd++) {
                        const int64_t id = od * g->stride[0] - g->pad[0] + kd * g->dilation[0];
                        for (int64_t kh = 0; kh < g->kernel[1]; kh++) {
                            const int64_t ih = oh * g->stride[1] - g->pad[1] + kh * g->dilation[1];
                            const int inside = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1];
                            const int64_t base = c * plane + (id * g->in[1] + ih) * g->in[2];
                            for (int64_t kw = 0; kw < g->kernel[2]; kw++, k++) {
                                const int64_t iw = ow * g->stride[2] - g->pad[2] + kw * g->dilation[2];
                                dst[k] = (inside && iw >= 0 && iw < g->in[2])
                                             ? (int16_t)(load_int(x, base + iw, is_signed) - zp) : 0;
                            }
                        }
                    }
                memset(dst + K, 0, (size_t)(Kp - K) * sizeof(int16_t));
            }
}

static int64_t conv_k(const radrt_qconv_params *p) { return p->geom.channels * prod3(p->geom.kernel); }

/* Scratch: [widened weights] [im2row of one group] [int32 outputs of one group (when
 * requantizing)], each 64-byte aligned. */
static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* align64(a) + align64(b) + align64(c), SIZE_MAX when it does not fit int64. */
static size_t three_parts(size_t a, size_t b, size_t c) {
    const size_t limit = (size_t)INT64_MAX / 4;
    if (a > limit || b > limit || c > limit) return SIZE_MAX;
    return align64(a) + align64(b) + align64(c);
}

size_t radrt_qconv_scratch_bytes(const radrt_qconv_params *p) {
    size_t w = 0, rows = 0, acc = 0, t;
    const size_t Kp = (size_t)padded_k(conv_k(p)), positions = (size_t)prod3(p->geom.out);
    const size_t cout_g = (size_t)(p->out_channels / p->group);
    if (!mul_ok((size_t)p->out_channels, Kp, &t) || !mul_ok(t, 2, &w)) return SIZE_MAX;
    if (!mul_ok(Kp, positions, &t) || !mul_ok(t, 2, &rows)) return SIZE_MAX;
    if (p->out_kind != RADRT_QOUT_I32 && (!mul_ok(cout_g, positions, &t) || !mul_ok(t, 4, &acc))) return SIZE_MAX;
    return three_parts(w, rows, acc);
}

void radrt_qconv(const radrt_qconv_params *p, const void *x, const void *x_zero_point, const void *w,
                 const int32_t *w_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch) {
    const int64_t K = conv_k(p), Kp = padded_k(K), positions = prod3(p->geom.out), plane = prod3(p->geom.in);
    const int64_t cout_g = p->out_channels / p->group;
    const int32_t x_zp = zero_point_of(x_zero_point, p->x_signed);
    char *s = (char *)scratch;
    int16_t *w16 = (int16_t *)s;
    widen_rows(w, p->w_signed, p->out_channels, K, K, 1, w_zero_point, 0, w16, Kp);
    s += align64((size_t)(p->out_channels * Kp) * 2);
    int16_t *rows = (int16_t *)s;
    int32_t *acc = (int32_t *)(s + align64((size_t)(Kp * positions) * 2));
    const size_t yb = out_elem_bytes(p->out_kind);
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t grp = 0; grp < p->group; grp++) {
            const char *xg = (const char *)x + (size_t)((n * p->in_channels + grp * p->geom.channels) * plane);
            im2row_i16(&p->geom, xg, p->x_signed, x_zp, rows, Kp);
            const int64_t m0 = grp * cout_g;
            char *yg = (char *)y + (size_t)((n * p->out_channels + m0) * positions) * yb;
            int32_t *out = p->out_kind == RADRT_QOUT_I32 ? (int32_t *)yg : acc;
            radrt_igemm(cout_g, positions, Kp, w16 + m0 * Kp, rows, out, positions);
            if (p->out_kind == RADRT_QOUT_I32) {
                if (bias)
                    for (int64_t m = 0; m < cout_g; m++)
                        for (int64_t j = 0; j < positions; j++) out[m * positions + j] += bias[m0 + m];
            } else {
                radrt_requantize(acc, cout_g, positions, bias ? bias + m0 : NULL,
                                 p->scale_per_channel ? scale + m0 : scale, p->scale_per_channel ? 1 : 0,
                                 p->y_zero_point, p->out_kind, yg);
            }
        }
}

/* ---- matrix product --------------------------------------------------------------- */

/* Scratch: [widened A of one product] [widened B] [int32 product (when requantizing)],
 * each 64-byte aligned. */
size_t radrt_qmatmul_scratch_bytes(const radrt_qmatmul_params *p) {
    size_t a = 0, b = 0, acc = 0, t;
    const size_t Kp = (size_t)padded_k(p->K);
    if (!mul_ok((size_t)p->M, Kp, &t) || !mul_ok(t, 2, &a)) return SIZE_MAX;
    if (!mul_ok((size_t)p->N, Kp, &t) || !mul_ok(t, 2, &b)) return SIZE_MAX;
    if (p->out_kind != RADRT_QOUT_I32 && (!mul_ok((size_t)p->M, (size_t)p->N, &t) || !mul_ok(t, 4, &acc)))
        return SIZE_MAX;
    return three_parts(a, b, acc);
}

void radrt_qmatmul(const radrt_qmatmul_params *p, const void *a, const void *a_zero_point, const void *b,
                   const int32_t *b_zero_point, const float *scale, void *y, void *scratch) {
    const int64_t M = p->M, N = p->N, K = p->K, Kp = padded_k(K);
    char *s = (char *)scratch;
    int16_t *a16 = (int16_t *)s;
    s += align64((size_t)(M * Kp) * 2);
    int16_t *b16 = (int16_t *)s;
    s += align64((size_t)(N * Kp) * 2);
    int32_t *acc = (int32_t *)s;
    const int32_t a_zp = zero_point_of(a_zero_point, p->a_signed);
    const size_t yb = out_elem_bytes(p->out_kind);
    for (int64_t i = 0; i < p->batch; i++) {
        widen_rows((const char *)a + (size_t)(i * M * K), p->a_signed, M, K, K, 1, NULL, a_zp, a16, Kp);
        if (i == 0 || p->b_batch_stride) {
            const char *bi = (const char *)b + (size_t)(i * p->b_batch_stride);
            if (p->b_transposed)   /* N x K: row n is column n of B */
                widen_rows(bi, p->b_signed, N, K, K, 1, b_zero_point, 0, b16, Kp);
            else                   /* K x N: column n has stride N */
                widen_rows(bi, p->b_signed, N, K, 1, N, b_zero_point, 0, b16, Kp);
        }
        char *yi = (char *)y + (size_t)(i * M * N) * yb;
        if (p->out_kind == RADRT_QOUT_I32) {
            radrt_igemm(M, N, Kp, a16, b16, (int32_t *)yi, N);
        } else {
            radrt_igemm(M, N, Kp, a16, b16, acc, N);
            radrt_requantize(acc, M, N, NULL, scale, p->scale_per_column ? 2 : 0, p->y_zero_point, p->out_kind, yi);
        }
    }
}

/* ---- DynamicQuantizeLinear ---------------------------------------------------------- */

void radrt_dynamic_quantize(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zero_point) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        if (isinf(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    const float s = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    float z = nearbyintf(0.0f - lo / s);
    z = z < 0.0f ? 0.0f : (z > 255.0f ? 255.0f : z);
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(x[i] / s) + z;
        if (q != q) q = z;
        q = q < 0.0f ? 0.0f : (q > 255.0f ? 255.0f : q);
        y[i] = (uint8_t)q;
    }
    *scale = s;
    *zero_point = (uint8_t)z;
}

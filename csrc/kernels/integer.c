/* Integer convolution and matrix product (integer.h has the semantics).
 *
 * The product: radrt_igemm keeps a tile of IG_MR rows x IG_NB columns of C in int32
 * accumulators on the stack and walks K once per tile; each row of B read is used by
 * IG_MR rows of A (the inner loop over columns vectorises: widen, multiply, add). The
 * sum over k is in increasing order, and int32 addition is exact here (the caller
 * bounds every sum), so the result does not depend on the tiling.
 *
 * A convolution widens its input image by image into the int16 im2col matrix of each
 * group (K x out positions, padding 0 = the zero point subtracted), then multiplies the
 * group's weights (out_channels/group x K) by it; the outputs of one image and group
 * are rows of the (out_channels, positions) output plane, requantized when asked. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "integer.h"

#define IG_MR 4
#define IG_NB 256

static void igemm_tile(int64_t rows, int64_t cols, int64_t K, const int16_t *a, const int16_t *b, int64_t N,
                       int32_t *c, int64_t ldc) {
    int32_t acc[IG_MR][IG_NB];
    for (int64_t r = 0; r < rows; r++) memset(acc[r], 0, (size_t)cols * sizeof(int32_t));
    if (rows == IG_MR) {
        for (int64_t k = 0; k < K; k++) {
            const int16_t *brow = b + k * N;
            const int32_t a0 = a[k], a1 = a[K + k], a2 = a[2 * K + k], a3 = a[3 * K + k];
            for (int64_t j = 0; j < cols; j++) {
                const int32_t v = brow[j];
                acc[0][j] += a0 * v;
                acc[1][j] += a1 * v;
                acc[2][j] += a2 * v;
                acc[3][j] += a3 * v;
            }
        }
    } else {
        for (int64_t k = 0; k < K; k++) {
            const int16_t *brow = b + k * N;
            for (int64_t r = 0; r < rows; r++) {
                const int32_t ar = a[r * K + k];
                for (int64_t j = 0; j < cols; j++) acc[r][j] += ar * (int32_t)brow[j];
            }
        }
    }
    for (int64_t r = 0; r < rows; r++) memcpy(c + r * ldc, acc[r], (size_t)cols * sizeof(int32_t));
}

void radrt_igemm(int64_t M, int64_t N, int64_t K, const int16_t *a, const int16_t *b, int32_t *c, int64_t ldc) {
    for (int64_t j0 = 0; j0 < N; j0 += IG_NB) {
        const int64_t cols = N - j0 < IG_NB ? N - j0 : IG_NB;
        for (int64_t i0 = 0; i0 < M; i0 += IG_MR) {
            const int64_t rows = M - i0 < IG_MR ? M - i0 : IG_MR;
            igemm_tile(rows, cols, K, a + i0 * K, b + j0, N, c + i0 * ldc + j0, ldc);
        }
    }
}

static int32_t zero_point_of(const void *zp, int is_signed) {
    if (!zp) return 0;
    return is_signed ? (int32_t) * (const int8_t *)zp : (int32_t) * (const uint8_t *)zp;
}

void radrt_widen_i16(const void *x, int is_signed, const void *zero_point, int16_t *y, int64_t n) {
    const int32_t zp = zero_point_of(zero_point, is_signed);
    if (is_signed) {
        const int8_t *s = (const int8_t *)x;
        for (int64_t i = 0; i < n; i++) y[i] = (int16_t)(s[i] - zp);
    } else {
        const uint8_t *u = (const uint8_t *)x;
        for (int64_t i = 0; i < n; i++) y[i] = (int16_t)(u[i] - zp);
    }
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

/* The int16 im2col matrix (K x positions) of one group of one image: x points at the
 * group's first channel plane. */
static void im2col_i16(const radrt_im2col *g, const void *x, int is_signed, int32_t zp, int16_t *col) {
    const int64_t positions = prod3(g->out), plane = prod3(g->in);
    int64_t row = 0;
    for (int64_t c = 0; c < g->channels; c++)
        for (int64_t kd = 0; kd < g->kernel[0]; kd++)
            for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                for (int64_t kw = 0; kw < g->kernel[2]; kw++, row++) {
                    int16_t *dst = col + row * positions;
                    int64_t n = 0;
                    for (int64_t od = 0; od < g->out[0]; od++) {
                        const int64_t id = od * g->stride[0] - g->pad[0] + kd * g->dilation[0];
                        for (int64_t oh = 0; oh < g->out[1]; oh++) {
                            const int64_t ih = oh * g->stride[1] - g->pad[1] + kh * g->dilation[1];
                            const int inside_dh = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1];
                            const int64_t base = c * plane + (id * g->in[1] + ih) * g->in[2];
                            for (int64_t ow = 0; ow < g->out[2]; ow++, n++) {
                                const int64_t iw = ow * g->stride[2] - g->pad[2] + kw * g->dilation[2];
                                int16_t v = 0;
                                if (inside_dh && iw >= 0 && iw < g->in[2]) {
                                    const int32_t raw = is_signed ? (int32_t)((const int8_t *)x)[base + iw]
                                                                  : (int32_t)((const uint8_t *)x)[base + iw];
                                    v = (int16_t)(raw - zp);
                                }
                                dst[n] = v;
                            }
                        }
                    }
                }
}

static int64_t conv_k(const radrt_qconv_params *p) { return p->geom.channels * prod3(p->geom.kernel); }

/* Scratch: [widened weights (when not ready)] [im2col of one group] [int32 outputs of one
 * group (when requantizing)], each 64-byte aligned. */
static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

size_t radrt_qconv_scratch_bytes(const radrt_qconv_params *p) {
    size_t w = 0, col = 0, acc = 0, t;
    const size_t K = (size_t)conv_k(p), positions = (size_t)prod3(p->geom.out);
    const size_t cout_g = (size_t)(p->out_channels / p->group);
    if (!p->w_ready && (!mul_ok((size_t)p->out_channels, K, &t) || !mul_ok(t, 2, &w))) return SIZE_MAX;
    if (!mul_ok(K, positions, &t) || !mul_ok(t, 2, &col)) return SIZE_MAX;
    if (p->out_kind != RADRT_QOUT_I32 && (!mul_ok(cout_g, positions, &t) || !mul_ok(t, 4, &acc))) return SIZE_MAX;
    if (w > SIZE_MAX / 4 || col > SIZE_MAX / 4 || acc > SIZE_MAX / 4) return SIZE_MAX;
    return align64(w) + align64(col) + align64(acc);
}

void radrt_qconv(const radrt_qconv_params *p, const void *x, const void *x_zero_point, const void *w,
                 const int32_t *w_zero_point, const int32_t *bias, const float *scale, void *y, void *scratch) {
    const int64_t K = conv_k(p), positions = prod3(p->geom.out), plane = prod3(p->geom.in);
    const int64_t cout_g = p->out_channels / p->group;
    const int32_t x_zp = zero_point_of(x_zero_point, p->x_signed);
    char *s = (char *)scratch;
    const int16_t *w16 = (const int16_t *)w;
    if (!p->w_ready) {
        int16_t *dst = (int16_t *)s;
        for (int64_t m = 0; m < p->out_channels; m++) {
            const int32_t zp = w_zero_point ? w_zero_point[m] : 0;
            for (int64_t k = 0; k < K; k++) {
                const int32_t raw = p->w_signed ? (int32_t)((const int8_t *)w)[m * K + k]
                                                : (int32_t)((const uint8_t *)w)[m * K + k];
                dst[m * K + k] = (int16_t)(raw - zp);
            }
        }
        w16 = dst;
        s += align64((size_t)(p->out_channels * K) * 2);
    }
    int16_t *col = (int16_t *)s;
    int32_t *acc = (int32_t *)(s + align64((size_t)(K * positions) * 2));
    const size_t xb = 1, yb = out_elem_bytes(p->out_kind);
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t grp = 0; grp < p->group; grp++) {
            const char *xg = (const char *)x + (size_t)((n * p->in_channels + grp * p->geom.channels) * plane) * xb;
            im2col_i16(&p->geom, xg, p->x_signed, x_zp, col);
            const int64_t m0 = grp * cout_g;
            char *yg = (char *)y + (size_t)((n * p->out_channels + m0) * positions) * yb;
            int32_t *out = p->out_kind == RADRT_QOUT_I32 ? (int32_t *)yg : acc;
            radrt_igemm(cout_g, positions, K, w16 + m0 * K, col, out, positions);
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

/* Scratch: [widened A of one product] [widened B (when not ready)] [int32 product (when
 * requantizing)], each 64-byte aligned. */
size_t radrt_qmatmul_scratch_bytes(const radrt_qmatmul_params *p) {
    size_t a = 0, b = 0, acc = 0, t;
    if (!mul_ok((size_t)p->M, (size_t)p->K, &t) || !mul_ok(t, 2, &a)) return SIZE_MAX;
    if (!p->b_ready && (!mul_ok((size_t)p->K, (size_t)p->N, &t) || !mul_ok(t, 2, &b))) return SIZE_MAX;
    if (p->out_kind != RADRT_QOUT_I32 && (!mul_ok((size_t)p->M, (size_t)p->N, &t) || !mul_ok(t, 4, &acc)))
        return SIZE_MAX;
    if (a > SIZE_MAX / 4 || b > SIZE_MAX / 4 || acc > SIZE_MAX / 4) return SIZE_MAX;
    return align64(a) + align64(b) + align64(acc);
}

void radrt_qmatmul(const radrt_qmatmul_params *p, const void *a, const void *a_zero_point, const void *b,
                   const int32_t *b_zero_point, const float *scale, void *y, void *scratch) {
    const int64_t M = p->M, N = p->N, K = p->K;
    char *s = (char *)scratch;
    int16_t *a16 = (int16_t *)s;
    s += align64((size_t)(M * K) * 2);
    int16_t *b16 = p->b_ready ? NULL : (int16_t *)s;
    if (!p->b_ready) s += align64((size_t)(K * N) * 2);
    int32_t *acc = (int32_t *)s;
    const size_t yb = out_elem_bytes(p->out_kind);
    for (int64_t i = 0; i < p->batch; i++) {
        radrt_widen_i16((const char *)a + (size_t)(i * M * K), p->a_signed, a_zero_point, a16, M * K);
        const int16_t *bm;
        if (p->b_ready) {
            bm = (const int16_t *)b + i * p->b_batch_stride;
        } else {
            if (i == 0 || p->b_batch_stride) {
                const char *braw = (const char *)b + (size_t)(i * p->b_batch_stride);
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < N; j++) {
                        const int32_t raw = p->b_signed ? (int32_t)((const int8_t *)braw)[k * N + j]
                                                        : (int32_t)((const uint8_t *)braw)[k * N + j];
                        b16[k * N + j] = (int16_t)(raw - (b_zero_point ? b_zero_point[j] : 0));
                    }
            }
            bm = b16;
        }
        char *yi = (char *)y + (size_t)(i * M * N) * yb;
        if (p->out_kind == RADRT_QOUT_I32) {
            radrt_igemm(M, N, K, a16, bm, (int32_t *)yi, N);
        } else {
            radrt_igemm(M, N, K, a16, bm, acc, N);
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

/* com.microsoft QLinear kernels (qlinear.h states each formula). How they work:
 * QLinearAdd/QLinearMul walk the broadcast like radrt_binary (csrc/kernels/elementwise.c):
 * one innermost row at a time, chosen by the operands' innermost strides (both vectors,
 * or one operand a single value along the row), outer dims by an odometer. Add spells
 * its fused multiply-adds with fmaf, so the rounding never depends on the compiler's
 * -ffp-contract; Mul must round its product before the add, so contraction is switched
 * off for it. Both end in rint (round half to even, the default rounding mode) and a
 * clamp to the type's range. The lookup, concat and pool kernels are plain loops;
 * the quantized AveragePool reuses the float32 radrt_avgpool one plane at a time.
 * QLinearSoftmax reads each line along the axis three times in place (max, sum of the
 * table's exponentials, quotients), strided by `inner`, so it needs no scratch. */
#include "qlinear.h"

#include <math.h>
#include <string.h>

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* ---- QLinearAdd / QLinearMul ---------------------------------------------------------- */

#define ADD_ROWS(SUFFIX, T, LO, HI)                                                            \
    static void add_row_##SUFFIX(const radrt_qbinary_t *p, const T *a, const T *b, T *y,       \
                                 size_t n, int a_one, int b_one) {                             \
        const float ra = p->ratio_a, rb = p->ratio_b;                                          \
        if (b_one) {                                                                           \
            const float f = fmaf((float)b[0], rb, p->fixed);                                   \
            if (a_one) {                                                                       \
                const T v = (T)clampf(rintf(fmaf((float)a[0], ra, f)), LO, HI);                \
                for (size_t i = 0; i < n; i++) y[i] = v;                                       \
            } else {                                                                           \
                for (size_t i = 0; i < n; i++) y[i] = (T)clampf(rintf(fmaf((float)a[i], ra, f)), LO, HI); \
            }                                                                                  \
        } else if (a_one) {                                                                    \
            const float f = fmaf((float)a[0], ra, p->fixed);                                   \
            for (size_t i = 0; i < n; i++) y[i] = (T)clampf(rintf(fmaf((float)b[i], rb, f)), LO, HI); \
        } else {                                                                               \
            const float f = p->fixed;                                                          \
            for (size_t i = 0; i < n; i++)                                                     \
                y[i] = (T)clampf(rintf(fmaf((float)a[i], ra, fmaf((float)b[i], rb, f))), LO, HI); \
        }                                                                                      \
    }

ADD_ROWS(u8, uint8_t, 0.0f, 255.0f)
ADD_ROWS(i8, int8_t, -128.0f, 127.0f)

/* The product (exact in float32: |(a - za) * (b - zb)| <= 65536) is rounded by the
 * multiply, then the zero point added: never one fused operation. */
#if defined(__clang__)
#define NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define NO_CONTRACT
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif

#define MUL_ROWS(SUFFIX, T, LO, HI)                                                            \
    static void mul_row_##SUFFIX(const radrt_qbinary_t *p, const T *a, const T *b, T *y,       \
                                 size_t n, int a_one, int b_one) {                             \
        NO_CONTRACT                                                                            \
        const float r = p->ratio_a, zc = p->fixed;                                             \
        const int32_t za = p->zp_a, zb = p->zp_b;                                              \
        for (size_t i = 0; i < n; i++) {                                                       \
            const int32_t prod = ((int32_t)a[a_one ? 0 : i] - za) * ((int32_t)b[b_one ? 0 : i] - zb); \
            const float scaled = (float)prod * r;                                              \
            y[i] = (T)clampf(rintf(scaled + zc), LO, HI);                                      \
        }                                                                                      \
    }

MUL_ROWS(u8, uint8_t, 0.0f, 255.0f)
MUL_ROWS(i8, int8_t, -128.0f, 127.0f)

#if !defined(__clang__)
#pragma GCC pop_options
#endif

#define BINARY_WALK(NAME, ROW, T)                                                              \
    void NAME(const radrt_qbinary_t *p, const T *a, const T *b, T *y) {                        \
        const radrt_bcast_t *s = &p->shape;                                                    \
        const int last = s->ndim - 1;                                                          \
        const size_t row = (size_t)s->shape[last];                                             \
        const int a_one = s->a_stride[last] == 0, b_one = s->b_stride[last] == 0;              \
        size_t rows = 1;                                                                       \
        for (int d = 0; d < last; d++) rows *= (size_t)s->shape[d];                            \
        if (row == 0 || rows == 0) return;                                                     \
        int64_t idx[RADRT_MAX_DIMS] = {0};                                                     \
        const T *pa = a, *pb = b;                                                              \
        for (size_t r = 0; r < rows; r++) {                                                    \
            ROW(p, pa, pb, y + r * row, row, a_one, b_one);                                    \
            for (int d = last - 1; d >= 0; d--) {                                              \
                pa += s->a_stride[d];                                                          \
                pb += s->b_stride[d];                                                          \
                if (++idx[d] < s->shape[d]) break;                                             \
                pa -= s->a_stride[d] * s->shape[d];                                            \
                pb -= s->b_stride[d] * s->shape[d];                                            \
                idx[d] = 0;                                                                    \
            }                                                                                  \
        }                                                                                      \
    }

BINARY_WALK(radrt_qlinear_add_u8, add_row_u8, uint8_t)
BINARY_WALK(radrt_qlinear_add_i8, add_row_i8, int8_t)
BINARY_WALK(radrt_qlinear_mul_u8, mul_row_u8, uint8_t)
BINARY_WALK(radrt_qlinear_mul_i8, mul_row_i8, int8_t)

/* ---- table lookups ------------------------------------------------------------------------ */

void radrt_qlinear_lookup(const uint8_t *x, uint8_t *y, const uint8_t *table, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = table[x[i]];
}

void radrt_qlinear_concat(const uint8_t *const *inputs, const uint8_t *const *tables, const int64_t *block,
                          size_t n_inputs, size_t outer, uint8_t *y) {
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < n_inputs; k++) {
            const size_t len = (size_t)block[k];
            const uint8_t *src = inputs[k] + o * len;
            if (tables[k] == NULL) memcpy(y, src, len);
            else radrt_qlinear_lookup(src, y, tables[k], len);
            y += len;
        }
}

/* ---- pools --------------------------------------------------------------------------------- */

#define GLOBAL_AVGPOOL(NAME, T, LO, HI)                                                        \
    void NAME(const T *x, T *y, size_t planes, size_t size, int32_t x_zp, float scale, int32_t y_zp) { \
        const float lo = (float)((LO) - y_zp), hi = (float)((HI) - y_zp);                      \
        for (size_t c = 0; c < planes; c++) {                                                  \
            const T *xp = x + c * size;                                                        \
            int64_t acc = -(int64_t)x_zp * (int64_t)size;                                      \
            for (size_t i = 0; i < size; i++) acc += xp[i];                                    \
            y[c] = (T)((int32_t)rintf(clampf((float)acc * scale, lo, hi)) + y_zp);             \
        }                                                                                      \
    }

GLOBAL_AVGPOOL(radrt_qlinear_global_avgpool_u8, uint8_t, 0, 255)
GLOBAL_AVGPOOL(radrt_qlinear_global_avgpool_i8, int8_t, -128, 127)

static size_t plane_floats(const int64_t *dims) { return (size_t)(dims[0] * dims[1] * dims[2]); }

#define QAVGPOOL(NAME, T, LO, HI)                                                              \
    void NAME(const T *x, T *y, const float *divisors, const radrt_pool_params *p,             \
              float x_scale, int32_t x_zp, float y_scale, int32_t y_zp, float *scratch) {      \
        radrt_pool_params one = *p;                                                            \
        one.planes = 1;                                                                        \
        const size_t in_plane = plane_floats(p->in), out_plane = plane_floats(p->out); \
        float *fx = scratch, *fy = scratch + in_plane, *pool = fy + out_plane;                 \
        const float zp = (float)y_zp;                                                          \
        for (int64_t c = 0; c < p->planes; c++) {                                              \
            const T *xc = x + (size_t)c * in_plane;                                            \
            for (size_t i = 0; i < in_plane; i++) fx[i] = (float)((int32_t)xc[i] - x_zp) * x_scale; \
            radrt_avgpool(fx, fy, divisors, &one, pool);                                       \
            T *yc = y + (size_t)c * out_plane;                                                 \
            for (size_t i = 0; i < out_plane; i++) yc[i] = (T)clampf(rintf(fy[i] / y_scale + zp), LO, HI); \
        }                                                                                      \
    }

QAVGPOOL(radrt_qlinear_avgpool_u8, uint8_t, 0.0f, 255.0f)
QAVGPOOL(radrt_qlinear_avgpool_i8, int8_t, -128.0f, 127.0f)

/* ---- QLinearSoftmax ------------------------------------------------------------------------- */

/* The float sum runs in element order (no reassociation without -ffast-math), as
 * onnxruntime's loop; the quotient is (e * y_mult) / (sum * sum_scale), each step one
 * float32 rounding (sum_scale, a power of two, keeps e * y_mult finite: qlinear.h). */
#define QSOFTMAX(NAME, T, LO, HI)                                                              \
    void NAME(const T *x, T *y, const float *table, size_t outer, size_t len, size_t inner,    \
              float y_mult, float sum_scale, int32_t y_zp) {                                   \
        const float zp = (float)y_zp;                                                          \
        for (size_t o = 0; o < outer; o++)                                                     \
            for (size_t j = 0; j < inner; j++) {                                               \
                const T *xl = x + o * len * inner + j;                                         \
                T *yl = y + o * len * inner + j;                                               \
                int32_t m = (LO);                                                              \
                for (size_t i = 0; i < len; i++)                                               \
                    if ((int32_t)xl[i * inner] > m) m = xl[i * inner];                         \
                const int32_t off = 255 - m; /* table[x + off]: x - m in [-255, 0] */          \
                float sum = 0.0f;                                                              \
                for (size_t i = 0; i < len; i++) sum += table[(int32_t)xl[i * inner] + off];   \
                sum *= sum_scale;                                                              \
                for (size_t i = 0; i < len; i++) {                                             \
                    const float q = rintf((table[(int32_t)xl[i * inner] + off] * y_mult) / sum) + zp; \
                    yl[i * inner] = (T)clampf(q, (float)(LO), (float)(HI));                    \
                }                                                                              \
            }                                                                                  \
    }

QSOFTMAX(radrt_qlinear_softmax_u8, uint8_t, 0, 255)
QSOFTMAX(radrt_qlinear_softmax_i8, int8_t, -128, 127)

/* Elementwise activations: one tight loop per op, written so the compiler
 * vectorises it; NaN propagates as IEEE says (max(x,0) written as a compare
 * keeps NaN, and so do the clamps below: `x < lo ? lo : x` is false for NaN).
 *
 * Exp, Sigmoid and Tanh use exp_f below: branch-free float arithmetic that
 * vectorises (libm's expf does not without -ffast-math). Measured against
 * float64: Exp within 1 ulp, Sigmoid 2.3 ulp, Tanh 5.3 ulp
 * (tests/ops/test_activation.py keeps those bounds). Its value does not depend on whether an element lands in the
 * vector body or a scalar remainder: both run the same IEEE operations, and
 * the fused multiply-adds are explicit fmaf. Erf and Log call libm. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "activation.h"

#define UNARY(NAME, EXPR)                                              \
    void radrt_##NAME(const float *x, float *y, size_t n) {           \
        for (size_t i = 0; i < n; i++) { float v = x[i]; y[i] = (EXPR); } \
    }

static inline float bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2]
 * (ln2 split in two so r is exact enough); exp(r) by its Taylor polynomial
 * to degree 7 (truncation < 6e-9 relative). 2^n is applied as two factors so
 * that n from -150 to 128 under- and overflows gradually, as expf does.
 * x is clamped to [-104, 89], beyond which the result is 0 or inf anyway. */
static inline float exp_f(float x) {
    const float magic = 0x1.8p23f; /* adding it rounds to an integer */
    float c = x < -104.0f ? -104.0f : x;
    c = c > 89.0f ? 89.0f : c;
    c = c != c ? 0.0f : c;
    const float t = fmaf(c, 0x1.715476p0f, magic);
    const int32_t n = (int32_t)(float_to_bits(t) - float_to_bits(magic));
    const float nf = t - magic;
    float r = fmaf(nf, -0x1.62e4p-1f, c);
    r = fmaf(nf, -0x1.7f7d1cp-20f, r);
    float p = 1.0f / 5040.0f;
    p = fmaf(p, r, 1.0f / 720.0f);
    p = fmaf(p, r, 1.0f / 120.0f);
    p = fmaf(p, r, 1.0f / 24.0f);
    p = fmaf(p, r, 1.0f / 6.0f);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    const int32_t n1 = n / 2, n2 = n - n1;
    const float y = p * bits_to_float((uint32_t)(n1 + 127) << 23) * bits_to_float((uint32_t)(n2 + 127) << 23);
    return x != x ? x : y;
}

/* tanh(|x|) = 1 - 2 / (exp(2|x|) + 1), with its odd Taylor polynomial below
 * 0.25 where that difference would cancel (truncation < 2e-8 relative). */
static inline float tanh_f(float x) {
    const float a = fabsf(x), a2 = a * a;
    const float large = 1.0f - 2.0f / (exp_f(2.0f * a) + 1.0f);
    float p = 62.0f / 2835.0f;
    p = fmaf(p, a2, -17.0f / 315.0f);
    p = fmaf(p, a2, 2.0f / 15.0f);
    p = fmaf(p, a2, -1.0f / 3.0f);
    const float small = fmaf(p * a2, a, a);
    return copysignf(a < 0.25f ? small : large, x);
}

/* ---- Sigmoid and Swish in explicit vectors ------------------------------------
 * Sigmoid gives the bits the scalar sigmoid of exp_f gave (every float32 input
 * checked, NaN payloads aside), in explicit vectors at the target's full width
 * (AVX-512 16 lanes, AVX 8, else 4), with the clamps a non-positive argument
 * needs only: 2.7x faster than GCC's vectorisation of the scalar code. vfma is
 * one fused multiply-add, as fmaf. A remainder of fewer than AVW values goes
 * through the same vector code from a zero-filled copy, so an element's value
 * never depends on where it lands. */
#if defined(__AVX512F__)
#define AVW 16
#elif defined(__AVX__)
#define AVW 8
#else
#define AVW 4
#endif
typedef float avf __attribute__((vector_size(AVW * 4)));
typedef int32_t avi __attribute__((vector_size(AVW * 4)));
typedef uint32_t avu __attribute__((vector_size(AVW * 4)));

static inline avf vsplat(float s) { return (avf){0} + s; }
static inline avf vsel(avi m, avf a, avf b) { return (avf)((m & (avi)a) | (~m & (avi)b)); }

static inline avf vfma(avf a, avf b, avf c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
    return a * b + c; /* contracted into one fused multiply-add (-ffp-contract=fast) */
#else
    avf r;
    for (int l = 0; l < AVW; l++) r[l] = fmaf(a[l], b[l], c[l]);
    return r;
#endif
}

/* exp_f(a) for a <= 0 (or NaN): the lanes give exp_f's bits. Above 0 there is
 * nothing to clamp, and a NaN needs no case of its own: it reaches the result
 * through the arithmetic (NaN, its payload aside). 2^n is applied as two factors
 * 2^(n >> 1) and 2^(n - (n >> 1)), exact powers of two in float32 for n in
 * [-150, 0]; exp_f splits n the other way round when n is odd, but the first
 * product is exact and normal either way, so the one rounding (into the
 * subnormals below 2^-126) is the same. */
static inline avf exp_neg_v(avf a) {
    const avf magic = vsplat(0x1.8p23f);
    const avf c = vsel(a < vsplat(-104.0f), vsplat(-104.0f), a);
    const avf t = vfma(c, vsplat(0x1.715476p0f), magic);
    const avi n = (avi)((avu)t - (avu)magic);
    const avf nf = t - magic;
    avf r = vfma(nf, vsplat(-0x1.62e4p-1f), c);
    r = vfma(nf, vsplat(-0x1.7f7d1cp-20f), r);
    avf p = vsplat(1.0f / 5040.0f);
    p = vfma(p, r, vsplat(1.0f / 720.0f));
    p = vfma(p, r, vsplat(1.0f / 120.0f));
    p = vfma(p, r, vsplat(1.0f / 24.0f));
    p = vfma(p, r, vsplat(1.0f / 6.0f));
    p = vfma(p, r, vsplat(0.5f));
    p = vfma(p, r, vsplat(1.0f));
    p = vfma(p, r, vsplat(1.0f));
    const avi n1 = n >> 1, n2 = n - n1;
    return p * (avf)((avu)(n1 + 127) << 23) * (avf)((avu)(n2 + 127) << 23);
}

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, with e = exp(-|x|)
 * <= 1: no overflow, and tiny results keep their precision. */
static inline avf sigmoid_v(avf x) {
    const avf e = exp_neg_v((avf)((avi)x | INT32_MIN)); /* -|x| */
    return vsel(x < vsplat(0.0f), e, vsplat(1.0f)) / (vsplat(1.0f) + e);
}

static inline avf vload_f(const float *p) {
    avf v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define VECTOR_UNARY(NAME, EXPR)                                          \
    void radrt_##NAME(const float *x, float *y, size_t n) {              \
        size_t i = 0;                                                    \
        for (; i + AVW <= n; i += AVW) {                                 \
            avf v = vload_f(x + i), r = (EXPR);                          \
            memcpy(y + i, &r, sizeof r);                                 \
        }                                                                \
        if (i < n) {                                                     \
            float t[AVW] = {0};                                          \
            memcpy(t, x + i, (n - i) * sizeof(float));                   \
            avf v = vload_f(t), r = (EXPR);                              \
            memcpy(y + i, &r, (n - i) * sizeof(float));                  \
        }                                                                \
    }

/* Sigmoid; Swish x * sigmoid(x), the fused Sigmoid -> Mul of runtime.compile's
 * fuse_swish pass: the same product Mul computes of the same two values, so the
 * fused step gives the unfused graph's bits. */
VECTOR_UNARY(sigmoid, sigmoid_v(v))
VECTOR_UNARY(swish, v * sigmoid_v(v))

/* Clamp to [0, 1] keeping NaN. */
static inline float unit_clamp(float v) {
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}

void radrt_relu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void radrt_leaky_relu(const float *x, float *y, size_t n, float alpha) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? alpha * x[i] : x[i];
}

/* min > max gives max everywhere, as ONNX specifies. */
void radrt_clip(const float *x, float *y, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

void radrt_hard_sigmoid(const float *x, float *y, size_t n, float alpha, float beta) {
    for (size_t i = 0; i < n; i++) y[i] = unit_clamp(alpha * x[i] + beta);
}

UNARY(hard_swish, v * unit_clamp(v * (1.0f / 6.0f) + 0.5f))
UNARY(tanh, tanh_f(v))
UNARY(erf, erff(v))
UNARY(exp, exp_f(v))
UNARY(log, logf(v))
UNARY(sqrt, sqrtf(v))
UNARY(neg, -v)
UNARY(abs, fabsf(v))
UNARY(reciprocal, 1.0f / v)
UNARY(floor, floorf(v))
UNARY(ceil, ceilf(v))

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

/* sigmoid(x) = 1 / (1 + e) for x >= 0, e / (1 + e) below, with
 * e = exp(-|x|) <= 1: no overflow, and tiny results keep their precision. */
static inline float sigmoid_f(float x) {
    const float e = exp_f(-fabsf(x));
    return (x < 0.0f ? e : 1.0f) / (1.0f + e);
}

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
UNARY(sigmoid, sigmoid_f(v))
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

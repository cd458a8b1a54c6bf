/* Elementwise activations: one tight loop per op, written so the compiler
 * vectorises it; NaN propagates as IEEE says (max(x,0) written as a compare
 * keeps NaN, and so do the clamps below: `x < lo ? lo : x` is false for NaN).
 * Transcendentals call libm (deterministic, correctly rounded or within an
 * ulp or two of it). */
#include <math.h>

#include "activation.h"

#define UNARY(NAME, EXPR)                                              \
    void radrt_##NAME(const float *x, float *y, size_t n) {           \
        for (size_t i = 0; i < n; i++) { float v = x[i]; y[i] = (EXPR); } \
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
UNARY(sigmoid, 1.0f / (1.0f + expf(-v)))
UNARY(tanh, tanhf(v))
UNARY(erf, erff(v))
UNARY(exp, expf(v))
UNARY(log, logf(v))
UNARY(sqrt, sqrtf(v))
UNARY(neg, -v)
UNARY(abs, fabsf(v))
UNARY(reciprocal, 1.0f / v)
UNARY(floor, floorf(v))
UNARY(ceil, ceilf(v))

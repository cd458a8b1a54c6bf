/* Broadcasting binary ops. Each op gets four row loops, by the innermost
 * strides of its operands: both contiguous (vv), b constant over the row (vs),
 * a constant over the row (sv), both constant (ss: only when the output is
 * larger than both operands, as in the first step of a variadic op). A row loop is a flat loop the compiler
 * vectorises; the outer dims are walked by an odometer once per row, so the
 * common cases cost nothing per element: same shape and scalar operands
 * collapse to a single row, a per-channel operand (1,C,1,1) against (N,C,H,W)
 * to N*C rows of H*W with a constant b. The op is chosen once per call.
 * Max/Min propagate NaN like numpy (a NaN operand gives NaN). A fused Relu/Clip
 * (compile pass fuse_activation) clamps each row right after it is computed. */
#include <math.h>

#include "elementwise.h"

#define ROW_LOOPS(NAME, EXPR)                                                        \
    static void NAME##_vv(const float *a, const float *b, float *y, size_t n) {      \
        for (size_t i = 0; i < n; i++) { float x = a[i], z = b[i]; y[i] = (EXPR); }  \
    }                                                                                \
    static void NAME##_vs(const float *a, const float *b, float *y, size_t n) {      \
        const float z = *b;                                                          \
        for (size_t i = 0; i < n; i++) { float x = a[i]; y[i] = (EXPR); }            \
    }                                                                                \
    static void NAME##_sv(const float *a, const float *b, float *y, size_t n) {      \
        const float x = *a;                                                          \
        for (size_t i = 0; i < n; i++) { float z = b[i]; y[i] = (EXPR); }            \
    }                                                                                \
    static void NAME##_ss(const float *a, const float *b, float *y, size_t n) {      \
        const float x = *a, z = *b, v = (EXPR);                                      \
        for (size_t i = 0; i < n; i++) y[i] = v;                                     \
    }

ROW_LOOPS(add, x + z)
ROW_LOOPS(sub, x - z)
ROW_LOOPS(mul, x * z)
ROW_LOOPS(div, x / z)
ROW_LOOPS(pow, powf(x, z))
ROW_LOOPS(max, (x > z || x != x) ? x : z)
ROW_LOOPS(min, (x < z || x != x) ? x : z)
ROW_LOOPS(prelu, x < 0.0f ? x * z : x)

typedef void (*row_fn)(const float *, const float *, float *, size_t);

/* The fused activation clamp, as the Clip kernel computes it (NaN passes). */
static void clamp_row(float *y, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        float v = y[i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

#define ROW_KINDS(NAME) {NAME##_vv, NAME##_vs, NAME##_sv, NAME##_ss}

/* Indexed [op][kind], kind = 2 * (a_stride == 0) + (b_stride == 0). */
static const row_fn ROWS[][4] = {
    ROW_KINDS(add), ROW_KINDS(sub), ROW_KINDS(mul), ROW_KINDS(div),
    ROW_KINDS(pow), ROW_KINDS(max), ROW_KINDS(min), ROW_KINDS(prelu),
};

void radrt_binary(const radrt_bcast_t *p, const float *a, const float *b, float *y) {
    const int last = p->ndim - 1;
    const size_t row = (size_t)p->shape[last];
    const int kind = 2 * (p->a_stride[last] == 0) + (p->b_stride[last] == 0);
    const row_fn f = ROWS[p->op][kind];
    size_t rows = 1;
    for (int d = 0; d < last; d++) rows *= (size_t)p->shape[d];
    if (row == 0 || rows == 0) return;

    const int clamp = p->act_min > -INFINITY || p->act_max < INFINITY;
    int64_t idx[RADRT_MAX_DIMS] = {0};
    const float *pa = a, *pb = b;
    for (size_t r = 0; r < rows; r++) {
        f(pa, pb, y + r * row, row);
        if (clamp) clamp_row(y + r * row, row, p->act_min, p->act_max);
        /* Advance the odometer over dims [0, last): innermost outer dim first. */
        for (int d = last - 1; d >= 0; d--) {
            pa += p->a_stride[d];
            pb += p->b_stride[d];
            if (++idx[d] < p->shape[d]) break;
            pa -= p->a_stride[d] * p->shape[d];
            pb -= p->b_stride[d] * p->shape[d];
            idx[d] = 0;
        }
    }
}

void radrt_variadic(const radrt_bcast_t *steps, const float *const *inputs, size_t n_inputs,
                    float *y, size_t n, float divisor) {
    radrt_binary(&steps[0], inputs[0], inputs[1], y);
    for (size_t k = 2; k < n_inputs; k++) radrt_binary(&steps[k - 1], y, inputs[k], y);
    if (divisor != 1.0f)
        for (size_t i = 0; i < n; i++) y[i] /= divisor;
}

/* Binary float32 ops with numpy (multidirectional) broadcasting, and the
 * variadic Max/Min/Sum/Mean built on them. PRelu is here too (a = X, b = the
 * slope, y = a < 0 ? a * b : a), as it broadcasts its slope. Python (runtime/ops/elementwise.py)
 * collapses the broadcast into a radrt_bcast_t and validates it; C trusts it. */
#ifndef RADRT_ELEMENTWISE_H
#define RADRT_ELEMENTWISE_H
#include <stddef.h>
#include <stdint.h>
#include "core.h"

#define RADRT_BIN_ADD 0
#define RADRT_BIN_SUB 1
#define RADRT_BIN_MUL 2
#define RADRT_BIN_DIV 3
#define RADRT_BIN_POW 4
#define RADRT_BIN_MAX 5
#define RADRT_BIN_MIN 6
#define RADRT_BIN_PRELU 7

/* y[idx] = a[idx . a_stride] OP b[idx . b_stride] over the output index space
 * `shape` (ndim >= 1 dims, row-major). Invariants set by Python: adjacent dims
 * with the same broadcast pattern are merged, so the innermost strides are 0
 * or 1; strides are in elements, 0 on a broadcast dim.
 * y may be the same buffer as an operand only if that operand has stride 1
 * over the whole output (it is read at index i before y[i] is written). */
typedef struct {
    int op;
    int ndim;
    int64_t shape[RADRT_MAX_DIMS];
    int64_t a_stride[RADRT_MAX_DIMS];
    int64_t b_stride[RADRT_MAX_DIMS];
    /* Fused activation: y = min(max(y, act_min), act_max) with compares (NaN passes),
     * applied per row right after it is computed; -inf/+inf for none (Python sets
     * them on every radrt_bcast_t: zeroed fields would clamp to 0). */
    float act_min, act_max;
} radrt_bcast_t;

void radrt_binary(const radrt_bcast_t *p, const float *a, const float *b, float *y);

/* Variadic Max/Min/Sum/Mean over n_inputs >= 2 inputs, each broadcast to the
 * n-element output y: steps[0] combines inputs[0] and inputs[1] into y, then
 * steps[k] combines y (stride 1) with inputs[k + 1] in place. A divisor other
 * than 1 then divides y (Mean). */
void radrt_variadic(const radrt_bcast_t *steps, const float *const *inputs, size_t n_inputs,
                    float *y, size_t n, float divisor);

#endif

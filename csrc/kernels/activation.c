/* Elementwise activations: one tight loop per op, written so the compiler
 * vectorises it; NaN propagates as IEEE says (max(x,0) written as a compare
 * keeps NaN). */
#include "activation.h"

void radrt_relu(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

/* Elementwise activations and unary math over n float32 values (x and y may
 * be the same buffer). Attributes arrive as plain floats, validated in
 * runtime/ops/activation.py. PRelu, which broadcasts its slope, lives in
 * elementwise.h (RADRT_BIN_PRELU). */
#ifndef RADRT_ACTIVATION_H
#define RADRT_ACTIVATION_H
#include <stddef.h>

void radrt_relu(const float *x, float *y, size_t n);
void radrt_leaky_relu(const float *x, float *y, size_t n, float alpha);
void radrt_clip(const float *x, float *y, size_t n, float lo, float hi);
void radrt_hard_sigmoid(const float *x, float *y, size_t n, float alpha, float beta);
void radrt_hard_swish(const float *x, float *y, size_t n);
void radrt_sigmoid(const float *x, float *y, size_t n);
void radrt_swish(const float *x, float *y, size_t n); /* x * sigmoid(x) */
void radrt_tanh(const float *x, float *y, size_t n);
void radrt_erf(const float *x, float *y, size_t n);
void radrt_exp(const float *x, float *y, size_t n);
void radrt_log(const float *x, float *y, size_t n);
void radrt_sqrt(const float *x, float *y, size_t n);
void radrt_neg(const float *x, float *y, size_t n);
void radrt_abs(const float *x, float *y, size_t n);
void radrt_reciprocal(const float *x, float *y, size_t n);
void radrt_floor(const float *x, float *y, size_t n);
void radrt_ceil(const float *x, float *y, size_t n);

#endif

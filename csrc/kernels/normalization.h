/* Normalisations over float32 tensors.
 *
 * BatchNormalization (inference) on (n, c, size): y = (x - mean[c]) * s[c] + bias[c]
 * with s = scale / sqrt(var + epsilon), precomputed by Python when constant,
 * or computed per run into scratch (c floats) by radrt_batchnorm_runtime; then
 * clamped to [lo, hi] (a fused Relu or Clip; -inf/+inf for none).
 * LayerNormalization on (rows, len): each row normalised by its own mean and
 * variance, then times scale[len] plus bias[len] (bias, mean_out, inv_std_out
 * may be NULL).
 * LRN on (n, c, size): channel window [c - before, c + after], clipped.
 */
#ifndef RADRT_NORMALIZATION_H
#define RADRT_NORMALIZATION_H
#include <stddef.h>

void radrt_batchnorm(const float *x, const float *mean, const float *s, const float *bias, float *y,
                     size_t n, size_t c, size_t size, float lo, float hi);
void radrt_batchnorm_runtime(const float *x, const float *scale, const float *bias, const float *mean,
                             const float *var, float *y, size_t n, size_t c, size_t size, double epsilon,
                             float lo, float hi, void *scratch);
void radrt_layernorm(const float *x, const float *scale, const float *bias, float *y, float *mean_out,
                     float *inv_std_out, size_t rows, size_t len, double epsilon);
void radrt_lrn(const float *x, float *y, size_t n, size_t c, size_t size, size_t before, size_t after,
               float alpha_over_size, float beta, float bias);

#endif

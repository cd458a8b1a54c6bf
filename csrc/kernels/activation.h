/* Elementwise activations over n float32 values (x and y may be the same buffer). */
#ifndef RADRT_ACTIVATION_H
#define RADRT_ACTIVATION_H
#include <stddef.h>

void radrt_relu(const float *x, float *y, size_t n);

#endif

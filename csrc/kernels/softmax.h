/* Softmax and LogSoftmax over float32 viewed as (outer, len, inner): the op
 * normalises along `len` for every (outer, inner) pair. `scratch` holds
 * inner floats (running max) and inner doubles (sum of exponentials). */
#ifndef RADRT_SOFTMAX_H
#define RADRT_SOFTMAX_H
#include <stddef.h>

void radrt_softmax(const float *x, float *y, size_t outer, size_t len, size_t inner, void *scratch);
void radrt_log_softmax(const float *x, float *y, size_t outer, size_t len, size_t inner, void *scratch);

#endif

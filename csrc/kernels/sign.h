/* Sign, elementwise, on float32, float64 and every integer type (RADRT_T_* of
 * typed.h; not bool): y = 1 for x > 0, -1 for x < 0, 0 for x == 0 (-0.0 gives
 * +0.0), and a NaN is passed through unchanged (sign bit and payload), as numpy
 * and onnxruntime's float32 Sign do (its float64 Sign clears a NaN's sign bit);
 * the ONNX spec does not name NaN.
 * Unsigned types give 0 or 1. y has x's type and n elements. */
#ifndef RADRT_SIGN_H
#define RADRT_SIGN_H
#include <stddef.h>

/* Returns 0, or -1 for an unknown dtype. */
int radrt_sign(const void *x, void *y, int dtype, size_t n);

#endif

/* CumSum along one axis on float32, float64, int32, int64, uint32 and uint64
 * (RADRT_T_* of typed.h).
 *
 * How it works. Python (runtime/ops/cumsum.py) views the tensor as [outer, len,
 * inner] (len: the summed axis) and checks the axis and types; C trusts them.
 * Order of summation, fixed: along the axis in the scan direction (k = 0, 1, ..,
 * len-1, or len-1, .., 0 with reverse), one running sum per (outer, inner)
 * position, accumulated in the element type itself (float32 in float32, as
 * onnxruntime and numpy do: the results are theirs bit for bit):
 *   inclusive: y[first] = x[first] (copied, so -0.0 stays -0.0),
 *              y[next]  = y[prev] + x[next];
 *   exclusive: y[first] = 0 (+0.0),
 *              y[next]  = y[prev] + x[prev].
 * Integer sums wrap modulo 2^bits (computed in the unsigned type: no undefined
 * behaviour). With inner > 1 each step adds a whole row of inner values
 * (vectorisable); with inner == 1 it is a scalar chain. x and y must not
 * overlap. */
#ifndef RADRT_CUMSUM_H
#define RADRT_CUMSUM_H
#include <stddef.h>

/* Returns 0, or -1 for an unsupported dtype. */
int radrt_cumsum(const void *x, void *y, int dtype, int exclusive, int reverse, size_t outer, size_t len,
                 size_t inner);

#endif

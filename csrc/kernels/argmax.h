/* ArgMax and ArgMin along one axis, on float32, float64 and every integer type
 * (element types RADRT_T_* of typed.h); int64 indices out.
 *
 * How it works. Python (runtime/ops/argmax.py) views the input as [outer, len,
 * inner] (len: the reduced axis; outer, inner: the products of the dims before
 * and after it) and the output as [outer, inner]; keepdims only changes the
 * output's shape, not its layout. For each (o, j) the kernel scans k = 0 .. len-1
 * keeping the index of the best element so far: element k replaces the best when
 * it compares strictly greater (ArgMax; ArgMin: strictly less), or greater-or-equal
 * (less-or-equal) with select_last_index, so ties give the first (last) index.
 * A compare with NaN is false, so NaN never replaces a number and a number never
 * replaces a NaN: a NaN in first position wins, elsewhere it is skipped. That is
 * onnxruntime's result (numpy's argmax instead picks the first NaN);
 * tests/ops/test_argmax.py checks it.
 * With inner == 1 each row is one scalar scan; otherwise the rows k are read
 * in memory order and each of the inner running bests is compared against the
 * input element at its current best index (y holds the indices; no scratch).
 * len == 0 writes nothing (Python refuses it unless the output is empty). */
#ifndef RADRT_ARGMAX_H
#define RADRT_ARGMAX_H
#include <stddef.h>
#include <stdint.h>

#define RADRT_ARG_MAX 0
#define RADRT_ARG_MIN 1

/* y[o * inner + j] = the index k in [0, len) of the greatest (op RADRT_ARG_MAX) or
 * least (RADRT_ARG_MIN) x[(o * len + k) * inner + j], the first one on ties, or the
 * last when select_last is 1. dtype: RADRT_T_* (not bool). Returns 0, or -1 for an
 * unknown dtype or op. */
int radrt_arg_extreme(const void *x, int64_t *y, int dtype, int op, int select_last, size_t outer, size_t len,
                      size_t inner);

#endif

/* TopK along one axis, on float32, float64 and every integer type (element types
 * RADRT_T_* of typed.h): the k largest (or smallest) elements and their int64
 * indices, best first.
 *
 * How it works. Python (runtime/ops/topk.py) views the input as [outer, len,
 * inner] (len: the axis) and both outputs as [outer, k, inner], checks that
 * 0 <= k <= len and gives k int64s of scratch; C trusts them. The order is a strict
 * total order on positions, so the result is unique and any algorithm returns the
 * same bits:
 *   element a ranks before element b when its value is greater (largest = 1; less
 *   with largest = 0), or when the values are equal and a's index is lower.
 * NaN compares greater than every number and equal to every NaN; -0.0 equals
 * +0.0. So with largest = 1 the NaNs come first, with largest = 0 last, each run
 * of equal values in index order: onnxruntime's result (tests/ops/test_topk.py).
 * For each (o, j) a heap of the k best positions so far, its root the one that
 * ranks last, scans the axis once (a position replaces the root when it ranks
 * before it: O(len log k)); the heap is then sorted in place (heapsort) and the
 * positions written best first. Results are always sorted, also for sorted = 0
 * (the spec leaves that order open). k == 0 writes nothing. values or indices may
 * be NULL (an output the model does not use). */
#ifndef RADRT_TOPK_H
#define RADRT_TOPK_H
#include <stddef.h>
#include <stdint.h>

/* values[(o * k + r) * inner + j] and indices[...] = the element of rank r (0: the
 * best) among x[(o * len + i) * inner + j], i in [0, len), and its index i.
 * scratch: k int64s. Returns 0, or -1 for an unknown dtype (bool included). */
int radrt_topk(const void *x, void *values, int64_t *indices, int dtype, int largest, size_t outer, size_t len,
               size_t inner, size_t k, int64_t *scratch);

#endif

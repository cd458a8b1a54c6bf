/* Separable float32 resampling (Resize linear/cubic, with or without
 * antialias): one pass per resized axis, innermost axis first. A pass views
 * its input as (outer, in_len, inner) and writes (outer, out_len, inner):
 *   out[o, j, i] = sum_t weight[table + j*taps + t] * in[o, index[table + j*taps + t], i]
 * Intermediate results go to scratch: two buffers, at scratch and at
 * scratch + scratch_split floats. After the last pass, output positions
 * flagged in `flags` (tf_crop_and_resize outside the input) are set to
 * extrapolation_value; fin_outer/fin_inner describe the final output around
 * the pass's axis. */
#ifndef RADRT_RESIZE_H
#define RADRT_RESIZE_H
#include <stdint.h>

typedef struct {
    int64_t outer, in_len, out_len, inner, taps;
    int64_t table;                  /* start of this pass in index[] and weight[] */
    int64_t flags;                  /* start of out_len flags in index[], or -1 for none */
    int64_t fin_outer, fin_inner;
} radrt_resize_pass_t;

void radrt_resize_separable(const float *x, float *y, float *scratch, int64_t scratch_split,
                            const radrt_resize_pass_t *passes, int64_t npasses, const int64_t *index,
                            const float *weight, float extrapolation_value);

#endif

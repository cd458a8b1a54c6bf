/* Pooling over float32 (N, C, spatial...) tensors.
 *
 * MaxPool/AveragePool of every spatial rank run as 3-D (D, H, W): Python pads
 * the spatial shape with leading axes of size 1. Python also precomputes, per
 * axis and output index o, a row of `ranges` (RADRT_POOL_RANGE int64 values):
 *   base   input position of kernel tap 0 (o * stride - pad_begin)
 *   begin  first tap inside the input
 *   end    one past the last tap inside the input
 *   padded taps inside the padded input [-pad_begin, in + pad_end)
 * so the kernels never test a position against the padding. Rows of axis 0
 * come first, then axis 1, then axis 2.
 */
#ifndef RADRT_POOL_H
#define RADRT_POOL_H
#include <stddef.h>
#include <stdint.h>

#define RADRT_POOL_RANGE 4

typedef struct {
    int64_t planes;            /* N * C */
    int64_t in[3];             /* input spatial sizes (D, H, W) */
    int64_t out[3];            /* output spatial sizes */
    int64_t kernel[3];
    int64_t stride[3];
    int64_t dilation[3];
    int64_t w_lo, w_hi;        /* w_lo <= w_hi; columns [w_lo, w_hi) have every tap in the row */
    int64_t count_include_pad; /* AveragePool: divide by the padded tap count */
    int64_t column_major;      /* MaxPool Indices: storage_order 1 */
} radrt_pool_params;

void radrt_maxpool(const float *x, float *y, const int64_t *ranges, const radrt_pool_params *p);
void radrt_avgpool(const float *x, float *y, const int64_t *ranges, const radrt_pool_params *p);
/* MaxPool with its Indices output: flattened index of the (first) max in x. */
void radrt_maxpool_indices(const float *x, float *y, int64_t *indices, const int64_t *ranges,
                           const radrt_pool_params *p);

/* Global pools: one value per plane of `size` contiguous elements. */
void radrt_global_maxpool(const float *x, float *y, size_t planes, size_t size);
void radrt_global_avgpool(const float *x, float *y, size_t planes, size_t size);

#endif

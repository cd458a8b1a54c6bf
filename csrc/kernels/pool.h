/* Pooling over float32 (N, C, spatial...) tensors.
 *
 * MaxPool/AveragePool of every spatial rank run as 3-D (D, H, W): Python pads
 * the spatial shape with leading axes of size 1.
 *
 * radrt_maxpool / radrt_avgpool copy each plane into a padded plane in
 * scratch (padded[] sizes, the input at pad_begin[], every other position the
 * identity: -inf for max, 0 for average), so every window lies inside it and
 * the loops carry no bounds tests. AveragePool divides each window sum by
 * divisors[o] (one float per output position of a plane, from Python:
 * the count of taps inside the input, or inside the padded input with
 * count_include_pad). Scratch: radrt_pool_scratch_floats floats (SIZE_MAX when
 * that count overflows int64: the op is refused).
 *
 * radrt_maxpool_indices uses a table instead: per axis and output index o a
 * row of `ranges` (RADRT_POOL_RANGE int64 values):
 *   base   input position of kernel tap 0 (o * stride - pad_begin)
 *   begin  first tap inside the input
 *   end    one past the last tap inside the input
 *   padded taps inside the padded input [-pad_begin, in + pad_end)
 * Rows of axis 0 come first, then axis 1, then axis 2.
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
    int64_t pad_begin[3];      /* where the input starts in the padded plane */
    int64_t padded[3];         /* padded plane sizes: every window fits inside */
    int64_t column_major;      /* MaxPool Indices: storage_order 1 */
} radrt_pool_params;

size_t radrt_pool_scratch_floats(const radrt_pool_params *p);
void radrt_maxpool(const float *x, float *y, const radrt_pool_params *p, float *scratch);
void radrt_avgpool(const float *x, float *y, const float *divisors, const radrt_pool_params *p, float *scratch);
/* MaxPool with its Indices output: flattened index of the (first) max in x. */
void radrt_maxpool_indices(const float *x, float *y, int64_t *indices, const int64_t *ranges,
                           const radrt_pool_params *p);

/* MaxPool on uint8 / int8 tensors: each plane is widened to float32 in scratch (exact),
 * pooled by the float32 kernel (its frame is -inf, below every value, and every window
 * covers an input element: padding never wins) and narrowed back (exact: a max is one of
 * the inputs). Scratch: radrt_pool_plane_scratch_floats floats, an input plane, an
 * output plane and radrt_pool_scratch_floats (SIZE_MAX when that overflows int64). */
size_t radrt_pool_plane_scratch_floats(const radrt_pool_params *p);
void radrt_maxpool_u8(const uint8_t *x, uint8_t *y, const radrt_pool_params *p, float *scratch);
void radrt_maxpool_i8(const int8_t *x, int8_t *y, const radrt_pool_params *p, float *scratch);

/* Global pools: one value per plane of `size` contiguous elements. */
void radrt_global_maxpool(const float *x, float *y, size_t planes, size_t size);
void radrt_global_avgpool(const float *x, float *y, size_t planes, size_t size);

#endif

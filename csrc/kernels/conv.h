/* Convolution (ONNX Conv) over 1 to 3 spatial dims, NC(D)(H)W float32. */
#ifndef RADRT_CONV_H
#define RADRT_CONV_H
#include <stddef.h>
#include <stdint.h>

/* Implicit im2col of one convolution group, with 3 spatial dims (1-D and 2-D
 * convolutions use leading sizes of 1): B[k][n] with
 * k = ((c * kernel[0] + kd) * kernel[1] + kh) * kernel[2] + kw and
 * n = (od * out[1] + oh) * out[2] + ow reads
 * x[c][od*stride[0] - pad[0] + kd*dilation[0]][...][...] or 0 outside.
 * It lives here, not in gemm.h, because cffi reads headers in name order. */
typedef struct {
    int64_t channels;
    int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
} radrt_im2col;

/* How radrt_conv computes: GEMM of the weights with the implicit im2col of
 * x; GEMM reading x as B (1x1, stride 1, no pad); direct loops (one input
 * channel per group). */
#define RADRT_CONV_IM2COL 0
#define RADRT_CONV_POINTWISE 1
#define RADRT_CONV_DEPTHWISE 2

typedef struct {
    int64_t batch, in_channels, out_channels, group;
    /* geom.channels = in_channels / group; 1-D and 2-D use leading sizes 1. */
    radrt_im2col geom;
    int mode;
    /* Weights: pre-packed A panels per group (radrt_gemm_pack_a of each
     * group's (out_channels/group) x (K) matrix, group stride w_group_floats)
     * when w_packed, else the ONNX layout (out_channels, in_channels/group, k...). */
    int w_packed;
    int64_t w_group_floats;
    float act_min, act_max; /* fused activation clamp; -inf/+inf for none */
} radrt_conv_params;

/* bias may be NULL; scratch holds radrt_conv_scratch_floats floats (the GEMM's
 * packing buffers and, for an IM2COL conv whose windows reach outside the input,
 * a zero-framed copy of one group's input, used without ck; or the depthwise
 * padded plane); SIZE_MAX when that count overflows int64.
 * ck: NULL, or a radrt_abft (gemm.h); work holds radrt_conv_abft_work_floats(p)
 * floats (8-byte aligned). Results of every image are added to *ck.
 *   IM2COL and POINTWISE: side RADRT_ABFT_COLUMNS: wsum/wabs hold group * K floats
 *   (group g at g * K, K = channels * prod(kernel)), bias_sum/bias_abs one float per
 *   group (sum over the group's output channels of bias) or NULL without bias. One
 *   checksum per output position, per image and group.
 *   DEPTHWISE: side RADRT_ABFT_DEPTHWISE: one checksum per image and output channel
 *   (conv.c: the sum of the channel's pre-clamp outputs against the weights times the
 *   window sums of the padded input plane), with K = prod(kernel) products per
 *   output and prod(out) outputs per checksum in the tolerance. wsum: NULL (the
 *   expected sums use w as read: the caller verifies w by other means, e.g. its
 *   seal), or a golden copy of w (out_channels * prod(kernel) floats, w's layout)
 *   used instead, so an upset of w is caught by the checksums. wabs, bias_sum,
 *   bias_abs and wseal are not used (the bias is read from bias).
 *   ck->seal (when not NULL) gets the output's seal, accumulated from the stored
 *   values of each output plane right after they were stored.
 * The struct is declared in gemm.h, which includes this header: hence the tag. */
struct radrt_abft_s;
void radrt_conv(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                float *scratch, struct radrt_abft_s *ck);
size_t radrt_conv_scratch_floats(const radrt_conv_params *p);
/* Floats of radrt_abft.work for radrt_conv with ABFT; SIZE_MAX on overflow. */
size_t radrt_conv_abft_work_floats(const radrt_conv_params *p);

#endif

/* ConvTranspose (ONNX) over 1 to 3 spatial dims, NC(D)(H)W float32. */
#ifndef RADRT_CONV_TRANSPOSE_H
#define RADRT_CONV_TRANSPOSE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t batch, in_channels, out_channels, group;
    /* 1-D and 2-D use leading sizes 1; pad is the begin pad (it may be
     * negative when output_shape asks for more than the kernel covers). */
    int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
    /* Weights: per group, radrt_gemm_pack_a of W_g^T ((out_channels/group *
     * prod(kernel)) x (in_channels/group)), group stride w_group_floats, when
     * w_packed; else the ONNX layout (in_channels, out_channels/group, k...). */
    int w_packed;
    int64_t w_group_floats;
    float act_min, act_max; /* fused activation clamp; -inf/+inf for none */
} radrt_conv_transpose_params;

void radrt_conv_transpose(const radrt_conv_transpose_params *p, const float *x, const float *w,
                          const float *bias, float *y, float *scratch);
/* Scratch floats (column buffer + GEMM packing); SIZE_MAX when that overflows int64. */
size_t radrt_conv_transpose_scratch_floats(const radrt_conv_transpose_params *p);

#endif

/* Conv as GEMM: per image and group, Y_g (Cout/g x out) = W_g (Cout/g x K) *
 * im2col(X_g) (K x out), K = Cin/g * prod(kernel). The im2col matrix is never
 * materialised: the GEMM packs its B panels straight from the image (or, for
 * a 1x1 stride-1 unpadded conv, reads X_g as a dense matrix). Bias and the
 * activation clamp are the GEMM epilogue.
 *
 * Depthwise (one input channel per group) runs direct loops instead: each
 * output plane starts at its bias and adds the taps in (kd, kh, kw) order,
 * each tap a pass over the valid output rows/columns, then is clamped. */
#include "conv.h"
#include "gemm.h"

#include <string.h>

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

size_t radrt_conv_scratch_floats(const radrt_conv_params *p) {
    if (p->mode == RADRT_CONV_DEPTHWISE) return 0;
    const radrt_im2col *g = &p->geom;
    int64_t M = p->out_channels / p->group, K = g->channels * prod3(g->kernel);
    return radrt_sgemm_scratch_floats(M, prod3(g->out), K, p->w_packed, 0);
}

/* First and one-past-last output index o with 0 <= o*s + off < in. */
static void valid_range(int64_t out, int64_t s, int64_t off, int64_t in, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = off < in ? (in - off + s - 1) / s : 0;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static void conv_depthwise(const radrt_conv_params *p, const float *x, const float *w,
                           const float *bias, float *y) {
    const radrt_im2col *g = &p->geom;
    const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
    const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const int64_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const int64_t sw = g->stride[2], taps = KD * KH * KW;
    const int64_t per_group = p->out_channels / p->group;
    const int64_t in_plane = ID * IH * IW, out_plane = OD * OH * OW;
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t co = 0; co < p->out_channels; co++) {
            const float *xc = x + (n * p->in_channels + co / per_group) * in_plane;
            float *yc = y + (n * p->out_channels + co) * out_plane;
            const float b0 = bias ? bias[co] : 0.0f;
            for (int64_t i = 0; i < out_plane; i++) yc[i] = b0;
            for (int64_t kd = 0; kd < KD; kd++)
                for (int64_t kh = 0; kh < KH; kh++)
                    for (int64_t kw = 0; kw < KW; kw++) {
                        const float wt = w[co * taps + (kd * KH + kh) * KW + kw];
                        int64_t d0, d1, h0, h1, w0, w1;
                        int64_t offd = kd * g->dilation[0] - g->pad[0];
                        int64_t offh = kh * g->dilation[1] - g->pad[1];
                        int64_t offw = kw * g->dilation[2] - g->pad[2];
                        valid_range(OD, g->stride[0], offd, ID, &d0, &d1);
                        valid_range(OH, g->stride[1], offh, IH, &h0, &h1);
                        valid_range(OW, sw, offw, IW, &w0, &w1);
                        for (int64_t od = d0; od < d1; od++)
                            for (int64_t oh = h0; oh < h1; oh++) {
                                int64_t id = od * g->stride[0] + offd, ih = oh * g->stride[1] + offh;
                                const float *src = xc + (id * IH + ih) * IW;
                                float *dst = yc + (od * OH + oh) * OW;
                                if (sw == 1) {
                                    for (int64_t ow = w0; ow < w1; ow++) dst[ow] += wt * src[ow + offw];
                                } else {
                                    for (int64_t ow = w0; ow < w1; ow++) dst[ow] += wt * src[ow * sw + offw];
                                }
                            }
                    }
            for (int64_t i = 0; i < out_plane; i++) {
                float v = yc[i];
                v = v < p->act_min ? p->act_min : v;
                yc[i] = v > p->act_max ? p->act_max : v;
            }
        }
    }
}

void radrt_conv(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                float *scratch) {
    if (p->mode == RADRT_CONV_DEPTHWISE) {
        conv_depthwise(p, x, w, bias, y);
        return;
    }
    const radrt_im2col *g = &p->geom;
    const int64_t M = p->out_channels / p->group, K = g->channels * prod3(g->kernel);
    const int64_t out_size = prod3(g->out), in_size = prod3(g->in);
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t gi = 0; gi < p->group; gi++) {
            const float *xg = x + (n * p->in_channels + gi * g->channels) * in_size;
            radrt_operand a = p->w_packed ? (radrt_operand){w + gi * p->w_group_floats, 0, 0, 1}
                                          : (radrt_operand){w + gi * M * K, K, 1, 0};
            radrt_operand b = {xg, in_size, 1, 0};
            radrt_epilogue ep = {1.0f, 1.0f, bias ? bias + gi * M : NULL, 1, 0, p->act_min, p->act_max};
            float *yg = y + (n * p->out_channels + gi * M) * out_size;
            if (p->mode == RADRT_CONV_POINTWISE)
                radrt_sgemm(M, out_size, K, &a, &b, NULL, NULL, yg, out_size, &ep, scratch);
            else
                radrt_sgemm(M, out_size, K, &a, &b, g, xg, yg, out_size, &ep, scratch);
        }
    }
}

/* ConvTranspose as GEMM + col2im: per image and group,
 * col (Cout/g * prod(kernel) x in) = W_g^T (.. x Cin/g) * X_g (Cin/g x in),
 * then each output plane starts at its bias and col2im adds the col rows in
 * (kd, kh, kw) order, each input position to
 * out = in*stride - pad + k*dilation when that lies inside the output; the
 * plane is clamped last. The fixed loop order makes it deterministic. */
#include "conv_transpose.h"

#include "gemm.h"
#include "../core.h"

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* Columns [lo, hi) of i with 0 <= i*s + off < out, for i < in. */
static void valid_range(int64_t in, int64_t s, int64_t off, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = off < out ? (out - off + s - 1) / s : 0;
    if (h > in) h = in;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

static int64_t col_rows(const radrt_conv_transpose_params *p) {
    return p->out_channels / p->group * prod3(p->kernel);
}

/* SIZE_MAX when a size overflows int64 (radrt_size_mul/add give -1). */
size_t radrt_conv_transpose_scratch_floats(const radrt_conv_transpose_params *p) {
    if (p->group < 1) return SIZE_MAX;
    int64_t M = radrt_size_mul(p->out_channels / p->group,
                               radrt_size_mul(radrt_size_mul(p->kernel[0], p->kernel[1]), p->kernel[2]));
    int64_t N = radrt_size_mul(radrt_size_mul(p->in[0], p->in[1]), p->in[2]);
    int64_t K = p->in_channels / p->group;
    size_t gemm = radrt_sgemm_scratch_floats(M, N, K, p->w_packed, 0);
    int64_t col = radrt_size_mul(M, N);
    if (col < 0 || gemm == SIZE_MAX || gemm > (size_t)INT64_MAX) return SIZE_MAX;
    int64_t n = radrt_size_add(col, (int64_t)gemm);
    return n < 0 ? SIZE_MAX : (size_t)n;
}

static void col2im(const radrt_conv_transpose_params *p, const float *col, const float *bias, float *y) {
    const int64_t ID = p->in[0], IH = p->in[1], IW = p->in[2];
    const int64_t OD = p->out[0], OH = p->out[1], OW = p->out[2];
    const int64_t KD = p->kernel[0], KH = p->kernel[1], KW = p->kernel[2];
    const int64_t in_size = ID * IH * IW, out_size = OD * OH * OW;
    const int64_t sw = p->stride[2];
    for (int64_t co = 0; co < p->out_channels / p->group; co++) {
        float *yc = y + co * out_size;
        const float b0 = bias ? bias[co] : 0.0f;
        for (int64_t i = 0; i < out_size; i++) yc[i] = b0;
        for (int64_t kd = 0; kd < KD; kd++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++) {
                    const float *row = col + (((co * KD + kd) * KH + kh) * KW + kw) * in_size;
                    int64_t offd = kd * p->dilation[0] - p->pad[0];
                    int64_t offh = kh * p->dilation[1] - p->pad[1];
                    int64_t offw = kw * p->dilation[2] - p->pad[2];
                    int64_t d0, d1, h0, h1, w0, w1;
                    valid_range(ID, p->stride[0], offd, OD, &d0, &d1);
                    valid_range(IH, p->stride[1], offh, OH, &h0, &h1);
                    valid_range(IW, sw, offw, OW, &w0, &w1);
                    for (int64_t id = d0; id < d1; id++)
                        for (int64_t ih = h0; ih < h1; ih++) {
                            int64_t od = id * p->stride[0] + offd, oh = ih * p->stride[1] + offh;
                            const float *src = row + (id * IH + ih) * IW;
                            float *dst = yc + (od * OH + oh) * OW;
                            for (int64_t iw = w0; iw < w1; iw++) dst[iw * sw + offw] += src[iw];
                        }
                }
        for (int64_t i = 0; i < out_size; i++) {
            float v = yc[i];
            v = v < p->act_min ? p->act_min : v;
            yc[i] = v > p->act_max ? p->act_max : v;
        }
    }
}

void radrt_conv_transpose(const radrt_conv_transpose_params *p, const float *x, const float *w,
                          const float *bias, float *y, float *scratch) {
    const int64_t M = col_rows(p), N = prod3(p->in), K = p->in_channels / p->group;
    const int64_t cout_g = p->out_channels / p->group, out_size = prod3(p->out);
    float *col = scratch, *gemm_scratch = scratch + M * N;
    radrt_epilogue ep = {1.0f, 0.0f, NULL, 0, 0, -__builtin_inff(), __builtin_inff()};
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t g = 0; g < p->group; g++) {
            radrt_operand a = p->w_packed ? (radrt_operand){w + g * p->w_group_floats, 0, 0, 1}
                                          : (radrt_operand){w + g * K * M, 1, M, 0};
            radrt_operand b = {x + (n * p->in_channels + g * K) * N, N, 1, 0};
            radrt_sgemm(M, N, K, &a, &b, NULL, NULL, col, N, &ep, gemm_scratch, NULL);
            col2im(p, col, bias ? bias + g * cout_g : NULL, y + (n * p->out_channels + g * cout_g) * out_size);
        }
    }
}

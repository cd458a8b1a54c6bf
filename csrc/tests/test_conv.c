/* Conv and ConvTranspose against naive loops (double accumulation): every
 * mode of radrt_conv (implicit im2col, pointwise, depthwise), packed and
 * ONNX-layout weights, 1-D to 3-D, strides, dilations, begin and end pads,
 * groups, channel multipliers, odd sizes, the fused clamp; two runs must
 * give identical bytes. Buffers are exactly sized (see check.h). */
#include "check.h"

#include "kernels/conv.h"
#include "kernels/conv_transpose.h"
#include "kernels/gemm.h"

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

static double clampd(double v, float lo, float hi) {
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* ONNX-layout weights (cout, cin/g, kd, kh, kw). */
static void conv_reference(const radrt_conv_params *p, const float *x, const float *w, const float *bias,
                           double *y) {
    const radrt_im2col *g = &p->geom;
    const int64_t cin_g = g->channels, cout_g = p->out_channels / p->group;
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t co = 0; co < p->out_channels; co++)
            for (int64_t od = 0; od < g->out[0]; od++)
                for (int64_t oh = 0; oh < g->out[1]; oh++)
                    for (int64_t ow = 0; ow < g->out[2]; ow++) {
                        double s = bias ? bias[co] : 0.0;
                        for (int64_t c = 0; c < cin_g; c++)
                            for (int64_t kd = 0; kd < g->kernel[0]; kd++)
                                for (int64_t kh = 0; kh < g->kernel[1]; kh++)
                                    for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                                        int64_t id = od * g->stride[0] - g->pad[0] + kd * g->dilation[0];
                                        int64_t ih = oh * g->stride[1] - g->pad[1] + kh * g->dilation[1];
                                        int64_t iw = ow * g->stride[2] - g->pad[2] + kw * g->dilation[2];
                                        if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1] || iw < 0 ||
                                            iw >= g->in[2])
                                            continue;
                                        int64_t ci = (co / cout_g) * cin_g + c;
                                        double xv = x[(((n * p->in_channels + ci) * g->in[0] + id) * g->in[1] + ih) *
                                                          g->in[2] + iw];
                                        double wv = w[(((co * cin_g + c) * g->kernel[0] + kd) * g->kernel[1] + kh) *
                                                          g->kernel[2] + kw];
                                        s += xv * wv;
                                    }
                        y[(((n * p->out_channels + co) * g->out[0] + od) * g->out[1] + oh) * g->out[2] + ow] =
                            clampd(s, p->act_min, p->act_max);
                    }
}

static void run_conv(radrt_conv_params *p, int with_bias, const char *what) {
    radrt_im2col *g = &p->geom;
    const int64_t cout_g = p->out_channels / p->group, K = g->channels * prod3(g->kernel);
    const size_t nx = p->batch * p->in_channels * prod3(g->in), nw = p->out_channels * K;
    const size_t ny = p->batch * p->out_channels * prod3(g->out);
    float *x = rand_floats(nx), *w = rand_floats(nw), *bias = with_bias ? rand_floats(p->out_channels) : NULL;
    float *packed = NULL;
    const float *wk = w;
    if (p->w_packed) {
        p->w_group_floats = (int64_t)radrt_gemm_packed_a_floats(cout_g, K);
        packed = exact_alloc(p->group * p->w_group_floats * sizeof(float));
        for (int64_t gi = 0; gi < p->group; gi++)
            radrt_gemm_pack_a(w + gi * cout_g * K, K, 1, cout_g, K, packed + gi * p->w_group_floats);
        wk = packed;
    }
    const size_t ns = radrt_conv_scratch_floats(p);
    float *scratch = exact_alloc(ns * sizeof(float));
    float *y = poison_floats(ny), *y2 = poison_floats(ny);
    double *want = exact_alloc(ny * sizeof(double));
    radrt_conv(p, x, wk, bias, y, scratch, NULL);
    radrt_conv(p, x, wk, bias, y2, scratch, NULL);
    conv_reference(p, x, w, bias, want);
    char label[256];
    snprintf(label, sizeof label,
             "%s mode %d g %ld cin %ld cout %ld in %ldx%ldx%ld k %ldx%ldx%ld s %ld,%ld,%ld p %ld,%ld,%ld "
             "d %ld,%ld,%ld packed %d",
             what, p->mode, (long)p->group, (long)p->in_channels, (long)p->out_channels, (long)g->in[0],
             (long)g->in[1], (long)g->in[2], (long)g->kernel[0], (long)g->kernel[1], (long)g->kernel[2],
             (long)g->stride[0], (long)g->stride[1], (long)g->stride[2], (long)g->pad[0], (long)g->pad[1],
             (long)g->pad[2], (long)g->dilation[0], (long)g->dilation[1], (long)g->dilation[2], p->w_packed);
    compare_floats(label, y, want, ny, 1e-5, 1e-5);
    CHECK(memcmp(y, y2, ny * sizeof(float)) == 0, "%s: two runs differ", label);
    free(x); free(w); free(bias); free(packed); free(scratch); free(y); free(y2); free(want);
}

/* Output size of one axis, with the begin pad and an end pad. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
    int64_t span = (k - 1) * d + 1;
    return in + pb + pe < span ? 0 : (in + pb + pe - span) / s + 1;
}

/* A random geometry with `spatial` dims (leading dims size 1); 0 if empty. */
static int random_geometry(radrt_im2col *g, int spatial, int64_t max_k, int allow_stride) {
    for (int a = 0; a < 3; a++) {
        int live = a >= 3 - spatial;
        g->kernel[a] = live ? rnd_int(1, max_k) : 1;
        g->stride[a] = live && allow_stride ? rnd_int(1, 3) : 1;
        g->dilation[a] = live && allow_stride ? rnd_int(1, 2) : 1;
        g->in[a] = live ? rnd_int(1, 11) : 1;
        g->pad[a] = live ? rnd_int(0, g->kernel[a] - 1) : 0;
        int64_t pe = live ? rnd_int(0, g->kernel[a] - 1) : 0;
        g->out[a] = out_size(g->in[a], g->kernel[a], g->stride[a], g->dilation[a], g->pad[a], pe);
        if (g->out[a] < 1) return 0;
    }
    return 1;
}

static void random_conv(int mode) {
    radrt_conv_params p;
    memset(&p, 0, sizeof p);
    p.batch = rnd_int(1, 2);
    p.mode = mode;
    p.act_min = -INFINITY;
    p.act_max = INFINITY;
    if (rnd_int(0, 2) == 0) {
        p.act_min = 0.0f;
        p.act_max = rnd_int(0, 1) ? 0.5f : INFINITY;
    }
    int spatial = (int)rnd_int(1, 3);
    if (mode == RADRT_CONV_POINTWISE) {
        for (int a = 0; a < 3; a++) {
            p.geom.kernel[a] = p.geom.stride[a] = p.geom.dilation[a] = 1;
            p.geom.in[a] = p.geom.out[a] = a >= 3 - spatial ? rnd_int(1, 13) : 1;
            p.geom.pad[a] = 0;
        }
    } else if (!random_geometry(&p.geom, spatial, mode == RADRT_CONV_DEPTHWISE ? 5 : 4, 1)) {
        return;
    }
    if (mode == RADRT_CONV_DEPTHWISE) {
        p.group = rnd_int(2, 9);
        p.in_channels = p.group;
        p.out_channels = p.group * rnd_int(1, 2); /* channel multiplier 1 or 2 */
        p.w_packed = 0;
    } else {
        p.group = rnd_int(0, 3) ? 1 : rnd_int(2, 3);
        p.in_channels = p.group * rnd_int(1, 5);
        p.out_channels = p.group * rnd_int(1, 11);
        p.w_packed = (int)rnd_int(0, 1);
    }
    p.geom.channels = p.in_channels / p.group;
    run_conv(&p, (int)rnd_int(0, 1), "random");
}

/* Hand-picked edges: outputs reading only padding, kernel larger than the
 * input, K larger than the GEMM's K block, 3x3 stride-1 rows of every width
 * (the depthwise row tiles), and wide 1x1 pointwise. */
static void edge_convs(void) {
    for (int64_t width = 1; width <= 21; width++)
        for (int64_t stride = 1; stride <= 2; stride++) {
            radrt_conv_params p = {1, 3, 3, 3, {1, {1, 5, width}, {1, 0, 0}, {1, 3, 3}, {1, stride, stride},
                                                 {0, 1, 1}, {1, 1, 1}},
                                   RADRT_CONV_DEPTHWISE, 0, 0, -INFINITY, INFINITY};
            p.geom.out[1] = out_size(5, 3, stride, 1, 1, 1);
            p.geom.out[2] = out_size(width, 3, stride, 1, 1, 1);
            run_conv(&p, 1, "depthwise row");
            p.mode = RADRT_CONV_IM2COL;
            run_conv(&p, 0, "grouped im2col row");
        }
    /* 5x5 depthwise, pad 2, widths around vector sizes */
    for (int64_t width = 1; width <= 18; width += 1) {
        radrt_conv_params p = {1, 4, 4, 4, {1, {1, 4, width}, {1, 4, width}, {1, 5, 5}, {1, 1, 1},
                                             {0, 2, 2}, {1, 1, 1}},
                               RADRT_CONV_DEPTHWISE, 0, 0, -1.0f, 1.0f};
        run_conv(&p, 1, "depthwise 5x5");
    }
    /* pads larger than the kernel reach: outputs that see only padding */
    radrt_conv_params pad_only = {1, 2, 3, 1, {2, {1, 2, 2}, {1, 6, 6}, {1, 2, 2}, {1, 1, 1}, {0, 3, 3},
                                               {1, 1, 1}},
                                  RADRT_CONV_IM2COL, 1, 0, -INFINITY, INFINITY};
    run_conv(&pad_only, 1, "padding only");
    radrt_conv_params big_k = {1, 300, 7, 1, {300, {1, 3, 3}, {1, 3, 3}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0},
                                             {1, 1, 1}},
                               RADRT_CONV_POINTWISE, 1, 0, -INFINITY, INFINITY};
    run_conv(&big_k, 1, "K > KC pointwise");
    big_k.mode = RADRT_CONV_IM2COL;
    big_k.w_packed = 0;
    run_conv(&big_k, 0, "K > KC im2col");
    radrt_conv_params wide = {1, 5, 9, 1, {5, {1, 1, 1000}, {1, 1, 1000}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0},
                                           {1, 1, 1}},
                              RADRT_CONV_POINTWISE, 0, 0, -INFINITY, INFINITY};
    run_conv(&wide, 1, "wide pointwise");
    /* a valid stride of INT64_MAX along an axis with one output: the implicit im2col's
     * column bounds must not form IW - iw0 + stride - 1 */
    for (int64_t k = 1; k <= 3; k += 2)
        for (int64_t pad = 0; pad <= 1; pad++) {
            radrt_conv_params huge = {1, 2, 3, 1, {2, {1, 5, 7}, {1, 5 + 2 * pad - k + 1, 1}, {1, k, k},
                                                   {1, 1, INT64_MAX}, {0, pad, pad}, {1, 1, 1}},
                                      RADRT_CONV_IM2COL, 0, 0, -INFINITY, INFINITY};
            run_conv(&huge, 1, "stride INT64_MAX im2col");
        }
}

/* ---- ConvTranspose --------------------------------------------------------- */

static void conv_transpose_reference(const radrt_conv_transpose_params *p, const float *x, const float *w,
                                     const float *bias, double *y) {
    const int64_t cin_g = p->in_channels / p->group, cout_g = p->out_channels / p->group;
    const size_t ny = p->batch * p->out_channels * prod3(p->out);
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t co = 0; co < p->out_channels; co++)
            for (int64_t i = 0; i < prod3(p->out); i++)
                y[(n * p->out_channels + co) * prod3(p->out) + i] = bias ? bias[co] : 0.0;
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t ci = 0; ci < p->in_channels; ci++)
            for (int64_t c = 0; c < cout_g; c++)
                for (int64_t id = 0; id < p->in[0]; id++)
                    for (int64_t ih = 0; ih < p->in[1]; ih++)
                        for (int64_t iw = 0; iw < p->in[2]; iw++)
                            for (int64_t kd = 0; kd < p->kernel[0]; kd++)
                                for (int64_t kh = 0; kh < p->kernel[1]; kh++)
                                    for (int64_t kw = 0; kw < p->kernel[2]; kw++) {
                                        int64_t od = id * p->stride[0] - p->pad[0] + kd * p->dilation[0];
                                        int64_t oh = ih * p->stride[1] - p->pad[1] + kh * p->dilation[1];
                                        int64_t ow = iw * p->stride[2] - p->pad[2] + kw * p->dilation[2];
                                        if (od < 0 || od >= p->out[0] || oh < 0 || oh >= p->out[1] || ow < 0 ||
                                            ow >= p->out[2])
                                            continue;
                                        int64_t co = (ci / cin_g) * cout_g + c;
                                        double xv = x[(((n * p->in_channels + ci) * p->in[0] + id) * p->in[1] + ih) *
                                                          p->in[2] + iw];
                                        double wv = w[(((ci * cout_g + c) * p->kernel[0] + kd) * p->kernel[1] + kh) *
                                                          p->kernel[2] + kw];
                                        y[(((n * p->out_channels + co) * p->out[0] + od) * p->out[1] + oh) *
                                              p->out[2] + ow] += xv * wv;
                                    }
    for (size_t i = 0; i < ny; i++) y[i] = clampd(y[i], p->act_min, p->act_max);
}

static void random_conv_transpose(void) {
    radrt_conv_transpose_params p;
    memset(&p, 0, sizeof p);
    p.batch = rnd_int(1, 2);
    p.group = rnd_int(0, 2) ? 1 : rnd_int(2, 3);
    p.in_channels = p.group * rnd_int(1, 4);
    p.out_channels = p.group * rnd_int(1, 4);
    int spatial = (int)rnd_int(1, 3);
    for (int a = 0; a < 3; a++) {
        int live = a >= 3 - spatial;
        p.in[a] = live ? rnd_int(1, 7) : 1;
        p.kernel[a] = live ? rnd_int(1, 4) : 1;
        p.stride[a] = live ? rnd_int(1, 3) : 1;
        p.dilation[a] = live ? rnd_int(1, 2) : 1;
        /* begin pad may be negative (output_shape larger than the kernel covers) */
        p.pad[a] = live ? rnd_int(-1, p.kernel[a] - 1) : 0;
        int64_t full = (p.in[a] - 1) * p.stride[a] + (p.kernel[a] - 1) * p.dilation[a] + 1;
        p.out[a] = live ? full - p.pad[a] - rnd_int(0, p.kernel[a] - 1) + rnd_int(0, 1) : 1;
        if (p.out[a] < 1) p.out[a] = 1;
    }
    p.act_min = rnd_int(0, 1) ? -INFINITY : 0.0f;
    p.act_max = INFINITY;
    const int64_t cin_g = p.in_channels / p.group, cout_g = p.out_channels / p.group;
    const int64_t M = cout_g * prod3(p.kernel);
    const size_t nx = p.batch * p.in_channels * prod3(p.in), nw = p.in_channels * cout_g * prod3(p.kernel);
    const size_t ny = p.batch * p.out_channels * prod3(p.out);
    float *x = rand_floats(nx), *w = rand_floats(nw), *bias = rnd_int(0, 1) ? rand_floats(p.out_channels) : NULL;
    float *packed = NULL;
    const float *wk = w;
    p.w_packed = (int)rnd_int(0, 1);
    if (p.w_packed) {
        /* W_g^T: (cout_g * k) x cin_g, read from the ONNX layout (cin, cout_g, k...) */
        p.w_group_floats = (int64_t)radrt_gemm_packed_a_floats(M, cin_g);
        packed = exact_alloc(p.group * p.w_group_floats * sizeof(float));
        for (int64_t gi = 0; gi < p.group; gi++)
            radrt_gemm_pack_a(w + gi * cin_g * M, 1, M, M, cin_g, packed + gi * p.w_group_floats);
        wk = packed;
    }
    float *scratch = exact_alloc(radrt_conv_transpose_scratch_floats(&p) * sizeof(float));
    float *y = poison_floats(ny), *y2 = poison_floats(ny);
    double *want = exact_alloc(ny * sizeof(double));
    radrt_conv_transpose(&p, x, wk, bias, y, scratch);
    radrt_conv_transpose(&p, x, wk, bias, y2, scratch);
    conv_transpose_reference(&p, x, w, bias, want);
    char label[160];
    snprintf(label, sizeof label, "conv_transpose g %ld cin %ld cout %ld in %ldx%ldx%ld k %ldx%ldx%ld packed %d",
             (long)p.group, (long)p.in_channels, (long)p.out_channels, (long)p.in[0], (long)p.in[1],
             (long)p.in[2], (long)p.kernel[0], (long)p.kernel[1], (long)p.kernel[2], p.w_packed);
    compare_floats(label, y, want, ny, 1e-5, 1e-5);
    CHECK(memcmp(y, y2, ny * sizeof(float)) == 0, "%s: two runs differ", label);
    free(x); free(w); free(bias); free(packed); free(scratch); free(y); free(y2); free(want);
}

int main(void) {
    edge_convs();
    for (int i = 0; i < 150; i++) {
        random_conv(RADRT_CONV_IM2COL);
        random_conv(RADRT_CONV_POINTWISE);
        random_conv(RADRT_CONV_DEPTHWISE);
        random_conv_transpose();
    }
    return finish("test_conv");
}

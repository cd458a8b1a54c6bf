/* Conv as GEMM: per image and group, Y_g (Cout/g x out) = W_g (Cout/g x K) *
 * im2col(X_g) (K x out), K = Cin/g * prod(kernel). The im2col matrix is never
 * materialised: the GEMM packs its B panels straight from the image (or, for
 * a 1x1 stride-1 unpadded conv, reads X_g as a dense matrix). Bias and the
 * activation clamp are the GEMM epilogue.
 *
 * Depthwise (one input channel per group) runs direct loops instead. Each
 * input plane is copied into a zero-framed padded plane in scratch, so every
 * window lies inside it and no loop tests bounds. Outputs are computed 8 at a
 * time in vector registers: each starts at its bias, adds every tap in
 * (kd, kh, kw) order (a padding tap adds w * 0, as the GEMM path does), is
 * clamped and stored once. With stride 1 along H and W the output rows are
 * computed PW (padded row length) wide, so a plane is one line whose taps
 * sit at fixed offsets, and the extra columns are dropped when copied out;
 * other strides go row by row (stride 2 loads two vectors and keeps the even
 * lanes). Vectors past a line's end read zeros after the plane (slack) into
 * lanes that are never stored. */
#include "conv.h"
#include "gemm.h"
#include "../core.h"

#include <string.h>

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

#define VW 8
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* VW values p[0], p[step], ...; sw is the step when 1 or 2, else 0 (any). */
static inline __attribute__((always_inline)) vf load_step(const float *p, int64_t step, int sw) {
    if (sw == 1) return vload(p);
    if (sw == 2) return __builtin_shuffle(vload(p), vload(p + VW), (vi){0, 2, 4, 6, 8, 10, 12, 14});
    float t[VW];
    for (int l = 0; l < VW; l++) t[l] = p[l * step];
    return vload(t);
}

/* max(r, lo) then min(r, hi), written as compares so NaN passes through. */
static inline vf vclamp(vf r, float lo, float hi) {
    vf l = (vf){0} + lo, h = (vf){0} + hi;
    vi m = r < l;
    r = (vf)(((vi)r & ~m) | ((vi)l & m));
    m = r > h;
    return (vf)(((vi)r & ~m) | ((vi)h & m));
}

/* Padded plane sizes of a depthwise conv: the input at the begin pads, room for every window. */
static void dw_padded(const radrt_im2col *g, int64_t *padded) {
    for (int a = 0; a < 3; a++) {
        int64_t reach = radrt_size_add(radrt_size_add(radrt_size_mul(g->out[a] - 1, g->stride[a]),
                                                      radrt_size_mul(g->kernel[a] - 1, g->dilation[a])), 1);
        int64_t inside = radrt_size_add(g->in[a], g->pad[a]);
        padded[a] = reach < 0 || inside < 0 ? -1 : inside > reach ? inside : reach;
    }
}

static int dw_wide(const radrt_im2col *g) { return g->stride[1] == 1 && g->stride[2] == 1; }

/* Sizes below are computed with radrt_size_mul/add: -1 when they overflow int64. */
static int64_t checked_prod3(const int64_t *v) { return radrt_size_mul(radrt_size_mul(v[0], v[1]), v[2]); }

static int64_t dw_padded_floats(const radrt_im2col *g) {
    int64_t padded[3];
    dw_padded(g, padded);
    int64_t slack = radrt_size_add(radrt_size_add(radrt_size_mul(g->kernel[2] - 1, g->dilation[2]),
                                                  radrt_size_mul(VW, g->stride[2])), 1);
    return radrt_size_add(checked_prod3(padded), slack);
}

size_t radrt_conv_scratch_floats(const radrt_conv_params *p) {
    const radrt_im2col *g = &p->geom;
    if (p->mode == RADRT_CONV_DEPTHWISE) {
        int64_t padded[3];
        dw_padded(g, padded);
        int64_t n = radrt_size_add(dw_padded_floats(g), dw_wide(g) ? radrt_size_mul(g->out[1], padded[2]) : 0);
        return n < 0 ? SIZE_MAX : (size_t)n;
    }
    int64_t M = p->group > 0 ? p->out_channels / p->group : -1;
    int64_t K = radrt_size_mul(g->channels, checked_prod3(g->kernel));
    return radrt_sgemm_scratch_floats(M, checked_prod3(g->out), K, p->w_packed, 0);
}

typedef struct {
    const radrt_im2col *g;
    int64_t PH, PW;
    const float *w; /* this output channel's taps */
    float bias, lo, hi;
} dw_line_args;

/* out[j .. j + nv*VW) (stored up to n) from src[j * step + tap offsets]. */
static inline __attribute__((always_inline)) void dw_vectors(const dw_line_args *a, const float *src, float *out,
                                                             int64_t j, int64_t n, int64_t step, int nv, int sw) {
    const radrt_im2col *g = a->g;
    const int64_t KH = g->kernel[1], KW = g->kernel[2];
    vf acc[4];
    for (int v = 0; v < nv; v++) acc[v] = (vf){0} + a->bias;
    const float *base = src + j * step;
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *row = base + (kd * g->dilation[0] * a->PH + kh * g->dilation[1]) * a->PW;
            const float *wr = a->w + (kd * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                const float *t = row + kw * g->dilation[2];
                const float wt = wr[kw];
                for (int v = 0; v < nv; v++) acc[v] += load_step(t + v * VW * step, step, sw) * wt;
            }
        }
    for (int v = 0; v < nv; v++) {
        int64_t at = j + v * VW;
        vf r = vclamp(acc[v], a->lo, a->hi);
        if (at < n) memcpy(out + at, &r, (size_t)(n - at < VW ? n - at : VW) * sizeof(float));
    }
}

static inline __attribute__((always_inline)) void dw_line(const dw_line_args *a, const float *src, float *out,
                                                          int64_t n, int64_t step, int sw) {
    int64_t j = 0;
    for (; j + 4 * VW <= n; j += 4 * VW) dw_vectors(a, src, out, j, n, step, 4, sw);
    for (; j < n; j += VW) dw_vectors(a, src, out, j, n, step, 1, sw);
}

/* One output plane from the padded input plane. */
static inline __attribute__((always_inline)) void dw_plane(const dw_line_args *a, const float *pad, float *y,
                                                           float *acc, int sw) {
    const radrt_im2col *g = a->g;
    const int64_t OH = g->out[1], OW = g->out[2];
    for (int64_t od = 0; od < g->out[0]; od++) {
        const float *plane = pad + od * g->stride[0] * a->PH * a->PW;
        if (dw_wide(g)) {
            dw_line(a, plane, acc, OH * a->PW, 1, 1);
            for (int64_t oh = 0; oh < OH; oh++)
                memcpy(y + (od * OH + oh) * OW, acc + oh * a->PW, (size_t)OW * sizeof(float));
        } else {
            for (int64_t oh = 0; oh < OH; oh++)
                dw_line(a, plane + oh * g->stride[1] * a->PW, y + (od * OH + oh) * OW, OW, g->stride[2], sw);
        }
    }
}

static void conv_depthwise(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                           float *scratch) {
    const radrt_im2col *g = &p->geom;
    const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
    const int64_t taps = prod3(g->kernel), per_group = p->out_channels / p->group;
    const int64_t in_plane = prod3(g->in), out_plane = prod3(g->out);
    int64_t padded[3];
    dw_padded(g, padded);
    const int64_t PH = padded[1], PW = padded[2];
    const size_t npad = (size_t)dw_padded_floats(g); /* checked by radrt_conv_scratch_floats */
    float *pad = scratch, *acc = scratch + npad;
    memset(pad, 0, npad * sizeof(float)); /* the frame; each plane overwrites the inside */
    float *inside = pad + (g->pad[0] * PH + g->pad[1]) * PW + g->pad[2];
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t ci = 0; ci < p->in_channels; ci++) {
            const float *xc = x + (n * p->in_channels + ci) * in_plane;
            for (int64_t id = 0; id < ID; id++)
                for (int64_t ih = 0; ih < IH; ih++)
                    memcpy(inside + (id * PH + ih) * PW, xc + (id * IH + ih) * IW, (size_t)IW * sizeof(float));
            for (int64_t co = ci * per_group; co < (ci + 1) * per_group; co++) {
                dw_line_args a = {g, PH, PW, w + co * taps, bias ? bias[co] : 0.0f, p->act_min, p->act_max};
                float *yc = y + (n * p->out_channels + co) * out_plane;
                if (g->stride[2] == 1) dw_plane(&a, pad, yc, acc, 1);
                else if (g->stride[2] == 2) dw_plane(&a, pad, yc, acc, 2);
                else dw_plane(&a, pad, yc, acc, 0);
            }
        }
}

void radrt_conv(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                float *scratch, radrt_abft *ck) {
    if (p->mode == RADRT_CONV_DEPTHWISE) {
        conv_depthwise(p, x, w, bias, y, scratch);
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
            /* ABFT: this group's view of the checksums; results are added back. */
            radrt_abft view, *v = NULL;
            if (ck) {
                view = *ck;
                view.wsum = ck->wsum + gi * K;
                view.wabs = ck->wabs + gi * K;
                view.bias_sum = ck->bias_sum ? ck->bias_sum + gi : NULL;
                view.bias_abs = ck->bias_abs ? ck->bias_abs + gi : NULL;
                view.seal_base = ck->seal_base + (n * p->out_channels + gi * M) * out_size;
                view.wseal = n == 0 ? ck->wseal : NULL; /* the weights are sealed once, with image 0 */
                view.wseal_base = ck->wseal_base + gi * p->w_group_floats;
                v = &view;
            }
            if (p->mode == RADRT_CONV_POINTWISE)
                radrt_sgemm(M, out_size, K, &a, &b, NULL, NULL, yg, out_size, &ep, scratch, v);
            else
                radrt_sgemm(M, out_size, K, &a, &b, g, xg, yg, out_size, &ep, scratch, v);
            if (ck) {
                ck->checked = view.checked;
                ck->exceeded = view.exceeded;
                ck->nonfinite = view.nonfinite;
                ck->worst = view.worst;
            }
        }
    }
}

/* Separable resampling. Python computes, per resized axis, the source index
 * and weight of every tap of every output position (coordinate transform,
 * linear/cubic coefficients, antialias footprint, exclude_outside, edge
 * clamping), checks every index is inside the axis, and orders the passes;
 * each pass here is a fixed sum over taps in tap order, vectorised over the
 * contiguous inner extent, so the result is the same bits on every run. */
#include "resize.h"

static void resize_pass(const float *x, float *y, const radrt_resize_pass_t *p,
                        const int64_t *index, const float *weight) {
    const int64_t inner = p->inner, taps = p->taps;
    const int64_t *idx = index + p->table;
    const float *w = weight + p->table;
    for (int64_t o = 0; o < p->outer; o++) {
        const float *xo = x + o * p->in_len * inner;
        float *yo = y + o * p->out_len * inner;
        for (int64_t j = 0; j < p->out_len; j++) {
            float *yr = yo + j * inner;
            const int64_t *jt = idx + j * taps;
            const float *jw = w + j * taps;
            if (inner == 1) {
                float acc = jw[0] * xo[jt[0]];
                for (int64_t t = 1; t < taps; t++) acc += jw[t] * xo[jt[t]];
                yr[0] = acc;
                continue;
            }
            const float *x0 = xo + jt[0] * inner;
            for (int64_t i = 0; i < inner; i++) yr[i] = jw[0] * x0[i];
            for (int64_t t = 1; t < taps; t++) {
                const float *xt = xo + jt[t] * inner;
                const float wt = jw[t];
                for (int64_t i = 0; i < inner; i++) yr[i] += wt * xt[i];
            }
        }
    }
}

static void extrapolate(float *y, const radrt_resize_pass_t *p, const int64_t *flags, float value) {
    for (int64_t o = 0; o < p->fin_outer; o++)
        for (int64_t j = 0; j < p->out_len; j++) {
            if (!flags[j]) continue;
            float *yr = y + (o * p->out_len + j) * p->fin_inner;
            for (int64_t i = 0; i < p->fin_inner; i++) yr[i] = value;
        }
}

void radrt_resize_separable(const float *x, float *y, float *scratch, int64_t scratch_split,
                            const radrt_resize_pass_t *passes, int64_t npasses, const int64_t *index,
                            const float *weight, float extrapolation_value) {
    float *buffers[2] = {scratch, scratch + scratch_split};
    const float *in = x;
    for (int64_t k = 0; k < npasses; k++) {
        float *out = k == npasses - 1 ? y : buffers[k % 2];
        resize_pass(in, out, &passes[k], index, weight);
        in = out;
    }
    for (int64_t k = 0; k < npasses; k++)
        if (passes[k].flags >= 0) extrapolate(y, &passes[k], index + passes[k].flags, extrapolation_value);
}

/* Pooling kernels (see pool.h for the precomputed tap ranges).
 *
 * For each output row (od, oh) the kernel accumulates in the output row
 * itself: for every (kd, kh) tap inside the input it adds (or maxes) one input
 * row. Border columns use their precomputed tap range; interior columns
 * [w_lo, w_hi) take every kw tap, looping kw outside and columns inside, which
 * the compiler vectorises for stride 1. Every output sums its taps in the
 * same (kd, kh, kw) order whichever path computes it, so results are fixed.
 * Max keeps NaN: once a NaN is seen it stays. The window sum of AveragePool
 * is float32 (windows are small); global average sums in double over four
 * fixed lanes (element i goes to lane i % 4), then (l0 + l1) + (l2 + l3).
 */
#include "pool.h"

#include <math.h>

enum { R_BASE, R_BEGIN, R_END, R_PADDED };

static inline float take_max(float m, float v) { return (v > m || v != v) ? v : m; }

static inline __attribute__((always_inline)) float combine(float acc, float v, int is_max) {
    return is_max ? take_max(acc, v) : acc + v;
}

static const int64_t *axis_ranges(const int64_t *ranges, const radrt_pool_params *p, int axis) {
    int64_t off = 0;
    for (int a = 0; a < axis; a++) off += RADRT_POOL_RANGE * p->out[a];
    return ranges + off;
}

/* Output columns [from, to) of one row, each over its own tap range. */
static inline __attribute__((always_inline)) void border_columns(const float *xr, float *yr, const int64_t *rw,
                                                                 int64_t from, int64_t to, int64_t dw, int is_max) {
    for (int64_t ow = from; ow < to; ow++) {
        const int64_t *w = rw + RADRT_POOL_RANGE * ow;
        float acc = yr[ow];
        for (int64_t kw = w[R_BEGIN]; kw < w[R_END]; kw++) acc = combine(acc, xr[w[R_BASE] + kw * dw], is_max);
        yr[ow] = acc;
    }
}

static inline __attribute__((always_inline)) void pool_plane(const float *x, float *y, const int64_t *rd,
                                                             const int64_t *rh, const int64_t *rw,
                                                             const radrt_pool_params *p, int is_max) {
    const int64_t ih_n = p->in[1], iw_n = p->in[2];
    const int64_t oh_n = p->out[1], ow_n = p->out[2];
    const int64_t kw_n = p->kernel[2], sw = p->stride[2];
    const int64_t dd = p->dilation[0], dh = p->dilation[1], dw = p->dilation[2];
    const int64_t lo = p->w_lo, hi = p->w_hi;
    const float init = is_max ? -INFINITY : 0.0f;
    for (int64_t od = 0; od < p->out[0]; od++) {
        const int64_t *d = rd + RADRT_POOL_RANGE * od;
        for (int64_t oh = 0; oh < oh_n; oh++) {
            const int64_t *h = rh + RADRT_POOL_RANGE * oh;
            float *yr = y + (od * oh_n + oh) * ow_n;
            for (int64_t ow = 0; ow < ow_n; ow++) yr[ow] = init;
            for (int64_t kd = d[R_BEGIN]; kd < d[R_END]; kd++) {
                for (int64_t kh = h[R_BEGIN]; kh < h[R_END]; kh++) {
                    const float *xr = x + ((d[R_BASE] + kd * dd) * ih_n + h[R_BASE] + kh * dh) * iw_n;
                    border_columns(xr, yr, rw, 0, lo, dw, is_max);
                    border_columns(xr, yr, rw, hi, ow_n, dw, is_max);
                    for (int64_t kw = 0; hi > lo && kw < kw_n; kw++) {
                        const float *xs = xr + rw[RADRT_POOL_RANGE * lo + R_BASE] + kw * dw;
                        float *ys = yr + lo;
                        const int64_t n = hi - lo;
                        if (sw == 1) {
                            for (int64_t i = 0; i < n; i++) ys[i] = combine(ys[i], xs[i], is_max);
                        } else {
                            for (int64_t i = 0; i < n; i++) ys[i] = combine(ys[i], xs[i * sw], is_max);
                        }
                    }
                }
            }
            if (is_max) continue;
            for (int64_t ow = 0; ow < ow_n; ow++) {
                const int64_t *w = rw + RADRT_POOL_RANGE * ow;
                const int64_t taps = p->count_include_pad
                    ? d[R_PADDED] * h[R_PADDED] * w[R_PADDED]
                    : (d[R_END] - d[R_BEGIN]) * (h[R_END] - h[R_BEGIN]) * (w[R_END] - w[R_BEGIN]);
                yr[ow] = yr[ow] / (float)taps;
            }
        }
    }
}

void radrt_maxpool(const float *x, float *y, const int64_t *ranges, const radrt_pool_params *p) {
    const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
    const int64_t out_plane = p->out[0] * p->out[1] * p->out[2];
    const int64_t *rd = axis_ranges(ranges, p, 0), *rh = axis_ranges(ranges, p, 1), *rw = axis_ranges(ranges, p, 2);
    for (int64_t c = 0; c < p->planes; c++) pool_plane(x + c * in_plane, y + c * out_plane, rd, rh, rw, p, 1);
}

void radrt_avgpool(const float *x, float *y, const int64_t *ranges, const radrt_pool_params *p) {
    const int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
    const int64_t out_plane = p->out[0] * p->out[1] * p->out[2];
    const int64_t *rd = axis_ranges(ranges, p, 0), *rh = axis_ranges(ranges, p, 1), *rw = axis_ranges(ranges, p, 2);
    for (int64_t c = 0; c < p->planes; c++) pool_plane(x + c * in_plane, y + c * out_plane, rd, rh, rw, p, 0);
}

void radrt_maxpool_indices(const float *x, float *y, int64_t *indices, const int64_t *ranges,
                           const radrt_pool_params *p) {
    const int64_t id_n = p->in[0], ih_n = p->in[1], iw_n = p->in[2];
    const int64_t in_plane = id_n * ih_n * iw_n;
    const int64_t *rd = axis_ranges(ranges, p, 0), *rh = axis_ranges(ranges, p, 1), *rw = axis_ranges(ranges, p, 2);
    int64_t o = 0;
    for (int64_t c = 0; c < p->planes; c++) {
        const float *xp = x + c * in_plane;
        for (int64_t od = 0; od < p->out[0]; od++) {
            const int64_t *d = rd + RADRT_POOL_RANGE * od;
            for (int64_t oh = 0; oh < p->out[1]; oh++) {
                const int64_t *h = rh + RADRT_POOL_RANGE * oh;
                for (int64_t ow = 0; ow < p->out[2]; ow++, o++) {
                    const int64_t *w = rw + RADRT_POOL_RANGE * ow;
                    float m = -INFINITY;
                    int64_t at = -1;
                    for (int64_t kd = d[R_BEGIN]; kd < d[R_END]; kd++) {
                        const int64_t i_d = d[R_BASE] + kd * p->dilation[0];
                        for (int64_t kh = h[R_BEGIN]; kh < h[R_END]; kh++) {
                            const int64_t i_h = h[R_BASE] + kh * p->dilation[1];
                            for (int64_t kw = w[R_BEGIN]; kw < w[R_END]; kw++) {
                                const int64_t i_w = w[R_BASE] + kw * p->dilation[2];
                                const float v = xp[(i_d * ih_n + i_h) * iw_n + i_w];
                                /* the first max wins; the first NaN beats everything */
                                if (v > m || (v != v && m == m) || at < 0) {
                                    m = v;
                                    at = p->column_major ? (i_w * ih_n + i_h) * id_n + i_d
                                                         : (i_d * ih_n + i_h) * iw_n + i_w;
                                }
                            }
                        }
                    }
                    y[o] = m;
                    indices[o] = c * in_plane + at;
                }
            }
        }
    }
}

void radrt_global_maxpool(const float *x, float *y, size_t planes, size_t size) {
    for (size_t c = 0; c < planes; c++) {
        const float *xp = x + c * size;
        float m = -INFINITY;
        for (size_t i = 0; i < size; i++) m = take_max(m, xp[i]);
        y[c] = m;
    }
}

void radrt_global_avgpool(const float *x, float *y, size_t planes, size_t size) {
    for (size_t c = 0; c < planes; c++) {
        const float *xp = x + c * size;
        double lane[4] = {0.0, 0.0, 0.0, 0.0};
        size_t i = 0;
        for (; i + 4 <= size; i += 4)
            for (int l = 0; l < 4; l++) lane[l] += (double)xp[i + l];
        for (int l = 0; i < size; i++, l++) lane[l] += (double)xp[i];
        y[c] = (float)(((lane[0] + lane[1]) + (lane[2] + lane[3])) / (double)size);
    }
}

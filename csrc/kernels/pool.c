/* Pooling kernels (see pool.h for the padded plane and the index table).
 *
 * MaxPool/AveragePool: each plane is copied into the padded plane in
 * scratch, whose frame holds the identity (-inf, or 0 for sums), so a window
 * tap outside the input changes nothing and no loop tests bounds. Outputs
 * are computed 8 at a time in a vector register that combines every tap of
 * their windows in (kd, kh, kw) order before one store:
 *   - stride 1 along H and W ("wide"): the output rows are computed PW
 *     columns wide (the padded row length), so a plane is one line of
 *     OH * PW outputs whose taps sit at fixed offsets; the extra columns are
 *     dropped when the rows are copied out;
 *   - any other stride: line by output row; stride 2 loads two vectors and
 *     keeps the even lanes, other strides gather lane by lane.
 * Vectors past a line's end read identity values after the plane (scratch
 * has slack_floats of them) into lanes that are never stored.
 * Every output combines its taps in the same (kd, kh, kw) order on either
 * path, so results are fixed; a padding tap adds 0 (exact) or maxes with
 * -inf. AveragePool then divides by its divisor. Max keeps NaN: once a NaN
 * is seen it stays. The window sum is float32 (windows are small); global
 * average sums in double over 16 fixed lanes (element i goes to lane
 * i % 16), then adds them pairwise (lane l + lane l + w, w = 8, 4, 2, 1).
 */
#include "pool.h"
#include "../core.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { R_BASE, R_BEGIN, R_END, R_PADDED };

static inline float take_max(float m, float v) { return (v > m || v != v) ? v : m; }

/* Output columns are computed VW at a time in registers, all taps of a
 * window per vector; the last, partial vector of a row goes through a stage.
 * Reads past a row's last window stay in scratch (see slack_floats). */
#define VW 8
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) vf vcombine(vf acc, vf v, int is_max) {
    if (!is_max) return acc + v;
    vi m = (v > acc) | (v != v);
    return (vf)(((vi)v & m) | ((vi)acc & ~m));
}

/* VW values p[0], p[sw], ...; sw is 1, 2 or (0) any. */
static inline __attribute__((always_inline)) vf load_step(const float *p, int64_t step, int sw) {
    if (sw == 1) return vload(p);
    if (sw == 2) return __builtin_shuffle(vload(p), vload(p + VW), (vi){0, 2, 4, 6, 8, 10, 12, 14});
    float t[VW];
    for (int l = 0; l < VW; l++) t[l] = p[l * step];
    return vload(t);
}

static int wide(const radrt_pool_params *p) { return p->stride[1] == 1 && p->stride[2] == 1; }

/* Identity values after the padded plane: what the last row's vectors read past its end.
 * Sizes are computed with radrt_size_mul/add (-1 on overflow). */
static int64_t slack_floats(const radrt_pool_params *p) {
    return radrt_size_add(radrt_size_add(radrt_size_mul(p->kernel[2] - 1, p->dilation[2]),
                                         radrt_size_mul(VW, p->stride[2])), 1);
}

static int64_t padded_floats(const radrt_pool_params *p) {
    return radrt_size_add(radrt_size_mul(radrt_size_mul(p->padded[0], p->padded[1]), p->padded[2]),
                          slack_floats(p));
}

/* SIZE_MAX when the size overflows int64 (the caller refuses the op). */
size_t radrt_pool_scratch_floats(const radrt_pool_params *p) {
    int64_t n = radrt_size_add(padded_floats(p), wide(p) ? radrt_size_mul(p->out[1], p->padded[2]) : 0);
    return n < 0 ? SIZE_MAX : (size_t)n;
}

/* out[j] for j in [j, j + nv * VW) (nv vectors; the stored part is at most n - j
 * values) = the window combine of src[j * step + tap offsets], taps in
 * (kd, kh, kw) order. */
static inline __attribute__((always_inline)) void pool_vectors(const float *src, float *out, int64_t j, int64_t n,
                                                               int64_t step, const radrt_pool_params *p, int nv,
                                                               int sw, int is_max) {
    const int64_t PH = p->padded[1], PW = p->padded[2];
    vf acc[4];
    for (int v = 0; v < nv; v++) acc[v] = (vf){0} + (is_max ? -INFINITY : 0.0f);
    const float *base = src + j * step;
    for (int64_t kd = 0; kd < p->kernel[0]; kd++)
        for (int64_t kh = 0; kh < p->kernel[1]; kh++) {
            const float *row = base + (kd * p->dilation[0] * PH + kh * p->dilation[1]) * PW;
            for (int64_t kw = 0; kw < p->kernel[2]; kw++) {
                const float *t = row + kw * p->dilation[2];
                for (int v = 0; v < nv; v++) acc[v] = vcombine(acc[v], load_step(t + v * VW * step, step, sw), is_max);
            }
        }
    for (int v = 0; v < nv; v++) {
        int64_t at = j + v * VW;
        if (at < n) memcpy(out + at, &acc[v], (size_t)(n - at < VW ? n - at : VW) * sizeof(float));
    }
}

/* out[j] (j < n): four vectors at a time, then one. */
static inline __attribute__((always_inline)) void pool_line(const float *src, float *out, int64_t n, int64_t step,
                                                            const radrt_pool_params *p, int sw, int is_max) {
    int64_t j = 0;
    for (; j + 4 * VW <= n; j += 4 * VW) pool_vectors(src, out, j, n, step, p, 4, sw, is_max);
    for (; j < n; j += VW) pool_vectors(src, out, j, n, step, p, 1, sw, is_max);
}

static inline __attribute__((always_inline)) void pool_plane(const float *pad, float *y, float *acc,
                                                             const radrt_pool_params *p, int sw, int is_max) {
    const int64_t PH = p->padded[1], PW = p->padded[2], OH = p->out[1], OW = p->out[2];
    for (int64_t od = 0; od < p->out[0]; od++) {
        const float *plane = pad + od * p->stride[0] * PH * PW;
        if (wide(p)) {
            /* stride 1: all OH rows as one line PW wide; the extra columns are dropped */
            pool_line(plane, acc, OH * PW, 1, p, 1, is_max);
            for (int64_t oh = 0; oh < OH; oh++)
                memcpy(y + (od * OH + oh) * OW, acc + oh * PW, (size_t)OW * sizeof(float));
        } else {
            for (int64_t oh = 0; oh < OH; oh++)
                pool_line(plane + oh * p->stride[1] * PW, y + (od * OH + oh) * OW, OW, p->stride[2], p, sw, is_max);
        }
    }
}

static inline __attribute__((always_inline)) void pool(const float *x, float *y, const float *divisors,
                                                       const radrt_pool_params *p, float *scratch, int is_max) {
    const int64_t ID = p->in[0], IH = p->in[1], IW = p->in[2];
    const int64_t PH = p->padded[1], PW = p->padded[2];
    const int64_t in_plane = ID * IH * IW, out_plane = p->out[0] * p->out[1] * p->out[2];
    const size_t npad = (size_t)padded_floats(p); /* checked by radrt_pool_scratch_floats */
    float *pad = scratch, *acc = scratch + npad;
    const float init = is_max ? -INFINITY : 0.0f;
    for (size_t i = 0; i < npad; i++) pad[i] = init; /* the frame; each plane overwrites the inside */
    float *inside = pad + (p->pad_begin[0] * PH + p->pad_begin[1]) * PW + p->pad_begin[2];
    for (int64_t c = 0; c < p->planes; c++) {
        const float *xc = x + c * in_plane;
        for (int64_t id = 0; id < ID; id++)
            for (int64_t ih = 0; ih < IH; ih++)
                memcpy(inside + (id * PH + ih) * PW, xc + (id * IH + ih) * IW, (size_t)IW * sizeof(float));
        float *yc = y + c * out_plane;
        if (p->stride[2] == 1) pool_plane(pad, yc, acc, p, 1, is_max);
        else if (p->stride[2] == 2) pool_plane(pad, yc, acc, p, 2, is_max);
        else pool_plane(pad, yc, acc, p, 0, is_max);
        if (!is_max)
            for (int64_t i = 0; i < out_plane; i++) yc[i] = yc[i] / divisors[i];
    }
}

void radrt_maxpool(const float *x, float *y, const radrt_pool_params *p, float *scratch) {
    pool(x, y, NULL, p, scratch, 1);
}

void radrt_avgpool(const float *x, float *y, const float *divisors, const radrt_pool_params *p, float *scratch) {
    pool(x, y, divisors, p, scratch, 0);
}

static int64_t plane_elements(const int64_t *dims) {
    return radrt_size_mul(radrt_size_mul(dims[0], dims[1]), dims[2]);
}

size_t radrt_pool_plane_scratch_floats(const radrt_pool_params *p) {
    const size_t pool_floats = radrt_pool_scratch_floats(p);
    if (pool_floats == SIZE_MAX) return SIZE_MAX;
    const int64_t n = radrt_size_add(radrt_size_add(plane_elements(p->in), plane_elements(p->out)),
                                     (int64_t)pool_floats);
    return n < 0 ? SIZE_MAX : (size_t)n;
}

/* One plane at a time: widen into scratch, pool as float32, narrow back. */
#define INT_MAXPOOL(NAME, T)                                                                   \
    void NAME(const T *x, T *y, const radrt_pool_params *p, float *scratch) {                  \
        radrt_pool_params one = *p;                                                            \
        one.planes = 1;                                                                        \
        const size_t in_plane = (size_t)plane_elements(p->in), out_plane = (size_t)plane_elements(p->out); \
        float *fx = scratch, *fy = scratch + in_plane;                                         \
        for (int64_t c = 0; c < p->planes; c++) {                                              \
            const T *xc = x + (size_t)c * in_plane;                                            \
            for (size_t i = 0; i < in_plane; i++) fx[i] = (float)xc[i];                        \
            pool(fx, fy, NULL, &one, fy + out_plane, 1);                                       \
            T *yc = y + (size_t)c * out_plane;                                                 \
            for (size_t i = 0; i < out_plane; i++) yc[i] = (T)fy[i];                           \
        }                                                                                      \
    }

INT_MAXPOOL(radrt_maxpool_u8, uint8_t)
INT_MAXPOOL(radrt_maxpool_i8, int8_t)

static const int64_t *axis_ranges(const int64_t *ranges, const radrt_pool_params *p, int axis) {
    int64_t off = 0;
    for (int a = 0; a < axis; a++) off += RADRT_POOL_RANGE * p->out[a];
    return ranges + off;
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

/* 16 float64 lanes (element i into lane i mod 16), added pairwise at the end: independent
 * chains enough to hide the add latency, so the mean runs at memory speed (4 lanes were
 * one element per add latency). The order depends on size only. */
#define GAP_LANES 16
void radrt_global_avgpool(const float *x, float *y, size_t planes, size_t size) {
    for (size_t c = 0; c < planes; c++) {
        const float *xp = x + c * size;
        double lane[GAP_LANES] = {0.0};
        size_t i = 0;
        for (; i + GAP_LANES <= size; i += GAP_LANES)
            for (int l = 0; l < GAP_LANES; l++) lane[l] += (double)xp[i + l];
        for (int l = 0; i < size; i++, l++) lane[l] += (double)xp[i];
        for (int w = GAP_LANES / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];
        y[c] = (float)(lane[0] / (double)size);
    }
}

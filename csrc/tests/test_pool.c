/* MaxPool, AveragePool (with and without count_include_pad), MaxPool with
 * Indices and the global pools against naive loops: 1-D to 3-D, strides 1
 * (the wide path), 2 and 3, dilations, asymmetric pads, ceil mode (windows
 * running past the end padding), rows of every width around the vector
 * size, NaN inputs. The padded plane, the divisors and the tap-range table
 * are built here the way runtime/ops/pool.py builds them. Buffers and
 * scratch are exactly sized (see check.h). */
#include "check.h"

#include "kernels/pool.h"

typedef struct {
    int64_t pb[3], pe[3];
} pads3;

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* ONNX output size, floor or ceil mode (a last window starting in the end padding is dropped). */
static int64_t pool_out(int64_t n, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, int ceil_mode) {
    int64_t span = n + pb + pe - ((k - 1) * d + 1);
    if (span < 0) return 0;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= n + pb) o--;
    return o;
}

/* The RADRT_POOL_RANGE rows of every axis; *empty is set when some window lies all in the padding. */
static int64_t *build_ranges(const radrt_pool_params *p, const pads3 *pads, int *empty) {
    int64_t rows = p->out[0] + p->out[1] + p->out[2];
    int64_t *r = exact_alloc(rows * RADRT_POOL_RANGE * sizeof(int64_t)), *row = r;
    for (int a = 0; a < 3; a++)
        for (int64_t o = 0; o < p->out[a]; o++, row += RADRT_POOL_RANGE) {
            int64_t base = o * p->stride[a] - pads->pb[a], first = -1, last = -1, padded = 0;
            for (int64_t k = 0; k < p->kernel[a]; k++) {
                int64_t t = base + k * p->dilation[a];
                if (t >= 0 && t < p->in[a]) {
                    if (first < 0) first = k;
                    last = k + 1;
                }
                padded += t < p->in[a] + pads->pe[a];
            }
            if (first < 0) {
                *empty = 1;
                first = last = 0;
            }
            row[0] = base, row[1] = first, row[2] = last, row[3] = padded;
        }
    return r;
}

static void reference(const radrt_pool_params *p, const pads3 *pads, const float *x, int is_max,
                      int count_include_pad, double *y, int64_t *idx) {
    const int64_t in_plane = prod3(p->in);
    int64_t o = 0;
    for (int64_t c = 0; c < p->planes; c++)
        for (int64_t od = 0; od < p->out[0]; od++)
            for (int64_t oh = 0; oh < p->out[1]; oh++)
                for (int64_t ow = 0; ow < p->out[2]; ow++, o++) {
                    float m = -INFINITY;
                    double sum = 0.0;
                    int64_t count = 0, padded = 1, at = -1;
                    int64_t pos[3] = {od, oh, ow};
                    for (int a = 0; a < 3; a++) {
                        int64_t n = 0;
                        for (int64_t k = 0; k < p->kernel[a]; k++)
                            n += pos[a] * p->stride[a] - pads->pb[a] + k * p->dilation[a] < p->in[a] + pads->pe[a];
                        padded *= n;
                    }
                    for (int64_t kd = 0; kd < p->kernel[0]; kd++)
                        for (int64_t kh = 0; kh < p->kernel[1]; kh++)
                            for (int64_t kw = 0; kw < p->kernel[2]; kw++) {
                                int64_t i_d = od * p->stride[0] - pads->pb[0] + kd * p->dilation[0];
                                int64_t i_h = oh * p->stride[1] - pads->pb[1] + kh * p->dilation[1];
                                int64_t i_w = ow * p->stride[2] - pads->pb[2] + kw * p->dilation[2];
                                if (i_d < 0 || i_d >= p->in[0] || i_h < 0 || i_h >= p->in[1] || i_w < 0 ||
                                    i_w >= p->in[2])
                                    continue;
                                int64_t flat = (i_d * p->in[1] + i_h) * p->in[2] + i_w;
                                float v = x[c * in_plane + flat];
                                if (v > m || (v != v && m == m) || at < 0) {
                                    m = v;
                                    at = p->column_major ? (i_w * p->in[1] + i_h) * p->in[0] + i_d : flat;
                                }
                                sum += v;
                                count++;
                            }
                    y[o] = is_max ? m : sum / (double)(count_include_pad ? padded : count);
                    idx[o] = c * in_plane + at;
                }
}

static void run_pool(radrt_pool_params *p, const pads3 *pads, int with_nan, int count_include_pad) {
    const size_t nx = p->planes * prod3(p->in), ny = p->planes * prod3(p->out), plane = prod3(p->out);
    /* runtime/ops/pool.py rejects windows entirely in the padding except for
     * AveragePool with count_include_pad (they average to 0) */
    int empty = 0;
    int64_t *ranges = build_ranges(p, pads, &empty);
    if (empty && !count_include_pad) {
        free(ranges);
        return;
    }
    for (int a = 0; a < 3; a++) {
        int64_t reach = (p->out[a] - 1) * p->stride[a] + (p->kernel[a] - 1) * p->dilation[a] + 1;
        p->pad_begin[a] = pads->pb[a];
        p->padded[a] = p->in[a] + pads->pb[a] > reach ? p->in[a] + pads->pb[a] : reach;
    }
    float *divisors = exact_alloc(plane * sizeof(float));
    const int64_t *rd = ranges, *rh = rd + RADRT_POOL_RANGE * p->out[0], *rw = rh + RADRT_POOL_RANGE * p->out[1];
    for (int64_t od = 0, o = 0; od < p->out[0]; od++)
        for (int64_t oh = 0; oh < p->out[1]; oh++)
            for (int64_t ow = 0; ow < p->out[2]; ow++, o++) {
                const int64_t *d = rd + RADRT_POOL_RANGE * od, *h = rh + RADRT_POOL_RANGE * oh,
                              *w = rw + RADRT_POOL_RANGE * ow;
                divisors[o] = count_include_pad ? (float)(d[3] * h[3] * w[3])
                                                : (float)((d[2] - d[1]) * (h[2] - h[1]) * (w[2] - w[1]));
            }
    float *scratch = exact_alloc(radrt_pool_scratch_floats(p) * sizeof(float));
    float *x = rand_floats(nx);
    if (with_nan && nx > 0) x[rnd_int(0, (int64_t)nx - 1)] = NAN;
    float *y = poison_floats(ny), *y2 = poison_floats(ny);
    int64_t *idx = exact_alloc(ny * sizeof(int64_t)), *want_idx = exact_alloc(ny * sizeof(int64_t));
    double *want = exact_alloc(ny * sizeof(double));
    char label[200];
    for (int is_max = 0; is_max < (empty ? 1 : 2); is_max++) {
        snprintf(label, sizeof label,
                 "%s in %ldx%ldx%ld k %ldx%ldx%ld s %ld,%ld,%ld d %ld,%ld,%ld pads %ld,%ld,%ld/%ld,%ld,%ld cip %ld",
                 is_max ? "maxpool" : "avgpool", (long)p->in[0], (long)p->in[1], (long)p->in[2],
                 (long)p->kernel[0], (long)p->kernel[1], (long)p->kernel[2], (long)p->stride[0],
                 (long)p->stride[1], (long)p->stride[2], (long)p->dilation[0], (long)p->dilation[1],
                 (long)p->dilation[2], (long)pads->pb[0], (long)pads->pb[1], (long)pads->pb[2],
                 (long)pads->pe[0], (long)pads->pe[1], (long)pads->pe[2], (long)count_include_pad);
        reference(p, pads, x, is_max, count_include_pad, want, want_idx);
        if (is_max) {
            radrt_maxpool(x, y, p, scratch);
            radrt_maxpool(x, y2, p, scratch);
        } else {
            radrt_avgpool(x, y, divisors, p, scratch);
            radrt_avgpool(x, y2, divisors, p, scratch);
        }
        compare_floats(label, y, want, ny, 1e-5, 1e-6);
        CHECK(memcmp(y, y2, ny * sizeof(float)) == 0, "%s: two runs differ", label);
        if (is_max) {
            radrt_maxpool_indices(x, y, idx, ranges, p);
            compare_floats(label, y, want, ny, 0.0, 0.0);
            for (size_t i = 0; i < ny; i++)
                if (idx[i] != want_idx[i]) {
                    CHECK(0, "%s: index %zu is %ld, expected %ld", label, i, (long)idx[i], (long)want_idx[i]);
                    break;
                }
        }
    }
    free(ranges); free(divisors); free(scratch); free(x); free(y); free(y2); free(idx); free(want_idx); free(want);
}

static void random_pool(void) {
    radrt_pool_params p;
    pads3 pads;
    memset(&p, 0, sizeof p);
    memset(&pads, 0, sizeof pads);
    p.planes = rnd_int(1, 4);
    int spatial = (int)rnd_int(1, 3), ceil_mode = (int)rnd_int(0, 1);
    for (int a = 0; a < 3; a++) {
        int live = a >= 3 - spatial;
        p.in[a] = live ? rnd_int(1, 12) : 1;
        p.kernel[a] = live ? rnd_int(1, 4) : 1;
        p.stride[a] = live ? rnd_int(1, 3) : 1;
        p.dilation[a] = live && rnd_int(0, 3) == 0 ? 2 : 1;
        pads.pb[a] = live ? rnd_int(0, p.kernel[a] - 1) : 0;
        pads.pe[a] = live ? rnd_int(0, p.kernel[a] - 1) : 0;
        p.out[a] = pool_out(p.in[a], p.kernel[a], p.stride[a], p.dilation[a], pads.pb[a], pads.pe[a], ceil_mode);
        if (p.out[a] < 1) return;
    }
    p.column_major = rnd_int(0, 1);
    run_pool(&p, &pads, rnd_int(0, 3) == 0, (int)rnd_int(0, 1));
}

/* Rows of every width around the vector blocks (8 and 32 outputs), 3x3 strides 1 to 3, ceil mode. */
static void edge_pools(void) {
    for (int64_t width = 1; width <= 40; width++)
        for (int64_t s = 1; s <= 3; s++)
            for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
                radrt_pool_params p = {2, {1, 4, width}, {1, 0, 0}, {1, 3, 3}, {1, s, s}, {1, 1, 1}, {0}, {0}, 0};
                pads3 pads = {{0, 1, 1}, {0, 1, 0}};
                p.out[1] = pool_out(4, 3, s, 1, 1, 1, ceil_mode);
                p.out[2] = pool_out(width, 3, s, 1, 1, 0, ceil_mode);
                if (p.out[1] < 1 || p.out[2] < 1) continue;
                run_pool(&p, &pads, 0, 0);
                run_pool(&p, &pads, 1, 1);
            }
}

static void global_pools(void) {
    for (int t = 0; t < 40; t++) {
        size_t planes = (size_t)rnd_int(1, 5), size = (size_t)rnd_int(1, 70);
        float *x = rand_floats(planes * size), *y = poison_floats(planes);
        double *want = exact_alloc(planes * sizeof(double));
        if (t % 5 == 0) x[rnd_int(0, (int64_t)(planes * size) - 1)] = NAN;
        radrt_global_avgpool(x, y, planes, size);
        for (size_t c = 0; c < planes; c++) {
            double s = 0;
            for (size_t i = 0; i < size; i++) s += x[c * size + i];
            want[c] = s / (double)size;
        }
        compare_floats("global avgpool", y, want, planes, 1e-6, 1e-7);
        radrt_global_maxpool(x, y, planes, size);
        for (size_t c = 0; c < planes; c++) {
            float m = -INFINITY;
            for (size_t i = 0; i < size; i++) {
                float v = x[c * size + i];
                m = (v > m || v != v) ? v : m;
            }
            want[c] = m;
        }
        compare_floats("global maxpool", y, want, planes, 0.0, 0.0);
        free(x); free(y); free(want);
    }
}

int main(void) {
    edge_pools();
    for (int i = 0; i < 300; i++) random_pool();
    global_pools();
    return finish("test_pool");
}

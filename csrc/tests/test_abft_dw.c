/* ABFT checksums of the depthwise convolution (conv.c, side RADRT_ABFT_DEPTHWISE).
 *
 * Clean convs: random and hand-picked geometries (1-D, 2-D, 3-D; kernels 1..5;
 * strides 1..3; dilations 1..2; pads; channel multiplier 1..3; batch 1..2; fused
 * clamp; with and without bias; inputs scaled 1e-3 / 1 / 1e3; constant input planes;
 * rows of every width around the vector width, the wide stride-1 layout and the
 * row-by-row one) must give y bit for bit equal to the unchecked call, compare one
 * checksum per (image, output channel) with none exceeded and none non-finite, and
 * seal the output exactly as seal.h does. The window sums S(t), A(t) left in work (of
 * the last input plane) must equal float64 sums from their definition (conv.c: in
 * the wide stride-1 layout over whole padded rows). It prints the
 * worst clean |observed - expected| / tol.
 *
 * Injection: with a golden copy of the weights (ck->wsum), one bit of the largest
 * weight flipped in w: every sign and exponent flip must be detected (exceeded). */
#include "check.h"

#include <float.h>

#include "kernels/conv.h"
#include "kernels/gemm.h"
#include "protect/seal.h"

#define LAMBDA 4.0f

static double worst_clean, worst_constant;
static int64_t clean_runs;

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
    int64_t span = (k - 1) * d + 1;
    return in + pb + pe < span ? 0 : (in + pb + pe - span) / s + 1;
}

/* x of input channel c at padded coordinates (z, h, w) (0 in the padding). */
static double xpad_at(const radrt_conv_params *p, const float *xc, int64_t z, int64_t h, int64_t w) {
    const radrt_im2col *g = &p->geom;
    z -= g->pad[0];
    h -= g->pad[1];
    w -= g->pad[2];
    if (z < 0 || z >= g->in[0] || h < 0 || h >= g->in[1] || w < 0 || w >= g->in[2]) return 0.0;
    return xc[(z * g->in[1] + h) * g->in[2] + w];
}

typedef struct {
    int bias, constant;
    float scale;
} dw_case;

/* Runs p checked and unchecked; checks bits, counts, seal, window sums. */
static void run_case(const radrt_conv_params *p, const dw_case *c, const char *what) {
    const radrt_im2col *g = &p->geom;
    const int64_t taps = prod3(g->kernel), in_plane = prod3(g->in), out_plane = prod3(g->out);
    const size_t nx = (size_t)(p->batch * p->in_channels * in_plane), ny = (size_t)(p->batch * p->out_channels * out_plane);
    float *x = exact_alloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = (c->constant ? 0.7f : rnd_float()) * c->scale;
    float *w = rand_floats((size_t)(p->out_channels * taps));
    float *bias = c->bias ? rand_floats((size_t)p->out_channels) : NULL;
    size_t ns = radrt_conv_scratch_floats(p), nw = radrt_conv_abft_work_floats(p);
    CHECK(ns != SIZE_MAX && nw != SIZE_MAX, "%s: sizes", what);
    float *scratch = exact_alloc(ns * sizeof(float)), *work = exact_alloc(nw * sizeof(float));
    float *y0 = poison_floats(ny), *y1 = poison_floats(ny);
    uint64_t seal[2] = {0, 0};
    radrt_abft ck = {RADRT_ABFT_DEPTHWISE, NULL, NULL, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, seal, 5, NULL, 0};
    radrt_conv(p, x, w, bias, y0, scratch, NULL);
    radrt_conv(p, x, w, bias, y1, scratch, &ck);
    CHECK(memcmp(y0, y1, ny * sizeof(float)) == 0, "%s: checked y differs from unchecked", what);
    CHECK(ck.checked == p->batch * p->out_channels && ck.exceeded == 0 && ck.nonfinite == 0,
          "%s: checked %ld exceeded %ld nonfinite %ld worst %g (expected %ld, 0, 0)", what, (long)ck.checked,
          (long)ck.exceeded, (long)ck.nonfinite, ck.worst, (long)(p->batch * p->out_channels));
    CHECK(ck.worst >= 0.0f && ck.worst < 1.0f, "%s: worst %g", what, ck.worst);
    radrt_seal want = {0, 0};
    radrt_seal_add(&want, y1, ny * sizeof(float), 5);
    CHECK(seal[0] == want.sum && seal[1] == want.wsum, "%s: output seal differs from seal.h's", what);
    /* S and A of the last input plane (image batch-1, channel in_channels-1), from a
     * float64 copy of the padded plane as the kernel lays it out (zeros after it) */
    const float *xc = x + ((p->batch - 1) * p->in_channels + p->in_channels - 1) * in_plane;
    int64_t P[3];
    for (int a = 0; a < 3; a++) {
        int64_t reach = (g->out[a] - 1) * g->stride[a] + (g->kernel[a] - 1) * g->dilation[a] + 1;
        P[a] = g->in[a] + g->pad[a] > reach ? g->in[a] + g->pad[a] : reach;
    }
    const int64_t nflat = prod3(P) + (g->kernel[2] - 1) * g->dilation[2] + 1;
    double *flat = exact_alloc((size_t)nflat * sizeof(double));
    for (int64_t i = 0; i < nflat; i++) {
        int64_t z = i / (P[1] * P[2]), h = i / P[2] % P[1], ww = i % P[2];
        flat[i] = z < P[0] ? xpad_at(p, xc, z, h, ww) : 0.0;
    }
    const int wide = g->stride[1] == 1 && g->stride[2] == 1;
    const double *S = (const double *)(void *)work, *A = S + taps;
    for (int64_t kd = 0; kd < g->kernel[0]; kd++)
        for (int64_t kh = 0; kh < g->kernel[1]; kh++)
            for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
                double s = 0, a = 0;
                /* wide: the od-planes' lines of OH * PW values (the extra columns too) */
                const int64_t rows = wide ? 1 : g->out[1], cols = wide ? g->out[1] * P[2] : g->out[2];
                for (int64_t od = 0; od < g->out[0]; od++)
                    for (int64_t oh = 0; oh < rows; oh++)
                        for (int64_t ow = 0; ow < cols; ow++) {
                            int64_t at = ((od * g->stride[0] + kd * g->dilation[0]) * P[1] + oh * g->stride[1] +
                                          kh * g->dilation[1]) * P[2] + ow * g->stride[2] + kw * g->dilation[2];
                            s += flat[at];
                            a += fabs(flat[at]);
                        }
                int64_t t = (kd * g->kernel[1] + kh) * g->kernel[2] + kw;
                CHECK(fabs(S[t] - s) <= 1e-12 * a + 1e-300 && fabs(A[t] - a) <= 1e-12 * a + 1e-300,
                      "%s: tap %ld: S %.17g A %.17g, float64 %.17g %.17g", what, (long)t, S[t], A[t], s, a);
            }
    free(flat);
    if (c->constant) {
        if (ck.worst > worst_constant) worst_constant = ck.worst;
    } else if (ck.worst > worst_clean) {
        worst_clean = ck.worst;
    }
    clean_runs++;
    free(x); free(w); free(bias); free(scratch); free(work); free(y0); free(y1);
}

/* Geometry of one spatial axis a (live or size-1 leading). */
static int set_axis(radrt_im2col *g, int a, int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe) {
    g->in[a] = in;
    g->kernel[a] = k;
    g->stride[a] = s;
    g->dilation[a] = d;
    g->pad[a] = pb;
    g->out[a] = out_size(in, k, s, d, pb, pe);
    return g->out[a] >= 1;
}

static radrt_conv_params dw_params(int64_t batch, int64_t channels, int64_t mult, float lo, float hi) {
    radrt_conv_params p;
    memset(&p, 0, sizeof p);
    p.batch = batch;
    p.in_channels = p.group = channels;
    p.out_channels = channels * mult;
    p.geom.channels = 1;
    p.mode = RADRT_CONV_DEPTHWISE;
    p.act_min = lo;
    p.act_max = hi;
    return p;
}

static void random_cases(int runs) {
    static const float scales[] = {1e-3f, 1.0f, 1e3f};
    for (int r = 0; r < runs; r++) {
        int spatial = (int)rnd_int(1, 3);
        float lo = -INFINITY, hi = INFINITY;
        if (rnd_int(0, 2) == 0) {
            lo = 0.0f;
            hi = rnd_int(0, 1) ? 0.5f : INFINITY;
        }
        radrt_conv_params p = dw_params(rnd_int(1, 2), rnd_int(2, 6), rnd_int(1, 3), lo, hi);
        int ok = 1;
        for (int a = 0; a < 3; a++) {
            if (a < 3 - spatial) {
                ok &= set_axis(&p.geom, a, 1, 1, 1, 1, 0, 0);
                continue;
            }
            int64_t k = rnd_int(1, 5);
            ok &= set_axis(&p.geom, a, rnd_int(1, spatial == 3 ? 7 : 19), k, rnd_int(1, 3), rnd_int(1, 2),
                           rnd_int(0, k - 1), rnd_int(0, k - 1));
        }
        if (!ok) continue;
        dw_case c = {(int)rnd_int(0, 1), rnd_int(0, 5) == 0, scales[rnd_int(0, 2)]};
        run_case(&p, &c, "random");
    }
}

/* Light-model shapes (3x3 pad 1, stride 1 and 2), rows of every width around the
 * vector width, a wide plane, constant planes at every scale. */
static void fixed_cases(void) {
    static const float scales[] = {1e-3f, 1.0f, 1e3f};
    for (int64_t size = 1; size <= 20; size++)
        for (int64_t stride = 1; stride <= 3; stride++)
            for (int constant = 0; constant < 2; constant++) {
                radrt_conv_params p = dw_params(1, 3, 1, -INFINITY, INFINITY);
                set_axis(&p.geom, 0, 1, 1, 1, 1, 0, 0);
                set_axis(&p.geom, 1, size, 3, stride, 1, 1, 1);
                set_axis(&p.geom, 2, size + 3, 3, stride, 1, 1, 1);
                dw_case c = {1, constant, scales[size % 3]};
                run_case(&p, &c, "3x3 pad 1");
            }
    const int64_t planes[][3] = {{56, 2, 24}, {28, 1, 16}, {14, 2, 8}, {7, 1, 32}, {112, 1, 3}};
    for (size_t i = 0; i < sizeof planes / sizeof planes[0]; i++)
        for (int constant = 0; constant < 2; constant++)
            for (int s = 0; s < 3; s++) {
                radrt_conv_params p = dw_params(1, planes[i][2], 1, 0.0f, 6.0f);
                set_axis(&p.geom, 0, 1, 1, 1, 1, 0, 0);
                set_axis(&p.geom, 1, planes[i][0], 3, planes[i][1], 1, 1, 1);
                set_axis(&p.geom, 2, planes[i][0], 3, planes[i][1], 1, 1, 1);
                dw_case c = {1, constant, scales[s]};
                run_case(&p, &c, "light-model plane");
            }
    /* long 1-D lines and 3-D volumes, constant input */
    for (int s = 0; s < 3; s++) {
        radrt_conv_params p = dw_params(2, 2, 2, -INFINITY, INFINITY);
        set_axis(&p.geom, 0, 1, 1, 1, 1, 0, 0);
        set_axis(&p.geom, 1, 1, 1, 1, 1, 0, 0);
        set_axis(&p.geom, 2, 5000, 5, 1 + s, 2, 4, 4);
        dw_case c = {1, 1, scales[s]};
        run_case(&p, &c, "long 1-D, constant");
        radrt_conv_params q = dw_params(1, 3, 1, -INFINITY, INFINITY);
        set_axis(&q.geom, 0, 9, 3, 1 + s, 1, 1, 1);
        set_axis(&q.geom, 1, 10, 3, 1, 2, 2, 2);
        set_axis(&q.geom, 2, 11, 5, 2, 1, 2, 2);
        dw_case d = {1, 1, scales[s]};
        run_case(&q, &d, "3-D, constant");
    }
}

/* One bit of the largest weight flipped after the golden copy was taken. */
static void injection_tests(void) {
    int64_t detected = 0, trials = 0;
    for (int bit = 23; bit < 32; bit++)
        for (int geom = 0; geom < 4; geom++) {
            radrt_conv_params p = dw_params(1, 8, geom == 3 ? 2 : 1, -INFINITY, INFINITY);
            set_axis(&p.geom, 0, 1, 1, 1, 1, 0, 0);
            int64_t size = geom == 0 ? 7 : geom == 1 ? 14 : 28, stride = geom == 1 ? 2 : 1;
            set_axis(&p.geom, 1, size, 3, stride, 1, 1, 1);
            set_axis(&p.geom, 2, size, 3, stride, 1, 1, 1);
            const int64_t taps = 9, nw = p.out_channels * taps;
            const size_t nx = (size_t)(p.in_channels * prod3(p.geom.in)), ny = (size_t)(p.out_channels * prod3(p.geom.out));
            float *x = rand_floats(nx), *w = rand_floats((size_t)nw), *golden = exact_alloc((size_t)nw * sizeof(float));
            float *bias = rand_floats((size_t)p.out_channels);
            memcpy(golden, w, (size_t)nw * sizeof(float));
            int64_t at = 0;
            for (int64_t i = 1; i < nw; i++)
                if (fabsf(w[i]) > fabsf(w[at])) at = i;
            uint32_t u;
            memcpy(&u, &w[at], 4);
            u ^= 1u << bit;
            memcpy(&w[at], &u, 4);
            float *scratch = exact_alloc(radrt_conv_scratch_floats(&p) * sizeof(float));
            float *work = exact_alloc(radrt_conv_abft_work_floats(&p) * sizeof(float)), *y = exact_alloc(ny * sizeof(float));
            radrt_abft ck = {RADRT_ABFT_DEPTHWISE, golden, NULL, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
            radrt_conv(&p, x, w, bias, y, scratch, &ck);
            CHECK(ck.exceeded >= 1, "bit %d geometry %d: weight %g -> %g not detected (worst %g)", bit, geom,
                  golden[at], w[at], ck.worst);
            detected += ck.exceeded >= 1;
            trials++;
            /* without the golden copy the taps as read are trusted: the same conv checks clean */
            radrt_abft trust = {RADRT_ABFT_DEPTHWISE, NULL, NULL, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
            radrt_conv(&p, x, w, bias, y, scratch, &trust);
            CHECK(trust.exceeded == 0, "bit %d geometry %d: exceeded %ld with the taps as read", bit, geom,
                  (long)trust.exceeded);
            free(x); free(w); free(golden); free(bias); free(scratch); free(work); free(y);
        }
    printf("sign/exponent flips of the largest weight detected: %ld/%ld\n", (long)detected, (long)trials);
}

/* An Inf in the input plane cannot be checked; an Inf produced from finite inputs is a mismatch. */
static void nonfinite_tests(void) {
    radrt_conv_params p = dw_params(1, 2, 1, -INFINITY, INFINITY);
    set_axis(&p.geom, 0, 1, 1, 1, 1, 0, 0);
    set_axis(&p.geom, 1, 6, 3, 1, 1, 1, 1);
    set_axis(&p.geom, 2, 6, 3, 1, 1, 1, 1);
    float *x = rand_floats(72), *w = rand_floats(18), golden[18], y[72];
    memcpy(golden, w, sizeof golden);
    float *scratch = exact_alloc(radrt_conv_scratch_floats(&p) * sizeof(float));
    float *work = exact_alloc(radrt_conv_abft_work_floats(&p) * sizeof(float));
    x[40] = INFINITY; /* channel 1 */
    radrt_abft ck = {RADRT_ABFT_DEPTHWISE, NULL, NULL, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
    radrt_conv(&p, x, w, NULL, y, scratch, &ck);
    CHECK(ck.nonfinite == 1 && ck.checked == 1 && ck.exceeded == 0, "Inf in x: nonfinite %ld checked %ld exceeded %ld",
          (long)ck.nonfinite, (long)ck.checked, (long)ck.exceeded);
    x[40] = 0.5f;
    w[4] = 3e38f; /* overflows the outputs: the golden taps predict finite sums */
    x[8] = 1e3f;
    radrt_abft ck2 = {RADRT_ABFT_DEPTHWISE, golden, NULL, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
    radrt_conv(&p, x, w, NULL, y, scratch, &ck2);
    CHECK(ck2.exceeded >= 1 && ck2.nonfinite == 0, "overflow from a corrupted weight: exceeded %ld nonfinite %ld",
          (long)ck2.exceeded, (long)ck2.nonfinite);
    free(x); free(w); free(scratch); free(work);
}

int main(void) {
    fixed_cases();
    random_cases(1500);
    printf("depthwise clean runs %ld, worst |observed - expected| / tol: random %.4f, constant input %.4f "
           "(lambda %g)\n", (long)clean_runs, worst_clean, worst_constant, LAMBDA);
    CHECK(worst_clean < 0.25, "worst clean ratio %g, expected well below 1", worst_clean);
    injection_tests();
    nonfinite_tests();
    return finish("test_abft_dw");
}

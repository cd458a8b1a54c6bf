/* Integer convolution and product under the sanitizers (any read outside the image or
 * the scratch is an error): radrt_qconv and radrt_qmatmul against naive int64 loops over
 * random shapes (padding, strides, dilations, groups and depthwise, pointwise, both
 * signednesses, per-channel zero points, K a multiple of the vector step or not), requantization rounding half to even and
 * saturating at both ends, DynamicQuantizeLinear's range. */
#include <stdlib.h>
#include <string.h>

#include "check.h"

#include "kernels/integer.h"
#include "protect/seal.h"

static uint32_t rng = 12345u;
static int32_t rnd(int32_t lo, int32_t hi) { /* uniform in [lo, hi] */
    rng = rng * 1664525u + 1013904223u;
    return lo + (int32_t)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

static void fill(void *p, int n, int is_signed) {
    for (int i = 0; i < n; i++) {
        if (is_signed) ((int8_t *)p)[i] = (int8_t)rnd(-128, 127);
        else ((uint8_t *)p)[i] = (uint8_t)rnd(0, 255);
    }
}

static int32_t at(const void *p, int64_t i, int is_signed) {
    return is_signed ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
}

static void conv_case(int trial) {
    radrt_qconv_params p = {0};
    p.batch = rnd(1, 2);
    p.group = rnd(1, 2);
    p.in_channels = p.group * rnd(1, 3);
    p.out_channels = p.group * rnd(1, 6);
    p.geom.channels = p.in_channels / p.group;
    for (int d = 0; d < 3; d++) {
        p.geom.kernel[d] = d == 0 ? 1 : rnd(1, 3);
        p.geom.stride[d] = d == 0 ? 1 : rnd(1, 2);
        p.geom.dilation[d] = d == 0 ? 1 : rnd(1, 2);
        p.geom.pad[d] = d == 0 ? 0 : rnd(0, 2);
        p.geom.in[d] = d == 0 ? 1 : rnd(1, 7);
        const int64_t span = (p.geom.kernel[d] - 1) * p.geom.dilation[d] + 1;
        int64_t out = (p.geom.in[d] + 2 * p.geom.pad[d] - span) / p.geom.stride[d] + 1;
        if (p.geom.in[d] + 2 * p.geom.pad[d] < span) { /* make the window fit */
            p.geom.in[d] = span;
            out = (span + 2 * p.geom.pad[d] - span) / p.geom.stride[d] + 1;
        }
        p.geom.out[d] = out;
    }
    p.x_signed = rnd(0, 1);
    p.w_signed = rnd(0, 1);
    if (trial % 5 == 1) { /* rows of 16+ pixels and 16+ channels: the 16 x 16 transposes, and a tail */
        p.group = 1;
        p.in_channels = p.geom.channels = 16 * rnd(1, 3) + (rnd(0, 1) ? 5 : 0);
        p.geom.in[2] = rnd(16, 37);
        const int64_t span = (p.geom.kernel[2] - 1) * p.geom.dilation[2] + 1;
        p.geom.out[2] = (p.geom.in[2] + 2 * p.geom.pad[2] - span) / p.geom.stride[2] + 1;
    }
    if (trial % 5 == 0) { /* pointwise with a multiple of the K step: the image is the im2row */
        p.group = 1;
        p.in_channels = p.geom.channels = RADRT_IGEMM_KSTEP * rnd(1, 2);
        p.geom.in[2] = rnd(1, 2) == 1 ? rnd(1, 7) : rnd(16, 40);
        for (int d = 0; d < 3; d++) {
            p.geom.kernel[d] = p.geom.stride[d] = p.geom.dilation[d] = 1;
            p.geom.pad[d] = 0;
            p.geom.out[d] = p.geom.in[d];
        }
    }
    p.out_kind = trial % 2 ? RADRT_QOUT_I32 : RADRT_QOUT_U8;
    p.scale_per_channel = 1;
    p.y_zero_point = 7;
    const int64_t plane = p.geom.in[0] * p.geom.in[1] * p.geom.in[2];
    const int64_t positions = p.geom.out[0] * p.geom.out[1] * p.geom.out[2];
    const int64_t K = p.geom.channels * p.geom.kernel[1] * p.geom.kernel[2];
    const int xn = (int)(p.batch * p.in_channels * plane), wn = (int)(p.out_channels * K);
    void *x = malloc((size_t)xn), *w = malloc((size_t)wn);
    fill(x, xn, p.x_signed);
    fill(w, wn, p.w_signed);
    const int8_t xz8 = (int8_t)rnd(-20, 20);
    const uint8_t xzu = (uint8_t)rnd(100, 150);
    const void *xz = p.x_signed ? (const void *)&xz8 : (const void *)&xzu;
    const int32_t xzv = p.x_signed ? xz8 : xzu;
    int32_t *wz = malloc((size_t)p.out_channels * 4), *bias = malloc((size_t)p.out_channels * 4);
    float *scale = malloc((size_t)p.out_channels * 4);
    for (int m = 0; m < p.out_channels; m++) {
        wz[m] = p.w_signed ? rnd(-5, 5) : rnd(120, 130);
        bias[m] = rnd(-3000, 3000);
        scale[m] = 0.001f * (float)rnd(1, 9);
    }
    const int64_t yn = p.batch * p.out_channels * positions;
    void *y = malloc((size_t)yn * 4);
    void *scratch = malloc(radrt_qconv_scratch_bytes(&p));
    radrt_qconv(&p, x, xz, w, wz, bias, scale, y, scratch, NULL);
    const int64_t cg = p.out_channels / p.group;
    for (int64_t n = 0; n < p.batch; n++)
        for (int64_t m = 0; m < p.out_channels; m++)
            for (int64_t oh = 0; oh < p.geom.out[1]; oh++)
                for (int64_t ow = 0; ow < p.geom.out[2]; ow++) {
                    const int64_t g = m / cg;
                    int64_t acc = 0;
                    for (int64_t c = 0; c < p.geom.channels; c++)
                        for (int64_t kh = 0; kh < p.geom.kernel[1]; kh++)
                            for (int64_t kw = 0; kw < p.geom.kernel[2]; kw++) {
                                const int64_t ih = oh * p.geom.stride[1] - p.geom.pad[1] + kh * p.geom.dilation[1];
                                const int64_t iw = ow * p.geom.stride[2] - p.geom.pad[2] + kw * p.geom.dilation[2];
                                if (ih < 0 || ih >= p.geom.in[1] || iw < 0 || iw >= p.geom.in[2]) continue;
                                const int64_t xi = (n * p.in_channels + g * p.geom.channels + c) * plane +
                                                   ih * p.geom.in[2] + iw;
                                const int64_t wi = (m * p.geom.channels + c) * p.geom.kernel[1] * p.geom.kernel[2] +
                                                   kh * p.geom.kernel[2] + kw;
                                acc += (int64_t)(at(x, xi, p.x_signed) - xzv) * (at(w, wi, p.w_signed) - wz[m]);
                            }
                    const int64_t yi = ((n * p.out_channels + m) * p.geom.out[1] + oh) * p.geom.out[2] + ow;
                    if (p.out_kind == RADRT_QOUT_I32) {
                        CHECK(((int32_t *)y)[yi] == acc + bias[m], "trial %d conv[%ld] = %d, want %ld", trial,
                              (long)yi, ((int32_t *)y)[yi], (long)(acc + bias[m]));
                    } else {
                        float q = nearbyintf((float)(acc + bias[m]) * scale[m]) + 7.0f;
                        q = q < 0 ? 0 : (q > 255 ? 255 : q);
                        CHECK(((uint8_t *)y)[yi] == (uint8_t)q, "trial %d qconv[%ld] = %u, want %u", trial,
                              (long)yi, ((uint8_t *)y)[yi], (uint8_t)q);
                    }
                }
    /* the same with packed weights and exact ABFT: the same bits, every checksum compared,
     * none exceeded, and the output sealed as a whole (integer.h) */
    radrt_qconv_params pk = p;
    pk.w_packed = 1;
    const int64_t taps = p.geom.kernel[1] * p.geom.kernel[2], C = p.geom.channels;
    void *packed = malloc(radrt_qweights_bytes(p.out_channels, K));
    radrt_qconv_pack(&pk, w, wz, packed);
    int32_t *isum = calloc((size_t)(p.group * K), 4);
    for (int64_t m = 0; m < p.out_channels; m++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < taps; t++)
                isum[(m / cg) * K + t * C + c] += at(w, (m * C + c) * taps + t, p.w_signed) - wz[m];
    uint64_t seal[2] = {0, 0};
    radrt_abft ck = {0};
    ck.side = RADRT_ABFT_EXACT;
    ck.isum = isum;
    ck.seal = seal;
    void *y2 = malloc((size_t)yn * 4), *scratch2 = malloc(radrt_qconv_scratch_bytes(&pk));
    radrt_qconv(&pk, x, xz, packed, NULL, bias, scale, y2, scratch2, &ck);
    const size_t ybytes = (size_t)yn * (p.out_kind == RADRT_QOUT_I32 ? 4 : 1);
    const int depthwise = C == 1 && p.group > 1;
    const int64_t want = p.batch * (depthwise ? p.out_channels : p.group * positions);
    radrt_seal whole = {0, 0};
    radrt_seal_add(&whole, y, ybytes, 0);
    CHECK(memcmp(y, y2, ybytes) == 0, "trial %d checked qconv differs", trial);
    CHECK(ck.exceeded == 0 && ck.checked == want, "trial %d qconv checks %ld/%ld exceeded %ld", trial,
          (long)ck.checked, (long)want, (long)ck.exceeded);
    CHECK(seal[0] == whole.sum && seal[1] == whole.wsum, "trial %d qconv seal differs", trial);
    free(packed); free(isum); free(y2); free(scratch2);
    free(x); free(w); free(wz); free(bias); free(scale); free(y); free(scratch);
}

static void matmul_case(int trial) {
    radrt_qmatmul_params p = {0};
    p.batch = rnd(1, 3);
    p.M = rnd(1, 9);
    p.N = rnd(1, 13);
    p.K = rnd(1, 70);
    p.a_signed = rnd(0, 1);
    p.b_signed = rnd(0, 1);
    p.b_transposed = rnd(0, 1);
    p.a_rs = p.K;
    p.a_cs = 1;
    p.b_batch_stride = rnd(0, 1) ? p.K * p.N : 0;
    p.out_kind = trial % 2 ? RADRT_QOUT_I32 : RADRT_QOUT_I8;
    p.scale_per_column = 1;
    p.y_zero_point = -3;
    const int an = (int)(p.batch * p.M * p.K), bn = (int)((p.b_batch_stride ? p.batch : 1) * p.K * p.N);
    void *a = malloc((size_t)an), *b = malloc((size_t)bn);
    fill(a, an, p.a_signed);
    fill(b, bn, p.b_signed);
    int32_t *bz = malloc((size_t)p.N * 4);
    float *scale = malloc((size_t)p.N * 4);
    for (int j = 0; j < p.N; j++) {
        bz[j] = rnd(-3, 3) + (p.b_signed ? 0 : 128);
        scale[j] = 0.0005f * (float)rnd(1, 40);
    }
    const uint8_t azu = 128;
    const int8_t az8 = -1;
    void *y = malloc((size_t)(p.batch * p.M * p.N) * 4);
    void *scratch = malloc(radrt_qmatmul_scratch_bytes(&p));
    radrt_qmatmul(&p, a, p.a_signed ? (const void *)&az8 : (const void *)&azu, b, bz, NULL, scale, y, scratch, NULL);
    const int32_t azv = p.a_signed ? az8 : azu;
    for (int64_t i = 0; i < p.batch; i++)
        for (int64_t r = 0; r < p.M; r++)
            for (int64_t j = 0; j < p.N; j++) {
                int64_t acc = 0;
                for (int64_t k = 0; k < p.K; k++) {
                    const int64_t bi = i * p.b_batch_stride + (p.b_transposed ? j * p.K + k : k * p.N + j);
                    acc += (int64_t)(at(a, (i * p.M + r) * p.K + k, p.a_signed) - azv) * (at(b, bi, p.b_signed) - bz[j]);
                }
                const int64_t yi = (i * p.M + r) * p.N + j;
                if (p.out_kind == RADRT_QOUT_I32) {
                    CHECK(((int32_t *)y)[yi] == acc, "trial %d matmul[%ld] = %d, want %ld", trial, (long)yi,
                          ((int32_t *)y)[yi], (long)acc);
                } else {
                    float q = nearbyintf((float)acc * scale[j]) - 3.0f;
                    q = q < -128 ? -128 : (q > 127 ? 127 : q);
                    CHECK(((int8_t *)y)[yi] == (int8_t)q, "trial %d qmatmul[%ld] = %d, want %d", trial, (long)yi,
                          ((int8_t *)y)[yi], (int8_t)q);
                }
            }
    if (!p.b_batch_stride) { /* one B: packed, with exact ABFT (see conv_case) */
        radrt_qmatmul_params pk = p;
        pk.b_packed = 1;
        void *packed = malloc(radrt_qweights_bytes(p.N, p.K));
        radrt_qmatmul_pack(&pk, b, bz, packed);
        int32_t *isum = calloc((size_t)p.K, 4);
        for (int64_t j = 0; j < p.N; j++)
            for (int64_t k = 0; k < p.K; k++)
                isum[k] += at(b, p.b_transposed ? j * p.K + k : k * p.N + j, p.b_signed) - bz[j];
        uint64_t seal[2] = {0, 0};
        radrt_abft ck = {0};
        ck.side = RADRT_ABFT_EXACT;
        ck.isum = isum;
        ck.seal = seal;
        void *y2 = malloc((size_t)(p.batch * p.M * p.N) * 4), *scratch2 = malloc(radrt_qmatmul_scratch_bytes(&pk));
        radrt_qmatmul(&pk, a, p.a_signed ? (const void *)&az8 : (const void *)&azu, packed, NULL, NULL, scale, y2,
                      scratch2, &ck);
        const size_t ybytes = (size_t)(p.batch * p.M * p.N) * (p.out_kind == RADRT_QOUT_I32 ? 4 : 1);
        radrt_seal whole = {0, 0};
        radrt_seal_add(&whole, y, ybytes, 0);
        CHECK(memcmp(y, y2, ybytes) == 0, "trial %d checked qmatmul differs", trial);
        CHECK(ck.exceeded == 0 && ck.checked == p.batch * p.M, "trial %d qmatmul checks %ld exceeded %ld", trial,
              (long)ck.checked, (long)ck.exceeded);
        CHECK(seal[0] == whole.sum && seal[1] == whole.wsum, "trial %d qmatmul seal differs", trial);
        free(packed); free(isum); free(y2); free(scratch2);
    }
    free(a); free(b); free(bz); free(scale); free(y); free(scratch);
}

int main(void) {
    for (int t = 0; t < 200; t++) conv_case(t);
    for (int t = 0; t < 200; t++) matmul_case(t);

    /* requantize: halves round to even, saturation at both ends */
    const int32_t acc[6] = {5, 7, -5, 100000, -100000, 0};
    const float half = 0.5f;
    uint8_t yu[6];
    radrt_requantize(acc, 1, 6, NULL, 0, 0, &half, 0, 0, 10, RADRT_QOUT_U8, yu);
    const uint8_t want[6] = {12, 14, 8, 255, 0, 10};
    for (int i = 0; i < 6; i++) CHECK(yu[i] == want[i], "requantize[%d] = %u, want %u", i, yu[i], want[i]);

    /* DynamicQuantizeLinear: range [min(0, x), max(0, x)], infinities saturate */
    const float x[5] = {-1.0f, 0.0f, 1.0f, 3.0f, INFINITY};
    uint8_t q[5], zp;
    float s;
    radrt_dynamic_quantize(x, 5, q, &s, &zp);
    CHECK(s == 4.0f / 255.0f && zp == 64, "dynamic scale %g zero point %u", s, zp);
    CHECK(q[0] == 0 && q[1] == 64 && q[4] == 255, "dynamic q %u %u %u", q[0], q[1], q[4]);
    if (failures) {
        fprintf(stderr, "test_integer: %d failures\n", failures);
        return 1;
    }
    printf("test_integer: ok\n");
    return 0;
}

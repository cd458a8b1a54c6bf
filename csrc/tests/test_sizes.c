/* The kernels' own size arithmetic: radrt_size_mul/add against 128-bit
 * arithmetic, every *_scratch_floats / packed-size function at the int64
 * limits (SIZE_MAX, never a wrapped small size), and Gather's guard against a
 * negative length (it must touch no memory: the pointers here are NULL). */
#include "check.h"

#include "core.h"
#include "kernels/conv.h"
#include "kernels/conv_transpose.h"
#include "kernels/gather.h"
#include "kernels/gemm.h"
#include "kernels/pool.h"

static int64_t ref_mul(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return -1;
    __int128 r = (__int128)a * b;
    return r > INT64_MAX ? -1 : (int64_t)r;
}

static int64_t ref_add(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return -1;
    __int128 r = (__int128)a + b;
    return r > INT64_MAX ? -1 : (int64_t)r;
}

static int64_t interesting(void) {
    static const int64_t v[] = {0, 1, 2, 3, 7, 8, 1 << 20, (int64_t)1 << 31, (int64_t)1 << 32,
                                (int64_t)3037000499, (int64_t)3037000500, (int64_t)1 << 62,
                                INT64_MAX / 8, INT64_MAX / 8 + 1, INT64_MAX - 1, INT64_MAX, -1, -2,
                                INT64_MIN};
    if (rnd_u32() % 4 == 0) return (int64_t)(((uint64_t)rnd_u32() << 32) | rnd_u32());
    return v[rnd_u32() % (sizeof v / sizeof v[0])];
}

static void test_size_arithmetic(void) {
    for (int i = 0; i < 100000; i++) {
        int64_t a = interesting(), b = interesting();
        CHECK(radrt_size_mul(a, b) == ref_mul(a, b), "mul(%lld, %lld)", (long long)a, (long long)b);
        CHECK(radrt_size_add(a, b) == ref_add(a, b), "add(%lld, %lld)", (long long)a, (long long)b);
    }
    CHECK(radrt_size_mul(radrt_size_mul(INT64_MAX, 2), 0) == -1, "-1 propagates through mul by 0");
}

static radrt_pool_params pool_params(int64_t stride_w, int64_t padded_w) {
    radrt_pool_params p = {.planes = 1, .in = {1, 6, 6}, .out = {1, 5, 1}, .kernel = {1, 2, 2},
                           .stride = {1, 1, stride_w}, .dilation = {1, 1, 1}, .pad_begin = {0, 0, 0},
                           .padded = {1, 6, padded_w}, .column_major = 0};
    return p;
}

static void test_pool_scratch(void) {
    radrt_pool_params p = pool_params(1, 6);
    CHECK(radrt_pool_scratch_floats(&p) < 1000, "small pool scratch");
    /* crash_pool_stride_int64max_heap_overflow: VW * stride used to wrap to a tiny scratch */
    p = pool_params(INT64_MAX, 6);
    CHECK(radrt_pool_scratch_floats(&p) == SIZE_MAX, "stride INT64_MAX: SIZE_MAX");
    p = pool_params(2, INT64_MAX / 2);
    CHECK(radrt_pool_scratch_floats(&p) == SIZE_MAX, "padded plane above int64: SIZE_MAX");
    p = pool_params(1, INT64_MAX / 8);
    CHECK(radrt_pool_scratch_floats(&p) == SIZE_MAX, "wide path row buffer above int64: SIZE_MAX");
}

static void test_conv_scratch(void) {
    radrt_conv_params c = {.batch = 1, .in_channels = 2, .out_channels = 2, .group = 2,
                           .mode = RADRT_CONV_DEPTHWISE,
                           .geom = {.channels = 1, .in = {1, 6, 6}, .out = {1, 5, 1}, .kernel = {1, 2, 2},
                                    .stride = {1, 1, 3}, .pad = {0, 0, 0}, .dilation = {1, 1, 1}}};
    CHECK(radrt_conv_scratch_floats(&c) < 1000, "small depthwise scratch");
    c.geom.stride[2] = INT64_MAX;
    CHECK(radrt_conv_scratch_floats(&c) == SIZE_MAX, "depthwise stride INT64_MAX: SIZE_MAX");
    c.geom.stride[2] = 1;
    c.geom.pad[1] = INT64_MAX;
    CHECK(radrt_conv_scratch_floats(&c) == SIZE_MAX, "depthwise pad INT64_MAX: SIZE_MAX");
    c.geom.pad[1] = 0;
    c.mode = RADRT_CONV_IM2COL;
    c.group = 1;
    c.geom.channels = 2;
    c.geom.kernel[0] = INT64_MAX / 2;
    CHECK(radrt_conv_scratch_floats(&c) == SIZE_MAX, "im2col K above int64: SIZE_MAX");

    radrt_conv_transpose_params t = {.batch = 1, .in_channels = 1, .out_channels = 1, .group = 1,
                                     .in = {1, 1, 3}, .out = {1, 1, 5}, .kernel = {1, 1, 3},
                                     .stride = {1, 1, 1}, .pad = {0, 0, 0}, .dilation = {1, 1, 1}};
    CHECK(radrt_conv_transpose_scratch_floats(&t) < 1000, "small transposed scratch");
    t.in[2] = (int64_t)1 << 40;
    t.kernel[2] = (int64_t)1 << 40;
    CHECK(radrt_conv_transpose_scratch_floats(&t) == SIZE_MAX, "column buffer above int64: SIZE_MAX");
    t.group = 0;
    CHECK(radrt_conv_transpose_scratch_floats(&t) == SIZE_MAX, "group 0: SIZE_MAX");
}

static void test_gemm_sizes(void) {
    CHECK(radrt_gemm_packed_a_floats(3, 5) >= 15, "small packed A");
    CHECK(radrt_gemm_packed_a_floats(INT64_MAX, 2) == SIZE_MAX, "packed A rows at INT64_MAX");
    CHECK(radrt_gemm_packed_b_floats(INT64_MAX / 2, 4) == SIZE_MAX, "packed B above int64");
    CHECK(radrt_gemm_packed_b_floats(-1, 4) == SIZE_MAX, "negative K");
    CHECK(radrt_sgemm_scratch_floats(-1, 4, 4, 0, 0) == SIZE_MAX, "negative M");
    CHECK(radrt_sgemm_scratch_floats(8, 8, 8, 0, 0) > 0, "small GEMM scratch");
}

static void test_gather_negative(void) {
    /* NULL data and output: a guard that did not fire would crash here */
    CHECK(radrt_gather(NULL, NULL, 1, NULL, 1, 4, -8, 1) == -1, "negative inner_bytes");
    CHECK(radrt_gather(NULL, NULL, 1, NULL, -1, 4, 8, 1) == -1, "negative outer");
    CHECK(radrt_gather(NULL, NULL, 1, NULL, 1, -4, 8, 1) == -1, "negative axis_dim");
    CHECK(radrt_gather(NULL, NULL, 1, NULL, 1, 4, 8, -1) == -1, "negative index count");
    float data[6] = {0, 1, 2, 3, 4, 5}, out[2] = {-1, -1};
    int64_t idx[1] = {2};
    CHECK(radrt_gather(data, idx, 1, out, 1, 3, 2 * sizeof(float), 1) == 0, "in-range gather");
    CHECK(out[0] == 4 && out[1] == 5, "gathered row 2");
}

int main(void) {
    test_size_arithmetic();
    test_pool_scratch();
    test_conv_scratch();
    test_gemm_sizes();
    test_gather_negative();
    printf("test_sizes: %s (%d failures)\n", failures ? "FAILED" : "ok", failures);
    return failures != 0;
}

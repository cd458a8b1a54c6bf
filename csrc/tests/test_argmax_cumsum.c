/* ArgMax/ArgMin and CumSum index arithmetic under AddressSanitizer and
 * UndefinedBehaviorSanitizer: every [outer, len, inner] view up to 5x6x5 (zeros
 * included) against naive loops written from argmax.h and cumsum.h, in buffers of
 * exactly the tensor's bytes (a read or write past either end is reported); values
 * drawn from a few small numbers so ties are common, with NaN for floats; integer
 * CumSum wrapping at the type's limits; Sign on float and integer edges. */
#include "check.h"

#include "kernels/argmax.h"
#include "kernels/cumsum.h"
#include "kernels/sign.h"
#include "kernels/typed.h"

static float small_float(void) {
    const uint32_t r = rnd_u32() % 8;
    return r == 7 ? NAN : (float)r - 3.0f;
}

/* The scan of argmax.h, written out per element. */
static int64_t ref_arg(const float *x, size_t o, size_t j, size_t len, size_t inner, int op, int last) {
    size_t best = 0;
    for (size_t k = 1; k < len; k++) {
        const float v = x[(o * len + k) * inner + j], b = x[(o * len + best) * inner + j];
        const int take = op == RADRT_ARG_MAX ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        if (take) best = k;
    }
    return (int64_t)best;
}

static void argmax_shapes(void) {
    for (size_t outer = 0; outer <= 5; outer++)
        for (size_t len = 1; len <= 6; len++)
            for (size_t inner = 0; inner <= 5; inner++)
                for (int op = RADRT_ARG_MAX; op <= RADRT_ARG_MIN; op++)
                    for (int last = 0; last <= 1; last++) {
                        const size_t n = outer * len * inner, m = outer * inner;
                        float *x = exact_alloc(n * sizeof(float));
                        double *xd = exact_alloc(n * sizeof(double));
                        int16_t *xi = exact_alloc(n * sizeof(int16_t));
                        int64_t *y = exact_alloc(m * sizeof(int64_t));
                        for (size_t i = 0; i < n; i++) {
                            x[i] = small_float();
                            xd[i] = (double)x[i];
                            xi[i] = x[i] != x[i] ? 9 : (int16_t)x[i];
                        }
                        CHECK(radrt_arg_extreme(x, y, RADRT_T_F32, op, last, outer, len, inner) == 0, "f32");
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++) {
                                const int64_t want = ref_arg(x, o, j, len, inner, op, last);
                                CHECK(y[o * inner + j] == want, "f32 arg op %d last %d [%zu,%zu,%zu] at (%zu,%zu): %lld, "
                                      "expected %lld", op, last, outer, len, inner, o, j,
                                      (long long)y[o * inner + j], (long long)want);
                            }
                        radrt_arg_extreme(xd, y, RADRT_T_F64, op, last, outer, len, inner);
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++)
                                CHECK(y[o * inner + j] == ref_arg(x, o, j, len, inner, op, last), "f64 arg");
                        /* int16: NaN became 9, the largest value */
                        for (size_t i = 0; i < n; i++) x[i] = (float)xi[i];
                        radrt_arg_extreme(xi, y, RADRT_T_I16, op, last, outer, len, inner);
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++)
                                CHECK(y[o * inner + j] == ref_arg(x, o, j, len, inner, op, last), "i16 arg");
                        free(x);
                        free(xd);
                        free(xi);
                        free(y);
                    }
    CHECK(radrt_arg_extreme(NULL, NULL, RADRT_T_BOOL, RADRT_ARG_MAX, 0, 0, 1, 0) == -1, "bool refused");
    CHECK(radrt_arg_extreme(NULL, NULL, RADRT_T_F32, 7, 0, 0, 1, 0) == -1, "op refused");
    radrt_arg_extreme(NULL, NULL, RADRT_T_F32, RADRT_ARG_MAX, 0, 3, 0, 4); /* len 0: writes nothing */
}

static void argmax_unsigned_extremes(void) {
    const uint64_t x[4] = {0, UINT64_MAX, 1, UINT64_MAX};
    int64_t y[1];
    radrt_arg_extreme(x, y, RADRT_T_U64, RADRT_ARG_MAX, 0, 1, 4, 1);
    CHECK(y[0] == 1, "u64 argmax first: %lld", (long long)y[0]);
    radrt_arg_extreme(x, y, RADRT_T_U64, RADRT_ARG_MAX, 1, 1, 4, 1);
    CHECK(y[0] == 3, "u64 argmax last: %lld", (long long)y[0]);
    const int8_t z[3] = {INT8_MIN, 5, INT8_MIN};
    radrt_arg_extreme(z, y, RADRT_T_I8, RADRT_ARG_MIN, 1, 1, 3, 1);
    CHECK(y[0] == 2, "i8 argmin last: %lld", (long long)y[0]);
}

static void cumsum_shapes(void) {
    for (size_t outer = 0; outer <= 4; outer++)
        for (size_t len = 0; len <= 6; len++)
            for (size_t inner = 0; inner <= 5; inner++)
                for (int exclusive = 0; exclusive <= 1; exclusive++)
                    for (int reverse = 0; reverse <= 1; reverse++) {
                        const size_t n = outer * len * inner;
                        float *x = exact_alloc(n * sizeof(float)), *y = poison_floats(n);
                        int32_t *xi = exact_alloc(n * sizeof(int32_t)), *yi = exact_alloc(n * sizeof(int32_t));
                        for (size_t i = 0; i < n; i++) {
                            x[i] = (float)rnd_int(-4, 4);
                            xi[i] = (int32_t)x[i];
                        }
                        radrt_cumsum(x, y, RADRT_T_F32, exclusive, reverse, outer, len, inner);
                        radrt_cumsum(xi, yi, RADRT_T_I32, exclusive, reverse, outer, len, inner);
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++) {
                                float s = 0.0f;
                                for (size_t t = 0; t < len; t++) {
                                    const size_t k = reverse ? len - 1 - t : t;
                                    const size_t at = (o * len + k) * inner + j;
                                    if (!exclusive) s += x[at];
                                    CHECK(y[at] == s && yi[at] == (int32_t)s, "cumsum excl %d rev %d [%zu,%zu,%zu] at "
                                          "(%zu,%zu,%zu): %g / %d, expected %g", exclusive, reverse, outer, len,
                                          inner, o, k, j, y[at], yi[at], s);
                                    if (exclusive) s += x[at];
                                }
                            }
                        free(x);
                        free(y);
                        free(xi);
                        free(yi);
                    }
    CHECK(radrt_cumsum(NULL, NULL, RADRT_T_I8, 0, 0, 0, 0, 0) == -1, "i8 refused");
}

static void cumsum_wraps_and_zeros(void) {
    const int64_t x[3] = {INT64_MAX, 1, INT64_MAX};
    int64_t y[3];
    radrt_cumsum(x, y, RADRT_T_I64, 0, 0, 1, 3, 1);
    CHECK(y[1] == INT64_MIN && y[2] == -1, "i64 wraps: %lld %lld", (long long)y[1], (long long)y[2]);
    const uint32_t u[2] = {UINT32_MAX, 2};
    uint32_t v[2];
    radrt_cumsum(u, v, RADRT_T_U32, 0, 1, 1, 2, 1);
    CHECK(v[1] == 2 && v[0] == 1, "u32 reverse wraps: %u %u", v[0], v[1]);
    const double z[2] = {-0.0, -0.0};
    double w[2];
    radrt_cumsum(z, w, RADRT_T_F64, 0, 0, 1, 2, 1);
    CHECK(signbit(w[0]) && signbit(w[1]), "inclusive keeps -0.0");
    radrt_cumsum(z, w, RADRT_T_F64, 1, 0, 1, 2, 1);
    CHECK(!signbit(w[0]) && !signbit(w[1]), "exclusive starts at +0.0");
}

static void sign_edges(void) {
    const float x[6] = {-0.0f, 0.0f, -INFINITY, 1e-40f, -NAN, 3.0f};
    float y[6];
    radrt_sign(x, y, RADRT_T_F32, 6);
    CHECK(y[0] == 0.0f && !signbit(y[0]) && y[1] == 0.0f && y[2] == -1.0f && y[3] == 1.0f && y[5] == 1.0f,
          "f32 sign: %g %g %g %g %g", y[0], y[1], y[2], y[3], y[5]);
    CHECK(isnan(y[4]) && signbit(y[4]), "NaN passes through with its sign");
    const int64_t a[3] = {INT64_MIN, 0, INT64_MAX};
    int64_t b[3];
    radrt_sign(a, b, RADRT_T_I64, 3);
    CHECK(b[0] == -1 && b[1] == 0 && b[2] == 1, "i64 sign");
    const uint8_t c[3] = {0, 1, 255};
    uint8_t d[3];
    radrt_sign(c, d, RADRT_T_U8, 3);
    CHECK(d[0] == 0 && d[1] == 1 && d[2] == 1, "u8 sign");
    CHECK(radrt_sign(c, d, RADRT_T_BOOL, 3) == -1, "bool refused");
}

int main(void) {
    argmax_shapes();
    argmax_unsigned_extremes();
    cumsum_shapes();
    cumsum_wraps_and_zeros();
    sign_edges();
    return finish("test_argmax_cumsum");
}

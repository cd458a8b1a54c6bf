/* Casts: float16 <-> float32 over every half bit pattern (decoded here in
 * double; round trips exact, NaN kept), float32 -> float16 rounding to
 * nearest even at every midpoint and overflow to inf; float -> integer
 * truncation, saturation and NaN -> 0; bool; float64. Exactly sized buffers. */
#include "check.h"

#include "kernels/cast.h"

static double half_value(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

static void halves(void) {
    const size_t n = 65536;
    uint16_t *h = exact_alloc(n * sizeof(uint16_t)), *back = exact_alloc(n * sizeof(uint16_t));
    float *f = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)i;
    radrt_cast_f16_to_f32(h, f, n);
    for (size_t i = 0; i < n; i++) {
        double want = half_value(h[i]);
        int ok = isnan(want) ? isnan(f[i]) : (double)f[i] == want && !signbit(f[i]) == !signbit(want);
        CHECK(ok, "half 0x%04zx -> %g, expected %g", i, f[i], want);
    }
    radrt_cast_f32_to_f16(f, back, n);
    for (size_t i = 0; i < n; i++) {
        int nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff);
        CHECK(nan ? (back[i] & 0x7c00) == 0x7c00 && (back[i] & 0x3ff) : back[i] == h[i],
              "half 0x%04zx round trip gives 0x%04x", i, back[i]);
    }
    /* midpoints between neighbouring finite halves round to the even one; a
     * little above rounds up, a little below rounds down */
    float *mid = exact_alloc(3 * 0x7bffu * sizeof(float));
    uint16_t *r = exact_alloc(3 * 0x7bffu * sizeof(uint16_t));
    for (uint32_t i = 0; i < 0x7bffu; i++) {
        double a = half_value((uint16_t)i), b = half_value((uint16_t)(i + 1)), m = (a + b) / 2;
        mid[3 * i] = (float)m;
        mid[3 * i + 1] = nextafterf((float)m, INFINITY);
        mid[3 * i + 2] = nextafterf((float)m, 0.0f);
    }
    radrt_cast_f32_to_f16(mid, r, 3 * 0x7bffu);
    for (uint32_t i = 0; i < 0x7bffu; i++) {
        uint16_t even = (i & 1) ? (uint16_t)(i + 1) : (uint16_t)i;
        CHECK(r[3 * i] == even && r[3 * i + 1] == i + 1 && r[3 * i + 2] == i,
              "midpoint above half 0x%04x rounds to 0x%04x/0x%04x/0x%04x", i, r[3 * i], r[3 * i + 1], r[3 * i + 2]);
    }
    const float big[] = {65504.0f, 65519.0f, 65520.0f, 1e10f, -1e10f, INFINITY, -INFINITY};
    const uint16_t want_big[] = {0x7bff, 0x7bff, 0x7c00, 0x7c00, 0xfc00, 0x7c00, 0xfc00};
    uint16_t *got_big = exact_alloc(sizeof want_big);
    radrt_cast_f32_to_f16(big, got_big, 7);
    for (int i = 0; i < 7; i++) CHECK(got_big[i] == want_big[i], "%g -> half 0x%04x", big[i], got_big[i]);
    free(h); free(back); free(f); free(mid); free(r); free(got_big);
}

static void integers(void) {
    const float x[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 0.9f, -0.9f, 1.5f, -1.5f, 127.9f, 128.0f, -128.9f,
                       -129.0f, 255.5f, 256.0f, 32767.5f, 40000.0f, -40000.0f, 65535.9f, 3e9f, -3e9f, 2147483520.0f,
                       9.3e18f, -9.3e18f, 1.9e19f};
    enum { N = sizeof x / sizeof x[0] };
    int8_t *i8 = exact_alloc(N);
    uint8_t *u8 = exact_alloc(N), *b = exact_alloc(N);
    int32_t *i32 = exact_alloc(N * sizeof(int32_t));
    uint32_t *u32 = exact_alloc(N * sizeof(uint32_t));
    int64_t *i64 = exact_alloc(N * sizeof(int64_t));
    uint64_t *u64 = exact_alloc(N * sizeof(uint64_t));
    int16_t *i16 = exact_alloc(N * sizeof(int16_t));
    uint16_t *u16 = exact_alloc(N * sizeof(uint16_t));
    radrt_cast_f32_to_i8(x, i8, N);
    radrt_cast_f32_to_u8(x, u8, N);
    radrt_cast_f32_to_i16(x, i16, N);
    radrt_cast_f32_to_u16(x, u16, N);
    radrt_cast_f32_to_i32(x, i32, N);
    radrt_cast_f32_to_u32(x, u32, N);
    radrt_cast_f32_to_i64(x, i64, N);
    radrt_cast_f32_to_u64(x, u64, N);
    radrt_cast_f32_to_bool(x, b, N);
    for (int i = 0; i < N; i++) {
        double v = isnan(x[i]) ? 0.0 : trunc((double)x[i]);
#define SAT(LO, HI) (v < (LO) ? (LO) : v > (HI) ? (HI) : v)
        CHECK(i8[i] == SAT(-128.0, 127.0), "i8(%g) = %d", x[i], i8[i]);
        CHECK(u8[i] == SAT(0.0, 255.0), "u8(%g) = %d", x[i], u8[i]);
        CHECK(i16[i] == SAT(-32768.0, 32767.0), "i16(%g) = %d", x[i], i16[i]);
        CHECK(u16[i] == SAT(0.0, 65535.0), "u16(%g) = %d", x[i], u16[i]);
        CHECK(i32[i] == SAT(-2147483648.0, 2147483647.0), "i32(%g) = %d", x[i], i32[i]);
        CHECK(u32[i] == SAT(0.0, 4294967295.0), "u32(%g) = %u", x[i], u32[i]);
        CHECK((double)i64[i] == SAT(-0x1p63, 0x1p63), "i64(%g) = %lld", x[i], (long long)i64[i]);
        CHECK((double)u64[i] == SAT(0.0, 0x1p64), "u64(%g) = %llu", x[i], (unsigned long long)u64[i]);
        CHECK(b[i] == (x[i] != 0.0f), "bool(%g) = %d", x[i], b[i]);
#undef SAT
    }
    float *back = exact_alloc(N * sizeof(float));
    const uint8_t bytes[] = {0, 1, 2, 255, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    radrt_cast_bool_to_f32(bytes, back, N);
    for (int i = 0; i < N; i++) CHECK(back[i] == (bytes[i] ? 1.0f : 0.0f), "bool byte %d -> %g", bytes[i], back[i]);
    radrt_cast_i32_to_f32(i32, back, N);
    for (int i = 0; i < N; i++) CHECK(back[i] == (float)i32[i], "i32 %d -> %g", i32[i], back[i]);
    radrt_cast_u64_to_f32(u64, back, N);
    for (int i = 0; i < N; i++) CHECK(back[i] == (float)u64[i], "u64 -> %g", back[i]);
    double *d = exact_alloc(N * sizeof(double));
    radrt_cast_f32_to_f64(x, d, N);
    radrt_cast_f64_to_f32(d, back, N);
    for (int i = 0; i < N; i++)
        CHECK(memcmp(&back[i], &x[i], 4) == 0 || (isnan(x[i]) && isnan(back[i])), "f64 round trip of %g", x[i]);
    free(i8); free(u8); free(b); free(i32); free(u32); free(i64); free(u64); free(i16); free(u16); free(back); free(d);
}

/* radrt_cast_f32_via_f16 gives the bits of the two casts, float32 -> float16 -> float32,
 * on every 61st float32 bit pattern (all exponents, NaN payloads, both signs), in place too. */
static void via_half(void) {
    const size_t n = (size_t)(0x100000000ull / 61) + 1;
    uint32_t *bits = exact_alloc(n * sizeof(uint32_t));
    uint16_t *h = exact_alloc(n * sizeof(uint16_t));
    float *want = exact_alloc(n * sizeof(float)), *got = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) bits[i] = (uint32_t)(i * 61u);
    radrt_cast_f32_to_f16((const float *)bits, h, n);
    radrt_cast_f16_to_f32(h, want, n);
    radrt_cast_f32_via_f16((const float *)bits, got, n);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0, "f32 via f16 differs from the two casts");
    radrt_cast_f32_via_f16((const float *)bits, (float *)bits, n);
    CHECK(memcmp(bits, want, n * sizeof(float)) == 0, "f32 via f16 in place differs");
    free(bits); free(h); free(want); free(got);
}

int main(void) {
    via_half();
    halves();
    integers();
    return finish("test_cast");
}

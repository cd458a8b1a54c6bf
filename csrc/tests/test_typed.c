/* Integer elementwise edges under AddressSanitizer and UndefinedBehaviorSanitizer:
 * INT_MIN / -1 and INT_MIN mod -1 (which trap in plain C), division and mod by zero,
 * wrapping add/mul of the 8- and 16-bit types (promoted to int in plain C, where
 * 65535 * 65535 overflows), integer pow with negative and large exponents, Where
 * with broadcast operands. The results are typed.h's documented ones. */
#include "check.h"

#include "kernels/typed.h"

static radrt_bcast_t flat(int64_t n) {
    radrt_bcast_t p;
    memset(&p, 0, sizeof p);
    p.ndim = 1;
    p.shape[0] = n;
    p.a_stride[0] = 1;
    p.b_stride[0] = 1;
    return p;
}

static void signed_edges(void) {
    radrt_bcast_t p = flat(6);
    int64_t a[6] = {INT64_MIN, INT64_MIN, 7, -7, 5, INT64_MAX};
    int64_t b[6] = {-1, 0, -2, 0, 3, 1};
    int64_t y[6];
    radrt_typed_binary(&p, RADRT_TOP_DIV, RADRT_T_I64, a, b, y);
    int64_t div[6] = {INT64_MIN, 0, -3, 0, 1, INT64_MAX};
    for (int i = 0; i < 6; i++) CHECK(y[i] == div[i], "i64 div[%d] = %lld", i, (long long)y[i]);
    radrt_typed_binary(&p, RADRT_TOP_MOD, RADRT_T_I64, a, b, y);
    int64_t mod[6] = {0, 0, -1, 0, 2, 0};
    for (int i = 0; i < 6; i++) CHECK(y[i] == mod[i], "i64 mod[%d] = %lld", i, (long long)y[i]);
    radrt_typed_binary(&p, RADRT_TOP_ADD, RADRT_T_I64, a, b, y);
    CHECK(y[0] == INT64_MAX && y[5] == INT64_MIN, "i64 add wraps: %lld %lld", (long long)y[0], (long long)y[5]);
    radrt_typed_binary(&p, RADRT_TOP_MUL, RADRT_T_I64, a, b, y);
    CHECK(y[0] == INT64_MIN, "i64 INT_MIN * -1 wraps to INT_MIN: %lld", (long long)y[0]);

    int8_t c[4] = {-128, -128, 100, -3}, d[4] = {-1, 0, 100, 5};
    int8_t z[4];
    radrt_bcast_t q = flat(4);
    radrt_typed_binary(&q, RADRT_TOP_DIV, RADRT_T_I8, c, d, z);
    CHECK(z[0] == -128 && z[1] == 0, "i8 div %d %d", z[0], z[1]);
    radrt_typed_binary(&q, RADRT_TOP_MUL, RADRT_T_I8, c, d, z);
    CHECK(z[2] == 16, "i8 100 * 100 = 10000 wraps to 16: %d", z[2]);
    radrt_typed_binary(&q, RADRT_TOP_POW, RADRT_T_I8, c, d, z);
    CHECK(z[3] == 13, "i8 (-3)^5 = -243 wraps to 13: %d", z[3]);
    int32_t e[4] = {2, -1, -1, 5}, f[4] = {-1, -3, -4, 40};
    int32_t g[4];
    radrt_typed_binary(&q, RADRT_TOP_POW, RADRT_T_I32, e, f, g);
    CHECK(g[0] == 0 && g[1] == -1 && g[2] == 1, "i32 negative pow: %d %d %d", g[0], g[1], g[2]);
}

static void unsigned_edges(void) {
    radrt_bcast_t p = flat(3);
    uint16_t a[3] = {65535, 65535, 7}, b[3] = {65535, 0, 2};
    uint16_t y[3];
    radrt_typed_binary(&p, RADRT_TOP_MUL, RADRT_T_U16, a, b, y);
    CHECK(y[0] == 1, "u16 65535 * 65535 wraps to 1: %u", y[0]);
    radrt_typed_binary(&p, RADRT_TOP_DIV, RADRT_T_U16, a, b, y);
    CHECK(y[1] == 0 && y[2] == 3, "u16 div %u %u", y[1], y[2]);
    radrt_typed_binary(&p, RADRT_TOP_POW, RADRT_T_U16, a, b, y);
    CHECK(y[1] == 1 && y[2] == 49, "u16 pow %u %u", y[1], y[2]);
    uint64_t c[2] = {UINT64_MAX, 3}, d[2] = {2, 0}, z[2];
    radrt_bcast_t q = flat(2);
    radrt_typed_binary(&q, RADRT_TOP_ADD, RADRT_T_U64, c, d, z);
    CHECK(z[0] == 1, "u64 add wraps: %llu", (unsigned long long)z[0]);
    radrt_typed_binary(&q, RADRT_TOP_MOD, RADRT_T_U64, c, d, z);
    CHECK(z[0] == 1 && z[1] == 0, "u64 mod %llu %llu", (unsigned long long)z[0], (unsigned long long)z[1]);
}

static void where_broadcast(void) {
    /* c (2, 1), x (1, 3), z scalar -> (2, 3) */
    radrt_where_t p;
    memset(&p, 0, sizeof p);
    p.ndim = 2;
    p.shape[0] = 2;
    p.shape[1] = 3;
    p.c_stride[0] = 1;
    p.x_stride[1] = 1;
    uint8_t c[2] = {1, 0};
    int16_t x[3] = {1, 2, 3}, z[1] = {-9}, y[6];
    radrt_where(&p, sizeof(int16_t), c, x, z, y);
    int16_t want[6] = {1, 2, 3, -9, -9, -9};
    for (int i = 0; i < 6; i++) CHECK(y[i] == want[i], "where[%d] = %d", i, y[i]);
}

int main(void) {
    signed_edges();
    unsigned_edges();
    where_broadcast();
    if (failures) {
        fprintf(stderr, "test_typed: %d failures\n", failures);
        return 1;
    }
    printf("test_typed: ok\n");
    return 0;
}

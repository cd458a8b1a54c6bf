/* QuantizeLinear / DequantizeLinear under the sanitizers: rounding half to even,
 * saturation at both ends, NaN and infinities (a float -> int conversion of those
 * would be undefined behaviour), per-axis scales and zero points. */
#include "check.h"

#include "kernels/quantize.h"

int main(void) {
    const float x[8] = {2.5f, 3.5f, -2.5f, 1000.0f, -1000.0f, NAN, INFINITY, -INFINITY};
    const float s1[1] = {1.0f};
    const int8_t z8[1] = {0};
    int8_t q8[8];
    radrt_quantize_i8(x, s1, z8, q8, 1, 1, 8);
    const int8_t want8[8] = {2, 4, -2, 127, -128, 0, 127, -128};
    for (int i = 0; i < 8; i++) CHECK(q8[i] == want8[i], "i8[%d] = %d, want %d", i, q8[i], want8[i]);

    const uint8_t zu[1] = {128};
    uint8_t qu[8];
    radrt_quantize_u8(x, s1, zu, qu, 1, 1, 8);
    const uint8_t wantu[8] = {130, 132, 126, 255, 0, 128, 255, 0};
    for (int i = 0; i < 8; i++) CHECK(qu[i] == wantu[i], "u8[%d] = %u, want %u", i, qu[i], wantu[i]);

    /* per axis: [outer 2, channels 2, inner 2] */
    const float y[8] = {1, 2, 1, 2, -1, -2, -1, -2};
    const float s2[2] = {0.5f, 2.0f};
    const int8_t z2[2] = {10, -10};
    int8_t q2[8];
    radrt_quantize_i8(y, s2, z2, q2, 2, 2, 2);
    const int8_t want2[8] = {12, 14, -10, -9, 8, 6, -10, -11};
    for (int i = 0; i < 8; i++) CHECK(q2[i] == want2[i], "per-axis[%d] = %d, want %d", i, q2[i], want2[i]);
    float back[8];
    radrt_dequantize_i8(q2, s2, z2, back, 2, 2, 2);
    const float wantb[8] = {1, 2, 0, 2, -1, -2, 0, -2};
    for (int i = 0; i < 8; i++) CHECK(back[i] == wantb[i], "dequant[%d] = %g, want %g", i, back[i], wantb[i]);

    const int32_t b[3] = {INT32_MAX, -7, 0};
    float fb[3];
    radrt_dequantize_i32(b, s2, fb, 1, 1, 3);
    CHECK(fb[1] == -3.5f && fb[2] == 0.0f, "i32 dequant %g %g", fb[1], fb[2]);
    if (failures) {
        fprintf(stderr, "test_quantize: %d failures\n", failures);
        return 1;
    }
    printf("test_quantize: ok\n");
    return 0;
}

/* Unit test of the GEMM core against naive loops (double accumulation):
 * packed / dense operands, transposed A, edge tiles, K = 0, K > KC.
 * Build: cc -std=gnu11 -O2 -Icsrc csrc/tests/test_gemm.c csrc/kernels/gemm.c -lm
 * Returns non-zero on the first mismatch; checks determinism (two runs give
 * identical bytes) and the fused clamp epilogue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"

static uint32_t rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = frand();
    return p;
}

static int close_enough(float got, double want, double tol) {
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* C = clamp(alpha*A*B + beta*bias_row[i]) with A (M,K) row-major or transposed. */
static int check_gemm(int64_t M, int64_t N, int64_t K, int a_packed, int b_packed, int trans_a,
                      float lo, float hi) {
    float *A = rand_buf(M * K), *B = rand_buf(K * N), *bias = rand_buf(M);
    float *C = malloc((M * N > 0 ? M * N : 1) * sizeof(float)), *C2 = malloc((M * N > 0 ? M * N : 1) * sizeof(float));
    int64_t ars = trans_a ? 1 : K, acs = trans_a ? M : 1;
    float *pa = NULL, *pb = NULL;
    radrt_operand a = {A, ars, acs, 0}, b = {B, N, 1, 0};
    if (a_packed) {
        pa = calloc(radrt_gemm_packed_a_floats(M, K), sizeof(float));
        radrt_gemm_pack_a(A, ars, acs, M, K, pa);
        a = (radrt_operand){pa, 0, 0, 1};
    }
    if (b_packed) {
        pb = calloc(radrt_gemm_packed_b_floats(K, N), sizeof(float));
        radrt_gemm_pack_b(B, N, 1, K, N, pb);
        b = (radrt_operand){pb, 0, 0, 1};
    }
    float *scratch = malloc((radrt_sgemm_scratch_floats(M, N, K, a_packed, b_packed) + 1) * sizeof(float));
    radrt_epilogue ep = {1.5f, 0.5f, bias, 1, 0, lo, hi};
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C, N, &ep, scratch, NULL);
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C2, N, &ep, scratch, NULL);
    int bad = memcmp(C, C2, M * N * sizeof(float)) != 0;
    if (bad) printf("gemm %ld %ld %ld: not deterministic\n", (long)M, (long)N, (long)K);
    for (int64_t i = 0; i < M && !bad; i++)
        for (int64_t j = 0; j < N && !bad; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)A[i * ars + k * acs] * B[k * N + j];
            s = 1.5 * s + 0.5 * bias[i];
            s = s < lo ? lo : s > hi ? hi : s;
            if (!close_enough(C[i * N + j], s, 1e-4)) {
                printf("gemm M=%ld N=%ld K=%ld ap=%d bp=%d: C[%ld][%ld] = %g, want %g\n", (long)M,
                       (long)N, (long)K, a_packed, b_packed, (long)i, (long)j, C[i * N + j], s);
                bad = 1;
            }
        }
    free(A); free(B); free(bias); free(C); free(C2); free(pa); free(pb); free(scratch);
    return bad;
}

int main(void) {
    int64_t sizes[][3] = {{1, 1, 1},   {1, 1000, 300}, {7, 5, 3},     {8, 48, 256}, {9, 49, 257},
                          {64, 3136, 64}, {33, 17, 600}, {200, 1000, 40}, {5, 7, 0}, {13, 2000, 11}};
    int fails = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ap = 0; ap < 2; ap++)
            for (int bp = 0; bp < 2; bp++)
                fails += check_gemm(sizes[s][0], sizes[s][1], sizes[s][2], ap, bp, s & 1,
                                    s % 3 ? -INFINITY : 0.0f, s % 3 ? INFINITY : 0.5f);
    printf("%s (%d failures)\n", fails ? "FAIL" : "ok", fails);
    return fails != 0;
}

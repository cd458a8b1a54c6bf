/* ABFT checksums of radrt_sgemm (gemm.h) against a float64 reference.
 *
 * Clean products: for random shapes (M, N, K = 1, edge tiles, several K
 * blocks, N > NC), both sides, with and without bias, alpha/beta != 1, the
 * fused clamp, inputs scaled 1e-3 and 1e3, all-equal inputs and cancelling
 * weights, the checked call must give C bit for bit equal to the unchecked
 * call, count one checked checksum per column (row), exceed none, and the
 * expected/observed sums left in work must match the float64 ones within tol.
 * It prints the worst |observed - expected| / tol over all clean runs.
 *
 * Injection: one bit of one weight flipped in the packed weights after wsum
 * was computed from the golden ones; sign, exponent and the high mantissa bits
 * must be detected. It prints the detection rate per bit and the smallest
 * relative weight error detected / largest one missed.
 *
 * LAMBDA is the threshold scale radrt recommends (runtime/ops ABFT_LAMBDA);
 * -DLAMBDA=... measures another one. */
#include "check.h"

#include <float.h>

#include "kernels/gemm.h"
#include "protect/seal.h"

#ifndef LAMBDA
#define LAMBDA 4.0f
#endif

static double worst_clean, worst_kind[4];
static int64_t clean_runs;

typedef struct {
    int64_t M, N, K;
    int side, bias, a_packed, b_packed;
    float alpha, beta, lo, hi;
    float sa, sb;      /* scales of A and B */
    int kind;          /* 0 random, 1 all-equal input (B for COLUMNS, A for ROWS), 2 cancelling weights,
                          3 both operands all-equal */
} gemm_case;

/* Golden checksums of the weight operand W, in float64 rounded to float32. */
static void weight_sums(const gemm_case *g, const float *A, const float *B, float *wsum, float *wabs) {
    for (int64_t k = 0; k < g->K; k++) {
        double s = 0, a = 0;
        if (g->side == RADRT_ABFT_COLUMNS) {
            for (int64_t i = 0; i < g->M; i++) {
                s += A[i * g->K + k];
                a += fabs(A[i * g->K + k]);
            }
        } else {
            for (int64_t j = 0; j < g->N; j++) {
                s += B[k * g->N + j];
                a += fabs(B[k * g->N + j]);
            }
        }
        wsum[k] = (float)s;
        wabs[k] = (float)a;
    }
}

static void fill(float *p, int64_t n, float scale, int kind, float value) {
    for (int64_t i = 0; i < n; i++) p[i] = kind == 1 ? value * scale : rnd_float() * scale;
}

/* Runs one case checked and unchecked; returns the ck results. */
static void run_case(const gemm_case *g) {
    const int64_t M = g->M, N = g->N, K = g->K;
    const int cols = g->side == RADRT_ABFT_COLUMNS;
    float *A = exact_alloc((size_t)(M * K) * sizeof(float)), *B = exact_alloc((size_t)(K * N) * sizeof(float));
    const int a_equal = g->kind == 3 || (g->kind == 1 && !cols), b_equal = g->kind == 3 || (g->kind == 1 && cols);
    fill(A, M * K, g->sa, a_equal, 0.3f);
    fill(B, K * N, g->sb, b_equal, 0.7f);
    if (g->kind == 2) { /* weights cancel in pairs: wsum = 0 (last one unpaired when odd) */
        if (cols)
            for (int64_t i = 1; i < M; i += 2)
                for (int64_t k = 0; k < K; k++) A[i * K + k] = -A[(i - 1) * K + k];
        else
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 1; j < N; j += 2) B[k * N + j] = -B[k * N + j - 1];
    }
    /* bias along the checksum direction, uniform sum: COLUMNS per row i, ROWS per column j */
    const int64_t nb = cols ? M : N;
    float *bias = g->bias ? rand_floats((size_t)nb) : NULL;
    double bsum = 0, babs = 0;
    for (int64_t t = 0; bias && t < nb; t++) {
        bsum += bias[t];
        babs += fabs(bias[t]);
    }
    float bsum_f = (float)bsum, babs_f = (float)babs;
    float *wsum = exact_alloc((size_t)(K ? K : 1) * sizeof(float)), *wabs = exact_alloc((size_t)(K ? K : 1) * sizeof(float));
    weight_sums(g, A, B, wsum, wabs);

    float *pa = NULL, *pb = NULL;
    radrt_operand a = {A, K, 1, 0}, b = {B, N, 1, 0};
    if (g->a_packed) {
        pa = exact_alloc(radrt_gemm_packed_a_floats(M, K) * sizeof(float));
        radrt_gemm_pack_a(A, K, 1, M, K, pa);
        a = (radrt_operand){pa, 0, 0, 1};
    }
    if (g->b_packed) {
        pb = exact_alloc(radrt_gemm_packed_b_floats(K, N) * sizeof(float));
        radrt_gemm_pack_b(B, N, 1, K, N, pb);
        b = (radrt_operand){pb, 0, 0, 1};
    }
    size_t ns = radrt_sgemm_scratch_floats(M, N, K, g->a_packed, g->b_packed);
    float *scratch = exact_alloc((ns ? ns : 1) * sizeof(float));
    size_t nw = radrt_abft_work_floats(M, N, g->side);
    float *work = exact_alloc(nw * sizeof(float));
    float *C0 = poison_floats((size_t)(M * N)), *C1 = poison_floats((size_t)(M * N));
    radrt_epilogue ep = {g->alpha, g->beta, bias, cols ? 1 : 0, cols ? 0 : 1, g->lo, g->hi};
    uint64_t seal[2] = {0, 0}, wseal[2] = {0, 0};
    radrt_abft ck = {g->side, wsum, wabs, &bsum_f, &babs_f, LAMBDA, work, 0, 0, 0, 0.0f, seal, 7, wseal, 3};
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C0, N, &ep, scratch, NULL);
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C1, N, &ep, scratch, &ck);
    /* the output sealed in the store, the packed weights as read: equal to seal.h's seals */
    radrt_seal want = {0, 0}, wwant = {0, 0};
    radrt_seal_add(&want, C1, (size_t)(M * N) * sizeof(float), 7);
    CHECK(seal[0] == want.sum && seal[1] == want.wsum, "output seal from the store differs from seal.h's");
    if (cols ? g->a_packed : g->b_packed) {
        radrt_seal_add(&wwant, cols ? pa : pb,
                       (cols ? radrt_gemm_packed_a_floats(M, K) : radrt_gemm_packed_b_floats(K, N)) * sizeof(float), 3);
        CHECK(wseal[0] == wwant.sum && wseal[1] == wwant.wsum, "packed weights seal differs from seal.h's");
    } else {
        CHECK(wseal[0] == 0 && wseal[1] == 0, "a weight operand that is not pre-packed is not sealed");
    }

    char what[200];
    snprintf(what, sizeof what, "M=%ld N=%ld K=%ld side=%d bias=%d ap=%d bp=%d kind=%d scale=%g/%g",
             (long)M, (long)N, (long)K, g->side, g->bias, g->a_packed, g->b_packed, g->kind, g->sa, g->sb);
    CHECK(memcmp(C0, C1, (size_t)(M * N) * sizeof(float)) == 0, "%s: checked C differs from unchecked", what);
    const int64_t n = cols ? N : M, terms = cols ? M : N;
    CHECK(ck.checked == n && ck.exceeded == 0 && ck.nonfinite == 0,
          "%s: checked %ld exceeded %ld nonfinite %ld worst %g (expected %ld, 0, 0)", what, (long)ck.checked,
          (long)ck.exceeded, (long)ck.nonfinite, ck.worst, (long)n);
    if (ck.worst > worst_kind[g->kind]) worst_kind[g->kind] = ck.worst;
    if (g->kind != 3 && ck.worst > worst_clean) worst_clean = ck.worst;
    clean_runs++;

    /* work = expected, mag, observed against float64; sum_i |r_ij| <= mag */
    const float *e = work, *m = e + n, *o = m + n;
    for (int64_t t = 0; t < n; t++) {
        double ex = 0, mg = 0, ob = 0, obabs = 0;
        for (int64_t k = 0; k < K; k++) {
            double w = wsum[k], x = cols ? B[k * N + t] : A[t * K + k];
            ex += w * x;
            mg += wabs[k] * fabs(x);
        }
        for (int64_t s = 0; s < terms; s++) {
            int64_t i = cols ? s : t, j = cols ? t : s;
            double r = 0;
            for (int64_t k = 0; k < K; k++) r += (double)A[i * K + k] * B[k * N + j];
            r = g->alpha * r + (bias ? (double)g->beta * bias[cols ? i : j] : 0.0);
            ob += r;
            obabs += fabs(r);
        }
        double expected = g->alpha * (double)e[t] + (bias ? (double)g->beta * bsum_f : 0.0);
        double mag = fabs(g->alpha) * m[t] + (bias ? fabs(g->beta) * babs_f : 0.0);
        double tol = LAMBDA * 0x1p-24 * (2 * sqrt(K + 2.0) + sqrt(terms + 1.0)) * mag + FLT_MIN * (K + 1.0);
        ex = g->alpha * ex + (bias ? (double)g->beta * bsum_f : 0.0);
        mg = fabs(g->alpha) * mg + (bias ? fabs(g->beta) * babs_f : 0.0);
        CHECK(fabs(expected - ex) <= tol, "%s: expected[%ld] %.9g, float64 %.9g, tol %.3g", what, (long)t, expected, ex, tol);
        CHECK(fabs(mag - mg) <= 1e-5 * mg + FLT_MIN * K, "%s: mag[%ld] %.9g, float64 %.9g", what, (long)t, mag, mg);
        CHECK(fabs(o[t] - ob) <= tol, "%s: observed[%ld] %.9g, float64 %.9g, tol %.3g", what, (long)t, o[t], ob, tol);
        CHECK(obabs <= mg * (1 + 1e-5) + FLT_MIN * K, "%s: sum |r| [%ld] %.9g above mag %.9g", what, (long)t,
              obabs, mg);
        if (t > 8 && n > 64) t += n / 16; /* sample wide cases */
    }
    free(A); free(B); free(bias); free(wsum); free(wabs); free(pa); free(pb);
    free(scratch); free(work); free(C0); free(C1);
}

static gemm_case random_case(int64_t maxm, int64_t maxn, int64_t maxk) {
    static const float scales[] = {1e-3f, 1.0f, 1e3f};
    gemm_case g;
    g.M = rnd_int(1, maxm);
    g.N = rnd_int(1, maxn);
    g.K = rnd_int(1, maxk);
    g.side = (int)rnd_int(0, 1);
    g.bias = (int)rnd_int(0, 1);
    g.a_packed = g.side == RADRT_ABFT_COLUMNS ? (int)rnd_int(0, 1) : 0;
    g.b_packed = g.side == RADRT_ABFT_ROWS ? (int)rnd_int(0, 1) : 0;
    g.alpha = rnd_int(0, 2) ? 1.0f : 0.5f + rnd_float();
    g.beta = rnd_int(0, 2) ? 1.0f : -1.5f;
    g.lo = rnd_int(0, 1) ? 0.0f : -INFINITY;
    g.hi = rnd_int(0, 3) ? INFINITY : 0.5f;
    g.sa = scales[rnd_int(0, 2)];
    g.sb = scales[rnd_int(0, 2)];
    g.kind = (int)rnd_int(0, 7);
    if (g.kind > 3) g.kind = 0;
    return g;
}

static void clean_tests(void) {
    const int64_t fixed[][3] = {{1, 1, 1}, {1, 1000, 300}, {7, 5, 3}, {8, 48, 256}, {9, 49, 257}, {64, 3136, 64},
                                {33, 17, 600}, {200, 1000, 40}, {13, 2000, 11}, {300, 7, 513}, {1, 2, 1500}};
    for (size_t s = 0; s < sizeof fixed / sizeof fixed[0]; s++)
        for (int side = 0; side < 2; side++)
            for (int kind = 0; kind < 4; kind++) {
                gemm_case g = {fixed[s][0], fixed[s][1], fixed[s][2], side, (int)(s & 1), side == 0, side == 1,
                               s % 3 ? 1.0f : 0.75f, s % 4 ? 1.0f : 2.0f, s % 2 ? -INFINITY : 0.0f, INFINITY,
                               1.0f, 1.0f, kind};
                run_case(&g);
            }
    for (int r = 0; r < 40; r++) {
        gemm_case g = random_case(300, 1200, 700);
        run_case(&g);
    }
    for (int r = 0; r < 3000; r++) {
        gemm_case g = random_case(40, 60, 300);
        run_case(&g);
    }
}

/* One weight of the packed operand flipped after wsum was computed. The flip
 * changes checksum t by err_t = delta * (the input values it multiplies); the
 * test requires a detection when some |err_t| > 1.5 tol_t and none when every
 * |err_t| < 0.5 tol_t (tol_t from the run's work), and prints the detection
 * rate per bit and the smallest error detected relative to the rms of C. */
static void injection_tests(void) {
    const int64_t M = 64, N = 150, K = 300, trials = 40;
    const int mr = radrt_gemm_mr(), nr = radrt_gemm_nr();
    double min_detected = INFINITY, max_missed = 0, min_rel_w = INFINITY;
    int64_t high_bits = 0, high_detected = 0;
    printf("bit  detected/trials (COLUMNS, ROWS)\n");
    for (int bit = 0; bit < 32; bit++) {
        int64_t detected[2] = {0, 0};
        for (int side = 0; side < 2; side++) {
            for (int64_t trial = 0; trial < trials; trial++) {
                float *A = rand_floats((size_t)(M * K)), *B = rand_floats((size_t)(K * N));
                gemm_case g = {M, N, K, side, 0, 0, 0, 1, 1, 0, INFINITY, 1, 1, 0};
                float wsum[300], wabs[300];
                weight_sums(&g, A, B, wsum, wabs);
                float *pw;
                radrt_operand a = {A, K, 1, 0}, b = {B, N, 1, 0};
                int64_t i = rnd_int(0, M - 1), j = rnd_int(0, N - 1), k = rnd_int(0, K - 1), at;
                if (side == RADRT_ABFT_COLUMNS) {
                    pw = exact_alloc(radrt_gemm_packed_a_floats(M, K) * sizeof(float));
                    radrt_gemm_pack_a(A, K, 1, M, K, pw);
                    a = (radrt_operand){pw, 0, 0, 1};
                    at = (i / mr) * K * mr + k * mr + i % mr;
                } else {
                    pw = exact_alloc(radrt_gemm_packed_b_floats(K, N) * sizeof(float));
                    radrt_gemm_pack_b(B, N, 1, K, N, pw);
                    b = (radrt_operand){pw, 0, 0, 1};
                    at = (j / nr) * K * nr + k * nr + j % nr;
                }
                const float before = pw[at];
                uint32_t u;
                memcpy(&u, &pw[at], 4);
                u ^= 1u << bit;
                memcpy(&pw[at], &u, 4);
                const double delta = (double)pw[at] - before;
                size_t ns = radrt_sgemm_scratch_floats(M, N, K, side == 0, side == 1);
                float *scratch = exact_alloc(ns * sizeof(float)), *C = exact_alloc((size_t)(M * N) * sizeof(float));
                const int64_t n = side == RADRT_ABFT_COLUMNS ? N : M, terms = side == RADRT_ABFT_COLUMNS ? M : N;
                float *work = exact_alloc(radrt_abft_work_floats(M, N, side) * sizeof(float));
                radrt_epilogue ep = {1, 1, NULL, 0, 0, -INFINITY, INFINITY};
                radrt_abft ck = {side, wsum, wabs, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
                radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C, N, &ep, scratch, &ck);
                const int hit = ck.exceeded > 0;
                double big = 0, rms = 0; /* largest |err_t| / tol_t, largest |err_t| */
                int above = 0;
                for (int64_t t = 0; t < n; t++) {
                    double x = side == RADRT_ABFT_COLUMNS ? B[k * N + t] : A[t * K + k];
                    double tol = LAMBDA * 0x1p-24 * (2 * sqrt(K + 2.0) + sqrt(terms + 1.0)) * work[n + t] +
                                 FLT_MIN * (K + 1.0);
                    double err = fabs(delta * x);
                    if (err > 0.5 * tol) above = 1;
                    if (err > 1.5 * tol && err / tol > big) big = err / tol;
                }
                double errmax = 0;
                for (int64_t t = 0; t < n; t++) { /* a plain max: gcc 12 for aarch64 ICEs on an fmax reduction */
                    double err = fabs(delta * (side == RADRT_ABFT_COLUMNS ? B[k * N + t] : A[t * K + k]));
                    if (err > errmax) errmax = err;
                }
                for (int64_t e = 0; e < M * N; e++) rms += (double)C[e] * C[e];
                rms = sqrt(rms / (double)(M * N));
                CHECK(!(big > 0) || hit, "side %d bit %d (%g -> %g): error %.3g tol undetected", side, bit, before,
                      pw[at], big);
                CHECK(above || !hit, "side %d bit %d (%g -> %g): false alarm below 0.5 tol", side, bit, before, pw[at]);
                CHECK(ck.nonfinite == 0, "side %d bit %d: nonfinite %ld", side, bit, (long)ck.nonfinite);
                detected[side] += hit;
                if (hit && errmax / rms < min_detected) min_detected = errmax / rms;
                if (!hit && errmax / rms > max_missed) max_missed = errmax / rms;
                if (hit && fabs(delta / before) < min_rel_w) min_rel_w = fabs(delta / before);
                if (bit >= 23) {
                    high_bits++;
                    high_detected += hit;
                }
                free(A); free(B); free(pw); free(scratch); free(C); free(work);
            }
        }
        printf("%3d  %2ld/%ld %2ld/%ld\n", bit, (long)detected[0], (long)trials, (long)detected[1], (long)trials);
    }
    printf("M=%ld N=%ld K=%ld lambda %g: sign/exponent flips detected %ld/%ld; one output element's error, relative\n"
           "to the rms of C: smallest detected %.3g, largest missed %.3g; smallest relative weight change detected %.3g\n",
           (long)M, (long)N, (long)K, LAMBDA, (long)high_detected, (long)high_bits, min_detected, max_missed, min_rel_w);
}

/* Non-finite handling: an Inf in B cannot be checked; an Inf produced from
 * finite data is a mismatch. */
static void nonfinite_tests(void) {
    const int64_t M = 5, N = 7, K = 9;
    float *A = rand_floats(M * K), *B = rand_floats(K * N), C[35], scratch[4096], work[64];
    gemm_case g = {M, N, K, RADRT_ABFT_COLUMNS, 0, 0, 0, 1, 1, 0, INFINITY, 1, 1, 0};
    float wsum[9], wabs[9];
    weight_sums(&g, A, B, wsum, wabs);
    CHECK(radrt_sgemm_scratch_floats(M, N, K, 0, 0) <= 4096, "scratch");
    radrt_operand a = {A, K, 1, 0}, b = {B, N, 1, 0};
    radrt_epilogue ep = {1, 1, NULL, 0, 0, -INFINITY, INFINITY};
    B[3 * N + 2] = INFINITY;
    radrt_abft ck = {RADRT_ABFT_COLUMNS, wsum, wabs, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C, N, &ep, scratch, &ck);
    CHECK(ck.nonfinite == 1 && ck.checked == N - 1 && ck.exceeded == 0, "Inf in B: nonfinite %ld checked %ld exceeded %ld",
          (long)ck.nonfinite, (long)ck.checked, (long)ck.exceeded);
    B[3 * N + 2] = 0.5f;
    A[2 * K + 1] = 1e38f; /* the packed weight no longer matches wsum and overflows */
    B[1 * N + 4] = 1e3f;
    radrt_abft ck2 = {RADRT_ABFT_COLUMNS, wsum, wabs, NULL, NULL, LAMBDA, work, 0, 0, 0, 0.0f, NULL, 0, NULL, 0};
    radrt_sgemm(M, N, K, &a, &b, NULL, NULL, C, N, &ep, scratch, &ck2);
    CHECK(ck2.exceeded >= 1 && ck2.nonfinite == 0, "overflow from a corrupted weight: exceeded %ld nonfinite %ld",
          (long)ck2.exceeded, (long)ck2.nonfinite);
    CHECK(radrt_abft_work_floats(-1, 4, 0) == SIZE_MAX && radrt_abft_work_floats(3, 4, 2) == SIZE_MAX &&
              radrt_abft_work_floats(3, INT64_MAX, 0) == SIZE_MAX && radrt_abft_work_floats(3, 4, 1) == 9,
          "radrt_abft_work_floats");
    free(A);
    free(B);
}

int main(void) {
    clean_tests();
    printf("worst ratio by kind (random, equal input, cancelling, both equal): %.4f %.4f %.4f %.4f\n",
           worst_kind[0], worst_kind[1], worst_kind[2], worst_kind[3]);
    printf("clean runs %ld, worst |observed - expected| / tol = %.4f (lambda %g)\n", (long)clean_runs, worst_clean,
           LAMBDA);
    CHECK(worst_clean < 0.25, "worst clean ratio %g, expected well below 1", worst_clean);
    /* Both operands constant: rounding errors are systematic, not random, and the
     * ratio grows as sqrt(K) / (4 lambda); below 1 for the K <= 1500 used here. */
    CHECK(worst_kind[3] < 1.0, "worst clean ratio with both operands constant %g", worst_kind[3]);
    injection_tests();
    nonfinite_tests();
    return finish("test_abft");
}

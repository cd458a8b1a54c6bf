/* Activations and unary math against libm in double: the vectorised exp_f
 * behind Exp, Sigmoid, Swish and Tanh within their ulp bounds (Exp 1, Sigmoid 2.5,
 * Swish 3.5, Tanh 6, as tests/ops/test_activation.py) over the whole finite range,
 * gradual underflow and overflow, NaN and +-Inf; the value of an element
 * does not depend on where it lands (vector body or remainder) or on the
 * buffer being updated in place. Buffers are exactly sized. */
#include "check.h"

#include "kernels/activation.h"

typedef void (*unary_fn)(const float *, float *, size_t);

/* |got - want| in units of the float spacing at want; -1 when they disagree
 * on being 0, infinite or NaN. */
static double ulps(float got, double want) {
    float w = (float)want;
    if (isnan(w) || isnan(got)) return isnan(w) && isnan(got) ? 0.0 : -1.0;
    if (isinf(w) || w == 0.0f || isinf(got) || got == 0.0f) return got == w ? 0.0 : -1.0;
    double spacing = (double)nextafterf(fabsf(w), INFINITY) - fabs((double)w);
    return fabs((double)got - want) / spacing;
}

static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static void check_ulps(const char *name, unary_fn f, double (*ref)(double), double max_ulp) {
    const size_t n = 200003; /* odd: the last elements are a scalar remainder */
    float *x = exact_alloc(n * sizeof(float)), *y = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float u = (rnd_float() + 1.0f) * 0.5f;
        x[i] = i % 4 == 0 ? -110.0f + 205.0f * u : i % 4 == 1 ? 2.0f * u - 1.0f : i % 4 == 2 ? 2e-3f * u - 1e-3f
                                                                                             : -20.0f + 40.0f * u;
    }
    f(x, y, n);
    double worst = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < n; i++) {
        double e = ulps(y[i], ref((double)x[i]));
        if (e < 0 || e > worst) {
            worst = e < 0 ? INFINITY : e;
            worst_i = i;
        }
    }
    CHECK(worst <= max_ulp, "%s: %.2f ulp at x = %.9g (got %.9g, want %.9g), bound %.1f", name, worst, x[worst_i],
          y[worst_i], ref((double)x[worst_i]), max_ulp);
    /* the same values one element later: different vector lanes and remainder */
    float *y2 = exact_alloc((n - 1) * sizeof(float));
    f(x + 1, y2, n - 1);
    CHECK(memcmp(y + 1, y2, (n - 1) * sizeof(float)) == 0, "%s: value depends on the element's position", name);
    /* in place */
    f(x, x, n);
    CHECK(memcmp(x, y, n * sizeof(float)) == 0, "%s: in place differs", name);
    free(x); free(y); free(y2);
}

/* Special values: expected results, exact (NaN matches NaN). */
static void check_specials(const char *name, unary_fn f, const float *x, const float *want, size_t n) {
    float *y = exact_alloc(n * sizeof(float));
    f(x, y, n);
    for (size_t i = 0; i < n; i++) {
        int ok = isnan(want[i]) ? isnan(y[i]) : memcmp(&y[i], &want[i], sizeof(float)) == 0;
        CHECK(ok, "%s(%g) = %.9g, expected %.9g", name, x[i], y[i], want[i]);
    }
    free(y);
}

static void specials(void) {
    const float x[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 89.0f, 88.8f, -87.5f, -103.0f, -150.0f, 200.0f, 1e-30f};
    const size_t n = sizeof x / sizeof x[0];
    float e[sizeof x / sizeof x[0]], s[sizeof x / sizeof x[0]], t[sizeof x / sizeof x[0]];
    for (size_t i = 0; i < n; i++) {
        e[i] = expf(x[i]);
        s[i] = (float)ref_sigmoid((double)x[i]);
        t[i] = tanhf(x[i]);
    }
    /* values whose exact result rounds away from libm's by an ulp are checked by check_ulps */
    const size_t exact = 5; /* NaN, +-inf, +-0 */
    check_specials("exp", radrt_exp, x, e, exact);
    check_specials("sigmoid", radrt_sigmoid, x, s, exact);
    check_specials("tanh", radrt_tanh, x, t, exact);
    /* overflow to inf, gradual underflow to subnormals and 0 */
    float y[sizeof x / sizeof x[0]];
    radrt_exp(x, y, n);
    CHECK(isinf(y[10]) && y[10] > 0, "exp(200) = %g, expected inf", y[10]);
    CHECK(y[8] > 0.0f && y[8] < 0x1p-126f, "exp(-103) = %g, expected a subnormal", y[8]);
    CHECK(y[9] == 0.0f, "exp(-150) = %g, expected 0", y[9]);
    CHECK(ulps(y[7], exp(-87.5)) <= 1.0, "exp(-87.5) = %.9g", y[7]);
    CHECK(ulps(y[6], exp(88.8)) <= 1.0, "exp(88.8) = %.9g", y[6]);
    radrt_sigmoid(x, y, n);
    CHECK(y[10] == 1.0f && y[9] == 0.0f, "sigmoid(200), sigmoid(-150) = %g, %g", y[10], y[9]);
    radrt_tanh(x, y, n);
    CHECK(y[10] == 1.0f && y[11] == 1e-30f, "tanh(200), tanh(1e-30) = %g, %g", y[10], y[11]);
}

/* The other unary ops and the attribute activations, against libm, exact. */
static void simple_ops(void) {
    const size_t n = 1037;
    float *x = exact_alloc(n * sizeof(float)), *y = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rnd_float() * 8.0f;
    x[0] = NAN, x[1] = INFINITY, x[2] = -INFINITY, x[3] = -0.0f, x[4] = 0.0f;
#define EXACT(CALL, EXPR)                                                                   \
    do {                                                                                    \
        CALL;                                                                               \
        for (size_t i = 0; i < n; i++) {                                                    \
            float v = x[i], w = (EXPR);                                                     \
            int ok = isnan(w) ? isnan(y[i]) : memcmp(&w, &y[i], sizeof w) == 0;             \
            if (!ok) {                                                                      \
                CHECK(0, "%s at x = %g: %.9g, expected %.9g", #CALL, v, y[i], w);           \
                break;                                                                      \
            }                                                                               \
        }                                                                                   \
    } while (0)
    EXACT(radrt_relu(x, y, n), v < 0.0f ? 0.0f : v);
    EXACT(radrt_leaky_relu(x, y, n, 0.1f), v < 0.0f ? 0.1f * v : v);
    EXACT(radrt_clip(x, y, n, -1.5f, 2.0f), v < -1.5f ? -1.5f : v > 2.0f ? 2.0f : v);
    EXACT(radrt_clip(x, y, n, 2.0f, -1.0f), v != v ? v : -1.0f); /* min > max gives max */
    EXACT(radrt_neg(x, y, n), -v);
    EXACT(radrt_abs(x, y, n), fabsf(v));
    EXACT(radrt_floor(x, y, n), floorf(v));
    EXACT(radrt_ceil(x, y, n), ceilf(v));
    EXACT(radrt_sqrt(x, y, n), sqrtf(v));
    EXACT(radrt_reciprocal(x, y, n), 1.0f / v);
    EXACT(radrt_log(x, y, n), logf(v));
    EXACT(radrt_erf(x, y, n), erff(v));
#undef EXACT
    /* the next two may fuse a multiply-add: compared with a tolerance; -inf * 0 is NaN */
    radrt_hard_swish(x, y, n);
    for (size_t i = 0; i < n; i++) {
        double v = x[i], g = v * fmin(fmax(v / 6.0 + 0.5, 0.0), 1.0);
        CHECK(close_to(y[i], g, 1e-6, 1e-7), "hard_swish(%g) = %.9g, expected %.9g", v, y[i], g);
    }
    radrt_hard_sigmoid(x, y, n, 0.2f, 0.5f);
    for (size_t i = 0; i < n; i++) {
        double v = x[i], g = fmin(fmax(0.2 * v + 0.5, 0.0), 1.0);
        CHECK(close_to(y[i], v != v ? NAN : g, 1e-6, 1e-7), "hard_sigmoid(%g) = %.9g, expected %.9g", v, y[i], g);
    }
    free(x); free(y);
}

static double ref_swish(double x) { return x * ref_sigmoid(x); }

/* Swish (the fused Sigmoid -> Mul): x times the Sigmoid kernel's value, bit for bit
 * (NaN matches NaN), on random values and the specials; within 3.5 ulp of float64 where
 * sigmoid(x) is a normal float (below x = -87 it is subnormal, then 0 below -104, and
 * x * sigmoid(x) keeps only what those bits hold, as Mul after Sigmoid does). */
static void swish_is_x_times_sigmoid(void) {
    const size_t n = 100003;
    float *x = exact_alloc(n * sizeof(float)), *s = exact_alloc(n * sizeof(float)), *y = exact_alloc(n * sizeof(float));
    const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 89.0f, -87.5f, -103.0f, -150.0f, 200.0f, 1e-30f};
    for (size_t i = 0; i < n; i++) x[i] = i < 11 ? sp[i] : (rnd_float() - 0.5f) * 220.0f;
    radrt_sigmoid(x, s, n);
    radrt_swish(x, y, n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) <= 87.0f) {
            double e = ulps(y[i], ref_swish((double)x[i]));
            worst = e < 0 ? INFINITY : e > worst ? e : worst;
        }
    CHECK(worst <= 3.5, "swish: %.2f ulp, bound 3.5", worst);
    for (size_t i = 0; i < n; i++) {
        float w = x[i] * s[i];
        int ok = isnan(w) ? isnan(y[i]) : memcmp(&w, &y[i], sizeof w) == 0;
        if (!ok) {
            CHECK(0, "swish(%g) = %.9g, expected x * sigmoid(x) = %.9g", x[i], y[i], w);
            break;
        }
    }
    free(x); free(s); free(y);
}

int main(void) {
    check_ulps("exp", radrt_exp, exp, 1.0);
    check_ulps("sigmoid", radrt_sigmoid, ref_sigmoid, 2.5);
    swish_is_x_times_sigmoid();
    check_ulps("tanh", radrt_tanh, tanh, 6.0);
    specials();
    simple_ops();
    return finish("test_activation");
}

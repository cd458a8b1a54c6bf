/* Helpers shared by the C kernel tests: a fixed-seed generator, buffers of
 * exactly the bytes asked for (no slack, so AddressSanitizer reports any read
 * or write one element past the end), and comparisons that count failures.
 * Each test program includes this once; everything here is static. */
#ifndef RADRT_TESTS_CHECK_H
#define RADRT_TESTS_CHECK_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                            \
    do {                                                                            \
        if (!(cond)) {                                                              \
            if (failures < 20) {                                                    \
                fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                     \
                fprintf(stderr, __VA_ARGS__);                                       \
                fputc('\n', stderr);                                                \
            }                                                                       \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static uint32_t rng_state = 12345u;

static inline uint32_t rnd_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Uniform integer in [lo, hi]. */
static inline int64_t rnd_int(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd_u32() % (uint32_t)(hi - lo + 1)); }

/* Uniform float in [-1, 1). */
static inline float rnd_float(void) { return (float)(rnd_u32() >> 8) * 0x1p-23f - 1.0f; }

/* Exactly nbytes (malloc(0) may return NULL: nothing may be read through it). */
static inline void *exact_alloc(size_t nbytes) {
    void *p = malloc(nbytes);
    if (!p && nbytes) {
        fprintf(stderr, "out of memory (%zu bytes)\n", nbytes);
        exit(2);
    }
    return p;
}

static inline float *rand_floats(size_t n) {
    float *p = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = rnd_float();
    return p;
}

/* Filled with a NaN pattern, so an output element the kernel forgets shows. */
static inline float *poison_floats(size_t n) {
    float *p = exact_alloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static inline int close_to(float got, double want, double rtol, double atol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == (float)want;
    return fabs((double)got - want) <= atol + rtol * fabs(want);
}

/* Compare n floats with a double reference; reports the first mismatch. */
static inline int compare_floats(const char *what, const float *got, const double *want, size_t n, double rtol,
                          double atol) {
    for (size_t i = 0; i < n; i++)
        if (!close_to(got[i], want[i], rtol, atol)) {
            CHECK(0, "%s: element %zu is %.9g, expected %.9g", what, i, got[i], want[i]);
            return 1;
        }
    return 0;
}

static inline int finish(const char *name) {
    printf("%s: %s (%d failures)\n", name, failures ? "FAILED" : "ok", failures);
    return failures != 0;
}

#endif

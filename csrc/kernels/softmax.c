/* Softmax / LogSoftmax, numerically stable: subtract the max along the axis
 * before exp. For each outer index the kernel walks the `len` rows of `inner`
 * contiguous values in order: one pass for the max, one for exp(x - max)
 * (written to y) summed in double, one to normalise (times 1/sum, in double). Every (outer, inner)
 * pair sums its rows in the same ascending order, so results are fixed.
 * A NaN anywhere along the axis makes the whole slice NaN; +inf gives NaN
 * (inf - inf), as the formula says. */
#include "softmax.h"

#include <math.h>

/* inner == 1: one contiguous row; same order of operations as stats(). */
static void row_stats(const float *x, float *y, size_t len, float *max, double *sum) {
    float m = -INFINITY;
    for (size_t l = 0; l < len; l++) m = (x[l] > m || x[l] != x[l]) ? x[l] : m;
    double s = 0.0;
    for (size_t l = 0; l < len; l++) {
        y[l] = expf(x[l] - m);
        s += (double)y[l];
    }
    *max = m;
    *sum = s;
}

static void stats(const float *x, float *y, size_t len, size_t inner, float *max, double *sum) {
    if (inner == 1) {
        row_stats(x, y, len, max, sum);
        return;
    }
    for (size_t j = 0; j < inner; j++) max[j] = -INFINITY;
    for (size_t l = 0; l < len; l++) {
        const float *xr = x + l * inner;
        for (size_t j = 0; j < inner; j++) max[j] = (xr[j] > max[j] || xr[j] != xr[j]) ? xr[j] : max[j];
    }
    for (size_t j = 0; j < inner; j++) sum[j] = 0.0;
    for (size_t l = 0; l < len; l++) {
        const float *xr = x + l * inner;
        float *yr = y + l * inner;
        for (size_t j = 0; j < inner; j++) {
            yr[j] = expf(xr[j] - max[j]);
            sum[j] += (double)yr[j];
        }
    }
}

void radrt_softmax(const float *x, float *y, size_t outer, size_t len, size_t inner, void *scratch) {
    double *sum = (double *)scratch;
    float *max = (float *)(sum + inner);
    for (size_t o = 0; o < outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        stats(xo, yo, len, inner, max, sum);
        double *inv = sum;
        for (size_t j = 0; j < inner; j++) inv[j] = 1.0 / sum[j];
        for (size_t l = 0; l < len; l++) {
            float *yr = yo + l * inner;
            for (size_t j = 0; j < inner; j++) yr[j] = (float)((double)yr[j] * inv[j]);
        }
    }
}

void radrt_log_softmax(const float *x, float *y, size_t outer, size_t len, size_t inner, void *scratch) {
    double *sum = (double *)scratch;
    float *max = (float *)(sum + inner);
    for (size_t o = 0; o < outer; o++) {
        const float *xo = x + o * len * inner;
        float *yo = y + o * len * inner;
        stats(xo, yo, len, inner, max, sum);
        for (size_t j = 0; j < inner; j++) sum[j] = log(sum[j]);
        for (size_t l = 0; l < len; l++) {
            const float *xr = xo + l * inner;
            float *yr = yo + l * inner;
            for (size_t j = 0; j < inner; j++) yr[j] = (float)((double)(xr[j] - max[j]) - sum[j]);
        }
    }
}

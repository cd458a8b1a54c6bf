/* Normalisation kernels (see normalization.h for the layouts).
 *
 * BatchNormalization is one fused multiply-add per element over a channel
 * plane. LayerNormalization computes each row's mean, then its variance as
 * the mean of squared deviations (two passes), both accumulated in double in
 * element order, and normalises in double before rounding to float32.
 * LRN accumulates the squares of its channel window in float32 in the output
 * plane, channels in ascending order, then y = x / (bias + a * sum)^beta (beta 0.75
 * as sqrt(t) * sqrt(sqrt(t)), vectorised; other betas with powf).
 * All orders are fixed, so results are the same on every run.
 */
#include "normalization.h"

#include <math.h>

void radrt_batchnorm(const float *x, const float *mean, const float *s, const float *bias, float *y,
                     size_t n, size_t c, size_t size, float lo, float hi) {
    for (size_t b = 0; b < n; b++) {
        for (size_t k = 0; k < c; k++) {
            const float *xp = x + (b * c + k) * size;
            float *yp = y + (b * c + k) * size;
            const float m = mean[k], sk = s[k], bk = bias[k];
            for (size_t i = 0; i < size; i++) {
                float v = (xp[i] - m) * sk + bk;
                v = v < lo ? lo : v; /* compares, so NaN passes through */
                yp[i] = v > hi ? hi : v;
            }
        }
    }
}

void radrt_batchnorm_runtime(const float *x, const float *scale, const float *bias, const float *mean,
                             const float *var, float *y, size_t n, size_t c, size_t size, double epsilon,
                             float lo, float hi, void *scratch) {
    float *s = (float *)scratch;
    for (size_t k = 0; k < c; k++) s[k] = (float)((double)scale[k] / sqrt((double)var[k] + epsilon));
    radrt_batchnorm(x, mean, s, bias, y, n, c, size, lo, hi);
}

void radrt_layernorm(const float *x, const float *scale, const float *bias, float *y, float *mean_out,
                     float *inv_std_out, size_t rows, size_t len, double epsilon) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        float *yr = y + r * len;
        double sum = 0.0;
        for (size_t i = 0; i < len; i++) sum += (double)xr[i];
        const double mean = sum / (double)len;
        double sq = 0.0;
        for (size_t i = 0; i < len; i++) {
            const double d = (double)xr[i] - mean;
            sq += d * d;
        }
        const double inv_std = 1.0 / sqrt(sq / (double)len + epsilon);
        for (size_t i = 0; i < len; i++) {
            const double v = ((double)xr[i] - mean) * inv_std * (double)scale[i];
            yr[i] = (float)(bias ? v + (double)bias[i] : v);
        }
        if (mean_out) mean_out[r] = (float)mean;
        if (inv_std_out) inv_std_out[r] = (float)inv_std;
    }
}

void radrt_lrn(const float *x, float *y, size_t n, size_t c, size_t size, size_t before, size_t after,
               float alpha_over_size, float beta, float bias) {
    for (size_t b = 0; b < n; b++) {
        const float *xb = x + b * c * size;
        float *yb = y + b * c * size;
        for (size_t k = 0; k < c; k++) {
            float *yp = yb + k * size;
            const float *xp = xb + k * size;
            const size_t first = k >= before ? k - before : 0;
            const size_t last = k + after < c ? k + after : c - 1;
            for (size_t i = 0; i < size; i++) yp[i] = 0.0f;
            for (size_t j = first; j <= last; j++) {
                const float *xj = xb + j * size;
                for (size_t i = 0; i < size; i++) yp[i] += xj[i] * xj[i];
            }
            if (beta == 0.75f) {
                /* t^0.75 = sqrt(t) * sqrt(sqrt(t)): vectorised square roots instead of a
                 * powf call per element (the beta of AlexNet, ZFNet and GoogLeNet). */
                for (size_t i = 0; i < size; i++) {
                    float t = bias + alpha_over_size * yp[i], r = sqrtf(t);
                    yp[i] = xp[i] / (r * sqrtf(r));
                }
            } else {
                for (size_t i = 0; i < size; i++) yp[i] = xp[i] / powf(bias + alpha_over_size * yp[i], beta);
            }
        }
    }
}

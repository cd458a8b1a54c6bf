/* Reductions. The input is read once, in memory order; each element is folded
 * into its output's double accumulator, so every output combines its inputs
 * in row-major order of the reduced positions, whatever the axes: results are
 * fixed. Accumulators are double (max/min are exact either way). When the
 * innermost dim is kept the update is a vectorisable row loop; when it is
 * reduced, a scalar chain. ReduceLogSumExp makes two passes: the max per
 * output (kept in y), then the sum of exp(x - max) (a max of +-inf or NaN
 * shifts by 0 instead, so the result is that inf or NaN). An empty reduction
 * gives the identity: 0, 1, -inf (max, log-sums), +inf (min); mean gives NaN.
 */
#include "reduce.h"

#include <math.h>

static inline double take_max(double a, double v) { return (v > a || v != v) ? v : a; }
static inline double take_min(double a, double v) { return (v < a || v != v) ? v : a; }

static inline __attribute__((always_inline)) double step(double a, float v, double shift, int op) {
    const double d = (double)v;
    switch (op) {
    case RADRT_REDUCE_MAX: return take_max(a, d);
    case RADRT_REDUCE_MIN: return take_min(a, d);
    case RADRT_REDUCE_PROD: return a * d;
    case RADRT_REDUCE_L1: return a + fabs(d);
    case RADRT_REDUCE_L2:
    case RADRT_REDUCE_SUM_SQUARE: return a + d * d;
    case RADRT_REDUCE_LOG_SUM_EXP: return a + exp(d - shift);
    default: return a + d; /* SUM, MEAN, LOG_SUM */
    }
}

/* Fold every input element into acc; shift is read by LOG_SUM_EXP only. */
static inline __attribute__((always_inline)) void walk(const float *x, double *acc, const float *shift,
                                                       const radrt_reduce_params *p, int op) {
    const int64_t nd = p->ndims, inner = p->dims[nd - 1], inner_kept = p->out_stride[nd - 1] != 0;
    int64_t idx[RADRT_MAX_DIMS] = {0};
    int64_t rows = 1;
    for (int64_t k = 0; k < nd - 1; k++) rows *= p->dims[k];
    if (inner == 0) return;
    for (int64_t r = 0; r < rows; r++, x += inner) {
        int64_t ob = 0;
        for (int64_t k = 0; k < nd - 1; k++) ob += idx[k] * p->out_stride[k];
        if (inner_kept) {
            double *a = acc + ob;
            const float *s = shift + ob;
            for (int64_t i = 0; i < inner; i++)
                a[i] = step(a[i], x[i], op == RADRT_REDUCE_LOG_SUM_EXP ? (double)s[i] : 0.0, op);
        } else {
            double a = acc[ob];
            const double s = op == RADRT_REDUCE_LOG_SUM_EXP ? (double)shift[ob] : 0.0;
            for (int64_t i = 0; i < inner; i++) a = step(a, x[i], s, op);
            acc[ob] = a;
        }
        for (int64_t k = nd - 2; k >= 0; k--) { /* odometer over the outer dims */
            if (++idx[k] < p->dims[k]) break;
            idx[k] = 0;
        }
    }
}

static void fill(double *acc, int64_t n, double v) {
    for (int64_t i = 0; i < n; i++) acc[i] = v;
}

void radrt_reduce(const float *x, float *y, const radrt_reduce_params *p, void *scratch) {
    double *acc = (double *)scratch;
    const int64_t n = p->out_count;
    switch (p->op) {
    case RADRT_REDUCE_MAX:
        fill(acc, n, -INFINITY);
        walk(x, acc, y, p, RADRT_REDUCE_MAX);
        break;
    case RADRT_REDUCE_MIN:
        fill(acc, n, INFINITY);
        walk(x, acc, y, p, RADRT_REDUCE_MIN);
        break;
    case RADRT_REDUCE_PROD:
        fill(acc, n, 1.0);
        walk(x, acc, y, p, RADRT_REDUCE_PROD);
        break;
    case RADRT_REDUCE_L1:
        fill(acc, n, 0.0);
        walk(x, acc, y, p, RADRT_REDUCE_L1);
        break;
    case RADRT_REDUCE_L2:
    case RADRT_REDUCE_SUM_SQUARE:
        fill(acc, n, 0.0);
        walk(x, acc, y, p, RADRT_REDUCE_SUM_SQUARE);
        break;
    case RADRT_REDUCE_LOG_SUM_EXP:
        fill(acc, n, -INFINITY);
        walk(x, acc, y, p, RADRT_REDUCE_MAX);
        for (int64_t i = 0; i < n; i++) y[i] = isfinite(acc[i]) ? (float)acc[i] : 0.0f;
        fill(acc, n, 0.0);
        walk(x, acc, y, p, RADRT_REDUCE_LOG_SUM_EXP);
        break;
    default: /* SUM, MEAN, LOG_SUM */
        fill(acc, n, 0.0);
        walk(x, acc, y, p, RADRT_REDUCE_SUM);
        break;
    }
    for (int64_t i = 0; i < n; i++) {
        const double a = acc[i];
        switch (p->op) {
        case RADRT_REDUCE_MEAN: y[i] = (float)(a / (double)p->reduce_count); break;
        case RADRT_REDUCE_L2: y[i] = (float)sqrt(a); break;
        case RADRT_REDUCE_LOG_SUM: y[i] = (float)log(a); break;
        case RADRT_REDUCE_LOG_SUM_EXP: y[i] = (float)((double)y[i] + log(a)); break;
        default: y[i] = (float)a; break;
        }
    }
}

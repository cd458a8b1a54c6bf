/* Softmax, LogSoftmax and the reductions against double-precision loops:
 * inner == 1 rows and strided (outer, len, inner) views, odd lengths, NaN
 * and +-Inf along the axis, large values (the max shift); every reduce op
 * over random axis sets merged the way runtime/ops/reduce.py merges them.
 * Buffers and scratch are exactly sized (see check.h). */
#include "check.h"

#include "kernels/reduce.h"
#include "kernels/softmax.h"

static void softmax_reference(const float *x, double *y, size_t outer, size_t len, size_t inner, int log_sm) {
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++) {
            const float *xs = x + o * len * inner + j;
            double *ys = y + o * len * inner + j;
            double m = -INFINITY, s = 0.0;
            int nan = 0;
            for (size_t l = 0; l < len; l++) {
                nan |= isnan(xs[l * inner]);
                m = xs[l * inner] > m ? xs[l * inner] : m;
            }
            for (size_t l = 0; l < len; l++) s += exp((double)xs[l * inner] - m);
            for (size_t l = 0; l < len; l++) {
                double d = (double)xs[l * inner] - m;
                ys[l * inner] = nan ? NAN : log_sm ? d - log(s) : exp(d) / s;
            }
        }
}

static void check_softmax(size_t outer, size_t len, size_t inner, int specials) {
    const size_t n = outer * len * inner;
    float *x = rand_floats(n), *y = poison_floats(n), *y2 = poison_floats(n);
    double *want = exact_alloc(n * sizeof(double));
    void *scratch = exact_alloc(inner * (sizeof(double) + sizeof(float)));
    for (size_t i = 0; i < n; i++) x[i] *= 30.0f;
    if (specials == 1) x[rnd_int(0, (int64_t)n - 1)] = NAN;
    if (specials == 2) x[rnd_int(0, (int64_t)n - 1)] = -INFINITY;
    if (specials == 3)
        for (size_t i = 0; i < n; i++) x[i] += 1e4f; /* exp would overflow without the max shift */
    char label[96];
    for (int log_sm = 0; log_sm < 2; log_sm++) {
        snprintf(label, sizeof label, "%s %zux%zux%zu specials %d", log_sm ? "log_softmax" : "softmax", outer, len,
                 inner, specials);
        softmax_reference(x, want, outer, len, inner, log_sm);
        if (log_sm) {
            radrt_log_softmax(x, y, outer, len, inner, scratch);
            radrt_log_softmax(x, y2, outer, len, inner, scratch);
        } else {
            radrt_softmax(x, y, outer, len, inner, scratch);
            radrt_softmax(x, y2, outer, len, inner, scratch);
        }
        compare_floats(label, y, want, n, 1e-5, 1e-6);
        CHECK(memcmp(y, y2, n * sizeof(float)) == 0, "%s: two runs differ", label);
    }
    /* +inf along the axis gives NaN there (inf - inf) */
    if (specials == 0 && len > 1) {
        x[0] = INFINITY;
        radrt_softmax(x, y, outer, len, inner, scratch);
        CHECK(isnan(y[0]), "softmax with +inf: %g, expected NaN", y[0]);
    }
    free(x); free(y); free(y2); free(want); free(scratch);
}

/* ---- reductions ---------------------------------------------------------------- */

#define RANK 4

static double identity(int op) {
    switch (op) {
    case RADRT_REDUCE_MAX: return -INFINITY;
    case RADRT_REDUCE_MIN: return INFINITY;
    case RADRT_REDUCE_PROD: return 1.0;
    default: return 0.0;
    }
}

static void check_reduce(int op, const int64_t *shape, const int *reduced) {
    radrt_reduce_params p;
    memset(&p, 0, sizeof p);
    p.op = op;
    int64_t out_count = 1, reduce_count = 1, n = 1;
    int red_of[RADRT_MAX_DIMS];
    for (int d = 0; d < RANK; d++) {
        n *= shape[d];
        if (reduced[d]) reduce_count *= shape[d];
        else out_count *= shape[d];
        if (shape[d] == 1) continue;
        if (p.ndims && red_of[p.ndims - 1] == reduced[d]) {
            p.dims[p.ndims - 1] *= shape[d];
        } else {
            p.dims[p.ndims] = shape[d];
            red_of[p.ndims++] = reduced[d];
        }
    }
    if (!p.ndims) p.dims[0] = 1, red_of[0] = 0, p.ndims = 1;
    int64_t stride = 1;
    for (int64_t d = p.ndims - 1; d >= 0; d--) {
        p.out_stride[d] = red_of[d] ? 0 : stride;
        stride *= red_of[d] ? 1 : p.dims[d];
    }
    p.out_count = out_count;
    p.reduce_count = reduce_count;
    float *x = rand_floats(n), *y = poison_floats(out_count);
    double *want = exact_alloc(out_count * sizeof(double)), *acc = exact_alloc(out_count * sizeof(double));
    double *mx = exact_alloc(out_count * sizeof(double));
    void *scratch = exact_alloc(out_count * sizeof(double));
    if (op == RADRT_REDUCE_PROD)
        for (int64_t i = 0; i < n; i++) x[i] = 1.0f + 0.1f * x[i];
    for (int64_t o = 0; o < out_count; o++) acc[o] = identity(op), mx[o] = -INFINITY;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < n; i++) {
            int64_t r = i, o = 0, mul = 1;
            for (int d = RANK - 1; d >= 0; d--) {
                int64_t k = r % shape[d];
                r /= shape[d];
                if (!reduced[d]) o += k * mul, mul *= shape[d];
            }
            double v = x[i];
            if (pass == 0) {
                mx[o] = v > mx[o] ? v : mx[o];
                continue;
            }
            switch (op) {
            case RADRT_REDUCE_MAX: acc[o] = v > acc[o] ? v : acc[o]; break;
            case RADRT_REDUCE_MIN: acc[o] = v < acc[o] ? v : acc[o]; break;
            case RADRT_REDUCE_PROD: acc[o] *= v; break;
            case RADRT_REDUCE_L1: acc[o] += fabs(v); break;
            case RADRT_REDUCE_L2:
            case RADRT_REDUCE_SUM_SQUARE: acc[o] += v * v; break;
            case RADRT_REDUCE_LOG_SUM_EXP: acc[o] += exp(v - mx[o]); break;
            default: acc[o] += v; break;
            }
        }
    for (int64_t o = 0; o < out_count; o++) {
        double a = acc[o];
        switch (op) {
        case RADRT_REDUCE_MEAN: want[o] = a / (double)reduce_count; break;
        case RADRT_REDUCE_L2: want[o] = sqrt(a); break;
        case RADRT_REDUCE_LOG_SUM: want[o] = log(a); break;
        case RADRT_REDUCE_LOG_SUM_EXP: want[o] = mx[o] + log(a); break;
        default: want[o] = a; break;
        }
    }
    radrt_reduce(x, y, &p, scratch);
    char label[96];
    snprintf(label, sizeof label, "reduce op %d shape %ldx%ldx%ldx%ld axes %d%d%d%d", op, (long)shape[0],
             (long)shape[1], (long)shape[2], (long)shape[3], reduced[0], reduced[1], reduced[2], reduced[3]);
    compare_floats(label, y, want, out_count, 1e-5, 1e-6);
    free(x); free(y); free(want); free(acc); free(mx); free(scratch);
}

int main(void) {
    const size_t shapes[][3] = {{1, 1, 1}, {1, 1000, 1}, {3, 7, 1}, {2, 5, 3}, {1, 3, 17}, {4, 1, 5}, {1, 31, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int specials = 0; specials < 4; specials++) check_softmax(shapes[s][0], shapes[s][1], shapes[s][2], specials);
    for (int t = 0; t < 40; t++)
        check_softmax((size_t)rnd_int(1, 3), (size_t)rnd_int(1, 40), (size_t)rnd_int(1, 6), (int)rnd_int(0, 3));
    for (int t = 0; t < 300; t++) {
        int64_t shape[RANK];
        int reduced[RANK];
        for (int d = 0; d < RANK; d++) shape[d] = rnd_int(1, 6), reduced[d] = (int)rnd_int(0, 1);
        check_reduce((int)(t % 10), shape, reduced);
    }
    return finish("test_softmax_reduce");
}

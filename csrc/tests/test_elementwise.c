/* Broadcasting binary ops and the variadic ops against an index-by-index
 * reference: every op, every row kind (both operands contiguous, b constant
 * over the row, a constant, both constant), same shapes, scalars, per-channel
 * operands and random N-d broadcasts walked by the odometer, NaN operands for
 * Max/Min, output aliasing an input. The radrt_bcast_t is built here the way
 * runtime/ops/elementwise.py builds it. Buffers are exactly sized. */
#include "check.h"

#include "kernels/elementwise.h"

#define RANK 5

static double apply(int op, double x, double z) {
    switch (op) {
    case RADRT_BIN_ADD: return (float)x + (float)z;
    case RADRT_BIN_SUB: return (float)x - (float)z;
    case RADRT_BIN_MUL: return (float)x * (float)z;
    case RADRT_BIN_DIV: return (float)x / (float)z;
    case RADRT_BIN_POW: return pow(x, z);
    case RADRT_BIN_MAX: return (x > z || x != x) ? x : z;
    case RADRT_BIN_MIN: return (x < z || x != x) ? x : z;
    default: return x < 0.0 ? (float)x * (float)z : x; /* PRelu */
    }
}

/* Shapes of a and b broadcast to out (all RANK dims); merged like broadcast_params. */
static void make_params(radrt_bcast_t *p, int op, const int64_t *out, const int64_t *a, const int64_t *b) {
    int64_t size[RANK];
    int abc[RANK], bbc[RANK], n = 0;
    for (int d = 0; d < RANK; d++) {
        if (out[d] == 1) continue;
        int pa = a[d] == 1, pb = b[d] == 1;
        if (n && abc[n - 1] == pa && bbc[n - 1] == pb) {
            size[n - 1] *= out[d];
        } else {
            size[n] = out[d], abc[n] = pa, bbc[n] = pb;
            n++;
        }
    }
    if (!n) size[0] = 1, abc[0] = bbc[0] = 0, n = 1;
    memset(p, 0, sizeof *p);
    p->act_min = -INFINITY;
    p->act_max = INFINITY;
    p->op = op;
    p->ndim = n;
    int64_t run_a = 1, run_b = 1;
    for (int d = n - 1; d >= 0; d--) {
        p->shape[d] = size[d];
        p->a_stride[d] = abc[d] ? 0 : run_a;
        p->b_stride[d] = bbc[d] ? 0 : run_b;
        run_a *= abc[d] ? 1 : size[d];
        run_b *= bbc[d] ? 1 : size[d];
    }
}

static int64_t count(const int64_t *s) {
    int64_t n = 1;
    for (int d = 0; d < RANK; d++) n *= s[d];
    return n;
}

/* Element of x (shape s) at output index idx, broadcasting. */
static float at(const float *x, const int64_t *s, const int64_t *idx) {
    int64_t off = 0;
    for (int d = 0; d < RANK; d++) off = off * s[d] + (s[d] == 1 ? 0 : idx[d]);
    return x[off];
}

static void reference(int op, const int64_t *out, const float *a, const int64_t *as, const float *b,
                      const int64_t *bs, double *y) {
    int64_t n = count(out), idx[RANK];
    for (int64_t i = 0; i < n; i++) {
        int64_t r = i;
        for (int d = RANK - 1; d >= 0; d--) idx[d] = r % out[d], r /= out[d];
        y[i] = apply(op, at(a, as, idx), at(b, bs, idx));
    }
}

static void check_binary(int op, const int64_t *out, const int64_t *as, const int64_t *bs, int with_nan,
                         const char *what) {
    const size_t na = count(as), nb = count(bs), ny = count(out);
    float *a = rand_floats(na), *b = rand_floats(nb), *y = poison_floats(ny);
    double *want = exact_alloc(ny * sizeof(double));
    if (op == RADRT_BIN_POW)
        for (size_t i = 0; i < na; i++) a[i] = fabsf(a[i]) + 0.25f;
    if (with_nan) {
        a[rnd_int(0, (int64_t)na - 1)] = NAN;
        b[rnd_int(0, (int64_t)nb - 1)] = NAN;
    }
    radrt_bcast_t p;
    make_params(&p, op, out, as, bs);
    radrt_binary(&p, a, b, y);
    reference(op, out, a, as, b, bs, want);
    char label[200];
    snprintf(label, sizeof label, "%s op %d out %ldx%ldx%ldx%ldx%ld a %ldx%ldx%ldx%ldx%ld b %ldx%ldx%ldx%ldx%ld",
             what, op, (long)out[0], (long)out[1], (long)out[2], (long)out[3], (long)out[4], (long)as[0],
             (long)as[1], (long)as[2], (long)as[3], (long)as[4], (long)bs[0], (long)bs[1], (long)bs[2],
             (long)bs[3], (long)bs[4]);
    compare_floats(label, y, want, ny, op == RADRT_BIN_POW ? 1e-6 : 0.0, 0.0);
    /* in place over a, allowed when a has the output's shape */
    if (na == ny) {
        float *a2 = exact_alloc(na * sizeof(float));
        memcpy(a2, a, na * sizeof(float));
        radrt_binary(&p, a2, b, a2);
        CHECK(memcmp(a2, y, ny * sizeof(float)) == 0, "%s: in place over a differs", label);
        free(a2);
    }
    free(a); free(b); free(y); free(want);
}

static void random_shapes(int64_t *out, int64_t *as, int64_t *bs) {
    for (int d = 0; d < RANK; d++) {
        out[d] = rnd_int(0, 3) == 0 ? 1 : rnd_int(1, 7);
        int kind = (int)rnd_int(0, 3); /* 0: both full, 1: a broadcast, 2: b broadcast, 3: both */
        as[d] = (kind == 1 || kind == 3) ? 1 : out[d];
        bs[d] = (kind == 2 || kind == 3) ? 1 : out[d];
    }
    /* the output is the broadcast of a and b: a dim both broadcast is 1 */
    for (int d = 0; d < RANK; d++)
        if (as[d] == 1 && bs[d] == 1) out[d] = 1;
}

static void variadic(void) {
    for (int t = 0; t < 60; t++) {
        int64_t out[RANK], shapes[4][RANK];
        size_t n_in = (size_t)rnd_int(2, 4), ny;
        for (int d = 0; d < RANK; d++) out[d] = rnd_int(1, 4);
        for (size_t k = 0; k < n_in; k++)
            for (int d = 0; d < RANK; d++) shapes[k][d] = rnd_int(0, 1) ? out[d] : 1;
        /* the output is the broadcast of the inputs */
        for (int d = 0; d < RANK; d++) {
            int64_t m = 1;
            for (size_t k = 0; k < n_in; k++) m = shapes[k][d] > m ? shapes[k][d] : m;
            out[d] = m;
        }
        ny = count(out);
        int ops[] = {RADRT_BIN_MAX, RADRT_BIN_MIN, RADRT_BIN_ADD};
        int op = ops[t % 3];
        float divisor = t % 6 == 2 ? (float)n_in : 1.0f; /* Mean */
        const float *inputs[4];
        float *bufs[4];
        radrt_bcast_t steps[3];
        for (size_t k = 0; k < n_in; k++) inputs[k] = bufs[k] = rand_floats(count(shapes[k]));
        make_params(&steps[0], op, out, shapes[0], shapes[1]);
        for (size_t k = 2; k < n_in; k++) make_params(&steps[k - 1], op, out, out, shapes[k]);
        float *y = poison_floats(ny);
        double *want = exact_alloc(ny * sizeof(double));
        radrt_variadic(steps, inputs, n_in, y, ny, divisor);
        int64_t idx[RANK];
        for (size_t i = 0; i < ny; i++) {
            int64_t r = (int64_t)i;
            for (int d = RANK - 1; d >= 0; d--) idx[d] = r % out[d], r /= out[d];
            float acc = at(inputs[0], shapes[0], idx);
            for (size_t k = 1; k < n_in; k++) acc = (float)apply(op, acc, at(inputs[k], shapes[k], idx));
            want[i] = divisor != 1.0f ? acc / divisor : acc;
        }
        compare_floats("variadic", y, want, ny, 1e-7, 0.0);
        for (size_t k = 0; k < n_in; k++) free(bufs[k]);
        free(y); free(want);
    }
}

int main(void) {
    /* each row kind on its own: same shape (vv), row-constant b (vs), row-constant a (sv), both (ss) */
    const int64_t out[RANK] = {1, 2, 3, 4, 9}, col[RANK] = {1, 2, 3, 4, 1}, one[RANK] = {1, 1, 1, 1, 1};
    const int64_t chan_out[RANK] = {1, 2, 5, 3, 7}, chan[RANK] = {1, 1, 5, 1, 1};
    for (int op = 0; op <= RADRT_BIN_PRELU; op++) {
        check_binary(op, out, out, out, 0, "vv");
        check_binary(op, out, out, col, 0, "vs");
        check_binary(op, out, col, out, 0, "sv");
        check_binary(op, out, col, col, 0, "ss");
        check_binary(op, out, out, one, 1, "scalar b");
        check_binary(op, out, one, out, 1, "scalar a");
        check_binary(op, chan_out, chan_out, chan, 0, "per channel");
        check_binary(op, chan_out, chan, chan_out, 0, "per channel a");
        check_binary(op, one, one, one, 1, "scalars");
    }
    for (int t = 0; t < 400; t++) {
        int64_t o[RANK], as[RANK], bs[RANK];
        random_shapes(o, as, bs);
        check_binary((int)(t % (RADRT_BIN_PRELU + 1)), o, as, bs, t % 7 == 0, "random");
    }
    variadic();
    return finish("test_elementwise");
}

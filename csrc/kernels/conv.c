/* Conv as GEMM: per image and group, Y_g (Cout/g x out) = W_g (Cout/g x K) *
 * im2col(X_g) (K x out), K = Cin/g * prod(kernel). The im2col matrix is never
 * materialised: the GEMM packs its B panels straight from the image (or, for
 * a 1x1 stride-1 unpadded conv, reads X_g as a dense matrix). Bias and the
 * activation clamp are the GEMM epilogue.
 *
 * Depthwise (one input channel per group) runs direct loops instead. Each
 * input plane is copied into a zero-framed padded plane in scratch, so every
 * window lies inside it and no loop tests bounds. Outputs are computed 8 at a
 * time in vector registers: each starts at its bias, adds every tap in
 * (kd, kh, kw) order (a padding tap adds w * 0, as the GEMM path does), is
 * clamped and stored once. With stride 1 along H and W the output rows are
 * computed PW (padded row length) wide, so a plane is one line whose taps
 * sit at fixed offsets, and the extra columns are dropped when copied out;
 * other strides go row by row (stride 2 loads two vectors and keeps the even
 * lanes). Vectors past a line's end read zeros after the plane (slack) into
 * lanes that are never stored. A line goes DW_NV vectors at a time (independent
 * accumulators: FMA latency hidden), then 4, then 1; a square 3x3 or 5x5 kernel of
 * depth 1 and dilation 1 has instances with its tap loops unrolled, doing the same
 * operations in the same order (each output's value does not depend on the
 * instance). Rows are copied in and out by copy_row, inline.
 *
 * ABFT of the depthwise path (ck, side RADRT_ABFT_DEPTHWISE; Huang & Abraham's
 * checksum applied per output plane). For one image and output channel with taps
 * w_t, the pre-clamp values r_p = bias + sum_t w_t xpad[p*stride + t*dilation]
 * (xpad the padded plane) summed over a set of n positions p satisfy
 *   sum_p r_p = sum_t w_t S(t) + n bias,   S(t) = sum_p xpad[p*stride + t*dilation].
 * observed: the checked kernel instances add the pre-clamp vectors acc of every
 * line they compute (lanes past a line's end masked), up to DW_NV vectors in float32,
 * then into a float64 vector per channel (so constant planes do not accumulate a
 * systematic float32 error over thousands of outputs). In the row by row layout the
 * positions are the n = n_out outputs. In the wide stride-1 layout a line is a whole
 * od-plane of PW wide rows: its extra columns (computed, never stored) count too, so
 * no lane mask per vector, and n = OD * OH * PW.
 * expected and mag: S(t) and A(t) (the same sums of |xpad|) for every tap, computed
 * once per input plane (shared by its channel multiplier outputs) in float64 by
 * dw_window_sums: per column block, a running sum down the rows of one stride
 * residue class gives, from two snapshots, each tap row's column sums over the
 * output rows; along depth the planes of each tap's lattice add up; along a row the
 * sum over the output columns of the tap (row by row layout), or over the whole
 * padded row shifted by the tap's column offset (wide layout: the full rows, minus
 * the tap's first columns of the window's first row, plus those of the row after
 * its last). That is one pass over the padded plane (vector float64 adds) plus
 * O(taps * out width + kernel rows * padded width), instead of the n_out * taps
 * products of the convolution.
 * expected = sum_t w_t S(t) + n bias, mag = sum_t |w_t| A(t) + n |bias|, compared by
 * radrt_abft_check_sums (gemm.h: the GEMM's tolerance; once per image) with K = taps
 * (products summed into one value: an FMA chain from the bias) and n (values summed
 * into one checksum). The expected side is float64 here, so the bound's second dot-product
 * term is spare margin.
 * The output seal (ck->seal) is read back from the output planes as they are
 * stored, at least every DW_SEAL_FLOATS floats (so from cache: an unchecked window
 * of a few planes' compute time); in the wide layout the rows go through the acc
 * line in scratch first, a window of one plane (the checksum covers acc in
 * registers, the seal covers y from its copy on).
 * The checked instances compute acc with the same operations as the unchecked ones:
 * y is the same bits with or without ck. */
#include "conv.h"
#include "gemm.h"
#include "../core.h"
#include "../protect/seal.h"

#include <math.h>
#include <string.h>

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

#if defined(__AVX512F__)
#define VW 16
#define VW_EVEN {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}
#define VW_IOTA {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
#else
#define VW 8
#define VW_EVEN {0, 2, 4, 6, 8, 10, 12, 14}
#define VW_IOTA {0, 1, 2, 3, 4, 5, 6, 7}
#endif
#define DW_NV 8 /* output vectors a depthwise line computes at once */
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef double vd __attribute__((vector_size(VW * 8)));
typedef int64_t vl __attribute__((vector_size(VW * 8)));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* VW values p[0], p[step], ...; sw is the step when 1 or 2, else 0 (any). */
static inline __attribute__((always_inline)) vf load_step(const float *p, int64_t step, int sw) {
    if (sw == 1) return vload(p);
    if (sw == 2) return __builtin_shuffle(vload(p), vload(p + VW), (vi)VW_EVEN);
    float t[VW];
    for (int l = 0; l < VW; l++) t[l] = p[l * step];
    return vload(t);
}

/* max(r, lo) then min(r, hi), written as compares so NaN passes through. */
static inline vf vclamp(vf r, float lo, float hi) {
    vf l = (vf){0} + lo, h = (vf){0} + hi;
    vi m = r < l;
    r = (vf)(((vi)r & ~m) | ((vi)l & m));
    m = r > h;
    return (vf)(((vi)r & ~m) | ((vi)h & m));
}

/* n floats from src to dst, inline: the depthwise path copies rows of a plane (in
 * and out of its padded line), and a memcpy call per row cost a quarter of the
 * convolution. The empty asm hides the index from GCC, which would otherwise turn
 * the loop back into that call. */
static inline void copy_row(float *restrict dst, const float *restrict src, int64_t n) {
    int64_t j = 0;
    for (; j + VW <= n; j += VW) {
        vf v = vload(src + j);
        memcpy(dst + j, &v, sizeof v);
        __asm__("" : "+r"(j));
    }
    for (; j < n; j++) {
        dst[j] = src[j];
        __asm__("" : "+r"(j));
    }
}

/* Padded plane sizes of a depthwise conv: the input at the begin pads, room for every window. */
static void dw_padded(const radrt_im2col *g, int64_t *padded) {
    for (int a = 0; a < 3; a++) {
        int64_t reach = radrt_size_add(radrt_size_add(radrt_size_mul(g->out[a] - 1, g->stride[a]),
                                                      radrt_size_mul(g->kernel[a] - 1, g->dilation[a])), 1);
        int64_t inside = radrt_size_add(g->in[a], g->pad[a]);
        padded[a] = reach < 0 || inside < 0 ? -1 : inside > reach ? inside : reach;
    }
}

static int dw_wide(const radrt_im2col *g) { return g->stride[1] == 1 && g->stride[2] == 1; }

/* Sizes below are computed with radrt_size_mul/add: -1 when they overflow int64. */
static int64_t checked_prod3(const int64_t *v) { return radrt_size_mul(radrt_size_mul(v[0], v[1]), v[2]); }

static int64_t dw_padded_floats(const radrt_im2col *g) {
    int64_t padded[3];
    dw_padded(g, padded);
    int64_t slack = radrt_size_add(radrt_size_add(radrt_size_mul(g->kernel[2] - 1, g->dilation[2]),
                                                  radrt_size_mul(VW, g->stride[2])), 1);
    return radrt_size_add(checked_prod3(padded), slack);
}

/* ---- IM2COL with padding: a zero-framed copy of the group's input ----
 * Without ABFT, a padded convolution packs the GEMM's B panels from a copy of the
 * group's input inside a zero frame (dw_padded's sizes, every window inside it), with
 * pads 0: the packing then tests no bounds (gemm.c pack_b_im2col_inside), which
 * made the packing cost as much as the products for few output channels. The
 * values packed are the same, so y is the same bits. With ABFT the packing reads x
 * itself, as before: a copy living through the whole GEMM would be data the
 * checksums cannot tell from x (they are predicted from the packed panels). */
/* 1 when some window of g reaches outside the input (padding at either end). */
static int has_pads(const radrt_im2col *g) {
    for (int a = 0; a < 3; a++)
        if (g->pad[a] || (g->out[a] - 1) * g->stride[a] + (g->kernel[a] - 1) * g->dilation[a] >= g->in[a]) return 1;
    return 0;
}

/* Floats of the framed copy (channels padded planes), 0 without pads, -1 on overflow. */
static int64_t im2col_framed_floats(const radrt_im2col *g) {
    if (!has_pads(g)) return 0;
    int64_t padded[3];
    dw_padded(g, padded);
    if (padded[0] < 0 || padded[1] < 0 || padded[2] < 0) return -1;
    return radrt_size_mul(g->channels, checked_prod3(padded));
}

/* xg (channels planes of g->in) into framed, zero outside; *inside gets g with the
 * padded sizes and pads 0. */
static void im2col_frame(const radrt_im2col *g, const float *xg, float *framed, radrt_im2col *inside) {
    int64_t padded[3];
    dw_padded(g, padded);
    const int64_t PD = padded[0], PH = padded[1], PW = padded[2];
    const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
    const int64_t d0 = g->pad[0], h0 = g->pad[1], w0 = g->pad[2];
    for (int64_t c = 0; c < g->channels; c++)
        for (int64_t pd = 0; pd < PD; pd++)
            for (int64_t ph = 0; ph < PH; ph++) {
                float *row = framed + ((c * PD + pd) * PH + ph) * PW;
                const int64_t id = pd - d0, ih = ph - h0;
                if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
                    memset(row, 0, (size_t)PW * sizeof(float));
                    continue;
                }
                memset(row, 0, (size_t)w0 * sizeof(float));
                memcpy(row + w0, xg + ((c * ID + id) * IH + ih) * IW, (size_t)IW * sizeof(float));
                memset(row + w0 + IW, 0, (size_t)(PW - w0 - IW) * sizeof(float));
            }
    *inside = *g;
    for (int a = 0; a < 3; a++) {
        inside->in[a] = padded[a];
        inside->pad[a] = 0;
    }
}

size_t radrt_conv_scratch_floats(const radrt_conv_params *p) {
    const radrt_im2col *g = &p->geom;
    if (p->mode == RADRT_CONV_DEPTHWISE) {
        int64_t padded[3];
        dw_padded(g, padded);
        int64_t n = radrt_size_add(dw_padded_floats(g), dw_wide(g) ? radrt_size_mul(g->out[1], padded[2]) : 0);
        return n < 0 ? SIZE_MAX : (size_t)n;
    }
    int64_t M = p->group > 0 ? p->out_channels / p->group : -1;
    int64_t K = radrt_size_mul(g->channels, checked_prod3(g->kernel));
    size_t n = radrt_sgemm_scratch_floats(M, checked_prod3(g->out), K, p->w_packed, 0);
    int64_t framed = p->mode == RADRT_CONV_IM2COL ? im2col_framed_floats(g) : 0;
    if (n == SIZE_MAX || framed < 0 || (uint64_t)framed > (uint64_t)(INT64_MAX - (int64_t)n)) return SIZE_MAX;
    return n + (size_t)framed;
}

typedef struct {
    const radrt_im2col *g;
    int64_t PH, PW;
    const float *w; /* this output channel's taps */
    float bias, lo, hi;
} dw_line_args;

/* out[j .. j + nv*VW) (stored up to n) from src[j * step + tap offsets]. ck (a
 * constant): also return the sum of the pre-clamp vectors over the stored lanes. */
static inline __attribute__((always_inline)) vf dw_vectors(const dw_line_args *a, const float *src, float *out,
                                                           int64_t j, int64_t n, int64_t step, int nv, int sw,
                                                           const int ck, const int fk) {
    const radrt_im2col *g = a->g;
    /* fk (a constant): 0, or a square fk x fk kernel of depth 1, dilation 1: the tap
     * loops then unroll and the accumulators stay in registers */
    const int64_t KD = fk ? 1 : g->kernel[0], KH = fk ? fk : g->kernel[1], KW = fk ? fk : g->kernel[2];
    const int64_t d0 = fk ? 1 : g->dilation[0], d1 = fk ? 1 : g->dilation[1], d2 = fk ? 1 : g->dilation[2];
    vf acc[DW_NV];
    for (int v = 0; v < nv; v++) acc[v] = (vf){0} + a->bias;
    const float *base = src + j * step;
    for (int64_t kd = 0; kd < KD; kd++)
        for (int64_t kh = 0; kh < KH; kh++) {
            const float *row = base + (kd * d0 * a->PH + kh * d1) * a->PW;
            const float *wr = a->w + (kd * KH + kh) * KW;
            for (int64_t kw = 0; kw < KW; kw++) {
                const float *t = row + kw * d2;
                const float wt = wr[kw];
                for (int v = 0; v < nv; v++) acc[v] += load_step(t + v * VW * step, step, sw) * wt;
            }
        }
    vf osum = {0};
    for (int v = 0; v < nv; v++) {
        int64_t at = j + v * VW;
        if (ck && at + VW <= n) {
            osum += acc[v];
        } else if (ck && at < n) {
            vi m = (vi)VW_IOTA < ((vi){0} + (int32_t)(n - at));
            osum += (vf)((vi)acc[v] & m);
        }
        vf r = vclamp(acc[v], a->lo, a->hi);
        if (at + VW <= n) memcpy(out + at, &r, sizeof r); /* one vector store */
        else if (at < n) memcpy(out + at, &r, (size_t)(n - at) * sizeof(float));
    }
    return osum;
}

static inline __attribute__((always_inline)) vd dw_line(const dw_line_args *a, const float *src, float *out,
                                                        int64_t n, int64_t step, int sw, const int ck, const int fk) {
    vd osum = {0};
    int64_t j = 0;
    for (; j + DW_NV * VW <= n; j += DW_NV * VW) {
        vf s = dw_vectors(a, src, out, j, n, step, DW_NV, sw, ck, fk);
        if (ck) osum += __builtin_convertvector(s, vd);
    }
    for (; j + 4 * VW <= n; j += 4 * VW) {
        vf s = dw_vectors(a, src, out, j, n, step, 4, sw, ck, fk);
        if (ck) osum += __builtin_convertvector(s, vd);
    }
    for (; j < n; j += VW) {
        vf s = dw_vectors(a, src, out, j, n, step, 1, sw, ck, fk);
        if (ck) osum += __builtin_convertvector(s, vd);
    }
    return osum;
}

/* One output plane from the padded input plane. ck (a constant): return the sum of
 * its pre-clamp values (top comment). */
static inline __attribute__((always_inline)) double dw_plane(const dw_line_args *a, const float *pad, float *y,
                                                             float *acc, int sw, const int ck, const int fk) {
    const radrt_im2col *g = a->g;
    const int64_t OH = g->out[1], OW = g->out[2];
    vd osum = {0};
    for (int64_t od = 0; od < g->out[0]; od++) {
        const float *plane = pad + od * g->stride[0] * a->PH * a->PW;
        if (dw_wide(g)) {
            vd s = dw_line(a, plane, acc, OH * a->PW, 1, 1, ck, fk);
            if (ck) osum += s;
            for (int64_t oh = 0; oh < OH; oh++) copy_row(y + (od * OH + oh) * OW, acc + oh * a->PW, OW);
        } else {
            for (int64_t oh = 0; oh < OH; oh++) {
                vd s = dw_line(a, plane + oh * g->stride[1] * a->PW, y + (od * OH + oh) * OW, OW, g->stride[2],
                               sw, ck, fk);
                if (ck) osum += s;
            }
        }
    }
    double total = 0.0;
    if (ck)
        for (int l = 0; l < VW; l++) total += osum[l];
    return total;
}

/* ---- depthwise ABFT: window sums of the padded plane (see the top comment) ---- */

static int64_t round_vw(int64_t n) { return (n + VW - 1) / VW * VW; }

/* The checked path seals its output at least every this many floats (16 KiB). */
#define DW_SEAL_FLOATS 4096

/* 1 when padded index t is at o * s for some output position o < O. */
static int dw_in_lattice(int64_t t, int64_t s, int64_t O) {
    if (s == 1) return t >= 0 && t < O;
    return t >= 0 && t % s == 0 && t / s < O;
}

/* The first kh' >= kh whose row offset is in residue class r (res[kh'] = kh' * d1
 * mod s1), or KH. */
static int64_t dw_next_kh(int64_t kh, int64_t KH, const int64_t *res, int64_t r) {
    while (kh < KH && res[kh] != r) kh++;
    return kh;
}

/* V[kd][kh] += (vx, va) at columns [c0, c0 + VW) for every kd whose depth lattice
 * holds padded plane id (V: per (kd, kh), PWr sums of x then PWr sums of |x|). */
static inline __attribute__((always_inline)) void dw_window_add(const radrt_im2col *g, double *V, int64_t PWr,
                                                                int64_t id, int64_t kh, int64_t c0, const vd *px_,
                                                                const vd *pa_) {
    const vd vx = *px_, va = *pa_; /* by pointer: a 128-byte vector argument has no ABI to pass it in */
    for (int64_t kd = 0; kd < g->kernel[0]; kd++) {
        if (!dw_in_lattice(id - kd * g->dilation[0], g->stride[0], g->out[0])) continue;
        double *px = V + (kd * g->kernel[1] + kh) * 2 * PWr + c0, *pa = px + PWr;
        vd t;
        memcpy(&t, px, sizeof t);
        t += vx;
        memcpy(px, &t, sizeof t);
        memcpy(&t, pa, sizeof t);
        t += va;
        memcpy(pa, &t, sizeof t);
    }
}

/* S[t] and A[t] (taps in (kd, kh, kw) order): the sums of xpad and of |xpad| over
 * the positions tap t reads for the values the checked kernel sums (top comment),
 * in float64. res: KH residues (kh * d1 mod s1); V: KD * KH * 2 * PWr doubles. */
static void dw_window_sums(const radrt_im2col *g, const int64_t *padded, const float *pad, const int64_t *res,
                           double *S, double *A, double *V) {
    const int64_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const int64_t PH = padded[1], PW = padded[2], PWr = round_vw(PW);
    const int64_t s1 = g->stride[1], s2 = g->stride[2], d1 = g->dilation[1], d2 = g->dilation[2];
    const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
    const vl absmask = (vl){0} + INT64_MAX;
    memset(V, 0, (size_t)(KD * KH * 2 * PWr) * sizeof(double));
    for (int64_t id = 0; id < padded[0]; id++) {
        int used = 0;
        for (int64_t kd = 0; kd < KD; kd++) used |= dw_in_lattice(id - kd * g->dilation[0], g->stride[0], OD);
        if (!used) continue;
        const float *plane = pad + id * PH * PW;
        for (int64_t r = 0; r < s1; r++) {
            const int64_t first = dw_next_kh(0, KH, res, r);
            if (first == KH) continue;
            for (int64_t c0 = 0; c0 < PW; c0 += VW) {
                /* Running sums of rows r, r + s1, ... up to j; tap row kh's window is
                 * rows kh*d1 + oh*s1, oh < OH: (sum after its last row) - (sum before its first). */
                vd rx = {0}, ra = {0};
                int64_t j = r, lo = first, hi = first;
                while (hi < KH) {
                    const int64_t elo = lo < KH ? lo * d1 - s1 : INT64_MAX, ehi = hi * d1 + (OH - 1) * s1;
                    const int64_t e = elo < ehi ? elo : ehi;
                    for (; j <= e; j += s1) {
                        vd xv = __builtin_convertvector(vload(plane + j * PW + c0), vd);
                        rx += xv;
                        ra += (vd)((vl)xv & absmask);
                    }
                    if (e == elo) {
                        if (elo >= 0) {
                            const vd nx = -rx, na = -ra;
                            dw_window_add(g, V, PWr, id, lo, c0, &nx, &na);
                        }
                        lo = dw_next_kh(lo + 1, KH, res, r);
                    } else {
                        dw_window_add(g, V, PWr, id, hi, c0, &rx, &ra);
                        hi = dw_next_kh(hi + 1, KH, res, r);
                    }
                }
            }
        }
    }
    const int wide = dw_wide(g);
    for (int64_t kd = 0; kd < KD; kd++)
        for (int64_t kh = 0; kh < KH; kh++) {
            const double *vx = V + (kd * KH + kh) * 2 * PWr, *va = vx + PWr;
            double *St = S + (kd * KH + kh) * KW, *At = A + (kd * KH + kh) * KW;
            if (!wide) {
                for (int64_t kw = 0; kw < KW; kw++) {
                    double sx = 0.0, sa = 0.0;
                    for (int64_t ow = 0; ow < OW; ow++) {
                        sx += vx[kw * d2 + ow * s2];
                        sa += va[kw * d2 + ow * s2];
                    }
                    St[kw] = sx;
                    At[kw] = sa;
                }
                continue;
            }
            /* wide: whole rows, then per plane the first kw*d2 values of the row after
             * the window (added) and of its first row (removed) */
            double fx = 0.0, fa = 0.0;
            for (int64_t c = 0; c < PW; c++) {
                fx += vx[c];
                fa += va[c];
            }
            for (int64_t kw = 0; kw < KW; kw++) {
                St[kw] = fx;
                At[kw] = fa;
            }
            for (int64_t od = 0; od < OD; od++) {
                const float *first = pad + ((od * g->stride[0] + kd * g->dilation[0]) * PH + kh * d1) * PW;
                const float *after = first + OH * PW;
                double px = 0.0, pa = 0.0;
                int64_t c = 0;
                for (int64_t kw = 0; kw < KW; kw++) {
                    for (; c < kw * d2; c++) {
                        px += (double)after[c] - (double)first[c];
                        pa += fabs((double)after[c]) - fabs((double)first[c]);
                    }
                    St[kw] += px;
                    At[kw] += pa;
                }
            }
        }
}

size_t radrt_conv_abft_work_floats(const radrt_conv_params *p) {
    const radrt_im2col *g = &p->geom;
    if (p->mode != RADRT_CONV_DEPTHWISE)
        return radrt_abft_work_floats(p->group > 0 ? p->out_channels / p->group : -1, checked_prod3(g->out),
                                      RADRT_ABFT_COLUMNS);
    int64_t padded[3];
    dw_padded(g, padded);
    /* 8-byte words: S and A (taps each), V (KD * KH * 2 * PWr doubles), the KH row
     * residues, expected / mag / observed per output channel */
    int64_t pwr = padded[2] < 0 || padded[2] > INT64_MAX - VW ? -1 : round_vw(padded[2]);
    int64_t words = radrt_size_add(radrt_size_mul(2, checked_prod3(g->kernel)),
                                   radrt_size_mul(radrt_size_mul(g->kernel[0], g->kernel[1]), radrt_size_mul(2, pwr)));
    words = radrt_size_add(radrt_size_add(words, g->kernel[1]), radrt_size_mul(3, p->out_channels));
    int64_t n = radrt_size_mul(2, words);
    return n < 0 || pwr < 0 ? SIZE_MAX : (size_t)n;
}

static void conv_depthwise(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                           float *scratch, radrt_abft *ck) {
    const radrt_im2col *g = &p->geom;
    const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
    const int64_t taps = prod3(g->kernel), per_group = p->out_channels / p->group;
    const int64_t in_plane = prod3(g->in), out_plane = prod3(g->out);
    int64_t padded[3];
    dw_padded(g, padded);
    const int64_t PH = padded[1], PW = padded[2];
    const size_t npad = (size_t)dw_padded_floats(g); /* checked by radrt_conv_scratch_floats */
    float *pad = scratch, *acc = scratch + npad;
    memset(pad, 0, npad * sizeof(float)); /* the frame; each plane overwrites the inside */
    float *inside = pad + (g->pad[0] * PH + g->pad[1]) * PW + g->pad[2];
    /* ABFT work: S, A, V, expected, mag, observed (doubles), the row residues kh * d1 mod s1 */
    double *S = NULL, *A = NULL, *V = NULL, *ex = NULL, *mg = NULL, *ob = NULL;
    int64_t *res = NULL;
    radrt_seal *seal = ck ? (radrt_seal *)(void *)ck->seal : NULL;
    if (ck) {
        S = (double *)(void *)ck->work;
        A = S + taps;
        V = A + taps;
        ex = V + g->kernel[0] * g->kernel[1] * 2 * round_vw(PW);
        mg = ex + p->out_channels;
        ob = mg + p->out_channels;
        res = (int64_t *)(void *)(ob + p->out_channels);
        for (int64_t kh = 0; kh < g->kernel[1]; kh++) res[kh] = kh * g->dilation[1] % g->stride[1];
    }
    /* a square 3x3 or 5x5 kernel of depth 1 and dilation 1 runs an instance with its
     * taps unrolled (the same operations, in the same order) */
    const int sq = g->kernel[0] == 1 && g->kernel[1] == g->kernel[2] && g->dilation[1] == 1 && g->dilation[2] == 1;
    const int fk = sq && (g->kernel[1] == 3 || g->kernel[1] == 5) ? (int)g->kernel[1] : 0;
    /* values summed into one checksum: the wide layout sums its PW wide rows */
    const int64_t n_sum = dw_wide(g) ? g->out[0] * g->out[1] * PW : out_plane;
    for (int64_t n = 0; n < p->batch; n++) {
        const int64_t image = n * p->out_channels * out_plane; /* y's offset of this image */
        int64_t sealed = 0; /* floats of this image sealed */
        for (int64_t ci = 0; ci < p->in_channels; ci++) {
            const float *xc = x + (n * p->in_channels + ci) * in_plane;
            for (int64_t id = 0; id < ID; id++)
                for (int64_t ih = 0; ih < IH; ih++)
                    copy_row(inside + (id * PH + ih) * PW, xc + (id * IH + ih) * IW, IW);
            if (ck) dw_window_sums(g, padded, pad, res, S, A, V);
            for (int64_t co = ci * per_group; co < (ci + 1) * per_group; co++) {
                dw_line_args a = {g, PH, PW, w + co * taps, bias ? bias[co] : 0.0f, p->act_min, p->act_max};
                float *yc = y + (n * p->out_channels + co) * out_plane;
                if (!ck) {
                    if (fk == 3 && g->stride[2] == 1) dw_plane(&a, pad, yc, acc, 1, 0, 3);
                    else if (fk == 3 && g->stride[2] == 2) dw_plane(&a, pad, yc, acc, 2, 0, 3);
                    else if (fk == 5 && g->stride[2] == 1) dw_plane(&a, pad, yc, acc, 1, 0, 5);
                    else if (fk == 5 && g->stride[2] == 2) dw_plane(&a, pad, yc, acc, 2, 0, 5);
                    else if (g->stride[2] == 1) dw_plane(&a, pad, yc, acc, 1, 0, 0);
                    else if (g->stride[2] == 2) dw_plane(&a, pad, yc, acc, 2, 0, 0);
                    else dw_plane(&a, pad, yc, acc, 0, 0, 0);
                    continue;
                }
                double observed;
                if (fk == 3 && g->stride[2] == 1) observed = dw_plane(&a, pad, yc, acc, 1, 1, 3);
                else if (fk == 3 && g->stride[2] == 2) observed = dw_plane(&a, pad, yc, acc, 2, 1, 3);
                else if (fk == 5 && g->stride[2] == 1) observed = dw_plane(&a, pad, yc, acc, 1, 1, 5);
                else if (fk == 5 && g->stride[2] == 2) observed = dw_plane(&a, pad, yc, acc, 2, 1, 5);
                else if (g->stride[2] == 1) observed = dw_plane(&a, pad, yc, acc, 1, 1, 0);
                else if (g->stride[2] == 2) observed = dw_plane(&a, pad, yc, acc, 2, 1, 0);
                else observed = dw_plane(&a, pad, yc, acc, 0, 1, 0);
                const int64_t stored = (co + 1) * out_plane;
                if (seal && (stored - sealed >= DW_SEAL_FLOATS || co == p->out_channels - 1)) {
                    radrt_seal_add(seal, y + image + sealed, (size_t)(stored - sealed) * sizeof(float),
                                   (uint64_t)(ck->seal_base + image + sealed));
                    sealed = stored;
                }
                /* expected and mag from the golden taps when given, else the taps as read */
                const float *wc = (ck->wsum ? ck->wsum : w) + co * taps;
                double expected = 0.0, mag = 0.0;
                for (int64_t t = 0; t < taps; t++) {
                    expected += (double)wc[t] * S[t];
                    mag += fabs((double)wc[t]) * A[t];
                }
                const double b = bias ? bias[co] : 0.0;
                ex[co] = expected + (double)n_sum * b;
                mg[co] = mag + (double)n_sum * fabs(b);
                ob[co] = observed;
            }
        }
        if (ck) radrt_abft_check_sums(ck, ex, mg, ob, p->out_channels, taps, n_sum);
    }
}

void radrt_conv(const radrt_conv_params *p, const float *x, const float *w, const float *bias, float *y,
                float *scratch, radrt_abft *ck) {
    if (p->mode == RADRT_CONV_DEPTHWISE) {
        conv_depthwise(p, x, w, bias, y, scratch, ck);
        return;
    }
    const radrt_im2col *g = &p->geom;
    const int64_t M = p->out_channels / p->group, K = g->channels * prod3(g->kernel);
    const int64_t out_size = prod3(g->out), in_size = prod3(g->in);
    /* the framed copy follows the GEMM's packing buffers (sizes checked by radrt_conv_scratch_floats) */
    float *framed = scratch + radrt_sgemm_scratch_floats(M, out_size, K, p->w_packed, 0);
    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t gi = 0; gi < p->group; gi++) {
            const float *xg = x + (n * p->in_channels + gi * g->channels) * in_size;
            radrt_operand a = p->w_packed ? (radrt_operand){w + gi * p->w_group_floats, 0, 0, 1}
                                          : (radrt_operand){w + gi * M * K, K, 1, 0};
            radrt_operand b = {xg, in_size, 1, 0};
            radrt_epilogue ep = {1.0f, 1.0f, bias ? bias + gi * M : NULL, 1, 0, p->act_min, p->act_max};
            float *yg = y + (n * p->out_channels + gi * M) * out_size;
            /* ABFT: this group's view of the checksums; results are added back. */
            radrt_abft view, *v = NULL;
            if (ck) {
                view = *ck;
                view.wsum = ck->wsum + gi * K;
                view.wabs = ck->wabs + gi * K;
                view.bias_sum = ck->bias_sum ? ck->bias_sum + gi : NULL;
                view.bias_abs = ck->bias_abs ? ck->bias_abs + gi : NULL;
                view.seal_base = ck->seal_base + (n * p->out_channels + gi * M) * out_size;
                view.wseal = n == 0 ? ck->wseal : NULL; /* the weights are sealed once, with image 0 */
                view.wseal_base = ck->wseal_base + gi * p->w_group_floats;
                v = &view;
            }
            if (p->mode == RADRT_CONV_POINTWISE) {
                radrt_sgemm(M, out_size, K, &a, &b, NULL, NULL, yg, out_size, &ep, scratch, v);
            } else if (!ck && has_pads(g)) {
                radrt_im2col inside;
                im2col_frame(g, xg, framed, &inside);
                radrt_sgemm(M, out_size, K, &a, &b, &inside, framed, yg, out_size, &ep, scratch, v);
            } else {
                radrt_sgemm(M, out_size, K, &a, &b, g, xg, yg, out_size, &ep, scratch, v);
            }
            if (ck) {
                ck->checked = view.checked;
                ck->exceeded = view.exceeded;
                ck->nonfinite = view.nonfinite;
                ck->worst = view.worst;
            }
        }
    }
}

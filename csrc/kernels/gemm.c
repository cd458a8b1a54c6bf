/* Packed SGEMM in the GotoBLAS/BLIS style.
 *
 * Loops, outermost first: N in blocks of NC, K in blocks of KC (the packed
 * B block, KC x NC, is reused by every row block), M in blocks of MC (packed
 * A block), then NR-wide column panels (a KC x NR B panel stays in L1) and
 * MR-row panels, each one call of the register-blocked micro-kernel: MR x NV
 * vector accumulators, one broadcast of A and NV vector loads of B per k.
 *
 * Packed layouts (zero padded at the edges): A as panels of MR rows,
 * panel[k][MR]; B as panels of NR columns, panel[k][NR]. A pre-packed
 * operand holds the whole matrix (panel stride K*MR or K*NR), so the block
 * at k0 of a panel starts at k0*MR (k0*NR).
 *
 * Vector width comes from the target (GCC vector extensions, no intrinsics):
 * AVX-512 16 lanes, AVX 8, otherwise (NEON, generic) 4. Edge tiles use
 * micro-kernels instantiated for fewer rows / vectors and a staged store.
 *
 * Determinism: acc starts at 0 for each K block and accumulates k in order;
 * the first block stores its sum, later blocks add theirs to C, the last one
 * applies the epilogue. Which kernel instance computes an element does not
 * change its operation sequence.
 *
 * ABFT (gemm.h): with a radrt_abft, the last K block runs a micro-kernel
 * instance that also sums the pre-clamp results r of its tile: COLUMNS as
 * vector adds over the tile's rows, then its valid lanes into work (observed
 * per column); ROWS as a horizontal sum of each row's valid columns. The same
 * checked instances seal the words they stored (seal.h), read back from L1.
 * The expected sums are dot products of wsum/wabs with the packed panels the
 * micro-kernel reads: COLUMNS for each B block right after it is packed (or
 * the pre-packed panels), ROWS for each A block of the first column block.
 * After the loops every checksum is compared with its tolerance. The unchecked
 * kernel instances are unchanged; the checked ones compute C with the same
 * operations, so C is the same bits with or without checking.
 */
#include "gemm.h"
#include "../core.h"
#include "../protect/seal.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#define VW 16
#define MR 8
#define NV 3
#elif defined(__AVX__)
#define VW 8
#define MR 6
#define NV 2
#elif defined(__ARM_NEON) || defined(__aarch64__)
#define VW 4
#define MR 8
#define NV 3
#else
#define VW 4
#define MR 4
#define NV 2
#endif
#define NR (VW * NV)
#define KC 256
#define MC (MR * 24)
#define NC (NR * 20)

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef uint32_t vw __attribute__((vector_size(VW * 4)));
typedef uint64_t vq __attribute__((vector_size(VW * 8)));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

static inline vf vsplat(float s) { return (vf){0} + s; }

static inline vf vabs(vf r) { return (vf)((vi)r & 0x7fffffff); }

/* max(r, lo) then min(r, hi), written as compares so NaN passes through. */
static inline vf vclamp(vf r, vf lo, vf hi) {
    vi m = r < lo;
    r = (vf)(((vi)r & ~m) | ((vi)lo & m));
    m = r > hi;
    return (vf)(((vi)r & ~m) | ((vi)hi & m));
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int radrt_gemm_mr(void) { return MR; }
int radrt_gemm_nr(void) { return NR; }

/* What the micro-kernel does when it stores a tile. */
typedef struct {
    int first, last;            /* first / last K block */
    const radrt_epilogue *ep;
    const float *bias;          /* bias at the tile's (0, 0), or NULL */
    /* ABFT observed sums at the tile's column (COLUMNS) or row (ROWS) 0;
     * written by the checked instances in the last K block only */
    float *obs;
    /* The output seal (sum, wsum; NULL: none) and the element index of the
     * tile's (0, 0) in the sealed tensor: checked instances, last K block. */
    uint64_t *seal;
    int64_t index;
    vq *seal_acc; /* [2]: per-lane sum and weighted sum, reduced into seal by the driver */
} tile_store;

/* Which checksums a micro-kernel instance accumulates. */
#define CK_NONE 0
#define CK_COLUMNS 1
#define CK_ROWS 2

/* One MR x NR tile (mr rows, nr <= nv*VW columns valid) over kc values of k;
 * ck (CK_*) selects the checksum sums of the last K block. */
static inline __attribute__((always_inline)) void micro_body(
    const int mr, const int nv, const int ck, int64_t kc, const float *restrict a, const float *restrict b,
    float *restrict c, int64_t ldc, int64_t nr, const tile_store *ts) {
    vf acc[MR][NV];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++) acc[i][v] = (vf){0};
    for (int64_t k = 0; k < kc; k++) {
        vf bv[NV];
        for (int v = 0; v < nv; v++) bv[v] = vload(b + k * NR + v * VW);
        for (int i = 0; i < mr; i++) {
            float s = a[k * MR + i];
            for (int v = 0; v < nv; v++) acc[i][v] += bv[v] * s;
        }
    }
    const radrt_epilogue *ep = ts->ep;
    const int full = nr == nv * VW;
    const int sums = ck != CK_NONE && ts->last;
    vf csum[NV]; /* CK_COLUMNS: per-column sums over the tile's rows */
    if (ck == CK_COLUMNS)
        for (int v = 0; v < nv; v++) csum[v] = (vf){0};
    const int sealing = sums && ts->seal;
    for (int i = 0; i < mr; i++) {
        float *crow = c + i * ldc;
        float stage[NV * VW], bstage[NV * VW], pre[NV * VW];
        vf rsum = {0}; /* CK_ROWS: this row's sum, full tiles */
        if (!full) {
            memset(stage, 0, sizeof stage);
            memset(bstage, 0, sizeof bstage);
            if (ck == CK_ROWS) memset(pre, 0, sizeof pre); /* edge tiles: every lane defined */
            if (!ts->first) memcpy(stage, crow, nr * sizeof(float));
        }
        const float *brow = NULL;
        if (ts->last && ts->bias) {
            brow = ts->bias + i * ep->bias_rs;
            if (!full && ep->bias_cs) memcpy(bstage, brow, nr * sizeof(float));
        }
        for (int v = 0; v < nv; v++) {
            vf r = acc[i][v];
            if (!ts->first) r = (full ? vload(crow + v * VW) : vload(stage + v * VW)) + r;
            if (ts->last) {
                r = r * ep->alpha;
                if (brow) {
                    vf bias = !ep->bias_cs ? vsplat(brow[0])
                              : full ? vload(brow + v * VW) : vload(bstage + v * VW);
                    r = r + bias * ep->beta;
                }
                if (ck == CK_COLUMNS && sums) {
                    csum[v] += r;
                } else if (ck == CK_ROWS && sums) {
                    if (full) {
                        rsum += r;
                    } else {
                        vstore(pre + v * VW, r);
                    }
                }
                r = vclamp(r, vsplat(ep->act_min), vsplat(ep->act_max));
            }
            if (full) vstore(crow + v * VW, r);
            else vstore(stage + v * VW, r);
        }
        if (!full) memcpy(crow, stage, nr * sizeof(float));
        if (ck == CK_ROWS && sums) {
            float s = 0.0f;
            if (full) {
                for (int l = 0; l < VW; l++) s += rsum[l];
            } else {
                for (int64_t j = 0; j < nr; j++) s += pre[j];
            }
            ts->obs[i] += s;
        }
    }
    if (sealing) {
        /* The seal of the words just stored (seal.h), read back from L1 right after the
         * stores (the accumulators are dead by now, so no register is spilled). Per
         * vector column v, A[v] sums the words lane by lane and R[v] adds A[v] before
         * each row (Fletcher's running sum), so sum_i i * w_i = (mr - 1) A - R: no
         * multiply per word. Word (i, v, l) has index ts->index + i ldc + v VW + l and
         * weight index + 1; the per-lane totals go to ts->seal_acc (reduced once per
         * product). */
        vq sa[NV], sr[NV];
        for (int v = 0; v < nv; v++) sa[v] = sr[v] = (vq){0};
        for (int i = 0; i < mr; i++) {
            const float *crow = c + i * ldc;
            float stage[NV * VW];
            if (!full) {
                memset(stage, 0, sizeof stage);
                memcpy(stage, crow, nr * sizeof(float));
                crow = stage;
            }
            for (int v = 0; v < nv; v++) {
                vw bits;
                memcpy(&bits, crow + v * VW, sizeof bits);
                sr[v] += sa[v];
                sa[v] += __builtin_convertvector(bits, vq);
            }
        }
        vq lane;
        for (int l = 0; l < VW; l++) lane[l] = (uint64_t)l + 1;
        for (int v = 0; v < nv; v++) {
            ts->seal_acc[0] += sa[v];
            ts->seal_acc[1] += sa[v] * (lane + (uint64_t)(ts->index + v * VW)) +
                               ((uint64_t)(mr - 1) * sa[v] - sr[v]) * (uint64_t)ldc;
        }
    }
    if (ck == CK_COLUMNS && sums) {
        if (full) {
            for (int v = 0; v < nv; v++) vstore(ts->obs + v * VW, vload(ts->obs + v * VW) + csum[v]);
        } else {
            float t[NV * VW] = {0};
            for (int v = 0; v < nv; v++) vstore(t + v * VW, csum[v]);
            for (int64_t j = 0; j < nr; j++) ts->obs[j] += t[j];
        }
    }
}

typedef void (*micro_fn)(int64_t, const float *, const float *, float *, int64_t, int64_t,
                         const tile_store *);

#define MICRO(m, v)                                                                        \
    static void micro_##m##_##v(int64_t kc, const float *a, const float *b, float *c,      \
                                int64_t ldc, int64_t nr, const tile_store *ts) {           \
        micro_body(m, v, CK_NONE, kc, a, b, c, ldc, nr, ts);                               \
    }                                                                                      \
    static void microc_##m##_##v(int64_t kc, const float *a, const float *b, float *c,     \
                                 int64_t ldc, int64_t nr, const tile_store *ts) {          \
        micro_body(m, v, CK_COLUMNS, kc, a, b, c, ldc, nr, ts);                            \
    }                                                                                      \
    static void micror_##m##_##v(int64_t kc, const float *a, const float *b, float *c,     \
                                 int64_t ldc, int64_t nr, const tile_store *ts) {          \
        micro_body(m, v, CK_ROWS, kc, a, b, c, ldc, nr, ts);                               \
    }
#define MICRO_ROWS(v) MICRO(1, v) MICRO(2, v) MICRO(3, v) MICRO(4, v)
MICRO_ROWS(1)
MICRO_ROWS(2)
#if NV >= 3
MICRO_ROWS(3)
#endif
#if MR >= 6
#define MICRO_ROWS6(v) MICRO(5, v) MICRO(6, v)
MICRO_ROWS6(1)
MICRO_ROWS6(2)
#if NV >= 3
MICRO_ROWS6(3)
#endif
#endif
#if MR >= 8
#define MICRO_ROWS8(v) MICRO(7, v) MICRO(8, v)
MICRO_ROWS8(1)
MICRO_ROWS8(2)
#if NV >= 3
MICRO_ROWS8(3)
#endif
#endif

#if MR == 4
#define ROW_TABLE(p, v) {p##_1_##v, p##_2_##v, p##_3_##v, p##_4_##v}
#elif MR == 6
#define ROW_TABLE(p, v) {p##_1_##v, p##_2_##v, p##_3_##v, p##_4_##v, p##_5_##v, p##_6_##v}
#else
#define ROW_TABLE(p, v) {p##_1_##v, p##_2_##v, p##_3_##v, p##_4_##v, p##_5_##v, p##_6_##v, p##_7_##v, p##_8_##v}
#endif

/* [CK_*][vectors - 1][rows - 1] */
#if NV == 2
#define NV_TABLE(p) {ROW_TABLE(p, 1), ROW_TABLE(p, 2)}
#else
#define NV_TABLE(p) {ROW_TABLE(p, 1), ROW_TABLE(p, 2), ROW_TABLE(p, 3)}
#endif
static const micro_fn MICRO_TABLE[3][NV][MR] = {NV_TABLE(micro), NV_TABLE(microc), NV_TABLE(micror)};

/* ---- packing ------------------------------------------------------------- */

/* Rows [i0, i0+mc) and columns [k0, k0+kc) of dense A into MR-row panels
 * with panel stride kc*MR. */
static void pack_a_block(const float *a, int64_t rs, int64_t cs, int64_t i0, int64_t mc, int64_t k0,
                         int64_t kc, float *dst) {
    for (int64_t p = 0; p < mc; p += MR) {
        float *d = dst + (p / MR) * kc * MR;
        int64_t rows = min64(MR, mc - p);
        const float *src = a + (i0 + p) * rs + k0 * cs;
        for (int64_t k = 0; k < kc; k++) {
            for (int64_t i = 0; i < rows; i++) d[k * MR + i] = src[i * rs + k * cs];
            for (int64_t i = rows; i < MR; i++) d[k * MR + i] = 0.0f;
        }
    }
}

/* n <= NR floats from src to dst, inline: the runs packed are short, and a call to
 * memcpy per run cost more than the products of the panel row (GCC turns a plain
 * copy loop into that call: hence the unrolled vectors, at most NV of them). */
static inline __attribute__((always_inline)) void copy_floats(float *restrict dst, const float *restrict src,
                                                              int64_t n) {
    int64_t j = 0;
    if (n >= VW) vstore(dst, vload(src)), j = VW;
    if (n >= 2 * VW) vstore(dst + VW, vload(src + VW)), j = 2 * VW;
#if NV >= 3
    if (n >= 3 * VW) vstore(dst + 2 * VW, vload(src + 2 * VW)), j = 3 * VW;
#endif
    for (; j < n; j++) dst[j] = src[j];
}

/* Rows [k0, k0+kc) and columns [j0, j0+nc) of dense B into NR-column panels
 * with panel stride kc*NR. */
static void pack_b_block(const float *b, int64_t rs, int64_t cs, int64_t k0, int64_t kc, int64_t j0,
                         int64_t nc, float *dst) {
    if (cs == 1) {
        /* row by row across the panels: B is read as kc sequential streams of nc
         * floats (panel by panel, the kc rows of a panel were kc streams at once,
         * more than the prefetchers follow) */
        for (int64_t k = 0; k < kc; k++) {
            const float *srow = b + (k0 + k) * rs + j0;
            for (int64_t p = 0; p < nc; p += NR) {
                float *drow = dst + (p / NR) * kc * NR + k * NR;
                int64_t cols = min64(NR, nc - p);
                copy_floats(drow, srow + p, cols);
                for (int64_t j = cols; j < NR; j++) drow[j] = 0.0f;
            }
        }
        return;
    }
    for (int64_t p = 0; p < nc; p += NR) {
        float *d = dst + (p / NR) * kc * NR;
        int64_t cols = min64(NR, nc - p);
        const float *src = b + k0 * rs + (j0 + p) * cs;
        for (int64_t k = 0; k < kc; k++) {
            float *drow = d + k * NR;
            const float *srow = src + k * rs;
            for (int64_t j = 0; j < cols; j++) drow[j] = srow[j * cs];
            for (int64_t j = cols; j < NR; j++) drow[j] = 0.0f;
        }
    }
}

/* A run of consecutive columns n of one panel that share (od, oh). */
typedef struct {
    int64_t od, oh, ow, len, off;
} im2col_run;

/* ceil(a / b) for a >= 0, b >= 1, without forming a + b - 1 (b may be near INT64_MAX). */
static inline int64_t ceil_div_pos(int64_t a, int64_t b) { return a / b + (a % b != 0); }

/* Rows [k0, k0+kc), columns [j0, j0+nc) of the implicit im2col of x. */
static void pack_b_im2col(const radrt_im2col *g, const float *x, int64_t k0, int64_t kc, int64_t j0,
                          int64_t nc, float *dst) {
    const int64_t OH = g->out[1], OW = g->out[2];
    const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
    const int64_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const int64_t sw = g->stride[2];
    for (int64_t p = 0; p < nc; p += NR) {
        float *d = dst + (p / NR) * kc * NR;
        int64_t cols = min64(NR, nc - p);
        im2col_run runs[NR];
        int nruns = 0;
        for (int64_t j = 0; j < cols;) {
            int64_t n = j0 + p + j;
            int64_t ow = n % OW, t = n / OW;
            int64_t len = min64(OW - ow, cols - j);
            runs[nruns++] = (im2col_run){t / OH, t % OH, ow, len, j};
            j += len;
        }
        int64_t kw = k0 % KW, t = k0 / KW;
        int64_t kh = t % KH;
        t /= KH;
        int64_t kd = t % KD, ch = t / KD;
        for (int64_t k = 0; k < kc; k++) {
            float *drow = d + k * NR;
            for (int r = 0; r < nruns; r++) {
                const im2col_run *run = &runs[r];
                float *out = drow + run->off;
                int64_t id = run->od * g->stride[0] - g->pad[0] + kd * g->dilation[0];
                int64_t ih = run->oh * g->stride[1] - g->pad[1] + kh * g->dilation[1];
                if (id < 0 || id >= ID || ih < 0 || ih >= IH) {
                    memset(out, 0, run->len * sizeof(float));
                    continue;
                }
                const float *src = x + ((ch * ID + id) * IH + ih) * IW;
                int64_t iw0 = run->ow * sw - g->pad[2] + kw * g->dilation[2];
                /* columns j in [lo, hi) read 0 <= iw0 + j*sw < IW (stride 1: no division) */
                int64_t lo, hi;
                if (sw == 1) {
                    lo = iw0 >= 0 ? 0 : -iw0;
                    hi = IW - iw0;
                } else {
                    lo = iw0 >= 0 ? 0 : ceil_div_pos(-iw0, sw);
                    hi = iw0 < IW ? ceil_div_pos(IW - iw0, sw) : 0;
                }
                if (lo > run->len) lo = run->len;
                if (hi > run->len) hi = run->len;
                if (hi < lo) hi = lo;
                for (int64_t j = 0; j < lo; j++) out[j] = 0.0f;
                if (sw == 1) {
                    copy_floats(out + lo, src + (iw0 + lo), hi - lo);
                } else {
                    for (int64_t j = lo; j < hi; j++) out[j] = src[iw0 + j * sw];
                }
                for (int64_t j = hi; j < run->len; j++) out[j] = 0.0f;
            }
            for (int64_t j = cols; j < NR; j++) drow[j] = 0.0f;
            if (++kw == KW) {
                kw = 0;
                if (++kh == KH) {
                    kh = 0;
                    if (++kd == KD) {
                        kd = 0;
                        ch++;
                    }
                }
            }
        }
    }
}

/* 1 when every window of g lies inside its input: no begin pads, and the last
 * window of each axis ends inside (the end pads are implied by the output size). */
static int im2col_inside(const radrt_im2col *g) {
    for (int a = 0; a < 3; a++)
        if (g->pad[a] || (g->out[a] - 1) * g->stride[a] + (g->kernel[a] - 1) * g->dilation[a] >= g->in[a]) return 0;
    return 1;
}

/* pack_b_im2col when every window lies inside x (im2col_inside): no bounds to test. The block's columns split into runs, each
 * within one panel and one output row, starting at a fixed offset of x; row k adds
 * its tap's offset, so a run of a row is one copy. Rows outermost: each row k
 * reads x's tap-shifted rows in sequence across the whole block (panel by panel,
 * a panel's rows were as many streams at once as taps and channels). */
#define INSIDE_RUNS (NC + NC / NR)
static void pack_b_im2col_inside(const radrt_im2col *g, const float *x, int64_t k0, int64_t kc, int64_t j0,
                                 int64_t nc, float *dst) {
    const int64_t OH = g->out[1], OW = g->out[2];
    const int64_t IH = g->in[1], IW = g->in[2], plane = g->in[0] * IH * IW;
    const int64_t KD = g->kernel[0], KH = g->kernel[1], KW = g->kernel[2];
    const int64_t sw = g->stride[2];
    int64_t src_off[INSIDE_RUNS], dst_off[INSIDE_RUNS], len[INSIDE_RUNS];
    int nruns = 0;
    for (int64_t p = 0; p < nc; p += NR) {
        int64_t cols = min64(NR, nc - p);
        for (int64_t j = 0; j < cols;) {
            int64_t n = j0 + p + j;
            int64_t ow = n % OW, t = n / OW;
            int64_t l = min64(OW - ow, cols - j);
            src_off[nruns] = ((t / OH) * g->stride[0] * IH + (t % OH) * g->stride[1]) * IW + ow * sw;
            dst_off[nruns] = (p / NR) * kc * NR + j;
            len[nruns++] = l;
            j += l;
        }
    }
    const int64_t last_cols = nc - (nc - 1) / NR * NR; /* columns of the last panel */
    float *last = dst + ((nc - 1) / NR) * kc * NR;
    int64_t kw = k0 % KW, t = k0 / KW;
    int64_t kh = t % KH;
    t /= KH;
    int64_t kd = t % KD, ch = t / KD;
    for (int64_t k = 0; k < kc; k++) {
        float *drow = dst + k * NR;
        const float *xk = x + ch * plane + (kd * g->dilation[0] * IH + kh * g->dilation[1]) * IW +
                          kw * g->dilation[2];
        for (int r = 0; r < nruns; r++) {
            if (sw == 1) {
                copy_floats(drow + dst_off[r], xk + src_off[r], len[r]);
            } else {
                const float *src = xk + src_off[r];
                float *out = drow + dst_off[r];
                for (int64_t j = 0; j < len[r]; j++) out[j] = src[j * sw];
            }
        }
        for (int64_t j = last_cols; j < NR; j++) last[k * NR + j] = 0.0f;
        if (++kw == KW) {
            kw = 0;
            if (++kh == KH) {
                kh = 0;
                if (++kd == KD) {
                    kd = 0;
                    ch++;
                }
            }
        }
    }
}

/* Size functions return SIZE_MAX when a size is negative or overflows int64. */
static size_t packed_floats(int64_t rows, int64_t K, int64_t R) {
    if (rows < 0 || K < 0 || rows > INT64_MAX - R) return SIZE_MAX;
    int64_t n = radrt_size_mul(radrt_size_mul((rows + R - 1) / R, R), K > 0 ? K : 1);
    return n < 0 ? SIZE_MAX : (size_t)n;
}

size_t radrt_gemm_packed_a_floats(int64_t M, int64_t K) { return packed_floats(M, K, MR); }

size_t radrt_gemm_packed_b_floats(int64_t K, int64_t N) { return packed_floats(N, K, NR); }

void radrt_gemm_pack_a(const float *a, int64_t rs, int64_t cs, int64_t M, int64_t K, float *dst) {
    pack_a_block(a, rs, cs, 0, M, 0, K, dst);
}

void radrt_gemm_pack_b(const float *b, int64_t rs, int64_t cs, int64_t K, int64_t N, float *dst) {
    pack_b_block(b, rs, cs, 0, K, 0, N, dst);
}

size_t radrt_sgemm_scratch_floats(int64_t M, int64_t N, int64_t K, int a_packed, int b_packed) {
    if (M < 0 || N < 0 || K < 0) return SIZE_MAX;
    int64_t kc = min64(K, KC);
    size_t n = 0;
    if (!a_packed) n += (size_t)((min64(M, MC) + MR - 1) / MR) * MR * kc;
    if (!b_packed) n += (size_t)((min64(N, NC) + NR - 1) / NR) * NR * kc;
    return n;
}

/* ---- ABFT expected sums and comparison ----------------------------------- */

size_t radrt_abft_work_floats(int64_t M, int64_t N, int side) {
    int64_t n = side == RADRT_ABFT_COLUMNS ? N : side == RADRT_ABFT_ROWS ? M : -1;
    if (M < 0 || N < 0 || n < 0 || n > INT64_MAX / 3) return SIZE_MAX;
    return (size_t)(3 * n);
}

/* COLUMNS: e[j] += sum_k wsum[k] B[k][j], m[j] += sum_k wabs[k] |B[k][j]| for
 * the nc columns of one packed B block (kc rows, panel stride b_ps). */
static void abft_expect_columns(const float *bp, int64_t b_ps, int64_t kc, int64_t nc, const float *wsum,
                                const float *wabs, float *e, float *m) {
    for (int64_t jr = 0; jr < nc; jr += NR) {
        const float *panel = bp + (jr / NR) * b_ps;
        vf es[NV], ms[NV];
        for (int v = 0; v < NV; v++) es[v] = ms[v] = (vf){0};
        for (int64_t k = 0; k < kc; k++) {
            const float ws = wsum[k], wa = wabs[k];
            for (int v = 0; v < NV; v++) {
                vf bv = vload(panel + k * NR + v * VW);
                es[v] += bv * ws;
                ms[v] += vabs(bv) * wa;
            }
        }
        float t[NR], ta[NR];
        for (int v = 0; v < NV; v++) {
            vstore(t + v * VW, es[v]);
            vstore(ta + v * VW, ms[v]);
        }
        int64_t nr = min64(NR, nc - jr);
        for (int64_t j = 0; j < nr; j++) {
            e[jr + j] += t[j];
            m[jr + j] += ta[j];
        }
    }
}

/* ROWS: e[i] += sum_k A[i][k] wsum[k], m[i] += sum_k |A[i][k]| wabs[k] for the
 * mc rows of one packed A block (kc columns, panel stride a_ps). */
static void abft_expect_rows(const float *ap, int64_t a_ps, int64_t kc, int64_t mc, const float *wsum,
                             const float *wabs, float *e, float *m) {
    for (int64_t ir = 0; ir < mc; ir += MR) {
        const float *panel = ap + (ir / MR) * a_ps;
        float es[MR] = {0}, ms[MR] = {0};
        for (int64_t k = 0; k < kc; k++) {
            const float ws = wsum[k], wa = wabs[k];
            for (int i = 0; i < MR; i++) {
                es[i] += panel[k * MR + i] * ws;
                ms[i] += fabsf(panel[k * MR + i]) * wa;
            }
        }
        int64_t mr = min64(MR, mc - ir);
        for (int64_t i = 0; i < mr; i++) {
            e[ir + i] += es[i];
            m[ir + i] += ms[i];
        }
    }
}

/* One checksum compared in double precision: the exact rule, used for every
 * checksum of a vector block in which some lane is not plainly within tolerance. */
static void abft_compare_one(double expected, double mag, double observed, double lam_u, double cmo,
                             double floor_, int64_t *checked, int64_t *exceeded, int64_t *nonfinite,
                             double *worst) {
    double tol = lam_u * cmo * mag + floor_;
    if (!isfinite(expected) || !isfinite(mag)) {
        (*nonfinite)++; /* an Inf/NaN in the weights or the input: nothing to compare with */
        return;
    }
    if (!isfinite(observed) || !isfinite(tol)) {
        /* Finite inputs of magnitude mag give |r| sums near mag at most. */
        if (mag < FLT_MAX / 4) {
            (*checked)++;
            (*exceeded)++;
        } else {
            (*nonfinite)++;
        }
        return;
    }
    double q = fabs(observed - expected) / tol;
    (*checked)++;
    if (!(q <= 1.0)) (*exceeded)++;
    if (q > *worst) *worst = q;
}

/* The terms of the tolerance (gemm.h): tol = lam_u * cmo * mag + floor_. */
static void abft_tol_terms(float lambda, int64_t K, int64_t terms, double *lam_u, double *cmo, double *floor_) {
    *lam_u = lambda * 0x1p-24;
    *cmo = 2.0 * sqrt((double)K + 2.0) + sqrt((double)terms + 1.0);
    *floor_ = (double)FLT_MIN * ((double)K + 1.0);
}

void radrt_abft_check_sums(radrt_abft *ck, const double *expected, const double *mag, const double *observed,
                           int64_t count, int64_t K, int64_t n) {
    double lam_u, cmo, floor_, worst = ck->worst;
    abft_tol_terms(ck->lambda, K, n, &lam_u, &cmo, &floor_);
    for (int64_t i = 0; i < count; i++)
        abft_compare_one(expected[i], mag[i], observed[i], lam_u, cmo, floor_, &ck->checked, &ck->exceeded,
                         &ck->nonfinite, &worst);
    ck->worst = (float)worst;
}

/* Compares the n checksums in work (expected, mag, observed; terms values
 * summed into each observed) and adds the verdicts to ck. VW checksums at
 * a time in float32 vectors; a block where some lane is not finite or not within
 * half the tolerance (so float32 evaluation of tol cannot decide it) is decided
 * lane by lane in double precision by abft_compare_one. */
static void abft_compare(radrt_abft *ck, int64_t n, int64_t K, int64_t terms, const radrt_epilogue *ep) {
    const float *e = ck->work, *m = e + n, *o = m + n;
    const double alpha = ep->alpha, beta = ep->beta;
    const double bsum = ep->bias && ck->bias_sum ? ck->bias_sum[0] : 0.0;
    const double babs = ep->bias && ck->bias_abs ? ck->bias_abs[0] : 0.0;
    double lam_u, cmo, floor_;
    abft_tol_terms(ck->lambda, K, terms, &lam_u, &cmo, &floor_);
    double worst = ck->worst;
    int64_t checked = 0, exceeded = 0, nonfinite = 0;
    const vf va = vsplat((float)alpha), vb = vsplat((float)(beta * bsum));
    const vf vma = vsplat((float)fabs(alpha)), vmb = vsplat((float)(fabs(beta) * babs));
    const vf vlm = vsplat((float)(lam_u * cmo)), vfl = vsplat((float)floor_);
    const vf vhalf = vsplat(0.5f), vbig = vsplat(FLT_MAX / 4);
    vf vworst = (vf){0};
    int64_t t = 0;
    for (; t + VW <= n; t += VW) {
        vf expected = va * vload(e + t) + vb, mag = vma * vload(m + t) + vmb;
        vf diff = vabs(vload(o + t) - expected);
        vf tol = vlm * mag + vfl;
        /* plainly within: diff <= tol / 2 with finite, moderate values (false for NaN) */
        vi ok = (diff <= tol * vhalf) & (mag < vbig) & (tol < vbig);
        int all = 1;
        for (int l = 0; l < VW; l++) all &= ok[l] != 0;
        if (all) {
            vf q = diff / tol;
            vi gt = q > vworst;
            vworst = (vf)(((vi)q & gt) | ((vi)vworst & ~gt));
            checked += VW;
            continue;
        }
        for (int l = 0; l < VW; l++)
            abft_compare_one(alpha * e[t + l] + beta * bsum, fabs(alpha) * m[t + l] + fabs(beta) * babs, o[t + l],
                             lam_u, cmo, floor_, &checked, &exceeded, &nonfinite, &worst);
    }
    for (; t < n; t++)
        abft_compare_one(alpha * e[t] + beta * bsum, fabs(alpha) * m[t] + fabs(beta) * babs, o[t], lam_u, cmo,
                         floor_, &checked, &exceeded, &nonfinite, &worst);
    for (int l = 0; l < VW; l++)
        if (vworst[l] > worst) worst = vworst[l];
    ck->checked += checked;
    ck->exceeded += exceeded;
    ck->nonfinite += nonfinite;
    ck->worst = (float)worst;
}

/* ---- driver ----------------------------------------------------------------- */

void radrt_sgemm(int64_t M, int64_t N, int64_t K, const radrt_operand *a, const radrt_operand *b,
                 const radrt_im2col *b_conv, const float *b_conv_x,
                 float *c, int64_t ldc, const radrt_epilogue *ep, float *scratch, radrt_abft *ck) {
    if (M <= 0 || N <= 0) return;
    const int b_packed = !b_conv && b->packed;
    float *a_buf = scratch;
    float *b_buf = scratch;
    if (!a->packed) b_buf += (size_t)((min64(M, MC) + MR - 1) / MR) * MR * min64(K, KC);
    /* ABFT: kind of checked kernel, and work = expected, mag, observed. */
    const int ck_kind = !ck ? CK_NONE : ck->side == RADRT_ABFT_ROWS ? CK_ROWS : CK_COLUMNS;
    const int64_t ck_n = ck_kind == CK_ROWS ? M : N;
    float *ck_e = NULL, *ck_m = NULL, *ck_o = NULL;
    if (ck) {
        ck_e = ck->work;
        ck_m = ck_e + ck_n;
        ck_o = ck_m + ck_n;
        memset(ck_e, 0, (size_t)(3 * ck_n) * sizeof(float));
    }
    vq seal_acc[2] = {{0}, {0}}; /* the output seal, per lane (see micro_body) */
    /* K == 0 still runs one (empty) block so the epilogue writes C. */
    const int64_t kblocks = K > 0 ? (K + KC - 1) / KC : 1;
    for (int64_t jc = 0; jc < N; jc += NC) {
        int64_t nc = min64(NC, N - jc);
        for (int64_t kb = 0; kb < kblocks; kb++) {
            int64_t pc = kb * KC, kc = min64(KC, K - pc);
            const float *bp;
            int64_t b_ps;
            if (b_packed) {
                bp = b->data + (jc / NR) * K * NR + pc * NR;
                b_ps = K * NR;
            } else {
                if (b_conv && im2col_inside(b_conv))
                    pack_b_im2col_inside(b_conv, b_conv_x, pc, kc, jc, nc, b_buf);
                else if (b_conv) pack_b_im2col(b_conv, b_conv_x, pc, kc, jc, nc, b_buf);
                else pack_b_block(b->data, b->rs, b->cs, pc, kc, jc, nc, b_buf);
                bp = b_buf;
                b_ps = kc * NR;
            }
            if (ck_kind == CK_COLUMNS)
                abft_expect_columns(bp, b_ps, kc, nc, ck->wsum + pc, ck->wabs + pc, ck_e + jc, ck_m + jc);
            const int last = kb == kblocks - 1;
            const micro_fn(*table)[MR] = MICRO_TABLE[last ? ck_kind : CK_NONE];
            for (int64_t ic = 0; ic < M; ic += MC) {
                int64_t mc = min64(MC, M - ic);
                const float *ap;
                int64_t a_ps;
                if (a->packed) {
                    ap = a->data + (ic / MR) * K * MR + pc * MR;
                    a_ps = K * MR;
                } else {
                    pack_a_block(a->data, a->rs, a->cs, ic, mc, pc, kc, a_buf);
                    ap = a_buf;
                    a_ps = kc * MR;
                }
                /* A is packed again for every column block: the first one is checked. */
                if (ck_kind == CK_ROWS && jc == 0)
                    abft_expect_rows(ap, a_ps, kc, mc, ck->wsum + pc, ck->wabs + pc, ck_e + ic, ck_m + ic);
                tile_store ts = {kb == 0, last, ep, NULL, NULL, ck ? ck->seal : NULL, 0, seal_acc};
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = min64(NR, nc - jr);
                    int nv = (int)((nr + VW - 1) / VW);
                    const float *bpanel = bp + (jr / NR) * b_ps;

                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int64_t mr = min64(MR, mc - ir);
                        int64_t i = ic + ir, j = jc + jr;
                        ts.bias = ep->bias ? ep->bias + i * ep->bias_rs + j * ep->bias_cs : NULL;
                        if (ck_kind == CK_COLUMNS) {
                            ts.obs = ck_o + j;
                        } else if (ck_kind == CK_ROWS) {
                            ts.obs = ck_o + i;
                        }
                        if (ck) ts.index = ck->seal_base + i * ldc + j;
                        table[nv - 1][mr - 1](kc, ap + (ir / MR) * a_ps, bpanel, c + i * ldc + j, ldc, nr, &ts);
                    }
                    /* ROWS: the pre-packed weights B, sealed panel by panel right after the
                     * first row block read them (from L1/L2 then: the weights stream from
                     * memory once, under the micro-kernel, as without the check). An upset
                     * between that read and this seal makes the seal differ: detected too. */
                    if (ck_kind == CK_ROWS && ck->wseal && b_packed && ic == 0)
                        radrt_seal_add((radrt_seal *)ck->wseal, bpanel, (size_t)(kc * NR) * sizeof(float),
                                       (uint64_t)(ck->wseal_base + (bpanel - b->data)));
                }
                /* COLUMNS: the pre-packed weights A of this block, sealed once (first column
                 * block), right after the block's tiles read them (in L2 then). */
                if (ck_kind == CK_COLUMNS && ck->wseal && a->packed && jc == 0)
                    for (int64_t p = 0; p < mc; p += MR) {
                        int64_t off = ((ic + p) / MR) * K * MR + pc * MR;
                        radrt_seal_add((radrt_seal *)ck->wseal, a->data + off, (size_t)(kc * MR) * sizeof(float),
                                       (uint64_t)(ck->wseal_base + off));
                    }
            }
        }
    }
    if (ck) abft_compare(ck, ck_n, K, ck_kind == CK_ROWS ? N : M, ep);
    if (ck && ck->seal)
        for (int l = 0; l < VW; l++) {
            ck->seal[0] += seal_acc[0][l];
            ck->seal[1] += seal_acc[1][l];
        }
}

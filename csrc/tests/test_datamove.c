/* Data movement against index-by-index references: the strided copy (row
 * memcpy, tiled 2-D transpose and element-loop paths; negative, zero and
 * permuted strides; element sizes 1, 2, 3, 4, 8), Concat and Split, the
 * per-axis table copy behind Pad and nearest Resize (padding, cropping, edge
 * replication, the contiguous run), Gather with out-of-range runtime indices
 * (never read: the data buffer is exactly sized), the separable Resize
 * passes with extrapolation flags. Buffers are exactly sized (see check.h). */
#include "check.h"

#include "kernels/concat.h"
#include "kernels/gather.h"
#include "kernels/pad.h"
#include "kernels/resize.h"
#include "kernels/strided.h"

static unsigned char *rand_bytes(size_t n) {
    unsigned char *p = exact_alloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)rnd_u32();
    return p;
}

/* ---- strided copy ------------------------------------------------------------ */

#define VIEW_MAX 8 /* 4 axes, each may get a broadcast axis */

/* dst (contiguous, shape) [idx] = src[offset + idx . stride] (elements); the
 * params coalesced like runtime/ops/strided.py: size-1 axes dropped, axes
 * contiguous in the source merged. */
static void check_strided(const int64_t *shape, const int64_t *stride, int nd, int64_t offset, int64_t src_n,
                          int64_t size) {
    radrt_strided_t p;
    memset(&p, 0, sizeof p);
    p.itemsize = size;
    p.src_offset = offset * size;
    int64_t dst_n = 1;
    for (int d = 0; d < nd; d++) {
        dst_n *= shape[d];
        if (shape[d] == 1) continue;
        if (p.ndim && p.src_stride[p.ndim - 1] == stride[d] * shape[d] * size) {
            p.shape[p.ndim - 1] *= shape[d];
            p.src_stride[p.ndim - 1] = stride[d] * size;
        } else {
            p.shape[p.ndim] = shape[d];
            p.src_stride[p.ndim++] = stride[d] * size;
        }
    }
    if (!p.ndim) p.shape[0] = 1, p.src_stride[0] = 0, p.ndim = 1;
    unsigned char *src = rand_bytes(src_n * size), *dst = exact_alloc(dst_n * size);
    radrt_strided_copy(src, dst, &p);
    for (int64_t i = 0; i < dst_n; i++) {
        int64_t r = i, off = offset;
        for (int d = nd - 1; d >= 0; d--) off += (r % shape[d]) * stride[d], r /= shape[d];
        if (memcmp(dst + i * size, src + off * size, size) != 0) {
            CHECK(0, "strided copy nd %d size %ld: element %ld differs", nd, (long)size, (long)i);
            break;
        }
    }
    free(src); free(dst);
}

/* A random view of a random tensor: permuted axes, slices with steps of
 * either sign, broadcast axes. */
static void random_strided(void) {
    int rank = (int)rnd_int(1, 4);
    int64_t dims[4], cstride[4], src_n = 1;
    for (int d = 0; d < rank; d++) dims[d] = rnd_int(1, 9), src_n *= dims[d];
    for (int d = rank - 1, s = 1; d >= 0; d--) cstride[d] = s, s *= (int)dims[d];
    int perm[4];
    for (int d = 0; d < rank; d++) perm[d] = d;
    if (rnd_int(0, 1))
        for (int d = rank - 1; d > 0; d--) {
            int j = (int)rnd_int(0, d), t = perm[d];
            perm[d] = perm[j], perm[j] = t;
        }
    int64_t shape[VIEW_MAX], stride[VIEW_MAX], offset = 0;
    int nd = 0;
    for (int k = 0; k < rank; k++) {
        int a = perm[k];
        if (rnd_int(0, 5) == 0) shape[nd] = rnd_int(1, 3), stride[nd++] = 0; /* broadcast (Expand/Tile) */
        int64_t step = rnd_int(0, 2) ? 1 : rnd_int(0, 1) ? 2 : rnd_int(0, 1) ? -1 : -2;
        int64_t start = rnd_int(0, dims[a] - 1);
        int64_t avail = step > 0 ? (dims[a] - start + step - 1) / step : start / -step + 1;
        if (step == 1 && rnd_int(0, 1)) start = 0, avail = dims[a];
        shape[nd] = rnd_int(1, avail);
        stride[nd++] = step * cstride[a];
        offset += start * cstride[a];
    }
    const int64_t sizes[] = {1, 2, 3, 4, 8};
    check_strided(shape, stride, nd, offset, src_n, sizes[rnd_int(0, 4)]);
}

static void strided_paths(void) {
    /* 2-D transposes of every size around the 16x16 tile, element sizes 4 and 8 */
    for (int64_t r = 1; r <= 35; r += 3)
        for (int64_t c = 1; c <= 35; c += 4) {
            int64_t shape[2] = {c, r}, stride[2] = {1, c};
            check_strided(shape, stride, 2, 0, r * c, 4);
            check_strided(shape, stride, 2, 0, r * c, 8);
        }
    /* NCHW -> NHWC with batch, channel shuffle, reversed rows */
    int64_t nhwc_shape[4] = {2, 5, 7, 3}, nhwc_stride[4] = {105, 7, 1, 35};
    check_strided(nhwc_shape, nhwc_stride, 4, 0, 210, 4);
    int64_t shuf_shape[4] = {1, 4, 3, 25}, shuf_stride[4] = {300, 25, 100, 1};
    check_strided(shuf_shape, shuf_stride, 4, 0, 300, 4);
    int64_t rev_shape[2] = {4, 9}, rev_stride[2] = {9, -1};
    check_strided(rev_shape, rev_stride, 2, 8, 36, 2);
    int64_t empty_shape[2] = {3, 0}, empty_stride[2] = {1, 1};
    check_strided(empty_shape, empty_stride, 2, 0, 1, 4);
}

/* ---- Concat / Split --------------------------------------------------------- */

static void concat_split(void) {
    for (int t = 0; t < 100; t++) {
        int64_t nparts = rnd_int(1, 5), outer = rnd_int(1, 4), inner = rnd_int(1, 7), size = t % 2 ? 4 : 1;
        int64_t block[5], row = 0;
        unsigned char *parts[5];
        for (int64_t i = 0; i < nparts; i++) {
            block[i] = rnd_int(0, 4) * inner * size; /* dims of 0: empty parts */
            row += block[i];
            parts[i] = rand_bytes(outer * block[i]);
        }
        unsigned char *dst = exact_alloc(outer * row);
        radrt_concat((const void *const *)parts, block, nparts, outer, dst);
        for (int64_t o = 0, at = 0; o < outer; o++)
            for (int64_t i = 0; i < nparts; i++, at += block[i - 1])
                CHECK(memcmp(dst + at, parts[i] + o * block[i], block[i]) == 0, "concat part %ld row %ld", (long)i,
                      (long)o);
        unsigned char *back[5];
        for (int64_t i = 0; i < nparts; i++) back[i] = i == 1 ? NULL : exact_alloc(outer * block[i]);
        radrt_split(dst, (void *const *)back, block, nparts, outer);
        for (int64_t i = 0; i < nparts; i++) {
            if (back[i]) CHECK(memcmp(back[i], parts[i], outer * block[i]) == 0, "split part %ld", (long)i);
            free(back[i]);
            free(parts[i]);
        }
        free(dst);
    }
}

/* ---- table copy (Pad, nearest Resize) ------------------------------------------ */

static void table_copy(void) {
    for (int t = 0; t < 200; t++) {
        radrt_table_copy_t p;
        memset(&p, 0, sizeof p);
        int rank = (int)rnd_int(1, 4);
        int64_t size = (int64_t[]){1, 2, 4, 8, 3}[t % 5], src_n = 1, dst_n = 1, ntab = 0;
        int64_t dims[4], cstride[4];
        int edge = t % 3 == 0;
        for (int d = 0; d < rank; d++) dims[d] = rnd_int(1, 6), src_n *= dims[d];
        for (int d = rank - 1, s = 1; d >= 0; d--) cstride[d] = s, s *= (int)dims[d];
        int64_t index[4][16];
        for (int d = 0; d < rank; d++) {
            /* pads in [-2, 3] per side; a negative pad crops */
            int64_t pb = rnd_int(-2, 3), pe = rnd_int(-2, 3);
            if (dims[d] + pb + pe < 1) pb = pe = 0;
            p.shape[d] = dims[d] + pb + pe;
            for (int64_t o = 0; o < p.shape[d]; o++) {
                int64_t i = o - pb;
                index[d][o] = edge ? (i < 0 ? 0 : i >= dims[d] ? dims[d] - 1 : i) : (i < 0 || i >= dims[d] ? -1 : i);
            }
            p.table_start[d] = ntab;
            ntab += p.shape[d];
            dst_n *= p.shape[d];
        }
        p.ndim = rank;
        p.itemsize = size;
        int64_t *offsets = exact_alloc(ntab * sizeof(int64_t));
        for (int d = 0; d < rank; d++)
            for (int64_t o = 0; o < p.shape[d]; o++)
                offsets[p.table_start[d] + o] = index[d][o] < 0 ? -1 : index[d][o] * cstride[d] * size;
        /* the first run of consecutive source elements on the last axis, if any */
        const int64_t *last = index[rank - 1], cols = p.shape[rank - 1];
        for (int64_t j = 0; j < cols && p.run_end == 0; j++) {
            int64_t k = j;
            while (last[j] >= 0 && k + 1 < cols && last[k + 1] == last[k] + 1) k++;
            if (k > j) p.run_begin = j, p.run_end = k + 1;
        }
        unsigned char *src = rand_bytes(src_n * size), *dst = exact_alloc(dst_n * size), *fill = rand_bytes(size);
        radrt_table_copy(src, dst, offsets, fill, &p);
        for (int64_t i = 0; i < dst_n; i++) {
            int64_t r = i, off = 0, pad = 0;
            for (int d = rank - 1; d >= 0; d--) {
                int64_t k = index[d][r % p.shape[d]];
                r /= p.shape[d];
                pad |= k < 0;
                off += k * cstride[d];
            }
            if (memcmp(dst + i * size, pad ? fill : src + off * size, size) != 0) {
                CHECK(0, "table copy rank %d size %ld edge %d: element %ld differs", rank, (long)size, edge, (long)i);
                break;
            }
        }
        free(offsets); free(src); free(dst); free(fill);
    }
}

/* ---- Gather ---------------------------------------------------------------- */

static void gather(void) {
    for (int t = 0; t < 100; t++) {
        int64_t outer = rnd_int(1, 3), axis_dim = rnd_int(1, 6), inner = rnd_int(1, 5) * (t % 2 ? 4 : 8);
        int64_t n_idx = rnd_int(0, 7), is64 = t % 3 != 0, bad_want = 0;
        unsigned char *data = rand_bytes(outer * axis_dim * inner);
        int64_t *idx64 = exact_alloc(n_idx * sizeof(int64_t));
        int32_t *idx32 = exact_alloc(n_idx * sizeof(int32_t));
        for (int64_t j = 0; j < n_idx; j++) {
            int64_t k = rnd_int(-axis_dim - 2, axis_dim + 1);
            if (t % 7 == 0 && j == 0) k = is64 ? INT64_MIN : INT32_MIN;
            idx64[j] = k;
            idx32[j] = (int32_t)k;
            bad_want += k < -axis_dim || k >= axis_dim;
        }
        unsigned char *out = exact_alloc(outer * n_idx * inner);
        int64_t bad = radrt_gather(data, is64 ? (const void *)idx64 : (const void *)idx32, is64, out, outer, axis_dim,
                                   inner, n_idx);
        CHECK(bad == bad_want * outer, "gather: %ld bad indices reported, expected %ld", (long)bad,
              (long)(bad_want * outer));
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < n_idx; j++) {
                const unsigned char *got = out + (o * n_idx + j) * inner;
                int64_t k = idx64[j] < 0 && idx64[j] >= -axis_dim ? idx64[j] + axis_dim : idx64[j];
                if (k >= 0 && k < axis_dim) {
                    CHECK(memcmp(got, data + (o * axis_dim + k) * inner, inner) == 0, "gather row %ld index %ld",
                          (long)o, (long)j);
                } else {
                    int zero = 1;
                    for (int64_t b = 0; b < inner; b++) zero &= got[b] == 0;
                    CHECK(zero, "gather: out-of-range index %ld not zero-filled", (long)idx64[j]);
                }
            }
        free(data); free(idx64); free(idx32); free(out);
    }
}

/* ---- separable Resize ---------------------------------------------------------- */

static void resize(void) {
    for (int t = 0; t < 80; t++) {
        int rank = (int)rnd_int(1, 3), npasses = (int)rnd_int(1, rank);
        int64_t dims[3], cur[3], x_n = 1;
        for (int d = 0; d < rank; d++) dims[d] = cur[d] = rnd_int(1, 6), x_n *= dims[d];
        radrt_resize_pass_t passes[3];
        int64_t index_n = 0, axis_of[3], taps_of[3], out_of[3], buf_n[3];
        /* passes on the innermost axes, innermost first */
        for (int k = 0; k < npasses; k++) {
            int a = rank - 1 - k;
            axis_of[k] = a;
            taps_of[k] = rnd_int(1, 4);
            out_of[k] = rnd_int(1, 7);
            index_n += out_of[k] * taps_of[k] + out_of[k]; /* taps, then flags */
        }
        int64_t *index = exact_alloc(index_n * sizeof(int64_t));
        float *weight = exact_alloc(index_n * sizeof(float));
        int64_t at = 0;
        for (int k = 0; k < npasses; k++) {
            int a = (int)axis_of[k];
            radrt_resize_pass_t *p = &passes[k];
            p->outer = 1, p->inner = 1;
            for (int d = 0; d < a; d++) p->outer *= cur[d];
            for (int d = a + 1; d < rank; d++) p->inner *= cur[d];
            p->in_len = cur[a], p->out_len = out_of[k], p->taps = taps_of[k], p->table = at;
            for (int64_t i = 0; i < p->out_len * p->taps; i++) index[at + i] = rnd_int(0, p->in_len - 1);
            for (int64_t i = 0; i < p->out_len * p->taps; i++) weight[at + i] = rnd_float();
            at += p->out_len * p->taps;
            p->flags = rnd_int(0, 1) ? at : -1;
            for (int64_t i = 0; i < p->out_len; i++) index[at + i] = rnd_int(0, 3) == 0, weight[at + i] = 0.0f;
            at += p->out_len;
            cur[a] = p->out_len;
            buf_n[k] = p->outer * p->out_len * p->inner;
        }
        for (int k = 0; k < npasses; k++) {
            int a = (int)axis_of[k];
            passes[k].fin_outer = 1, passes[k].fin_inner = 1;
            for (int d = 0; d < a; d++) passes[k].fin_outer *= cur[d];
            for (int d = a + 1; d < rank; d++) passes[k].fin_inner *= cur[d];
        }
        /* pass k < npasses - 1 writes scratch buffer k % 2 */
        int64_t split = npasses > 1 ? buf_n[0] : 0, second = npasses > 2 ? buf_n[1] : 0;
        float *scratch = exact_alloc((split + second) * sizeof(float));
        float *x = rand_floats(x_n), *y = poison_floats(buf_n[npasses - 1]);
        radrt_resize_separable(x, y, scratch, split, passes, npasses, index, weight, 7.5f);
        /* reference: the same passes in double */
        double *in = exact_alloc(x_n * sizeof(double)), *out = NULL;
        for (int64_t i = 0; i < x_n; i++) in[i] = x[i];
        for (int k = 0; k < npasses; k++) {
            const radrt_resize_pass_t *p = &passes[k];
            out = exact_alloc(buf_n[k] * sizeof(double));
            for (int64_t o = 0; o < p->outer; o++)
                for (int64_t j = 0; j < p->out_len; j++)
                    for (int64_t i = 0; i < p->inner; i++) {
                        double s = 0.0;
                        for (int64_t tp = 0; tp < p->taps; tp++)
                            s += (double)weight[p->table + j * p->taps + tp] *
                                 in[(o * p->in_len + index[p->table + j * p->taps + tp]) * p->inner + i];
                        out[(o * p->out_len + j) * p->inner + i] = s;
                    }
            free(in);
            in = out;
        }
        for (int k = 0; k < npasses; k++) {
            const radrt_resize_pass_t *p = &passes[k];
            if (p->flags < 0) continue;
            for (int64_t o = 0; o < p->fin_outer; o++)
                for (int64_t j = 0; j < p->out_len; j++)
                    for (int64_t i = 0; index[p->flags + j] && i < p->fin_inner; i++)
                        out[(o * p->out_len + j) * p->fin_inner + i] = 7.5;
        }
        compare_floats("resize", y, out, buf_n[npasses - 1], 1e-5, 1e-4);
        free(index); free(weight); free(scratch); free(x); free(y); free(out);
    }
}

int main(void) {
    strided_paths();
    for (int i = 0; i < 500; i++) random_strided();
    concat_split();
    table_copy();
    gather();
    resize();
    return finish("test_datamove");
}

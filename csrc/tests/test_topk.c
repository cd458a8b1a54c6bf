/* TopK index arithmetic under AddressSanitizer and UndefinedBehaviorSanitizer:
 * every [outer, len, inner] view up to 4x7x4 (zeros included), every k in [0, len],
 * largest 0 and 1, in buffers of exactly the tensors' bytes (scratch too), against
 * a rank count written from topk.h (element i's rank = how many elements rank
 * before it); values drawn from a few small numbers so ties are common, with NaN
 * for floats; uint64 extremes; NULL outputs; bool refused. */
#include "check.h"

#include "kernels/topk.h"
#include "kernels/typed.h"

static float small_float(void) {
    const uint32_t r = rnd_u32() % 8;
    return r == 7 ? NAN : r == 6 ? -0.0f : (float)r - 3.0f;
}

/* topk.h's order on floats: NaN above every number, equal to NaN; then by index. */
static int before(float a, size_t ia, float b, size_t ib, int largest) {
    const int na = a != a, nb = b != b;
    int better;
    if (na || nb)
        better = largest ? na && !nb : nb && !na;
    else
        better = largest ? a > b : a < b;
    const int equal = (na && nb) || (!na && !nb && a == b);
    return better || (equal && ia < ib);
}

static void topk_shapes(void) {
    for (size_t outer = 0; outer <= 4; outer++)
        for (size_t len = 0; len <= 7; len++)
            for (size_t inner = 0; inner <= 4; inner++)
                for (size_t k = 0; k <= len; k++)
                    for (int largest = 0; largest <= 1; largest++) {
                        const size_t n = outer * len * inner, m = outer * k * inner;
                        float *x = exact_alloc(n * sizeof(float));
                        int16_t *xi = exact_alloc(n * sizeof(int16_t));
                        float *v = exact_alloc(m * sizeof(float));
                        int16_t *vi = exact_alloc(m * sizeof(int16_t));
                        int64_t *idx = exact_alloc(m * sizeof(int64_t));
                        int64_t *heap = exact_alloc(k * sizeof(int64_t));
                        for (size_t i = 0; i < n; i++) {
                            x[i] = small_float();
                            xi[i] = x[i] != x[i] ? 9 : (int16_t)x[i];   /* NaN: the largest int16 here */
                        }
                        CHECK(radrt_topk(x, v, idx, RADRT_T_F32, largest, outer, len, inner, k, heap) == 0, "f32");
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++)
                                for (size_t i = 0; i < len; i++) {
                                    const float xv = x[(o * len + i) * inner + j];
                                    size_t rank = 0;
                                    for (size_t q = 0; q < len; q++)
                                        rank += before(x[(o * len + q) * inner + j], q, xv, i, largest);
                                    if (rank >= k) continue;
                                    const size_t at = (o * k + rank) * inner + j;
                                    CHECK(idx[at] == (int64_t)i, "f32 [%zu,%zu,%zu] k %zu largest %d (%zu,%zu) rank %zu: "
                                          "index %lld, expected %zu", outer, len, inner, k, largest, o, j, rank,
                                          (long long)idx[at], i);
                                    CHECK(memcmp(&v[at], &xv, sizeof xv) == 0, "f32 value at rank %zu", rank);
                                }
                        for (size_t i = 0; i < n; i++) x[i] = (float)xi[i];
                        CHECK(radrt_topk(xi, vi, idx, RADRT_T_I16, largest, outer, len, inner, k, heap) == 0, "i16");
                        for (size_t o = 0; o < outer; o++)
                            for (size_t j = 0; j < inner; j++)
                                for (size_t r = 0; r < k; r++) {
                                    const size_t at = (o * k + r) * inner + j;
                                    const int64_t i = idx[at];
                                    CHECK(i >= 0 && (size_t)i < len && vi[at] == xi[(o * len + (size_t)i) * inner + j],
                                          "i16 value and index agree");
                                    if (r > 0) {
                                        const int64_t p = idx[at - inner];
                                        CHECK(before(x[(o * len + (size_t)p) * inner + j], (size_t)p,
                                                     x[(o * len + (size_t)i) * inner + j], (size_t)i, largest),
                                              "i16 rank %zu after rank %zu", r, r - 1);
                                    }
                                }
                        free(x);
                        free(xi);
                        free(v);
                        free(vi);
                        free(idx);
                        free(heap);
                    }
}

static void topk_edges(void) {
    const uint64_t u[5] = {0, UINT64_MAX, 1, UINT64_MAX, 0};
    uint64_t uv[5];
    int64_t ui[5], heap[5];
    radrt_topk(u, uv, ui, RADRT_T_U64, 1, 1, 5, 1, 5, heap);
    const int64_t want[5] = {1, 3, 2, 0, 4};
    for (int r = 0; r < 5; r++) CHECK(ui[r] == want[r] && uv[r] == u[want[r]], "u64 rank %d", r);
    const float f[4] = {2.0f, NAN, -INFINITY, NAN};
    int64_t fi[2];
    radrt_topk(f, NULL, fi, RADRT_T_F32, 0, 1, 4, 1, 2, heap);   /* values not wanted */
    CHECK(fi[0] == 2 && fi[1] == 0, "smallest skips NaN");
    float fv[2];
    radrt_topk(f, fv, NULL, RADRT_T_F32, 1, 1, 4, 1, 2, heap);   /* indices not wanted */
    CHECK(isnan(fv[0]) && isnan(fv[1]), "largest takes NaN first");
    CHECK(radrt_topk(f, fv, fi, RADRT_T_BOOL, 1, 1, 4, 1, 2, heap) == -1, "bool refused");
}

int main(void) {
    topk_shapes();
    topk_edges();
    return finish("test_topk");
}

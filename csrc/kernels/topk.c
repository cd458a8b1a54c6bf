/* TopK (topk.h has the order and the layout). One heap selection per element
 * type and direction, stamped out by a macro. heap[] holds positions along the
 * axis; BEFORE(a, b) is "position a ranks before position b". */
#include "topk.h"

#include "typed.h"

/* Value order with NaN above every number and equal to every NaN. The integer
 * types have no NaN: ISNAN is 0 for them and the compilers drop the branches. */
#define FLOAT_ISNAN(v) ((v) != (v))
#define INT_ISNAN(v) 0

#define DEFINE_TOPK(S, T, ISNAN)                                                                       \
    static inline int S##_gt(T a, T b) { return ISNAN(a) ? !ISNAN(b) : a > b; }                        \
    static inline int S##_eq(T a, T b) { return ISNAN(a) ? ISNAN(b) : a == b; }                        \
    /* a ranks before b: better value, or equal value and lower index. */                             \
    static inline int S##_before(const T *row, size_t inner, int largest, int64_t a, int64_t b) {      \
        T va = row[(size_t)a * inner], vb = row[(size_t)b * inner];                                    \
        if (largest ? S##_gt(va, vb) : S##_gt(vb, va)) return 1;                                       \
        return S##_eq(va, vb) && a < b;                                                                \
    }                                                                                                  \
    /* Restore the heap below slot `at` (the root ranks last among heap[0, n)). */                    \
    static void S##_sift_down(const T *row, size_t inner, int largest, int64_t *heap, size_t n,        \
                              size_t at) {                                                             \
        for (;;) {                                                                                     \
            size_t worst = at, l = 2 * at + 1, r = l + 1;                                              \
            if (l < n && S##_before(row, inner, largest, heap[worst], heap[l])) worst = l;             \
            if (r < n && S##_before(row, inner, largest, heap[worst], heap[r])) worst = r;             \
            if (worst == at) return;                                                                   \
            int64_t t = heap[at];                                                                      \
            heap[at] = heap[worst];                                                                    \
            heap[worst] = t;                                                                           \
            at = worst;                                                                                \
        }                                                                                              \
    }                                                                                                  \
    static void S##_topk(const T *x, T *values, int64_t *indices, int largest, size_t outer,           \
                         size_t len, size_t inner, size_t k, int64_t *heap) {                          \
        if (k == 0) return;                                                                            \
        for (size_t o = 0; o < outer; o++)                                                             \
            for (size_t j = 0; j < inner; j++) {                                                       \
                const T *row = x + o * len * inner + j;                                                \
                size_t n = 0;                                                                          \
                for (size_t i = 0; i < len; i++) {                                                     \
                    if (n < k) { /* grow: sift the new position up */                                  \
                        size_t at = n++;                                                               \
                        heap[at] = (int64_t)i;                                                         \
                        while (at > 0) {                                                               \
                            size_t parent = (at - 1) / 2;                                              \
                            if (!S##_before(row, inner, largest, heap[parent], heap[at])) break;       \
                            int64_t t = heap[at];                                                      \
                            heap[at] = heap[parent];                                                   \
                            heap[parent] = t;                                                          \
                            at = parent;                                                               \
                        }                                                                              \
                    } else if (S##_before(row, inner, largest, (int64_t)i, heap[0])) {                 \
                        heap[0] = (int64_t)i;                                                          \
                        S##_sift_down(row, inner, largest, heap, n, 0);                                \
                    }                                                                                  \
                }                                                                                      \
                for (size_t end = n; end-- > 1;) { /* heapsort: the last-ranked to the back */         \
                    int64_t t = heap[0];                                                               \
                    heap[0] = heap[end];                                                               \
                    heap[end] = t;                                                                     \
                    S##_sift_down(row, inner, largest, heap, end, 0);                                  \
                }                                                                                      \
                for (size_t r = 0; r < k; r++) {                                                       \
                    size_t at = (o * k + r) * inner + j;                                               \
                    if (values) values[at] = row[(size_t)heap[r] * inner];                             \
                    if (indices) indices[at] = heap[r];                                                \
                }                                                                                      \
            }                                                                                          \
    }

DEFINE_TOPK(f32, float, FLOAT_ISNAN)
DEFINE_TOPK(f64, double, FLOAT_ISNAN)
DEFINE_TOPK(i8, int8_t, INT_ISNAN)
DEFINE_TOPK(u8, uint8_t, INT_ISNAN)
DEFINE_TOPK(i16, int16_t, INT_ISNAN)
DEFINE_TOPK(u16, uint16_t, INT_ISNAN)
DEFINE_TOPK(i32, int32_t, INT_ISNAN)
DEFINE_TOPK(u32, uint32_t, INT_ISNAN)
DEFINE_TOPK(i64, int64_t, INT_ISNAN)
DEFINE_TOPK(u64, uint64_t, INT_ISNAN)

#define CASE(CODE, S, T) \
    case CODE: S##_topk((const T *)x, (T *)values, indices, largest, outer, len, inner, k, scratch); return 0;

int radrt_topk(const void *x, void *values, int64_t *indices, int dtype, int largest, size_t outer, size_t len,
               size_t inner, size_t k, int64_t *scratch) {
    largest = largest != 0;
    switch (dtype) {
    CASE(RADRT_T_F32, f32, float)
    CASE(RADRT_T_F64, f64, double)
    CASE(RADRT_T_I8, i8, int8_t)
    CASE(RADRT_T_U8, u8, uint8_t)
    CASE(RADRT_T_I16, i16, int16_t)
    CASE(RADRT_T_U16, u16, uint16_t)
    CASE(RADRT_T_I32, i32, int32_t)
    CASE(RADRT_T_U32, u32, uint32_t)
    CASE(RADRT_T_I64, i64, int64_t)
    CASE(RADRT_T_U64, u64, uint64_t)
    default: return -1;
    }
}

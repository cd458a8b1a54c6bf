/* Batched products Y[i] = epilogue(A[i] B[i]): one radrt_sgemm per product,
 * operands located by precomputed offsets (numpy broadcasting of the batch
 * dims is resolved at prepare time). */
#include "matmul.h"

void radrt_matmul(const radrt_matmul_params *p, const float *a, const float *b, const float *bias, float *y,
                  float *scratch, radrt_abft *ck) {
    radrt_epilogue ep = p->ep;
    ep.bias = bias;
    const int64_t seal_base = ck ? ck->seal_base : 0;
    uint64_t *wseal = ck ? ck->wseal : NULL;
    for (int64_t i = 0; i < p->batch; i++) {
        radrt_operand ao = {a + p->a_offsets[i], p->a_rs, p->a_cs, 0};
        radrt_operand bo = {b + p->b_offsets[i], p->b_rs, p->b_cs, p->b_packed};
        if (ck) {
            ck->seal_base = seal_base + i * p->M * p->N; /* product i's place in y */
            ck->wseal = i == 0 ? wseal : NULL;          /* the one B is sealed once */
        }
        radrt_sgemm(p->M, p->N, p->K, &ao, &bo, NULL, NULL, y + i * p->M * p->N, p->N, &ep, scratch, ck);
    }
    if (ck) {
        ck->seal_base = seal_base;
        ck->wseal = wseal;
    }
}

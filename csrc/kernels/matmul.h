/* Batched matrix products for Gemm and MatMul on the GEMM core. */
#ifndef RADRT_MATMUL_H
#define RADRT_MATMUL_H
#include <stdint.h>

#include "gemm.h"

typedef struct {
    int64_t M, N, K, batch;
    /* Element offsets of each product's A and B (B offsets index the packed
     * buffer when b_packed); product i writes y + i*M*N. */
    const int64_t *a_offsets, *b_offsets;
    int64_t a_rs, a_cs, b_rs, b_cs;
    int b_packed;
    /* ep.bias is ignored: the bias pointer is the `bias` argument, at the
     * same offset for every product. */
    radrt_epilogue ep;
} radrt_matmul_params;

/* ck: NULL, or a radrt_abft (gemm.h) given to every product's radrt_sgemm:
 * only when every product has the same constant B (side ROWS) or the same
 * constant A (side COLUMNS); work holds radrt_abft_work_floats(M, N, side). */
void radrt_matmul(const radrt_matmul_params *p, const float *a, const float *b, const float *bias, float *y,
                  float *scratch, radrt_abft *ck);

#endif

/* Reductions over float32 (ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
 * ReduceLogSumExp). Python merges adjacent axes that are both kept or both
 * reduced (and drops axes of size 1), so the input is `ndims` dims; each has
 * its stride in the output (0 when reduced). `scratch` holds out_count
 * doubles: the accumulators. */
#ifndef RADRT_REDUCE_H
#define RADRT_REDUCE_H
#include <stdint.h>
#include "../core.h"

#define RADRT_REDUCE_SUM 0
#define RADRT_REDUCE_MEAN 1
#define RADRT_REDUCE_MAX 2
#define RADRT_REDUCE_MIN 3
#define RADRT_REDUCE_PROD 4
#define RADRT_REDUCE_L1 5
#define RADRT_REDUCE_L2 6
#define RADRT_REDUCE_SUM_SQUARE 7
#define RADRT_REDUCE_LOG_SUM 8
#define RADRT_REDUCE_LOG_SUM_EXP 9

typedef struct {
    int64_t op;                          /* RADRT_REDUCE_* */
    int64_t ndims;                       /* >= 1 */
    int64_t dims[RADRT_MAX_DIMS];        /* merged input dims */
    int64_t out_stride[RADRT_MAX_DIMS];  /* stride in the output, 0 for a reduced dim */
    int64_t out_count;                   /* output elements */
    int64_t reduce_count;                /* input elements reduced into each output */
} radrt_reduce_params;

void radrt_reduce(const float *x, float *y, const radrt_reduce_params *p, void *scratch);

#endif

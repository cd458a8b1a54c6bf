/* The checks abft makes after a step's kernel, one C call per step (see
 * runtime/protect/abft.py for the whole scheme). Each seals the step's outputs
 * (seal.h), verifies the seals of the buffers the step read, and applies the
 * step's own check; the result says which failed first:
 *   RADRT_STEP_OK          everything verified
 *   RADRT_STEP_FAILED      the step's own check failed (duplicate mismatch, sums
 *                          invariant, GEMM checksum beyond its threshold)
 *   RADRT_STEP_NONFINITE   a GEMM product with inf/NaN: its checksums cannot be compared
 *   RADRT_STEP_BAD_INPUT   a buffer the step read no longer matches its producer's seal
 * A bad input wins over the others (it may be their cause). */
#ifndef RADRT_STEP_CHECK_H
#define RADRT_STEP_CHECK_H
#include <stdint.h>

#include "../kernels/gemm.h" /* radrt_abft */
#include "seal.h"

#define RADRT_STEP_OK 0
#define RADRT_STEP_FAILED 1
#define RADRT_STEP_NONFINITE 2
#define RADRT_STEP_BAD_INPUT 3

/* A step run twice: `first` holds the seals of the first run's outputs; the
 * outputs (of the second run) are sealed into `outs` and compared with them. */
int radrt_abft_after_twice(const radrt_sealed *outs, const radrt_sealed *first, int64_t nouts,
                           const radrt_sealed *reads, int64_t nreads);

/* A step that moves words (Concat, Transpose, Split, a copy): the plain sums of
 * its output seals must equal those of the buffers it read. */
int radrt_abft_after_moved(const radrt_sealed *outs, int64_t nouts, const radrt_sealed *reads, int64_t nreads);

/* A GEMM step (Conv, Gemm, MatMul) whose kernel compared its fused checksums into *ck
 * (and, when ck->seal is set, sealed its output as it stored it: outs are then not read;
 * when ck->wseal is set, sealed its packed weights as it read them: they must equal
 * golden_weights, else RADRT_STEP_FAILED). */
int radrt_abft_after_gemm(const radrt_abft *ck, const radrt_sealed *outs, int64_t nouts,
                          const radrt_sealed *reads, int64_t nreads, const radrt_seal *golden_weights);

/* Zero the results and the output seal of *ck before its step runs. */
void radrt_abft_reset(radrt_abft *ck);

#endif

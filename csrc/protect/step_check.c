/* abft step checks: see step_check.h. */
#include "step_check.h"

int radrt_abft_after_twice(const radrt_sealed *outs, const radrt_sealed *first, int64_t nouts,
                           const radrt_sealed *reads, int64_t nreads) {
    radrt_seal_all(outs, nouts);
    if (radrt_seal_verify(reads, nreads) >= 0) return RADRT_STEP_BAD_INPUT;
    return radrt_seal_equal(outs, first, nouts) ? RADRT_STEP_OK : RADRT_STEP_FAILED;
}

int radrt_abft_after_moved(const radrt_sealed *outs, int64_t nouts, const radrt_sealed *reads, int64_t nreads) {
    radrt_seal_all(outs, nouts);
    if (radrt_seal_verify(reads, nreads) >= 0) return RADRT_STEP_BAD_INPUT;
    return radrt_seal_sums_match(outs, nouts, reads, nreads) ? RADRT_STEP_OK : RADRT_STEP_FAILED;
}

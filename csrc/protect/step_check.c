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

int radrt_abft_after_gemm(const radrt_abft *ck, const radrt_sealed *outs, int64_t nouts,
                          const radrt_sealed *reads, int64_t nreads, const radrt_seal *golden_weights) {
    if (!ck->seal) radrt_seal_all(outs, nouts); /* else the GEMM sealed what it stored */
    if (radrt_seal_verify(reads, nreads) >= 0) return RADRT_STEP_BAD_INPUT;
    if (ck->exceeded) return RADRT_STEP_FAILED;
    if (ck->wseal && (ck->wseal[0] != golden_weights->sum || ck->wseal[1] != golden_weights->wsum))
        return RADRT_STEP_FAILED;
    return ck->nonfinite ? RADRT_STEP_NONFINITE : RADRT_STEP_OK;
}

void radrt_abft_reset(radrt_abft *ck) {
    ck->checked = ck->exceeded = ck->nonfinite = 0;
    ck->worst = 0.0f;
    if (ck->seal) ck->seal[0] = ck->seal[1] = 0;
    if (ck->wseal) ck->wseal[0] = ck->wseal[1] = 0;
}

"""The `abft` executor: one compute replica, every op checked, tensors chained by seals.

Per step, in order (built once into `AbftStep`s, so a run is a loop of C calls):

- GEMM steps (Conv, Gemm, MatMul whose kernel has fused ABFT, `Prepared.abft`): the
  kernel runs once with a `radrt_abft` record; the packed GEMM compares, per column
  (or row) of the product, the checksum of what it stored with the one predicted
  from the golden weights (csrc/kernels/gemm.h, Huang & Abraham 1984). A failure
  is `exceeded`; a product with inf/NaN cannot be checked and is run again and
  compared instead.
- data movement whose output words are its input words, moved (Concat, Transpose,
  Split and the plan's output copies, elements of 4 or 8 bytes) runs once: the
  plain sums of its output seals must add up to those of its verified inputs (an
  invariant, no second run).
- every other step runs twice; its output seals (csrc/protect/seal.h) after the
  first and the second run must be equal (duplicate and compare).
- chaining: after a step ran, the seals of every buffer it read (activations,
  input copy, and the constants no checksum covers) are verified against the
  seals their producer recorded (weights: recorded at load), and the step's
  outputs are sealed. An upset in a tensor between its producer's check and its
  consumer's read is therefore caught by the consumer.
- outputs: the copies returned are verified against the output seals.
- input: the caller's arrays are sealed while they are copied in (their own
  buffers stay exposed, as in every mode).

Recovery. A step whose own check fails (checksum, duplicate mismatch): the weights
are scrubbed (repaired from the golden mirror, copy 1, which the scrubber
verifies), the step's inputs are verified, and the step alone is executed again
(`ops_reexecuted`). If it passes, the upset is counted as corrected; if it fails
again, `run()` raises UncorrectableUpsetError in that call, except when the
re-executed GEMM stored bit-identical output (same seal) from verified inputs and
weights: then the first result was right and the checksum exceeded its round-off
threshold on this data (not an upset; nothing is counted but the re-execution).
A tensor whose seal fails at its consumer was hit after it was checked; its
producer's inputs may already be overwritten (the arena reuses memory), so the
whole run is executed again from the caller's inputs (`reexecutions`); a second
failure raises.

Costs and what stays exposed: README "Protection" and benchmarks/light_models.md.
"""
from typing import Dict, List, Optional

import numpy as np

from .._core import ffi, lib
from ..errors import UncorrectableUpsetError
from .engine import Engine, Hooks

# Ops whose output words are exactly their input words, moved (checked by sums, not run twice).
PERMUTATIONS = ("Concat", "Transpose", "Split", "Copy")

# lambda of the GEMM round-off threshold (csrc/kernels/gemm.h): tol = lambda * u * (...).
ABFT_LAMBDA = 8.0


class _Sealed:
    """A C array of radrt_sealed entries (pointer, bytes, seal slot) and its length."""

    def __init__(self, entries):
        self.n = len(entries)
        self.array = ffi.new("radrt_sealed[]", max(self.n, 1))
        for k, (ptr, nbytes, seal) in enumerate(entries):
            self.array[k].p = ptr
            self.array[k].nbytes = nbytes
            self.array[k].seal = seal


class AbftStep:
    def __init__(self, index: int, call, ck, permutation: bool, verify: _Sealed, outs: _Sealed,
                 first: _Sealed):
        self.index = index
        self.fn, self.args = call
        self.ck = ck            # radrt_abft * for GEMM steps, else None
        self.permutation = permutation  # checked by the sums invariant; else duplicate and compare
        self.verify = verify    # buffers the step read, with their producers' seals
        self.outs = outs        # the step's outputs and their seal slots
        self.first = first      # the same outputs, with the slots of the first run's seals


class _RerunWhole(Exception):
    """A tensor's seal failed at its consumer: the run restarts from the caller's inputs."""

    def __init__(self, step: int):
        self.step = step


class AbftEngine(Engine):
    def __init__(self, plan, mode, weights, vote_points, health, events):
        super().__init__(plan, mode, weights, vote_points, health, events)
        replica = self.replicas[0]
        regions = replica.regions
        # One seal slot per produced buffer version, per input, per weight constant.
        slots: List[object] = []

        def new_slot():
            slots.append(ffi.new("radrt_seal *"))
            return slots[-1]

        def ptr(p):
            return regions[p.region].pointer(p.offset)

        self._input_seals = {}
        current: Dict[tuple, object] = {}  # placement -> the seal slot of its latest producer
        for name, p, _ in plan.inputs:
            slot = new_slot()
            self._input_seals[name] = (slot, p)
            current[p] = slot
        weights_region = regions["weights"]
        for _, p, _ in plan.weights:
            slot = new_slot()
            lib.radrt_seal_add(slot, weights_region.pointer(p.offset), p.nbytes, 0)
            current[p] = slot
        self._ck_work = None
        self.steps: List[AbftStep] = []
        for step, call in zip(plan.steps, self.replicas[0].calls):
            spec = getattr(step.prepared, "abft", None)
            ck = self._make_ck(step, spec, regions) if spec is not None else None
            if ck is not None:
                call = step.prepared.invoke(lib, *self._bound_pointers(step, regions), abft=ck)
            reads = [p for p in step.ins if p is not None and p.nbytes]
            if ck is None:
                reads += [p for p in step.consts if p.nbytes]
            else:  # the checksums cover what the GEMM reads from the weights region
                reads = [p for p in reads if p.region != "weights"]
            verify = _Sealed([(ptr(p), p.nbytes, current[p]) for p in reads])
            outs = [p for p in step.outs if p is not None and p.nbytes]
            permutation = ck is None and _is_permutation(step)
            out_slots = [new_slot() for _ in outs]
            first_slots = [new_slot() for _ in outs] if ck is None and not permutation else []
            for p, slot in zip(outs, out_slots):
                current[p] = slot
            self.steps.append(AbftStep(step.index, call, ck, permutation, verify,
                                       _Sealed([(ptr(p), p.nbytes, s) for p, s in zip(outs, out_slots)]),
                                       _Sealed([(ptr(p), p.nbytes, s) for p, s in zip(outs, first_slots)])))
        self._output_seals = {n: current[p] for n, p, _ in plan.outputs}
        self._slots = slots  # keeps the cdata alive

    # -- building ----------------------------------------------------------------------
    @staticmethod
    def _bound_pointers(step, regions):
        def ptr(p):
            return regions[p.region].pointer(p.offset) if p is not None else ffi.NULL
        ins = [ptr(p) for p in step.ins]
        outs = [ptr(p) for p in step.outs]
        consts = [ptr(p) for p in step.consts]
        scratch = ptr(step.scratch) if step.scratch else ffi.NULL
        return ins, outs, consts, scratch

    def _make_ck(self, step, spec, regions):
        ck = ffi.new("radrt_abft *")
        wsum, wabs = step.consts[spec.wsum_const], step.consts[spec.wabs_const]
        ck.side = spec.side
        ck.wsum = ffi.cast("float *", regions["weights"].pointer(wsum.offset))
        ck.wabs = ffi.cast("float *", regions["weights"].pointer(wabs.offset))
        ck.lam = ABFT_LAMBDA
        spec.bind(ck)
        work = ffi.new("float[]", max(spec.work_floats, 1))
        ck.work = work
        self._keep = getattr(self, "_keep", []) + [work]
        return ck

    # -- running -----------------------------------------------------------------------
    def begin(self, feeds: Dict[str, np.ndarray]) -> None:
        self.feeds = {n: np.ascontiguousarray(a) for n, a in feeds.items()}
        self._copy_in()
        self._reran = False

    def _copy_in(self) -> None:
        region = self.replicas[0].regions["input"]
        for name, arr in self.feeds.items():
            slot, p = self._input_seals[name]
            if p.nbytes:
                lib.radrt_seal_copy(slot, ffi.from_buffer(arr), region.pointer(p.offset), p.nbytes)

    def advance(self, start: int, stop: int, hooks: Optional[Hooks] = None) -> None:
        try:
            self._advance(start, stop, hooks)
        except _RerunWhole as bad:
            self._rerun_whole(bad.step)
            # the rest of the steps ran already; armed upsets are spent

    def _advance(self, start: int, stop: int, hooks: Optional[Hooks]) -> None:
        for i in range(start, stop):
            s = self.steps[i]
            hs = hooks.get(i) if hooks else None
            if s.ck is not None:
                self._run_gemm(s, hs)
            elif s.permutation:
                self._run_permutation(s, hs)
            else:
                self._run_duplicated(s, hs)
            if hs:
                for h in hs:
                    if not h.before_vote:
                        h()

    def _run_gemm(self, s: AbftStep, hooks) -> None:
        ck = s.ck
        ck.checked = ck.exceeded = ck.nonfinite = 0
        ck.worst = 0.0
        s.fn(*s.args)
        lib.radrt_seal_all(s.outs.array, s.outs.n)  # TODO(fused seal): sealed in the GEMM store
        _apply_compute(hooks)
        if ck.exceeded or ck.nonfinite:
            self._recover(s, "checksum" if ck.exceeded else "nonfinite")
        self._verify_inputs(s)

    def _run_permutation(self, s: AbftStep, hooks) -> None:
        s.fn(*s.args)
        _apply_compute(hooks)
        lib.radrt_seal_all(s.outs.array, s.outs.n)
        self._verify_inputs(s)  # first: the invariant compares with the inputs' seals
        if not lib.radrt_seal_sums_match(s.outs.array, s.outs.n, s.verify.array, s.verify.n):
            self._recover(s, "invariant")

    def _run_duplicated(self, s: AbftStep, hooks) -> None:
        s.fn(*s.args)
        lib.radrt_seal_all(s.first.array, s.first.n)
        s.fn(*s.args)
        _apply_compute(hooks)
        lib.radrt_seal_all(s.outs.array, s.outs.n)
        if not _seals_equal(s.first, s.outs):
            self._recover(s, "duplicate")
        self._verify_inputs(s)

    def _verify_inputs(self, s: AbftStep) -> None:
        if s.verify.n and lib.radrt_seal_verify(s.verify.array, s.verify.n) >= 0:
            self._mismatch(s.index)
            raise _RerunWhole(s.index)

    def _mismatch(self, index: int) -> None:
        self.health["checksum_mismatches"] += 1
        self.events.append(("CHECKSUM_MISMATCH", index, 0))

    def _recover(self, s: AbftStep, why: str) -> None:
        """Re-execute step s alone from verified weights and inputs; raise if it fails again."""
        first = _seal_values(s.outs)
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        self._verify_inputs(s)  # a bad input: the whole run is executed again
        self.health["ops_reexecuted"] += 1
        if s.ck is not None:
            ck = s.ck
            ck.checked = ck.exceeded = ck.nonfinite = 0
            s.fn(*s.args)
            lib.radrt_seal_all(s.outs.array, s.outs.n)
            again = _seal_values(s.outs)
            if why == "nonfinite" and not ck.exceeded:
                if again == first:
                    return  # inf/NaN in the data, the same twice: checked by duplication
                self._mismatch(s.index)
                s.fn(*s.args)  # a third run decides which of the two was hit
                lib.radrt_seal_all(s.outs.array, s.outs.n)
                if _seal_values(s.outs) != again:
                    self._lost(f"op {s.index}: three executions of a product with inf/NaN disagree")
                self._count_corrected(repaired)
                return
            if not ck.exceeded and not ck.nonfinite:
                self._mismatch(s.index)
                self._count_corrected(repaired)
                return
            if again == first and not repaired:
                return  # same bits from verified inputs and weights: round-off, not an upset
            self._mismatch(s.index)
            self._lost(f"op {s.index}: the ABFT checksum failed again after re-execution")
        self._mismatch(s.index)
        if s.permutation:
            s.fn(*s.args)
            lib.radrt_seal_all(s.outs.array, s.outs.n)
            if not lib.radrt_seal_sums_match(s.outs.array, s.outs.n, s.verify.array, s.verify.n):
                self._lost(f"op {s.index}: the moved data still does not add up after re-execution")
            self._count_corrected(repaired)
            return
        s.fn(*s.args)
        lib.radrt_seal_all(s.first.array, s.first.n)
        s.fn(*s.args)
        lib.radrt_seal_all(s.outs.array, s.outs.n)
        if not _seals_equal(s.first, s.outs):
            self._lost(f"op {s.index}: the duplicated executions disagree again after re-execution")
        self._count_corrected(repaired)

    def _count_corrected(self, repaired: int) -> None:
        if not repaired:  # a weight repair was counted by the scrub
            self._count_transient()

    def _rerun_whole(self, step: int) -> None:
        if self._reran:
            self._lost(f"op {step}: a tensor failed its seal again after the run was executed again")
        self._reran = True
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        self.health["reexecutions"] += 1
        self._copy_in()
        try:
            self._advance(0, len(self.steps), None)
        except _RerunWhole as bad:
            self._lost(f"op {bad.step}: a tensor failed its seal again after the run was executed again")
        self._count_corrected(repaired)

    def finish(self) -> Dict[str, np.ndarray]:
        outputs = {}
        for name, view in self.replicas[0].outputs.items():
            out = view.copy()
            outputs[name] = out
            if out.nbytes:
                check = _Sealed([(ffi.from_buffer(out), out.nbytes, self._output_seals[name])])
                if lib.radrt_seal_verify(check.array, 1) >= 0:
                    self._mismatch(len(self.steps))
                    self._rerun_whole(len(self.steps))
                    return self.finish()
        return outputs


def _is_permutation(step) -> bool:
    """True for a step whose output words are its input words moved (elements of 4 or 8
    bytes, so whole 32-bit words move); their plain sums then agree."""
    if step.node.op_type not in PERMUTATIONS or step.consts or step.scratch is not None:
        return False
    infos = step.prepared.outputs
    return bool(infos) and all(np.dtype(i.dtype).itemsize in (4, 8) for i in infos)


def _apply_compute(hooks) -> None:
    for h in hooks or ():
        if h.before_vote:
            h()


def _seal_values(t: _Sealed):
    return [(t.array[k].seal.sum, t.array[k].seal.wsum) for k in range(t.n)]


def _seals_equal(a: _Sealed, b: _Sealed) -> bool:
    return bool(lib.radrt_seal_equal(a.array, b.array, a.n))

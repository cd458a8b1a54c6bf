"""The `abft` executor: one compute replica, every op checked, tensors chained by seals.

Each step is checked in one of three ways (`AbftStep.kind`), then the buffers it read
are verified against their producers' seals (csrc/protect/seal.h), all in one C call
after the kernel (csrc/protect/step_check.h):

- "gemm": Conv, Gemm and MatMul with constant weights (`Prepared.abft`). The kernel
  runs once with a `radrt_abft` record: the packed GEMM compares, per column (or row)
  of the product, the checksum of what it stored with the one predicted from the
  golden weights (csrc/kernels/gemm.h; Huang & Abraham 1984), seals its output tile
  by tile right after storing it (read back from L1), and seals its packed weights as
  its tiles read them (compared with their golden seal). A depthwise Conv does the
  same per output channel (csrc/kernels/conv.c), predicting from its taps as read:
  those weights are then verified by their seal like any other weights-region read
  (`AbftSpec.packed_weights` None). A product with inf/NaN cannot be compared: it is
  run again and the two outputs' seals compared instead.
- "exact": the integer products with constant weights (QLinearConv, ConvInteger,
  QLinearMatMul, MatMulInteger, QGemm): the kernel compares exact int32 checksums (no
  threshold, so no false alarm: csrc/kernels/integer.h), checks its output stage by
  computing it again, and seals its output; its weights are verified by their seal.
  A check that fails again after re-execution from verified inputs and weights is lost
  (an exact check has no round-off to excuse it).
- "moved": Concat, Transpose, Split and the plan's output copies (elements of 4 or 8
  bytes): run once; the plain sums of the output seals must equal those of the
  inputs (an invariant: the output words are the input words, moved).
- "twice": every other op runs twice; the output seals of the two runs must agree.

The buffers a step read are the activations, the input copy, and (for "twice" and
"moved") the weight constants it reads; their seals come from their producer, from
the copy-in (sealed from the caller's arrays), or from load (weights). The outputs
returned by run() are copies verified against the output seals. So an upset in any
tensor after its producer's check and before its last read is caught.

Recovery. A step whose own check fails: the weights are scrubbed (repaired from the
verified golden mirror, copy 1, or from the model's arrays), the step's inputs are
verified, and the step alone is executed again (`ops_reexecuted`). If it passes, the
upset is counted as corrected; if it fails again, run() raises UncorrectableUpsetError
in that call, except when a re-executed GEMM stored the same bits (same seal) from
verified inputs and weights: the first result was then right and the checksum
exceeded its round-off threshold on these data (not an upset: only the re-execution
is counted). A tensor whose seal fails when it is read was hit after its check; its
producer's inputs may be overwritten already (the arena reuses memory), so the whole
run is executed again from the caller's inputs (`reexecutions`); a second failure
raises.

Fault injection: a `compute` upset at a step lands right after its (last) kernel
call, before the step's checks: for "gemm" and "exact" steps after the kernel sealed its
output, so it stands for an upset of the stored output, caught by the next reader (an error in
the GEMM's arithmetic itself is the checksums' part: csrc/tests/test_abft.c,
benchmarks/abft_threshold.py).
"""
from typing import Dict, List, Optional

import numpy as np

from .._core import ffi, lib
from ..ops import abft_struct
from .engine import Engine, Hooks

# Ops whose output words are exactly their input words, moved (checked by sums, not run twice).
MOVED = ("Concat", "Transpose", "Split", "Copy")
OK, FAILED, NONFINITE, BAD_INPUT = (lib.RADRT_STEP_OK, lib.RADRT_STEP_FAILED, lib.RADRT_STEP_NONFINITE,
                                    lib.RADRT_STEP_BAD_INPUT)


class _Sealed:
    """A C array of radrt_sealed entries (pointer, bytes, seal slot) and its length."""

    def __init__(self, entries):
        self.n = len(entries)
        self.array = ffi.new("radrt_sealed[]", max(self.n, 1))
        for k, (ptr, nbytes, seal) in enumerate(entries):
            self.array[k].p = ptr
            self.array[k].nbytes = nbytes
            self.array[k].seal = seal

    def values(self):
        return [(self.array[k].seal.sum, self.array[k].seal.wsum) for k in range(self.n)]


class AbftStep:
    def __init__(self, index: int, kind: str, call, ck, reads: _Sealed, outs: _Sealed, first: _Sealed,
                 golden_weights=None):
        self.index = index
        self.kind = kind          # "gemm", "exact", "moved" or "twice"
        self.fn, self.args = call
        self.ck = ck              # radrt_abft * ("gemm", "exact"), else None
        self.reads = reads        # buffers the step read, with their producers' seals
        self.outs = outs          # the step's outputs and their seal slots
        self.first = first        # "twice": the same outputs, with the first run's seals
        if kind in ("gemm", "exact"):
            self.after = (lib.radrt_abft_after_gemm, (ck, outs.array, outs.n, reads.array, reads.n,
                                                      golden_weights))
        elif kind == "moved":
            self.after = (lib.radrt_abft_after_moved, (outs.array, outs.n, reads.array, reads.n))
        else:
            self.after = (lib.radrt_abft_after_twice, (outs.array, first.array, outs.n, reads.array, reads.n))


class _RerunWhole(Exception):
    """A tensor's seal failed where it was read: the run restarts from the caller's inputs."""

    def __init__(self, step: int):
        self.step = step


class AbftEngine(Engine):
    def __init__(self, plan, mode, weights, vote_points, health, events):
        super().__init__(plan, mode, weights, vote_points, health, events)
        regions = self.replicas[0].regions
        self._keep: List[object] = []  # cdata the C records point to
        self._slots: List[object] = []  # every seal slot: state a run writes (save_run_state)

        def new_slot():
            self._slots.append(ffi.new("radrt_seal *"))
            return self._slots[-1]

        def ptr(p):
            return regions[p.region].pointer(p.offset)

        self._input_seals = {}
        current: Dict[object, object] = {}  # placement -> the seal slot of its latest producer
        for name, p, _ in plan.inputs:
            current[p] = self._input_seals[name] = new_slot()
        for _, p, _ in plan.weights:
            current[p] = new_slot()
            lib.radrt_seal_add(current[p], ptr(p), p.nbytes, 0)
        self._input_places = {name: p for name, p, _ in plan.inputs}
        self.steps: List[AbftStep] = []
        for step, call in zip(plan.steps, self.replicas[0].calls):
            outs = [p for p in step.outs if p is not None and p.nbytes]
            out_slots = [new_slot() for _ in outs]
            reads = [p for p in step.ins if p is not None and p.nbytes]
            spec = step.prepared.abft
            # Weights are verified at use, exactly (a checksum threshold alone lets the upset
            # of a low mantissa bit through: measured, 0.7 % of digits' weight upsets). A
            # GEMM seals its packed weights block by block as it reads them (ck.wseal).
            consts = [p for p in step.consts if p.nbytes]
            golden_weights = ffi.NULL  # no pre-packed weights sealed at use
            if spec is not None:
                kind = "exact" if spec.side == lib.RADRT_ABFT_EXACT else "gemm"
                ck, keep = abft_struct(ffi, spec, [ptr(p) for p in step.consts])
                self._keep.append(keep)
                ck.seal = ffi.cast("uint64_t *", out_slots[0]) if len(outs) == 1 else ffi.NULL
                if spec.packed_weights is not None:  # the pre-packed weight operand, sealed as read
                    packed = step.consts[spec.packed_weights]
                    ck.wseal = ffi.cast("uint64_t *", new_slot())
                    golden_weights = current[packed]
                    consts = [p for p in consts if p != packed]
                call = step.prepared.invoke(lib, *self._pointers(step, ptr), abft=ck)
            else:
                kind = "moved" if _moves_words(step) else "twice"
                ck = None
            reads += consts
            first = [new_slot() for _ in outs] if kind == "twice" else []
            self.steps.append(AbftStep(
                step.index, kind, call, ck, _Sealed([(ptr(p), p.nbytes, current[p]) for p in reads]),
                _Sealed([(ptr(p), p.nbytes, s) for p, s in zip(outs, out_slots)]),
                _Sealed([(ptr(p), p.nbytes, s) for p, s in zip(outs, first)]), golden_weights))
            for p, slot in zip(outs, out_slots):
                current[p] = slot
        # an output of no bytes has no seal (nothing to check; finish() skips it)
        self._output_seals = {n: current[p] for n, p, _ in plan.outputs if p.nbytes}

    @staticmethod
    def _pointers(step, ptr):
        return ([ptr(p) if p is not None else ffi.NULL for p in step.ins],
                [ptr(p) if p is not None else ffi.NULL for p in step.outs],
                [ptr(p) for p in step.consts],
                ptr(step.scratch) if step.scratch else ffi.NULL)

    # -- run state -----------------------------------------------------------------------
    def save_run_state(self):
        state = super().save_run_state()
        size = ffi.sizeof("radrt_seal")
        state.extra = (b"".join(ffi.buffer(slot, size)[:] for slot in self._slots), self._reran)
        return state

    def restore_run_state(self, state, written=None) -> None:
        super().restore_run_state(state, written)
        seals, self._reran = state.extra
        size = ffi.sizeof("radrt_seal")
        for k, slot in enumerate(self._slots):
            ffi.memmove(slot, seals[k * size:(k + 1) * size], size)

    # -- running -----------------------------------------------------------------------
    def begin(self, feeds: Dict[str, np.ndarray]) -> None:
        self.feeds = {n: np.ascontiguousarray(a) for n, a in feeds.items()}
        self._reran = False
        self._copy_in()

    def _copy_in(self) -> None:
        region = self.replicas[0].regions["input"]
        for name, arr in self.feeds.items():
            p = self._input_places[name]
            if p.nbytes:  # sealed from the caller's array, then copied
                lib.radrt_seal_copy(self._input_seals[name], ffi.from_buffer(arr), region.pointer(p.offset),
                                    p.nbytes)

    def advance(self, start: int, stop: int, hooks: Optional[Hooks] = None) -> None:
        try:
            self._advance(start, stop, hooks)
        except _RerunWhole as bad:
            # from the caller's inputs up to stop (the rest of [start, stop) too), never past
            # it: a paused run goes on from stop, reading what ops before stop wrote
            self._rerun_whole(bad.step, stop)

    def _advance(self, start: int, stop: int, hooks: Optional[Hooks]) -> None:
        steps = self.steps
        for i in range(start, stop):
            s = steps[i]
            hs = hooks.get(i) if hooks else None
            if s.kind == "twice":
                s.fn(*s.args)
                lib.radrt_seal_all(s.first.array, s.first.n)
            elif s.ck is not None:
                lib.radrt_abft_reset(s.ck)
            s.fn(*s.args)
            if hs:
                for h in hs:
                    if h.before_vote:  # compute: the output just stored
                        h()
            fn, args = s.after
            verdict = fn(*args)
            if verdict != OK:
                self._failed(s, verdict)
            if hs:
                for h in hs:
                    if not h.before_vote:  # activations: after the op and its checks
                        h()

    def _failed(self, s: AbftStep, verdict: int) -> None:
        if verdict == BAD_INPUT:
            self._mismatch(s.index)
            raise _RerunWhole(s.index)
        first = s.outs.values()
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        self.health["ops_reexecuted"] += 1
        again = self._execute(s)
        if again == BAD_INPUT:
            self._mismatch(s.index)
            raise _RerunWhole(s.index)
        if verdict == NONFINITE and again == NONFINITE:
            # inf/NaN in the data: checked by comparing two executions (a third decides)
            if s.outs.values() == first:
                return
            self._mismatch(s.index)
            second = s.outs.values()
            self._execute(s)
            if s.outs.values() != second:
                self._lost(f"op {s.index}: three executions of a product with inf/NaN disagree")
            self._count_corrected(repaired)
            return
        if again == OK:
            self._mismatch(s.index)
            self._count_corrected(repaired)
            return
        if s.kind == "gemm" and not repaired and s.outs.values() == first:
            return  # the same bits from verified inputs and weights: round-off, not an upset
        self._mismatch(s.index)
        self._lost(f"op {s.index} ({s.kind} check) failed again after re-execution from verified inputs "
                   f"and weights")

    def _execute(self, s: AbftStep) -> int:
        """Run step s again with its checks; the verdict."""
        if s.kind == "twice":
            s.fn(*s.args)
            lib.radrt_seal_all(s.first.array, s.first.n)
        elif s.ck is not None:
            lib.radrt_abft_reset(s.ck)
        s.fn(*s.args)
        fn, args = s.after
        return fn(*args)

    def _mismatch(self, index: int) -> None:
        self.health["checksum_mismatches"] += 1
        self.events.append(("CHECKSUM_MISMATCH", index, 0))

    def _count_corrected(self, repaired: int) -> None:
        if not repaired:  # a weight repair was counted by the scrub
            self._count_transient()

    def _rerun_whole(self, step: int, stop: int) -> None:
        """Execute steps [0, stop) again from the caller's inputs (a tensor failed its seal
        where step read it)."""
        if self._reran:
            self._lost(f"op {step}: a tensor failed its seal again after the run was executed again")
        self._reran = True
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        self.health["reexecutions"] += 1
        self._copy_in()
        try:
            self._advance(0, stop, None)
        except _RerunWhole as bad:
            self._lost(f"op {bad.step}: a tensor failed its seal again after the run was executed again")
        self._count_corrected(repaired)

    def finish(self) -> Dict[str, np.ndarray]:
        outputs = {}
        for name, view in self.replicas[0].outputs.items():
            out = view.copy()
            if out.nbytes:
                check = _Sealed([(ffi.from_buffer(out), out.nbytes, self._output_seals[name])])
                if lib.radrt_seal_verify(check.array, 1) >= 0:
                    self._mismatch(len(self.steps))
                    self._rerun_whole(len(self.steps), len(self.steps))
                    return self.finish()
            outputs[name] = out
        return outputs


def _moves_words(step) -> bool:
    """True for a step whose output words are its input words, moved (elements of 4 or 8
    bytes, so whole 32-bit words move): their plain sums then agree."""
    if step.node.domain or step.node.op_type not in MOVED or step.consts or step.scratch is not None:
        return False
    infos = step.prepared.outputs
    return bool(infos) and all(np.dtype(i.dtype).itemsize in (4, 8) for i in infos)

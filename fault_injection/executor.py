"""Executing injections: persistent worker processes that inject in-process.

The parent holds the compiled session and forks `workers` worker processes
(`Executor`). Faults are sorted by (input, pause point, id) and sent to the
workers in batches (one pipe message per batch; a message per fault would cost
more than a digits run; two batches in flight per worker, so that it never waits
for the parent). Before forking, the parent builds the plan's tables and the
golden record of the first input (`plan_tables`, `golden_record`): the workers
inherit them read-only instead of each building its own. In a worker, per input,
one paused run of the golden inputs serves every fault:

1. the run is advanced, fault-free, to the fault's pause point k (`PausePoints`:
   the first op a fault can change) and its state is kept (`PausedRun.snapshot`:
   every replica's arena, input and output, vote reports, abft seals, health,
   events; moving on to a later pause point copies into it only what the ops in
   between wrote);
2. per fault: inject (`inject_fault`; a one-bit flip that lands now is flipped
   now), run on op by op, classify (`run_fault_here`), then go back to the
   snapshot (`PausedRun.restore`, only the ranges the run wrote when that is
   known) and undo the weight bytes the fault touched, from the memory plan's
   own weights. After a run that lost a weight block (`due`) or crashed, the
   worker's session is rebuilt from the campaign setup: nothing else is trusted
   to be undone.

A compute fault in a mode without checks between ops (none, scrub, dwc) is run
as the activations fault it equals (`as_run`): the same bytes of op c's output
upset right after op c, so it pauses after op c instead of running op c again.
An activations upset in bytes that no tensor live after it holds is not run: the
run would stop at once, converged at its pause point, and that is recorded.

Early convergence (`Convergence`): after the upset lands, the worker tracks the
byte ranges that differ from the golden run ("dirty": the upset bytes if they
changed; the outputs of every op that read a dirty range, when they differ from
the golden outputs recorded once per input). At each op boundary b, when no
dirty range overlaps a tensor live at b (written before b, read at or after b,
or a graph output) in any replica and nothing was detected yet (no vote
disagreed, health counters unchanged), the rest of the run is the golden run:
the golden outputs are taken and the fault is `masked`, cause "converged at op
b" (the ops from b on were the golden ones; b is the pause point when the upset
changed nothing live). Under tmr voting after every op, a vote that disagreed
(with a majority) has written the majority into every replica and finish()
counts it from the vote reports: the run goes on being tracked, and once it has
converged the ops from b on are the golden ones, so their outputs are put in
place and the engine's own finish() counts, votes, scrubs and re-executes as
after a full run (`Convergence._finish_converged`; the scrub of blocks that are
golden and a re-execution on golden weights have known results, and are taken
as such). Any other detection (dwc, abft, a vote without majority, a counter
moved during the run) runs to the end, so `finish()` counts what it counts.
Upset weight bytes are dirty for the replicas reading their copy until their
last reader has run; such a run, masked, is `latent in memory`, never converged
(the weight stays wrong unless a scrub repairs it, which only a detection
triggers and the counters show), so where ops are shorter than
`TRACK_WEIGHTS_MIN_OP_S` tracking it costs more than it saves and it runs to
the end.

Causes of a masked outcome, in order: the static cause, asked before running
(`static_cause`; by default `PausePoints.static_cause`: never read; a campaign
passes fault_injection.memory_map's: padding, never read, overwritten), then
`latent in memory` (a weights upset still wrong at the end), then `converged at
op b`. `naive_verdict` computes the same verdict the slow way (a fresh session
per fault, a full run from op 0, every live tensor compared with a golden run
in lockstep at every op boundary); the tests and benchmarks/fi_throughput.py
check that both agree fault by fault.

Isolation: each worker publishes, in shared memory, the fault it runs and since
when; the parent's watchdog kills a worker whose fault runs longer than
`timeout_s` (`hang`), and a worker that dies (signal, exit) gets its in-flight
fault recorded as `crash` with the signal. The rest of its batch is queued
again, a new worker is forked, and the campaign goes on.

An input upset lands right before the first op that reads its bytes (no
earlier op reads them, so it is the same upset as one after the copy-in). Each
record carries its layer: the op the upset first reaches (`PausePoints.layer`).
"""
import ctypes
import faulthandler
import functools
import gc
import mmap
import os
import pickle
import select
import signal
import struct
import time
import weakref
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from runtime._core import ffi, lib
from runtime.errors import InvalidArgumentError, UncorrectableUpsetError
from runtime.protect.modes import mode as protection_mode
from runtime.protect.engine import RUN_REGIONS, Engine
from runtime.protect.faults import site_base
from runtime.protect.weights import ScrubResult
from runtime.session import PausedState

from .outcome import LATENT, NEVER_READ, Golden, Tolerance, Verdict, classify, converged_at, health_delta
from .plan import Fault
from .store import InjectionRecord
from .vocabulary import FaultModel

StaticCause = Callable[[Fault], Optional[str]]

# Below this mean op time (fault-free run time / op count), a weights upset runs to the
# end instead of being tracked op by op: the tracking's Python cost per op (~10-20 us)
# would exceed the ops it can skip (digits: ~10 us per op).
TRACK_WEIGHTS_MIN_OP_S = 50e-6

# An arena this small (bytes) is restored whole after each fault: one copy costs less
# than finding and copying the ranges the run wrote (digits: 37 KB).
SMALL_ARENA = 1 << 16


class PausePoints:
    """The first op whose execution a fault can change, from the memory plan.

    - weights and input faults: the first op that reads one of the fault's bytes
      (no op: the end of the run; such a fault can only be masked);
    - compute faults at op c: c (the run executes op c, upsets its output in one
      replica, then votes);
    - activations faults at time a: a + 1 (the upset lands right after op a).
    """

    def __init__(self, plan):
        self.n_ops = len(plan.steps)
        self.readers = {"weights": [], "input": []}  # (start, end, op) byte ranges read
        self._cache: Dict[tuple, int] = {}
        for step in plan.steps:
            for p in list(step.ins) + list(step.consts):
                if p is not None and p.region in self.readers:
                    self.readers[p.region].append((p.offset, p.offset + p.nbytes, step.index))

    def never_read(self, fault: Fault) -> bool:
        """A weights or input fault whose bytes no op reads (accumulate: every upset is)."""
        if fault.upsets is not None:
            return all(self.never_read(u) for u in fault.upset_faults())
        return fault.kind in self.readers and self(fault) == self.n_ops

    def static_cause(self, fault: Fault) -> Optional[str]:
        """The masked cause known without running: `never read`, else None."""
        return NEVER_READ if self.never_read(fault) else None

    def layer(self, fault: Fault) -> Optional[int]:
        """The op the upset first reaches: the first reader (weights, input), the
        op whose output it is (compute), the op after which it lands (activations);
        None when never read. accumulate: the earliest of its upsets'."""
        if fault.upsets is not None:
            return min((x for x in map(self.layer, fault.upset_faults()) if x is not None), default=None)
        if fault.kind == "activations":
            return fault.at_op
        return None if self.never_read(fault) else self(fault)

    def __call__(self, fault: Fault) -> int:
        if fault.upsets is not None:  # accumulate: the earliest of its upsets
            return min(self(u) for u in fault.upset_faults())
        key = (fault.kind, fault.model, fault.byte_offset, fault.bit, fault.op_index, fault.at_op)
        k = self._cache.get(key)
        if k is None:
            k = self._cache[key] = self._first_op(fault)
        return k

    def _first_op(self, fault: Fault) -> int:
        if fault.kind == "compute":
            return fault.op_index
        if fault.kind == "activations":
            return fault.at_op + 1
        lo, hi = _touched_span(fault)
        ops = [op for start, end, op in self.readers[fault.kind] if start < hi and lo < end]
        return min(ops, default=self.n_ops)


def _touched_span(fault: Fault) -> Tuple[int, int]:
    """[lo, hi): the bytes the fault touches."""
    return _span(fault.model, fault.byte_offset, fault.bit)


_model = functools.lru_cache(maxsize=256)(FaultModel.parse)  # frozen: one per model text


@functools.lru_cache(maxsize=1 << 16)
def _span(model: str, byte_offset: int, bit: int) -> Tuple[int, int]:
    touched = [b for b, _ in _model(model).bits(byte_offset, bit)]
    return min(touched), max(touched) + 1


def inject_fault(sess, fault: Fault, paused_at: int) -> None:
    """Upset every bit of the fault in the session's memory (through its C primitive),
    for a run paused at op `paused_at` (an input fault lands there, see above); a
    random or zero fault sets its word in one call. A one-bit flip that lands at this
    pause point of the session's open paused run is flipped now (_flip_now)."""
    paused = getattr(sess, "_paused", None)
    if paused is not None and paused.at == paused_at and _flip_now(sess, fault, paused_at):
        return
    model = _model(fault.model)
    if fault.upsets is not None:  # accumulate: each of its flips (all land at or after paused_at)
        for upset in fault.upset_faults():
            inject_fault(sess, upset, paused_at)
        return
    at_op = paused_at - 1 if fault.kind == "input" else fault.at_op
    if model.on_word:
        sess.inject(fault.site, fault.byte_offset, fault.bit, at_op=at_op, model=model.kind, value=fault.value)
        return
    how = model.kind if model.kind in ("stuck0", "stuck1") else "flip"
    for byte_offset, bit in model.bits(fault.byte_offset, fault.bit):
        sess.inject(fault.site, byte_offset, bit, at_op=at_op, model=how)


def as_run(sess, fault: Fault) -> Fault:
    """The fault as a worker runs it. A compute fault (an upset of op c's output right after
    its kernel) in a session without checks between ops (the plain engine without a vote
    after every op: none, scrub, dwc, tmr voting at the outputs) is the same upset as an
    activations fault landing right after op c on those output bytes of the arena: nothing
    happens between the kernel and the next op. Run that way, it pauses after op c, so
    op c is not run again per fault (its output is in the paused state). Other faults,
    and models that set a word (clipped to the site), are run as they are."""
    if fault.kind != "compute" or fault.upsets is not None:
        return fault
    engine = sess._engine
    if type(engine) is not Engine or engine.tmr_calls is not None or _model(fault.model).on_word:
        return fault
    out = engine.plan.steps[fault.op_index].outs[0]
    lo, hi = _touched_span(fault)
    if out.region != "arena" or lo < 0 or hi > out.nbytes:
        return fault
    return replace(fault, site=f"activations/r{fault.replica}", kind="activations",
                   byte_offset=out.offset + fault.byte_offset, op_index=None, at_op=fault.op_index)


def _flip_now(sess, fault: Fault, paused_at: int) -> bool:
    """Flip the fault's bit now, through the C primitive an armed flip calls, when it is a
    one-bit flip that lands at this pause point (weights: now; input: before the first op
    that reads it, i.e. now; activations: after op paused_at - 1): what inject_fault
    arms and the run applies as it goes on, without arming it. False when it is not
    such a flip (or out of its site: inject_fault then says why)."""
    if fault.model != "flip" or fault.upsets is not None:
        return False
    if not (fault.kind in ("weights", "input") or (fault.kind == "activations" and fault.at_op == paused_at - 1)):
        return False
    engine = sess._engine
    site = engine.fault_site_index().get(fault.site)
    if site is None or site.kind != fault.kind or not (0 <= fault.byte_offset < site.nbytes and 0 <= fault.bit <= 7):
        return False
    lib.radrt_flip_bit(site_base(engine, site), fault.byte_offset, fault.bit)
    return True


# -- liveness and golden weights ------------------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    region: str
    lo: int
    hi: int
    writer: int      # the step that writes it; -1 for a graph input
    last_read: int   # the last step that reads it; n_ops for a graph output


class Liveness:
    """Tensors of the memory plan (a placement from its writer to its last reader) and
    what each step reads and writes, as byte ranges (region, lo, hi)."""

    def __init__(self, plan):
        n = self.n_ops = len(plan.steps)
        current: Dict[object, list] = {}
        tensors = []
        for _, p, _ in plan.inputs:
            if p.nbytes:
                current[p] = [p.region, p.offset, p.offset + p.nbytes, -1, -1]
                tensors.append(current[p])
        self.reads: List[List[Tuple[str, int, int]]] = []
        self.written: List[List[Tuple[str, int, int]]] = []  # outputs and scratch of each step
        self.writes: List[List[Tuple[int, str, int, int]]] = []
        self.weight_reads: List[List[Tuple[int, int]]] = []
        for step in plan.steps:
            ins = [p for p in step.ins if p is not None and p.nbytes and p.region in RUN_REGIONS]
            for p in ins:
                current[p][4] = step.index
            self.reads.append([(p.region, p.offset, p.offset + p.nbytes) for p in ins])
            self.weight_reads.append([(p.offset, p.offset + p.nbytes) for p in list(step.ins) + list(step.consts)
                                      if p is not None and p.nbytes and p.region == "weights"])
            outs = [(j, p) for j, p in enumerate(step.outs) if p is not None and p.nbytes]
            self.writes.append([(j, p.region, p.offset, p.offset + p.nbytes) for j, p in outs])
            scratch = [step.scratch] if step.scratch is not None and step.scratch.nbytes else []
            self.written.append([(p.region, p.offset, p.offset + p.nbytes) for _, p in outs]
                                + [(p.region, p.offset, p.offset + p.nbytes) for p in scratch])
            for _, p in outs:
                current[p] = [p.region, p.offset, p.offset + p.nbytes, step.index, step.index]
                tensors.append(current[p])
        for _, p, _ in plan.outputs:
            if p.nbytes and p in current:
                current[p][4] = n
        self.tensors = [_Tensor(*t) for t in tensors]
        self._last_weight_reader: Dict[Tuple[int, int], int] = {}
        self._written_between: Dict[Tuple[int, int], dict] = {}
        self._live_overlaps: Dict[Tuple[int, str, int, int], bool] = {}
        self._reads_overlap: Dict[Tuple[int, str, int, int], bool] = {}
        self.live_at: List[List[_Tensor]] = [[t for t in self.tensors if t.writer < b <= t.last_read]
                                             for b in range(n + 1)]

    def live_overlaps(self, b: int, region: str, lo: int, hi: int) -> bool:
        """Whether bytes [lo, hi) of `region` overlap a tensor live at boundary b (cached for
        ranges wider than an upset: tensors and their pieces, a bounded set)."""
        key = (b, region, lo, hi)
        hit = self._live_overlaps.get(key)
        if hit is None:
            hit = any(t.region == region and t.lo < hi and lo < t.hi for t in self.live_at[b])
            if hi - lo > 16:
                self._live_overlaps[key] = hit
        return hit

    def reads_overlap(self, i: int, region: str, lo: int, hi: int) -> bool:
        """Whether step i reads some of bytes [lo, hi) of `region` (cached as live_overlaps)."""
        key = (i, region, lo, hi)
        hit = self._reads_overlap.get(key)
        if hit is None:
            hit = any(r == region and a < hi and lo < b for r, a, b in self.reads[i])
            if hi - lo > 16:
                self._reads_overlap[key] = hit
        return hit

    def written_between(self, start: int, stop: int) -> Dict[str, List[Tuple[int, int]]]:
        """{region: merged [lo, hi) ranges} the steps [start, stop) write (a new dict)."""
        merged = self._written_between.get((start, stop))
        if merged is None:
            by_region: Dict[str, List[Tuple[int, int]]] = {}
            for i in range(start, stop):
                for region, lo, hi in self.written[i]:
                    by_region.setdefault(region, []).append((lo, hi))
            merged = self._written_between[start, stop] = {r: _merge(ranges) for r, ranges in by_region.items()}
        return dict(merged)

    def last_weight_reader(self, lo: int, hi: int) -> int:
        """The last step reading weight bytes [lo, hi); -1 when none does."""
        last = self._last_weight_reader.get((lo, hi))
        if last is None:
            last = self._last_weight_reader[lo, hi] = max(
                (i for i, ranges in enumerate(self.weight_reads) if any(a < hi and lo < b for a, b in ranges)),
                default=-1)
        return last


def _merge(ranges: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    merged: List[List[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def golden_weights(plan) -> np.ndarray:
    """The weights region as the plan lays it out (what every copy holds fault-free), uint8."""
    image = np.zeros(plan.region_bytes["weights"], np.uint8)
    for _, p, arr in plan.weights:
        image[p.offset:p.offset + p.nbytes] = arr.reshape(-1).view(np.uint8)
    return image


def _weight_copy(sess, fault: Fault) -> np.ndarray:
    return sess._engine.weights.copies[int(fault.site.rsplit("copy", 1)[1])].bytes


def weights_still_upset(sess, fault: Fault, image: Optional[np.ndarray] = None) -> bool:
    """A weights fault whose bytes differ from the plan's weights now (no scrub repaired them);
    an accumulate fault when any of its weights upsets does."""
    if fault.upsets is not None:
        return any(weights_still_upset(sess, u, image) for u in fault.upset_faults())
    if fault.kind != "weights":
        return False
    lo, hi = _touched_span(fault)
    if image is None:
        image = golden_weights(sess.compiled.plan)
    return not _same(_weight_copy(sess, fault)[lo:hi], image[lo:hi])


def _readers_of_copy(engine, copy: int) -> List[int]:
    ncopies = len(engine.weights.copies)
    if len(engine.replicas) == 1 and copy > 0:
        return []  # scrub / abft: copy 1 is the golden mirror no replica reads
    return [r.index for r in engine.active if r.index % ncopies == copy]


def _memcmp():
    try:
        f = ctypes.CDLL(None).memcmp
    except (OSError, AttributeError):
        return None
    f.restype = ctypes.c_int
    f.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
    return f


_MEMCMP = _memcmp()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-identical contiguous uint8 arrays of one size: bytes comparison when small,
    else C memcmp (stops at the first difference; np.array_equal reads both whole and
    allocates a mask)."""
    n = a.nbytes
    if n <= 4096:
        return a.tobytes() == b.tobytes()
    if _MEMCMP is None or n != b.nbytes or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return bool(np.array_equal(a, b))
    return _MEMCMP(a.ctypes.data, b.ctypes.data, n) == 0


def _masked_cause(verdict: Verdict, cause: Optional[str]) -> Verdict:
    if verdict.outcome != "masked" or not cause:
        return verdict
    return replace(verdict, cause=cause)


# -- per-session tables, kept where Executors are built -----------------------------------
# A worker needs the plan's Liveness and weights image, and per input a golden record
# (Convergence.record). Built in the process that creates Executors, before it forks
# them, they are inherited read-only (no copy per worker) and reused by later Executors
# of the same session (Dask batches, benchmark rounds). Weak by session; one golden
# record per session (the last input recorded), so memory stays bounded.
_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def plan_tables(sess) -> Tuple[Liveness, np.ndarray]:
    """(Liveness, golden weights image) of the session's current plan, cached."""
    plan = sess.compiled.plan
    entry = _TABLES.get(sess)
    if entry is None or entry["plan"] is not plan:
        entry = _TABLES[sess] = {"plan": plan, "tables": (Liveness(plan), golden_weights(plan)), "record": None}
    return entry["tables"]


def pause_points(sess) -> PausePoints:
    """PausePoints of the session's current plan, cached with its tables."""
    plan_tables(sess)
    entry = _TABLES[sess]
    if entry.get("points") is None:
        entry["points"] = PausePoints(sess.compiled.plan)
    return entry["points"]


def golden_record(sess, feeds: dict) -> None:
    """Record the golden run of `feeds` in `sess` now (Convergence.record), for workers
    forked later; skipped when the session has a paused run open."""
    if _recorded(sess, feeds) is not None or getattr(sess, "_paused", None) is not None:
        return
    liveness, image = plan_tables(sess)
    with sess.paused_run(feeds) as paused:
        conv = Convergence.record(sess, paused, liveness, image)
    _TABLES[sess]["record"] = (feeds, sess._engine, conv.golden_steps, conv.end_reports)


def _recorded(sess, feeds: dict) -> Optional[tuple]:
    """(golden_steps, end_reports) recorded for this session, engine and feeds, or None."""
    entry = _TABLES.get(sess)
    record = entry and entry["record"]
    if not record or record[0] is not feeds or record[1] is not sess._engine:
        return None
    return record[2], record[3]


# -- early convergence -------------------------------------------------------------------
class Convergence:
    """One input's golden record in one session: every step's outputs after the step
    (and its vote), the weights image, the liveness table. Built by stepping a fresh
    paused run of that input (`record`)."""

    def __init__(self, sess, liveness: Liveness, image: np.ndarray, golden_steps: List[List[np.ndarray]],
                 end_reports: bytes = b""):
        self.track_weights = True  # see finish()
        self.stop: Optional[int] = None
        self.sess = sess
        self.liveness = liveness
        self.image = image
        self.golden_steps = golden_steps
        self.written_outputs: Optional[Dict[str, List[Tuple[int, int]]]] = None
        self._outputs_from: Dict[int, list] = {}
        self.end_reports = end_reports  # the vote reports' bytes at the end of the golden run
        self.voted = False  # finish(): tmr with a vote after every op (replicas equal after each)
        self._bases: Dict[Tuple[int, str], int] = {}  # (replica, region) -> address of byte 0
        self._golden_addr: Dict[Tuple[int, int], int] = {}  # (step, lo) -> address of its golden bytes

    @classmethod
    def record(cls, sess, paused, liveness: Liveness, image: np.ndarray) -> "Convergence":
        """Step `paused` (at op 0, fault-free) to the end, copying each step's outputs;
        the caller restores the run afterwards."""
        r0 = sess._engine.replicas[0].regions
        steps = []
        for i, writes in enumerate(liveness.writes):
            paused.advance_to(i + 1)
            steps.append([r0[region].bytes[lo:hi].copy() for _, region, lo, hi in writes])
        return cls(sess, liveness, image, steps, paused.snapshot().engine.vote_reports)

    def finish(self, paused, fault: Fault, state, p: int):
        """Run the paused run (at p, upset injected) on op by op until it converges or ends.
        Returns (outputs or None when converged, converged boundary or None)."""
        sess, live = self.sess, self.liveness
        engine = sess._engine
        n = live.n_ops
        self.stop = None  # where the run stopped, when it ran no op twice and detected nothing
        self.written_outputs = None  # _finish_converged: the output ranges it wrote
        paused.advance_to(p)  # the upsets due now land
        dirty: Dict[int, List[list]] = {r.index: [] for r in engine.active}
        forced: Optional[Tuple[int, int]] = None
        weights = None  # upset weight bytes still to be read: (lo, hi, last reader)
        lo, hi = _touched_span(fault)
        if fault.kind == "weights":
            copy = int(fault.site.rsplit("copy", 1)[1])
            if not _same(engine.weights.copies[copy].bytes[lo:hi], self.image[lo:hi]):
                # Masked, it is `latent` (only a scrub, which a detection triggers and the
                # counters show, could make it right again), never converged: tracking it
                # only saves the ops after its last reader, worth it when ops are long.
                if not self.track_weights:
                    self.stop = n
                    return paused.finish(), None
                if _readers_of_copy(engine, copy):
                    weights = (lo, hi, live.last_weight_reader(lo, hi))
        elif fault.kind == "compute":
            forced = (fault.op_index, fault.replica)
        else:
            region = "arena" if fault.kind == "activations" else "input"
            now = engine.replicas[fault.replica].regions[region].bytes[lo:hi]
            saved = state.engine.regions[fault.replica * len(RUN_REGIONS) + RUN_REGIONS.index(region)][lo:hi]
            if not _same(now, saved):
                dirty[fault.replica].append([region, lo, hi])
        start = p + 1 if fault.kind == "compute" else p
        health0 = state.health
        reports = engine.vote_reports
        # tmr voting after every op (the plain engine): a disagreement is outvoted in place
        # and counted by finish() from the vote reports, so the run goes on being tracked
        votes = self.voted = engine.tmr_calls is not None and type(engine) is Engine
        detected = False
        for b in range(p, n + 1):
            if b >= start and (weights is None or weights[2] < b) and self._converged(b, dirty):
                self.stop = b
                if not detected:
                    return None, b
                return self._finish_converged(paused, fault, b), None
            if b == n:
                break
            paused.step()
            report = reports[b]
            if report.words_disagreeing:
                if not votes or report.no_majority:
                    return paused.finish(), None  # detected: run the rest as finish() does
                detected = True
            elif sess._health != health0:
                return paused.finish(), None
            self._step(b, dirty, forced, weights)
        self.stop = n
        return paused.finish(), None

    def _finish_converged(self, paused, fault: Fault, b: int) -> List[np.ndarray]:
        """finish() of a tmr run that detected (and outvoted) the upset and has converged
        at boundary b: ops b.. would compute the golden bytes in every replica and vote
        without disagreement (their reports stay zero), so their writes to the output
        region are the golden ones, put there; then the engine's own finish() counts the
        disagreements of the reports, votes the outputs, scrubs and, if a weight copy was
        repaired, runs again, as after a full run."""
        sess = self.sess
        engine = sess._engine
        if sess._armed:  # not expected: every upset has landed by now
            self.stop = None
            return paused.finish()
        for want, lo, hi in self.golden_outputs_from(b):
            for r in engine.replicas:
                r.regions["output"].bytes[lo:hi] = want
        self.written_outputs = self.output_ranges_from(b)
        engine._rerun = functools.partial(self._rerun_golden, engine, fault)
        engine.scrub_weights = functools.partial(self._scrub_fault_blocks, engine, fault)
        try:
            outputs = engine.finish()
        finally:
            del engine._rerun, engine.scrub_weights
        return list(outputs.values())

    @staticmethod
    def _scrub_fault_blocks(engine, fault: Fault) -> int:
        """Engine.scrub_weights (one full scrub, accounted) when only the blocks holding
        the fault's bytes can fail their check: the worker keeps every weight copy golden
        but for the fault's own bytes (it puts them back after each fault and rebuilds its
        session after a lost block), and a scrub finds, repairs and counts block by block,
        so scrubbing those blocks (none for a fault outside the weights) counts the same."""
        r = ScrubResult()
        if fault.kind == "weights":
            lo, hi = _touched_span(fault)
            size = engine.weights.block_size
            r = engine.weights.scrub(lo // size, (hi - 1) // size - lo // size + 1)
        engine.account_scrub(r)
        return r.upsets_corrected

    def _rerun_golden(self, engine, fault: Fault, replicas) -> None:
        """Engine._rerun (tmr: every replica from scratch on the run's feeds, after a scrub
        that repaired a weight copy) when its result is known: with every weight copy
        golden again (the worker keeps them golden but for the fault's own bytes, checked
        here) and no upset armed (a rerun runs none), it is the fault-free run, whose vote
        reports and outputs were recorded; it is counted as the engine counts it. The
        arena is left as it is (the worker restores it whole after a rerun)."""
        lo, hi = _touched_span(fault)
        if (replicas != engine.replicas or self.sess._armed
                or (fault.kind == "weights"
                    and not all(_same(c.bytes[lo:hi], self.image[lo:hi]) for c in engine.weights.copies))):
            Engine._rerun(engine, replicas)
            return
        ffi.memmove(engine.vote_reports, self.end_reports, len(self.end_reports))
        engine.health["reexecutions"] += 1
        for want, lo, hi in self.golden_outputs_from(0):
            for r in replicas:
                r.regions["output"].bytes[lo:hi] = want

    def golden_outputs_from(self, b: int) -> List[Tuple[np.ndarray, int, int]]:
        """(golden bytes, lo, hi) of the output-region writes of steps b..n-1."""
        got = self._outputs_from.get(b)
        if got is None:
            got = self._outputs_from[b] = [
                (want, lo, hi) for i in range(b, self.liveness.n_ops)
                for (_, region, lo, hi), want in zip(self.liveness.writes[i], self.golden_steps[i])
                if region == "output"]
        return got

    def output_ranges_from(self, b: int) -> Dict[str, List[Tuple[int, int]]]:
        return {"output": _merge([(lo, hi) for _, lo, hi in self.golden_outputs_from(b)])}

    def _converged(self, b: int, dirty) -> bool:
        overlaps = self.liveness.live_overlaps
        for ranges in dirty.values():
            for region, lo, hi in ranges:
                if overlaps(b, region, lo, hi):
                    return False
        return True

    def _step(self, i: int, dirty, forced, weights) -> None:
        """Update the dirty ranges after step i ran (and voted) in every active replica."""
        live = self.liveness
        tainted = forced is not None and forced[0] == i
        if not tainted:
            reads = live.reads_overlap
            for ranges in dirty.values():
                if any(reads(i, region, lo, hi) for region, lo, hi in ranges):
                    tainted = True
                    break
        if not tainted and weights is not None:
            tainted = any(weights[0] < b and a < weights[1] for a, b in live.weight_reads[i])
        writes = live.writes[i]
        if not writes:
            return
        engine = self.sess._engine
        differ = None
        if tainted and self.voted:  # the vote wrote the same bytes into every replica
            differ = self._differ(engine.replicas[0], i)
        for r, ranges in dirty.items():
            for _, region, lo, hi in writes:
                if ranges:
                    ranges[:] = _subtract(ranges, region, lo, hi)
            if differ is not None:
                ranges.extend([region, lo, hi] for region, lo, hi in differ)
            elif tainted:
                ranges.extend([region, lo, hi] for region, lo, hi in self._differ(engine.replicas[r], i))

    def _differ(self, replica, i: int) -> List[Tuple[str, int, int]]:
        """The writes of step i whose bytes in `replica` differ from the golden record's."""
        regions = replica.regions
        out = []
        for (_, region, lo, hi), want in zip(self.liveness.writes[i], self.golden_steps[i]):
            if hi - lo > 4096 and _MEMCMP is not None:  # addresses: no array views to build
                base = self._bases.get((replica.index, region))
                if base is None:
                    base = self._bases[replica.index, region] = regions[region].bytes.ctypes.data
                gaddr = self._golden_addr.get((i, lo))
                if gaddr is None:
                    gaddr = self._golden_addr[i, lo] = want.ctypes.data
                if _MEMCMP(base + lo, gaddr, hi - lo):
                    out.append((region, lo, hi))
            elif not _same(regions[region].bytes[lo:hi], want):
                out.append((region, lo, hi))
        return out


def _subtract(ranges, region: str, lo: int, hi: int) -> List[list]:
    out = []
    for rr, a, b in ranges:
        if rr != region or b <= lo or hi <= a:
            out.append([rr, a, b])
            continue
        if a < lo:
            out.append([rr, a, lo])
        if hi < b:
            out.append([rr, hi, b])
    return out


def run_fault_here(sess, paused, fault: Fault, golden: Golden, tolerance: Tolerance,
                   never_read: bool = False, convergence: Optional[Convergence] = None,
                   state=None, masked: Optional[Callable[[Optional[str]], Verdict]] = None) -> Verdict:
    """Inject `fault` and finish the paused run (at the fault's pause point) in this
    process; classify the result (`tolerance` is passed to classify as is).

    never_read: no op reads the fault's bytes (PausePoints.never_read), the cause of a
    masked outcome. convergence, state: a Convergence of this input and the paused
    run's snapshot() at its pause point: the run stops at the first op boundary where
    it has converged (module docstring); without them the run goes to the end and a
    masked outcome carries no convergence point. A masked weights upset still wrong in
    memory at the end is `latent in memory`. An accumulate fault (several upsets) runs
    to the end without convergence and is followed by one scrub pass when the mode
    keeps weight copies (fault_injection.vocabulary), part of its outcome.
    masked: the verdict classify gives `golden` for outputs bit-identical to it and no
    counter moved, with a cause (a cache: _Worker.masked); None: classify every time."""
    before = state.health if state is not None else sess.health()  # restore() put it back
    outputs, raised, at = None, None, None
    p = paused.at
    try:
        inject_fault(sess, fault, p)
        if convergence is None or fault.upsets is not None:
            outputs = paused.finish()
            if fault.upsets is not None and protection_mode(sess.protection).scrubbed:
                sess.scrub()
        else:
            outputs, at = convergence.finish(paused, fault, state, p)
            if outputs is None:
                outputs = golden.outputs
    except UncorrectableUpsetError as e:
        raised = e
    except Exception as e:  # any other failure of the run is a crash outcome, with its text
        raised = e
    image = convergence.image if convergence is not None else None
    if masked is not None and raised is None and sess._health == before and _identical(golden.outputs, outputs):
        # what classify() gives, by the same rules: masked, for a cause in the order below
        if never_read:
            return masked(NEVER_READ)
        if weights_still_upset(sess, fault, image):
            return masked(LATENT)
        return masked(converged_at(at) if at is not None else None)
    verdict = classify(golden, outputs, health=health_delta(before, sess.health()), raised=raised,
                       tolerance=tolerance)
    if never_read:
        return _masked_cause(verdict, NEVER_READ)
    if verdict.outcome == "masked" and weights_still_upset(sess, fault, image):
        return _masked_cause(verdict, LATENT)
    return _masked_cause(verdict, converged_at(at) if at is not None else None)


def _identical(golden_outputs: Sequence[np.ndarray], outputs) -> bool:
    """Outputs of the golden's dtypes and shapes, bit-identical to it (as classify checks)."""
    if outputs is golden_outputs:
        return True
    return (len(outputs) == len(golden_outputs)
            and all(isinstance(o, np.ndarray) and o.dtype == g.dtype and o.shape == g.shape
                    and g.tobytes() == np.ascontiguousarray(o).tobytes() for g, o in zip(golden_outputs, outputs)))


def static_verdict(golden: Golden, cause: str, tolerance) -> Verdict:
    """The verdict of a fault masked for a cause known without running: what classify
    gives a run whose outputs are the golden ones and whose counters did not move."""
    return replace(classify(golden, golden.outputs, health={}, tolerance=tolerance), cause=cause)


# -- the naive reference -----------------------------------------------------------------
def naive_verdict(make_session: Callable[[], object], feeds, fault: Fault, golden: Golden,
                  tolerance: Tolerance, golden_sess=None) -> Verdict:
    """The verdict of `fault` the slow way: a fresh session (`make_session()`), the upset
    from op 0 on, a full run, and at every op boundary from the fault's pause point every
    live tensor of every active replica compared with a fault-free run of `golden_sess`
    (another session of the same model and protection) in lockstep; the first boundary
    where all are equal, no later op reads upset weight bytes and nothing was detected
    is the convergence point. Same causes and order as run_fault_here."""
    sess = make_session()
    golden_sess = golden_sess if golden_sess is not None else make_session()
    plan = sess.compiled.plan
    points = PausePoints(plan)
    if points.never_read(fault):
        sess_verdict = _naive_run(sess, golden_sess, feeds, fault, golden, tolerance, points, None)
        return _masked_cause(sess_verdict, NEVER_READ)
    live = None if fault.upsets is not None else Liveness(plan)  # accumulate: no convergence point
    return _naive_run(sess, golden_sess, feeds, fault, golden, tolerance, points, live)


def _naive_run(sess, golden_sess, feeds, fault, golden, tolerance, points, live) -> Verdict:
    n = len(sess.compiled.plan.steps)
    p = points(fault)
    start = p + 1 if fault.kind == "compute" else p
    image = golden_weights(sess.compiled.plan)
    before = sess.health()
    outputs, raised, at = None, None, None
    try:
        with sess.paused_run(feeds) as run, golden_sess.paused_run(feeds) as ref:
            inject_fault(sess, fault, 0)
            run.advance_to(0)
            for b in range(n + 1):
                if (live is not None and at is None and b >= start
                        and _naive_converged(sess, golden_sess, live, fault, image, b, before)):
                    at = b
                if b < n:
                    run.advance_to(b + 1)
                    ref.advance_to(b + 1)
            outputs = run.finish()
        if fault.upsets is not None and protection_mode(sess.protection).scrubbed:
            sess.scrub()
    except UncorrectableUpsetError as e:
        raised = e
    except Exception as e:
        raised = e
    verdict = classify(golden, outputs, health=health_delta(before, sess.health()), raised=raised,
                       tolerance=tolerance)
    if verdict.outcome == "masked" and weights_still_upset(sess, fault, image):
        return _masked_cause(verdict, LATENT)
    return _masked_cause(verdict, converged_at(at) if at is not None else None)


def _naive_converged(sess, golden_sess, live, fault, image, b, health0) -> bool:
    engine, ref = sess._engine, golden_sess._engine
    if sess._health != health0 or any(engine.vote_reports[i].words_disagreeing for i in range(b)):
        return False
    if fault.kind == "weights":
        lo, hi = _touched_span(fault)
        copy = int(fault.site.rsplit("copy", 1)[1])
        if (not _same(engine.weights.copies[copy].bytes[lo:hi], image[lo:hi])
                and _readers_of_copy(engine, copy) and live.last_weight_reader(lo, hi) >= b):
            return False
    for r in engine.active:
        mine, theirs = r.regions, ref.replicas[r.index].regions
        for t in live.live_at[b]:
            if not _same(mine[t.region].bytes[t.lo:t.hi], theirs[t.region].bytes[t.lo:t.hi]):
                return False
    return True


# -- the worker ----------------------------------------------------------------------------
class _Worker:
    """In a worker process: one session, one open paused run per input, states kept at
    op 0 (`origin`) and at the current pause point (`base`)."""

    def __init__(self, make_session, sess, feeds: Sequence[dict], goldens: Sequence[Golden],
                 tolerance, static_cause: StaticCause, points: PausePoints):
        self.make_session = make_session
        self.sess = sess
        self.feeds = feeds
        self.goldens = goldens
        self.tolerance = tolerance
        self.static_cause = static_cause
        self.points = points
        self.liveness, self.image = plan_tables(sess)
        self._masked: Dict[Tuple[int, Optional[str]], Verdict] = {}
        self.input = None
        self.paused = None
        self.track_weights = True

    def _open(self, input_index: int) -> None:
        self._close()
        feeds = self.feeds[input_index]
        self.paused = self.sess.paused_run(feeds)
        self.paused.__enter__()
        self.input = input_index
        self.origin = self.paused.snapshot()
        recorded = _recorded(self.sess, feeds)
        if recorded is not None:  # recorded before the fork (golden_record): shared, read only
            self.convergence = Convergence(self.sess, self.liveness, self.image, *recorded)
        else:
            self.convergence = Convergence.record(self.sess, self.paused, self.liveness, self.image)
            self.paused.restore(self.origin)
        self.convergence.track_weights = self.track_weights
        self.base = self.origin

    def _close(self) -> None:
        if self.paused is not None:
            self.paused.__exit__(None, None, None)
            self.paused = None
            self.input = None

    def _pause_at(self, k: int) -> None:
        base = self.base
        if k == base.at:
            return
        if k < base.at:
            self.paused.restore(self.origin)
            self.paused.advance_to(k)
            self.base = self.paused.snapshot()
            return
        self.paused.advance_to(k)  # from the base: every fault's run is undone (_undo)
        engine = self.sess._engine
        if base is self.origin or type(engine) is not Engine or self.sess._health != base.health:
            self.base = self.paused.snapshot()
            return
        # The base is this worker's own copy: bring it to k by copying in what ops [base.at, k) wrote.
        saved = base.engine
        views = [r.regions[name].bytes for r in engine.replicas for name in RUN_REGIONS]
        written = self.liveness.written_between(base.at, k)
        for j, (view, copy) in enumerate(zip(views, saved.regions)):
            for lo, hi in written.get(RUN_REGIONS[j % len(RUN_REGIONS)], ()):
                copy[lo:hi] = view[lo:hi]
        reports = ffi.buffer(engine.vote_reports, len(saved.vote_reports))[:]
        self.base = PausedState(replace(saved, vote_reports=reports), dict(self.sess._health),
                                tuple(self.sess._events), k)

    def run(self, fault: Fault) -> Verdict:
        golden = self.goldens[fault.input_index]
        cause = self.static_cause(fault)
        if cause is not None:
            return self.masked(fault.input_index, cause)
        fault = as_run(self.sess, fault)
        k = self.points(fault)
        if (fault.kind == "activations" and fault.upsets is None
                and not self.liveness.live_overlaps(k, "arena", *_touched_span(fault))):
            # Bytes no tensor live after the upset holds: no op reads them again, so the
            # run (Convergence.finish) would stop at once, converged at its pause point,
            # having run nothing and moved no counter. Decided here without it.
            return self.masked(fault.input_index, converged_at(k))
        if self.input != fault.input_index:
            self._open(fault.input_index)
        self._pause_at(k)
        verdict = run_fault_here(self.sess, self.paused, fault, golden, self.tolerance, False,
                                 self.convergence, self.base, functools.partial(self.masked, fault.input_index))
        self._undo(fault, verdict)
        return verdict

    def masked(self, input_index: int, cause: Optional[str]) -> Verdict:
        """static_verdict of this input's golden for `cause` (None: no cause), cached."""
        key = (input_index, cause)
        verdict = self._masked.get(key)
        if verdict is None:
            verdict = self._masked[key] = static_verdict(self.goldens[input_index], cause, self.tolerance)
        return verdict

    def _undo(self, fault: Fault, verdict: Verdict) -> None:
        engine = self.sess._engine
        if engine.weights.lost_blocks or verdict.outcome == "crash":
            self._rebuild()
            return
        conv = self.convergence
        stop = conv.stop
        health, health0 = self.sess._health, self.base.health
        # what the run wrote is known when it ran ops [pause point, stop) once and either
        # detected nothing or finished converged without running again (_finish_converged)
        known = stop is not None and fault.upsets is None and (
            health == health0 or (conv.written_outputs is not None
                                  and health.get("reexecutions") == health0.get("reexecutions")))
        if not known or self.base.engine.regions[0].nbytes <= SMALL_ARENA:  # small: copying all is cheaper
            self.paused.restore(self.base)  # it may have run again from op 0, scrubbed, ...
        else:  # it ran ops [pause point, stop) once: put back what they wrote and the upset
            written = self.liveness.written_between(self.base.at, stop)
            if conv.written_outputs is not None:
                written["output"] = _merge(written.get("output", []) + conv.written_outputs["output"])
            if fault.kind in ("activations", "input"):
                region = "arena" if fault.kind == "activations" else "input"
                written[region] = _merge(written.get(region, []) + [_touched_span(fault)])
            self.paused.restore(self.base, written)
        if fault.upsets is not None:  # several upsets, maybe a scrub: every copy back whole
            for copy in engine.weights.copies:
                copy.bytes[:] = self.image
        elif fault.kind == "weights":
            lo, hi = _touched_span(fault)
            for copy in engine.weights.copies:
                copy.bytes[lo:hi] = self.image[lo:hi]

    def _rebuild(self) -> None:
        self._close()
        self.sess = self.make_session()
        self.base = None


def run_in_process(sess, feeds: Sequence[dict], goldens: Sequence[Golden], tolerance, faults: Iterable[Fault],
                   make_session, static_cause: Optional[StaticCause] = None) -> Iterator[Verdict]:
    """The verdict of each fault, in order, run in this process with `sess` as a worker
    runs it (snapshot, convergence, undo), without isolation: a fault that crashes
    the process crashes the caller (`fi replay`, benchmarks)."""
    points = PausePoints(sess.compiled.plan)
    worker = _Worker(make_session, sess, feeds, goldens, tolerance, static_cause or points.static_cause, points)
    try:
        for fault in faults:
            yield worker.run(fault)
    finally:
        worker._close()


def _send(fd: int, obj) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("<Q", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _recv_exact(fd: int, n: int) -> Optional[bytes]:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# Shared memory: one slot per worker, (fault id in flight or -1, time.monotonic() it started).
_SLOT = 2
# Batches sent to a worker and not answered yet: two, so that one is always waiting.
IN_FLIGHT = 2


@dataclass
class _Proc:
    slot: int
    pid: int
    to_fd: int
    from_fd: int
    batches: deque = field(default_factory=deque)  # sent, not yet answered (at most IN_FLIGHT)
    data: bytes = b""


class Executor:
    """Run faults in persistent worker processes forked from this one (module docstring).

    sess: the campaign's compiled session (never run here; forked into each worker).
    feeds: one feed dict per input (Fault.input_index indexes it); goldens: one Golden
    per input. tolerance: passed to classify as is. make_session: builds a fresh session
    of the campaign (a worker rebuilds its own after a lost weight block or a crash).
    static_cause: Fault -> masked cause known without running, or None (default:
    PausePoints.never_read). batch: faults per message to a worker (None: sized from
    the fault-free run time `run_s` to about 50 ms of work)."""

    def __init__(self, sess, feeds: Sequence[dict], goldens: Sequence[Golden], tolerance, workers: int = 1,
                 timeout_s: float = 10.0, worker_name: str = "local", make_session=None,
                 static_cause: Optional[StaticCause] = None, batch: Optional[int] = None, run_s: float = 0.01):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidArgumentError(f"workers {workers!r}: expected an int >= 1", argument="workers",
                                       value=workers)
        if len(feeds) != len(goldens) or not feeds:
            raise InvalidArgumentError(f"{len(feeds)} inputs and {len(goldens)} goldens: expected one golden "
                                       f"per input, at least one", argument="goldens", value=len(goldens))
        self.sess = sess
        self.feeds = list(feeds)
        self.goldens = list(goldens)
        self.tolerance = tolerance
        self.workers = workers
        self.timeout_s = timeout_s
        self.worker_name = worker_name
        self.make_session = make_session
        self.pause_point = pause_points(sess)
        self.static_cause = static_cause or self.pause_point.static_cause
        self.batch = batch or max(1, min(256, int(0.05 / max(run_s, 1e-6))))
        self.run_s = run_s

    def run(self, faults: Iterable[Fault]) -> Iterator[InjectionRecord]:
        """Yield one record per fault, in completion order."""
        faults = list(faults)
        for f in faults:
            if not 0 <= f.input_index < len(self.feeds):
                raise InvalidArgumentError(f"fault {f.fault_id}: input_index {f.input_index} is not one of the "
                                           f"campaign's {len(self.feeds)} inputs", argument="input_index",
                                           value=f.input_index)
        order = sorted(faults, key=lambda f: (f.input_index, self.pause_point(as_run(self.sess, f)), f.fault_id))
        self._by_id = {f.fault_id: f for f in order}
        if len(self._by_id) != len(order):
            raise InvalidArgumentError("the fault list names a fault id twice", argument="faults")
        if not order:
            return
        golden_record(self.sess, self.feeds[order[0].input_index])  # inherited by the workers
        size = min(self.batch, -(-len(order) // (self.workers * IN_FLIGHT)))  # every worker gets batches
        queue = deque(order[i:i + size] for i in range(0, len(order), size))
        self._shared = mmap.mmap(-1, 8 * _SLOT * self.workers)
        self._slots = np.frombuffer(self._shared, np.float64).reshape(self.workers, _SLOT)
        self._slots[:, 0] = -1
        procs: Dict[int, _Proc] = {}
        self._procs = procs
        died_idle = 0
        try:
            while queue or any(p.batches for p in procs.values()):
                for slot in range(self.workers):
                    if slot not in procs and queue:
                        procs[slot] = self._spawn(slot)
                for depth in range(1, IN_FLIGHT + 1):  # each worker one batch before any gets two
                    for proc in procs.values():
                        self._feed(proc, queue, depth)
                busy = {p.from_fd: p for p in procs.values() if p.batches}
                readable, _, _ = select.select(list(busy), [], [], 0.05)
                for fd in readable:
                    proc = busy[fd]
                    chunk = os.read(fd, 1 << 20)
                    if chunk:
                        proc.data += chunk
                        while True:  # one read may hold several answers
                            records = self._complete(proc)
                            if records is None:
                                break
                            self._feed(proc, queue)  # the next batch first: it works while these are recorded
                            yield from records
                        continue
                    records, idle = self._died(proc, queue)
                    died_idle += idle
                    if died_idle > 3:
                        raise RuntimeError("fault-injection workers died 4 times with no fault in flight "
                                           "(while setting up); see the worker's stderr")
                    del procs[proc.slot]
                    yield from records
                now = time.monotonic()
                for proc in list(procs.values()):
                    fid, since = self._slots[proc.slot]
                    if proc.batches and fid >= 0 and now - since > self.timeout_s:
                        os.kill(proc.pid, signal.SIGKILL)
                        del procs[proc.slot]
                        yield from self._lost(proc, queue, int(fid), now - since,
                                              Verdict.hang(f"no result after {self.timeout_s:.2f} s"))
        finally:
            for proc in procs.values():
                os.close(proc.to_fd)  # the worker exits at EOF
            for proc in procs.values():
                if proc.batches:
                    os.kill(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
                os.close(proc.from_fd)
            del self._slots
            self._shared.close()

    def _complete(self, proc: _Proc) -> Optional[Iterator[InjectionRecord]]:
        if len(proc.data) < 8:
            return None
        (size,) = struct.unpack("<Q", proc.data[:8])
        if len(proc.data) < 8 + size:
            return None
        results = pickle.loads(proc.data[8:8 + size])
        proc.data = proc.data[8 + size:]
        proc.batches.popleft()  # answers come in the order the batches went
        return self._records(results)

    @staticmethod
    def _feed(proc: _Proc, queue, depth: int = IN_FLIGHT) -> None:
        """Send the worker batches until `depth` are unanswered (IN_FLIGHT: it starts the
        next one as soon as it has sent a result, never waiting for this process)."""
        while queue and len(proc.batches) < depth:
            batch = queue.popleft()
            proc.batches.append(batch)
            _send(proc.to_fd, [f.fault_id for f in batch])

    def _records(self, results) -> Iterator[InjectionRecord]:
        layer, by_id = self.pause_point.layer, self._by_id
        for fid, verdict, duration in results:
            fault = by_id[fid]
            yield InjectionRecord(fault, verdict, duration, self.worker_name, layer(fault))

    def _died(self, proc: _Proc, queue) -> Tuple[List[InjectionRecord], int]:
        _, status = os.waitpid(proc.pid, 0)
        os.close(proc.to_fd)
        os.close(proc.from_fd)
        fid, since = self._slots[proc.slot]
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            how = f"worker killed by signal {sig} ({signal.Signals(sig).name})"
        else:
            how = f"worker exited with code {os.WEXITSTATUS(status)} and no result"
        if fid < 0:
            queue.extendleft(reversed(proc.batches))
            return [], 1
        return self._lost(proc, queue, int(fid), time.monotonic() - since, Verdict.crash(how), reap=False), 0

    def _lost(self, proc: _Proc, queue, fault_id: int, duration: float, verdict: Verdict,
              reap: bool = True) -> List[InjectionRecord]:
        """Record the in-flight fault of a killed or dead worker; queue the rest of its batches."""
        if reap:
            os.waitpid(proc.pid, 0)
            os.close(proc.to_fd)
            os.close(proc.from_fd)
        self._slots[proc.slot] = (-1, 0.0)
        fault = next((f for batch in proc.batches for f in batch if f.fault_id == fault_id), None)
        rest = [f for batch in proc.batches for f in batch if f.fault_id != fault_id]
        if fault is None:
            raise RuntimeError(f"worker {proc.pid} published fault {fault_id}, which is not in its batch "
                               f"(a radrt bug: please report it)")
        if rest:
            queue.appendleft(rest)
        return [InjectionRecord(fault, verdict, duration, self.worker_name, self.pause_point.layer(fault))]

    def _spawn(self, slot: int) -> _Proc:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # The worker inherits this process's objects: frozen, its garbage collector never
        # walks them (a walk writes to every object, copying every page of the fork).
        gc.freeze()
        pid = os.fork()
        if pid != 0:
            gc.unfreeze()
        if pid == 0:  # the worker: never returns
            os.close(to_w)
            os.close(from_r)
            for other in self._procs.values():  # so that each worker sees EOF when the parent closes its pipe
                os.close(other.to_fd)
                os.close(other.from_fd)
            faulthandler.disable()  # a crash is an outcome here, not a traceback on stderr
            code = 0
            try:
                self._serve(slot, to_r, from_w)
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(to_r)
        os.close(from_w)
        return _Proc(slot, pid, to_w, from_r)

    def _serve(self, slot: int, rfd: int, wfd: int) -> None:
        make = self.make_session or (lambda: _fresh_like(self.sess))
        worker = _Worker(make, self.sess, self.feeds, self.goldens, self.tolerance, self.static_cause,
                         self.pause_point)
        worker.track_weights = self.run_s / max(self.pause_point.n_ops, 1) >= TRACK_WEIGHTS_MIN_OP_S
        mine = self._slots[slot]
        while True:
            head = _recv_exact(rfd, 8)
            if head is None:
                return
            ids = pickle.loads(_recv_exact(rfd, struct.unpack("<Q", head)[0]))
            results = []
            for fault_id in ids:  # the faults themselves came with the fork
                t0 = time.monotonic()
                mine[1] = t0
                mine[0] = fault_id
                v = _run_one(worker, self._by_id[fault_id])
                mine[0] = -1
                results.append((fault_id, v, time.monotonic() - t0))  # one pickle: equal verdicts sent once
            _send(wfd, results)


def _run_one(worker: _Worker, fault: Fault) -> Verdict:
    """One fault in a worker (a module function, so a test can replace it)."""
    return worker.run(fault)


def _fresh_like(sess):
    from runtime import InferenceSession
    return InferenceSession(sess._loaded.proto.SerializeToString(), protection=sess.protection,
                            vote_points=sess._vote_points, scrub_block_size=sess._block_size,
                            scrub_interval_s=None)

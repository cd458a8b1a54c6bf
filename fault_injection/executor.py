"""Executing injections: one forked child per fault, from a shared fault-free prefix.

The parent process holds a session and pauses a fault-free run (the golden
inputs) at op k, the first op a fault can change (`PausePoints`). Faults are
taken in order of k; the parent advances the paused run to each k
once and forks one child per fault there. The child inherits the prefix's
memory copy-on-write, injects, finishes the run, classifies the outcome and
writes its verdict to a pipe; the parent never sees the upset. So the prefix is
computed once for all faults (speed), every fault starts from the same
fault-free state whatever the order (reproducible, also across Dask workers),
and a fault that kills or stalls its child is a `crash` or `hang` of that child
only (crash isolation). The watchdog kills a child that runs longer than
`timeout_s` (`hang`).

`prefix_reuse=False` makes every child run from op 0 (the naive baseline the
benchmark compares against).

An input upset lands right before the first op that reads its bytes (in the run
paused there, or after the copy-in when a child runs from op 0): no earlier op
reads them, so both are the same upset. A weights or input fault that no op reads
(alignment padding) still runs; when its output is bit-identical it is recorded
`masked` with cause `never read`. Each record carries its layer: the op the upset
first reaches (`PausePoints.layer`).
"""
import faulthandler
import os
import pickle
import select
import signal
import time
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Iterator, List, Optional

from runtime.errors import InvalidArgumentError, UncorrectableUpsetError
from runtime.protect.modes import mode as protection_mode

from .outcome import NEVER_READ, Golden, Tolerance, Verdict, classify, health_delta
from .plan import Fault
from .store import InjectionRecord
from .vocabulary import FaultModel


class PausePoints:
    """The first op whose execution a fault can change, from the memory plan.

    - weights and input faults: the first op that reads one of the fault's bytes
      (no op: the end of the run; such a fault can only be masked);
    - compute faults at op c: c (the child runs op c, upsets its output in one
      replica, then votes);
    - activations faults at time a: a + 1 (the upset lands right after op a).
    """

    def __init__(self, plan):
        self.n_ops = len(plan.steps)
        self.readers = {"weights": [], "input": []}  # (start, end, op) byte ranges read
        for step in plan.steps:
            for p in list(step.ins) + list(step.consts):
                if p is not None and p.region in self.readers:
                    self.readers[p.region].append((p.offset, p.offset + p.nbytes, step.index))

    def never_read(self, fault: Fault) -> bool:
        """A weights or input fault whose bytes no op reads (accumulate: every upset is)."""
        if fault.upsets is not None:
            return all(self.never_read(u) for u in fault.upset_faults())
        return fault.kind in self.readers and self(fault) == self.n_ops

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
        if fault.kind == "compute":
            return fault.op_index
        if fault.kind == "activations":
            return fault.at_op + 1
        touched = [b for b, _ in FaultModel.parse(fault.model).bits(fault.byte_offset, fault.bit)]
        lo, hi = min(touched), max(touched) + 1
        ops = [op for start, end, op in self.readers[fault.kind] if start < hi and lo < end]
        return min(ops, default=self.n_ops)


def inject_fault(sess, fault: Fault, paused_at: int) -> None:
    """Upset every bit of the fault in the session's memory (through its C primitive),
    for a run paused at op `paused_at` (an input fault lands there, see above); a
    random or zero fault sets its word in one call."""
    model = FaultModel.parse(fault.model)
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


def run_fault_here(sess, paused, fault: Fault, golden: Golden, tolerance: Tolerance,
                   never_read: bool = False) -> Verdict:
    """Inject `fault` and finish the paused run in this process; classify the result.
    never_read: no op reads the fault's bytes (PausePoints.never_read), the cause of
    a masked outcome. An accumulate fault's run is followed by one scrub pass when
    the mode keeps weight copies (fault_injection.vocabulary), part of its outcome."""
    before = sess.health()
    outputs, raised = None, None
    try:
        inject_fault(sess, fault, paused.at)
        outputs = paused.finish()
        if fault.upsets is not None and protection_mode(sess.protection).scrubbed:
            sess.scrub()
    except UncorrectableUpsetError as e:
        raised = e
    except Exception as e:  # any other failure of the run is a crash outcome, with its text
        raised = e
    verdict = classify(golden, outputs, health=health_delta(before, sess.health()), raised=raised,
                       tolerance=tolerance)
    if never_read and verdict.outcome == "masked":
        verdict = replace(verdict, cause=NEVER_READ)
    return verdict


@dataclass
class _Child:
    fault: Fault
    fd: int
    started: float
    deadline: float
    data: bytes = b""


class ForkExecutor:
    """inputs: the campaign's feeds, one dict per input; goldens: their Golden, in the
    same order; a fault runs on inputs[fault.input_index]."""

    def __init__(self, sess, inputs: List[dict], goldens: List[Golden], tolerance: Tolerance, workers: int = 1,
                 timeout_s: float = 10.0, prefix_reuse: bool = True, worker_name: str = "local"):
        if workers < 1:
            raise InvalidArgumentError(f"workers {workers}: expected at least 1")
        if len(inputs) != len(goldens) or not inputs:
            raise InvalidArgumentError(f"{len(inputs)} inputs and {len(goldens)} goldens: expected one golden "
                                       f"per input, at least one")
        self.sess = sess
        self.inputs = inputs
        self.goldens = goldens
        self.tolerance = tolerance
        self.workers = workers
        self.timeout_s = timeout_s
        self.prefix_reuse = prefix_reuse
        self.worker_name = worker_name
        self._running: Dict[int, _Child] = {}
        self.pause_point = PausePoints(sess.compiled.plan)

    def run(self, faults: Iterable[Fault]) -> Iterator[InjectionRecord]:
        """Yield one record per fault, in completion order (one paused run per input)."""
        by_input: Dict[int, List[Fault]] = {}
        for f in faults:
            if not 0 <= f.input_index < len(self.inputs):
                raise InvalidArgumentError(f"fault {f.fault_id}: input_index {f.input_index} is not one of the "
                                           f"campaign's {len(self.inputs)} inputs")
            by_input.setdefault(f.input_index, []).append(f)
        for index in sorted(by_input):
            order = sorted(by_input[index],
                           key=lambda f: (self.pause_point(f) if self.prefix_reuse else 0, f.fault_id))
            with self.sess.paused_run(self.inputs[index]) as paused:
                for fault in order:
                    if self.prefix_reuse:
                        paused.advance_to(self.pause_point(fault))
                    while len(self._running) >= self.workers:
                        yield from self._reap(block=True)
                    self._fork(paused, fault)
                    yield from self._reap(block=False)
        # children hold their own copy of the paused run: the next input does not touch them
        while self._running:
            yield from self._reap(block=True)

    def _fork(self, paused, fault: Fault) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: never returns
            os.close(rfd)
            faulthandler.disable()  # a crash is an outcome here, not a traceback on stderr
            code = 0
            try:
                t0 = time.perf_counter()
                verdict = run_fault_here(self.sess, paused, fault, self.goldens[fault.input_index], self.tolerance,
                                         self.pause_point.never_read(fault))
                payload = pickle.dumps((verdict, time.perf_counter() - t0))
                view = memoryview(payload)
                while view:
                    view = view[os.write(wfd, view):]
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(wfd)
        now = time.monotonic()
        self._running[pid] = _Child(fault, rfd, now, now + self.timeout_s)

    def _reap(self, block: bool) -> List[InjectionRecord]:
        """Collect finished children (waiting for at least one when block); kill late ones."""
        done: List[InjectionRecord] = []
        while self._running and not done:
            now = time.monotonic()
            for pid, child in list(self._running.items()):
                if now >= child.deadline:
                    os.kill(pid, signal.SIGKILL)
                    done.append(self._close(pid, Verdict.hang(f"no result after {self.timeout_s:.2f} s")))
            if done:
                break
            wait = max(0.0, min(c.deadline for c in self._running.values()) - now) if block else 0.0
            by_fd = {c.fd: pid for pid, c in self._running.items()}
            readable, _, _ = select.select(list(by_fd), [], [], wait)
            for fd in readable:
                pid = by_fd[fd]
                chunk = os.read(fd, 1 << 16)
                if chunk:
                    self._running[pid].data += chunk
                    continue
                done.append(self._close(pid, None))
            if not block:
                break
        return done

    def _close(self, pid: int, verdict: Optional[Verdict]) -> InjectionRecord:
        child = self._running.pop(pid)
        os.close(child.fd)
        _, status = os.waitpid(pid, 0)
        duration = time.monotonic() - child.started
        if verdict is None:
            if child.data:
                try:
                    verdict, duration = pickle.loads(child.data)
                except (pickle.UnpicklingError, EOFError, ValueError):
                    verdict = Verdict.crash("worker died while reporting its result")
            elif os.WIFSIGNALED(status):
                verdict = Verdict.crash(f"worker killed by signal {os.WTERMSIG(status)} "
                                        f"({signal.Signals(os.WTERMSIG(status)).name})")
            else:
                verdict = Verdict.crash(f"worker exited with code {os.WEXITSTATUS(status)} and no result")
        return InjectionRecord(child.fault, verdict, duration, self.worker_name,
                               self.pause_point.layer(child.fault))

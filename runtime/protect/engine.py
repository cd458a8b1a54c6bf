"""The protected executor: replicas, voting, comparison and re-execution.

Each replica has its own activation arena, input copy and output region, and
reads its own weight copy (replica r reads copy r mod K). A run then does:

- none / scrub: replica 0 computes once.
- dwc: replicas 0 and 1 compute; their outputs are compared byte for byte.
  On a mismatch the weights are scrubbed (a flipped weight copy is repaired),
  replica 2 computes (counted as a re-execution) and the three outputs are
  voted bitwise. If no majority exists, the run raises.
- tmr: the three replicas compute op by op. After every op (vote points
  `every_op`) the op's outputs are voted bitwise in C and the majority is
  written back to all three, so the voted result feeds the next op of every
  replica; with `outputs` only the final outputs are voted. The final outputs
  are always voted. Any disagreement also triggers a scrub: if the scrub
  repaired a weight copy, or some word had no majority, the run is executed
  again (a weight upset in two copies can outvote the good one; this second
  run uses weights that verify), and a second disagreement without majority
  raises `UncorrectableUpsetError`.

Any scrub that finds a weight block no copy can repair (two copies hit in one
block under dwc/scrub, three under tmr) raises `UncorrectableUpsetError` in
the same run: the third replica or the re-execution would read those weights
and could agree on a wrong output. The block is counted once, when found.

A weight upset in one copy is therefore voted out in the run it occurs and
scrubbed right after; see README "Protection" for what stays exposed.

A run is `begin(feeds)`, `advance(0, n)`, `finish()`; fault-injection
campaigns pause between `advance` calls to reuse a fault-free prefix, and
`save_run_state()` / `restore_run_state()` copy out and back everything a run
writes (each replica's arena, input and output regions, the per-op vote
reports; abft adds its seals), so many runs can go on from one paused state. Armed
upsets (from `inject`) are hooks keyed by step: applied right after that
step's kernels (compute: before that step's vote; activations: after it).
With nothing armed the loop is a plain walk over pre-bound C calls.
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from .._core import ffi, lib
from ..errors import InvalidArgumentError, UncorrectableUpsetError
from ..execute import Region, bind, replica_regions
from ..plan import MemoryPlan
from .modes import mode as protection_mode
from .weights import WeightCopies

# Hooks by step index, and -1 for "after the inputs are copied in".
Hooks = Dict[int, List[Callable[[], None]]]

# The regions of a replica that a run writes.
RUN_REGIONS = ("arena", "input", "output")


@dataclass
class RunState:
    """What Engine.save_run_state() copied: regions in replica-major RUN_REGIONS order,
    the vote reports' bytes, the feeds, and (abft) the seal slots' bytes and flag."""
    regions: List[np.ndarray]
    vote_reports: bytes
    feeds: Dict[str, np.ndarray]
    extra: tuple = ()


class Replica:
    def __init__(self, index: int, plan: MemoryPlan, weights: Region):
        self.index = index
        self.regions = replica_regions(plan, weights, index)
        self.calls = bind(plan, self.regions)
        self.inputs = {n: self.regions["input"].array(p, info.dtype, info.shape)
                       for n, p, info in plan.inputs}
        self.outputs = {n: self.regions["output"].array(p, info.dtype, info.shape)
                        for n, p, info in plan.outputs}


class Engine:
    def __init__(self, plan: MemoryPlan, mode: str, weights: WeightCopies, vote_points: str,
                 health, events):
        record = protection_mode(mode)
        if len(weights.copies) != record.weight_copies:
            raise InvalidArgumentError(f"mode {mode} needs {record.weight_copies} weight copies, "
                                       f"got {len(weights.copies)}")
        self.plan = plan
        self.mode = mode
        self.weights = weights
        self.vote_points = vote_points
        self.health = health
        self.events = events
        self.replicas = [Replica(r, plan, weights.copies[r % len(weights.copies)])
                         for r in range(record.replicas)]
        self.active = self.replicas[:record.first_pass_replicas]
        nsteps = len(plan.steps)
        self.vote_reports = ffi.new("radrt_vote_report[]", max(nsteps, 1))
        self._zero_reports = bytes(ffi.sizeof("radrt_vote_report") * max(nsteps, 1))
        self.tmr_calls = self._interleave_with_votes() if mode == "tmr" and vote_points == "every_op" else None
        self.feeds: Dict[str, np.ndarray] = {}
        self._sites: Optional[Dict[str, object]] = None

    # -- building --------------------------------------------------------------
    def _vote_calls(self, step_index: int):
        calls = []
        step = self.plan.steps[step_index]
        report = self.vote_reports + step_index
        for p in step.outs:
            if p is not None and p.nbytes:
                ptrs = [ffi.cast("uint8_t *", r.regions[p.region].pointer(p.offset)) for r in self.replicas]
                calls.append((lib.radrt_vote3, (*ptrs, p.nbytes, report)))
        return calls

    def _interleave_with_votes(self):
        """One flat list per step: the three replicas' kernel calls, then the votes."""
        per_step = []
        for i in range(len(self.plan.steps)):
            per_step.append([r.calls[i] for r in self.replicas] + self._vote_calls(i))
        return per_step

    def fault_site_index(self) -> Dict[str, object]:
        """{site name: FaultSite} of this engine (faults.fault_sites), built once."""
        if self._sites is None:
            from .faults import fault_sites  # imports nothing of this module
            self._sites = {s.name: s for s in fault_sites(self)}
        return self._sites

    # -- run state ---------------------------------------------------------------
    def save_run_state(self) -> "RunState":
        """A copy of everything a run writes (not the weights, which a run only reads).
        Costs one copy of every replica's arena, input and output regions."""
        regions = [r.regions[name].bytes.copy() for r in self.replicas for name in RUN_REGIONS]
        return RunState(regions, ffi.buffer(self.vote_reports, len(self._zero_reports))[:], self.feeds)

    def restore_run_state(self, state: "RunState", written: Optional[Dict[str, List[tuple]]] = None) -> None:
        """Put back a state from save_run_state() of this engine, byte for byte.

        written: None (every byte), or {region name: [(lo, hi), ...]}: only those byte
        ranges of every replica's region are copied back (a region not named is not);
        the caller guarantees that nothing else was written since the save."""
        views = [r.regions[name].bytes for r in self.replicas for name in RUN_REGIONS]
        if len(views) != len(state.regions) or any(v.shape != s.shape for v, s in zip(views, state.regions)):
            raise InvalidArgumentError("restore_run_state: the state was saved from another engine "
                                       "(regions differ)", argument="state")
        if written is None:
            for view, saved in zip(views, state.regions):
                np.copyto(view, saved)
        else:
            unknown = sorted(set(written) - set(RUN_REGIONS))
            if unknown:
                raise InvalidArgumentError(f"restore_run_state: region {unknown[0]!r} is not one a run writes "
                                           f"({', '.join(RUN_REGIONS)})", argument="written", value=unknown[0])
            for k, (view, saved) in enumerate(zip(views, state.regions)):
                for lo, hi in written.get(RUN_REGIONS[k % len(RUN_REGIONS)], ()):
                    view[lo:hi] = saved[lo:hi]
        ffi.memmove(self.vote_reports, state.vote_reports, len(state.vote_reports))
        self.feeds = state.feeds

    # -- running ---------------------------------------------------------------
    # A run is begin(feeds), advance(0, n) and finish(); campaigns pause between
    # advance() calls to reuse a fault-free prefix (see session.PausedRun).
    def begin(self, feeds: Dict[str, np.ndarray]) -> None:
        self.feeds = feeds
        for replica in self.active:
            for name, arr in feeds.items():
                np.copyto(replica.inputs[name], arr)
        ffi.memmove(self.vote_reports, self._zero_reports, len(self._zero_reports))

    def advance(self, start: int, stop: int, hooks: Optional[Hooks] = None) -> None:
        """Execute steps [start, stop) in the active replicas (tmr: with their votes)."""
        if self.tmr_calls is not None:
            self._advance_voting(start, stop, hooks)
            return
        for replica in self.active:
            self._walk_replica(replica, start, stop, _for_replica(hooks, replica.index))

    def finish(self) -> Dict[str, np.ndarray]:
        if len(self.active) == 1:
            return {n: v.copy() for n, v in self.replicas[0].outputs.items()}
        if self.mode == "dwc":
            return self._finish_dwc()
        return self._finish_tmr()

    def _walk_replica(self, replica: Replica, start: int, stop: int, hooks: Optional[Hooks]) -> None:
        calls = replica.calls
        if not hooks:
            for fn, args in calls[start:stop]:
                fn(*args)
            return
        for i in range(start, stop):
            fn, args = calls[i]
            fn(*args)
            for h in hooks.get(i, ()):
                h()

    def _advance_voting(self, start: int, stop: int, hooks: Optional[Hooks]) -> None:
        nk = len(self.replicas)
        for i in range(start, stop):
            calls = self.tmr_calls[i]
            if not hooks or i not in hooks:
                for fn, args in calls:
                    fn(*args)
                continue
            for fn, args in calls[:nk]:
                fn(*args)
            for h in hooks[i]:
                if h.before_vote:
                    h()
            for fn, args in calls[nk:]:
                fn(*args)
            for h in hooks[i]:
                if not h.before_vote:
                    h()

    def _rerun(self, replicas) -> None:
        """Run from scratch (after a repair), on the feeds of this run."""
        ffi.memmove(self.vote_reports, self._zero_reports, len(self._zero_reports))
        self.health["reexecutions"] += 1
        for replica in replicas:
            for name, arr in self.feeds.items():
                np.copyto(replica.inputs[name], arr)
        if self.tmr_calls is not None:
            self._advance_voting(0, len(self.plan.steps), None)
        else:
            for replica in replicas:
                self._walk_replica(replica, 0, len(self.plan.steps), None)

    def _finish_dwc(self) -> Dict[str, np.ndarray]:
        r0, r1, r2 = self.replicas
        if all(np.array_equal(r0.outputs[n].view(np.uint8), r1.outputs[n].view(np.uint8))
               for n in r0.outputs):
            return {n: v.copy() for n, v in r0.outputs.items()}
        self.health["vote_disagreements"] += 1
        self.events.append(("VOTE_DISAGREEMENT", len(self.plan.steps), 0))
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        self._rerun([r2])
        outputs, report = self._vote_outputs()
        if report.no_majority:
            self._lost("dwc: the three runs disagree with no majority")
        if not repaired:
            self._count_transient()
        return outputs

    def _finish_tmr(self) -> Dict[str, np.ndarray]:
        disagreed = self._note_disagreements()
        outputs, final = self._vote_outputs()
        if not (disagreed or final.words_disagreeing):
            return outputs
        repaired = self.scrub_weights()
        self.raise_if_weights_lost()
        if not repaired and not (final.no_majority or self._any_no_majority()):
            self._count_transient()
            return outputs
        # A weight copy was bad (two bad copies can outvote the good one) or a vote
        # had no majority: run again, on weights that now verify.
        self._rerun(self.replicas)
        self._note_disagreements()
        outputs, final = self._vote_outputs()
        if final.no_majority or self._any_no_majority():
            self._lost("tmr: replicas disagree with no majority after re-execution")
        if not repaired:
            self._count_transient()
        return outputs

    def _count_transient(self) -> None:
        """An upset in activations, compute or an input copy, outvoted; nothing to repair."""
        self.health["upsets_detected"] += 1
        self.health["upsets_corrected"] += 1

    def _note_disagreements(self) -> bool:
        """Count the per-op votes that disagreed; return whether any did."""
        disagreed = False
        for i in range(len(self.plan.steps)):
            rep = self.vote_reports[i]
            if rep.words_disagreeing:
                disagreed = True
                self.health["vote_disagreements"] += 1
                odd = next((r for r in range(3) if rep.odd_replicas >> r & 1), 0)
                self.events.append(("VOTE_DISAGREEMENT", i, odd))
        return disagreed

    def _any_no_majority(self) -> bool:
        return any(self.vote_reports[i].no_majority for i in range(len(self.plan.steps)))

    def _vote_outputs(self):
        report = ffi.new("radrt_vote_report *")
        outputs = {}
        r0, r1, r2 = self.replicas
        for name, view in r0.outputs.items():
            out = np.empty_like(view)
            if view.nbytes:
                lib.radrt_vote3_into(ffi.from_buffer("uint8_t[]", view), ffi.from_buffer("uint8_t[]", r1.outputs[name]),
                                     ffi.from_buffer("uint8_t[]", r2.outputs[name]),
                                     ffi.from_buffer("uint8_t[]", out), view.nbytes, report)
            outputs[name] = out
        if report.words_disagreeing:
            odd = next((r for r in range(3) if report.odd_replicas >> r & 1), 0)
            self.events.append(("VOTE_DISAGREEMENT", len(self.plan.steps), odd))
        return outputs, report

    # -- scrubbing ---------------------------------------------------------------
    def scrub_weights(self) -> int:
        """One full scrub, accounted; returns how many block-copies were repaired."""
        r = self.weights.scrub(0, self.weights.nblocks)
        self.account_scrub(r)
        return r.upsets_corrected

    def raise_if_weights_lost(self) -> None:
        """UncorrectableUpsetError if some weight block could not be repaired (already counted)."""
        if self.weights.lost_blocks:
            raise UncorrectableUpsetError(self.weights.lost_message())

    def account_scrub(self, r) -> None:
        self.health["upsets_detected"] += r.upsets_detected
        self.health["upsets_corrected"] += r.upsets_corrected
        self.health["uncorrectable"] += r.uncorrectable
        if r.upsets_corrected:
            self.events.append(("UPSET_CORRECTED", REGION_ID_WEIGHTS + max(r.first_bad_copy, 0),
                                max(r.first_bad_block, 0) * self.weights.block_size))
        if r.uncorrectable:
            self.events.append(("UPSET_UNCORRECTABLE", REGION_ID_WEIGHTS,
                                max(r.first_uncorrectable_block, 0) * self.weights.block_size))

    def _lost(self, why: str) -> None:
        self.health["uncorrectable"] += 1
        self.events.append(("UPSET_UNCORRECTABLE", 0, 0))
        raise UncorrectableUpsetError(why)


# Region ids carried by events (ICD §9 aux1): weights copy c is 0x10 + c.
REGION_ID_WEIGHTS = 0x10


def _for_replica(hooks: Optional[Hooks], replica: int) -> Optional[Hooks]:
    if not hooks:
        return None
    picked = {}
    for i, hs in hooks.items():
        mine = [h for h in hs if getattr(h, "replica", None) in (None, replica)]
        if mine:
            picked[i] = mine
    return picked or None


def make_engine(plan: MemoryPlan, mode: str, weights: WeightCopies, vote_points: str, health, events) -> Engine:
    """The executor of protection `mode`: AbftEngine for abft, Engine for the others."""
    if mode == "abft":
        from .abft import AbftEngine  # imports this module
        return AbftEngine(plan, mode, weights, vote_points, health, events)
    return Engine(plan, mode, weights, vote_points, health, events)

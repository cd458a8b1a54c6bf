"""Stage 3, plan: a static memory plan; nothing is allocated while a model runs.

Every buffer goes to one of four regions:
- `weights`: the constants kernels read (and the re-laid-out weights kernels
  ask for), packed one after another, 64-byte aligned;
- `input`: the runtime inputs, filled by `run()` from the caller's arrays;
- `output`: the buffers of graph outputs, written directly by the last kernel
  that produces them (an output that is a constant, an input, or a second view
  of another output's buffer gets a copy step at the end);
- `arena`: every other activation, with buffers reused across time.

Arena placement is the greedy planner of TFLite Micro: buffers sorted by size,
largest first; each goes at the lowest 64-byte-aligned offset where it overlaps
no already-placed buffer that is alive at the same time (alive = from the step
that writes it to the last step that reads it, through views). Cost is
O(n^2) in buffers, paid once. `arena_unshared_bytes` is what the arena would be
without reuse, so `radrt inspect` can say what reuse saved.

Memory budget: the plan knows every byte before the first allocation. Each
buffer is sized with runtime.sizes (int64-checked); `plan_memory` then refuses
with `MemoryBudgetError`, before anything is allocated, a plan whose total
for the protection mode is above `max_memory_bytes`:

    weights * weight_copies + (arena + input + output) * replicas   (protect/modes.py)

(scratch lives in the arena). `MemoryPlan.check_budget(mode)` repeats the
check when the session switches protection mode.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import sizes
from .compile import CompiledGraph, Step
from .errors import MemoryBudgetError
from .load import Node
from .ops import Prepared, TensorInfo
from .protect import mode as protection_mode

ALIGN = 64
REGIONS = ("weights", "input", "output", "arena")


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class Placement:
    region: str
    offset: int
    nbytes: int


@dataclass
class PlannedStep:
    index: int
    node: Node
    prepared: Prepared
    ins: List[Optional[Placement]]  # one per node input; None when omitted or unread
    outs: List[Optional[Placement]]
    consts: List[Placement]  # Prepared.constants, in the weights region
    scratch: Optional[Placement]  # arena bytes alive during this step only


@dataclass
class MemoryPlan:
    region_bytes: Dict[str, int]
    weights: List[Tuple[str, Placement, np.ndarray]]
    inputs: List[Tuple[str, Placement, TensorInfo]]
    outputs: List[Tuple[str, Placement, TensorInfo]]
    steps: List[PlannedStep]
    arena_unshared_bytes: int
    max_memory_bytes: Optional[int] = None  # None: not checked (a plan built outside a session)
    largest: Tuple[str, str, int] = ("", "", 0)  # (node, buffer, bytes) of the largest buffer

    def total_bytes(self, mode: str) -> int:
        """Bytes the regions need in protection `mode` (weight copies and replicas)."""
        r, m = self.region_bytes, protection_mode(mode)
        return (r["weights"] * m.weight_copies
                + (r["arena"] + r["input"] + r["output"]) * m.replicas)

    def check_budget(self, mode: str) -> None:
        """MemoryBudgetError when total_bytes(mode) is above max_memory_bytes."""
        total = self.total_bytes(mode)
        if self.max_memory_bytes is None or total <= self.max_memory_bytes:
            return
        r, m = self.region_bytes, protection_mode(mode)
        node, buffer, nbytes = self.largest
        owner = f"node '{node}'" if node else "the graph"
        raise MemoryBudgetError(
            f"the memory plan needs {total} bytes in protection '{mode}' (weights {r['weights']} "
            f"x {m.weight_copies} copies, arena {r['arena']} + input {r['input']} + output "
            f"{r['output']} x {m.replicas} replicas), above the memory budget of "
            f"{self.max_memory_bytes} bytes (max_memory_bytes); largest buffer: '{buffer}' of "
            f"{owner}, {nbytes} bytes", node=node or None, attribute="max_memory_bytes",
            value=total)


# Buffers the plan adds (output copies, per-step scratch, kernel constants) are keyed by
# tuples: a model's value names are strings, and any string is a valid name, so no
# model value can ever share a key with them.
def _output_copy_key(name: str) -> tuple:
    return ("output copy", name)


def _scratch_key(step: int) -> tuple:
    return ("scratch", step)


def _const_key(step: int, j: int) -> tuple:
    return ("constant", step, j)


def _label(key) -> str:
    return key if isinstance(key, str) else "/".join(str(k) for k in key)


def _copy_step(src: str, dst: tuple, info: TensorInfo) -> Step:
    nbytes = info.nbytes
    prepared = Prepared([TensorInfo(info.shape, info.dtype)],
                        lambda lib, ins, outs, consts, scratch: (lib.radrt_copy, (ins[0], outs[0], nbytes)))
    return Step(Node("Copy", f"copy_to_output/{dst[1]}", [src], [dst]), [src], [dst], prepared)


def plan_memory(g: CompiledGraph, max_memory_bytes: Optional[int] = None,
                protection: str = "none") -> MemoryPlan:
    """The memory plan of `g`; MemoryBudgetError if it needs more than max_memory_bytes
    in `protection` mode (None: the default share of physical memory, runtime.sizes)."""
    budget = sizes.resolve_budget(max_memory_bytes)
    values = dict(g.values)
    alias = dict(g.alias)
    steps = list(g.steps)
    produced = {o for s in steps for o in s.outputs if o}

    # Graph outputs: the producing step writes straight into the output region,
    # unless that buffer is not a step's output or is already claimed.
    output_bases: Dict[str, str] = {}
    claimed = set()
    for name in g.outputs:
        base = alias.get(name, name)
        if base in produced and base not in claimed:
            claimed.add(base)
            output_bases[name] = base
        else:
            copy_name = _output_copy_key(name)
            values[copy_name] = TensorInfo(values[name].shape, values[name].dtype)
            steps.append(_copy_step(name, copy_name, values[name]))
            output_bases[name] = copy_name
            claimed.add(copy_name)

    # Lifetimes of every buffer a step writes or reads.
    first: Dict[str, int] = {}
    last: Dict[str, int] = {}
    for i, s in enumerate(steps):
        for o in s.outputs:
            if o:
                first.setdefault(o, i)
                last[o] = max(last.get(o, i), i)
        for k, name in enumerate(s.inputs):
            if name and k not in s.prepared.unread_inputs:
                base = alias.get(name, name)
                last[base] = max(last.get(base, i), i)

    region_bytes = dict.fromkeys(REGIONS, 0)
    placement: Dict[str, Placement] = {}

    def place_linear(region: str, name: str, nbytes: int) -> Placement:
        p = Placement(region, region_bytes[region], nbytes)
        region_bytes[region] += _align(max(nbytes, 1))
        placement[name] = p
        return p

    producers = {o: s.node.name for i, s in enumerate(steps) for o in s.outputs + [_scratch_key(i)] if o}

    def nbytes(name: str) -> int:
        info = values[name]
        producer = producers.get(name)
        return sizes.check_bytes(producer, sizes.nbytes(info.shape, info.dtype, f"tensor '{_label(name)}'", producer),
                                 f"tensor '{_label(name)}' (shape {tuple(info.shape)})", budget)

    inputs = [(n, place_linear("input", n, nbytes(n)), values[n]) for n in g.inputs]
    outputs = [(n, place_linear("output", b, nbytes(b)), values[n])
               for n, b in output_bases.items()]

    weights = []
    for s in steps:
        for k, name in enumerate(s.inputs):
            if name and k not in s.prepared.unread_inputs:
                base = alias.get(name, name)
                info = values[base]
                if info.value is not None and base not in placement:
                    arr = np.ascontiguousarray(info.value)
                    weights.append((base, place_linear("weights", base, arr.nbytes), arr))

    for i, s in enumerate(steps):
        if s.prepared.scratch_bytes:
            key = _scratch_key(i)
            values[key] = TensorInfo((s.prepared.scratch_bytes,), np.dtype(np.uint8))
            first[key] = last[key] = i
    arena = [b for b in first if b not in placement]
    arena_bytes = {b: nbytes(b) for b in arena}
    unshared = sum(_align(max(n, 1)) for n in arena_bytes.values())
    for name, p in _greedy_arena(arena, values, first, last).items():
        placement[name] = p
    region_bytes["arena"] = max((p.offset + _align(max(p.nbytes, 1)) for p in placement.values()
                                 if p.region == "arena"), default=0)

    planned = []
    for i, s in enumerate(steps):
        ins = [placement[alias.get(n, n)] if n and k not in s.prepared.unread_inputs else None
               for k, n in enumerate(s.inputs)]
        outs = [placement[o] if o else None for o in s.outputs]
        consts = []
        for j, arr in enumerate(s.prepared.constants):
            arr = np.ascontiguousarray(arr)
            key = _const_key(i, j)
            weights.append((key, place_linear("weights", key, arr.nbytes), arr))
            consts.append(placement[key])
        scratch = placement.get(_scratch_key(i)) if s.prepared.scratch_bytes else None
        planned.append(PlannedStep(i, s.node, s.prepared, ins, outs, consts, scratch))
    largest = max(placement, key=lambda name: (placement[name].nbytes, _label(name)), default="")
    size = placement[largest].nbytes if largest != "" else 0
    plan = MemoryPlan(region_bytes, weights, inputs, outputs, planned, unshared, budget,
                      (producers.get(largest, ""), _label(largest), size))
    plan.check_budget(protection)
    return plan


INDEXED_LIFETIME = 64  # steps: a buffer living longer is found by a scan of the long-lived


def _overlapping(placed, live_at, long_lived, f_b: int, l_b: int):
    """The placed buffers whose lifetime meets [f_b, l_b], the same set as a scan of every
    placed buffer: the short-lived ones from the per-step index (`live_at`), the
    long-lived ones by a scan of those only. In a chain a step has a few live buffers,
    so placing n buffers is linear instead of quadratic; a long query scans all."""
    def meets(p):
        return not (p[3] < f_b or l_b < p[2])
    if l_b - f_b >= INDEXED_LIFETIME:
        return [p for p in placed if meets(p)]
    seen = set()
    for t in range(f_b, l_b + 1):
        seen.update(live_at.get(t, ()))
    return [placed[k] for k in seen] + [placed[k] for k in long_lived if meets(placed[k])]


def _greedy_arena(names, values, first, last) -> Dict[str, Placement]:
    order = sorted(names, key=lambda b: (-values[b].nbytes, first[b]))
    placed: List[Tuple[int, int, int, int, str]] = []  # offset, end, first, last, name
    live_at: Dict[int, List[int]] = {}  # step -> indices into placed of short-lived buffers
    long_lived: List[int] = []  # indices into placed of buffers living > INDEXED_LIFETIME steps
    out = {}
    for b in order:
        size = _align(max(values[b].nbytes, 1))
        busy = sorted((o, e) for o, e, f, l, _ in _overlapping(placed, live_at, long_lived, first[b], last[b]))
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        placed.append((offset, offset + size, first[b], last[b], b))
        if last[b] - first[b] >= INDEXED_LIFETIME:
            long_lived.append(len(placed) - 1)
        else:
            for t in range(first[b], last[b] + 1):
                live_at.setdefault(t, []).append(len(placed) - 1)
        out[b] = Placement("arena", offset, values[b].nbytes)
    return out

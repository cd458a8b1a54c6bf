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
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .compile import CompiledGraph, Step
from .load import Node
from .ops import Prepared, TensorInfo

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


def _copy_step(src: str, dst: str, info: TensorInfo) -> Step:
    nbytes = info.nbytes
    prepared = Prepared([TensorInfo(info.shape, info.dtype)],
                        lambda lib, ins, outs, consts, scratch: (lib.radrt_copy, (ins[0], outs[0], nbytes)))
    return Step(Node("Copy", f"copy_to_output/{dst}", [src], [dst]), [src], [dst], prepared)


def plan_memory(g: CompiledGraph) -> MemoryPlan:
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
            copy_name = f"{name}#output"
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

    inputs = [(n, place_linear("input", n, values[n].nbytes), values[n]) for n in g.inputs]
    outputs = [(n, place_linear("output", b, values[b].nbytes), values[n])
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
            key = f"#scratch{i}"
            values[key] = TensorInfo((s.prepared.scratch_bytes,), np.dtype(np.uint8))
            first[key] = last[key] = i
    arena = [b for b in first if b not in placement]
    unshared = sum(_align(max(values[b].nbytes, 1)) for b in arena)
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
            key = f"{s.node.name}/const{j}"
            weights.append((key, place_linear("weights", key, arr.nbytes), arr))
            consts.append(placement[key])
        scratch = placement.get(f"#scratch{i}") if s.prepared.scratch_bytes else None
        planned.append(PlannedStep(i, s.node, s.prepared, ins, outs, consts, scratch))
    return MemoryPlan(region_bytes, weights, inputs, outputs, planned, unshared)


def _greedy_arena(names, values, first, last) -> Dict[str, Placement]:
    order = sorted(names, key=lambda b: (-values[b].nbytes, first[b]))
    placed: List[Tuple[int, int, int, int, str]] = []  # offset, end, first, last, name
    out = {}
    for b in order:
        size = _align(max(values[b].nbytes, 1))
        busy = sorted((o, e) for o, e, f, l, _ in placed if not (l < first[b] or last[b] < f))
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        placed.append((offset, offset + size, first[b], last[b], b))
        out[b] = Placement("arena", offset, values[b].nbytes)
    return out

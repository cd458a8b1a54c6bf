"""Stage 4, execute: bind the memory plan to C-owned regions and walk the steps.

`Region` is one C allocation (64-byte aligned, zeroed); `replica_regions`
allocates the activation arena, input and output regions of one replica around
a weights region that `load_weights` filled. `bind(plan, regions)` turns every planned step into
one `(c_function, args)` pair whose pointers already point into the regions,
so `run_steps` is a loop of C calls with no allocation and no Python
arithmetic in between. Binding the same plan to another set of regions (for
example another replica's arena) gives another list of calls over the same
offsets.
"""
from typing import Dict, List, Tuple

import numpy as np

from ._core import ffi, lib
from .plan import MemoryPlan, Placement


class Region:
    """One contiguous C allocation; addressable as (region, byte offset, bit)."""

    def __init__(self, name: str, nbytes: int):
        self.name = name
        self.nbytes = nbytes
        ptr = lib.radrt_region_alloc(nbytes)
        if ptr == ffi.NULL:
            raise MemoryError(f"region '{name}': cannot allocate {nbytes} bytes")
        self.ptr = ffi.gc(ffi.cast("uint8_t *", ptr), lib.radrt_region_free)
        self.bytes = np.frombuffer(ffi.buffer(self.ptr, max(nbytes, 1)), np.uint8)[:nbytes]

    def pointer(self, offset: int):
        return ffi.cast("void *", self.ptr + offset)

    def array(self, p: Placement, dtype, shape) -> np.ndarray:
        """A numpy view (no copy) of the bytes at placement p."""
        return self.bytes[p.offset:p.offset + p.nbytes].view(dtype).reshape(shape)


def load_weights(plan: MemoryPlan, region: Region) -> None:
    for _, p, arr in plan.weights:
        region.bytes[p.offset:p.offset + p.nbytes] = arr.reshape(-1).view(np.uint8)


def replica_regions(plan: MemoryPlan, weights: Region, replica: int) -> Dict[str, Region]:
    """The regions one replica computes in: its own arena, input and output, and `weights`."""
    return {"weights": weights,
            "arena": Region(f"activations/r{replica}", plan.region_bytes["arena"]),
            "input": Region(f"input/r{replica}", plan.region_bytes["input"]),
            "output": Region(f"output/r{replica}", plan.region_bytes["output"])}


Call = Tuple[object, tuple]


def bind(plan: MemoryPlan, regions: Dict[str, Region]) -> List[Call]:
    calls = []
    for step in plan.steps:
        ins = [regions[p.region].pointer(p.offset) if p else ffi.NULL for p in step.ins]
        outs = [regions[p.region].pointer(p.offset) if p else ffi.NULL for p in step.outs]
        consts = [regions[p.region].pointer(p.offset) for p in step.consts]
        scratch = regions[step.scratch.region].pointer(step.scratch.offset) if step.scratch else ffi.NULL
        calls.append(step.prepared.invoke(lib, ins, outs, consts, scratch))
    return calls


def run_steps(calls: List[Call], start: int = 0, stop: int = None) -> None:
    for fn, args in calls[start:stop]:
        fn(*args)

"""What occupies each byte of each fault site, and the masked causes known without running.

    mm = MemoryMap(sess.compiled.plan, sess.protection)
    mm.tensor_at("weights", 1234)        # Tenant(name, region, offset, nbytes, readers, writers) or None
    mm.padding_bytes("weights")          # bytes of the region in no tensor (64-byte alignment)
    mm.static_cause(fault)               # PADDING / NEVER_READ / OVERWRITTEN, or None: run it

How it works. The compiled plan (runtime.plan) places every tensor at (region, offset,
nbytes); each step lists the placements it reads (`ins`, `consts`, `scratch`) and
writes (`outs`, `scratch`). The map indexes, per region (`weights`, `input`, `arena`),
every placement with the ops that read and write it. A byte in no placement is
padding: the planner aligns each buffer to 64 bytes (runtime.plan.ALIGN), and the
gaps belong to no tensor.

Packing padding. Kernels that pack constant weights into GEMM panels
(runtime/ops/gemm.py pack_a / pack_b) pad each panel to the micro-kernel's tile with
zeros the kernel multiplies but whose products land in discarded rows or columns:
bytes inside a tensor that no output depends on (72% of the digits classifier's
weight memory). `packing_padding(model, plan)` finds them without kernel knowledge:
it plans the model twice more with every float weight replaced by seeded values in
[0.5, 1.5) (initializers and ConstantOfShape fills), and an element of a
kernel-made constant (runtime.plan's ("constant", step, j) tensors) that is 0.0 in
all three plans is padding: it is zero whatever the weights are. Graph weights
themselves are never padding (a real weight may be 0.0).

Causes decided from the plan alone (the outcome of such a fault is `masked`, exactly
as a full run gives; tests/fault_injection/test_memory_map.py runs each against a
fresh session):
- `padding`: every upset byte lies in no tensor of its region (weights, input or
  arena: an arena byte that no buffer ever occupies).
- `never read`: weights or input bytes inside a tensor that no op reads.
- `overwritten`: an activations upset landing after op a on bytes each of which is
  dead at a: the next op (a+1 ...) that touches the byte writes it without reading
  it, or no later op touches it at all. Scratch counts as a read (conservative: a
  kernel may read its scratch before writing it).

Where a protection mode checks bytes outside any op's reads, the plan alone cannot
decide: weight copies are CRC-checked per block in every mode that keeps a golden
copy, so weights padding and unread weights are decided only in `none`; the golden
mirror copy (replica None) is never decided; `abft` seals the input copy, so input
causes are decided in the other modes only. Arena causes hold in every mode: a dead
byte is neither read, voted nor checksummed again.
"""
import bisect
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from runtime.errors import InvalidArgumentError

from .outcome import NEVER_READ, OVERWRITTEN, PADDING
from .plan import Fault

# Site kind -> the plan region its bytes are.
KIND_REGION = {"weights": "weights", "input": "input", "activations": "arena"}

# Protection modes in which weights / input causes follow from the op reads alone (see above).
_WEIGHTS_STATIC_MODES = ("none",)
_INPUT_STATIC_MODES = ("none", "scrub", "dwc", "tmr")


@dataclass
class Tenant:
    """One tensor's bytes in a region: [offset, offset + nbytes), with the ops that read
    and write them (op indices, ascending)."""
    name: str
    region: str
    offset: int
    nbytes: int
    readers: List[int] = field(default_factory=list)
    writers: List[int] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.offset + self.nbytes


def _label(key) -> str:
    return key if isinstance(key, str) else "/".join(str(k) for k in key)


class MemoryMap:
    """Byte -> tensor map of a compiled plan's weights, input and arena regions (one
    replica or copy: every copy and replica has the same layout)."""

    def __init__(self, plan, protection: str = "none", packing: List[Tuple[int, int]] = ()):
        """plan: a session's compiled.plan; protection: its mode; packing: the weights
        spans `packing_padding` found (padding although inside a tensor)."""
        self.protection = protection
        self.n_ops = len(plan.steps)
        self.region_bytes = {r: int(plan.region_bytes[r]) for r in ("weights", "input", "arena")}
        by_place: Dict[Tuple[str, int, int], Tenant] = {}

        def tenant(p, name: str) -> Tenant:
            key = (p.region, p.offset, p.nbytes)
            if key not in by_place:
                by_place[key] = Tenant(name, p.region, p.offset, p.nbytes)
            return by_place[key]

        for key, p, _ in plan.weights:
            tenant(p, _label(key))
        for name, p, _ in plan.inputs:
            tenant(p, name)
        # Per op, the arena/weights/input byte ranges it reads and writes, in op order.
        self.accesses: List[Tuple[List[Tuple[int, int, str]], List[Tuple[int, int, str]]]] = []
        for step in plan.steps:
            reads, writes = [], []
            names_in, names_out = list(step.node.inputs), list(step.node.outputs)
            for k, p in enumerate(step.ins):
                if p is not None and p.region in self.region_bytes:
                    t = tenant(p, names_in[k] if k < len(names_in) else f"{step.node.name} input {k}")
                    t.readers.append(step.index)
                    reads.append((p.offset, p.offset + p.nbytes, p.region))
            for j, p in enumerate(step.consts):
                t = tenant(p, f"{step.node.name} constant {j}")
                t.readers.append(step.index)
                reads.append((p.offset, p.offset + p.nbytes, p.region))
            for k, p in enumerate(step.outs):
                if p is not None and p.region in self.region_bytes:
                    t = tenant(p, names_out[k] if k < len(names_out) else f"{step.node.name} output {k}")
                    t.writers.append(step.index)
                    writes.append((p.offset, p.offset + p.nbytes, p.region))
            if step.scratch is not None:
                t = tenant(step.scratch, f"{step.node.name} scratch")
                t.readers.append(step.index)
                t.writers.append(step.index)
                reads.append((step.scratch.offset, step.scratch.offset + step.scratch.nbytes, "arena"))
            self.accesses.append((reads, writes))
        self.tenants: Dict[str, List[Tenant]] = {r: [] for r in self.region_bytes}
        for t in by_place.values():
            t.readers = sorted(set(t.readers))
            t.writers = sorted(set(t.writers))
            self.tenants[t.region].append(t)
        self._occupied: Dict[str, List[Tuple[int, int]]] = {}
        for region, ts in self.tenants.items():
            ts.sort(key=lambda t: (t.offset, t.nbytes))
            self._occupied[region] = _union((t.offset, t.end) for t in ts if t.nbytes)
        self._occupied["weights"] = _subtract(self._occupied["weights"], _union(packing))

    @classmethod
    def of_session(cls, sess, model_bytes: bytes) -> "MemoryMap":
        """The map of a session (its plan and protection mode), packing padding included."""
        plan = sess.compiled.plan
        return cls(plan, sess.protection, packing_padding(model_bytes, plan))

    # -- bytes -----------------------------------------------------------------------------
    def _region(self, kind: str) -> str:
        if kind not in KIND_REGION:
            raise InvalidArgumentError(f"site kind {kind!r}: the memory map covers {', '.join(KIND_REGION)}")
        return KIND_REGION[kind]

    def is_padding(self, kind: str, byte_offset: int) -> bool:
        """True when no tensor ever occupies this byte of a `kind` site."""
        spans = self._occupied[self._region(kind)]
        i = bisect.bisect_right(spans, (byte_offset, float("inf"))) - 1
        return not (i >= 0 and spans[i][0] <= byte_offset < spans[i][1])

    def padding_bytes(self, kind: str) -> int:
        """Bytes of one `kind` site (one copy or replica) that no tensor ever occupies."""
        region = self._region(kind)
        return self.region_bytes[region] - sum(e - s for s, e in self._occupied[region])

    def padding_spans(self, kind: str) -> List[Tuple[int, int]]:
        """[start, end) byte spans of one `kind` site that no tensor ever occupies."""
        region = self._region(kind)
        spans, start = [], 0
        for s, e in self._occupied[region] + [(self.region_bytes[region],) * 2]:
            if s > start:
                spans.append((start, s))
            start = max(start, e)
        return spans

    def tensors_at(self, kind: str, byte_offset: int) -> List[Tenant]:
        """Every tensor occupying this byte of a `kind` site at some time (one for
        weights and input; arena bytes are reused over time); [] for padding."""
        return [t for t in self.tenants[self._region(kind)] if t.offset <= byte_offset < t.end]

    def live(self, byte_offset: int, after_op: int) -> bool:
        """Whether an arena byte upset right after op `after_op` can still be read: the
        first later op touching it reads it (True), or writes it first / none touches it
        (False, the upset is dead)."""
        for reads, writes in self.accesses[after_op + 1:]:
            if any(s <= byte_offset < e for s, e, r in reads if r == "arena"):
                return True
            if any(s <= byte_offset < e for s, e, r in writes if r == "arena"):
                return False
        return False

    # -- causes ----------------------------------------------------------------------------
    def static_cause(self, fault: Fault, replica_reads_site: bool = True) -> Optional[str]:
        """The masked cause of `fault` when the plan alone decides it (see the module
        docstring), else None (the fault must run). replica_reads_site: False for a
        weight copy no replica computes from (the golden mirror): never decided."""
        if fault.kind not in KIND_REGION:
            return None
        if fault.kind == "weights" and (self.protection not in _WEIGHTS_STATIC_MODES or not replica_reads_site):
            return None
        if fault.kind == "input" and self.protection not in _INPUT_STATIC_MODES:
            return None
        touched = sorted({b for b, _ in fault.bits()})
        if all(self.is_padding(fault.kind, b) for b in touched):
            return PADDING
        if fault.kind == "activations":
            if fault.at_op is None:
                raise InvalidArgumentError(f"fault {fault.fault_id}: an activations fault needs at_op")
            return OVERWRITTEN if not any(self.live(b, fault.at_op) for b in touched) else None
        if all(self.is_padding(fault.kind, b) or not any(t.readers for t in self.tensors_at(fault.kind, b))
               for b in touched):
            return NEVER_READ
        return None


UNREAD = "unread"  # the stratum of bytes no op reads (padding between tensors)


def layer_strata(plan, sites, kinds) -> Dict[object, list]:
    """The fault space of `sites` (fault_injection.plan.Site, of the chosen `kinds`) cut
    into one stratum per layer, for plan_faults_stratified: {op index or UNREAD:
    [Segment]}. Weights and input bytes go to the first op that reads their tensor
    (UNREAD: no tensor, or none reads it); activations at time point a to stratum a
    (all arena bytes, every replica); compute sites to their op."""
    from .plan import Segment

    mm = MemoryMap(plan)
    strata: Dict[object, list] = {}
    for site in sites:
        if site.kind not in kinds:
            continue
        if site.kind == "compute":
            strata.setdefault(site.op_index, []).append(Segment(site, 0, site.nbytes * 8))
        elif site.kind == "activations":
            for a in range(mm.n_ops):
                strata.setdefault(a, []).append(Segment(site, 0, site.nbytes * 8, a))
        elif site.kind in KIND_REGION:
            covered = 0
            for t in mm.tenants[KIND_REGION[site.kind]]:
                if t.offset > covered:
                    strata.setdefault(UNREAD, []).append(Segment(site, covered * 8, t.offset * 8))
                if t.nbytes:
                    key = min(t.readers) if t.readers else UNREAD
                    strata.setdefault(key, []).append(Segment(site, t.offset * 8, t.end * 8))
                covered = max(covered, t.end)
            if covered < site.nbytes:
                strata.setdefault(UNREAD, []).append(Segment(site, covered * 8, site.nbytes * 8))
    return strata


def packing_padding(model_bytes: bytes, plan, input_shapes: Optional[Dict[str, tuple]] = None,
                    seeds: Tuple[int, ...] = (1, 2)) -> List[Tuple[int, int]]:
    """[start, end) byte spans of the weights region that are packing padding (see the
    module docstring): float32 elements of kernel-made constants that are 0.0 in `plan`
    and in the plans of the model with its float weights re-drawn from each seed.
    input_shapes: as the session was given them (None: the model's own)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from runtime import InferenceSession

    zero = {}
    for key, p, arr in plan.weights:
        if not isinstance(key, str) and arr.dtype == np.float32:
            zero[_label(key)] = (p, np.asarray(arr).reshape(-1) == 0.0)
    for seed in seeds:
        if not any(mask.any() for _, mask in zero.values()):
            break
        rng = np.random.default_rng(seed)
        model = onnx.load_from_string(bytes(model_bytes))
        for init in model.graph.initializer:
            value = numpy_helper.to_array(init)
            if value.dtype == np.float32:
                init.CopyFrom(numpy_helper.from_array(rng.uniform(0.5, 1.5, value.shape).astype(np.float32),
                                                      init.name))
        for node in model.graph.node:
            if node.op_type == "ConstantOfShape":
                for attr in node.attribute:
                    if attr.name == "value" and attr.t.data_type == onnx.TensorProto.FLOAT:
                        fill = np.full(tuple(attr.t.dims), rng.uniform(0.5, 1.5), np.float32)
                        attr.t.CopyFrom(numpy_helper.from_array(fill))
        other = InferenceSession(model.SerializeToString(), input_shapes=input_shapes, scrub_interval_s=None)
        try:
            arrays = {_label(k): (p, a) for k, p, a in other.compiled.plan.weights}
        finally:
            other.close()
        for name, (p, mask) in zero.items():
            q, arr = arrays.get(name, (None, None))
            if q != p or arr is None or arr.size != mask.size:
                raise InvalidArgumentError(f"packing padding: constant '{name}' is placed differently when the "
                                           f"weights change ({p} vs {q}); the plan depends on weight values")
            mask &= np.asarray(arr).reshape(-1) == 0.0
    spans = []
    for p, mask in zero.values():
        idx = np.flatnonzero(mask)
        if idx.size:
            breaks = np.flatnonzero(np.diff(idx) != 1)
            starts = np.concatenate(([idx[0]], idx[breaks + 1]))
            ends = np.concatenate((idx[breaks], [idx[-1]])) + 1
            spans += [(p.offset + 4 * int(a), p.offset + 4 * int(b)) for a, b in zip(starts, ends)]
    return _union(spans)


def _subtract(spans: List[Tuple[int, int]], holes: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Sorted disjoint spans minus sorted disjoint holes."""
    out = []
    for s, e in spans:
        for hs, he in holes:
            if he <= s or e <= hs:
                continue
            if hs > s:
                out.append((s, hs))
            s = max(s, he)
            if s >= e:
                break
        if s < e:
            out.append((s, e))
    return out


def _union(spans) -> List[Tuple[int, int]]:
    """Sorted, merged [start, end) spans."""
    merged: List[Tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged

"""The fault list of a campaign, reproducible from (seed, sites, fault model, count).

A fault is plain data (`Fault`, JSON-serialisable) whose `fault_id` is its index in
the list. Fault i is drawn from SHA-256("radrt-fault/<seed>/<i>/<what>") alone, so:
- the same inputs give the same list in any process, Python or numpy version;
- the order in which sites are given does not matter (sites are sorted first);
- a longer campaign extends a shorter one: plan(count=n)[:m] == plan(count=m).

Draw: uniform over every start position (byte offset, bit) of every site of the
chosen kinds, so each site is weighted by its size in bits, as a particle strike
would be: every bit equally likely to be hit during a run. A fault of width w
(`mbu:w`) touches w adjacent bits walking up from its start across byte boundaries
(fault_injection.vocabulary.FaultModel.bits), so it starts only where all w bits fit
in the site. A fault on an `activations` site also gets a time point `at_op`, drawn
uniformly from 0 .. n_ops - 1 (the `at_op` of the runtime's injection call).

A campaign over n inputs (`n_inputs`) gives each fault the input its faulty run
infers, `input_index`, uniform over 0 .. n - 1 from its own draw ("input"); a
`random` fault gets the word's new value, `value`, uniform over 32-bit integers
("value"). Both draws use the fault id only, so the prefix property holds.

Faults are distinct (without replacement, as Leveugle's sampling assumes): a draw
that repeats an earlier fault of the list is drawn again (attempt 1, 2, ... in the
hash input), so no fault is injected twice.

An `accumulate:N` fault (fault_injection.vocabulary) is its first upset drawn as
above plus N - 1 more, upset j from its own draws ("upset/<j>/position",
"upset/<j>/at_op"), all listed in `upsets` ordered by time: weights (before the
run), input (-1), then by op (activations after at_op, compute at its op), ties
by draw order.

Stratified draw (`plan_faults_stratified`, `radrt fi run --stratify layer`): the fault
space is cut into strata (e.g. one per layer), each a list of `Segment`s (a range of
start positions in one site, at one time point for activations). Fault i goes to the
i-th stratum in round-robin order over the strata (sorted by key) that still have
faults left to draw, and is drawn uniformly inside it from the same hash (with
"stratum/<key>" in the input; its input from "input", as above). Equal allocation (n / H per stratum, +-1), so every
layer gets enough injections for a usable interval however small it is; Neyman
allocation would need each layer's rate beforehand. The round-robin keeps
plan(n)[:m] == plan(m). The whole-model rate is then sum_h W_h p_h with W_h = N_h / N,
the stratum's share of the fault space, and variance sum_h W_h^2 p_h (1 - p_h) / n_h
(Cochran, Sampling Techniques, 3rd ed. 1977, ch. 5; per-stratum sizes for a margin as
Leveugle et al., DATE 2009): fault_injection.stats.stratified_rate.

The fault space is the number of distinct faults the draw can produce: start
positions, times n_ops for activations, times the number of inputs (for
accumulate: of its first upset, a lower bound). Use it as Leveugle's N in
fault_injection.stats.sample_size; it is at least the number of bits, so it errs on
the side of more injections.
"""
import bisect
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from runtime.errors import InvalidArgumentError

from .vocabulary import SITE_KINDS, FaultModel


@dataclass(frozen=True)
class Site:
    """A fault-injection address space: `nbytes` bytes of one named site."""
    name: str
    kind: str
    nbytes: int
    op_index: Optional[int] = None   # the op the site belongs to (compute: the op whose output it is)
    replica: Optional[int] = None

    def __post_init__(self):
        if self.kind not in SITE_KINDS:
            raise InvalidArgumentError(f"site '{self.name}': kind '{self.kind}' is not one of {SITE_KINDS}")
        if isinstance(self.nbytes, bool) or not isinstance(self.nbytes, int) or self.nbytes < 0:
            raise InvalidArgumentError(f"site '{self.name}': nbytes must be an integer >= 0, got {self.nbytes!r}")

    @classmethod
    def from_dict(cls, d) -> "Site":
        return cls(d["name"], d["kind"], int(d["nbytes"]), d.get("op_index"), d.get("replica"))

    def sort_key(self):
        return (self.kind, self.name, -1 if self.replica is None else self.replica,
                -1 if self.op_index is None else self.op_index)


@dataclass(frozen=True)
class Fault:
    fault_id: int
    site: str
    kind: str
    byte_offset: int
    bit: int
    model: str                       # str(FaultModel): flip, mbu:N, stuck0, stuck1
    op_index: Optional[int] = None   # the site's op
    replica: Optional[int] = None
    at_op: Optional[int] = None      # activations: the time point of the injection
    input_index: int = 0             # which of the campaign's inputs the faulty run infers
    value: Optional[int] = None      # random: the word's new value (32-bit, little-endian)
    upsets: Optional[str] = None     # accumulate: JSON list of its single-bit flips, in time order

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Fault":
        optional = ("op_index", "replica", "at_op", "input_index", "value", "upsets")
        missing = [k for k in cls.__dataclass_fields__ if k not in optional and k not in d]
        if missing:
            raise InvalidArgumentError(f"fault {d.get('fault_id', '?')}: missing field '{missing[0]}'")
        values = {k: d.get(k) for k in cls.__dataclass_fields__}
        values["input_index"] = d.get("input_index", 0)
        return cls(**values)

    def bits(self):
        """The (byte offset, bit) pairs this fault touches."""
        return FaultModel.parse(self.model).bits(self.byte_offset, self.bit)

    def upset_faults(self) -> List["Fault"]:
        """accumulate: its upsets as single flips (same id and input), in time order; else []."""
        if self.upsets is None:
            return []
        return [Fault(self.fault_id, u["site"], u["kind"], u["byte_offset"], u["bit"], "flip", u["op_index"],
                      u["replica"], u["at_op"], self.input_index) for u in json.loads(self.upsets)]


def _draw(seed: int, fault_id: int, what: str, bound: int) -> int:
    """A uniform integer in [0, bound) from the hash of (seed, fault_id, what); the
    modulo bias is below bound / 2^256."""
    digest = hashlib.sha256(f"radrt-fault/{seed}/{fault_id}/{what}".encode()).digest()
    return int.from_bytes(digest, "big") % bound


def _starts(site: Site, width: int) -> int:
    """Start positions of a width-bit fault inside the site."""
    return max(0, site.nbytes * 8 - width + 1)


def _chosen(sites: Iterable[Site], kinds: Optional[Sequence[str]], width: int) -> List[Site]:
    sites = list(sites)
    if kinds is None:
        kinds = sorted({s.kind for s in sites})
    for kind in kinds:
        if kind not in SITE_KINDS:
            raise InvalidArgumentError(f"site kind '{kind}' is not one of {SITE_KINDS}")
    chosen = sorted((s for s in sites if s.kind in kinds and _starts(s, width) > 0), key=Site.sort_key)
    names = [s.sort_key() for s in chosen]
    if len(set(names)) != len(names):
        raise InvalidArgumentError("the site list names the same site (kind, name, replica, op) twice")
    if not chosen:
        raise InvalidArgumentError(f"no site of kinds {list(kinds)} has room for a {width}-bit fault")
    return chosen


def _check_n_ops(chosen: List[Site], n_ops: Optional[int]) -> None:
    if any(s.kind == "activations" for s in chosen):
        if isinstance(n_ops, bool) or not isinstance(n_ops, int) or n_ops < 1:
            raise InvalidArgumentError(f"activations sites need n_ops (the model's op count, >= 1) for the "
                                       f"injection time point, got {n_ops!r}")


def _check_n_inputs(n_inputs) -> int:
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise InvalidArgumentError(f"n_inputs must be an integer >= 1 (the campaign's input count), got {n_inputs!r}")
    return n_inputs


def fault_space_size(sites: Iterable[Site], model: str = "flip", kinds: Optional[Sequence[str]] = None,
                     n_ops: Optional[int] = None, n_inputs: int = 1) -> int:
    """How many distinct faults `plan_faults` can draw over these sites."""
    width = FaultModel.parse(model).span
    chosen = _chosen(sites, kinds, width)
    _check_n_ops(chosen, n_ops)
    return _check_n_inputs(n_inputs) * sum(_starts(s, width) * (n_ops if s.kind == "activations" else 1)
                                           for s in chosen)


def plan_faults(sites: Iterable[Site], count: int, seed: int, model: str = "flip",
                kinds: Optional[Sequence[str]] = None, n_ops: Optional[int] = None,
                n_inputs: int = 1) -> List[Fault]:
    """`count` distinct faults drawn uniformly over the bits of the chosen sites; see
    the module docstring."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidArgumentError(f"count must be an integer >= 0, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentError(f"seed must be an integer, got {seed!r}")
    fault_model = FaultModel.parse(model)
    chosen = _chosen(sites, kinds, fault_model.span)
    _check_n_ops(chosen, n_ops)
    ends = []
    total = 0
    for s in chosen:
        total += _starts(s, fault_model.span)
        ends.append(total)
    n_inputs = _check_n_inputs(n_inputs)
    space = n_inputs * sum(_starts(s, fault_model.span) * (n_ops if s.kind == "activations" else 1) for s in chosen)
    if count > space:
        raise InvalidArgumentError(f"count {count} exceeds the fault space of {space} distinct faults")
    faults = []
    drawn = set()
    for fault_id in range(count):
        value = _draw(seed, fault_id, "value", 2 ** 32) if fault_model.kind == "random" else None
        attempt = 0
        while True:
            # a repeat redraws the input too, so an input whose faults are all drawn cannot stall
            input_index = _draw(seed, fault_id, "input" if attempt == 0 else f"input/{attempt}", n_inputs)
            pos = _draw(seed, fault_id, f"position/{attempt}", total)
            i = bisect.bisect_right(ends, pos)
            site = chosen[i]
            at_op = _draw(seed, fault_id, f"at_op/{attempt}", n_ops) if site.kind == "activations" else None
            key = (pos, at_op, input_index)
            if key not in drawn:
                break
            attempt += 1
        drawn.add(key)
        local = pos - (ends[i] - _starts(site, fault_model.span))
        upsets = None
        if fault_model.kind == "accumulate":
            upsets = _upsets(seed, fault_id, chosen, ends, total, n_ops, fault_model.width,
                             _upset(site, local, at_op))
        faults.append(Fault(fault_id, site.name, site.kind, local // 8, local % 8, str(fault_model),
                            site.op_index, site.replica, at_op, input_index, value, upsets))
    return faults


def _upset(site: Site, local: int, at_op: Optional[int]) -> dict:
    return {"site": site.name, "kind": site.kind, "byte_offset": local // 8, "bit": local % 8,
            "op_index": site.op_index, "replica": site.replica, "at_op": at_op}


def _upset_time(u: dict) -> int:
    """When an accumulated upset lands: weights -2 (before the run), input -1, else its op."""
    return {"weights": -2, "input": -1, "activations": u["at_op"]}.get(u["kind"], u["op_index"])


def _upsets(seed: int, fault_id: int, chosen: List[Site], ends: List[int], total: int, n_ops: Optional[int],
            n: int, first: dict) -> str:
    """The JSON list of an accumulate fault's n upsets (module docstring)."""
    drawn = [first]
    for j in range(1, n):
        pos = _draw(seed, fault_id, f"upset/{j}/position", total)
        i = bisect.bisect_right(ends, pos)
        site = chosen[i]
        at_op = _draw(seed, fault_id, f"upset/{j}/at_op", n_ops) if site.kind == "activations" else None
        drawn.append(_upset(site, pos - (ends[i] - _starts(site, 1)), at_op))
    order = sorted(range(n), key=lambda j: (_upset_time(drawn[j]), j))
    return json.dumps([drawn[j] for j in order], sort_keys=True, separators=(",", ":"))

@dataclass(frozen=True)
class Segment:
    """Start positions [start, end) (bit index = byte * 8 + bit) of `site`, at time point
    `at_op` (activations) or None: one piece of a stratum."""
    site: Site
    start: int
    end: int
    at_op: Optional[int] = None


def plan_faults_stratified(strata: Dict[object, Sequence[Segment]], count: int, seed: int,
                           model: str = "flip", n_inputs: int = 1) -> List[Tuple[Fault, object]]:
    """`count` distinct faults, (fault, stratum key) each, drawn by equal allocation over
    the strata (module docstring). Segments are clipped to the start positions where a
    fault of the model's width fits in its site. InvalidArgumentError when count exceeds
    the strata's fault space or a stratum key cannot be sorted with the others."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidArgumentError(f"count must be an integer >= 0, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgumentError(f"seed must be an integer, got {seed!r}")
    fault_model = FaultModel.parse(model)
    if fault_model.kind not in ("flip", "mbu", "stuck0", "stuck1"):
        raise InvalidArgumentError(f"fault model '{model}': a stratified draw takes flip, mbu:N, stuck0 or stuck1 "
                                   f"(random/zero draw a value, accumulate several upsets: draw them uniformly)",
                                   argument="fault_model", value=model)
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise InvalidArgumentError(f"n_inputs must be an integer >= 1, got {n_inputs!r}")
    sizes: Dict[object, Tuple[List[Segment], List[int]]] = {}
    for key in sorted(strata, key=repr):
        segs, ends, total = [], [], 0
        for seg in strata[key]:
            end = min(seg.end, _starts(seg.site, fault_model.width))
            if end > seg.start:
                segs.append(Segment(seg.site, seg.start, end, seg.at_op))
                total += end - seg.start
                ends.append(total)
        if total:
            sizes[key] = (segs, ends)
    space = sum(ends[-1] for _, ends in sizes.values())
    if count > space:
        raise InvalidArgumentError(f"count {count} exceeds the fault space of {space} distinct faults")
    keys = list(sizes)
    taken = {k: 0 for k in keys}
    drawn = set()
    faults: List[Tuple[Fault, object]] = []
    turn = 0
    for fault_id in range(count):
        while True:  # round-robin over the strata with faults left
            key = keys[turn % len(keys)]
            turn += 1
            if taken[key] < sizes[key][1][-1]:
                break
        segs, ends = sizes[key]
        attempt = 0
        while True:
            pos = _draw(seed, fault_id, f"stratum/{key!r}/{attempt}", ends[-1])
            i = bisect.bisect_right(ends, pos)
            seg = segs[i]
            local = seg.start + pos - (ends[i] - (seg.end - seg.start))
            ident = (seg.site.sort_key(), local, seg.at_op)
            if ident not in drawn:
                break
            attempt += 1
        drawn.add(ident)
        taken[key] += 1
        site = seg.site
        input_index = _draw(seed, fault_id, "input", n_inputs) if n_inputs > 1 else 0
        faults.append((Fault(fault_id, site.name, site.kind, local // 8, local % 8, str(fault_model),
                             site.op_index, site.replica, seg.at_op, input_index), key))
    return faults


def faults_sha256(faults: Iterable[Fault]) -> str:
    """A digest of a fault list (its JSON lines), for a campaign's configuration."""
    h = hashlib.sha256()
    for f in faults:
        h.update(json.dumps(f.to_dict(), sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()

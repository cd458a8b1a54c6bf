"""Fault sites and the injection primitive (the campaign engine builds on these).

A fault site is a named span of real runtime memory:
- `weights/copy{c}`: weight copy c (replica c reads it; in `scrub` mode copy 1
  is the golden mirror, with replica None). A flip lands now and stays until
  scrubbed.
- `activations/r{r}`: replica r's arena. Armed for the next run, applied right
  after op `at_op` (after that op's vote in `tmr`).
- `compute/op{k}/r{r}`: the first output of op k in replica r, right after the
  kernel and before any vote: an ALU or register upset in that replica only.
- `input/r{r}`: replica r's copy of the inputs, right after it is filled, or
  right after op `at_op` (a campaign lands it just before the first op that reads
  its bytes: the same upset, in a run paused there).

Models: `flip` inverts the bit, `stuck0`/`stuck1` force it; `zero` and `random`
set the whole 4-byte word holding the byte (offset rounded down to a multiple of 4,
clipped to the site's end) to 0 or to `value` (a 32-bit int, little-endian: byte j
of the word takes bits 8j..8j+7), bit by bit.

Upsets go through C (`radrt_flip_bit`, `radrt_set_bit`) into the bytes the
kernels use, never into a numpy copy. `read_site` reads a site's current bytes
(the same addresses), e.g. to tell whether a forcing upset would change anything.
"""
from dataclasses import dataclass
from typing import List, Optional

from .._core import ffi, lib
from ..arguments import check_choice, check_integer
from ..errors import InvalidArgumentError

INJECT_MODELS = ("flip", "stuck0", "stuck1", "random", "zero")
WORD_BYTES = 4  # the word of `random` and `zero`


@dataclass(frozen=True)
class FaultSite:
    name: str
    kind: str  # weights, activations, compute, input
    nbytes: int
    replica: Optional[int]
    op_index: Optional[int]


class Upset:
    """One armed upset: a callable the engine runs at its moment."""

    def __init__(self, base, byte_offset: int, bit: int, model: str, replica: Optional[int],
                 before_vote: bool, nbytes: int = 0, value: int = 0):
        self.base = base
        self.byte_offset = byte_offset
        self.bit = bit
        self.model = model
        self.replica = replica
        self.before_vote = before_vote
        self.value = value
        start = byte_offset - byte_offset % WORD_BYTES
        self.word = range(start, min(start + WORD_BYTES, nbytes))  # random, zero

    def __call__(self) -> None:
        if self.model == "flip":
            lib.radrt_flip_bit(self.base, self.byte_offset, self.bit)
        elif self.model in ("stuck0", "stuck1"):
            lib.radrt_set_bit(self.base, self.byte_offset, self.bit, 1 if self.model == "stuck1" else 0)
        else:
            value = self.value if self.model == "random" else 0
            for j, b in enumerate(self.word):
                for i in range(8):
                    lib.radrt_set_bit(self.base, b, i, (value >> (8 * j + i)) & 1)


def fault_sites(engine) -> List[FaultSite]:
    sites = []
    for c, region in enumerate(engine.weights.copies):
        # With one compute replica (scrub, abft), copy 1 is the golden mirror no replica reads.
        replica = None if len(engine.replicas) == 1 and c > 0 else c
        sites.append(FaultSite(f"weights/copy{c}", "weights", region.nbytes, replica, None))
    for replica in engine.active:
        r = replica.index
        sites.append(FaultSite(f"activations/r{r}", "activations", replica.regions["arena"].nbytes, r, None))
        if replica.regions["input"].nbytes:
            sites.append(FaultSite(f"input/r{r}", "input", replica.regions["input"].nbytes, r, None))
        for step in engine.plan.steps:
            out = step.outs[0] if step.outs else None
            if out is not None and out.nbytes:
                sites.append(FaultSite(f"compute/op{step.index}/r{r}", "compute", out.nbytes, r, step.index))
    return sites


def site_base(engine, site: FaultSite):
    """The address of byte 0 of a site (compute: the op's output buffer in its replica)."""
    if site.kind == "weights":
        return engine.weights.copies[int(site.name.rsplit("copy", 1)[1])].ptr
    replica = engine.replicas[site.replica]
    if site.kind == "input":
        return replica.regions["input"].ptr
    if site.kind == "compute":
        p = engine.plan.steps[site.op_index].outs[0]
        return ffi.cast("uint8_t *", replica.regions[p.region].pointer(p.offset))
    return replica.regions["arena"].ptr


def read_site(engine, site: FaultSite, byte_offset: int, nbytes: int) -> bytes:
    """The `nbytes` bytes of the site at `byte_offset`, now (clipped to the site's end)."""
    byte_offset = check_integer("byte_offset", byte_offset, 0, max(0, site.nbytes - 1), f"site '{site.name}': ")
    nbytes = check_integer("nbytes", nbytes, 0, None, f"site '{site.name}': ")
    n = min(nbytes, site.nbytes - byte_offset)
    return bytes(ffi.buffer(ffi.cast("uint8_t *", site_base(engine, site)) + byte_offset, n))


def make_upset(engine, site: FaultSite, byte_offset: int, bit: int, at_op: Optional[int], model: str,
               value: Optional[int] = None):
    """Validate an injection; return (hook index or None for 'now', Upset).

    byte_offset, bit and at_op must be integers (numpy integers too; never a
    bool, float or str: 0.5 is no op index, 1.9 no byte); byte_offset in
    [0, site.nbytes), bit in 0..7, at_op an op index as the site kind needs;
    value an int in [0, 2^32) for `random` and None for every other model.
    Raises InvalidArgumentError naming the argument and its value.
    """
    where = f"site '{site.name}': "
    check_choice("model", model, INJECT_MODELS)
    if model == "random":
        value = check_integer("value", value, 0, 2 ** 32 - 1, where)
    elif value is not None:
        raise InvalidArgumentError(f"{where}value {value!r} is only for model 'random' (the word's new value), "
                                   f"not '{model}'", argument="value", value=value)
    if site.nbytes == 0:
        raise InvalidArgumentError(f"{where}the site is empty (0 bytes); nothing to upset",
                                   argument="site_name", value=site.name)
    byte_offset = check_integer("byte_offset", byte_offset, 0, site.nbytes - 1, where)
    bit = check_integer("bit", bit, 0, 7, where)
    if at_op is not None:
        at_op = check_integer("at_op", at_op, where=where)
    nsteps = len(engine.plan.steps)
    base = site_base(engine, site)
    word = {"nbytes": site.nbytes, "value": value or 0}
    if site.kind == "weights":
        _no_at_op(site, at_op, "it lands now and stays until scrubbed")
        return None, Upset(base, byte_offset, bit, model, site.replica, False, **word)
    if site.kind == "input":
        if at_op is None:
            at_op = -1
        check_integer("at_op", at_op, -1, nsteps - 1, where)
        return at_op, Upset(base, byte_offset, bit, model, site.replica, False, **word)
    if site.kind == "compute":
        if at_op not in (None, site.op_index):
            raise InvalidArgumentError(f"{where}the site is op {site.op_index}'s output; at_op must be "
                                       f"None or {site.op_index}, got {at_op}", argument="at_op", value=at_op)
        return site.op_index, Upset(base, byte_offset, bit, model, site.replica, True, **word)
    if at_op is None:
        raise InvalidArgumentError(f"{where}at_op is required: an op index from 0 to {nsteps - 1} "
                                   f"(the upset lands right after that op)", argument="at_op", value=None)
    check_integer("at_op", at_op, 0, nsteps - 1, where)
    return at_op, Upset(base, byte_offset, bit, model, site.replica, False, **word)


def _no_at_op(site: FaultSite, at_op: Optional[int], why: str) -> None:
    if at_op is not None:
        raise InvalidArgumentError(f"site '{site.name}' takes no at_op ({why}); got at_op={at_op}",
                                   argument="at_op", value=at_op)

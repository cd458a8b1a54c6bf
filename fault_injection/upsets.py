"""Accelerated upsets for HIL benches: `radrt fi serve` is `radrt serve` with upsets
injected into the serving session, an accelerated radiation environment.

How it works: `UpsetBackend` is the flight `SessionBackend` with one change: before
each inference it draws a Poisson number of upsets (mean `upset_rate`, seeded) and
injects each through the session's own primitive (`InferenceSession.inject`, as
campaigns do), each drawn by `BitDraw`: one bit uniform over every bit of the
weights and activations sites (so a site with probability proportional to its
bytes), and for activations an op uniform over the plan (the upset lands right
after it). `BitDraw` is the one way accelerated upsets are drawn: the mission soak
(`radrt soak`, soak.py) uses it too, over weights, activations and input.
`radrt fi serve` serves that backend with every option of `radrt serve`
(runtime.link.cli.add_serve_options) plus `--upset-rate` and `--upset-seed`, and once
stopped logs event `upsets_injected` ("N upsets injected", read by fault_injection/hil.py).
The flight server knows nothing of it: never run it on a flight board.
"""
import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from runtime.link.cli import add_serve_options, cmd_serve
from runtime.link.oplog import log_event
from runtime.link.server import SessionBackend
from runtime.options import float_option, int_option

UPSET_KINDS = ("weights", "activations")  # where the accelerated environment strikes

log = logging.getLogger("radrt.fi.serve")


@dataclass(frozen=True)
class Upset:
    """One single-bit upset: a fault site of the session, byte, bit, and for arena and
    input sites the op after which it lands (-1: right after the inputs are copied in);
    None for weights (it lands at once and stays until scrubbed)."""
    kind: str
    site: str
    byte_offset: int
    bit: int
    at_op: Optional[int]

    def inject(self, session) -> None:
        session.inject(self.site, self.byte_offset, self.bit, at_op=self.at_op)


class BitDraw:
    """Draws upsets uniformly over every bit of `sites` (FaultSite-like: name, kind,
    nbytes; kinds weights, activations, input), each with two draws from the caller's
    numpy Generator: an integer in [0, total bits) (site, byte and bit follow from the
    sites' order) and then, for activations, its op uniform in [0, n_ops), for input
    uniform in [-1, n_ops)."""

    def __init__(self, sites: Sequence, n_ops: int):
        self.sites = list(sites)
        self.n_ops = n_ops
        self._ends = np.cumsum([8 * s.nbytes for s in self.sites])
        self.bits = int(self._ends[-1]) if self.sites else 0

    def draw(self, rng: np.random.Generator) -> Upset:
        index = int(rng.integers(self.bits))
        i = int(np.searchsorted(self._ends, index, side="right"))
        site = self.sites[i]
        in_site = index - (int(self._ends[i - 1]) if i else 0)
        at_op = None
        if site.kind == "activations":
            at_op = int(rng.integers(self.n_ops))
        elif site.kind == "input":
            at_op = int(rng.integers(-1, self.n_ops))
        return Upset(site.kind, site.name, in_site // 8, in_site % 8, at_op)


class UpsetBackend(SessionBackend):
    def __init__(self, protection: str = "none", upset_rate: float = 0.0, upset_seed: int = 0):
        super().__init__(protection)
        self.upset_rate = upset_rate
        self._rng = np.random.default_rng(upset_seed)
        self.upsets_injected = 0

    def run(self, feeds: List[np.ndarray]) -> List[np.ndarray]:
        if self.upset_rate:
            self.inject_upsets()
        return super().run(feeds)

    def inject_upsets(self) -> int:
        """Injects this inference's upsets into the serving session; returns how many."""
        draw = BitDraw([s for s in self.session.fault_sites() if s.kind in UPSET_KINDS],
                       len(self.session.compiled.plan.steps))
        count = int(self._rng.poisson(self.upset_rate))
        for _ in range(count):
            draw.draw(self._rng).inject(self.session)
        self.upsets_injected += count
        return count


def add_serve_command(fi) -> None:
    """Adds `radrt fi serve` to the `fi` subcommands."""
    s = fi.add_parser("serve", help="radrt serve with accelerated upsets injected (HIL benches, never in flight)")
    add_serve_options(s)
    s.add_argument("--upset-rate", type=float_option("--upset-rate", 0.0, 1e6, low_open=False), default=0.0,
                   help="upsets per inference on average (Poisson; weights, activations)")
    s.add_argument("--upset-seed", type=int_option("--upset-seed", 0), default=0)
    s.set_defaults(fn=cmd_fi_serve)


def cmd_fi_serve(args) -> int:
    backend = UpsetBackend(args.protect, args.upset_rate, args.upset_seed)
    code = cmd_serve(args, backend=backend)
    log_event(log, logging.INFO, "upsets_injected", f"{backend.upsets_injected} upsets injected",
              upsets_injected=backend.upsets_injected)
    return code

"""Accelerated upsets for HIL benches: `radrt fi serve` is `radrt serve` with upsets
injected into the serving session, an accelerated radiation environment.

How it works: `UpsetBackend` is the flight `SessionBackend` with one change: before
each inference it draws a Poisson number of upsets (mean `upset_rate`, seeded) and
injects each through the session's own primitive (`InferenceSession.inject`, as
campaigns do): a site among the weights and activations with probability
proportional to its bytes, a byte uniform in it, a bit uniform in the byte, and for
activations an op uniform over the plan (the upset lands right after it).
`radrt fi serve` serves that backend with every option of `radrt serve`
(runtime.link.cli.add_serve_options) plus `--upset-rate` and `--upset-seed`, and once
stopped logs event `upsets_injected` ("N upsets injected", read by fault_injection/hil.py).
The flight server knows nothing of it: never run it on a flight board.
"""
import logging
from typing import List

import numpy as np

from runtime.link.cli import add_serve_options, cmd_serve
from runtime.link.oplog import log_event
from runtime.link.server import SessionBackend
from runtime.options import float_option, int_option

UPSET_KINDS = ("weights", "activations")  # where the accelerated environment strikes

log = logging.getLogger("radrt.fi.serve")


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
        sites = [s for s in self.session.fault_sites() if s.kind in UPSET_KINDS]
        sizes = np.array([s.nbytes for s in sites], dtype=np.float64)
        n_ops = len(self.session.compiled.plan.steps)
        count = int(self._rng.poisson(self.upset_rate))
        for _ in range(count):
            site = sites[self._rng.choice(len(sites), p=sizes / sizes.sum())]
            at_op = int(self._rng.integers(n_ops)) if site.kind == "activations" else None
            self.session.inject(site.name, int(self._rng.integers(site.nbytes)), int(self._rng.integers(8)),
                                at_op=at_op)
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

"""The fault vocabulary shared by the runtime, campaigns and reports (design.md).

Site kinds: where an upset lands.
- weights: constant-region bytes (stay flipped until scrubbed);
- activations: arena bytes at a moment between two ops;
- compute: the output of op k in one replica, right after its kernel (an ALU or
  register upset);
- input: a replica's copy of the input;
- link: bytes on the serial line.

Fault models: what an upset does to the bits at (site, byte offset, bit):
`flip` one bit, `mbu:N` N adjacent bits (a multiple-bit upset, walking up from
`bit` across byte boundaries), `stuck0` / `stuck1` force the bit; `random` and
`zero` act on the 4-byte word holding the byte (its offset rounded down to a
multiple of 4; a site's last word stops at the site's end): `random` gives it a
32-bit value drawn from the campaign's seed (the fault's `value`, little-endian:
byte j of the word takes bits 8j..8j+7 of the value), `zero` sets it to 0.
A stuck/zero/random fault that leaves every bit as it was is no upset: it is
recorded `masked` with cause `unchanged` (fault_injection.outcome.MASKED_CAUSES).

`accumulate:N` (N from 2 to 64): N single-bit flips that arrive during one scrub
interval, the interval that ends with one inference and one scrub pass. Arrival
times of a Poisson process, given that N arrive, are N uniform ordered times; an
upset's time is where it lands: a weights upset arrives before the run and stays
in memory (it is there when the run starts), an input upset lands when the run
fills the input copy, an activations upset after its drawn op, a compute upset
at its op. Each upset has its own site, byte and bit, drawn like a single flip
over the campaign's site kinds (fault_injection.plan), listed in the fault's
`upsets` (JSON) in time order. After the run, when the protection mode keeps
weight copies (scrub, dwc, tmr, abft), one full scrub pass (`sess.scrub()`) runs
and is part of the outcome: an UncorrectableUpsetError there is `due`, a repair
with an exact output `corrected`.

Outcomes of one injection, against the fault-free (golden) run: see OUTCOMES.
"""
from dataclasses import dataclass
from typing import List, Tuple

from runtime.errors import InvalidArgumentError

SITE_KINDS = ("weights", "activations", "compute", "input", "link")

OUTCOMES = {
    "masked": "output bit-identical to the golden run",
    "tolerable": "output differs, within the campaign's tolerance",
    "sdc": "silent data corruption: output wrong, nothing reported",
    "critical_sdc": "silent and the application criterion failed: top-1 class changed (classifier) or "
                    "mean IoU of the argmax mask below the threshold (segmentation)",
    "corrected": "the runtime detected and repaired the upset; output exact",
    "due": "detected unrecoverable error, reported as an error",
    "crash": "the worker died",
    "hang": "the worker exceeded its watchdog",
}


WORD_BYTES = 4  # the word of the `random` and `zero` models


@dataclass(frozen=True)
class FaultModel:
    kind: str  # flip, mbu, stuck0, stuck1, random, zero, accumulate
    width: int = 1   # mbu: adjacent bits; accumulate: number of upsets

    @classmethod
    def parse(cls, text: str) -> "FaultModel":
        name, _, arg = text.strip().partition(":")
        if name in ("flip", "stuck0", "stuck1", "random", "zero") and not arg:
            return cls(name)
        if name in ("mbu", "accumulate"):
            try:
                width = int(arg)
            except ValueError:
                width = 0
            if 2 <= width <= 64:
                return cls(name, width)
            what = "a bit count" if name == "mbu" else "an upset count"
            raise InvalidArgumentError(f"fault model '{text}': {name} needs {what} from 2 to 64, e.g. {name}:2")
        raise InvalidArgumentError(f"fault model '{text}': expected flip, mbu:N, stuck0, stuck1, random, zero "
                                   f"or accumulate:N")

    def __str__(self) -> str:
        return f"{self.kind}:{self.width}" if self.kind in ("mbu", "accumulate") else self.kind

    @property
    def span(self) -> int:
        """Adjacent bits one upset of this model covers from its start (mbu: width, else 1)."""
        return self.width if self.kind == "mbu" else 1

    @property
    def on_word(self) -> bool:
        """The model sets a whole word (random, zero), not bits from (byte, bit)."""
        return self.kind in ("random", "zero")

    @property
    def forces(self) -> bool:
        """The model sets bits to values (stuck0/1, random, zero): it can leave them unchanged."""
        return self.kind in ("stuck0", "stuck1", "random", "zero")

    def bits(self, byte_offset: int, bit: int) -> List[Tuple[int, int]]:
        """The (byte offset, bit) pairs this fault touches, starting at (byte_offset, bit);
        random/zero: the 32 bits of its word (a site's last word may end earlier: the
        runtime clips it to the site)."""
        if self.on_word:
            start = byte_offset - byte_offset % WORD_BYTES
            return [(b, i) for b in range(start, start + WORD_BYTES) for i in range(8)]
        pos = byte_offset * 8 + bit
        return [((pos + i) // 8, (pos + i) % 8) for i in range(self.span)]

    def apply(self, byte_value: int, bit: int) -> int:
        """The new value of one byte when this fault hits `bit` of it (bit models)."""
        mask = 1 << bit
        if self.kind == "stuck0":
            return byte_value & ~mask & 0xFF
        if self.kind == "stuck1":
            return byte_value | mask
        return byte_value ^ mask

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
`bit` across byte boundaries), `stuck0` / `stuck1` force the bit.

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
    "critical_sdc": "silent and the top-1 class changed",
    "corrected": "the runtime detected and repaired the upset; output exact",
    "due": "detected unrecoverable error, reported as an error",
    "crash": "the worker died",
    "hang": "the worker exceeded its watchdog",
}


@dataclass(frozen=True)
class FaultModel:
    kind: str  # flip, mbu, stuck0, stuck1
    width: int = 1

    @classmethod
    def parse(cls, text: str) -> "FaultModel":
        name, _, arg = text.strip().partition(":")
        if name in ("flip", "stuck0", "stuck1") and not arg:
            return cls(name)
        if name == "mbu":
            try:
                width = int(arg)
            except ValueError:
                width = 0
            if 2 <= width <= 64:
                return cls("mbu", width)
            raise InvalidArgumentError(f"fault model '{text}': mbu needs a bit count from 2 to 64, e.g. mbu:2")
        raise InvalidArgumentError(f"fault model '{text}': expected flip, mbu:N, stuck0 or stuck1")

    def __str__(self) -> str:
        return f"mbu:{self.width}" if self.kind == "mbu" else self.kind

    def bits(self, byte_offset: int, bit: int) -> List[Tuple[int, int]]:
        """The (byte offset, bit) pairs this fault touches, starting at (byte_offset, bit)."""
        pos = byte_offset * 8 + bit
        return [((pos + i) // 8, (pos + i) % 8) for i in range(self.width)]

    def apply(self, byte_value: int, bit: int) -> int:
        """The new value of one byte when this fault hits `bit` of it."""
        mask = 1 << bit
        if self.kind == "stuck0":
            return byte_value & ~mask & 0xFF
        if self.kind == "stuck1":
            return byte_value | mask
        return byte_value ^ mask

"""The protection vocabulary: one `ProtectionMode` record per mode, and the health
counters and events protection reports. The engine, the memory plan, `health()`, the
CLI, the link (ICD v2 §5 mode codes, §9 events) and the campaigns read these records;
no other module spells a mode's properties.

How each mode protects (design.md "Memory regions and protection"):
- none:  computes once from one weight copy; no checks.
- scrub: computes once from copy 0; a scrubber keeps copy 0 and a golden mirror
         (copy 1) verified by CRC-32C per block and repairs from whichever verifies.
- dwc:   computes twice (replicas on weight copies 0 and 1), compares the outputs;
         on a mismatch scrubs, runs a third time and votes.
- tmr:   three replicas, each on its own weight copy, arena and input copy, bitwise
         majority vote after every op (or only at the outputs).
- abft:  computes once. Conv/Gemm/MatMul with constant weights carry algorithm-based
         checksums fused into the packed GEMM (Huang & Abraham 1984); every other op
         runs twice and compares; every tensor between ops is sealed by its producer
         and verified by each consumer (chained checksums); the input copy is sealed
         from the caller's array. A failing op is re-executed from verified inputs and
         weights (weights repaired from the golden mirror first).
"""
from dataclasses import dataclass
from typing import Dict, Tuple

from ..arguments import check_choice


@dataclass(frozen=True)
class ProtectionMode:
    name: str
    code: int                 # ICD v2 §5 protection_mode, TC[8,1] SET_PROTECTION argument
    weight_copies: int        # copies of the weights region held in RAM
    replicas: int             # compute replicas allocated (arena, input and output each)
    first_pass_replicas: int  # replicas that compute in every run (dwc's third runs on a mismatch)
    checks: str               # how each op is checked
    covers: str               # what a single upset it survives can hit
    exposed: str              # what stays exposed
    cost: str                 # latency relative to none on this machine (benchmarks/)

    @property
    def scrubbed(self) -> bool:
        """True when the mode keeps a golden copy the scrubber verifies and repairs from."""
        return self.weight_copies > 1


NONE = ProtectionMode(
    "none", 0, 1, 1, 1, "no checks",
    "nothing", "weights, activations, compute, input: any upset can change the output",
    "1x")
SCRUB = ProtectionMode(
    "scrub", 1, 2, 1, 1, "weights verified by CRC-32C per block, in the background and on demand",
    "weight upsets, repaired when the scrubber reaches them",
    "activations, compute, input; a weight upset until the scrubber reaches it", "~1x")
DWC = ProtectionMode(
    "dwc", 2, 2, 3, 2, "outputs of two replicas compared; a third run votes on a mismatch",
    "weights, activations, compute and input copies: one upset per run",
    "the caller's input buffer; upsets hitting two replicas alike", "~2x")
TMR = ProtectionMode(
    "tmr", 3, 3, 3, 3, "bitwise majority vote of three replicas after every op (or at the outputs)",
    "weights, activations, compute and input copies: one upset per vote interval",
    "the caller's input buffer; the same bit hit in two replicas", "~3x")
ABFT = ProtectionMode(
    "abft", 4, 2, 1, 1,
    "Conv/Gemm/MatMul: fused ABFT checksums; other ops: duplicate and compare; tensors between "
    "ops: chained checksums; failing op re-executed",
    "weights (checked at use and scrubbed), activations, compute and the input copy: one upset per op",
    "the caller's input buffer; GEMM errors below the round-off threshold; the activation clamp "
    "of a fused Conv/Gemm", "see benchmarks/light_models.md")

_ALL = (NONE, SCRUB, DWC, TMR, ABFT)
BY_NAME: Dict[str, ProtectionMode] = {m.name: m for m in _ALL}
MODES: Tuple[str, ...] = tuple(m.name for m in sorted(_ALL, key=lambda m: m.code))
VOTE_POINTS = ("every_op", "outputs")


def mode(name: str) -> ProtectionMode:
    """The record of mode `name`; InvalidArgumentError naming it if unknown."""
    return BY_NAME[check_choice("protection", name, MODES)]


def by_code(code: int) -> ProtectionMode:
    """The record whose ICD code is `code`; KeyError if none (the link turns it into BAD_ARGUMENT)."""
    for m in _ALL:
        if m.code == code:
            return m
    raise KeyError(code)


# Health counters (InferenceSession.health(), HK TM[3,25]), in HK order, with their unit.
HEALTH_COUNTERS: Tuple[Tuple[str, str], ...] = (
    ("scrub_passes", "complete passes over all weight blocks: each scrub(), the scrub before a "
                     "protection switch, and each time the background scrubber's cursor wraps "
                     "(passes; repair scrubs after a detection are not counted)"),
    ("upsets_detected", "upsets seen: weight block-copies that failed their CRC-32C (one per copy "
                        "per block), plus runs in which replicas disagreed or an abft check failed "
                        "with no weight upset to blame (transient: activations, compute, input)"),
    ("upsets_corrected", "of those, block-copies rewritten from a good copy or a verifying vote, "
                         "plus transient upsets outvoted or re-executed away"),
    ("uncorrectable", "weight blocks found lost (each counted once), plus runs that could not be "
                      "repaired (no majority, or an abft op failing again after re-execution); each "
                      "raised UncorrectableUpsetError in the call that found it, except a loss "
                      "found by the background scrubber, which the next run() raises"),
    ("vote_disagreements", "votes (after an op, or on the outputs) where the replicas' bytes differed"),
    ("reexecutions", "whole runs computed again after a disagreement or a corrupted tensor (runs)"),
    ("checksum_mismatches", "abft checks that failed: a GEMM checksum beyond its round-off "
                            "threshold, a duplicated op whose two results differ, or a tensor "
                            "whose chained checksum no longer matches (checks)"),
    ("ops_reexecuted", "single ops computed again by abft after a failed check (ops)"),
)
HEALTH_NAMES: Tuple[str, ...] = tuple(n for n, _ in HEALTH_COUNTERS)
# The counters whose increase during a run means protection repaired something in it.
REPAIR_COUNTERS: Tuple[str, ...] = ("upsets_corrected", "vote_disagreements", "reexecutions",
                                    "checksum_mismatches", "ops_reexecuted")

# Events protection reports (ICD v2 §9): name -> (event id, severity, aux1, aux2).
EVENTS: Dict[str, Tuple[int, str, str, str]] = {
    "UPSET_CORRECTED": (1, "low", "region id", "byte offset"),
    "UPSET_UNCORRECTABLE": (2, "high", "region id", "byte offset"),
    "VOTE_DISAGREEMENT": (3, "low", "op index", "replica"),
    "CHECKSUM_MISMATCH": (8, "low", "op index", "0"),
}

"""Forcing faults that change nothing: decided from the golden memory, before any run.

A `stuck0`/`stuck1` fault on a bit already at that value, or a `zero`/`random` fault
on a word that already holds 0/its value, is no upset: its run is the golden run.
Such a fault is recorded `masked` with cause `unchanged`
(fault_injection.outcome.MASKED_CAUSES) without being run, and rates over upsets
leave it out.

How: one fault-free paused run per input that has such faults, stopped at each
fault's moment, reading the site's bytes (`InferenceSession.read_site`) where the
upset would land:
- weights: the constant memory (the same before and during any run);
- input: the input copy right after the run filled it (op 0; no op writes it);
- activations after op a: the arena at op a + 1;
- compute of op c: the output buffer of op c at op c + 1 (after its vote in tmr:
  the fault-free value, which is what every replica's kernel wrote).
"""
from typing import Dict, Iterable, List, Set

from .plan import Fault
from .vocabulary import WORD_BYTES, FaultModel


def _moment(fault: Fault) -> int:
    """The op at which the paused golden run holds the bytes the fault would hit."""
    if fault.kind == "activations":
        return fault.at_op + 1
    if fault.kind == "compute":
        return fault.op_index + 1
    return 0


def leaves_unchanged(model: FaultModel, fault: Fault, current: bytes, start: int) -> bool:
    """Whether the fault, applied to `current` (the site's bytes from offset `start`),
    changes no bit."""
    if model.kind in ("stuck0", "stuck1"):
        old = (current[fault.byte_offset - start] >> fault.bit) & 1
        return old == (1 if model.kind == "stuck1" else 0)
    if model.kind == "zero":
        return not any(current)
    if model.kind == "random":
        return current == fault.value.to_bytes(WORD_BYTES, "little")[:len(current)]
    return False


def unchanged_faults(sess, inputs: List[dict], faults: Iterable[Fault]) -> Set[int]:
    """The ids of the faults among `faults` that change no bit (module docstring)."""
    forcing: Dict[int, List[Fault]] = {}
    for f in faults:
        if FaultModel.parse(f.model).forces:
            forcing.setdefault(f.input_index, []).append(f)
    found: Set[int] = set()
    for index in sorted(forcing):
        with sess.paused_run(inputs[index]) as paused:
            for f in sorted(forcing[index], key=lambda f: (_moment(f), f.fault_id)):
                paused.advance_to(_moment(f))
                model = FaultModel.parse(f.model)
                start = f.byte_offset - f.byte_offset % WORD_BYTES if model.on_word else f.byte_offset
                current = sess.read_site(f.site, start, WORD_BYTES if model.on_word else 1)
                if leaves_unchanged(model, f, current, start):
                    found.add(f.fault_id)
    return found

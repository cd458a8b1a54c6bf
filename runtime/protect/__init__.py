"""Protection against single-event upsets: weight copies and scrubbing, DWC and TMR
execution with bitwise voting, fault sites and the injection primitive.

Modes (design.md): `none` computes once from one weight copy with no checks;
`scrub` computes once from copy 0 while a scrubber keeps copy 0 and a golden
mirror (copy 1) verified and repaired; `dwc` computes twice (each replica on
its own weight copy), compares the outputs and, on a mismatch, scrubs and
runs a third time to vote; `tmr` computes in three replicas, each on its own
weight copy, arena and input copy, with a bitwise majority vote after every
op (or only at the outputs).
"""
from ..arguments import check_choice

MODES = ("none", "scrub", "dwc", "tmr")
MODE_CODES = {"none": 0, "scrub": 1, "dwc": 2, "tmr": 3}  # ICD §5 protection_mode
VOTE_POINTS = ("every_op", "outputs")

# Weight copies per mode, and replicas that compute (dwc's third runs only on a mismatch).
WEIGHT_COPIES = {"none": 1, "scrub": 2, "dwc": 2, "tmr": 3}
REPLICAS = {"none": 1, "scrub": 1, "dwc": 3, "tmr": 3}
FIRST_PASS_REPLICAS = {"none": 1, "scrub": 1, "dwc": 2, "tmr": 3}


def check_mode(mode: str) -> str:
    """`mode` if it is one of MODES; else InvalidArgumentError naming it."""
    return check_choice("protection", mode, MODES)

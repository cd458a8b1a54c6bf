"""Protection against single-event upsets: weight copies and scrubbing, DWC and TMR
execution with bitwise voting, ABFT checks, fault sites and the injection primitive.

What each mode is (name, ICD code, weight copies, replicas, checks, coverage) is one
record in `modes.py`; everything else reads it from there.
"""
from .modes import (BY_NAME, EVENTS, HEALTH_COUNTERS, HEALTH_NAMES, MODES, REPAIR_COUNTERS, VOTE_POINTS,
                    ProtectionMode, by_code, mode)


def check_mode(name: str) -> str:
    """`name` if it is a protection mode; else InvalidArgumentError naming it."""
    return mode(name).name

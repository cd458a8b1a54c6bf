"""Checks of API arguments: each names the argument, the value and what was expected.

Every check raises `InvalidArgumentError` (with `argument=` and `value=` set) and
never coerces: a float is not an integer (0.5 is not an op index, 1.9 is not
byte 1), a bool is not an integer, a str is not a number, NaN and infinity are
not durations. numpy integer and floating scalars count as integers and numbers.
"""
import math
from typing import Any, Optional

import numpy as np

from .errors import InvalidArgumentError


def is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def range_text(low: Optional[int], high: Optional[int]) -> str:
    """'from 0 to 7', '>= 1', '<= 9' (at least one bound given)."""
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"


def check_integer(argument: str, value: Any, low: Optional[int] = None,
                  high: Optional[int] = None, where: str = "") -> int:
    """`value` as an int if it is an integer in [low, high] (either bound optional)."""
    bounds = "" if low is None and high is None else " " + range_text(low, high)
    if not is_integer(value):
        raise InvalidArgumentError(f"{where}{argument} must be an integer{bounds}, got {value!r} "
                                   f"({type(value).__name__})", argument=argument, value=value)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise InvalidArgumentError(f"{where}{argument} must be {range_text(low, high)}, got {v}",
                                   argument=argument, value=v)
    return v


def check_seconds(argument: str, value: Any, high: float, low: Optional[float] = None) -> float:
    """`value` as a float if it is a finite number of seconds in (0, high], or in
    [low, high] when `low` is given."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    in_range = ok and math.isfinite(float(value)) and (
        0 < float(value) <= high if low is None else low <= float(value) <= high)
    if not in_range:
        bounds = f"(0, {high:g}]" if low is None else f"[{low:g}, {high:g}]"
        raise InvalidArgumentError(f"{argument} must be a finite number of seconds in {bounds} "
                                   f"(or None), got {value!r}", argument=argument, value=value)
    return float(value)


def check_choice(argument: str, value: Any, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgumentError(f"{argument} {value!r} is not one of {', '.join(choices)}",
                                   argument=argument, value=value)
    return value

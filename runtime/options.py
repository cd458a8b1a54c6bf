"""argparse option types shared by every radrt command, flight (`runtime/cli.py`,
`runtime/link/cli.py`) and ground (`fault_injection/cli.py`): each checks one value
and, when it is wrong, names its option, the value and what was expected
(`--repeat must be >= 1, got 0`); RadrtArgumentParser turns that into the one error line.
"""
import argparse
import math
from typing import Callable, Optional

from .arguments import range_text


def int_option(option: str, low: Optional[int] = None, high: Optional[int] = None,
               base: int = 10) -> Callable[[str], int]:
    """An argparse type: an int in [low, high] (bounds optional; base 0 also takes 0x, 0o, 0b)."""
    bounds = range_text(low, high)

    def parse(text: str) -> int:
        try:
            value = int(text, base)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be an integer {bounds}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{option} must be {bounds}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def float_option(option: str, low: float, high: float, low_open: bool = True,
                 high_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float in the interval low..high (open or closed ends)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"{option} must be a number in {interval}, got {text!r}")
        return value
    parse.__name__ = "number"
    return parse

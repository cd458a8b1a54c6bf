"""Upset-rate presets per orbit: the rate table is data (`orbits.json` beside this file).

    rate = orbit_rate("leo-alsat1")      # OrbitRate(name, upsets_per_bit_per_day, ...)
    rate.upsets_per_bit_per_day          # 4.04e-7

Each preset gives upsets per bit per day in ordinary (unhardened) memory, the share of
those upsets that flip a single bit, a multiplier to apply on top (e.g. for passes
through the South Atlantic Anomaly; 1 when the measurement already averages over the
orbit; `python -m fault_injection.saa` derives the South Atlantic Anomaly one from
AP-8), the source of the figure and, for a derived multiplier, the command that derives
it (`derivation`; a test re-runs it). Campaign estimates (`radrt fi estimate`) and
the mission soak (`radrt soak`) take their rates from here and nowhere else.
"""
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

from runtime.errors import InvalidArgumentError

TABLE = Path(__file__).with_name("orbits.json")


@dataclass(frozen=True)
class OrbitRate:
    name: str
    upsets_per_bit_per_day: float   # already multiplied by `multiplier`
    single_bit_fraction: float
    multiplier: float
    description: str
    source: str
    derivation: str = ""           # the command that derives `multiplier`, if derived


FIELDS = {"upsets_per_bit_per_day", "multiplier", "single_bit_fraction", "description", "source", "derivation"}


def _number(preset: str, key: str, value, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidArgumentError(f"{TABLE}: preset '{preset}' field '{key}' is {value!r}; expected a number "
                                   f"from {low:g} to {high:g}")
    return float(value)


def orbit_rates() -> Dict[str, OrbitRate]:
    """Every preset of the table, checked; InvalidArgumentError naming the preset and field
    for a malformed entry."""
    try:
        data = json.loads(TABLE.read_text())
        presets = data["presets"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InvalidArgumentError(f"{TABLE}: the orbit rate table cannot be read ({e})") from e
    rates = {}
    for name, entry in presets.items():
        if not isinstance(entry, dict):
            raise InvalidArgumentError(f"{TABLE}: preset '{name}' is {entry!r}; expected an object of {sorted(FIELDS)}")
        unknown = sorted(set(entry) - FIELDS)
        if unknown:
            raise InvalidArgumentError(f"{TABLE}: preset '{name}' has unknown field(s) {', '.join(unknown)}; "
                                       f"expected only {', '.join(sorted(FIELDS))}")
        derivation = entry.get("derivation", "")
        if not isinstance(derivation, str):
            raise InvalidArgumentError(f"{TABLE}: preset '{name}' field 'derivation' is {derivation!r}; expected a command")
        base = _number(name, "upsets_per_bit_per_day", entry.get("upsets_per_bit_per_day"), 0.0, 1.0)
        multiplier = _number(name, "multiplier", entry.get("multiplier", 1.0), 0.0, 1e6)
        for key in ("description", "source"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise InvalidArgumentError(f"{TABLE}: preset '{name}' needs a '{key}' text")
        rates[name] = OrbitRate(name, base * multiplier,
                                _number(name, "single_bit_fraction", entry.get("single_bit_fraction"), 0.0, 1.0),
                                multiplier, entry["description"], entry["source"], derivation)
    return rates


def orbit_rate(name: str) -> OrbitRate:
    """The preset `name`; InvalidArgumentError listing the presets when unknown."""
    rates = orbit_rates()
    if name not in rates:
        raise InvalidArgumentError(f"orbit preset {name!r} is not one of {', '.join(sorted(rates))} "
                                   f"(the table: {TABLE})", argument="orbit", value=name)
    return rates[name]

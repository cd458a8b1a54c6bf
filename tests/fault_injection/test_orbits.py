"""The orbit rate table: presets load, carry sources, and bad entries are named errors."""
import json

import pytest

from fault_injection import orbits
from fault_injection.outcome import MASKED_CAUSES, cause_kind, converged_at
from runtime.errors import InvalidArgumentError


def test_leo_preset_is_the_alsat1_measurement():
    rate = orbits.orbit_rate("leo-alsat1")
    assert rate.upsets_per_bit_per_day == 4.04e-7
    assert rate.single_bit_fraction == 0.986
    assert "Alsat-1" in rate.source


def test_every_preset_has_a_source():
    for rate in orbits.orbit_rates().values():
        assert rate.source and rate.description
        assert 0 < rate.upsets_per_bit_per_day < 1


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(InvalidArgumentError, match="leo-alsat1"):
        orbits.orbit_rate("geo")


def test_malformed_entry_names_preset_and_field(tmp_path, monkeypatch):
    table = tmp_path / "orbits.json"
    table.write_text(json.dumps({"presets": {"x": {"upsets_per_bit_per_day": -1, "single_bit_fraction": 1,
                                                   "description": "d", "source": "s"}}}))
    monkeypatch.setattr(orbits, "TABLE", table)
    with pytest.raises(InvalidArgumentError, match="'x' field 'upsets_per_bit_per_day'"):
        orbits.orbit_rates()


def test_masked_causes_round_trip():
    assert cause_kind(converged_at(12)) == "converged"
    for cause in MASKED_CAUSES:
        assert cause_kind(cause) == cause
    with pytest.raises(InvalidArgumentError):
        cause_kind("converged at op x")

"""The SAA multiplier: the preset in orbits.json is what its derivation command prints, the
batched AP-8 evaluation equals SpacePy's own one-point wrapper, and bad arguments are named."""
import re
import shlex
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fault_injection import orbits, saa
from runtime.errors import InvalidArgumentError


def derive(*args):
    proc = subprocess.run([sys.executable, "-m", "fault_injection.saa", *args], capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def field(out, name):
    return float(re.search(rf"^{name}\s+([0-9.eE+-]+)", out, re.M).group(1))


def test_saa_preset_is_what_its_derivation_prints():
    rate = orbits.orbit_rate("leo-alsat1-saa")
    argv = shlex.split(rate.derivation)
    assert argv[:3] == ["python", "-m", "fault_injection.saa"]
    code, out, err = derive(*argv[3:])
    assert code == 0, err
    multiplier = field(out, "multiplier")
    assert round(multiplier, 1) == rate.multiplier == 10.4
    # mean inside / orbit mean = (fluence share) / (time share): the printed figures agree.
    assert multiplier == pytest.approx(field(out, "fluence inside the SAA") / field(out, "time inside the SAA"),
                                       rel=2e-3)
    assert 0.05 < field(out, "time inside the SAA") < 0.15          # a few minutes of each ~98 min orbit
    assert rate.upsets_per_bit_per_day == pytest.approx(orbits.orbit_rate("leo-alsat1").upsets_per_bit_per_day
                                                        * 10.4, rel=1e-15)


def test_batched_flux_equals_spacepy_one_point_wrapper():
    import spacepy.coordinates as coords
    import spacepy.irbempy as irbem
    import spacepy.time as sptime
    points = np.array([[686.0, -30.0, -45.0],     # the heart of the SAA (in AP-8's 1960 field)
                       [686.0, -20.0, -60.0],
                       [686.0, 40.0, 100.0],      # far from it: no trapped protons above 30 MeV
                       [1500.0, 0.0, 0.0]])
    got = saa.proton_flux(points, 30.0, "min")
    for point, value in zip(points, got):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loci = coords.Coords([list(point)], "GDZ", "sph", use_irbem=True)
            loci.ticks = sptime.Ticktock([saa.EPOCH], "ISO")
            want = float(irbem.get_AEP8(30.0, loci, model="min", fluxtype="int", particles="p"))
        want = want if np.isfinite(want) and want > 0 else 0.0
        assert value == pytest.approx(want, rel=1e-12)
    assert got[0] > 1000 and got[2] == 0.0


def test_multiplier_is_flux_weighted_time_share():
    e = saa.saa_multiplier(686, 98.2, grid=48)
    assert e.multiplier == pytest.approx(e.fluence_fraction / e.time_fraction, rel=1e-12)
    assert e.peak_flux > e.orbit_mean_flux * e.multiplier     # the heart of the SAA is above its mean
    # A higher threshold marks a smaller, hotter SAA.
    hot = saa.saa_multiplier(686, 98.2, threshold=100.0, grid=48)
    assert hot.time_fraction < e.time_fraction and hot.multiplier > e.multiplier


@pytest.mark.parametrize("kwargs, words", [
    (dict(altitude_km=3000), ["altitude_km", "3000", "200 to 2000 km"]),
    (dict(inclination_deg=-1), ["inclination_deg", "-1", "0 to 180"]),
    (dict(energy_mev=float("nan")), ["energy_mev", "nan"]),
    (dict(threshold=0), ["threshold", "0"]),
    (dict(model="avg"), ["model", "'avg'", "min, max"]),
    (dict(grid=4), ["grid", "4", "16 to 2000"]),
    (dict(threshold=1e6), ["never sees", "no SAA"]),
])
def test_bad_arguments_are_named(kwargs, words):
    args = dict(altitude_km=686, inclination_deg=98.2, grid=16) | kwargs
    with pytest.raises(InvalidArgumentError) as e:
        saa.saa_multiplier(**args)
    for w in words:
        assert w in str(e.value)


def test_cli_refuses_an_altitude_out_of_range():
    code, out, err = derive("--altitude-km", "36000", "--inclination-deg", "0")
    assert code == 2 and "altitude_km is 36000.0; expected 200 to 2000 km" in err and out == ""


def test_table_refuses_an_unknown_field(tmp_path, monkeypatch):
    table = tmp_path / "orbits.json"
    table.write_text('{"presets": {"x": {"upsets_per_bit_per_day": 1e-7, "single_bit_fraction": 1, '
                     '"description": "d", "source": "s", "multipler": 10}}}')
    monkeypatch.setattr(orbits, "TABLE", table)
    with pytest.raises(InvalidArgumentError, match="preset 'x' has unknown field.*multipler"):
        orbits.orbit_rates()

"""The South Atlantic Anomaly (SAA) rate multiplier of a LEO orbit, from the AP-8 proton model.

    python -m fault_injection.saa --altitude-km 686 --inclination-deg 98.2   # Alsat-1's orbit
    saa_multiplier(686, 98.2)   # SaaExposure(multiplier=10.4, time_fraction=0.096, ...)

How it works: a circular orbit of altitude h and inclination i, averaged over many days,
spends equal time at every argument of latitude u (latitude asin(sin i sin u)) and at every
longitude. On a grid of u x longitude the AP-8 omnidirectional integral flux of trapped
protons above an energy (cm^-2 s^-1) is evaluated with IRBEM, which puts B/B0 and L in the
field model AP-8 was built with (Jensen & Cain 1960 for AP-8 MIN, GSFC 12/66 for MAX).
Points where that flux is at least `threshold` are inside the SAA: below ~1,000 km the
trapped protons of tens of MeV are found nowhere else. Then

    multiplier = mean flux inside the SAA / mean flux over the whole orbit

An upset rate measured in flight and averaged over the orbit (Alsat-1's 4.04e-7 per bit
per day) times the multiplier is the rate while the spacecraft is inside the SAA, when
the upsets are due to trapped protons, as UoSAT-2's were (C. I. Underwood, "In-orbit
radiation effects monitoring on the UoSAT satellites": 700 km near-polar, an
"overwhelming concentration of events in the South Atlantic Anomaly"). A share g of
upsets from galactic cosmic rays, spread over the orbit, makes the rate inside
((1 - g) x multiplier + g) times the mean: the multiplier is the bound for g = 0.

Sources: D. M. Sawyer and J. I. Vette, "AP-8 trapped proton environment for solar maximum
and solar minimum", NSSDC/WDC-A-R&S 76-06 (1976); the IRBEM library
(https://prbem.github.io/IRBEM/), as shipped in SpacePy (the `orbit` extra).
Ground tool: needs `pip install 'radrt[orbit]'`; nothing on the board uses it.
"""
import argparse
import ctypes
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from runtime.errors import InvalidArgumentError

# Bounds of what this derivation covers: LEO below the inner belt's heart, AP-8's energies.
ALTITUDE_KM = (200.0, 2000.0)
ENERGY_MEV = (0.1, 400.0)
MODELS = {"min": 3, "max": 4}            # IRBEM's `whichm` for AP-8 MIN / MAX
EPOCH = "2005-01-01T00:00:00"            # only sets the Sun's position; AP-8 uses its own field epoch


@dataclass(frozen=True)
class SaaExposure:
    multiplier: float        # mean flux inside the SAA / orbit mean flux
    time_fraction: float     # share of the orbit spent inside the SAA
    fluence_fraction: float  # share of the orbit's proton fluence received inside the SAA
    orbit_mean_flux: float   # cm^-2 s^-1, protons above energy_mev
    peak_flux: float         # cm^-2 s^-1, the highest grid point


def _check(name: str, value: float, low: float, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidArgumentError(f"{name} is {value!r}; expected {low:g} to {high:g} {unit}",
                                   argument=name, value=value)
    return float(value)


def _irbem():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")           # SpacePy warns when its leap-second table is old
            import spacepy.coordinates as coords
            import spacepy.irbempy as irbem
            import spacepy.time as sptime
    except ImportError as e:
        raise InvalidArgumentError(f"the SAA derivation needs SpacePy's IRBEM ({e}); install it with "
                                   f"pip install 'radrt[orbit]'") from e
    return coords, irbem, sptime


def proton_flux(points_gdz: np.ndarray, energy_mev: float, model: str) -> np.ndarray:
    """AP-8 omnidirectional integral proton flux above `energy_mev` (cm^-2 s^-1, float64 (n,))
    at geodetic points (n, 3): altitude km, latitude deg, longitude deg. Outside the model's
    grid the flux is 0."""
    coords, irbem, sptime = _irbem()
    out = np.zeros(len(points_gdz))
    chunk = 50_000                                    # IRBEM holds at most ntime_max (100,000) points
    for start in range(0, len(points_gdz), chunk):
        part = points_gdz[start:start + chunk]
        n = len(part)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loci = coords.Coords(part, "GDZ", "sph", use_irbem=True)
            loci.ticks = sptime.Ticktock([EPOCH] * n, "ISO")
            calm = {k: [0] * n for k in ("Kp", "Dst", "dens", "velo", "Pdyn", "ByIMF", "BzIMF", "G1", "G2",
                                         "G3", "W1", "W2", "W3", "W4", "W5", "W6")}
            d = irbem.prep_irbem(ticks=loci.ticks, loci=loci, omnivals=calm)
        c = irbem.prep_ctypes(d)
        n_energy, n_time = d["nalp_max"], d["ntime_max"]
        energies = np.zeros((2, n_energy))
        energies[:, 0] = energy_mev
        flux = np.empty((n_time, n_energy))
        irbem.irbemlib.fly_in_nasa_aeap1(
            ctypes.c_int(n), c["sysaxes"], ctypes.c_int(MODELS[model]), ctypes.c_int(3), ctypes.c_int(1),
            energies.ctypes.data_as(ctypes.POINTER((ctypes.c_double * 2) * n_energy)),
            c["iyearsat"], c["idoysat"], c["utsat"], c["xin1"], c["xin2"], c["xin3"],
            flux.ctypes.data_as(ctypes.POINTER((ctypes.c_double * n_time) * n_energy)))
        f = flux.reshape(-1)[:n].copy()               # Fortran flux(ntime, 1): the first n values
        f[~np.isfinite(f) | np.isclose(f, d["badval"]) | (f < 0)] = 0.0
        out[start:start + n] = f
    return out


def saa_multiplier(altitude_km: float, inclination_deg: float, energy_mev: float = 30.0,
                   threshold: float = 1.0, model: str = "min", grid: int = 180) -> SaaExposure:
    """The SAA exposure of a circular orbit (see the module text for the method and sources).

    altitude_km in [200, 2000]; inclination_deg in [0, 180]; energy_mev in [0.1, 400] (protons
    above it; 30 MeV by default; on Alsat-1's orbit 10 and 50 MeV give 9.5 and 11.0 where 30
    gives 10.4); threshold in cm^-2 s^-1 (> 0) marks the SAA; model "min" or "max" (solar
    minimum, the higher proton flux, or maximum); grid: points per axis (>= 16).
    InvalidArgumentError naming the argument for a value outside those ranges, or when the
    orbit never meets the threshold (no SAA at that altitude and energy)."""
    altitude_km = _check("altitude_km", altitude_km, *ALTITUDE_KM, "km")
    inclination_deg = _check("inclination_deg", inclination_deg, 0.0, 180.0, "degrees")
    energy_mev = _check("energy_mev", energy_mev, *ENERGY_MEV, "MeV")
    threshold = _check("threshold", threshold, 1e-6, 1e6, "protons cm^-2 s^-1")
    if model not in MODELS:
        raise InvalidArgumentError(f"model is {model!r}; expected one of {', '.join(MODELS)}",
                                   argument="model", value=model)
    if isinstance(grid, bool) or not isinstance(grid, int) or not 16 <= grid <= 2000:
        raise InvalidArgumentError(f"grid is {grid!r}; expected an integer from 16 to 2000 points per axis",
                                   argument="grid", value=grid)
    u = (np.arange(grid) + 0.5) * 2.0 * np.pi / grid
    latitude = np.degrees(np.arcsin(np.sin(np.radians(inclination_deg)) * np.sin(u)))
    longitude = (np.arange(grid) + 0.5) * 360.0 / grid - 180.0
    lat, lon = np.meshgrid(latitude, longitude, indexing="ij")
    points = np.stack([np.full(lat.size, altitude_km), lat.ravel(), lon.ravel()], axis=1)
    flux = proton_flux(points, energy_mev, model)
    inside = flux >= threshold
    if not inside.any():
        raise InvalidArgumentError(f"the orbit ({altitude_km:g} km, {inclination_deg:g} deg) never sees "
                                   f"protons above {energy_mev:g} MeV at {threshold:g} cm^-2 s^-1 in AP-8 "
                                   f"{model.upper()}: no SAA to weight", argument="threshold", value=threshold)
    mean = float(flux.mean())
    return SaaExposure(multiplier=float(flux[inside].mean()) / mean, time_fraction=float(inside.mean()),
                       fluence_fraction=float(flux[inside].sum() / flux.sum()), orbit_mean_flux=mean,
                       peak_flux=float(flux.max()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m fault_injection.saa",
                                description="The SAA upset-rate multiplier of a circular LEO orbit from AP-8 "
                                            "(the `multiplier` of an orbits.json preset).")
    p.add_argument("--altitude-km", type=float, required=True)
    p.add_argument("--inclination-deg", type=float, required=True)
    p.add_argument("--energy-mev", type=float, default=30.0, help="protons above this energy (default 30)")
    p.add_argument("--threshold", type=float, default=1.0,
                   help="integral flux (cm^-2 s^-1) that marks the SAA (default 1)")
    p.add_argument("--model", choices=sorted(MODELS), default="min", help="AP-8 MIN or MAX (default min)")
    p.add_argument("--grid", type=int, default=180, help="grid points per axis (default 180)")
    a = p.parse_args(argv)
    try:
        e = saa_multiplier(a.altitude_km, a.inclination_deg, a.energy_mev, a.threshold, a.model, a.grid)
    except InvalidArgumentError as err:
        print(f"radrt: {err}", file=sys.stderr)
        return 2
    print(f"AP-8 {a.model.upper()}, protons > {a.energy_mev:g} MeV, {a.altitude_km:g} km, "
          f"{a.inclination_deg:g} deg, SAA where flux >= {a.threshold:g} cm^-2 s^-1 ({a.grid}x{a.grid} grid)")
    print(f"time inside the SAA      {e.time_fraction:.4f}")
    print(f"fluence inside the SAA   {e.fluence_fraction:.4f}")
    print(f"orbit mean flux          {e.orbit_mean_flux:.4g} cm^-2 s^-1 (peak {e.peak_flux:.4g})")
    print(f"multiplier               {e.multiplier:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

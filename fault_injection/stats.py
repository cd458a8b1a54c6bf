"""Statistics of fault-injection campaigns.

Sample size (Leveugle, Calvez, Maistri, Vanhauwaert, "Statistical fault injection:
quantified error and confidence", DATE 2009): to estimate the proportion p of faults
with some outcome within an error margin e at a confidence with normal quantile t,
out of a fault space of N faults (bits x sites x time points), inject

    n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p)))

faults drawn at random without replacement. p = 0.5 is the worst case (largest n)
when nothing is known beforehand. For N -> infinity this is Cochran's t^2 p (1-p) / e^2
(9604 at e = 1%, 95%; 385 at e = 5%, 95%). `sample_size` rounds up, so the margin is
met.

Weighted rates (`weighted_proportion`): when faults were drawn from one distribution
and the rate is wanted under another (activations by live time, compute by op run
time: fault_injection.estimate), each fault carries an importance weight w_i and the
rate is the ratio estimate sum w_i y_i / sum w_i; its Wilson interval uses Kish's
effective sample size n_eff = (sum w_i)^2 / sum w_i^2 (Kish, Survey Sampling, 1965,
sec. 11.7), which is n when all weights are equal.

Rates of an outcome are reported with Wilson score intervals (Wilson 1927; Newcombe,
Stat. Med. 1998, method 3), which keep their coverage near 0 and 1, where
vulnerability rates of protected runtimes live; the normal (Wald) interval collapses
to zero width there.

Counts of events over an exposure (upsets and outcomes of the mission soak, per
mission-year) get Garwood's exact Poisson intervals (`poisson_interval`), and an
expected count its central range of counts (`poisson_range`); see the comment above them.
"""
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

import numpy as np

from runtime.errors import InvalidArgumentError


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise InvalidArgumentError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def normal_quantile(confidence: float) -> float:
    """The two-sided quantile t of a confidence level: 1.95996... for 0.95."""
    confidence = _check_fraction("confidence", confidence)
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def sample_size_exact(population: int, margin: float = 0.01, confidence: float = 0.95,
                      p: float = 0.5) -> float:
    """Leveugle's n before rounding up (see the module docstring)."""
    if isinstance(population, bool) or not isinstance(population, int) or population < 1:
        raise InvalidArgumentError(f"population (fault space size) must be an integer >= 1, got {population!r}")
    margin = _check_fraction("margin", margin)
    p = _check_fraction("p (expected proportion)", p)
    t = normal_quantile(confidence)
    return population / (1.0 + margin ** 2 * (population - 1) / (t ** 2 * p * (1.0 - p)))


def sample_size(population: int, margin: float = 0.01, confidence: float = 0.95, p: float = 0.5) -> int:
    """Number of faults to inject so that a proportion estimated from them is within
    `margin` of the fault space's proportion with probability `confidence`; never more
    than the population."""
    return min(population, math.ceil(sample_size_exact(population, margin, confidence, p) - 1e-9))


def achieved_margin(n: int, population: int, confidence: float = 0.95, p: float = 0.5) -> float:
    """The error margin that n injections out of a fault space of `population` give
    (Leveugle's formula solved for e); 0 when the whole space was injected."""
    if isinstance(population, bool) or not isinstance(population, int) or population < 1:
        raise InvalidArgumentError(f"population (fault space size) must be an integer >= 1, got {population!r}")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= population:
        raise InvalidArgumentError(f"n (injections) must be an integer from 1 to the population {population}, got {n!r}")
    p = _check_fraction("p (expected proportion)", p)
    if population == 1:
        return 0.0
    t = normal_quantile(confidence)
    return t * math.sqrt(p * (1.0 - p) * (population / n - 1.0) / (population - 1))


@dataclass(frozen=True)
class Proportion:
    """k of n, its rate and Wilson score interval [low, high] at `confidence`. A weighted
    rate (`weighted_proportion`) also carries n_eff, the interval's effective sample size."""
    k: int
    n: int
    rate: float
    low: float
    high: float
    confidence: float
    n_eff: Optional[float] = None

    def as_dict(self) -> dict:
        d = {"k": self.k, "n": self.n, "rate": self.rate, "low": self.low, "high": self.high,
             "confidence": self.confidence}
        if self.n_eff is not None:
            d["n_eff"] = self.n_eff
        return d


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Tuple[float, float]:
    """Wilson score interval of a binomial proportion k / n (no continuity correction)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidArgumentError(f"n (trials) must be an integer >= 1, got {n!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n:
        raise InvalidArgumentError(f"k (successes) must be an integer from 0 to n={n}, got {k!r}")
    return _wilson(k / n, n, normal_quantile(confidence), k == 0, k == n)


def _wilson(phat: float, n: float, z: float, none: bool, all_: bool) -> Tuple[float, float]:
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(phat * (1.0 - phat) / n + z * z / (4 * n * n))
    # Exact at the ends: k = 0 gives low 0, k = n gives high 1 (rounding would leave ~1e-17).
    low = 0.0 if none else max(0.0, centre - half)
    high = 1.0 if all_ else min(1.0, centre + half)
    return low, high


def proportion(k: int, n: int, confidence: float = 0.95) -> Proportion:
    low, high = wilson_interval(k, n, confidence)
    return Proportion(k, n, k / n, low, high, confidence)


def weighted_proportion(weights: Sequence[float], hits: Sequence[bool], confidence: float = 0.95) -> Proportion:
    """The weighted rate sum w_i y_i / sum w_i of hits y_i with importance weights w_i >= 0
    and its Wilson interval at Kish's n_eff (module docstring). k and n count the
    observations with w > 0 (hits among them, all of them). InvalidArgumentError for
    mismatched lengths, a negative or non-finite weight, or no positive weight."""
    if len(weights) != len(hits):
        raise InvalidArgumentError(f"weighted_proportion: {len(weights)} weights for {len(hits)} observations")
    if any(not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0) for w in weights):
        bad = next(w for w in weights if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0))
        raise InvalidArgumentError(f"weighted_proportion: weight {bad!r} is not a finite number >= 0")
    total = math.fsum(weights)
    if total <= 0:
        raise InvalidArgumentError("weighted_proportion: no observation has a positive weight")
    hit_weight = math.fsum(w for w, y in zip(weights, hits) if y)
    n_eff = total * total / math.fsum(w * w for w in weights)
    k = sum(1 for w, y in zip(weights, hits) if y and w > 0)
    n = sum(1 for w in weights if w > 0)
    rate = hit_weight / total
    low, high = _wilson(rate, n_eff, normal_quantile(confidence), k == 0, k == n)
    return Proportion(k, n, rate, low, high, confidence, n_eff)


@dataclass(frozen=True)
class StratifiedRate:
    """A stratified estimate sum_h W_h p_h, its standard error and normal interval."""
    rate: float
    se: float
    low: float
    high: float
    n: int
    confidence: float


def stratified_rate(strata: Mapping[object, Tuple[float, int, int]], confidence: float = 0.95) -> StratifiedRate:
    """The stratified estimate of a rate from {stratum: (W_h, k_h, n_h)}: sum_h W_h k_h/n_h
    with variance sum_h W_h^2 p_h (1 - p_h) / n_h (Cochran, Sampling Techniques, ch. 5,
    eq. 5.7 without the finite-population correction) and the normal interval, clipped
    to [0, 1]. Strata with n_h = 0 are left out and the weights of the others
    renormalised. InvalidArgumentError for weights not >= 0, k_h outside 0..n_h, or no
    stratum with injections."""
    used = {}
    for h, (w, k, n) in strata.items():
        if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
            raise InvalidArgumentError(f"stratum {h!r}: weight {w!r} is not a finite number >= 0")
        if not (isinstance(n, int) and n >= 0 and isinstance(k, int) and 0 <= k <= n):
            raise InvalidArgumentError(f"stratum {h!r}: {k!r} of {n!r} is not a count of a count")
        if n:
            used[h] = (float(w), k, n)
    total_w = math.fsum(w for w, _, _ in used.values())
    if not used or total_w <= 0:
        raise InvalidArgumentError("stratified_rate: no stratum with injections and a positive weight")
    rate = math.fsum(w / total_w * k / n for w, k, n in used.values())
    var = math.fsum((w / total_w) ** 2 * (k / n) * (1 - k / n) / n for w, k, n in used.values())
    se = math.sqrt(var)
    z = normal_quantile(confidence)
    return StratifiedRate(rate, se, max(0.0, rate - z * se), min(1.0, rate + z * se),
                          sum(n for _, _, n in used.values()), confidence)


def breakdown(counts: Mapping[object, Mapping[str, int]], outcomes: Iterable[str],
              confidence: float = 0.95) -> Dict[object, Proportion]:
    """Per group, the rate of `outcomes` among all injections of the group, with its
    Wilson interval. `counts` maps group -> {outcome: count} (e.g. a store summary by
    site kind, layer or bit); groups with no injections are left out."""
    chosen = set(outcomes)
    result = {}
    for group, per_outcome in counts.items():
        n = sum(per_outcome.values())
        if n:
            result[group] = proportion(sum(c for o, c in per_outcome.items() if o in chosen), n, confidence)
    return result


def group_rates(observations: Iterable[Tuple[object, bool]], confidence: float = 0.95) -> Dict[object, Proportion]:
    """Per group, the rate of True among (group, hit) observations, with its Wilson interval."""
    tally: Dict[object, list] = {}
    for group, hit in observations:
        kn = tally.setdefault(group, [0, 0])
        kn[0] += bool(hit)
        kn[1] += 1
    return {g: proportion(k, n, confidence) for g, (k, n) in tally.items()}


# -- Poisson counts (the mission soak, fault_injection/soak.py) ---------------------------
# Exact (Garwood) interval of a Poisson mean from an observed count k (F. Garwood,
# "Fiducial limits for the Poisson distribution", Biometrika 28 (1936) 437-442):
#     low  = chi2.ppf(a/2, 2k) / 2       (0 when k = 0)
#     high = chi2.ppf(1 - a/2, 2k + 2) / 2,     a = 1 - confidence,
# computed here without scipy through the equivalent Poisson tail equations
# P(X >= k | low) = a/2 and P(X <= k | high) = a/2 (the chi-square / Poisson identity),
# solved by bisection on the exact CDF. Closed forms at the ends: k = 0 gives
# high = -ln(a/2); k = 1 gives low = -ln(1 - a/2).

def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidArgumentError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_mean(mean) -> float:
    if isinstance(mean, bool) or not isinstance(mean, (int, float, np.floating)) or not math.isfinite(mean) \
            or mean < 0:
        raise InvalidArgumentError(f"Poisson mean must be a finite number >= 0, got {mean!r}")
    return float(mean)


def _poisson_cdf_table(n_max: int, mean: float) -> np.ndarray:
    """P(X <= n) for n = 0..n_max, X ~ Poisson(mean): pmf terms in log space (no overflow
    for large means), cumulated."""
    if mean == 0.0:
        return np.ones(n_max + 1)
    n = np.arange(1, n_max + 1, dtype=np.float64)
    log_pmf = -mean + np.concatenate(([0.0], np.cumsum(math.log(mean) - np.log(n))))
    return np.minimum(np.cumsum(np.exp(log_pmf)), 1.0)


def poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean); k an int >= 0, mean a finite number >= 0."""
    return float(_poisson_cdf_table(_check_count("k (count)", k), _check_mean(mean))[-1])


def _bisect_mean(tail, target: float, hi: float) -> float:
    """The mean m in [0, hi] where the decreasing function tail(m) crosses target."""
    lo = 0.0
    while tail(hi) > target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if tail(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return 0.5 * (lo + hi)


def poisson_interval(k: int, confidence: float = 0.95) -> Tuple[float, float]:
    """Garwood's exact interval (low, high) of a Poisson mean after observing k events
    (see the comment above); divide by the exposure for a rate interval."""
    k = _check_count("k (count)", k)
    half = (1.0 - _check_fraction("confidence", confidence)) / 2.0
    start = k + 10.0 * math.sqrt(k) + 10.0
    # P(X <= k-1 | m) falls as m grows: low is where it reaches 1 - a/2.
    low = 0.0 if k == 0 else _bisect_mean(lambda m: poisson_cdf(k - 1, m), 1.0 - half, start)
    high = _bisect_mean(lambda m: poisson_cdf(k, m), half, start)
    return low, high


def poisson_range(mean: float, confidence: float = 0.95) -> Tuple[int, int]:
    """The central range [low, high] of counts of X ~ Poisson(mean) holding at least
    `confidence` of its probability: low = min{n : P(X <= n) > a/2}, high = min{n :
    P(X <= n) >= 1 - a/2}, a = 1 - confidence, so P(X < low) <= a/2 and P(X > high) <= a/2.
    An observed count outside it refutes the mean at level a (two-sided exact test)."""
    mean = _check_mean(mean)
    half = (1.0 - _check_fraction("confidence", confidence)) / 2.0
    n_max = int(mean + 12.0 * math.sqrt(mean) + 30.0)
    cdf = _poisson_cdf_table(n_max, mean)
    low = int(np.searchsorted(cdf, half, side="right"))
    high = int(np.searchsorted(cdf, 1.0 - half, side="left"))
    return low, min(high, n_max)

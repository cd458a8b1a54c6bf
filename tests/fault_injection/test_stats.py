import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fault_injection.stats import (achieved_margin, breakdown, group_rates, normal_quantile, proportion,
                                   sample_size, sample_size_exact, wilson_interval)


def test_normal_quantile():
    assert normal_quantile(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert normal_quantile(0.99) == pytest.approx(2.575829, abs=1e-6)


def test_infinite_population_matches_leveugle():
    # Leveugle et al. DATE 2009 (t = 1.96, p = 0.5): ~9604 at e = 1%, ~384 at e = 5%.
    # With the exact quantile n = 9603.65 and 384.15; rounding up meets the margin.
    huge = 10 ** 15
    assert sample_size_exact(huge, 0.01) == pytest.approx(9603.6, abs=0.1)
    assert sample_size(huge, 0.01) == 9604
    assert sample_size_exact(huge, 0.05) == pytest.approx(384.15, abs=0.01)
    assert sample_size(huge, 0.05) == 385
    assert sample_size(huge, 0.01, confidence=0.99) == 16588  # 2.5758^2 / 4 / 1e-4 = 16587.2


@pytest.mark.parametrize("population, expected", [(100, 80), (1000, 278), (10000, 370), (10 ** 6, 384)])
def test_finite_population_matches_published_tables(population, expected):
    # The same formula as Krejcie & Morgan (1970), whose table at e = 5%, 95% reads
    # 80, 278, 370, 384 for these populations.
    assert sample_size(population, 0.05) == expected


def test_small_populations():
    assert sample_size(1, 0.01) == 1
    assert sample_size(10, 0.01) == 10
    assert sample_size(50, 0.5) <= 50


@pytest.mark.parametrize("kwargs, match", [
    (dict(population=0), r"population \(fault space size\) must be an integer >= 1, got 0"),
    (dict(population=10.5), r"population .* got 10.5"),
    (dict(population=100, margin=0), r"margin must be a number strictly between 0 and 1, got 0"),
    (dict(population=100, margin=1.5), r"margin .* got 1.5"),
    (dict(population=100, confidence=1.0), r"confidence .* got 1.0"),
    (dict(population=100, confidence=-0.1), r"confidence .* got -0.1"),
    (dict(population=100, p=0), r"p \(expected proportion\) .* got 0"),
])
def test_sample_size_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sample_size(**kwargs)


@given(st.integers(1, 10 ** 12), st.floats(0.001, 0.5), st.sampled_from([0.9, 0.95, 0.99]))
@settings(max_examples=200, deadline=None)
def test_sample_size_properties(population, margin, confidence):
    n = sample_size(population, margin, confidence)
    assert 1 <= n <= population
    assert n <= sample_size(population + 1, margin, confidence)
    assert n >= sample_size(population, min(0.99, margin * 1.5), confidence)
    # n injections do meet the margin (Leveugle's formula solved for e).
    assert achieved_margin(n, population, confidence) <= margin * (1 + 1e-9)


def test_achieved_margin():
    assert achieved_margin(9604, 10 ** 15) == pytest.approx(0.01, rel=1e-4)
    assert achieved_margin(5, 5) == 0.0
    with pytest.raises(ValueError, match=r"n \(injections\) must be an integer from 1 to the population 5, got 6"):
        achieved_margin(6, 5)


@pytest.mark.parametrize("k, n, low, high", [
    # Newcombe, Statistics in Medicine 17 (1998) 857-872, table I, method 3 (Wilson).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
    (5, 10, 0.2366, 0.7634),
])
def test_wilson_matches_published_values(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_ends_are_exact():
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0


@pytest.mark.parametrize("k, n, match", [
    (1, 0, r"n \(trials\) must be an integer >= 1, got 0"),
    (5, 4, r"k \(successes\) must be an integer from 0 to n=4, got 5"),
    (-1, 4, r"k \(successes\) .* got -1"),
])
def test_wilson_rejects_bad_counts(k, n, match):
    with pytest.raises(ValueError, match=match):
        wilson_interval(k, n)


@given(st.integers(1, 10 ** 6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.95, 0.999]))
@settings(max_examples=300, deadline=None)
def test_wilson_properties(kn, confidence):
    k, n = kn
    low, high = wilson_interval(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0
    mirror = wilson_interval(n - k, n, confidence)
    assert mirror[0] == pytest.approx(1 - high, abs=1e-12)
    assert mirror[1] == pytest.approx(1 - low, abs=1e-12)
    wider = wilson_interval(k, n, min(0.9999, confidence + 0.01))
    assert wider[0] <= low + 1e-12 and wider[1] >= high - 1e-12


def test_proportion_and_breakdown():
    p = proportion(3, 10)
    assert (p.k, p.n, p.rate) == (3, 10, 0.3)
    assert p.as_dict()["confidence"] == 0.95
    counts = {"weights": {"masked": 90, "sdc": 7, "critical_sdc": 3}, "input": {"masked": 5}, "empty": {}}
    rates = breakdown(counts, ["sdc", "critical_sdc"])
    assert set(rates) == {"weights", "input"}
    assert (rates["weights"].k, rates["weights"].n) == (10, 100)
    assert rates["weights"].low == pytest.approx(wilson_interval(10, 100)[0])
    assert (rates["input"].k, rates["input"].rate, rates["input"].low) == (0, 0.0, 0.0)


def test_group_rates():
    rates = group_rates([(0, True), (0, False), (1, False), (0, True)])
    assert (rates[0].k, rates[0].n) == (2, 3)
    assert (rates[1].k, rates[1].n) == (0, 1)
    assert math.isclose(rates[0].rate, 2 / 3)

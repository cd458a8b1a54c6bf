import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fault_injection.outcome import (Golden, Tolerance, Verdict, classify, health_delta, is_classifier_output,
                                     max_abs_error, outputs_sha256, top1_class)
from fault_injection.vocabulary import OUTCOMES
from runtime.errors import CompileError, UncorrectableUpsetError

LOGITS = np.array([[0.5, 3.0, -1.0, 2.0]], dtype=np.float32)


def golden(*outputs):
    return Golden(outputs or (LOGITS,))


def changed(value, index=(0, 0), base=LOGITS):
    out = base.copy()
    out[index] = value
    return out


def test_bit_identical_is_masked():
    v = classify(golden(), [LOGITS.copy()])
    assert v == Verdict("masked", 0.0, False, golden_class=1, faulty_class=1)


def test_corrected_needs_a_repair_counter_and_exact_output():
    for counter in ("upsets_corrected", "vote_disagreements", "reexecutions"):
        v = classify(golden(), [LOGITS.copy()], health={counter: 1, "scrub_passes": 4})
        assert v.outcome == "corrected"
    # A scrub pass alone repaired nothing.
    assert classify(golden(), [LOGITS.copy()], health={"scrub_passes": 3}).outcome == "masked"
    # A claimed repair with a wrong output is a silent failure of the repair.
    v = classify(golden(), [changed(0.7)], health={"upsets_corrected": 1})
    assert v.outcome == "sdc"


def test_tolerance_boundary():
    tol = Tolerance(rtol=1e-4, atol=1e-5)
    g = golden()
    # Element 1 is 3.0: allowed |diff| <= 1e-5 + 3e-4.
    assert classify(g, [changed(3.0 + 2.5e-4, (0, 1))], tolerance=tol).outcome == "tolerable"
    v = classify(g, [changed(3.0 + 5e-4, (0, 1))], tolerance=tol)
    assert v.outcome == "sdc"
    assert v.max_abs_error == pytest.approx(5e-4, rel=1e-3)
    assert v.top1_changed is False


def test_signed_zero_differs_bitwise_but_is_tolerable():
    g = golden(np.array([[0.0, 1.0]], np.float32))
    v = classify(g, [np.array([[-0.0, 1.0]], np.float32)])
    assert v.outcome == "tolerable" and v.max_abs_error == 0.0


def test_top1_change_is_critical_even_within_tolerance():
    g = golden(np.array([[1.0, 1.000001]], np.float32))
    v = classify(g, [np.array([[1.000002, 1.000001]], np.float32)])
    assert v.outcome == "critical_sdc" and v.top1_changed is True


def test_nan_is_never_tolerable_where_golden_is_a_number():
    v = classify(golden(), [changed(np.nan, (0, 2))])
    # Top-1 of an output with a NaN is no class: the decision changed.
    assert v == Verdict("critical_sdc", float("inf"), True, golden_class=1, faulty_class=None)
    non_classifier = np.ones((1, 3, 2, 2), np.float32)
    bad = non_classifier.copy()
    bad[0, 0, 0, 0] = np.nan
    v = classify(golden(non_classifier), [bad])
    assert v.outcome == "sdc" and v.top1_changed is None and v.max_abs_error == float("inf")


def test_nan_where_golden_is_nan_is_tolerable():
    base = np.array([[np.nan, 1.0, 2.0]], np.float32)
    out = base.copy()
    out[0, 2] = 2.0001
    v = classify(golden(base), [out])
    assert v.outcome == "tolerable" and v.top1_changed is False


def test_infinities():
    base = np.array([[np.inf, 1.0]], np.float32)
    out = base.copy()
    out[0, 1] = 1.00001
    assert classify(golden(base), [out]).outcome == "tolerable"
    out[0, 0] = -np.inf
    v = classify(golden(base), [out])
    assert v.outcome == "critical_sdc" and v.max_abs_error == float("inf")


def test_due_from_the_runtime_error_or_the_counter():
    v = classify(golden(), None, raised=UncorrectableUpsetError("weights block 3: golden copy corrupt"))
    assert v.outcome == "due" and "weights block 3" in v.error
    v = classify(golden(), [changed(9.0)], health={"uncorrectable": 1})
    assert v.outcome == "due" and v.top1_changed is True


def test_other_exceptions_are_crashes():
    v = classify(golden(), None, raised=CompileError("boom"))
    assert v.outcome == "crash" and v.error == "CompileError: boom"


def test_executor_outcomes():
    assert Verdict.crash("exit -11") == Verdict("crash", error="exit -11")
    assert Verdict.hang() == Verdict("hang")
    assert {Verdict.crash().outcome, Verdict.hang().outcome} <= set(OUTCOMES)


def test_classify_needs_outputs_or_an_exception():
    with pytest.raises(ValueError, match="needs the run's outputs or the exception"):
        classify(golden(), None)


def test_shape_and_count_mismatch_are_errors():
    with pytest.raises(ValueError, match="run returned 2 outputs, the golden run 1"):
        classify(golden(), [LOGITS, LOGITS])
    with pytest.raises(ValueError, match=r"output 0: float32 \(4,\) does not match the golden float32 \(1, 4\)"):
        classify(golden(), [LOGITS.reshape(4)])


def test_multiple_outputs_classifier_is_the_first():
    feature = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    g = golden(feature, np.zeros((2, 2), np.float32))
    assert g.is_classifier and g.top1 == 5
    second = np.zeros((2, 2), np.float32)
    second[1, 1] = 1.0
    v = classify(g, [feature.copy(), second])
    assert v.outcome == "sdc" and v.top1_changed is False and v.max_abs_error == 1.0


@pytest.mark.parametrize("shape, dtype, expected", [
    ((1, 10), np.float32, True), ((1, 10, 1, 1), np.float32, True), ((1, 1), np.float32, False),
    ((2, 10), np.float32, False), ((1, 10, 2, 1), np.float32, False), ((10,), np.float32, False),
    ((1, 10), np.int64, False),
])
def test_classifier_output_identification(shape, dtype, expected):
    assert is_classifier_output(np.zeros(shape, dtype)) is expected


def test_top1_ties_take_the_first():
    assert top1_class(np.array([[1.0, 3.0, 3.0]])) == 1
    assert top1_class(np.array([[1.0, np.nan]])) is None


def test_health_delta():
    assert health_delta({"a": 1, "b": 5}, {"a": 3, "b": 5, "c": 2}) == {"a": 2, "b": 0, "c": 2}


def test_golden_copies_and_hashes():
    arr = LOGITS.copy()
    g = Golden([arr])
    arr[0, 0] = 100.0
    assert g.outputs[0][0, 0] == 0.5
    assert g.sha256 == outputs_sha256([LOGITS])
    assert outputs_sha256([LOGITS]) != outputs_sha256([LOGITS.reshape(4)])
    with pytest.raises(ValueError, match="golden run has no outputs"):
        Golden([])


@pytest.mark.parametrize("rtol, atol", [(-1, 0), (0, float("nan")), (float("inf"), 0)])
def test_bad_tolerance(rtol, atol):
    with pytest.raises(ValueError, match="tolerance"):
        Tolerance(rtol, atol)


@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=2, max_size=16),
       st.data())
@settings(max_examples=300, deadline=None)
def test_any_single_bit_flip_is_never_masked(values, data):
    base = np.array([values], np.float32)
    index = data.draw(st.integers(0, base.size - 1))
    bit = data.draw(st.integers(0, 31))
    out = base.copy()
    out.view(np.uint32)[0, index] ^= np.uint32(1 << bit)
    v = classify(Golden([base]), [out])
    assert v.outcome in ("tolerable", "sdc", "critical_sdc")
    assert v.top1_changed == (top1_class(out) != top1_class(base))
    assert v.max_abs_error == max_abs_error([base], [out]) >= 0.0
    if v.outcome == "tolerable":
        assert np.isclose(out, base, rtol=1e-4, atol=1e-5, equal_nan=True).all()


def reference_max_abs_error(golden_outputs, outputs):
    """The element-wise definition, written the slow way."""
    worst = 0.0
    for g, o in zip(golden_outputs, outputs):
        for a, b in zip(np.asarray(g, np.float64).ravel(), np.asarray(o, np.float64).ravel()):
            if a == b or (np.isnan(a) and np.isnan(b)):
                continue
            d = abs(b - a)
            worst = max(worst, d if np.isfinite(d) else np.inf)
    return worst


SPECIAL = st.sampled_from([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-30, 65504.0, 3e38, 1.0])


@settings(max_examples=400, deadline=None)
@given(dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]),
       data=st.data(), rtol=st.sampled_from([0.0, 1e-4, 0.1]), atol=st.sampled_from([0.0, 1e-5, 1.0]))
def test_within_tolerance_is_numpy_isclose_and_max_error_its_definition(dtype, data, rtol, atol):
    from fault_injection.outcome import within_tolerance
    n = data.draw(st.integers(1, 12))
    if np.issubdtype(dtype, np.floating):
        values = st.one_of(SPECIAL, st.floats(-1e4, 1e4, width=16 if dtype == np.float16 else 32))
    else:
        info = np.iinfo(dtype)
        values = st.integers(int(max(info.min, -1000)), int(min(info.max, 1000)))
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)
        o = g.copy()
        for i in data.draw(st.lists(st.integers(0, n - 1), max_size=4)):
            o[i] = data.draw(values)
    with np.errstate(over="ignore", invalid="ignore"):    # the references' inf - inf
        want = bool(np.isclose(o, g, rtol=rtol, atol=atol, equal_nan=True).all())
        worst = reference_max_abs_error([g], [o])
    assert within_tolerance([g], [o], Tolerance(rtol=rtol, atol=atol)) == want
    assert max_abs_error([g], [o]) == worst

"""CumSum on run-time data (runtime/ops/cumsum.py, csrc/kernels/cumsum.c).

Hypothesis against onnxruntime bit for bit (float32, float64, int32, int64: its types)
and a numpy running sum (uint32, uint64 too): shapes, axes (negative too), exclusive,
reverse, NaN, infinities and signed zeros, integer wrap-around. The axis is a compile-
time parameter: fed at run time it is refused by name; constant inputs fold through
the same kernel."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from runtime import InferenceSession
from runtime.errors import CompileError, ModelLoadError, UnsupportedOpError
from tests.ops._scan import assert_same_bits, make_model, run_ort, run_radrt, values

ORT_TYPES = [np.float32, np.float64, np.int32, np.int64]
ALL_TYPES = ORT_TYPES + [np.uint32, np.uint64]


def reference(x, axis, exclusive=0, reverse=0):
    """A running sum along axis in x's type, in scan order (np.add.accumulate adds left
    to right); exclusive shifts it by one with +0 first."""
    xs = np.flip(x, axis) if reverse else x
    with np.errstate(all="ignore"):
        y = np.add.accumulate(xs, axis=axis, dtype=x.dtype)
        if exclusive and y.shape[axis]:
            y = np.moveaxis(y, axis, 0)
            y = np.moveaxis(np.concatenate([np.zeros_like(y[:1]), y[:-1]]), 0, axis)
    return np.flip(y, axis) if reverse else y


@st.composite
def cases(draw, dtypes, specials=True):
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
    x = draw(hnp.arrays(dtype, shape, elements=values(dtype, specials)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    axis_t = draw(st.sampled_from([np.int32, np.int64]))
    axis_v = np.array(axis, axis_t) if draw(st.booleans()) else np.array([axis], axis_t)
    attrs = {"exclusive": draw(st.sampled_from([0, 1])), "reverse": draw(st.sampled_from([0, 1]))}
    return x, axis_v, attrs


@settings(max_examples=150, deadline=None)
@given(case=cases(ORT_TYPES))
def test_matches_onnxruntime_bit_for_bit(case):
    x, axis, attrs = case
    m, feeds = make_model("CumSum", x, [axis], attrs)
    assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))


@settings(max_examples=150, deadline=None)
@given(case=cases(ALL_TYPES, specials=False))
def test_matches_a_numpy_running_sum(case):
    x, axis, attrs = case
    m, feeds = make_model("CumSum", x, [axis], attrs)
    want = reference(x, int(axis.reshape(-1)[0]) % x.ndim, **attrs)
    np.testing.assert_array_equal(run_radrt(m, feeds), want)   # values: -0.0 == 0.0 here


def test_summation_order_is_sequential_in_float32():
    """1e8 + 1 + 1 + ... in float32 stays 1e8 when summed in order (a pairwise or double
    sum would not); reversed, the ones add up first."""
    x = np.array([1e8] + [1.0] * 16, np.float32)
    for reverse in (0, 1):
        m, feeds = make_model("CumSum", x, [np.int64(0)], {"reverse": reverse})
        got = run_radrt(m, feeds)
        assert_same_bits(got, run_ort(m, feeds))
    assert got[0] == np.float32(1e8 + 16)


def test_signed_zeros_and_nan():
    x = np.array([[-0.0, -0.0, np.nan, 1.0], [np.inf, -np.inf, 2.0, -0.0]], np.float32)
    for axis in (0, 1, -1):
        for exclusive in (0, 1):
            for reverse in (0, 1):
                m, feeds = make_model("CumSum", x, [np.int64(axis)], {"exclusive": exclusive, "reverse": reverse})
                assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.uint64])
def test_integers_wrap(dtype):
    info = np.iinfo(dtype)
    x = np.array([info.max, 1, info.max, 2], dtype)
    m, feeds = make_model("CumSum", x, [np.int32(0)])
    got = run_radrt(m, feeds)
    np.testing.assert_array_equal(got, reference(x, 0))
    if dtype in ORT_TYPES:
        assert_same_bits(got, run_ort(m, feeds))


@pytest.mark.parametrize("attrs, axis", [({"exclusive": 1, "reverse": 1}, np.int64(0)), ({}, np.int32(-1)),
                                         ({"reverse": 1}, np.array([1], np.int64))])
def test_constant_input_folds_through_the_kernel(attrs, axis):
    x = np.array([[1, np.nan, 3], [-0.0, 4, 5]], np.float32)
    folded, _ = make_model("CumSum", x, [axis], attrs, fold=True)
    fed, feeds = make_model("CumSum", x, [axis], attrs)
    assert_same_bits(run_radrt(folded, {}), run_ort(fed, feeds))


def test_fed_axis_compiles_on_its_value():
    """The axis is a parameter input (runtime.compile.PARAMETER_INPUTS): a fed axis is
    compiled on, once per distinct value."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    m, feeds = make_model("CumSum", x, [np.int64(1)], fed_consts=True)
    sess = InferenceSession(m, scrub_interval_s=None)
    for axis in (1, 0, -1):
        feeds = {k: (np.asarray(axis, v.dtype).reshape(v.shape) if k != "x" else v) for k, v in feeds.items()}
        (y,) = sess.run(None, feeds)
        np.testing.assert_array_equal(y, np.cumsum(x, axis=axis))


@pytest.mark.parametrize("axis, attrs, match", [
    (np.int64(2), {}, "axis 2 is out of range for rank 2"),
    (np.int64(-3), {}, "axis -3 is out of range for rank 2"),
    (np.array([0, 1], np.int64), {}, r"input 1 \(axis\) has shape \(2,\), expected a scalar"),
    (np.int64(0), {"exclusive": 2}, "attribute exclusive is 2, expected 0 or 1"),
    (np.int64(0), {"reverse": -1}, "attribute reverse is -1, expected 0 or 1"),
])
def test_invalid_axis_and_attributes_are_named(axis, attrs, match):
    m, feeds = make_model("CumSum", np.zeros((2, 3), np.float32), [axis], attrs)
    with pytest.raises((CompileError, ModelLoadError), match=match):
        run_radrt(m, feeds)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16])
def test_types_outside_the_schema_are_refused(dtype):
    m, feeds = make_model("CumSum", np.zeros(3, dtype), [np.int64(0)])
    with pytest.raises((ModelLoadError, UnsupportedOpError), match=np.dtype(dtype).name):
        run_radrt(m, feeds)

"""Sign on run-time data (runtime/ops/sign.py, csrc/kernels/sign.c): hypothesis against
numpy and onnxruntime, bit for bit, on float32, float64 and every integer type. -0.0
gives +0.0 and a NaN passes through unchanged (numpy, onnxruntime's float32 Sign; the
spec does not say), but for the one bit where onnxruntime's float64 Sign differs: it
clears a NaN's sign bit. Constant inputs fold through the same kernel."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from runtime.errors import ModelLoadError, UnsupportedOpError
from tests.ops._scan import FLOATS, INTS, assert_same_bits, make_model, run_ort, run_radrt, values


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(FLOATS + INTS)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7))
    return draw(hnp.arrays(dtype, shape, elements=values(dtype)))


@settings(max_examples=150, deadline=None)
@given(x=arrays())
def test_matches_onnxruntime_and_numpy(x):
    m, feeds = make_model("Sign", x)
    got = run_radrt(m, feeds)
    with np.errstate(invalid="ignore"):
        assert_same_bits(got, np.sign(x))
    assert_same_bits(as_onnxruntime(got), run_ort(m, feeds))


def as_onnxruntime(y):
    """radrt's result with onnxruntime's one difference: its float64 Sign clears a NaN's sign bit."""
    return np.where(np.isnan(y), np.abs(y), y) if y.dtype == np.float64 else y


@pytest.mark.parametrize("dtype", FLOATS)
def test_float_edges(dtype):
    nan = np.array([np.nan], dtype)
    x = np.concatenate([np.array([-0.0, 0.0, -np.inf, np.inf, 1e-300 if dtype == np.float64 else 1e-40,
                                  -5.0], dtype), nan, -nan])
    m, feeds = make_model("Sign", x)
    got = run_radrt(m, feeds)
    assert_same_bits(as_onnxruntime(got), run_ort(m, feeds))
    assert not np.signbit(got[0]) and np.signbit(got[-1]) and np.isnan(got[-1])
    payload = np.array([0x7FC01234, 0xFFC00001], np.uint32).view(np.float32)   # kept as is
    m, feeds = make_model("Sign", payload.astype(dtype) if dtype == np.float64 else payload)
    assert_same_bits(run_radrt(m, feeds), feeds["x"])


@pytest.mark.parametrize("x", [np.array([-2, 0, np.nan, -0.0, np.inf], np.float32), np.array([-7, 0, 3], np.int32),
                               np.array([0, 255, 1], np.uint8), np.array([np.iinfo(np.int64).min, 0], np.int64)])
def test_constant_input_folds_through_the_kernel(x):
    folded, _ = make_model("Sign", x, fold=True)
    fed, feeds = make_model("Sign", x)
    assert_same_bits(run_radrt(folded, {}), run_ort(fed, feeds))


def test_bool_is_refused():
    m, feeds = make_model("Sign", np.array([True, False]))
    with pytest.raises((ModelLoadError, UnsupportedOpError), match="bool"):
        run_radrt(m, feeds)

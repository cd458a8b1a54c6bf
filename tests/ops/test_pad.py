"""Pad: every mode, negative pads, axes, constant_value, any element type."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from runtime.errors import CompileError
from tests.ops.oneop import (assert_deterministic, check_frozen_node_case, compare, node_case_names, one_node,
                             run_radrt)


@pytest.mark.parametrize("name", node_case_names("test_constant_pad", "test_edge_pad",
                                                 "test_reflect_pad", "test_wrap_pad"))
def test_node_cases_with_constant_inputs(name):
    check_frozen_node_case(name)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(3, 5), min_size=1, max_size=4), st.sampled_from(["constant", "reflect", "edge"]),
       st.data())
def test_pad_property(shape, mode, draw):
    # Pads within what onnxruntime accepts for the mode (reflect: no cropping, pads below
    # the axis length).
    lo, hi = (0, lambda d: d - 1) if mode == "reflect" else (-1, lambda d: 3)
    pads = [draw.draw(st.integers(lo, hi(d))) for d in shape] + \
           [draw.draw(st.integers(lo, hi(d))) for d in shape]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    consts = [np.array(pads, np.int64)] + ([np.array(2.5, np.float32)] if mode == "constant" else [])
    compare(one_node("Pad", x, consts, attrs={"mode": mode}), x, exact=True)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.uint8, np.float16])
def test_pad_dtypes(dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    for mode in ("constant", "reflect", "edge", "wrap"):
        m = one_node("Pad", x, [np.array([1, 2, 2, 1], np.int64)], attrs={"mode": mode})
        np.testing.assert_array_equal(run_radrt(m, x)[0], np.pad(x, ((1, 2), (2, 1)), mode=mode))


def test_pad_opset2_attribute_and_cropping():
    x = np.arange(20, dtype=np.float32).reshape(4, 5)
    m = one_node("Pad", x, attrs={"pads": [1, -2, 0, 1], "value": 7.0}, opset=2)
    np.testing.assert_array_equal(run_radrt(m, x)[0], np.pad(x[:, 2:], ((1, 0), (0, 1)), constant_values=7))


def test_pad_axes_and_large_reflect():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    m = one_node("Pad", x, [np.array([5, 4], np.int64), None, np.array([-1], np.int64)], attrs={"mode": "reflect"})
    np.testing.assert_array_equal(run_radrt(m, x)[0], np.pad(x, ((0, 0), (0, 0), (5, 4)), mode="reflect"))
    assert_deterministic(m, x)


def test_pad_errors():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(CompileError, match=r"Pad node 'pad1': pads \[1, 1\] has 2 values, expected 4"):
        run_radrt(one_node("Pad", x, [np.array([1, 1], np.int64)]), x)
    with pytest.raises(CompileError, match=r"pads \(-2, -2\) crop more than the 3 elements of axis 1"):
        run_radrt(one_node("Pad", x, [np.array([0, -2, 0, -2], np.int64)]), x)
    pads = np.array([0, 1, 0, 1], np.int64)
    # pads fed at run time: compiled on the fed value (runtime.session)
    (y,) = run_radrt(one_node("Pad", np.ones_like(x), runtime_inputs=(pads,)), np.ones_like(x), pads)
    np.testing.assert_array_equal(y, np.pad(np.ones_like(x), [(0, 0), (1, 1)]))

"""Resize and Upsample vs the ONNX node tests and onnxruntime."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from runtime.errors import CompileError, UnsupportedOpError
from tests.ops.oneop import (assert_deterministic, check_frozen_node_case, compare, node_case_names, one_node,
                             run_radrt)

EMPTY = np.zeros(0, np.float32)


@pytest.mark.parametrize("name", node_case_names("test_resize", "test_upsample"))
def test_node_cases_with_constant_inputs(name):
    check_frozen_node_case(name)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 12), st.integers(1, 12),
       st.sampled_from(["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]),
       st.sampled_from(["linear", "nearest", "cubic"]),
       st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]))
def test_resize_nchw_property(h, w, oh, ow, ctm, mode, nearest_mode):
    x = np.random.default_rng(2).standard_normal((1, 2, h, w)).astype(np.float32)
    sizes = np.array([1, 2, oh, ow], np.int64)
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "nearest_mode": nearest_mode}
    compare(one_node("Resize", x, [EMPTY, EMPTY, sizes], attrs=attrs, opset=13), x,
                       exact=mode == "nearest")


@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 0.5, 0.5], [1, 1, 3, 1.5]])
def test_bilinear_scales_matches_ort(scales):
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    m = one_node("Resize", x, [EMPTY, np.array(scales, np.float32)], attrs={"mode": "linear"}, opset=13)
    compare(m, x, exact=False)
    assert_deterministic(m, x)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_])
def test_nearest_any_dtype(dtype):
    x = (np.arange(2 * 3 * 4) % 7).reshape(1, 2, 3, 4).astype(dtype)
    m = one_node("Resize", x, [EMPTY, np.array([1, 1, 2, 2], np.float32)], attrs={"mode": "nearest"}, opset=13)
    np.testing.assert_array_equal(run_radrt(m, x)[0], x.repeat(2, axis=2).repeat(2, axis=3))


@pytest.mark.parametrize("opset", [7, 9, 10])
def test_upsample_and_resize10_nearest(opset):
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    scales = [1.0, 1.0, 2.0, 3.0]
    if opset == 7:
        m = one_node("Upsample", x, attrs={"scales": scales, "mode": "nearest"}, opset=7)
    else:
        m = one_node("Upsample" if opset == 9 else "Resize", x, [np.array(scales, np.float32)],
                     attrs={"mode": "nearest"}, opset=opset)
    np.testing.assert_array_equal(run_radrt(m, x)[0], x.repeat(2, axis=2).repeat(3, axis=3))


def test_resize10_linear_matches_ort():
    x = np.random.default_rng(4).standard_normal((1, 2, 5, 7)).astype(np.float32)
    m = one_node("Resize", x, [np.array([1, 1, 2, 0.5], np.float32)], attrs={"mode": "linear"}, opset=10)
    compare(m, x, exact=False)


def test_linear_rejects_integer_input():
    x = np.zeros((1, 1, 2, 2), np.int64)
    m = one_node("Resize", x, [EMPTY, np.array([1, 1, 2, 2], np.float32)], attrs={"mode": "linear"}, opset=13)
    with pytest.raises(UnsupportedOpError, match="Resize node 'resize1': input 0 has dtype int64, linear "
                                                 "resize supports float32 only"):
        run_radrt(m, x)


def test_resize_errors():
    x = np.zeros((1, 1, 2, 2), np.float32)
    scales = np.array([1, 1, 2, 2], np.float32)
    with pytest.raises(UnsupportedOpError, match=r"Resize node 'resize1': input 2 \(scales\) must be a constant"):
        run_radrt(one_node("Resize", x, [EMPTY], runtime_inputs=(scales,), opset=13), x, scales)
    with pytest.raises(CompileError, match="exactly one of scales and sizes"):
        run_radrt(one_node("Resize", x, [EMPTY, scales, np.array([1, 1, 4, 4], np.int64)], opset=13), x)
    with pytest.raises(CompileError, match=r"scales \[1.0, 2.0\] must be 4 positive values"):
        run_radrt(one_node("Resize", x, [EMPTY, np.array([1, 2], np.float32)], opset=13), x)
    with pytest.raises(UnsupportedOpError, match="coordinate_transformation_mode 'bogus' is not supported"):
        run_radrt(one_node("Resize", x, [EMPTY, scales], attrs={"coordinate_transformation_mode": "bogus"},
                           opset=13), x)

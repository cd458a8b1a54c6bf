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
    # scales fed at run time: compiled on the fed value (runtime.session)
    (y,) = run_radrt(one_node("Resize", x, [EMPTY], runtime_inputs=(scales,), opset=13), x, scales)
    assert y.shape == (1, 1, 4, 4)
    with pytest.raises(CompileError, match="exactly one of scales and sizes"):
        run_radrt(one_node("Resize", x, [EMPTY, scales, np.array([1, 1, 4, 4], np.int64)], opset=13), x)
    with pytest.raises(CompileError, match=r"scales \[1.0, 2.0\] must be 4 positive values"):
        run_radrt(one_node("Resize", x, [EMPTY, np.array([1, 2], np.float32)], opset=13), x)
    with pytest.raises(UnsupportedOpError, match="coordinate_transformation_mode 'bogus' is not supported"):
        run_radrt(one_node("Resize", x, [EMPTY, scales], attrs={"coordinate_transformation_mode": "bogus"},
                           opset=13), x)


# -- coordinates: every coordinate_transformation_mode x nearest_mode vs the reference --
# Nearest indices are exact, so a coordinate computed one rounding away from an integer
# (or a .5) shows as a different row (red team row 2: tf_crop_and_resize with a float32
# roi whose span is computed in float64 gave 1.99999995 for 2.0, and floor picked row 1).

def _reference(m, x):
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(m).run(None, {"x": x})[0]


# tf_half_pixel_for_nn is not in the reference evaluator (and onnxruntime computes it in
# float32, so it differs from the real-number formula near ties); radrt computes it in
# float64 like every other mode.
ALL_CTM = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric",
           "tf_crop_and_resize"]
ALL_NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


@pytest.mark.parametrize("ctm", ALL_CTM)
@pytest.mark.parametrize("nearest_mode", ALL_NEAREST)
def test_nearest_coordinates_match_the_reference_on_every_mode(ctm, nearest_mode):
    attrs = {"mode": "nearest", "coordinate_transformation_mode": ctm, "nearest_mode": nearest_mode}
    rois = [np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 0.8], np.float32),
            np.array([0, 0, 0.1, 0.3, 1, 1, 0.7, 0.6], np.float32),
            np.array([0, 0, -0.25, 0.4, 1, 1, 1.25, 0.6], np.float32)]
    checked = 0
    for h, w in [(4, 5), (3, 7), (6, 6), (5, 3)]:
        x = np.arange(h * w, dtype=np.float32).reshape(1, 1, h, w)
        for oh, ow in [(7, 3), (9, 10), (2, 13), (12, 6), (1, 5)]:
            if ctm == "pytorch_half_pixel" and 1 in (oh, ow):
                continue  # the reference uses -0.5 there, the spec (and radrt, onnxruntime) 0
            roi = rois[checked % len(rois)] if ctm == "tf_crop_and_resize" else EMPTY
            sizes = np.array([1, 1, oh, ow], np.int64)
            m = one_node("Resize", x, [roi, EMPTY, sizes], attrs=attrs, opset=19)
            np.testing.assert_array_equal(run_radrt(m, x)[0], _reference(m, x), err_msg=f"{h, w, oh, ow}")
            checked += 1
        for scales in ([1, 1, 1.75, 0.6], [1, 1, 2.5, 1 / 3], [1, 1, 0.3, 1.4]):
            if ctm == "pytorch_half_pixel" and 1 in (int(np.float32(s) * d) for s, d in zip(scales, x.shape)):
                continue
            roi = rois[checked % len(rois)] if ctm == "tf_crop_and_resize" else EMPTY
            m = one_node("Resize", x, [roi, np.array(scales, np.float32)], attrs=attrs, opset=19)
            np.testing.assert_array_equal(run_radrt(m, x)[0], _reference(m, x), err_msg=f"{h, w, scales}")
            checked += 1
    assert checked > 15


@pytest.mark.parametrize("roi_dtype", [np.float32, np.float64])
def test_tf_crop_and_resize_floor_lands_on_the_exact_row(roi_dtype):
    x = np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5)
    roi = np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 0.8], roi_dtype)
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize", "nearest_mode": "floor"}
    m = one_node("Resize", x, [roi, EMPTY, np.array([1, 1, 7, 3], np.int64)], attrs=attrs, opset=19)
    got = run_radrt(m, x)[0]
    np.testing.assert_array_equal(got, _reference(m, x))
    if roi_dtype == np.float32:  # 0.9f - 0.2f rounds to 0.7f: x_original of row 4 is 2.0
        np.testing.assert_array_equal(got[0, 0, 4], [10, 11, 13])

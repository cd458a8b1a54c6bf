"""MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool against onnxruntime."""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from runtime.errors import CompileError, ModelLoadError, UnsupportedOpError
from tests.ops.oneop import (assert_node_deterministic, compare_node, node_model, rng, run_ort, run_radrt)
from onnx import TensorProto


@st.composite
def pool_2d_config(draw):
    kernel = [draw(st.integers(1, 4)) for _ in range(2)]
    strides = [draw(st.integers(1, 3)) for _ in range(2)]
    dilations = [draw(st.integers(1, 3)) for _ in range(2)]
    pads = [draw(st.integers(0, kernel[i % 2] - 1)) for i in range(4)]  # onnxruntime: pad < kernel
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 11)), draw(st.integers(1, 11)))
    ceil_mode = draw(st.integers(0, 1))
    for i in range(2):
        assume(shape[2 + i] + pads[i] + pads[2 + i] >= (kernel[i] - 1) * dilations[i] + 1)
    return shape, dict(kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads, ceil_mode=ceil_mode)


def _compare_or_skip_empty_window(op, x, attrs):
    try:
        compare_node(op, [("x", x)], attrs=attrs, opset=19)
    except CompileError as e:
        # radrt rejects windows that hold padding only (onnxruntime returns -FLT_MAX / 0 there)
        assert "entirely in the padding" in str(e)
        assume(False)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(pool_2d_config(), st.integers(0, 2**31 - 1))
def test_maxpool_2d_matches_onnxruntime(config, seed):
    shape, attrs = config
    x = rng(seed).standard_normal(shape).astype(np.float32)
    _compare_or_skip_empty_window("MaxPool", x, attrs)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(pool_2d_config(), st.integers(0, 1), st.integers(0, 2**31 - 1))
def test_averagepool_2d_matches_onnxruntime(config, count_include_pad, seed):
    shape, attrs = config
    x = rng(seed).standard_normal(shape).astype(np.float32)
    _compare_or_skip_empty_window("AveragePool", x, dict(attrs, count_include_pad=count_include_pad))


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("shape,attrs", [
    ((2, 3, 17), dict(kernel_shape=[3], strides=[2], pads=[1, 1])),
    ((1, 2, 5, 6, 7), dict(kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 1], ceil_mode=1)),
    ((1, 2, 9, 9), dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ((1, 2, 9, 10), dict(kernel_shape=[4, 3], strides=[2, 3], auto_pad="SAME_LOWER")),
    ((1, 2, 9, 10), dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="VALID")),
    ((1, 64, 56, 56), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
])
def test_pool_shapes_and_auto_pad(op, shape, attrs):
    x = rng(1).standard_normal(shape).astype(np.float32)
    compare_node(op, [("x", x)], attrs=attrs, opset=19)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("shape,attrs", [
    ((2, 3, 8, 7), dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1])),
    ((1, 2, 4, 5, 6), dict(kernel_shape=[2, 2, 3], strides=[2, 1, 2])),
])
def test_maxpool_indices(shape, attrs, storage_order):
    x = rng(2).standard_normal(shape).astype(np.float32)
    compare_node("MaxPool", [("x", x)], attrs=dict(attrs, storage_order=storage_order), opset=12,
                     outputs=("y", "indices"), output_types=[TensorProto.FLOAT, TensorProto.INT64])


def test_maxpool_keeps_nan_and_inf():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 3, 3] = np.inf
    (y,) = run_radrt(node_model("MaxPool", [("x", x)], attrs=dict(kernel_shape=[2, 2], strides=[2, 2])),
                     {"x": x})
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 1, 1] == np.inf and y[0, 0, 0, 1] == 0


@pytest.mark.parametrize("op", ["GlobalMaxPool", "GlobalAveragePool"])
@pytest.mark.parametrize("shape", [(2, 3, 7), (1, 5, 6, 7), (2, 2, 3, 4, 5)])
def test_global_pool(op, shape):
    x = rng(3).standard_normal(shape).astype(np.float32)
    compare_node(op, [("x", x)])


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 2], pads=[1, 0, 1, 1], count_include_pad=1, ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
    ("GlobalAveragePool", {}),
])
def test_pool_deterministic(op, attrs):
    x = rng(4).standard_normal((2, 4, 13, 11)).astype(np.float32)
    assert_node_deterministic(op, [("x", x)], attrs=attrs, opset=19)


@pytest.mark.parametrize("attrs,shape,error,match", [
    (dict(kernel_shape=[3, 3]), (1, 1, 5), CompileError, r"kernel_shape \[3, 3\] has 2 values, expected 1"),
    (dict(), (1, 1, 5, 5), ModelLoadError, "required attribute 'kernel_shape' is missing"),
    (dict(kernel_shape=[3, 3], strides=[0, 1]), (1, 1, 5, 5), CompileError, r"strides \[0, 1\] must all be >= 1"),
    (dict(kernel_shape=[3, 3], pads=[1, 1, 1]), (1, 1, 5, 5), CompileError, "has 3 values, expected 4"),
    (dict(kernel_shape=[3, 3], auto_pad="SAME"), (1, 1, 5, 5), CompileError, "auto_pad 'SAME' is not one of"),
    (dict(kernel_shape=[6, 1]), (1, 1, 5, 5), CompileError, "kernel extent 6 .* larger than the padded input"),
    (dict(kernel_shape=[2]), (1, 5), CompileError, r"shape \(1, 5\), expected rank 3, 4 or 5"),
    (dict(kernel_shape=[1, 1, 1, 1]), (1, 1, 2, 2, 2, 2), UnsupportedOpError, "1 to 3 spatial axes, not 4"),
])
def test_pool_bad_inputs(attrs, shape, error, match):
    x = np.zeros(shape, np.float32)
    with pytest.raises(error, match=match):
        run_radrt(node_model("MaxPool", [("x", x)], attrs=attrs), {"x": x})


def test_pool_rejects_non_float():
    x = np.zeros((1, 1, 4, 4), np.float64)  # valid ONNX (int32 is not: the load stage refuses it)
    with pytest.raises(UnsupportedOpError, match="dtype float64, radrt kernels support float32 only"):
        run_radrt(node_model("GlobalMaxPool", [("x", x)], output_types=[TensorProto.DOUBLE]), {"x": x})
    x = np.zeros((1, 1, 4, 4), np.int32)
    with pytest.raises(ModelLoadError, match=r"input 0 \(X\) 'x' has type tensor\(int32\), GlobalMaxPool-1 allows"):
        run_radrt(node_model("GlobalMaxPool", [("x", x)], output_types=[TensorProto.INT32]), {"x": x})


def test_pool_window_in_padding_only_is_rejected():
    x = np.ones((1, 1, 3, 3), np.float32)
    attrs = dict(kernel_shape=[2, 2], dilations=[4, 4], pads=[1, 1, 1, 1])
    with pytest.raises(CompileError, match="entirely in the padding"):
        run_radrt(node_model("MaxPool", [("x", x)], attrs=attrs, opset=19), {"x": x})
    # with count_include_pad the window is well defined: the pads count, and sum to 0
    m = node_model("AveragePool", [("x", x)], attrs=dict(attrs, count_include_pad=1), opset=19)
    np.testing.assert_array_equal(run_radrt(m, {"x": x})[0], run_ort(m, {"x": x})[0])

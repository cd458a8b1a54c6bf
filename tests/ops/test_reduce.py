"""Reduce* ops against onnxruntime: axes as attribute and as constant input."""
import numpy as np
import pytest
from onnx import TensorProto

from runtime.errors import CompileError, UnsupportedOpError
from tests.ops.oneop import (assert_node_deterministic, compare_node, node_model, rng, run_ort, run_radrt)

OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
       "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]
AXES_CASES = [None, [0], [1], [2], [-1], [0, 2], [1, 2], [0, 1, 3], [0, 1, 2, 3], [3, 1]]


def _data(op, shape, seed=13):
    x = rng(seed).standard_normal(shape).astype(np.float32)
    if op in ("ReduceLogSum", "ReduceProd"):  # positive, near 1: finite logs and products
        x = (np.abs(x) * 0.5 + 0.5).astype(np.float32)
    return x


def _model_inputs(x, axes, opset, op):
    axes_as_input = opset >= (13 if op == "ReduceSum" else 18)
    if axes is None:
        return [("x", x)], {}, ()
    if axes_as_input:
        return [("x", x), ("axes", np.array(axes, np.int64))], {}, ("axes",)
    return [("x", x)], dict(axes=axes), ()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("axes", AXES_CASES)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_matches_onnxruntime(op, opset, axes, keepdims):
    x = _data(op, (3, 4, 1, 5))
    inputs, attrs, inits = _model_inputs(x, axes, opset, op)
    compare_node(op, inputs, attrs=dict(attrs, keepdims=keepdims), opset=opset, initializers=inits)


@pytest.mark.parametrize("op", OPS)
def test_reduce_noop_with_empty_axes(op):
    """Nothing is reduced: each output is the op over one element."""
    x = _data(op, (2, 3))
    m = node_model(op, [("x", x), ("axes", np.zeros(0, np.int64))], attrs=dict(noop_with_empty_axes=1),
                       opset=18, initializers=("axes",))
    (y,) = run_radrt(m, {"x": x})
    expected = {"ReduceSumSquare": np.square, "ReduceL1": np.abs, "ReduceL2": np.abs,
                "ReduceLogSum": np.log}.get(op, np.asarray)(x)
    np.testing.assert_allclose(y, expected, rtol=1e-6)


@pytest.mark.parametrize("op,identity", [("ReduceSum", 0.0), ("ReduceProd", 1.0), ("ReduceMax", -np.inf),
                                         ("ReduceMin", np.inf), ("ReduceLogSumExp", -np.inf),
                                         ("ReduceL2", 0.0)])
def test_reduce_empty_set_gives_identity(op, identity):
    x = np.zeros((2, 0, 4), np.float32)
    m = node_model(op, [("x", x), ("axes", np.array([1], np.int64))], opset=18, initializers=("axes",))
    (y,) = run_radrt(m, {"x": x})
    assert y.shape == (2, 1, 4)
    np.testing.assert_array_equal(y, np.full((2, 1, 4), identity, np.float32))


def test_reduce_logsumexp_infinities_and_nan():
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [1000.0, 1000.0]], np.float32)
    (y,) = run_radrt(node_model("ReduceLogSumExp", [("x", x)], attrs=dict(axes=[1]), opset=13), {"x": x})
    assert y[0, 0] == -np.inf and y[1, 0] == np.inf and np.isnan(y[2, 0])
    np.testing.assert_allclose(y[3, 0], 1000.0 + np.log(2.0), rtol=1e-6)


def test_reduce_max_keeps_nan():
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]], np.float32)
    (y,) = run_radrt(node_model("ReduceMax", [("x", x)], attrs=dict(axes=[1], keepdims=0), opset=13), {"x": x})
    assert np.isnan(y[0]) and y[1] == 3.0


def test_reduce_large_sum_is_accurate():
    """Double accumulation: a float32 running sum of 2^24 + 1s would stall at 2^24."""
    x = np.ones((1, 1 << 24 | 8), np.float32)
    (y,) = run_radrt(node_model("ReduceSum", [("x", x), ("axes", np.array([1], np.int64))], opset=13,
                                    initializers=("axes",)), {"x": x})
    assert y[0, 0] == float(x.shape[1])


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceLogSumExp", "ReduceL2"])
@pytest.mark.parametrize("axes", [[0], [1], [0, 2]])
def test_reduce_deterministic(op, axes):
    x = _data(op, (17, 31, 13))
    # axes is an attribute up to ReduceSum-11 and ReduceMean/L2/LogSumExp-13
    assert_node_deterministic(op, [("x", x)], attrs=dict(axes=axes), opset=11 if op == "ReduceSum" else 13)


def test_reduce_runtime_axes_compile_on_their_value():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    m = node_model("ReduceSum", [("x", x), ("axes", np.array([1], np.int64))], opset=13)
    (y,) = run_radrt(m, {"x": x, "axes": np.array([1], np.int64)})
    np.testing.assert_array_equal(y, x.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("axes,match", [([2], "axis 2 is out of range for rank 2"),
                                        ([1, -1], r"axes \[1, -1\] name the same axis twice")])
def test_reduce_bad_axes(axes, match):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(CompileError, match=match):
        run_radrt(node_model("ReduceMean", [("x", x)], attrs=dict(axes=axes), opset=13), {"x": x})


def test_reduce_rejects_non_float():
    x = np.zeros((2, 3), np.int64)
    m = node_model("ReduceMax", [("x", x)], attrs=dict(axes=[1]), opset=13, output_types=[TensorProto.INT64])
    with pytest.raises(UnsupportedOpError, match="dtype int64, radrt kernels support float32 only"):
        run_radrt(m, {"x": x})


def test_reduce_zero_sized_kept_axis():
    x = np.zeros((0, 3), np.float32)
    m = node_model("ReduceSum", [("x", x), ("axes", np.array([1], np.int64))], opset=13,
                       initializers=("axes",))
    (y,) = run_radrt(m, {"x": x})
    assert y.shape == (0, 1)
    assert run_ort(m, {"x": x})[0].shape == (0, 1)

"""Softmax and LogSoftmax against onnxruntime, both opset semantics."""
import numpy as np
import pytest

from runtime.errors import CompileError, UnsupportedOpError
from onnx import TensorProto

from tests.ops.oneop import assert_node_deterministic, compare_node, node_model, rng, run_radrt


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("shape,axis", [
    ((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), 2), ((3, 4, 5), -1), ((3, 4, 5), -3), ((7,), 0), ((2, 3, 4, 5), None),
])
def test_softmax_matches_onnxruntime(op, opset, shape, axis):
    x = (rng(5).standard_normal(shape) * 10).astype(np.float32)
    attrs = {} if axis is None else dict(axis=axis)
    compare_node(op, [("x", x)], attrs=attrs, opset=opset)


def test_softmax_semantics_differ_by_opset():
    """Opset 11 normalises the flattened trailing block from axis 1; opset 13 only axis -1."""
    x = rng(6).standard_normal((2, 3, 4)).astype(np.float32)
    (old,) = run_radrt(node_model("Softmax", [("x", x)], opset=11), {"x": x})
    (new,) = run_radrt(node_model("Softmax", [("x", x)], opset=13), {"x": x})
    np.testing.assert_allclose(old.reshape(2, 12).sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(new.sum(axis=-1), 1, rtol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_is_stable_for_large_inputs(op):
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]], np.float32)
    (y,) = compare_node(op, [("x", x)], opset=13)
    assert np.all(np.isfinite(y))


def test_softmax_nan_propagates():
    x = np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]], np.float32)
    (y,) = run_radrt(node_model("Softmax", [("x", x)], opset=13), {"x": x})
    assert np.all(np.isnan(y[0])) and np.all(np.isfinite(y[1]))


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [0, -1])
def test_softmax_deterministic(op, axis):
    x = rng(7).standard_normal((16, 33, 9)).astype(np.float32)
    assert_node_deterministic(op, [("x", x)], attrs=dict(axis=axis), opset=13)


def test_softmax_bad_axis():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(CompileError, match="Softmax node 'n0': axis 2 is out of range for rank 2"):
        run_radrt(node_model("Softmax", [("x", x)], attrs=dict(axis=2), opset=13), {"x": x})


def test_softmax_rejects_non_float():
    x = np.zeros((2, 3), np.float64)
    with pytest.raises(UnsupportedOpError, match="dtype float64, radrt kernels support float32 only"):
        run_radrt(node_model("Softmax", [("x", x)], opset=13, output_types=[TensorProto.DOUBLE]), {"x": x})

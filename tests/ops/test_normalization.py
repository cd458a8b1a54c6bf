"""BatchNormalization (inference), LayerNormalization and LRN against onnxruntime."""
import numpy as np
import pytest

from runtime.errors import CompileError, UnsupportedOpError
from tests.ops.oneop import (assert_node_deterministic, compare_node, node_model, rng, run_radrt)
from onnx import TensorProto


def _bn_inputs(shape, seed=8):
    r = rng(seed)
    c = shape[1]
    return [("x", r.standard_normal(shape).astype(np.float32)),
            ("scale", r.standard_normal(c).astype(np.float32)),
            ("b", r.standard_normal(c).astype(np.float32)),
            ("mean", r.standard_normal(c).astype(np.float32)),
            ("var", r.uniform(0.1, 2.0, c).astype(np.float32))]


@pytest.mark.parametrize("constant", [True, False])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 7), (2, 4, 5, 6), (1, 2, 3, 4, 5)])
def test_batchnorm_matches_onnxruntime(shape, constant):
    inits = ("scale", "b", "mean", "var") if constant else ()
    compare_node("BatchNormalization", _bn_inputs(shape), attrs=dict(epsilon=1e-3), opset=15,
                     initializers=inits)


def test_batchnorm_deterministic():
    assert_node_deterministic("BatchNormalization", _bn_inputs((2, 8, 9, 9)), opset=15)


@pytest.mark.parametrize("attrs,match,error", [
    (dict(training_mode=1), "training_mode=1 is not supported", UnsupportedOpError),
])
def test_batchnorm_training_rejected(attrs, match, error):
    inputs = _bn_inputs((2, 3, 4))
    m = node_model("BatchNormalization", inputs, attrs=attrs, opset=15,
                       initializers=("scale", "b", "mean", "var"))
    with pytest.raises(error, match=match):
        run_radrt(m, {"x": inputs[0][1]})


def test_batchnorm_channel_mismatch():
    inputs = _bn_inputs((2, 3, 4))
    inputs[3] = ("mean", np.zeros(4, np.float32))
    m = node_model("BatchNormalization", inputs, opset=15, initializers=("scale", "b", "mean", "var"))
    with pytest.raises(CompileError, match=r"input 3 \(mean\) has shape \(4,\), expected \(3,\)"):
        run_radrt(m, {"x": inputs[0][1]})


def _ln_inputs(shape, axis, bias=True, scale_shape=None, seed=9):
    r = rng(seed)
    norm = scale_shape if scale_shape is not None else shape[axis:]
    ins = [("x", (r.standard_normal(shape) * 3 + 1).astype(np.float32)),
           ("scale", r.standard_normal(norm).astype(np.float32))]
    if bias:
        ins.append(("b", r.standard_normal(norm).astype(np.float32)))
    return ins


@pytest.mark.parametrize("constant", [True, False])
@pytest.mark.parametrize("shape,axis", [((4, 6), -1), ((2, 3, 5), 1), ((2, 3, 4, 5), -2), ((3, 4), 0)])
def test_layernorm_matches_onnxruntime(shape, axis, constant):
    inits = ("scale", "b") if constant else ()
    compare_node("LayerNormalization", _ln_inputs(shape, axis), attrs=dict(axis=axis, epsilon=1e-3),
                     opset=17, initializers=inits)


def test_layernorm_broadcast_scale_and_no_bias():
    inputs = _ln_inputs((2, 3, 4), 1, bias=False, scale_shape=(1, 4))
    compare_node("LayerNormalization", inputs, attrs=dict(axis=1), opset=17, initializers=("scale",))


def test_layernorm_mean_and_inv_std_outputs():
    compare_node("LayerNormalization", _ln_inputs((3, 4, 5), -1), attrs=dict(axis=-1), opset=17,
                     initializers=("scale", "b"), outputs=("y", "mean", "inv_std_dev"))


def test_layernorm_deterministic():
    assert_node_deterministic("LayerNormalization", _ln_inputs((8, 16, 32), -1), attrs=dict(axis=-1), opset=17,
                         initializers=("scale", "b"))


def test_layernorm_bad_scale_shape():
    inputs = _ln_inputs((2, 3, 4), -1, scale_shape=(3,))
    m = node_model("LayerNormalization", inputs, attrs=dict(axis=-1), opset=17, initializers=("scale", "b"))
    with pytest.raises(CompileError, match=r"input 1 \(Scale\) has shape \(3,\), expected a shape that "
                                           r"broadcasts to the normalised shape \(4,\)"):
        run_radrt(m, {"x": inputs[0][1]})


def test_layernorm_runtime_scale_needing_broadcast_rejected():
    inputs = _ln_inputs((2, 3, 4), 1, bias=False, scale_shape=(1, 4))
    m = node_model("LayerNormalization", inputs, attrs=dict(axis=1), opset=17)
    with pytest.raises(UnsupportedOpError, match="needs it to be a constant"):
        run_radrt(m, {"x": inputs[0][1], "scale": inputs[1][1]})


def test_layernorm_stash_type_outputs_rejected():
    inputs = _ln_inputs((2, 4), -1)
    m = node_model("LayerNormalization", inputs, attrs=dict(stash_type=11), opset=17,
                       initializers=("scale", "b"), outputs=("y", "mean"))
    with pytest.raises(UnsupportedOpError, match="stash_type 11"):
        run_radrt(m, {"x": inputs[0][1]})


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn_matches_onnxruntime(size):
    x = rng(10).standard_normal((2, 7, 5, 5)).astype(np.float32)
    compare_node("LRN", [("x", x)], attrs=dict(size=size, alpha=0.01, beta=0.6, bias=1.5), opset=13)


@pytest.mark.parametrize("size", [2, 3, 4])  # onnxruntime takes odd sizes on rank 4 only
@pytest.mark.parametrize("shape", [(1, 6, 4), (2, 5, 2, 3)])
def test_lrn_matches_formula(size, shape):
    x = rng(11).standard_normal(shape).astype(np.float32)
    alpha, beta, bias = 0.02, 0.75, 2.0
    (y,) = run_radrt(node_model("LRN", [("x", x)], attrs=dict(size=size, alpha=alpha, beta=beta, bias=bias),
                                    opset=13), {"x": x})
    c_n = shape[1]
    sq = np.zeros_like(x)
    for c in range(c_n):
        lo, hi = max(0, c - (size - 1) // 2), min(c_n - 1, c + size // 2)
        sq[:, c] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    np.testing.assert_allclose(y, x / (bias + alpha / size * sq) ** beta, rtol=1e-5)


def test_lrn_deterministic_and_bad_size():
    x = rng(12).standard_normal((2, 8, 6, 6)).astype(np.float32)
    assert_node_deterministic("LRN", [("x", x)], attrs=dict(size=3), opset=13)
    with pytest.raises(CompileError, match="attribute size is 0, expected an int >= 1"):
        run_radrt(node_model("LRN", [("x", x)], attrs=dict(size=0), opset=13), {"x": x})


def test_normalization_rejects_non_float():
    x = np.zeros((1, 2, 3, 3), np.float64)
    with pytest.raises(UnsupportedOpError, match="dtype float64"):
        run_radrt(node_model("LRN", [("x", x)], attrs=dict(size=3), opset=13,
                                 output_types=[TensorProto.DOUBLE]), {"x": x})

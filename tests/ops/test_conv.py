"""Conv: node semantics vs onnxruntime (hypothesis), fast paths, fused clamp,
runtime weights, determinism and validation errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import runtime
from runtime.errors import CompileError, UnsupportedOpError

from .oneop import model, ort_output, radrt_output


def conv_model(x_shape, w, b=None, weights_as_input=False, **attrs):
    """Conv of a runtime input x of x_shape; W an initializer, or a runtime input."""
    x = ("x", np.zeros(x_shape, np.float32))  # types the graph input
    inputs, inits = ([x, ("w", w)], []) if weights_as_input else ([x], [("w", w)])
    if b is not None:
        inits.append(("b", b))
    return model("Conv", inputs=inputs, initializers=inits, attrs=attrs, opset=17, name="conv1",
                 node_inputs=["x", "w"] + (["b"] if b is not None else []))


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@st.composite
def conv_cases(draw):
    spatial = draw(st.sampled_from([1, 2, 2, 2, 3]))
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cin_g = draw(st.integers(1, 4))
    cout_g = draw(st.integers(1, 5))
    kernel = [draw(st.integers(1, 3)) for _ in range(spatial)]
    strides = [draw(st.integers(1, 3)) for _ in range(spatial)]
    dilations = [draw(st.integers(1, 2)) for _ in range(spatial)]
    pads = [draw(st.integers(0, 2)) for _ in range(2 * spatial)]
    pads = [min(p, (k - 1) * d) for p, k, d in zip(pads, kernel * 2, dilations * 2)]
    size_hi = 9 if spatial < 3 else 5
    sizes = [draw(st.integers((k - 1) * d + 1, size_hi)) for k, d in zip(kernel, dilations)]
    batch = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return spatial, group, cin_g, cout_g, kernel, strides, dilations, pads, sizes, batch, bias, seed


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_conv_matches_onnxruntime(case):
    spatial, group, cin_g, cout_g, kernel, strides, dilations, pads, sizes, batch, bias, seed = case
    rng = np.random.default_rng(seed)
    x = rand(rng, batch, cin_g * group, *sizes)
    w = rand(rng, cout_g * group, cin_g, *kernel)
    b = rand(rng, cout_g * group) if bias else None
    m = conv_model(x.shape, w, b, group=group, strides=strides, dilations=dilations, pads=pads)
    want, got = ort_output(m, {"x": x}), radrt_output(m, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("stride", [1, 2])
def test_auto_pad(auto_pad, stride):
    rng = np.random.default_rng(1)
    x, w = rand(rng, 1, 3, 7, 8), rand(rng, 4, 3, 3, 2)
    m = conv_model(x.shape, w, auto_pad=auto_pad, strides=[stride, stride])
    want, got = ort_output(m, {"x": x}), radrt_output(m, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,w_shape,group,strides", [
    ((1, 64, 56, 56), (64, 64, 3, 3), 1, [1, 1]),      # ResNet 3x3: im2col GEMM
    ((1, 256, 14, 14), (64, 256, 1, 1), 1, [1, 1]),    # pointwise fast path
    ((1, 64, 28, 28), (128, 64, 1, 1), 1, [2, 2]),     # strided 1x1
    ((2, 24, 15, 13), (24, 1, 3, 3), 24, [2, 1]),      # depthwise
    ((1, 8, 10, 10), (16, 1, 3, 3), 8, [1, 1]),        # depthwise, multiplier 2
])
def test_layer_shapes(shape, w_shape, group, strides):
    rng = np.random.default_rng(2)
    x, w, b = rand(rng, *shape), rand(rng, *w_shape) * 0.1, rand(rng, w_shape[0])
    m = conv_model(x.shape, w, b, group=group, strides=strides, pads=[w_shape[2] // 2] * 4)
    want, got = ort_output(m, {"x": x}), radrt_output(m, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("group,w_shape", [(1, (6, 4, 3, 3)), (2, (6, 2, 1, 1)), (4, (8, 1, 3, 3))])
def test_runtime_weights(group, w_shape):
    rng = np.random.default_rng(3)
    x, w = rand(rng, 1, 4, 9, 9), rand(rng, *w_shape)
    m = conv_model(x.shape, w, weights_as_input=True, group=group, pads=[1, 1, 1, 1] if w_shape[2] == 3 else [0] * 4)
    want, got = ort_output(m, {"x": x, "w": w}), radrt_output(m, {"x": x, "w": w})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _prepare(node_attrs, x_shape, w, b=None, **node_kw):
    from runtime.load import Node
    from runtime.ops import TensorInfo, lookup
    node = Node("Conv", "conv1", ["x", "w"] + (["b"] if b is not None else []), ["y"], dict(node_attrs), 17)
    ins = [TensorInfo(tuple(x_shape), np.dtype(np.float32)), TensorInfo(w.shape, w.dtype, w)]
    if b is not None:
        ins.append(TensorInfo(b.shape, b.dtype, b))
    return lookup("Conv")(node, ins)


def _run_prepared(prep, arrays, consts):
    """Invoke a Prepared directly on numpy buffers."""
    from runtime._core import ffi, lib
    bufs = [np.ascontiguousarray(a, np.float32) for a in arrays]
    out = np.full(prep.outputs[0].shape, np.nan, np.float32)
    scratch = np.zeros(max(prep.scratch_bytes, 1), np.uint8)
    ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
    fn, args = prep.invoke(lib, [ptr(a) for a in bufs], [ptr(out)], [ptr(c) for c in consts],
                           ptr(scratch) if prep.scratch_bytes else ffi.NULL)
    fn(*args)
    return out


@pytest.mark.parametrize("w_shape,group", [((6, 4, 3, 3), 1), ((4, 4, 1, 1), 1), ((4, 1, 3, 3), 4)])
def test_fused_clip(w_shape, group):
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, 1, 4, 6, 6), rand(rng, *w_shape), rand(rng, w_shape[0])
    attrs = {"group": group, "_fused_clip": (0.0, 0.5)}
    if w_shape[2] == 3:
        attrs["pads"] = [1, 1, 1, 1]
    prep = _prepare(attrs, x.shape, w, b)
    plain = _prepare({k: v for k, v in attrs.items() if k != "_fused_clip"}, x.shape, w, b)
    got = _run_prepared(prep, [x, w, b], prep.constants)
    want = np.clip(_run_prepared(plain, [x, w, b], plain.constants), 0.0, 0.5)
    np.testing.assert_array_equal(got, want)
    relu = _prepare(dict(attrs, _fused_clip=(0.0, math.inf)), x.shape, w, b)
    np.testing.assert_array_equal(_run_prepared(relu, [x, w, b], relu.constants),
                                  np.maximum(_run_prepared(plain, [x, w, b], plain.constants), 0))


def test_deterministic_and_nan_flows():
    rng = np.random.default_rng(5)
    x, w = rand(rng, 1, 16, 20, 20), rand(rng, 32, 16, 3, 3)
    x[0, 3, 5, 5] = np.nan
    sess = runtime.InferenceSession(conv_model(x.shape, w, pads=[1, 1, 1, 1]))
    a, b = sess.run(None, {"x": x})[0], sess.run(None, {"x": x})[0]
    assert a.tobytes() == b.tobytes()
    assert np.isnan(a[0, :, 4:7, 4:7]).all() and not np.isnan(a[0, :, 10:, 10:]).any()


@pytest.mark.parametrize("x_shape,w_shape,attrs,err,match", [
    ((1, 3, 8, 8), (4, 2, 3, 3), {}, CompileError, r"Conv node 'conv1': W has shape \(4, 2, 3, 3\), expected dim 1"),
    ((1, 4, 8, 8), (6, 2, 3, 3), {"group": 3}, CompileError, "group 3 must divide"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"strides": [0, 1]}, CompileError, r"strides \[0, 1\] invalid"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1]}, CompileError, r"pads \[1, 1\] invalid"),
    ((1, 3, 2, 2), (4, 3, 3, 3), {}, CompileError, "output size 0, expected >= 1"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"kernel_shape": [2, 2]}, CompileError, "kernel_shape"),
    ((1, 3, 8, 8), (4, 3, 3), {}, CompileError, "expected rank 4"),
    ((1, 3, 8, 8, 2, 2), (4, 3, 1, 1, 1, 1), {}, UnsupportedOpError, "expected rank 3, 4 or 5"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"auto_pad": "SAME"}, CompileError, "auto_pad 'SAME'"),
])
def test_bad_inputs(x_shape, w_shape, attrs, err, match):
    w = np.ones(w_shape, np.float32)
    with pytest.raises(err, match=match):
        _prepare(attrs, x_shape, w)


def test_bad_bias_and_dtype():
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(CompileError, match=r"B has shape \(3,\), expected \(4,\)"):
        _prepare({}, (1, 3, 8, 8), w, np.ones(3, np.float32))
    with pytest.raises(UnsupportedOpError, match="float32 only"):
        _prepare({}, (1, 3, 8, 8), w.astype(np.float64))
    with pytest.raises(CompileError, match="fused clip bounds"):
        _prepare({"_fused_clip": (1.0, 0.0)}, (1, 3, 8, 8), w)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("width", [7, 70])   # lines shorter and longer than a group of output vectors
def test_depthwise_square_kernels_match_onnxruntime(k, stride, width):
    """The depthwise instances with a 3x3 or 5x5 kernel unrolled (conv.c) against onnxruntime,
    with a channel multiplier of 2 and a fused Relu."""
    rng = np.random.default_rng(k * 10 + stride)
    x = rand(rng, 1, 3, 9, width)
    w = rand(rng, 6, 1, k, k)
    b = rand(rng, 6)
    m = conv_model(x.shape, w, b, group=3, strides=[stride, stride], pads=[k // 2] * 4)
    np.testing.assert_allclose(radrt_output(m, {"x": x}), ort_output(m, {"x": x}), rtol=1e-5, atol=1e-5)

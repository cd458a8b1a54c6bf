"""ConvTranspose: node semantics vs onnxruntime (hypothesis) and the onnx
reference (output_shape, auto_pad), runtime weights, determinism, errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx.reference import ReferenceEvaluator

import runtime
from runtime.errors import CompileError, UnsupportedOpError

from .oneop import model, ort_output, radrt_output


def ct_model(x_shape, w, b=None, weights_as_input=False, **attrs):
    """ConvTranspose of a runtime input x of x_shape; W an initializer, or a runtime input."""
    x = ("x", np.zeros(x_shape, np.float32))  # types the graph input
    inputs, inits = ([x, ("w", w)], []) if weights_as_input else ([x], [("w", w)])
    if b is not None:
        inits.append(("b", b))
    return model("ConvTranspose", inputs=inputs, initializers=inits, attrs=attrs, opset=17, name="deconv1",
                 node_inputs=["x", "w"] + (["b"] if b is not None else []))


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@st.composite
def cases(draw):
    spatial = draw(st.sampled_from([1, 2, 2, 3]))
    group = draw(st.sampled_from([1, 1, 2]))
    cin_g, cout_g = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kernel = [draw(st.integers(1, 3)) for _ in range(spatial)]
    strides = [draw(st.integers(1, 3)) for _ in range(spatial)]
    dilations = [draw(st.integers(1, 2)) for _ in range(spatial)]
    out_pad = [draw(st.integers(0, s - 1)) for s in strides]
    pads = [draw(st.integers(0, 1)) for _ in range(2 * spatial)]
    sizes = [draw(st.integers(1, 6 if spatial < 3 else 4)) for _ in range(spatial)]
    return (spatial, group, cin_g, cout_g, kernel, strides, dilations, out_pad, pads, sizes,
            draw(st.integers(1, 2)), draw(st.booleans()), draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=50, deadline=None)
@given(cases())
def test_matches_onnxruntime(case):
    spatial, group, cin_g, cout_g, kernel, strides, dilations, out_pad, pads, sizes, batch, bias, seed = case
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    out = [s * (n - 1) + op + sp - pads[i] - pads[i + spatial]
           for i, (s, n, op, sp) in enumerate(zip(strides, sizes, out_pad, spans))]
    if min(out) < 1:
        return
    rng = np.random.default_rng(seed)
    x = rand(rng, batch, cin_g * group, *sizes)
    w = rand(rng, cin_g * group, cout_g, *kernel)
    b = rand(rng, cout_g * group) if bias else None
    m = ct_model(x.shape, w, b, group=group, strides=strides, dilations=dilations, pads=pads,
                 output_padding=out_pad)
    want = ort_output(m, {"x": x})
    np.testing.assert_allclose(radrt_output(m, {"x": x}), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs", [
    {"strides": [3, 2], "output_shape": [10, 8]},
    {"strides": [2, 2], "output_shape": [6, 6], "auto_pad": "SAME_UPPER"},
    {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"strides": [2, 3], "auto_pad": "SAME_LOWER"},
    {"strides": [2, 2], "auto_pad": "VALID", "output_padding": [1, 0]},
])
def test_output_shape_and_auto_pad_match_reference(attrs):
    rng = np.random.default_rng(1)
    x, w, b = rand(rng, 1, 2, 3, 3), rand(rng, 2, 3, 3, 3), rand(rng, 3)
    m = ct_model(x.shape, w, b, **attrs)
    want = ReferenceEvaluator(m).run(None, {"x": x})[0]
    np.testing.assert_allclose(radrt_output(m, {"x": x}), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs", [
    {"strides": [2, 2], "output_shape": [6, 6], "pads": [0, 0, 0, 0]},  # E16: pads are ignored
    {"strides": [2, 2], "output_shape": [5, 6], "pads": [1, 0, 2, 1]},
    {"strides": [3, 2], "output_shape": [10, 8]},  # full 9x7: one more at the end
])
def test_output_shape_computes_pads_like_onnxruntime(attrs):
    rng = np.random.default_rng(3)
    x, w = rand(rng, 1, 2, 3, 3), rand(rng, 2, 3, 3, 3)
    m = ct_model(x.shape, w, **attrs)
    np.testing.assert_allclose(radrt_output(m, {"x": x}), ort_output(m, {"x": x}), rtol=1e-4, atol=1e-5)


def test_runtime_weights_and_determinism():
    rng = np.random.default_rng(2)
    x, w = rand(rng, 2, 4, 5, 5), rand(rng, 4, 3, 3, 3)
    m = ct_model(x.shape, w, weights_as_input=True, group=2, strides=[2, 2], pads=[1, 1, 1, 1])
    want = ort_output(m, {"x": x, "w": w})
    sess = runtime.InferenceSession(m)
    got = sess.run(None, {"x": x, "w": w})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert sess.run(None, {"x": x, "w": w})[0].tobytes() == got.tobytes()


def test_fused_clip():
    from runtime.load import Node
    from runtime.ops import lookup, TensorInfo
    from runtime._core import ffi, lib
    rng = np.random.default_rng(3)
    x, w = rand(rng, 1, 2, 3, 3), rand(rng, 2, 2, 3, 3)

    def run(attrs):
        node = Node("ConvTranspose", "deconv1", ["x", "w"], ["y"], attrs, 17)
        prep = lookup("ConvTranspose")(node, [TensorInfo(x.shape, x.dtype), TensorInfo(w.shape, w.dtype, w)])
        out = np.zeros(prep.outputs[0].shape, np.float32)
        scratch = np.zeros(prep.scratch_bytes, np.uint8)
        ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
        fn, args = prep.invoke(lib, [ptr(x), ffi.NULL], [ptr(out)], [ptr(c) for c in prep.constants], ptr(scratch))
        fn(*args)
        return out

    np.testing.assert_array_equal(run({"_fused_clip": (-0.5, 1.0)}), np.clip(run({}), -0.5, 1.0))


@pytest.mark.parametrize("x_shape,w_shape,attrs,err,match", [
    ((1, 3, 4, 4), (2, 2, 3, 3), {}, CompileError, r"W has shape \(2, 2, 3, 3\), expected dim 0 = input channels 3"),
    ((1, 3, 4, 4), (3, 2, 3, 3), {"group": 2}, CompileError, "group 2 must divide"),
    ((1, 2, 4, 4), (2, 2, 3, 3), {"output_padding": [2, 0], "strides": [2, 2]}, CompileError, "output_padding"),
    ((1, 2, 1, 1), (2, 2, 1, 1), {"pads": [1, 1, 1, 1]}, CompileError, "expected >= 1"),
    ((1, 2, 4, 4), (2, 2, 3, 3), {"output_shape": [5]}, CompileError, "output_shape"),
    # full output 7x7; onnxruntime refuses 9x9 too ("output_shape is inconsistent")
    ((1, 2, 3, 3), (2, 2, 3, 3), {"output_shape": [9, 9], "strides": [2, 2]}, CompileError,
     "inconsistent"),
    ((1, 2, 3, 3), (2, 2, 3, 3), {"output_shape": [8, 8], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
     UnsupportedOpError, "negative padding"),
    ((1, 2, 4), (2, 2, 3, 3), {}, CompileError, "expected rank 3"),
    ((1, 2), (2, 2), {}, UnsupportedOpError, "expected rank 3, 4 or 5"),
])
def test_bad_inputs(x_shape, w_shape, attrs, err, match):
    from runtime.load import Node
    from runtime.ops import lookup, TensorInfo
    w = np.ones(w_shape, np.float32)
    node = Node("ConvTranspose", "deconv1", ["x", "w"], ["y"], attrs, 17)
    with pytest.raises(err, match=match):
        lookup("ConvTranspose")(node, [TensorInfo(x_shape, np.dtype(np.float32)), TensorInfo(w.shape, w.dtype, w)])

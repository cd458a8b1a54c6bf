"""Integer kernels (runtime/ops/integer.py, csrc/kernels/integer.c): ConvInteger and
MatMulInteger against an exact numpy reference, QLinearConv and QLinearMatMul against the
spec's requantization in numpy and against onnxruntime bit for bit (zero points, per-channel
scales, saturation at both ends; onnxruntime only where its int8 product is exact on this
CPU: tests/ort_int8.py), DynamicQuantizeLinear against onnxruntime and onnx's
reference; the int32 overflow guard."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import UnsupportedOpError
from tests.ort_int8 import ort_is_exact, weights_bound

ort = pytest.importorskip("onnxruntime")

TYPES = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
         np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}


def model(op, feeds, consts, out_dtype, opset=13, **attrs):
    """One `op` node reading the inputs named in order (feeds: graph inputs, consts:
    initializers; a name mapped to None is an omitted optional input)."""
    names = list(feeds) + [k for k in consts]
    order = attrs.pop("order", names)
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items() if v is not None]
    node = helper.make_node(op, [n if (n in feeds or consts.get(n) is not None) else "" for n in order], ["y"],
                            **attrs)
    g = helper.make_graph([node], op, [helper.make_tensor_value_info(k, TYPES[v.dtype], v.shape)
                                       for k, v in feeds.items()],
                          [helper.make_tensor_value_info("y", TYPES[np.dtype(out_dtype)], None)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def run_radrt(m, feeds):
    return InferenceSession(m, scrub_interval_s=None).run(None, feeds)[0]


def run_ort(m, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(m, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def conv_acc(x, w, x_zp, w_zp, pads, strides, group):
    """Exact int64 convolution of (x - x_zp) and (w - w_zp[channel]), 2-D, NCHW."""
    xi = np.pad(x.astype(np.int64) - int(x_zp), [(0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])])
    wi = w.astype(np.int64) - np.asarray(w_zp, np.int64).reshape(-1, 1, 1, 1)
    n, c, h, wd = xi.shape
    m, cg, kh, kw = wi.shape
    oh, ow = (h - kh) // strides[0] + 1, (wd - kw) // strides[1] + 1
    out = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for g in range(group):
        win = np.lib.stride_tricks.sliding_window_view(xi[:, g * cg:(g + 1) * cg], (kh, kw), axis=(2, 3))
        win = win[:, :, ::strides[0], ::strides[1]][:, :, :oh, :ow]
        out[:, g * mg:(g + 1) * mg] = np.einsum("nchwij,mcij->nmhw", win, wi[g * mg:(g + 1) * mg])
    return out


def requantize(acc, mult, zp, dtype, axis_shape):
    info = np.iinfo(dtype)
    f = acc.astype(np.float32) * np.asarray(mult, np.float32).reshape(axis_shape)
    return np.clip(np.rint(f) + zp, info.min, info.max).astype(dtype)


def ints(draw, dtype, shape):
    info = np.iinfo(dtype)
    return np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).integers(
        info.min, int(info.max) + 1, shape).astype(dtype)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), x_type=st.sampled_from([np.uint8, np.int8]), per_channel=st.booleans(),
       y_type=st.sampled_from([np.uint8, np.int8]), with_bias=st.booleans())
def test_qlinear_conv_is_the_spec_and_onnxruntime_bit_for_bit(data, x_type, per_channel, y_type, with_bias):
    draw = data.draw
    group = draw(st.sampled_from([1, 2]))
    cin, cout = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, wd = draw(st.integers(kh, 8)), draw(st.integers(kw, 8))
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    strides = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
    x = ints(draw, x_type, (draw(st.integers(1, 2)), cin, h, wd))
    w_type = np.int8 if x_type == np.int8 else draw(st.sampled_from([np.uint8, np.int8]))
    w = ints(draw, w_type, (cout, cin // group, kh, kw))
    n_ch = cout if per_channel else 1
    x_zp = ints(draw, x_type, ())
    w_zp = np.zeros(n_ch, w_type) if w_type == np.int8 else ints(draw, w_type, (n_ch,))
    x_scale = np.float32(draw(st.sampled_from([0.01, 0.02, 0.5])))
    w_scale = np.asarray(draw(st.lists(st.sampled_from([0.001, 0.004, 0.03, 0.3]), min_size=n_ch, max_size=n_ch)),
                         np.float32)
    # a small y_scale saturates many outputs at both ends, a large one keeps them inside
    y_scale = np.float32(draw(st.sampled_from([0.005, 0.1, 2.0])))
    y_zp = ints(draw, y_type, ())
    bias = ints(draw, np.int16, (cout,)).astype(np.int32) * 4 if with_bias else None
    consts = dict(xs=x_scale, xz=x_zp, w=w, ws=w_scale if per_channel else w_scale.reshape(()),
                  wz=w_zp if per_channel else w_zp.reshape(()), ys=y_scale, yz=y_zp, b=bias)
    m = model("QLinearConv", {"x": x}, consts, y_type, order=["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
              pads=pads, strides=strides, group=group)
    got = run_radrt(m, {"x": x})
    acc = conv_acc(x, w, x_zp, np.broadcast_to(w_zp, (cout,)), pads, strides, group)
    if bias is not None:
        acc = acc + bias.reshape(1, -1, 1, 1)
    mult = (x_scale * w_scale) / y_scale
    want = requantize(acc, mult, int(y_zp), y_type, (1, -1, 1, 1) if per_channel else ())
    assert got.dtype == np.dtype(y_type) and np.array_equal(got, want)
    if y_type == x_type and ort_is_exact(x, w):   # the type pairs onnxruntime's CPU kernel runs
        assert np.array_equal(got, run_ort(m, {"x": x}))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), x_type=st.sampled_from([np.uint8, np.int8]), runtime_weights=st.booleans())
def test_conv_integer_is_exact(data, x_type, runtime_weights):
    draw = data.draw
    group = draw(st.sampled_from([1, 3]))
    cin, cout = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = ints(draw, x_type, (1, cin, draw(st.integers(kh, 7)), draw(st.integers(kw, 7))))
    w_type = draw(st.sampled_from([np.uint8, np.int8]))
    w = ints(draw, w_type, (cout, cin // group, kh, kw))
    x_zp, w_zp = ints(draw, x_type, ()), ints(draw, w_type, ())
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    feeds = {"x": x, "w": w} if runtime_weights else {"x": x}
    consts = {"xz": x_zp, "wz": w_zp} if runtime_weights else {"w": w, "xz": x_zp, "wz": w_zp}
    m = model("ConvInteger", feeds, consts, np.int32, order=["x", "w", "xz", "wz"], pads=pads, group=group)
    got = run_radrt(m, feeds)
    assert got.dtype == np.int32
    assert np.array_equal(got, conv_acc(x, w, x_zp, [w_zp] * cout, pads, [1, 1], group))
    if x_type == np.uint8 and group == 1:   # what onnxruntime's ConvInteger runs
        assert np.array_equal(got, run_ort(m, feeds))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), a_type=st.sampled_from([np.uint8, np.int8]), b_type=st.sampled_from([np.uint8, np.int8]),
       per_column=st.booleans(), runtime_b=st.booleans(), batch=st.sampled_from([(), (2,), (2, 3)]))
def test_matmul_integer_is_exact(data, a_type, b_type, per_column, runtime_b, batch):
    draw = data.draw
    m, k, n = draw(st.integers(1, 9)), draw(st.integers(1, 40)), draw(st.integers(1, 300))
    a = ints(draw, a_type, batch + (m, k))
    b = ints(draw, b_type, (k, n))
    a_zp = ints(draw, a_type, ())
    b_zp = ints(draw, b_type, (n,) if per_column else ())
    feeds = {"a": a, "b": b} if runtime_b else {"a": a}
    consts = {"az": a_zp, "bz": b_zp} if runtime_b else {"b": b, "az": a_zp, "bz": b_zp}
    mdl = model("MatMulInteger", feeds, consts, np.int32, order=["a", "b", "az", "bz"])
    got = run_radrt(mdl, feeds)
    want = (a.astype(np.int64) - int(a_zp)) @ (b.astype(np.int64) - b_zp.astype(np.int64))
    assert got.dtype == np.int32 and np.array_equal(got, want)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), a_type=st.sampled_from([np.uint8, np.int8]), per_column=st.booleans(),
       y_type=st.sampled_from([np.uint8, np.int8]))
def test_qlinear_matmul_is_the_spec_and_onnxruntime_bit_for_bit(data, a_type, per_column, y_type):
    draw = data.draw
    m, k, n = draw(st.integers(1, 8)), draw(st.integers(1, 64)), draw(st.integers(1, 80))
    b_type = np.int8 if a_type == np.int8 else draw(st.sampled_from([np.uint8, np.int8]))
    a, b = ints(draw, a_type, (m, k)), ints(draw, b_type, (k, n))
    nb = n if per_column else 1
    a_zp, b_zp = ints(draw, a_type, ()), (np.zeros(nb, b_type) if b_type == np.int8 else ints(draw, b_type, (nb,)))
    a_scale = np.float32(draw(st.sampled_from([0.01, 0.3])))
    b_scale = np.asarray(draw(st.lists(st.sampled_from([0.002, 0.02, 0.2]), min_size=nb, max_size=nb)), np.float32)
    y_scale, y_zp = np.float32(draw(st.sampled_from([0.01, 0.5, 4.0]))), ints(draw, y_type, ())
    consts = dict(as_=a_scale, az=a_zp, b=b, bs=b_scale if per_column else b_scale.reshape(()),
                  bz=b_zp if per_column else b_zp.reshape(()), ys=y_scale, yz=y_zp)
    mdl = model("QLinearMatMul", {"a": a}, consts, y_type, order=["a", "as_", "az", "b", "bs", "bz", "ys", "yz"])
    got = run_radrt(mdl, {"a": a})
    acc = (a.astype(np.int64) - int(a_zp)) @ (b.astype(np.int64) - np.broadcast_to(b_zp, (n,)).astype(np.int64))
    want = requantize(acc, (a_scale * b_scale) / y_scale, int(y_zp), y_type, (1, -1) if per_column else ())
    assert np.array_equal(got, want)
    if y_type == a_type and ort_is_exact(a, b):   # the type pairs onnxruntime's CPU kernel runs
        assert np.array_equal(got, run_ort(mdl, {"a": a}))


@settings(max_examples=150, deadline=None)
@given(x=st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=200),
       shift=st.sampled_from([0.0, 50.0, -50.0]))
def test_dynamic_quantize_linear_matches_onnxruntime_and_the_reference(x, shift):
    from onnx.reference import ReferenceEvaluator
    arr = (np.asarray(x, np.float32) + np.float32(shift)).astype(np.float32)
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    g = helper.make_graph([node], "dql", [helper.make_tensor_value_info("x", TensorProto.FLOAT, arr.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, arr.shape),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    y, s, z = InferenceSession(m, scrub_interval_s=None).run(None, {"x": arr})
    ref = ReferenceEvaluator(m).run(None, {"x": arr})
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    o = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"]).run(None, {"x": arr})
    if ref[1] == 0:   # a range of subnormals: the spec's scale underflows (0 / 0); radrt takes 1 / 255
        assert s == np.float32(1 / 255) and z == 0 and not y.any()
        return
    assert s == ref[1] and z == ref[2] and np.array_equal(y, ref[0])
    # all zero: the spec's scale is 0 / 255; onnx's reference takes 1 / 255, onnxruntime 1
    # (radrt follows the reference); y and the zero point are 0 either way
    if arr.any():
        assert s == o[1]
    assert z == o[2] and np.array_equal(y, o[0])


def test_dynamic_quantize_all_zero_input():
    x = np.zeros(5, np.float32)
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    g = helper.make_graph([node], "dql", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info(n, t, None) for n, t in
                           (("y", TensorProto.UINT8), ("s", TensorProto.FLOAT), ("z", TensorProto.UINT8))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    y, s, z = InferenceSession(m, scrub_interval_s=None).run(None, {"x": x})
    assert s == np.float32(1 / 255) and z == 0 and not y.any()


def test_an_accumulator_that_could_overflow_int32_is_refused():
    k = 40000   # 40000 x 255 x 255 > 2^31 - 1 (and 40000 x 255 x 128 < 2^31)
    a = np.zeros((1, k), np.uint8)
    m = model("MatMulInteger", {"a": a, "b": np.zeros((k, 1), np.uint8)}, {}, np.int32)
    with pytest.raises(UnsupportedOpError, match=r"int32 accumulator could overflow .*K = 40000"):
        InferenceSession(m, scrub_interval_s=None)
    # constant weights: the bound is the weights' own, so a long K of small weights runs
    b = np.ones((k, 1), np.int8)
    m = model("MatMulInteger", {"a": a}, {"b": b}, np.int32)
    a[0, :7] = 3
    assert run_radrt(m, {"a": a})[0, 0] == 21


@settings(max_examples=150, deadline=None)
@given(data=st.data(), a_type=st.sampled_from([np.uint8, np.int8]), quantized_out=st.booleans(),
       trans_a=st.booleans(), trans_b=st.booleans(), per_column=st.booleans(), bias_shape=st.sampled_from(
           [None, "n", "1n", "m1", "mn", "1"]))
def test_qgemm_matches_onnxruntime(data, a_type, quantized_out, trans_a, trans_b, per_column, bias_shape):
    """com.microsoft QGemm as onnxruntime's QOperator quantizer emits it for a Gemm."""
    draw = data.draw
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 50)), draw(st.integers(1, 40))
    a = ints(draw, a_type, (k, m) if trans_a else (m, k))
    # (onnxruntime is the only oracle here: weights it multiplies exactly on this CPU)
    bound = weights_bound()
    b = np.clip(ints(draw, np.int8, (n, k) if trans_b else (k, n)), -bound, bound)
    nb = n if per_column else 1
    a_scale = np.float32(draw(st.sampled_from([0.01, 0.3])))
    b_scale = np.asarray(draw(st.lists(st.sampled_from([0.002, 0.02]), min_size=nb, max_size=nb)), np.float32)
    alpha = draw(st.sampled_from([1.0, 0.5]))
    bias = None if bias_shape is None else ints(draw, np.int16, {"n": (n,), "1n": (1, n), "m1": (m, 1),
                                                                 "mn": (m, n), "1": (1,)}[bias_shape]).astype(np.int32)
    inits = dict(a_s=a_scale, a_z=ints(draw, a_type, ()), b=b, b_s=b_scale if per_column else b_scale.reshape(()),
                 b_z=np.zeros(nb if per_column else (), np.int8), c=bias)
    order = ["a", "a_s", "a_z", "b", "b_s", "b_z", "c"]
    if quantized_out:
        inits.update(y_s=np.float32(draw(st.sampled_from([0.05, 1.0]))), y_z=ints(draw, a_type, ()))
        order += ["y_s", "y_z"]
    inits_list = [numpy_helper.from_array(np.asarray(v), key) for key, v in inits.items() if v is not None]
    node = helper.make_node("QGemm", [x if x == "a" or inits.get(x) is not None else "" for x in order], ["y"],
                            domain="com.microsoft", transA=int(trans_a), transB=int(trans_b), alpha=alpha)
    out_type = TYPES[np.dtype(a_type)] if quantized_out else TensorProto.FLOAT
    g = helper.make_graph([node], "qgemm", [helper.make_tensor_value_info("a", TYPES[np.dtype(a_type)], a.shape)],
                          [helper.make_tensor_value_info("y", out_type, None)], initializer=inits_list)
    mdl = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                              helper.make_opsetid("com.microsoft", 1)]).SerializeToString()
    got, want = run_radrt(mdl, {"a": a}), run_ort(mdl, {"a": a})
    assert got.dtype == want.dtype and got.shape == want.shape
    if quantized_out:
        assert np.array_equal(got, want)
    else:   # onnxruntime scales in its GEMM's output processor: the same float product
        np.testing.assert_array_equal(got, want)


def test_constant_b_with_an_empty_dimension():
    """K = 0 (every output is the bias-free zero) and N = 0 (an empty output)."""
    a = np.zeros((2, 0), np.uint8)
    m = model("MatMulInteger", {"a": a}, {"b": np.zeros((0, 3), np.int8)}, np.int32)
    assert np.array_equal(run_radrt(m, {"a": a}), np.zeros((2, 3), np.int32))
    a = np.ones((2, 4), np.uint8)
    m = model("MatMulInteger", {"a": a}, {"b": np.zeros((4, 0), np.int8)}, np.int32)
    assert run_radrt(m, {"a": a}).shape == (2, 0)


def conv_with_bias(bias, y_scale=np.float32(0.05)):
    x = np.zeros((1, 1, 2, 2), np.uint8)
    consts = dict(xs=np.float32(1.0), xz=np.uint8(0), w=np.full((4, 1, 1, 1), 127, np.int8),
                  ws=np.float32(1.0), wz=np.int8(0), ys=y_scale, yz=np.uint8(0), b=bias)
    return x, model("QLinearConv", {"x": x}, consts, np.uint8,
                    order=["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"])


def test_a_bias_that_could_overflow_the_int32_accumulator_is_refused():
    """The spec adds the int32 bias to the int32 sum: onnxruntime wraps there (a bias of
    INT32_MAX turns an output from 255 to 0); radrt refuses at compile time, naming it."""
    _, m = conv_with_bias(np.full(4, 2 ** 31 - 1, np.int32))
    with pytest.raises(UnsupportedOpError, match=r"could overflow .*plus a bias of magnitude 2147483647"):
        InferenceSession(m, scrub_interval_s=None)
    x, m = conv_with_bias(np.full(4, 2 ** 31 - 1 - 127 * 255, np.int32))   # just fits
    assert run_radrt(m, {"x": x}).max() == 255


def test_a_requantization_multiplier_that_is_not_finite_is_refused():
    from runtime.errors import CompileError
    _, m = conv_with_bias(None, y_scale=np.float32(1e-45))   # 1 x 1 / 1e-45 overflows float32
    with pytest.raises(CompileError, match=r"output multiplier x_scale x w_scale / y_scale = \[inf\] is not finite"):
        InferenceSession(m, scrub_interval_s=None)

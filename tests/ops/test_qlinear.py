"""com.microsoft QLinear ops (runtime/ops/qlinear.py) and uint8/int8 MaxPool against
onnxruntime's CPU kernels, one node per model; the domain plumbing (a contrib op is
found only in its domain, an unknown one is refused by name)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import CompileError, UnsupportedOpError

ort = pytest.importorskip("onnxruntime")

MS = "com.microsoft"
f32 = np.float32
TYPES = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8}
# Every comparison below counts outputs bit-exact with onnxruntime (the README figure).
EXACT = {"equal": 0, "total": 0}


def ms_model(op, data, consts, attrs=None, node_inputs=None, domain=MS, opset=13):
    """One `op` node: graph inputs `data` [(name, array)], initializers `consts`
    [(name, array)], node inputs in `node_inputs` order (default data then consts)."""
    names = node_inputs or [n for n, _ in data] + [n for n, _ in consts]
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in data]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in consts]
    node = helper.make_node(op, names, ["y"], name="q0", domain=domain, **(attrs or {}))
    graph = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info("y")], inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, ir_version=8, opset_imports=imports).SerializeToString()


def run_both(model, feeds, max_steps=1):
    (got,) = InferenceSession(model, scrub_interval_s=None).run(None, feeds)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    (want,) = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    EXACT["equal"] += int(np.sum(diff == 0))
    EXACT["total"] += diff.size
    assert diff.max(initial=0) <= max_steps, f"{int(np.sum(diff > 0))} of {diff.size} differ, worst {diff.max()}"
    return got, want


def qparams(draw_or_rng, dtype, n):
    info = np.iinfo(dtype)
    rng = draw_or_rng
    return ([f32(rng.uniform(0.002, 0.3)) for _ in range(n)], [dtype(rng.integers(info.min, int(info.max) + 1))
                                                                 for _ in range(n)])


def data(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)


def binary_model(op, a, b, scales, zps, a_const=False):
    consts = [("sa", np.array(scales[0], f32)), ("za", np.array(zps[0])), ("sb", np.array(scales[1], f32)),
              ("zb", np.array(zps[1])), ("sc", np.array(scales[2], f32)), ("zc", np.array(zps[2]))]
    names = ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"]
    if a_const:
        return ms_model(op, [("b", b)], [("a", a)] + consts, node_inputs=names), {"b": b}
    return ms_model(op, [("a", a), ("b", b)], consts, node_inputs=names), {"a": a, "b": b}


SHAPES = st.sampled_from([((3, 4, 5), (3, 4, 5)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((1, 3, 1, 1), (2, 3, 4, 5)),
                          ((3, 1), (1, 4)), ((37,), (1,)), ((1,), (41,)), ((2, 1, 5), (3, 1)), ((), (6, 2)),
                          ((4, 70), (70,)), ((2, 3, 33), (2, 1, 33))])


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@settings(max_examples=150, deadline=None)
@given(shapes=SHAPES, dtype=st.sampled_from([np.uint8, np.int8]), seed=st.integers(0, 2 ** 32 - 1))
def test_qlinear_binary_matches_onnxruntime(op, shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    a, b = data(rng, dtype, shapes[0]), data(rng, dtype, shapes[1])
    scales, zps = qparams(rng, dtype, 3)
    model, feeds = binary_model(op, a, b, scales, zps)
    run_both(model, feeds)


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
def test_qlinear_binary_every_pair_of_bytes(op):
    """All 65536 (a, b) byte pairs, a few scale choices, both types, and a constant A."""
    for dtype in (np.uint8, np.int8):
        a = np.arange(256, dtype=np.uint8).view(dtype).reshape(256, 1)
        b = np.arange(256, dtype=np.uint8).view(dtype).reshape(1, 256)
        rng = np.random.default_rng(7)
        for k in range(4):
            scales, zps = qparams(rng, dtype, 3)
            model, feeds = binary_model(op, a, b, scales, zps, a_const=k == 3)
            run_both(model, feeds)


@pytest.mark.parametrize("op", ["QLinearSigmoid", "QLinearLeakyRelu"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_lookup_ops_match_onnxruntime(op, dtype):
    rng = np.random.default_rng(3)
    x = np.arange(256, dtype=np.uint8).view(dtype).reshape(2, 8, 16)
    for _ in range(6):
        (sx, sy), (zx, zy) = qparams(rng, dtype, 2)
        if op == "QLinearSigmoid":
            sy = f32(1 / 256)
        attrs = {"alpha": float(rng.uniform(0.01, 0.3))} if op == "QLinearLeakyRelu" else None
        consts = [("sx", np.array(sx * 20, f32)), ("zx", np.array(zx)), ("sy", np.array(sy, f32)),
                  ("zy", np.array(zy))]
        run_both(ms_model(op, [("x", x)], consts, attrs), {"x": x})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_concat_matches_onnxruntime(dtype):
    rng = np.random.default_rng(4)
    xs = [data(rng, dtype, (2, c, 3, 5)) for c in (3, 1, 4)]
    (s0, s1, s2, sy), (z0, z1, z2, zy) = qparams(rng, dtype, 4)
    for axis in (1, -1, 0):
        shapes = [list(x.shape) for x in xs]
        ys = [x if axis == 1 else np.moveaxis(x, 1, axis) for x in xs]
        del shapes
        consts = [("sy", np.array(sy, f32)), ("zy", np.array(zy)), ("s0", np.array(s0, f32)), ("z0", np.array(z0)),
                  ("s1", np.array(sy, f32)), ("z1", np.array(zy)),   # the output's own: copied
                  ("s2", np.array(s2, f32)), ("z2", np.array(z2))]
        names = ["sy", "zy", "x0", "s0", "z0", "x1", "s1", "z1", "x2", "s2", "z2"]
        ys = [np.ascontiguousarray(y) for y in ys]
        model = ms_model("QLinearConcat", [(f"x{k}", y) for k, y in enumerate(ys)], consts, {"axis": axis},
                         node_inputs=names)
        run_both(model, {f"x{k}": y for k, y in enumerate(ys)})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("shape", [(1, 8, 7, 7), (2, 3, 13, 1), (1, 5, 4, 4, 3)])
def test_qlinear_global_average_pool_matches_onnxruntime(dtype, shape):
    rng = np.random.default_rng(5)
    x = data(rng, dtype, shape)
    for _ in range(4):
        (sx, sy), (zx, zy) = qparams(rng, dtype, 2)
        consts = [("sx", np.array(sx, f32)), ("zx", np.array(zx)), ("sy", np.array(sy, f32)), ("zy", np.array(zy))]
        run_both(ms_model("QLinearGlobalAveragePool", [("x", x)], consts, {"channels_last": 0}), {"x": x})


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
                                   dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
                                   dict(kernel_shape=[7, 7]), dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)])
def test_qlinear_average_pool_matches_onnxruntime(dtype, attrs):
    rng = np.random.default_rng(6)
    x = data(rng, dtype, (2, 3, 7, 9))
    for _ in range(3):
        (sx, sy), (zx, zy) = qparams(rng, dtype, 2)
        consts = [("sx", np.array(sx, f32)), ("zx", np.array(zx)), ("sy", np.array(sy, f32)), ("zy", np.array(zy))]
        run_both(ms_model("QLinearAveragePool", [("x", x)], consts, attrs), {"x": x})


# QLinearSoftmax: its own tally (bit-exact and worst difference in quantization steps).
SOFTMAX = {"equal": 0, "total": 0, "worst": 0}


def softmax_model(x, sx, zx, sy, zy, attrs):
    consts = [("sx", np.array(sx, f32)), ("zx", np.array(zx)), ("sy", np.array(sy, f32)), ("zy", np.array(zy))]
    return ms_model("QLinearSoftmax", [("x", x)], consts, attrs)


def run_softmax(x, sx, zx, sy, zy, attrs):
    got, want = run_both(softmax_model(x, sx, zx, sy, zy, attrs), {"x": x})
    diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
    SOFTMAX["equal"] += int(np.sum(diff == 0))
    SOFTMAX["total"] += diff.size
    SOFTMAX["worst"] = max(SOFTMAX["worst"], int(diff.max(initial=0)))
    return got, want


SOFTMAX_SHAPES = st.sampled_from([(10,), (1, 10), (1, 1000), (2, 3, 4), (3, 1, 5), (2, 4, 3, 3), (1, 1), (5, 1),
                                  (4, 257), (2, 2, 2, 2, 7)])


@settings(max_examples=300, deadline=None)
@given(shape=SOFTMAX_SHAPES, dtype=st.sampled_from([np.uint8, np.int8]), opset=st.sampled_from([11, 12, 13]),
       axis_pick=st.integers(0, 99), default_axis=st.booleans(), seed=st.integers(0, 2 ** 32 - 1),
       classifier=st.booleans(), x_scale=st.floats(0.001, 2.0), y_scale=st.floats(0.001, 0.5))
def test_qlinear_softmax_matches_onnxruntime(shape, dtype, opset, axis_pick, default_axis, seed, classifier,
                                             x_scale, y_scale):
    """Shapes, both types, both Softmax semantics, every axis (negative too) or the
    default, random scales and zero points; half the cases as the quantizer emits them
    after a classifier (Y scale 1/256, zero point 0 for uint8 and -128 for int8)."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    x = data(rng, dtype, shape)
    rank = len(shape)
    attrs = {"opset": opset}
    if not default_axis:   # the default is -1 for every opset (the contrib schema's)
        attrs["axis"] = axis_pick % (2 * rank) - rank
    zx = dtype(rng.integers(info.min, int(info.max) + 1))
    if classifier:
        sy, zy = f32(1 / 256), dtype(info.min)
    else:
        sy, zy = f32(y_scale), dtype(rng.integers(info.min, int(info.max) + 1))
    run_softmax(x, f32(x_scale), zx, sy, zy, attrs)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_softmax_saturates_a_confident_class(dtype):
    """One class far above the rest: probability ~1, 256 steps at scale 1/256, saturated
    to the type's maximum (never wrapped round), as onnxruntime returns."""
    info = np.iinfo(dtype)
    x = np.full((2, 10), info.min, dtype)
    x[0, 3] = info.max
    x[1, 0] = info.max
    got, _ = run_softmax(x, f32(0.2), dtype(0), f32(1 / 256), dtype(info.min), {"opset": 13})
    assert got[0, 3] == info.max and got[1, 0] == info.max
    assert np.all(got[0, [0, 1, 2, 4, 5]] == info.min)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_qlinear_softmax_every_byte_and_long_lines(dtype):
    """Each byte value in one line (every table entry read), and lines long enough that
    the table's headroom shift shrinks (log(FLT_MAX / len) - 5)."""
    rng = np.random.default_rng(11)
    x = np.arange(256, dtype=np.uint8).view(dtype).reshape(1, 256)
    for sx in (0.001, 0.05, 0.3, 1.5):
        run_softmax(x, f32(sx), dtype(0), f32(1 / 256), dtype(np.iinfo(dtype).min), {"opset": 13})
    for length in (4096, 70000):
        x = data(rng, dtype, (2, length))
        run_softmax(x, f32(0.1), dtype(0), f32(1 / 256), dtype(0), {"opset": 12, "axis": 1})


def test_qlinear_softmax_empty_line():
    x = np.zeros((3, 0), np.uint8)
    consts = [("sx", np.array(0.1, f32)), ("zx", np.array(0, np.uint8)), ("sy", np.array(1 / 256, f32)),
              ("zy", np.array(0, np.uint8))]
    (y,) = InferenceSession(ms_model("QLinearSoftmax", [("x", x)], consts, {"opset": 13}),
                            scrub_interval_s=None).run(None, {"x": x})
    assert y.shape == (3, 0) and y.dtype == np.uint8


def test_qlinear_softmax_refusals():
    x = np.zeros((1, 10), np.uint8)
    consts = [("sx", np.array(0.1, f32)), ("zx", np.array(0, np.uint8)), ("sy", np.array(1 / 256, f32)),
              ("zy", np.array(0, np.uint8))]
    fed_y_scale = ms_model("QLinearSoftmax", [("x", x), ("sy", np.array(1 / 256, f32))],
                           [c for c in consts if c[0] != "sy"], {"opset": 13},
                           node_inputs=["x", "sx", "zx", "sy", "zy"])
    with pytest.raises(UnsupportedOpError, match=r"QLinearSoftmax node 'q0'.*input 3 \(Y scale\) 'sy' must be a "
                                                 r"constant"):
        InferenceSession(fed_y_scale, scrub_interval_s=None)
    fed_x_zp = ms_model("QLinearSoftmax", [("x", x), ("zx", np.array(0, np.uint8))],
                        [c for c in consts if c[0] != "zx"], {"opset": 13},
                        node_inputs=["x", "sx", "zx", "sy", "zy"])
    with pytest.raises(UnsupportedOpError, match=r"QLinearSoftmax node 'q0'.*input 2 \(X zero point\) 'zx' must "
                                                 r"be a constant"):
        InferenceSession(fed_x_zp, scrub_interval_s=None)
    with pytest.raises(CompileError, match="attribute opset is missing"):
        InferenceSession(softmax_model(x, 0.1, np.uint8(0), 1 / 256, np.uint8(0), {}), scrub_interval_s=None)
    with pytest.raises(CompileError, match="axis 2 is out of range"):
        InferenceSession(softmax_model(x, 0.1, np.uint8(0), 1 / 256, np.uint8(0), {"opset": 13, "axis": 2}),
                         scrub_interval_s=None)
    with pytest.raises(UnsupportedOpError, match="per-tensor"):
        InferenceSession(softmax_model(x, np.array([0.1, 0.2], f32), np.uint8(0), 1 / 256, np.uint8(0),
                                       {"opset": 13}), scrub_interval_s=None)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
                                   dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
                                   dict(kernel_shape=[3, 3], auto_pad="SAME_UPPER"), dict(kernel_shape=[5])])
def test_integer_max_pool_matches_onnxruntime(dtype, attrs):
    rng = np.random.default_rng(8)
    shape = (2, 3, 11) if len(attrs["kernel_shape"]) == 1 else (2, 3, 7, 9)
    x = data(rng, dtype, shape)
    x[0, 0, 0] = np.iinfo(dtype).min   # the type's minimum beside padding: padding must not win
    got, want = run_both(ms_model("MaxPool", [("x", x)], [], attrs, domain=""), {"x": x}, max_steps=0)
    assert np.array_equal(got, want)


def test_integer_max_pool_with_indices_is_refused():
    x = np.zeros((1, 1, 4, 4), np.uint8)
    g = helper.make_graph([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], name="mp")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, x.shape)],
                          [helper.make_empty_tensor_value_info("y"), helper.make_empty_tensor_value_info("i")])
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    with pytest.raises(UnsupportedOpError, match="Indices"):
        InferenceSession(m, scrub_interval_s=None)


# ---- refusals and domain plumbing ---------------------------------------------------------

def _add_consts(scale_a=np.array(0.1, f32), zp_a=np.array(3, np.uint8)):
    return [("sa", scale_a), ("za", zp_a), ("sb", np.array(0.2, f32)), ("zb", np.array(1, np.uint8)),
            ("sc", np.array(0.3, f32)), ("zc", np.array(2, np.uint8))]


NAMES = ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"]


def test_non_constant_scale_is_refused_naming_node_and_input():
    a = np.zeros(4, np.uint8)
    consts = [c for c in _add_consts() if c[0] != "sa"]
    m = ms_model("QLinearAdd", [("a", a), ("sa", np.array(0.1, f32)), ("b", a)], consts, node_inputs=NAMES)
    with pytest.raises(UnsupportedOpError, match=r"QLinearAdd node 'q0'.*input 1 \(A scale\) 'sa' must be a constant"):
        InferenceSession(m, scrub_interval_s=None, input_shapes=None)


def test_per_channel_scale_is_refused():
    a = np.zeros(4, np.uint8)
    m = ms_model("QLinearAdd", [("a", a), ("b", a)], _add_consts(scale_a=np.array([0.1, 0.2], f32)),
                 node_inputs=NAMES)
    with pytest.raises(UnsupportedOpError, match="per-tensor"):
        InferenceSession(m, scrub_interval_s=None)


def test_bad_scale_value_is_a_compile_error():
    a = np.zeros(4, np.uint8)
    m = ms_model("QLinearAdd", [("a", a), ("b", a)], _add_consts(scale_a=np.array(-1.0, f32)), node_inputs=NAMES)
    with pytest.raises(CompileError, match="finite value > 0"):
        InferenceSession(m, scrub_interval_s=None)


def test_channels_last_is_refused():
    x = np.zeros((1, 2, 2, 2), np.uint8)
    consts = [("sx", np.array(0.1, f32)), ("zx", np.array(0, np.uint8)), ("sy", np.array(0.1, f32)),
              ("zy", np.array(0, np.uint8))]
    m = ms_model("QLinearGlobalAveragePool", [("x", x)], consts, {"channels_last": 1})
    with pytest.raises(UnsupportedOpError, match="channels_last=1"):
        InferenceSession(m, scrub_interval_s=None)


def test_unknown_contrib_op_is_refused_by_name():
    x = np.zeros(4, np.float32)
    m = ms_model("FancyGelu", [("x", x)], [])
    with pytest.raises(UnsupportedOpError, match="com.microsoft::FancyGelu"):
        InferenceSession(m, scrub_interval_s=None)


def test_contrib_name_of_a_default_op_is_not_the_default_op():
    """A com.microsoft 'Relu' is not ONNX's Relu (and the contrib QLinearAdd is not
    reachable from the default domain)."""
    x = np.zeros(4, np.float32)
    with pytest.raises(UnsupportedOpError, match="com.microsoft::Relu"):
        InferenceSession(ms_model("Relu", [("x", x)], []), scrub_interval_s=None)
    from runtime import ops
    assert ops.lookup("QLinearAdd") is None and ops.lookup("QLinearAdd", MS) is not None
    assert ops.lookup("Relu", MS) is None and ops.lookup("Relu") is not None


def test_default_domain_node_beside_contrib_import_still_runs():
    x = np.array([-1.0, 2.0], np.float32)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 13),
                                                          helper.make_opsetid(MS, 1)]).SerializeToString()
    (y,) = InferenceSession(m, scrub_interval_s=None).run(None, {"x": x})
    assert np.array_equal(y, [0.0, 2.0])


def test_contrib_node_with_constant_inputs_folds():
    a = np.arange(6, dtype=np.uint8)
    m = ms_model("QLinearAdd", [], [("a", a), ("b", a)] + _add_consts(), node_inputs=NAMES)
    m2 = ms_model("QLinearAdd", [("a", a), ("b", a)], _add_consts(), node_inputs=NAMES)
    sess = InferenceSession(m, scrub_interval_s=None)
    (folded,) = sess.run(None, {})
    (ran,) = InferenceSession(m2, scrub_interval_s=None).run(None, {"a": a, "b": a})
    assert np.array_equal(folded, ran)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("op,attrs,consts", [
    ("Reshape", {}, [("s", np.array([3, 8], np.int64))]),
    ("Flatten", {"axis": 2}, []),
    ("Transpose", {"perm": [2, 0, 1]}, []),
    ("Squeeze", {}, [("s", np.array([0], np.int64))]),
    ("Unsqueeze", {}, [("s", np.array([1], np.int64))]),
    ("Gather", {"axis": 2}, [("s", np.array([3, 0, 1], np.int64))]),
    ("Slice", {}, [("s", np.array([1], np.int64)), ("e", np.array([3], np.int64)), ("ax", np.array([2], np.int64))]),
    ("Pad", {}, [("s", np.array([0, 0, 1, 0, 1, 2], np.int64))]),
    ("Split", {"axis": 2}, [("s", np.array([1, 3], np.int64))]),
    ("Concat", {"axis": 1}, []),
])
def test_data_movement_ops_take_bytes(dtype, op, attrs, consts):
    rng = np.random.default_rng(9)
    x = data(rng, dtype, (1, 6, 4) if op != "Squeeze" else (1, 6, 4))
    names = ["x"] + [n for n, _ in consts]
    if op == "Concat":
        names = ["x", "x"]
    outputs = ["y", "y2"] if op == "Split" else ["y"]
    node = helper.make_node(op, names, outputs, name="n0", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TYPES[np.dtype(dtype)], x.shape)],
                          [helper.make_empty_tensor_value_info(o) for o in outputs],
                          [numpy_helper.from_array(a, n) for n, a in consts])
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()
    got = InferenceSession(m, scrub_interval_s=None).run(None, {"x": x})
    want = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g_, w in zip(got, want):
        assert g_.dtype == w.dtype and np.array_equal(g_, w)


def test_report_bit_exact_fraction():
    """Prints the fraction of outputs bit-exact with onnxruntime over this module's runs."""
    if EXACT["total"]:
        print(f"\nqlinear bit-exact: {EXACT['equal']} / {EXACT['total']} = {EXACT['equal'] / EXACT['total']:.6f}")
    if SOFTMAX["total"]:
        print(f"QLinearSoftmax bit-exact: {SOFTMAX['equal']} / {SOFTMAX['total']} = "
              f"{SOFTMAX['equal'] / SOFTMAX['total']:.6f}, worst {SOFTMAX['worst']} step(s)")

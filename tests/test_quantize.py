"""int8 models. QDQ (runtime/ops/quantize.py): QuantizeLinear/DequantizeLinear against
numpy's spec arithmetic (round half to even, saturation, per tensor and per axis). Light
models quantized at test time with onnxruntime's quantizers, in the three forms it writes
(static QDQ and static QOperator with calibration data generated here, and dynamic:
DynamicQuantizeLinear + ConvInteger/MatMulInteger), against onnxruntime; seeded upsets in
an int8 model never silent under tmr and abft."""
import numpy as np
import onnx
import onnx.version_converter
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.zoo import model_bytes
from tests.ort_int8 import INT16_MAX, ort_saturates_u8s8

ort = pytest.importorskip("onnxruntime")


def qdq_model(x_shape, scale, zero_point, axis=1):
    inits = [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zero_point, "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=axis),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis)]
    qtype = helper.np_dtype_to_tensor_dtype(zero_point.dtype)
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("q", qtype, x_shape),
                           helper.make_tensor_value_info("y", TensorProto.FLOAT, x_shape)], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]).SerializeToString()


def spec_quantize(x, scale, zp, lo, hi):
    """The spec (and onnx's reference): x / scale in float32, rounded half to even."""
    q = np.rint((x / np.asarray(scale, np.float32)).astype(np.float32)).astype(np.float64) + zp
    return np.clip(q, lo, hi)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.int8, np.uint8]), per_axis=st.booleans())
def test_quantize_dequantize_follow_the_spec(data, dtype, per_axis):
    info = np.iinfo(dtype)
    x = data.draw(hnp.arrays(np.float32, (2, 3, 4), elements=st.floats(-300, 300, width=32)))
    # values exactly halfway between two steps, to see the rounding
    x[0, 0, :2] = np.array([2.5, -3.5], np.float32)
    n = 3 if per_axis else 1
    scale = np.array(data.draw(st.lists(st.sampled_from([0.5, 1.0, 0.25, 2.0, 0.1]), min_size=n, max_size=n)),
                     np.float32)
    zp = np.array(data.draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n)), dtype)
    if not per_axis:
        scale, zp = scale.reshape(()), zp.reshape(())
    q, y = InferenceSession(qdq_model(x.shape, scale, zp), scrub_interval_s=None).run(None, {"x": x})
    s = scale.reshape(1, -1, 1) if per_axis else scale
    z = zp.reshape(1, -1, 1).astype(np.float64) if per_axis else float(zp)
    want = spec_quantize(x, s, z, info.min, info.max)
    assert q.dtype == dtype and np.array_equal(q, want.astype(dtype))
    np.testing.assert_array_equal(y, ((want - z) * s).astype(np.float32))
    ref_q, ref_y = ort.InferenceSession(qdq_model(x.shape, scale, zp), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    assert np.array_equal(q, ref_q)
    np.testing.assert_allclose(y, ref_y, rtol=1e-6, atol=0)


class _Reader:
    """Calibration data for onnxruntime's quantizer: seeded random inputs."""

    def __init__(self, name, shape, n=4):
        rng = np.random.default_rng(0)
        self.data = iter([{name: rng.random(shape, dtype=np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.data, None)


def quantized(name, tmp_path, per_channel, form="qdq"):
    """(model bytes, input name, input shape) of light model `name` quantized by
    onnxruntime: form "qdq" or "qoperator" (static, uint8 activations, int8 weights) or
    "dynamic" (uint8 weights: what onnxruntime's ConvInteger runs)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    src, pre, dst = tmp_path / "f.onnx", tmp_path / "p.onnx", tmp_path / "q.onnx"
    # The light models are IR 3 (weights listed as graph inputs too) at opset 9 or less:
    # drop those inputs and move to opset 13 so the quantizer's own converter accepts them.
    m = onnx.load_from_string(model_bytes(name))
    weights = {t.name for t in m.graph.initializer}
    kept = [vi for vi in m.graph.input if vi.name not in weights]
    del m.graph.input[:]
    m.graph.input.extend(kept)
    m.ir_version = 7
    m = onnx.version_converter.convert_version(m, 13)
    src.write_bytes(m.SerializeToString())
    quant_pre_process(str(src), str(pre), skip_optimization=False, skip_symbolic_shape=True)
    m = onnx.load(str(pre))
    inp = m.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    if form == "dynamic":
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QUInt8, per_channel=per_channel)
    else:
        quantize_static(str(pre), str(dst), _Reader(inp.name, shape),
                        quant_format=QuantFormat.QDQ if form == "qdq" else QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel)
    return dst.read_bytes(), inp.name, shape


def output_step(model: bytes) -> float:
    """The quantization step of the model's output (the scale of the DequantizeLinear
    that produces it), or 0."""
    m = onnx.load_from_string(model)
    producer = {o: n for n in m.graph.node for o in n.output}
    node = producer.get(m.graph.output[0].name)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    if node is None or node.op_type != "DequantizeLinear":
        return 0.0
    return float(np.max(inits[node.input[1]]))


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1", "resnet50"])
def test_static_qdq_light_models_match_onnxruntime(name, per_channel, tmp_path):
    model, inp, shape = quantized(name, tmp_path, per_channel)
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    (got,) = InferenceSession(model, scrub_interval_s=None).run(None, {inp: x})
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    (want,) = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, {inp: x})
    # radrt, like onnxruntime, fuses DQ -> Conv/Gemm -> Q into integer kernels (pass
    # fuse_qdq); ops between quantized tensors (MaxPool, Concat, pooling) run in float
    # between exact Q/DQ where onnxruntime may run them on the integers.
    steps = InferenceSession(model, scrub_interval_s=None).compiled.graph.steps
    assert any(st.node.op_type == "QLinearConv" for st in steps) and not any(st.node.op_type == "Conv"
                                                                            for st in steps)
    step = output_step(model)
    assert np.abs(got - want).max() <= step * 1.01 + 0.01 * float(np.abs(want).max())
    assert np.mean(np.abs(got - want) <= step * 1.01) >= 0.99
    (unfused,) = InferenceSession(model, scrub_interval_s=None, disabled_passes=("fuse_qdq",)).run(None, {inp: x})
    assert np.mean(np.abs(unfused - got) <= step * 1.01) >= 0.95


def qdq_conv(bias_scale_factor=1.0, relu=False):
    """DequantizeLinear -> Conv (int8 weights per channel, int32 bias) [-> Relu] -> QuantizeLinear."""
    rng = np.random.default_rng(5)
    xs, ws = np.float32(0.02), np.array([0.01, 0.003, 0.02], np.float32)
    inits = dict(xs=xs, xz=np.uint8(128), wq=rng.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8), ws=ws,
                 wz=np.zeros(3, np.int8), bq=rng.integers(-500, 500, 3).astype(np.int32),
                 bs=(xs * ws * np.float32(bias_scale_factor)).astype(np.float32), bz=np.zeros(3, np.int32),
                 ys=np.float32(0.05), yz=np.uint8(100))
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wf"], axis=0),
             helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["bf"], axis=0),
             helper.make_node("Conv", ["xf", "wf", "bf"], ["c"], pads=[1, 1, 1, 1])]
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
    nodes.append(helper.make_node("QuantizeLinear", ["r" if relu else "c", "ys", "yz"], ["y"]))
    g = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("x", TensorProto.UINT8, (1, 2, 6, 6))],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, (1, 3, 6, 6))],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


@pytest.mark.parametrize("case,fused", [(dict(), True), (dict(bias_scale_factor=1.001), False),
                                        (dict(relu=True), False)], ids=["fused", "bias-scale", "relu"])
def test_fuse_qdq_fuses_only_the_legal_pattern(case, fused):
    """fuse_qdq: a bias whose scale is not activation scale x weight scale (its integers
    are not the same value) or a clamp between the Conv and the QuantizeLinear keeps the
    float path. Fused or not, the result is within one step of the unfused float path and
    equals onnxruntime's (which fuses the same pattern) but for rounding ties, where
    onnxruntime's int8 product is exact on this CPU (tests/ort_int8.py: else inputs below
    the int16 pair bound)."""
    model = qdq_conv(**case)
    high = 256 if not ort_saturates_u8s8() else INT16_MAX // (2 * 127) + 1
    x = np.random.default_rng(6).integers(0, high, (1, 2, 6, 6)).astype(np.uint8)
    sess = InferenceSession(model, scrub_interval_s=None)
    kinds = [st.node.op_type for st in sess.compiled.graph.steps]
    assert ("QLinearConv" in kinds) == fused and ("Conv" in kinds) == (not fused)
    (got,) = sess.run(None, {"x": x})
    (off,) = InferenceSession(model, scrub_interval_s=None, disabled_passes=("fuse_qdq",)).run(None, {"x": x})
    (want,) = ort_run(model, {"x": x})
    assert np.abs(got.astype(int) - off).max() <= 1 and np.abs(got.astype(int) - want).max() <= 1
    if fused:
        assert np.array_equal(got, want)


def ort_run(model, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1", "resnet50"])
def test_qoperator_light_models_match_onnxruntime(name, per_channel, tmp_path):
    """QLinearConv, QGemm and the com.microsoft QLinear ops run on the integer kernels,
    whose arithmetic is onnxruntime's: the quantized outputs agree to the bit but for
    QLinearSoftmax's table rounding."""
    model, inp, shape = quantized(name, tmp_path, per_channel, "qoperator")
    ops = {n.op_type for n in onnx.load_from_string(model).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    (got,) = InferenceSession(model, scrub_interval_s=None).run(None, {inp: x})
    (want,) = ort_run(model, {inp: x})
    step = output_step(model)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.abs(got.astype(np.float64) - want).max() <= step * 1.01
    assert np.mean(got == want) >= 0.99


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1", "resnet50"])
def test_dynamic_light_models_match_onnxruntime(name, tmp_path):
    """DynamicQuantizeLinear + ConvInteger/MatMulInteger, then float32 scaling. The integer
    kernels agree with onnxruntime's to the bit (every intermediate tensor of these models
    is equal up to the first float op that sums in another order: AveragePool, LRN,
    GlobalAveragePool, 1 ulp apart), and a 1-ulp difference may move the next dynamic
    quantization by one step: outputs agree closely, not exactly."""
    model, inp, shape = quantized(name, tmp_path, False, "dynamic")
    ops = {n.op_type for n in onnx.load_from_string(model).graph.node}
    assert "ConvInteger" in ops and "DynamicQuantizeLinear" in ops and "Conv" not in ops
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    (got,) = InferenceSession(model, scrub_interval_s=None).run(None, {inp: x})
    (want,) = ort_run(model, {inp: x})
    diff = np.abs(got.astype(np.float64) - want)
    assert diff.max() <= 0.05 * float(np.abs(want).max())
    assert diff.mean() <= 0.03 * float(np.abs(want).mean())   # inception_v1, after LRN: 1.2%


@pytest.mark.parametrize("protection", ["tmr", "abft"])
def test_int8_model_upsets_are_never_silent(protection, tmp_path):
    """Seeded single-bit flips in the weights (int8, one byte each) of a QOperator model:
    every run's output is the golden one, or the call raises."""
    from runtime.errors import UncorrectableUpsetError
    model, inp, shape = quantized("squeezenet", tmp_path, True, "qoperator")
    x = np.random.default_rng(2).random(shape, dtype=np.float32)
    (golden,) = InferenceSession(model, scrub_interval_s=None).run(None, {inp: x})
    sess = InferenceSession(model, protection=protection, scrub_interval_s=None)
    rng = np.random.default_rng(3)
    n = sess.compiled.plan.region_bytes["weights"]
    for offset in rng.choice(n, 25, replace=False):
        sess.inject("weights/copy0", int(offset), int(rng.integers(8)))
        try:
            (y,) = sess.run(None, {inp: x})
        except UncorrectableUpsetError:
            continue
        assert y.tobytes() == golden.tobytes()
    health = sess.health()
    assert health["upsets_corrected"] + health["uncorrectable"] >= 1


def test_qdq_model_under_tmr_is_never_silent(tmp_path):
    model, inp, shape = quantized("squeezenet", tmp_path, True)
    x = np.random.default_rng(2).random(shape, dtype=np.float32)
    (golden,) = InferenceSession(model, scrub_interval_s=None).run(None, {inp: x})
    sess = InferenceSession(model, protection="tmr", scrub_interval_s=None)
    n = sess.compiled.plan.region_bytes["weights"]
    for offset in np.random.default_rng(3).choice(n, 20, replace=False):
        sess.inject("weights/copy0", int(offset), 6)
        (y,) = sess.run(None, {inp: x})
        assert y.tobytes() == golden.tobytes()
    assert sess.health()["upsets_corrected"] >= 1 and sess.health()["uncorrectable"] == 0


def test_fuse_qdq_leaves_blocked_and_mismatched_scales_unfused():
    """A blocked DequantizeLinear (block_size) is not a per-channel scale, and a bias with
    one scale beside per-channel weight scales cannot be checked element by element: both
    stay on the float path, whose result they keep."""
    from onnx import TensorProto as T
    rng = np.random.default_rng(8)
    b = rng.integers(-100, 100, (2, 4)).astype(np.int8)
    inits = dict(xs=np.float32(0.1), xz=np.uint8(100), b=b, bs=np.array([[0.01, 0.02], [0.03, 0.04]], np.float32),
                 bz=np.zeros((2, 2), np.int8), ys=np.float32(0.05), yz=np.uint8(10))
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bf"], axis=1, block_size=2),
             helper.make_node("MatMul", ["xf", "bf"], ["yf"]),
             helper.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["y"])]
    g = helper.make_graph(nodes, "blocked", [helper.make_tensor_value_info("x", T.UINT8, (1, 2))],
                          [helper.make_tensor_value_info("y", T.UINT8, (1, 4))],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString()
    x = np.array([[200, 30]], np.uint8)
    on = InferenceSession(m, scrub_interval_s=None)
    assert "QLinearMatMul" not in [st.node.op_type for st in on.compiled.graph.steps]
    (got,) = on.run(None, {"x": x})
    (off,) = InferenceSession(m, scrub_interval_s=None, disabled_passes=("fuse_qdq",)).run(None, {"x": x})
    assert np.array_equal(got, off)
    # per-channel weights, one bias scale: unfused, no error
    model = onnx.load_from_string(qdq_conv())
    for t in model.graph.initializer:
        if t.name == "bs":
            t.CopyFrom(numpy_helper.from_array(np.float32(0.0002), "bs"))
        if t.name == "bz":
            t.CopyFrom(numpy_helper.from_array(np.int32(0), "bz"))
    for n in model.graph.node:
        if n.input[0] == "bq":
            del n.attribute[:]
    data = model.SerializeToString()
    xi = np.random.default_rng(6).integers(0, 256, (1, 2, 6, 6)).astype(np.uint8)
    sess = InferenceSession(data, scrub_interval_s=None)
    assert "QLinearConv" not in [st.node.op_type for st in sess.compiled.graph.steps]
    assert sess.run(None, {"x": xi})[0].shape == (1, 3, 6, 6)


@pytest.mark.parametrize("same", [True, False], ids=["same-params", "other-params"])
def test_fuse_qdq_runs_maxpool_on_the_quantized_tensor_exactly(same):
    """DequantizeLinear -> MaxPool -> QuantizeLinear with one scale and zero point becomes
    a uint8 MaxPool, equal to the float path bit for bit; other parameters keep the float
    path."""
    from onnx import TensorProto as T
    inits = dict(s=np.float32(0.037), z=np.uint8(131), s2=np.float32(0.037 if same else 0.05), z2=np.uint8(131))
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
             helper.make_node("MaxPool", ["xf"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["p", "s2", "z2"], ["y"])]
    g = helper.make_graph(nodes, "dq_maxpool_q", [helper.make_tensor_value_info("x", T.UINT8, (2, 3, 9, 9))],
                          [helper.make_tensor_value_info("y", T.UINT8, None)],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    x = np.random.default_rng(9).integers(0, 256, (2, 3, 9, 9)).astype(np.uint8)
    sess = InferenceSession(m, scrub_interval_s=None)
    kinds = [st.node.op_type for st in sess.compiled.graph.steps]
    assert (kinds == ["MaxPool"]) == same
    (got,) = sess.run(None, {"x": x})
    (off,) = InferenceSession(m, scrub_interval_s=None, disabled_passes=("fuse_qdq",)).run(None, {"x": x})
    assert np.array_equal(got, off) and np.array_equal(got, ort_run(m, {"x": x})[0])


def test_abft_checks_int8_products_exactly_and_corrects_their_upsets(tmp_path):
    """Under abft every QLinearConv of a QOperator model is one "exact" step (int32
    checksums, no threshold: csrc/kernels/integer.h), run once: on random, constant and
    extreme inputs the output is none's bits and nothing is counted (no false alarm);
    an upset of any such step's stored output, any bit, is corrected."""
    model, inp, shape = quantized("squeezenet", tmp_path, True, "qoperator")
    sess = InferenceSession(model, protection="abft", scrub_interval_s=None)
    ref = InferenceSession(model, scrub_interval_s=None)
    steps = sess._engine.steps
    exact = [s.index for s in steps if s.kind == "exact"]
    convs = [k for k, st in enumerate(sess._engine.plan.steps) if st.node.op_type == "QLinearConv"]
    assert exact == convs and len(exact) == 26
    rng = np.random.default_rng(4)
    for x in (rng.random(shape, dtype=np.float32), np.zeros(shape, np.float32), np.ones(shape, np.float32) * 1e3,
              rng.standard_normal(shape).astype(np.float32) * 50):
        assert sess.run(None, {inp: x})[0].tobytes() == ref.run(None, {inp: x})[0].tobytes()
        assert all(steps[i].ck.checked == sess._engine.plan.steps[i].prepared.abft.checksums and
                   steps[i].ck.exceeded == 0 for i in exact)
    assert not any(sess.health()[k] for k in ("checksum_mismatches", "ops_reexecuted", "reexecutions",
                                             "upsets_corrected", "uncorrectable"))
    x = rng.random(shape, dtype=np.float32)
    (golden,) = ref.run(None, {inp: x})
    sites = {s.name: s for s in sess.fault_sites()}
    for i in exact:
        site = sites[f"compute/op{i}/r0"]
        for offset in rng.choice(site.nbytes, 3, replace=False):
            sess.inject(site.name, int(offset), int(rng.integers(8)))
            assert sess.run(None, {inp: x})[0].tobytes() == golden.tobytes()
    health = sess.health()
    assert health["uncorrectable"] == 0 and health["upsets_corrected"] == 3 * len(exact)

"""float16 models (runtime.half): the light CNNs converted to float16 with onnxruntime's
own converter, against onnxruntime; the rewrite's edges (Cast to float16 rounds, float16
inputs and outputs stay float16, outputs that are inputs or initializers, subgraphs);
the ukis-csmask cloud masks when the package is installed."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import ModelLoadError
from runtime.half import has_float16, widen_float16
from runtime.zoo import model_bytes, ukis_model_path
from tests.helpers import make_model

ort = pytest.importorskip("onnxruntime")
float16 = pytest.importorskip("onnxruntime.transformers.float16")

LIGHT = ["squeezenet", "shufflenet", "inception_v1", "resnet50"]


def ort_run(model: bytes, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def to_float16(model: bytes, keep_io_types: bool) -> bytes:
    """onnxruntime's float16 converter; it appends its input casts at the end of the
    graph, so sort the nodes (the spec requires topological order; radrt refuses others)."""
    from onnxruntime.transformers.onnx_model import OnnxModel
    proto = float16.convert_float_to_float16(onnx.load_from_string(model), keep_io_types=keep_io_types)
    OnnxModel(proto).topological_sort()
    return proto.SerializeToString()


@pytest.mark.parametrize("keep_io_types", [False, True], ids=["float16-io", "float32-io"])
@pytest.mark.parametrize("name", LIGHT)
def test_light_models_in_float16_match_onnxruntime(name, keep_io_types):
    model = to_float16(model_bytes(name), keep_io_types)
    sess = InferenceSession(model, scrub_interval_s=None)
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(1).random(inp.shape, dtype=np.float32).astype(inp.dtype)
    assert inp.dtype == (np.float32 if keep_io_types else np.float16)
    (got,) = sess.run(None, {inp.name: x})
    (want,) = ort_run(model, {inp.name: x})
    assert got.dtype == want.dtype and got.shape == want.shape
    # onnxruntime rounds each op's output to float16, radrt keeps float32 between the
    # model's casts: they differ by float16 rounding errors accumulated over the layers.
    scale = float(np.abs(want.astype(np.float32)).max())
    err = float(np.abs(got.astype(np.float32) - want.astype(np.float32)).max())
    assert err <= 2e-2 * scale, (err, scale)
    assert np.array_equal(got.reshape(got.shape[0], -1).argmax(1), want.reshape(want.shape[0], -1).argmax(1))


def test_cast_to_float16_rounds_as_float16_does():
    """Round to nearest even, overflow to inf, subnormals kept: numpy's astype(float16)."""
    model = make_model([helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
                        helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT)],
                       [("x", [64])], [("y", [64])])
    x = np.concatenate([np.array([65504, 65520, 65519.99, -1e6, 1e-8, 6e-8, 2 ** -24 * 1.5, 1 + 2 ** -11,
                                  1 + 3 * 2 ** -11, np.nan, np.inf, -0.0], np.float32),
                        np.random.default_rng(0).normal(0, 100, 52).astype(np.float32)])
    (y,) = InferenceSession(model, scrub_interval_s=None).run(None, {"x": x})
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float32)
    assert np.array_equal(y, want, equal_nan=True)
    assert np.array_equal(np.signbit(y), np.signbit(want))


@pytest.mark.parametrize("target", ["initializer", "intermediate"])
def test_castlike_to_a_float16_target_rounds_like_cast(target):
    """CastLike(x, t) with t float16 is a Cast to float16: it rounds even when later ops
    carry the value on in float32 (the target an initializer, or a value whose type only
    inference knows)."""
    t = numpy_helper.from_array(np.zeros(1, np.float16), "t")
    nodes = [helper.make_node("CastLike", ["x", "t" if target == "initializer" else "t2"], ["h"]),
             helper.make_node("Cast", ["h"], ["y0"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["y0", "x"], ["y"])]
    if target == "intermediate":
        nodes.insert(0, helper.make_node("Abs", ["t"], ["t2"]))
    g = helper.make_graph(nodes, "castlike", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])], initializer=[t])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]).SerializeToString()
    x = np.array([1 + 2 ** -11, 1 + 3 * 2 ** -11, 0.1, 70000.0, -3.3], np.float32)
    (y,) = InferenceSession(model, scrub_interval_s=None).run(None, {"x": x})
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float32) + x
    assert np.array_equal(y, want)


def half_model(nodes, inputs, outputs, initializers=(), opset=17) -> bytes:
    def vi(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT16, shape)
    graph = helper.make_graph(nodes, "half", [vi(*i) for i in inputs], [vi(*o) for o in outputs],
                              initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def test_float16_inputs_and_outputs_stay_float16():
    w = numpy_helper.from_array(np.array([[0.1, -2.5, 3.0]], np.float16), "w")
    model = half_model([helper.make_node("Mul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
                       [("x", [2, 3])], [("y", [2, 3])], [w])
    sess = InferenceSession(model, scrub_interval_s=None)
    assert sess.get_inputs()[0].type == "tensor(float16)" and sess.get_outputs()[0].type == "tensor(float16)"
    x = np.array([[1, 2, 3], [-4, 5.5, 6.25]], np.float16)
    (y,) = sess.run(None, {"x": x})
    assert y.dtype == np.float16
    # Mul then Relu, each rounded once to float16 in a float16 runtime; radrt rounds the
    # output once: equal here, as Relu does not round.
    prod = (x.astype(np.float32) * numpy_helper.to_array(w).astype(np.float32)).astype(np.float16)
    assert np.array_equal(y, np.maximum(prod, np.float16(0)))
    assert np.array_equal(y, ort_run(model, {"x": x})[0])
    with pytest.raises(ValueError, match="dtype float32 does not match"):
        sess.run(None, {"x": x.astype(np.float32)})


def test_an_untyped_output_that_is_float16_stays_float16():
    """A graph output declared without a type, float16 by type inference: float16 out, as
    onnxruntime returns it (it came back float32 before)."""
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "untyped",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT16, (2, 3))],
                              [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    x = (np.arange(6, dtype=np.float16).reshape(2, 3) - 3) / np.float16(3)
    (y,) = InferenceSession(model, scrub_interval_s=None).run(None, {"x": x})
    (want,) = ort_run(model, {"x": x})
    assert y.dtype == want.dtype == np.float16 and np.array_equal(y, want)


def test_outputs_that_are_inputs_or_initializers():
    c = numpy_helper.from_array(np.array([1.5, -2.0], np.float16), "c")
    model = half_model([helper.make_node("Neg", ["x"], ["n"])], [("x", [2])], [("x", [2]), ("n", [2]), ("c", [2])],
                       [c])
    x = np.array([3.0, -0.5], np.float16)
    got = InferenceSession(model, scrub_interval_s=None).run(None, {"x": x})
    want = ort_run(model, {"x": x})
    for g, w in zip(got, want):
        assert g.dtype == np.float16 and np.array_equal(g, w)


def test_subgraph_reads_a_widened_outer_value():
    then = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT16, [2])])
    other = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT16, [2])])
    cond = numpy_helper.from_array(np.array(True), "cond")
    model = half_model([helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)],
                       [("x", [2])], [("y", [2])], [cond])
    widened = widen_float16(onnx.load_from_string(model))
    onnx.checker.check_model(widened, full_check=True)
    x = np.array([3.0, -0.5], np.float16)
    (y,) = InferenceSession(model, scrub_interval_s=None).run(None, {"x": x})
    assert y.dtype == np.float16 and np.array_equal(y, -x)


def test_a_float32_model_is_left_as_it_is():
    proto = onnx.load_from_string(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2])], [("y", [2])]))
    assert not has_float16(proto) and widen_float16(proto) is proto


@pytest.mark.parametrize("bands,level", [(4, "l1c"), (4, "l2a"), (6, "l1c"), (6, "l2a")])
def test_ukis_csmask_models_match_onnxruntime(bands, level):
    try:
        path = ukis_model_path(bands, level)
    except ModelLoadError as e:
        pytest.skip(f"ukis-csmask is not installed (make test installs it when PyPI can be reached): {e}")
    x = np.random.default_rng(bands).random((1, bands, 256, 256), dtype=np.float32)
    (got,) = InferenceSession(path, scrub_interval_s=None).run(None, {"input": x})
    with open(path, "rb") as f:
        (want,) = ort_run(f.read(), {"input": x})
    assert got.shape == want.shape == (1, 3, 256, 256)
    assert np.abs(got - want).max() <= 2e-2 * np.abs(want).max()
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.999
    # The whole difference is onnxruntime's rounding of each op's output to float16:
    # onnxruntime on the widened model (float32 throughout) agrees with radrt closely.
    (wide,) = ort_run(widen_float16(onnx.load(path)).SerializeToString(), {"input": x})
    assert np.abs(got - wide).max() <= 1e-4 * np.abs(wide).max() + 1e-4
    assert (got.argmax(1) == wide.argmax(1)).mean() >= 0.9999


def test_cloud_mask_scene_tile_masks_clouds():
    """The demo's tile (fault_injection.cloudmask) on the 6-band model: onnxruntime and
    radrt agree on >= 99.9% of pixels and the model finds cloud where the tile has it."""
    from fault_injection import cloudmask as cm
    try:
        path = ukis_model_path(6, "l2a")
    except ModelLoadError as e:
        pytest.skip(f"ukis-csmask is not installed: {e}")
    tile, truth = cm.synthetic_tile(0)
    assert tile.shape == (6, 256, 256) and tile.dtype == np.float32
    x = cm.normalise(tile, path)
    mean, std = cm.band_statistics(path)
    assert np.allclose(x[0, :, 5, 7], (tile[:, 5, 7] - mean) / std, rtol=1e-6)
    mask = cm.class_mask(InferenceSession(path, scrub_interval_s=None).run(None, {"input": x})[0])
    with open(path, "rb") as f:
        ref = cm.class_mask(ort_run(f.read(), {"input": x})[0])
    assert (mask == ref).mean() >= 0.999
    cloud = truth == 1
    assert ((mask == 1) & cloud).sum() > 0.3 * cloud.sum() and ((mask == 1) & ~cloud).sum() < 0.01 * (~cloud).sum()


def test_inspect_says_float16_weights_are_held_as_float32(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "sq16.onnx"
    path.write_bytes(to_float16(model_bytes("squeezenet"), keep_io_types=False))
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "inspect", str(path)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert "float16 in the model, held and computed as float32" in p.stdout
    assert "input  data_0: float16" in p.stdout

"""API arguments radrt does not understand are errors naming the argument and the value (issue 9 §5, §6).

Cases from ../shared/cases/trust/models: unclear_api_argument_errors,
wrong_inject_at_op_float_silently_dropped, wrong_scrub_interval_nan_inf. Each
is rebuilt here on small inline models; the shared model is used too when the
folder is present.
"""
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

import runtime
from runtime import InferenceSession
from runtime.errors import InvalidArgumentError, ModelLoadError, RadrtError, UnknownArgumentError

from .helpers import make_model, relu_chain

CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "cases" / "trust"
BASE = CASES / "shared_models" / "base.onnx"


def conv_relu() -> bytes:
    """x (1,3,8,8) -> Conv 3x3 -> Relu -> y: weights, activations and two ops."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    return make_model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])], [("w", w)])


def raises_naming(exc, argument, value_text, fn):
    """fn() raises `exc` whose message names `argument` and `value_text`, and sets .argument."""
    with pytest.raises(exc) as info:
        fn()
    message = str(info.value)
    assert argument in message and value_text in message, message
    assert isinstance(info.value, RadrtError)
    assert info.value.argument is not None and argument.split("[")[0].split(".")[0] in info.value.argument
    return info.value


# -- InferenceSession(...) ------------------------------------------------------------------
def test_misspelt_keyword_is_a_type_error_naming_it_and_the_accepted_ones():
    e = raises_naming(UnknownArgumentError, "protecton", "protecton",
                      lambda: InferenceSession(relu_chain(), protecton="tmr"))
    assert isinstance(e, TypeError)
    for accepted in ("sess_options", "providers", "provider_options", "protection", "scrub_interval_s"):
        assert accepted in str(e)


def test_accepted_keywords_are_the_documented_ones():
    doc = InferenceSession.__init__.__doc__
    for name in ("sess_options", "providers", "provider_options", "input_shapes", "protection",
                 "vote_points", "scrub_block_size", "scrub_interval_s", "scrub_chunk_bytes"):
        assert f"{name}:" in doc, name


@pytest.mark.parametrize("value", [None, 5, 1.5, ["model.onnx"]])
def test_model_argument_of_the_wrong_type(value):
    raises_naming(InvalidArgumentError, "path_or_bytes", repr(value), lambda: InferenceSession(value))


def test_model_argument_accepts_path_bytes_pathlike_and_modelproto(tmp_path):
    data = relu_chain()
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    for model in (str(path), path, data, bytearray(data), memoryview(data), onnx.load_from_string(data)):
        assert InferenceSession(model).run(None, {"x": np.ones((2, 3), np.float32)})[0].shape == (2, 3)


@pytest.mark.parametrize("argument, value, shown", [
    ("protection", "TMR", "'TMR'"),
    ("protection", None, "None"),
    ("vote_points", "sometimes", "'sometimes'"),
    ("scrub_block_size", 100, "100"),
    ("scrub_block_size", 32, "32"),
    ("scrub_block_size", 64.0, "64.0"),
    ("scrub_block_size", True, "True"),
    ("scrub_block_size", 1 << 31, str(1 << 31)),
    ("scrub_interval_s", float("nan"), "nan"),
    ("scrub_interval_s", float("inf"), "inf"),
    ("scrub_interval_s", -1.0, "-1.0"),
    ("scrub_interval_s", 0, "0"),
    ("scrub_interval_s", 5e-324, "5e-324"),  # a wake-up every few ns spins the scrubber
    ("scrub_interval_s", 1e-9, "1e-09"),
    ("scrub_interval_s", 0.000999, "0.000999"),
    ("scrub_interval_s", 1e12, "1000000000000.0"),
    ("scrub_interval_s", "fast", "'fast'"),
    ("scrub_interval_s", True, "True"),
    ("scrub_chunk_bytes", 0, "0"),
    ("scrub_chunk_bytes", 1.5, "1.5"),
    ("scrub_chunk_bytes", "1M", "'1M'"),
])
def test_session_arguments_of_the_wrong_type_or_range(argument, value, shown):
    # Checked for every mode: a bad scrub setting is refused even while nothing scrubs.
    raises_naming(InvalidArgumentError, argument, shown,
                  lambda: InferenceSession(relu_chain(), **{argument: value}))


@pytest.mark.parametrize("value", [None, 0.001, 0.5, 2, 86400.0, np.float32(0.25)])
def test_valid_scrub_intervals(value):
    sess = InferenceSession(relu_chain(), protection="tmr", scrub_interval_s=value)
    assert (sess._scrubber is None) == (value is None)
    sess.close()


def test_scrub_interval_nan_inf_case():
    """wrong_scrub_interval_nan_inf: NaN spun the scrubber, inf/1e12 killed its thread."""
    model = str(BASE) if BASE.exists() else conv_relu()
    for value in (float("nan"), float("inf"), -float("inf"), 1e12):
        e = raises_naming(InvalidArgumentError, "scrub_interval_s", repr(value),
                          lambda: InferenceSession(model, protection="tmr", scrub_interval_s=value))
        assert "86400" in str(e)


@pytest.mark.parametrize("shapes, argument, shown", [
    ([("x", (2, 3))], "input_shapes", "[("),
    ({"y": (2, 3)}, "input_shapes", "'y'"),
    ({"x": 5}, "input_shapes['x']", "5"),
    ({"x": (2,)}, "input_shapes['x']", "(2,)"),
    ({"x": (2, -1)}, "input_shapes['x'] dimension 1", "-1"),
    ({"x": (2.0, 3)}, "input_shapes['x'] dimension 0", "2.0"),
])
def test_input_shapes_checked(shapes, argument, shown):
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y])
    raises_naming(InvalidArgumentError, argument, shown, lambda: InferenceSession(model, input_shapes=shapes))


def test_input_shapes_cannot_change_a_fixed_dimension():
    raises_naming(InvalidArgumentError, "input_shapes['x']", "(4, 3)",
                  lambda: InferenceSession(relu_chain(shape=(2, 3)), input_shapes={"x": (4, 3)}))
    sess = InferenceSession(relu_chain(shape=(2, 3)), input_shapes={"x": [2, 3]})
    assert sess.get_inputs()[0].shape == [2, 3]


# -- onnxruntime's keywords ---------------------------------------------------------------
def test_providers_cpu_only():
    for ok in (None, ["CPUExecutionProvider"], ("CPUExecutionProvider",), [("CPUExecutionProvider", {})]):
        InferenceSession(relu_chain(), providers=ok)
    for bad in (["CUDAExecutionProvider"], "CPUExecutionProvider", [],
                ["CPUExecutionProvider", "CUDAExecutionProvider"], [("CPUExecutionProvider", {"x": 1})]):
        raises_naming(InvalidArgumentError, "providers", repr(bad),
                      lambda: InferenceSession(relu_chain(), providers=bad))


def test_provider_options_empty_only():
    InferenceSession(relu_chain(), providers=["CPUExecutionProvider"], provider_options=[{}])
    raises_naming(InvalidArgumentError, "provider_options", "'arena_extend_strategy'",
                  lambda: InferenceSession(relu_chain(), providers=["CPUExecutionProvider"],
                                           provider_options=[{"arena_extend_strategy": 1}]))


def test_session_options_radrt_honours_pass_others_are_refused():
    so = ort.SessionOptions()
    InferenceSession(relu_chain(), so)
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.use_deterministic_compute = True
    InferenceSession(relu_chain(), sess_options=so)
    so.intra_op_num_threads = 4
    raises_naming(InvalidArgumentError, "sess_options.intra_op_num_threads", "4",
                  lambda: InferenceSession(relu_chain(), sess_options=so))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    raises_naming(InvalidArgumentError, "sess_options.graph_optimization_level", "ORT_DISABLE_ALL",
                  lambda: InferenceSession(relu_chain(), sess_options=so))
    so = ort.SessionOptions()
    so.enable_profiling = True
    raises_naming(InvalidArgumentError, "sess_options.enable_profiling", "True",
                  lambda: InferenceSession(relu_chain(), sess_options=so))
    raises_naming(InvalidArgumentError, "sess_options", "{'threads': 1}",
                  lambda: InferenceSession(relu_chain(), sess_options={"threads": 1}))


def test_run_options_defaults_only():
    sess = InferenceSession(relu_chain())
    feeds = {"x": np.ones((2, 3), np.float32)}
    sess.run(None, feeds, ort.RunOptions())
    ro = ort.RunOptions()
    ro.terminate = True
    raises_naming(InvalidArgumentError, "run_options.terminate", "True", lambda: sess.run(None, feeds, ro))
    raises_naming(InvalidArgumentError, "run_options", "'fast'", lambda: sess.run(None, feeds, "fast"))


# -- run(output_names, feeds) -----------------------------------------------------------------
def two_outputs() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["yy"])]
    return make_model(nodes, [("x", [2, 3])], [("y", [2, 3]), ("yy", [2, 3])])


@pytest.mark.parametrize("names, shown", [
    (5, "5"),
    ("yy", "'yy'"),   # a bare str used to be iterated per character ('y', 'y')
    ("y", "'y'"),
    (["nope"], "'nope'"),
    ([0], "0"),
    ({"y": 1}, "{'y': 1}"),
])
def test_output_names_must_be_none_or_a_list_of_output_names(names, shown):
    sess = InferenceSession(two_outputs())
    raises_naming(InvalidArgumentError, "output", shown, lambda: sess.run(names, {"x": np.ones((2, 3), np.float32)}))


def test_output_names_select_and_order():
    sess = InferenceSession(two_outputs())
    x = np.ones((2, 3), np.float32)
    yy, y = sess.run(("yy", "y"), {"x": x})
    assert (yy == -1).all() and (y == 1).all()


def test_api_argument_errors_case():
    """unclear_api_argument_errors, on the shared model when present."""
    model = str(BASE) if BASE.exists() else conv_relu()
    raises_naming(InvalidArgumentError, "path_or_bytes", "None", lambda: InferenceSession(None))
    s = InferenceSession(model, protection="tmr", scrub_interval_s=None)
    X = np.zeros((1, 3, 8, 8), np.float32)
    out = s.get_outputs()[0].name
    raises_naming(InvalidArgumentError, "output_names", "5", lambda: s.run(5, {"x": X}))
    raises_naming(InvalidArgumentError, "output_names", repr(out + out), lambda: s.run(out + out, {"x": X}))
    raises_naming(InvalidArgumentError, "scrub_interval_s", "'fast'",
                  lambda: InferenceSession(model, protection="tmr", scrub_interval_s="fast"))
    raises_naming(InvalidArgumentError, "byte_offset", "nan", lambda: s.inject("weights/copy0", float("nan"), 0))


# -- inject(site, byte_offset, bit, at_op, model) ---------------------------------------------
@pytest.mark.parametrize("args, kwargs, argument, shown", [
    (("activations/r0", 0, 6), {"at_op": 0.5}, "at_op", "0.5"),
    (("activations/r0", 0, 6), {"at_op": 1.0}, "at_op", "1.0"),
    (("activations/r0", 0, 6), {"at_op": "0"}, "at_op", "'0'"),
    (("activations/r0", 0, 6), {"at_op": True}, "at_op", "True"),
    (("activations/r0", 0, 6), {"at_op": 2}, "at_op", "2"),  # past the last op
    (("activations/r0", 0, 6), {"at_op": -1}, "at_op", "-1"),
    (("weights/copy0", 1.9, 0), {}, "byte_offset", "1.9"),
    (("weights/copy0", "3", 0), {}, "byte_offset", "'3'"),
    (("weights/copy0", float("nan"), 0), {}, "byte_offset", "nan"),
    (("weights/copy0", False, 0), {}, "byte_offset", "False"),
    (("weights/copy0", 10 ** 9, 0), {}, "byte_offset", str(10 ** 9)),
    (("weights/copy0", 0, 2.5), {}, "bit", "2.5"),
    (("weights/copy0", 0, 8), {}, "bit", "8"),
    (("weights/copy0", 0, -1), {}, "bit", "-1"),
    (("weights/copy0", 0, 0), {"model": "flop"}, "model", "'flop'"),
    ((3, 0, 0), {}, "site", "3"),
    (("weights/copy9", 0, 0), {}, "site", "'weights/copy9'"),
])
def test_inject_takes_integers_in_range_only(args, kwargs, argument, shown):
    sess = InferenceSession(conv_relu(), protection="tmr", scrub_interval_s=None)
    raises_naming(InvalidArgumentError, argument, shown, lambda: sess.inject(*args, **kwargs))


def test_inject_accepts_numpy_integers():
    sess = InferenceSession(conv_relu(), protection="tmr", scrub_interval_s=None)
    x = {"x": np.ones((1, 3, 8, 8), np.float32)}
    want = sess.run(None, x)[0]
    sess.inject("weights/copy1", np.int64(3), np.uint8(6))
    assert sess.run(None, x)[0].tobytes() == want.tobytes()
    sess.inject("compute/op0/r0", np.int32(3), 6, at_op=np.int64(0))
    assert sess.run(None, x)[0].tobytes() == want.tobytes()
    assert sess.health()["upsets_corrected"] == 2


def test_inject_at_op_float_case():
    """wrong_inject_at_op_float_silently_dropped: at_op=0.5 was armed under key 0.5 and never fired."""
    model = str(BASE) if BASE.exists() else conv_relu()
    s = InferenceSession(model)
    X = np.random.default_rng(3).random((1, 3, 8, 8), dtype=np.float32)
    ref = s.run(None, {"x": X})[0]
    size = [f for f in s.fault_sites() if f.name == "activations/r0"][0].nbytes
    changed = 0
    for off in range(0, size, 4):
        s.inject("activations/r0", off, 6, at_op=0)
        changed += not np.array_equal(s.run(None, {"x": X})[0], ref)
    assert changed > 0  # at_op=0 lands
    raises_naming(InvalidArgumentError, "at_op", "0.5", lambda: s.inject("activations/r0", 0, 6, at_op=0.5))
    assert np.array_equal(s.run(None, {"x": X})[0], ref)  # nothing armed behind the refusal


# -- other calls --------------------------------------------------------------------------------
def test_set_protection_and_paused_run_arguments():
    sess = InferenceSession(conv_relu(), scrub_interval_s=None)
    raises_naming(InvalidArgumentError, "protection", "'TMR'", lambda: sess.set_protection("TMR"))
    raises_naming(InvalidArgumentError, "vote_points", "'all'", lambda: sess.set_protection("tmr", "all"))
    assert sess.protection == "none"
    with sess.paused_run({"x": np.ones((1, 3, 8, 8), np.float32)}) as p:
        raises_naming(InvalidArgumentError, "stop", "1.5", lambda: p.advance_to(1.5))
        raises_naming(InvalidArgumentError, "stop", "3", lambda: p.advance_to(3))
        p.advance_to(1)
        assert p.finish()[0].shape == (1, 4, 8, 8)


def test_feed_errors_are_invalid_argument_errors():
    sess = InferenceSession(relu_chain())
    for feed, shown in (([1, 2], "list"), ({"z": np.ones((2, 3), np.float32)}, "'z'"),
                        ({"x": np.ones((2, 3), np.float64)}, "float64"),
                        ({"x": np.ones((3, 3), np.float32)}, "(3, 3)")):
        raises_naming(InvalidArgumentError, "input", shown, lambda: sess.run(None, feed))


def test_every_public_method_documents_what_it_raises():
    for fn in (InferenceSession, InferenceSession.__init__, InferenceSession.run, InferenceSession.health,
               InferenceSession.fault_sites, InferenceSession.inject, InferenceSession.scrub):
        assert fn.__doc__ and len(fn.__doc__) > 200, fn
    assert "Raises" in InferenceSession.run.__doc__ and "Raises" in InferenceSession.inject.__doc__
    for counter in runtime.session.HEALTH_COUNTERS:
        assert counter in InferenceSession.health.__doc__


def test_package_is_typed_and_versioned():
    assert (Path(runtime.__file__).parent / "py.typed").exists()
    from importlib.metadata import version
    assert version("radrt") == runtime.__version__


def test_scrub_interval_bound_fits_the_platform_wait():
    import threading

    from runtime.protect.scrubber import MAX_INTERVAL_S
    assert MAX_INTERVAL_S <= threading.TIMEOUT_MAX and math.isfinite(MAX_INTERVAL_S)


def test_a_new_shape_does_not_silently_drop_armed_upsets():
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])
    model = make_model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["y"])], [x], [y])
    sess = InferenceSession(model, protection="tmr", scrub_interval_s=None)
    sess.run(None, {"x": np.ones((2, 3), np.float32)})
    sess.inject("activations/r0", 0, 6, at_op=0)
    raises_naming(InvalidArgumentError, "inject", "(4, 3)", lambda: sess.run(None, {"x": np.ones((4, 3), np.float32)}))
    (got,) = sess.run(None, {"x": np.ones((2, 3), np.float32)})  # the upset lands and is outvoted
    assert (got == -1).all() and sess.health()["upsets_corrected"] == 1


# -- paused runs (red team rows 4, 21) ------------------------------------------------------
def sigmoid_tanh_mul() -> bytes:
    """x (2,4) -> Sigmoid -> Tanh -> Mul w -> y: three ops."""
    w = np.random.default_rng(1).standard_normal((2, 4)).astype(np.float32)
    nodes = [helper.make_node("Sigmoid", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["b"]),
             helper.make_node("Mul", ["b", "w"], ["y"])]
    return make_model(nodes, [("x", [2, 4])], [("y", [2, 4])], [("w", w)])


@pytest.mark.parametrize("mode", ["none", "tmr"])
def test_nothing_runs_over_an_open_paused_run_on_the_same_thread(mode):
    """A nested run() overwrote the paused run's arena and finish() returned its values."""
    sess = InferenceSession(sigmoid_tanh_mul(), protection=mode, scrub_interval_s=None)
    x1 = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    x2 = x1 + 5
    (good,) = sess.run(None, {"x": x1})
    with sess.paused_run({"x": x1}) as p:
        p.advance_to(2)
        for nested in (lambda: sess.run(None, {"x": x2}),
                       lambda: sess.paused_run({"x": x2}).__enter__(),
                       lambda: sess.set_protection("dwc")):
            e = raises_naming(InvalidArgumentError, "paused_run", "2", nested)
            assert "a paused run is in progress" in str(e)
        sess.health(), sess.fault_sites()  # reads are allowed
        (got,) = p.finish()
    np.testing.assert_array_equal(got, good)
    assert sess.protection == mode
    (again,) = sess.run(None, {"x": x2})  # the block is left: runs again
    np.testing.assert_array_equal(again, InferenceSession(sigmoid_tanh_mul()).run(None, {"x": x2})[0])


def test_paused_run_outside_its_with_block_is_refused():
    sess = InferenceSession(sigmoid_tanh_mul(), scrub_interval_s=None)
    feeds = {"x": np.ones((2, 4), np.float32)}
    p = sess.paused_run(feeds)
    for call, what in ((lambda: p.finish(), "finish"), (lambda: p.advance_to(1), "advance_to")):
        e = raises_naming(InvalidArgumentError, "paused_run", what, call)
        assert "context manager" in str(e)
    with p:
        p.advance_to(1)
    raises_naming(InvalidArgumentError, "paused_run", "finish", lambda: p.finish())
    assert sess.run(None, feeds)[0].shape == (2, 4)  # the lock was released


# -- model files (red team row 15) --------------------------------------------------------------
@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"), ("/dev/urandom", "a character device")])
def test_a_device_is_refused_before_reading(path, kind):
    if not Path(path).exists():
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(ModelLoadError) as info:
        InferenceSession(path)
    assert str(info.value) == (f"model file '{path}': is {kind}, expected a regular file holding a "
                               f"serialized ONNX ModelProto")


def test_a_fifo_or_directory_is_refused_without_blocking(tmp_path):
    import os
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)  # no writer: a blocking open would hang forever
    with pytest.raises(ModelLoadError, match="is a FIFO, expected a regular file"):
        InferenceSession(str(fifo))
    with pytest.raises(ModelLoadError, match="is a directory, expected a regular file"):
        InferenceSession(tmp_path)


def test_a_model_file_larger_than_the_budget_is_refused_before_reading(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(conv_relu())
    size = path.stat().st_size
    with pytest.raises(ModelLoadError) as info:
        InferenceSession(path, max_memory_bytes=size - 1)
    assert str(info.value) == (f"model file '{path}': {size} bytes, more than the memory budget of "
                               f"{size - 1} bytes (max_memory_bytes)")
    assert InferenceSession(path, max_memory_bytes=1 << 20).get_inputs()[0].name == "x"


# -- runtime.backend (red team rows 22, 25) ------------------------------------------------------
def test_backend_run_node_runs_one_node():
    from runtime import backend
    x = np.array([[-1.0, 2.0, -3.0]], np.float32)
    (y,) = backend.run_node(helper.make_node("Relu", ["x"], ["y"]), [x])
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    (s,) = backend.run_node(helper.make_node("Add", ["a", "b"], ["s"]), [x, x], opset_version=13)
    np.testing.assert_array_equal(s, x + x)
    (y,) = backend.run_node(helper.make_node("Relu", ["x"], ["y"]), [x], outputs_info=[(np.float32, (1, 3))])
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_backend_refuses_other_devices_wrong_counts_and_unknown_keywords():
    from runtime import backend
    from runtime.errors import ModelLoadError
    x = np.ones((2, 3), np.float32)
    model = onnx.load_from_string(relu_chain())
    relu = helper.make_node("Relu", ["x"], ["y"])
    assert not backend.supports_device("CUDA") and backend.supports_device("CPU")
    raises_naming(InvalidArgumentError, "device", "'CUDA'", lambda: backend.prepare(model, device="CUDA"))
    raises_naming(InvalidArgumentError, "device", "'CUDA'", lambda: backend.run_node(relu, [x], device="CUDA"))
    raises_naming(UnknownArgumentError, "foo", "foo", lambda: backend.prepare(model).run([x], foo=1))
    raises_naming(UnknownArgumentError, "foo", "foo", lambda: backend.run_node(relu, [x], foo=1))
    raises_naming(InvalidArgumentError, "inputs", "2", lambda: backend.run_node(relu, [x, x]))
    with pytest.raises(ModelLoadError, match="output 'y' cannot be inferred; give outputs_info"):
        backend.run_node(helper.make_node("NoSuchOp", ["x"], ["y"]), [x])
    broken = onnx.load_from_string(relu_chain())
    broken.graph.node[0].input[0] = "nowhere"
    with pytest.raises(ModelLoadError, match="onnx's checker refuses it"):
        backend.prepare(broken)


def test_methods_refuse_unknown_keywords_like_the_constructor():
    """Red team row 23: these were plain TypeErrors without argument/value."""
    sess = InferenceSession(conv_relu(), protection="tmr", scrub_interval_s=None)
    feeds = {"x": np.ones((1, 3, 8, 8), np.float32)}
    for call, name in ((lambda: sess.run(None, feeds, foo=1), "foo"),
                       (lambda: sess.set_protection("tmr", votepoints="outputs"), "votepoints"),
                       (lambda: sess.inject("weights/copy0", 0, 0, at=1), "at"),
                       (lambda: sess.scrub(full=True), "full")):
        e = raises_naming(UnknownArgumentError, name, name, call)
        assert isinstance(e, TypeError) and "accepted:" in str(e)
    assert sess.health()["upsets_detected"] == 0 and sess.protection == "tmr"

"""The onnxruntime-shaped API: feeds are validated, outputs are owned copies."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from runtime import CompileError, InferenceSession
from runtime.errors import InvalidArgumentError

from .helpers import make_model, relu_chain


def test_inputs_and_outputs_describe_the_model():
    sess = InferenceSession(relu_chain(shape=(2, 3)))
    (i,), (o,) = sess.get_inputs(), sess.get_outputs()
    assert (i.name, i.shape, i.type) == ("x", [2, 3], "tensor(float)")
    assert (o.name, o.shape, o.type) == ("r2", [2, 3], "tensor(float)")


def test_run_matches_numpy_and_output_names_select():
    sess = InferenceSession(relu_chain())
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    (y,) = sess.run(["r2"], {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    with pytest.raises(InvalidArgumentError, match="output 'nope' is not an output"):
        sess.run(["nope"], {"x": x})


def test_outputs_are_copies_not_views_of_runtime_memory():
    sess = InferenceSession(relu_chain())
    (y1,) = sess.run(None, {"x": np.ones((2, 3), np.float32)})
    sess.run(None, {"x": np.zeros((2, 3), np.float32)})
    assert (y1 == 1).all()


@pytest.mark.parametrize("feed, message", [
    ({"y": np.zeros((2, 3), np.float32)}, "input 'y' is not an input of the model"),
    ({}, "input 'x' is missing"),
    ({"x": np.zeros((2, 3), np.float64)}, r"input 'x': dtype float64 does not match the model's float32"),
    ({"x": np.zeros((2, 4), np.float32)}, r"input 'x': shape \(2, 4\) does not match the model's \(2, 3\)"),
    ({"x": np.zeros((2, 3, 1), np.float32)}, r"input 'x': shape \(2, 3, 1\) does not match"),
])
def test_bad_feeds_raise_invalid_argument_error_naming_the_input(feed, message):
    with pytest.raises(InvalidArgumentError, match=message):
        InferenceSession(relu_chain()).run(None, feed)


def test_non_contiguous_feed_is_accepted():
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T[:2, :3] - 5
    (y,) = InferenceSession(relu_chain()).run(None, {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def symbolic_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    return make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y])


def test_symbolic_dims_compile_on_first_run_and_on_new_shapes():
    sess = InferenceSession(symbolic_model())
    assert sess.get_inputs()[0].shape == ["N", 3]
    with pytest.raises(CompileError, match="symbolic"):
        sess.compiled
    for n in (1, 4, 4, 2):
        x = np.full((n, 3), -1.0, np.float32)
        (y,) = sess.run(None, {"x": x})
        assert y.shape == (n, 3) and (y == 0).all()
    with pytest.raises(InvalidArgumentError, match=r"shape \(2, 5\) does not match the model's \('\?', 3\)"):
        sess.run(None, {"x": np.zeros((2, 5), np.float32)})


def test_input_shapes_fix_symbolic_dims_at_construction():
    sess = InferenceSession(symbolic_model(), input_shapes={"x": (5, 3)})
    assert sess.get_inputs()[0].shape == [5, 3]
    with pytest.raises(InvalidArgumentError, match=r"shape \(2, 3\) does not match the model's \(5, 3\)"):
        sess.run(None, {"x": np.zeros((2, 3), np.float32)})


def test_nan_and_inf_flow_through():
    x = np.array([[np.nan, np.inf, -np.inf], [0.0, -0.0, 1.0]], np.float32)
    (y,) = InferenceSession(relu_chain()).run(None, {"x": x})
    assert np.isnan(y[0, 0]) and y[0, 1] == np.inf and y[0, 2] == 0


def test_runs_are_bit_identical():
    sess = InferenceSession(relu_chain())
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    a, b = sess.run(None, {"x": x})[0], sess.run(None, {"x": x})[0]
    assert a.tobytes() == b.tobytes()

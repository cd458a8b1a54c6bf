"""Stage 2 (compile): folding, views and BatchNormalization fusion keep results right."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runtime import CompileError, InferenceSession, UnsupportedOpError

from .helpers import make_model

RNG = np.random.default_rng(0)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def reference(data, feeds):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)


def test_shape_arithmetic_folds_to_a_view():
    # y = Reshape(x, concat(shape(x)[0:1], [-1])): Shape, Slice and Concat fold, Reshape is a view.
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
        helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Relu", ["flat"], ["y"]),
    ]
    data = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 12])], initializers=[
        ("zero", np.array([0], np.int64)), ("one", np.array([1], np.int64)),
        ("minus1", np.array([-1], np.int64))])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Relu"]
    assert sess.compiled.graph.folded_nodes == 3
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0).reshape(2, 12))


def conv_bn_model(with_bias=True):
    w, b = rand(4, 3, 3, 3, scale=0.3), rand(4)
    scale, bias, mean, var = rand(4), rand(4), rand(4), np.abs(rand(4)) + 0.5
    conv_in = ["x", "w", "b"] if with_bias else ["x", "w"]
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"], name="bn",
                              epsilon=1e-3)]
    inits = [("w", w), ("s", scale), ("bb", bias), ("m", mean), ("v", var)]
    if with_bias:
        inits.append(("b", b))
    return make_model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])], inits)


@pytest.mark.parametrize("with_bias", [True, False])
def test_batchnorm_folds_into_conv(with_bias):
    data = conv_bn_model(with_bias)
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv"]
    assert sess.compiled.graph.fused_nodes == [("BatchNormalization", "bn")]
    x = rand(1, 3, 8, 8)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_batchnorm_not_folded_when_conv_output_is_read_twice():
    data = conv_bn_model()
    model = onnx.load_from_string(data)
    model.graph.output.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 8, 8]))
    sess = InferenceSession(model)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv", "BatchNormalization"]
    x = rand(1, 3, 8, 8)
    for got, want in zip(sess.run(None, {"x": x}), reference(model.SerializeToString(), {"x": x})):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_batchnorm_folds_into_gemm(trans_b):
    w = rand(5, 6) if trans_b else rand(6, 5)
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["g"], transB=trans_b, alpha=0.5, beta=2.0),
             helper.make_node("BatchNormalization", ["g", "s", "bb", "m", "v"], ["y"], name="bn")]
    data = make_model(nodes, [("x", [3, 6])], [("y", [3, 5])], [
        ("w", w), ("c", rand(5)), ("s", rand(5)), ("bb", rand(5)), ("m", rand(5)),
        ("v", np.abs(rand(5)) + 0.5)])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Gemm"]
    x = rand(3, 6)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def branch(name, op):
    out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [2, 2])
    return helper.make_graph([helper.make_node(op, ["x"], [f"{name}_out"])], name, [], [out])


@pytest.mark.parametrize("cond, expected", [(True, lambda x: np.maximum(x, 0)), (False, lambda x: -x)])
def test_if_with_constant_condition_is_inlined(cond, expected):
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", "Relu"),
                            else_branch=branch("else", "Neg"))
    data = make_model([node], [("x", [2, 2])], [("y", [2, 2])],
                      initializers=[("cond", np.array(cond))])
    x = rand(2, 2)
    np.testing.assert_array_equal(InferenceSession(data).run(None, {"x": x})[0], expected(x))


def test_if_with_runtime_condition_is_unsupported():
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("then", "Relu"),
                            else_branch=branch("else", "Neg"))
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    data = make_model([node], [("x", [2, 2]), cond], [("y", [2, 2])])
    with pytest.raises(UnsupportedOpError, match="If .*condition known at compile time"):
        InferenceSession(data)


def test_fold_only_op_on_runtime_input_is_unsupported():
    data = make_model([helper.make_node("Floor", ["x"], ["y"], name="f")], [("x", [2])], [("y", [2])])
    model = onnx.load_from_string(data)
    model.graph.node[0].op_type = "Round"
    with pytest.raises(UnsupportedOpError, match="op Round \\(node 'f', opset 17\\).*cannot be folded"):
        InferenceSession(model)


def test_bad_reshape_names_node_and_shapes():
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")
    data = make_model([node], [("x", [2, 3])], [("y", [4, 2])],
                      initializers=[("s", np.array([4, 2], np.int64))])
    with pytest.raises(CompileError, match=r"Reshape node 'rs': cannot reshape \(2, 3\)"):
        InferenceSession(data)


def test_constant_output_is_copied_out():
    node = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(rand(3), "k"))
    relu = helper.make_node("Relu", ["x"], ["y"])
    data = make_model([node, relu], [("x", [3])], [("k", [3]), ("y", [3])])
    k, _ = InferenceSession(data).run(None, {"x": rand(3)})
    np.testing.assert_array_equal(k, reference(data, {"x": rand(3)})[0])


@pytest.mark.parametrize("act, opset", [
    (helper.make_node("Relu", ["bn_out"], ["act_out"]), 17),
    (helper.make_node("Clip", ["bn_out", "lo", "hi"], ["act_out"]), 17),
    (helper.make_node("Clip", ["bn_out"], ["act_out"], min=-0.5, max=0.25), 10),
])
def test_relu_and_clip_fuse_into_conv_after_batchnorm(act, opset):
    model = onnx.load_from_string(conv_bn_model())
    model.graph.node[1].output[0] = "bn_out"
    model.graph.node.append(act)
    model.graph.output[0].name = "act_out"
    model.graph.initializer.extend([numpy_helper.from_array(np.float32(-0.5), "lo"),
                                    numpy_helper.from_array(np.float32(0.25), "hi")])
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", opset))
    data = model.SerializeToString()
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv"]
    assert [op for op, _ in sess.compiled.graph.fused_nodes] == ["BatchNormalization", act.op_type]
    x = rand(1, 3, 8, 8)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_relu_not_fused_when_conv_output_is_read_elsewhere():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])]
    data = make_model(nodes, [("x", [1, 2, 4, 4])], [("y", [1, 2, 4, 4]), ("c", [1, 2, 4, 4])],
                      [("w", rand(2, 2, 1, 1))])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv", "Relu"]
    x = rand(1, 2, 4, 4)
    y, c = sess.run(None, {"x": x})
    np.testing.assert_array_equal(y, np.maximum(c, 0))


@pytest.mark.parametrize("const_shape", [(4, 1, 1), (1, 4, 1, 1), (1,), ()])
def test_per_channel_mul_and_add_fold_into_conv(const_shape):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c", "s"], ["m"], name="mul"),
             helper.make_node("Add", ["t", "m"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["y"])]
    data = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 6, 6])], [
        ("w", rand(4, 3, 3, 3)), ("s", rand(*const_shape)), ("t", rand(*const_shape))])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv"]
    x = rand(1, 3, 6, 6)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0],
                               rtol=1e-4, atol=1e-5)


def test_mul_by_a_full_tensor_is_not_folded():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Mul", ["c", "s"], ["y"])]
    data = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 2, 3, 3])],
                      [("w", rand(2, 2, 1, 1)), ("s", rand(1, 2, 3, 3))])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv", "Mul"]
    x = rand(1, 2, 3, 3)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0],
                               rtol=1e-5, atol=1e-6)


def test_concat_batchnorm_mul_add_relu_becomes_one_batchnorm_step():
    """DenseNet's pre-activation: BatchNormalization after a Concat, written-out scale and
    shift, Relu: one BatchNormalization step with folded parameters and a fused clamp."""
    c = 6
    nodes = [helper.make_node("Concat", ["x", "x2"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "s", "bb", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Mul", ["bn", "k"], ["mul"], name="mul"),
             helper.make_node("Add", ["mul", "d"], ["add"], name="add"),
             helper.make_node("Relu", ["add"], ["y"], name="relu")]
    data = make_model(nodes, [("x", [1, 3, 4, 4]), ("x2", [1, 3, 4, 4])], [("y", [1, c, 4, 4])], [
        ("s", rand(c)), ("bb", rand(c)), ("m", rand(c)), ("v", np.abs(rand(c)) + 0.5),
        ("k", rand(c, 1, 1)), ("d", rand(1, c, 1, 1))])
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Concat", "BatchNormalization"]
    assert [op for op, _ in sess.compiled.graph.fused_nodes] == ["Mul", "Add", "Relu"]
    feeds = {"x": rand(1, 3, 4, 4), "x2": rand(1, 3, 4, 4)}
    np.testing.assert_allclose(sess.run(None, feeds)[0], reference(data, feeds)[0], rtol=1e-4, atol=1e-5)

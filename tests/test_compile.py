"""Stage 2 (compile): folding, views and BatchNormalization fusion keep results right."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runtime import CompileError, InferenceSession, ModelLoadError, UnsupportedOpError

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


# -- named passes -----------------------------------------------------------------------

def test_every_pass_can_be_switched_off_and_results_stay():
    """Conv -> BN -> Mul -> Relu -> Reshape, plus a constant Cast chain: each pass off
    leaves the graph runnable with the same result; the steps show which pass ran."""
    from runtime.compile import PASSES
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"], name="bn"),
             helper.make_node("Mul", ["bn", "k"], ["mul"], name="mul"),
             helper.make_node("Relu", ["mul"], ["r"], name="relu"),
             helper.make_node("Neg", ["t"], ["tn"], name="neg_const"),
             helper.make_node("Add", ["r", "tn"], ["a"], name="add_runtime"),
             helper.make_node("Reshape", ["a", "shape"], ["y"], name="flat")]
    data = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 27])], [
        ("w", rand(3, 2, 1, 1)), ("s", rand(3)), ("bb", rand(3)), ("m", rand(3)),
        ("v", np.abs(rand(3)) + 0.5), ("k", rand(1, 3, 1, 1)), ("t", rand(1, 3, 3, 3)),
        ("shape", np.array([1, -1], np.int64))])
    x = rand(1, 2, 3, 3)
    want = reference(data, {"x": x})[0]
    expected_steps = {
        (): ["Conv", "Add"],
        ("fold_constants",): ["Conv", "Neg", "Add"],
        ("views",): ["Conv", "Add", "Reshape"],
        ("fuse_batchnorm",): ["Conv", "BatchNormalization", "Add"],  # Mul and Relu fold into the BN
        ("fuse_mul_add",): ["Conv", "Mul", "Add"],  # the Relu becomes the Mul step's clamp
        ("fuse_activation",): ["Conv", "Relu", "Add"],
        PASSES: ["Conv", "BatchNormalization", "Mul", "Relu", "Neg", "Add", "Reshape"],
    }
    for disabled, steps in expected_steps.items():
        sess = InferenceSession(data, disabled_passes=disabled)
        assert [s.node.op_type for s in sess.compiled.plan.steps] == steps, disabled
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad, match", [(("fold",), "unknown pass 'fold'"), ("views", "sequence of pass names"),
                                        ((1,), "unknown pass 1"), (None, "sequence of pass names")])
def test_unknown_pass_is_an_invalid_argument(bad, match):
    from runtime.errors import InvalidArgumentError
    with pytest.raises(InvalidArgumentError, match=match) as e:
        InferenceSession(make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2])], [("y", [2])]),
                         disabled_passes=bad)
    assert e.value.argument == "disabled_passes"
    assert "fold_constants" in str(e.value)  # names the known passes


def test_fold_off_keeps_shape_arithmetic_and_parameters_constant():
    # Concat of float constants feeding Resize's scales must stay a constant with folding off.
    nodes = [helper.make_node("Concat", ["one", "two"], ["scales"], axis=0),
             helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")]
    data = make_model(nodes, [("x", [1, 1, 2, 2])], [("y", [1, 1, 4, 4])], [
        ("one", np.ones(2, np.float32)), ("two", np.full(2, 2.0, np.float32))])
    sess = InferenceSession(data, disabled_passes=("fold_constants",))
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Resize"]
    x = rand(1, 1, 2, 2)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], reference(data, {"x": x})[0])


# -- per-channel legality (E06a, P21a) --------------------------------------------------

@pytest.mark.parametrize("const_shape, fuses", [
    ((1, 1, 1, 1, 1), False), ((1, 1, 1, 1), True), ((2, 1, 1), True), ((1, 2, 1, 1), True),
    ((3,), False), ((1, 1, 3, 1), False), ((), True)])
def test_add_fuses_into_conv_only_when_per_channel_and_shape_preserving(const_shape, fuses):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "k"], ["y"])]
    data = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", None)],
                      [("w", rand(2, 2, 1, 1)), ("k", rand(*const_shape))])
    sess = InferenceSession(data)
    assert len(sess.compiled.plan.steps) == (1 if fuses else 2)
    x = rand(1, 2, 3, 3)
    got, want = sess.run(None, {"x": x})[0], reference(data, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("c_shape, fuses", [((3, 1), False), ((1, 3), True), ((3,), True), ((3, 3), False),
                                            ((), True)])
def test_batchnorm_fuses_into_gemm_only_with_a_per_column_c(c_shape, fuses):
    nodes = [helper.make_node("Gemm", ["a", "b", "c"], ["g"], beta=2.0),
             helper.make_node("BatchNormalization", ["g", "s", "bb", "m", "v"], ["y"])]
    data = make_model(nodes, [("a", [3, 4])], [("y", [3, 3])], [
        ("b", rand(4, 3)), ("c", rand(*c_shape)), ("s", rand(3)), ("bb", rand(3)), ("m", rand(3)),
        ("v", np.abs(rand(3)) + 0.5)])
    sess = InferenceSession(data)
    assert len(sess.compiled.plan.steps) == (1 if fuses else 2)
    a = rand(3, 4)
    np.testing.assert_allclose(sess.run(None, {"a": a})[0], reference(data, {"a": a})[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("disabled", [(), ("fuse_batchnorm",)])
def test_batchnorm_parameters_of_the_wrong_shape_are_a_compile_error(disabled):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"], name="bn")]
    data = make_model(nodes, [("x", [1, 2, 3, 3])], [("y", [1, 2, 3, 3])], [
        ("w", rand(2, 2, 1, 1)), ("s", rand(1)), ("bb", rand(2)), ("m", rand(2)), ("v", np.ones(2, np.float32))])
    with pytest.raises(CompileError, match=r"BatchNormalization node 'bn': input 1 \(scale\) has shape \(1,\), "
                                           r"expected \(2,\)"):
        InferenceSession(data, disabled_passes=disabled)


# -- unique names (E26b) ----------------------------------------------------------------

def test_made_up_names_never_collide_with_model_names():
    """Two Conv -> BN branches: one BN unnamed (load names it BatchNormalization_3), the
    other explicitly named BatchNormalization_3, and a value named like a folded tensor."""
    def branch(i, bn_name):
        return [helper.make_node("Conv", ["x", f"w{i}"], [f"c{i}"], name=f"conv{i}"),
                helper.make_node("BatchNormalization", ["c" + str(i), f"s{i}", f"b{i}", f"m{i}", f"v{i}"],
                                 [f"y{i}"], name=bn_name)]
    nodes = branch(0, "BatchNormalization_3")[:1] + branch(1, "") [:1] + \
        [branch(0, "BatchNormalization_3")[1], branch(1, "")[1]]
    nodes.append(helper.make_node("Identity", ["y1"], ["BatchNormalization_3/folded_B"], name="id"))
    inits = []
    for i in range(2):
        inits += [(f"w{i}", rand(3, 2, 1, 1)), (f"s{i}", rand(3)), (f"b{i}", rand(3)), (f"m{i}", rand(3)),
                  (f"v{i}", np.abs(rand(3)) + 0.5)]
    data = make_model(nodes, [("x", [1, 2, 3, 3])], [("y0", None), ("BatchNormalization_3/folded_B", None)],
                      inits)
    sess = InferenceSession(data)
    names = [s.node.name for s in sess.compiled.plan.steps]
    assert len(names) == len(set(names))
    x = rand(1, 2, 3, 3)
    for got, want in zip(sess.run(None, {"x": x}), reference(data, {"x": x})):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# -- fold time == run time (F1_13, F3, F4) -----------------------------------------------

@pytest.mark.parametrize("op, attrs, opset", [
    ("BatchNormalization", {}, 9), ("BatchNormalization", {}, 13), ("BatchNormalization", {}, 15),
    ("Cast", {"to": TensorProto.INT8}, 17), ("Cast", {"to": TensorProto.UINT8}, 17),
    ("ConvTranspose", {"strides": [2, 2], "output_shape": [6, 6]}, 13),
    ("Softmax", {"axis": 1}, 11), ("Softmax", {"axis": 1}, 13),
])
def test_folded_node_equals_the_same_node_at_run_time(op, attrs, opset):
    t = (rand(1, 3, 3, 3, scale=200.0) if op == "Cast" else rand(1, 3, 3, 3))
    extra = {"BatchNormalization": [("s", rand(3)), ("bb", rand(3)), ("m", rand(3)), ("v", np.abs(rand(3)) + 0.5)],
             "ConvTranspose": [("w", rand(3, 1, 3, 3))]}.get(op, [])
    node_inputs = ["t"] + [n for n, _ in extra]
    nodes = [helper.make_node(op, node_inputs, ["u"], **attrs)]
    if op == "Cast":
        nodes.append(helper.make_node("Cast", ["u"], ["uf"], to=TensorProto.FLOAT))
    out = nodes[-1].output[0]
    nodes.append(helper.make_node("Add", [out, "x"], ["y"]))
    y_shape = (1, 1, 6, 6) if op == "ConvTranspose" else (1, 3, 3, 3)
    folded = make_model(nodes, [("x", y_shape)], [("y", None)], [("t", t)] + extra, opset=opset)
    fed = make_model(nodes, [("x", y_shape), ("t", t.shape)], [("y", None)], extra, opset=opset)
    x = rand(*y_shape)
    sess = InferenceSession(folded)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Add"]  # the rest folded
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], InferenceSession(fed).run(None, {"x": x, "t": t})[0])


# -- dynamic dims ---------------------------------------------------------------------------

@pytest.mark.parametrize("declared", [[-1, 3, -1, -1], ["batch", 3, None, None], None])
def test_dynamic_input_dims_accept_any_size(declared):
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    if declared is not None:
        x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["?" if d is None else d for d in declared])
        for d, want in zip(x_info.type.tensor_type.shape.dim, declared):
            if want is None:
                d.Clear()  # neither dim_value nor dim_param
    data = make_model([helper.make_node("Relu", ["x"], ["y"])], [x_info], [("y", None)])
    sess = InferenceSession(data)
    for shape in ([1, 3, 48, 192], [2, 3, 5, 7]):
        x = rand(*shape)
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0))
    if declared is None:  # any rank, not a scalar
        x = rand(2, 3)
        np.testing.assert_array_equal(sess.run(None, {"x": x})[0], np.maximum(x, 0))
    else:
        with pytest.raises(ValueError, match="does not match"):
            sess.run(None, {"x": rand(1, 4, 2, 2)})


# -- strides that only ever multiply index 0 ------------------------------------------------

@pytest.mark.parametrize("k, group, pads", [(1, 1, 0), (3, 1, 0), (3, 1, 1), (3, 2, 1), (1, 2, 0)])
@pytest.mark.parametrize("strides", [[1, 2 ** 63 - 1], [2 ** 63 - 1, 2 ** 63 - 1], [2, 2 ** 62]])
def test_conv_with_huge_strides_on_single_output_axes_matches_onnxruntime(k, group, pads, strides):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], strides=strides, pads=[pads] * 4, group=group)]
    data = make_model(nodes, [("x", [1, 2, 5, 7])], [("y", None)], [("w", rand(4, 2 // group, k, k))])
    x = rand(1, 2, 5, 7)
    got, want = InferenceSession(data).run(None, {"x": x})[0], reference(data, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("node, extra", [
    (helper.make_node("Split", ["x"], ["y", "z"], axis=0), []),
    (helper.make_node("ReduceL1", ["x"], ["y"], axes=[0]), []),
    (helper.make_node("Softmax", ["x"], ["y"], axis=0), []),
    (helper.make_node("Concat", ["x", "x"], ["y"], axis=0), []),
    (helper.make_node("Gather", ["x", "i"], ["y"], axis=0), [("i", np.array([0], np.int64))]),
    (helper.make_node("Slice", ["x", "s", "e"], ["y"]),
     [("s", np.array([0], np.int64)), ("e", np.array([1], np.int64))]),
])
def test_an_axis_of_a_scalar_is_a_compile_error(node, extra):
    """A scalar (rank 0) has no axis 0: each op names the node and the axis (the structure
    fuzzer found IndexError escaping from Split, ReduceL1 and Slice)."""
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [])],
                              outputs, [numpy_helper.from_array(v, n) for n, v in extra])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with pytest.raises(CompileError, match=r"axis 0 is out of range for rank 0 \(a scalar has no axes\)|"
                                           r"input 0 \(data\) is a scalar, expected rank >= 1"):
        InferenceSession(model.SerializeToString())


@pytest.mark.parametrize("op, inputs, value, opset", [
    ("Reshape", ["x", "p"], [2.0, 2.0], 13),
    ("Squeeze", ["x", "p"], [0.0], 13),
    ("Unsqueeze", ["x", "p"], [0.5], 13),
    ("Split", ["x", "p"], [2.0, 2.0], 13),
    ("Tile", ["x", "p"], [np.inf, 1.0], 13),
    ("Expand", ["x", "p"], [np.nan, 4.0], 13),
    ("ReduceSum", ["x", "p"], [0.0], 13),
    ("Pad", ["x", "p"], [0.0, 0.0, 1.0, 1.0], 13),
    ("Slice", ["x", "p", "p"], [0.0], 13),
    ("Resize", ["x", "", "", "p"], [4.0, 4.0], 13),
])
def test_an_integer_parameter_given_as_float_is_a_compile_error(op, inputs, value, opset):
    """Shape, axes, pads, sizes, split, repeats, starts: the spec types them int64 (Slice: int32
    or int64); a float (or NaN, inf) is refused naming the input, never truncated or let
    through to int(). The load stage refuses it by the schema's type constraint (compile's
    require_ints checks it again)."""
    x = numpy_helper.from_array(np.ones((1, 4), np.float32), "x")
    p = numpy_helper.from_array(np.array(value, np.float32), "p")
    node = helper.make_node(op, inputs, ["y"], name="n1")
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [x, p])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    with pytest.raises(ModelLoadError, match=rf"{op} node 'n1': input \d \(\w+\) 'p' has type tensor\(float\), "
                                             rf"{op}-\d+ allows tensor\(int(32|64)\)"):
        InferenceSession(model.SerializeToString())


def test_constant_of_shape_needs_a_vector():
    node = helper.make_node("ConstantOfShape", ["s"], ["y"], name="n1")
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.array(3, np.int64), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with pytest.raises(CompileError, match=r"input 0 \(shape\) has shape \(\), expected a 1-D tensor"):
        InferenceSession(model.SerializeToString())


# -- non-finite per-channel parameters are never folded (red team row 1) ---------------

def _unoptimized_ort(data, feeds):
    """onnxruntime without its graph optimizations (its own Conv+Mul fusion makes 0*inf NaN)."""
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def _conv_then(op_nodes, inits):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"])] + op_nodes
    return make_model(nodes, [("x", [1, 2, 1, 3])], [("y", None)],
                      [("w", np.array([[[[1.0]], [[0.0]]], [[[0.0]], [[1.0]]]], np.float32))] + inits)


@pytest.mark.parametrize("op", ["Mul", "Add"])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_mul_add_constant_is_not_folded(op, bad):
    data = _conv_then([helper.make_node(op, ["c", "k"], ["y"])],
                      [("k", np.array([bad, 1.0], np.float32).reshape(2, 1, 1))])
    x = np.array([0.0, 1.0, -1.0, 2.0, 0.0, 3.0], np.float32).reshape(1, 2, 1, 3)
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv", op]
    got = sess.run(None, {"x": x})[0]
    off = InferenceSession(data, disabled_passes=["fuse_mul_add"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, off)
    np.testing.assert_array_equal(got, _unoptimized_ort(data, {"x": x})[0])


@pytest.mark.parametrize("field, value", [("s", np.inf), ("bb", np.inf), ("m", np.nan), ("v", -1.0),
                                          ("v", np.inf)])
def test_non_finite_batchnorm_is_not_folded(field, value):
    params = {"s": np.ones(2, np.float32), "bb": np.zeros(2, np.float32), "m": np.zeros(2, np.float32),
              "v": np.ones(2, np.float32)}
    params[field][0] = value
    data = _conv_then([helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["y"],
                                        epsilon=0.0)], list(params.items()))
    x = np.array([0.0, 1.0, -1.0, 2.0, 0.0, 3.0], np.float32).reshape(1, 2, 1, 3)
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Conv", "BatchNormalization"]
    got = sess.run(None, {"x": x})[0]
    off = InferenceSession(data, disabled_passes=["fuse_batchnorm"]).run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, off)


def test_folded_weights_overflowing_float32_are_not_folded():
    data = _conv_then([helper.make_node("Mul", ["c", "k"], ["y"])],
                      [("k", np.array([1e30, 1.0], np.float32).reshape(2, 1, 1))])
    x = np.array([0.0, 1.0, -1.0, 2.0, 0.0, 3.0], np.float32).reshape(1, 2, 1, 3) * 1e10
    sess = InferenceSession(data)
    got = sess.run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, InferenceSession(data, disabled_passes=["fuse_mul_add"]).run(
        None, {"x": x})[0])


@pytest.mark.parametrize("opset", [6, 11, 13])
def test_clip_without_bounds_maps_inf_to_the_float32_range(opset):
    if opset == 6:
        node = helper.make_node("Clip", ["x"], ["y"])
    else:
        node = helper.make_node("Clip", ["x", "", ""], ["y"])
    data = make_model([node], [("x", [4])], [("y", [4])], opset=opset)
    x = np.array([np.inf, -np.inf, np.nan, 1.0], np.float32)
    got = InferenceSession(data).run(None, {"x": x})[0]
    big = np.finfo(np.float32).max
    np.testing.assert_array_equal(got, np.array([big, -big, np.nan, 1.0], np.float32))
    np.testing.assert_array_equal(got, reference(data, {"x": x})[0])


# -- spec-undefined results: the documented choice, fed and constant alike (row 30) -----

def _fed_and_const(node, x, out_type, opset=13):
    vi = helper.make_tensor_value_info
    fed = helper.make_graph([node], "fed", [vi("x", TensorProto.FLOAT, list(x.shape))], [vi("y", out_type, None)])
    const = helper.make_graph([node], "const", [], [vi("y", out_type, None)], [numpy_helper.from_array(x, "x")])
    make = lambda g: helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],  # noqa: E731
                                       ir_version=8).SerializeToString()
    return (InferenceSession(make(fed)).run(None, {"x": x})[0], InferenceSession(make(const)).run(None, {})[0])


@pytest.mark.parametrize("op, expected", [("ReduceMean", np.nan), ("ReduceSum", 0.0), ("ReduceMax", -np.inf),
                                          ("ReduceMin", np.inf), ("ReduceProd", 1.0)])
def test_reduce_over_an_empty_axis_gives_the_documented_value(op, expected):
    node = helper.make_node(op, ["x"], ["y"], axes=[1])
    for got in _fed_and_const(node, np.zeros((2, 0, 3), np.float32), TensorProto.FLOAT, opset=11):
        np.testing.assert_array_equal(got, np.full((2, 1, 3), expected, np.float32))


def test_float_to_int_cast_saturates_as_documented():
    node = helper.make_node("Cast", ["x"], ["y"], to=TensorProto.INT8)
    x = np.array([300, -300, np.nan, np.inf, -np.inf, -2.7], np.float32)
    for got in _fed_and_const(node, x, TensorProto.INT8):
        np.testing.assert_array_equal(got, np.array([127, -128, 0, 127, -128, -2], np.int8))


@pytest.mark.parametrize("cond", [np.zeros((0,), bool), np.array([True, False])])
def test_if_condition_must_be_one_element(cond):
    """The structure fuzzer's 100,000-model run found an empty constant condition escaping
    as IndexError."""
    branch = lambda v: helper.make_graph(  # noqa: E731
        [helper.make_node("Constant", [], ["o"], value_float=v)], "b", [],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    node = helper.make_node("If", ["c"], ["y"], name="if1", then_branch=branch(1.0), else_branch=branch(0.0))
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(cond, "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    with pytest.raises(CompileError, match=r"If node 'if1': input 0 \(cond\) has shape .*, expected a single"):
        InferenceSession(model.SerializeToString())


def test_a_value_read_only_inside_a_nested_subgraph_is_not_fused_away():
    """A Conv output read by a Clip and, two If levels down, by an Abs: the Clip must not
    fuse into the Conv (its output would vanish under the nested read). The 100,000-model
    fuzz run found this as a KeyError in the plan."""
    import onnxruntime as ort

    def branch(op, name):
        return helper.make_graph([helper.make_node(op, ["c"], [name])], f"b_{name}", [],
                                 [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)])

    inner = helper.make_node("If", ["k"], ["i"], then_branch=branch("Abs", "t"), else_branch=branch("Neg", "e"))
    wrap = lambda n: helper.make_graph([inner], f"w{n}", [],  # noqa: E731
                                       [helper.make_tensor_value_info("i", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("If", ["k"], ["y1"], then_branch=wrap(1), else_branch=wrap(2)),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y2"])]
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(rng.standard_normal((2, 1, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array(True), "k"),
             numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(0.5), "hi")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y1", "y2")],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8).SerializeToString()
    x = rng.standard_normal((1, 1, 2, 2)).astype(np.float32)
    got = InferenceSession(model).run(None, {"x": x})
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Sum"])
def test_relu_and_clip_fuse_into_elementwise_steps_with_nan_passing(op):
    """Add/Sub/Mul/Sum -> Relu: one step; the clamp is the Clip kernel's (NaN passes), so the
    fused result equals the unfused one bit for bit, and onnxruntime's."""
    nodes = [helper.make_node(op, ["a", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    data = make_model(nodes, [("a", [2, 3, 4]), ("b", [3, 1])], [("y", [2, 3, 4])], [])
    a, b = rand(2, 3, 4), rand(3, 1)
    a[0, 0, :2] = np.nan
    sess = InferenceSession(data)
    assert [s.node.op_type for s in sess.compiled.plan.steps] == [op]
    unfused = InferenceSession(data, disabled_passes=("fuse_activation",))
    got = sess.run(None, {"a": a, "b": b})[0]
    assert got.tobytes() == unfused.run(None, {"a": a, "b": b})[0].tobytes()
    np.testing.assert_allclose(got, reference(data, {"a": a, "b": b})[0], rtol=1e-6, equal_nan=True)
    assert np.isnan(got[0, 0, :2]).all() and (np.nan_to_num(got) >= 0).all()


@pytest.mark.parametrize("pads,value,fused", [
    ([0, 0, 1, 2, 0, 0, 2, 1], 0.0, True),     # spatial zero padding: fused
    ([0, 0, 1, 1, 0, 0, 1, 1], 0.5, False),    # not zero
    ([0, 1, 0, 0, 0, 0, 0, 0], 0.0, False),    # pads a channel
    ([0, 0, -1, 0, 0, 0, 0, 0], 0.0, False),   # crops
])
def test_fuse_pad_folds_a_zero_spatial_pad_into_the_conv(pads, value, fused):
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["p"], mode="constant", name="pad"),
             helper.make_node("Conv", ["p", "w"], ["y"], pads=[1, 0, 0, 1], name="conv")]
    data = make_model(nodes, [("x", [1, 2, 5, 6])], [("y", None)], [
        ("w", rand(3, 2 + (1 if pads[1] else 0), 3, 3)), ("pads", np.array(pads, np.int64)),
        ("value", np.array(value, np.float32))])
    feeds = {"x": rand(1, 2, 5, 6)}
    on = InferenceSession(data, scrub_interval_s=None)
    off = InferenceSession(data, scrub_interval_s=None, disabled_passes=("fuse_pad",))
    assert [s.node.op_type for s in on.compiled.plan.steps] == (["Conv"] if fused else ["Pad", "Conv"])
    assert ("Pad", "pad") in on.compiled.graph.fused_nodes if fused else not on.compiled.graph.fused_nodes
    np.testing.assert_array_equal(on.run(None, feeds)[0], off.run(None, feeds)[0])
    np.testing.assert_allclose(on.run(None, feeds)[0], reference(data, feeds)[0], rtol=1e-4, atol=1e-5)


def test_fuse_pad_leaves_a_pad_read_twice():
    nodes = [helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant", name="pad"),
             helper.make_node("Conv", ["p", "w"], ["c"], name="conv"),
             helper.make_node("ReduceSum", ["p"], ["s"], keepdims=0, name="sum")]
    data = make_model(nodes, [("x", [1, 2, 4, 4])], [("c", None), ("s", None)], [
        ("w", rand(3, 2, 3, 3)), ("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])
    sess = InferenceSession(data, scrub_interval_s=None)
    assert "Pad" in [s.node.op_type for s in sess.compiled.plan.steps]


@pytest.mark.parametrize("order", ["x_first", "sigmoid_first"])
def test_fuse_swish_makes_one_step_with_the_unfused_bits(order):
    """Conv -> Sigmoid -> Mul(conv, sigmoid), the swish of EfficientNet: one Swish step after
    the Conv; the same bits with the pass off (NaN, inf, subnormal results and a
    tail shorter than a vector included), and onnxruntime's values."""
    mul_in = ["c", "s"] if order == "x_first" else ["s", "c"]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
             helper.make_node("Mul", mul_in, ["y"], name="mul")]
    data = make_model(nodes, [("x", [1, 3, 7, 9])], [("y", None)], [("w", rand(5, 3, 3, 3))])
    x = rand(1, 3, 7, 9, scale=30.0)
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    x[0, 1, 3, 4] = -200.0
    on = InferenceSession(data, scrub_interval_s=None)
    off = InferenceSession(data, scrub_interval_s=None, disabled_passes=("fuse_swish",))
    assert [s.node.op_type for s in on.compiled.plan.steps] == ["Conv", "Swish"]
    assert ("Mul", "mul") in on.compiled.graph.fused_nodes
    assert [s.node.op_type for s in off.compiled.plan.steps] == ["Conv", "Sigmoid", "Mul"]
    got = on.run(None, {"x": x})[0]
    np.testing.assert_array_equal(got, off.run(None, {"x": x})[0])
    finite = np.isfinite(x).all()
    assert not finite and np.isnan(got).any()
    xc = x.copy()
    xc[~np.isfinite(xc)] = 0.0
    np.testing.assert_allclose(on.run(None, {"x": xc})[0], reference(data, {"x": xc})[0], rtol=1e-5, atol=1e-5)
    for mode in ("dwc", "tmr", "abft"):   # the fused step under protection: the same bits
        protected = InferenceSession(data, scrub_interval_s=None, protection=mode)
        assert protected.run(None, {"x": xc})[0].tobytes() == on.run(None, {"x": xc})[0].tobytes(), mode


@pytest.mark.parametrize("case", ["sigmoid_read_twice", "other_input", "graph_output"])
def test_fuse_swish_leaves_other_patterns(case):
    """Not a swish: the Sigmoid is read elsewhere or is a graph output, or the Mul's other
    input is not the Sigmoid's input: the steps stay."""
    outputs = [("y", None)]
    nodes = [helper.make_node("Sigmoid", ["a"], ["s"], name="sig"),
             helper.make_node("Mul", ["b" if case == "other_input" else "a", "s"], ["y"], name="mul")]
    if case == "sigmoid_read_twice":
        nodes.append(helper.make_node("Neg", ["s"], ["n"], name="neg"))
        outputs.append(("n", None))
    elif case == "graph_output":
        outputs.append(("s", None))
    data = make_model(nodes, [("a", [2, 3, 5]), ("b", [2, 3, 5])], outputs, [])
    feeds = {"a": rand(2, 3, 5), "b": rand(2, 3, 5)}
    sess = InferenceSession(data, scrub_interval_s=None)
    assert [s.node.op_type for s in sess.compiled.plan.steps][:2] == ["Sigmoid", "Mul"]
    for got, want in zip(sess.run(None, feeds), reference(data, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fuse_float16_round_makes_one_step_with_the_two_casts_bits():
    """Cast float32 -> float16 -> float32 (what runtime.half makes of a float16 model's
    Cast): one step; the same bits as the two Cast steps (overflow to inf, subnormals,
    ties to even, NaN), and onnxruntime's."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Cast", ["r"], ["h"], to=TensorProto.FLOAT16, name="to_half"),
             helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT, name="back")]
    data = make_model(nodes, [("x", [4, 1001])], [("y", None)], [])
    x = rand(4, 1001, scale=1e3)
    x[0, :8] = [np.nan, np.inf, 70000.0, 65520.0, 65519.0, 1e-7, 2.0 ** -24 * 1.5, 1.0 + 2.0 ** -11]
    x[1] *= 1e-6
    on = InferenceSession(data, scrub_interval_s=None)
    off = InferenceSession(data, scrub_interval_s=None, disabled_passes=("fuse_float16_round",))
    assert [s.node.op_type for s in on.compiled.plan.steps] == ["Relu", "Cast"]
    # the model's float16 value makes runtime.half add its own Cast back (to_half_back), which
    # is fused; the model's Cast to float32 of that float32 value is then a view
    assert ("Cast", "to_half_back") in on.compiled.graph.fused_nodes
    assert [s.node.op_type for s in off.compiled.plan.steps] == ["Relu", "Cast", "Cast"]
    got = on.run(None, {"x": x})[0]
    assert got.tobytes() == off.run(None, {"x": x})[0].tobytes()
    np.testing.assert_array_equal(got, x.clip(0, None).astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(got, reference(data, {"x": x})[0])
    for mode in ("tmr", "abft"):
        assert InferenceSession(data, scrub_interval_s=None, protection=mode).run(
            None, {"x": x})[0].tobytes() == got.tobytes(), mode


def test_fuse_float16_round_with_the_float16_value_also_a_graph_output():
    """The float16 value is also a model output (float16): still the right values, with
    the pass on and off."""
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16, name="to_half"),
             helper.make_node("Cast", ["h"], ["y"], to=TensorProto.FLOAT, name="back")]
    data = make_model(nodes, [("x", [3, 5])], [("y", None), helper.make_tensor_value_info(
        "h", TensorProto.FLOAT16, None)], [])
    x = rand(3, 5, scale=1e4)
    for disabled in ((), ("fuse_float16_round",)):
        y, h = InferenceSession(data, scrub_interval_s=None, disabled_passes=disabled).run(None, {"x": x})
        assert h.dtype == np.float16 and y.dtype == np.float32
        np.testing.assert_array_equal(h, x.astype(np.float16))
        np.testing.assert_array_equal(y, x.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("disabled", [(), ("views",)])
def test_a_cast_to_the_own_type_is_a_view(disabled):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Cast", ["r"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Neg", ["c"], ["y"])]
    data = make_model(nodes, [("x", [2, 3])], [("y", None)], [])
    sess = InferenceSession(data, scrub_interval_s=None, disabled_passes=disabled)
    steps = [s.node.op_type for s in sess.compiled.plan.steps]
    assert steps == (["Relu", "Neg"] if not disabled else ["Relu", "Cast", "Neg"])
    x = rand(2, 3)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], -np.maximum(x, 0))

"""Stage 1 (load): invalid models are refused before radrt trusts them (runtime.validate).

Each test builds a small model that onnxruntime refuses and radrt used to run
(or failed on with an error naming nothing), and asserts the exact error class
and that the message names the node, attribute, value or tensor. The cases of
issue 9 sections 2 and 5 in ../shared/cases/trust/models/ are also run as given.
"""
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from runtime import CompileError, InferenceSession, ModelLoadError, UnsupportedOpError
from runtime.load import load_model
from runtime.validate import validate_model

from .helpers import make_model

CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "cases" / "trust" / "models"


def shared_case(name: str) -> Path:
    path = CASES / name / "model.onnx"
    if not path.exists():
        pytest.skip(f"shared case folder {CASES} is absent (it sits beside the clone in CI)")
    return path


def proto(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    return onnx.load_from_string(make_model(nodes, inputs, outputs, initializers, opset))


def conv_model(**attrs) -> onnx.ModelProto:
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)
    return proto([node], [("x", [1, 3, 5, 5])], [("y", None)], [("w", np.ones((2, 3, 3, 3), np.float32))])


def one_node(op, attrs, x_shape, initializers=(), opset=17, inputs=None) -> onnx.ModelProto:
    node = helper.make_node(op, inputs or ["x"] + [n for n, _ in initializers], ["y"], name="n", **attrs)
    return proto([node], [("x", x_shape)], [("y", None)], initializers, opset)


def refused(model, cls=ModelLoadError, match=None) -> Exception:
    with pytest.raises(cls, match=match) as info:
        InferenceSession(model)
    assert type(info.value) is cls, f"expected exactly {cls.__name__}, got {type(info.value).__name__}"
    return info.value


# ---- attributes: names, types, required ------------------------------------------

def test_unknown_attribute_is_refused_with_the_schema_list():
    err = refused(conv_model(pad=[1, 1, 1, 1]),
                  match=r"Conv node 'c': unknown attribute 'pad' \(Conv-11 has: auto_pad, dilations, "
                        r"group, kernel_shape, pads, strides\)")
    assert (err.node, err.attribute) == ("c", "pad")


def test_unknown_attribute_shared_case():
    refused(str(shared_case("wrong_unknown_attribute_ignored")), match="unknown attribute 'pad'")


@pytest.mark.parametrize("op, attrs, x_shape, inits, got, want", [
    ("Conv", {"group": 1.7}, [1, 3, 5, 5], [("w", np.ones((2, 3, 3, 3), np.float32))], "FLOAT", "INT"),
    ("Conv", {"strides": 2}, [1, 3, 5, 5], [("w", np.ones((2, 3, 3, 3), np.float32))], "INT", "INTS"),
    ("Conv", {"strides": "ab"}, [1, 3, 5, 5], [("w", np.ones((2, 3, 3, 3), np.float32))], "STRING", "INTS"),
    ("Conv", {"strides": [1.5, 1.0]}, [1, 3, 5, 5], [("w", np.ones((2, 3, 3, 3), np.float32))], "FLOATS", "INTS"),
    ("Softmax", {"axis": "1"}, [2, 3], [], "STRING", "INT"),
    ("Softmax", {"axis": "x"}, [2, 3], [], "STRING", "INT"),
    ("Softmax", {"axis": 0.5}, [2, 3], [], "FLOAT", "INT"),
    ("Transpose", {"perm": [1.0, 0.0]}, [2, 3], [], "FLOATS", "INTS"),
    ("MaxPool", {"kernel_shape": "22"}, [1, 1, 4, 4], [], "STRING", "INTS"),
    ("Gemm", {"transB": 1.0}, [2, 3], [("b", np.ones((2, 3), np.float32))], "FLOAT", "INT"),
])
def test_attribute_of_the_wrong_type_is_refused_not_coerced(op, attrs, x_shape, inits, got, want):
    (name,) = attrs
    err = refused(one_node(op, attrs, x_shape, inits),
                  match=rf"{op} node 'n': attribute '{name}' has type {got}, expected {want} \({op}-\d+\)")
    assert (err.node, err.attribute) == ("n", name)


def test_required_attribute_missing():
    err = refused(one_node("MaxPool", {}, [1, 1, 4, 4]),
                  match=r"MaxPool node 'n': required attribute 'kernel_shape' is missing")
    assert err.attribute == "kernel_shape"


def test_attribute_given_twice():
    model = conv_model(group=1)
    model.graph.node[0].attribute.append(helper.make_attribute("group", 1))
    refused(model, match="attribute 'group' is given twice")


def test_string_attribute_that_is_not_utf8():
    model = one_node("Pad", {"mode": b"\xffconstant"}, [2, 3], [("p", np.zeros(4, np.int64))])
    err = refused(model, match=r"Pad node 'n' attribute 'mode': string .* is not UTF-8")
    assert err.attribute == "mode"


# ---- inputs and outputs per opset, ops per opset ----------------------------------

def test_clip_at_opset_10_takes_no_min_max_inputs():
    model = one_node("Clip", {}, [4], [("lo", np.array(0, np.float32)), ("hi", np.array(1, np.float32))],
                     opset=10)
    refused(model, match=r"Clip node 'n': has 3 inputs, Clip-6 takes at most 1 \(input\)")


def test_slice_at_opset_9_takes_no_starts_ends_inputs():
    model = one_node("Slice", {}, [6], [("st", np.array([1])), ("en", np.array([3]))], opset=9)
    refused(model, match=r"Slice node 'n': has 3 inputs, Slice-1 takes at most 1")


def test_too_few_inputs_and_an_empty_required_input():
    refused(one_node("Conv", {}, [1, 3, 5, 5]), match=r"Conv node 'n': has 1 input, Conv-11 needs at least 2")
    err = refused(one_node("Gather", {}, [2, 3], inputs=["x", ""]),
                  match=r"Gather node 'n': input 1 \(indices\) is required but empty")
    assert err.attribute == "indices"


def test_too_many_outputs():
    node = helper.make_node("Relu", ["x"], ["y", "z"], name="n")
    refused(proto([node], [("x", [2])], [("y", [2])]), match=r"Relu node 'n': has 2 outputs, Relu-14 has 1..1")


def test_op_that_does_not_exist_at_the_model_opset():
    model = one_node("Expand", {}, [2, 3], [("s", np.array([2, 2, 3]))], opset=7)
    err = refused(model, match=r"Expand node 'n': Expand does not exist at opset 7 \(it first appears in opset 8\)")
    assert err.node == "n"


def test_op_that_is_not_an_onnx_op():
    refused(one_node("Frobnicate", {}, [2]), match="'Frobnicate' is not an op of the default ONNX domain")


def test_valid_but_unsupported_op_stays_unsupported():
    refused(one_node("Einsum", {"equation": "ij->ji"}, [2, 2]), UnsupportedOpError, match="Einsum")


# ---- IR version and opset imports ---------------------------------------------------

@pytest.mark.parametrize("ir, match", [(99, "IR version 99 is not supported: expected 1..14"),
                                       (0, "IR version 0 is not supported")])
def test_ir_version_out_of_range(ir, match):
    model = one_node("Relu", {}, [2, 3])
    model.ir_version = ir
    assert refused(model, match=match).value == ir


@pytest.mark.parametrize("opset", [0, 99])
def test_opset_out_of_range(opset):
    model = one_node("Relu", {}, [2, 3])
    model.opset_import[0].version = opset
    assert refused(model, match=f"default-domain opset {opset} is not valid: expected 1..").value == opset


def test_no_default_domain_opset_import():
    model = one_node("Relu", {}, [2, 3])
    del model.opset_import[:]
    refused(model, match="no opset_import for the default ONNX domain")


def test_default_domain_imported_twice():
    model = one_node("Relu", {}, [2, 3])
    model.opset_import.append(helper.make_opsetid("ai.onnx", 13))
    refused(model, match="imports domain 'ai.onnx' twice")


# ---- single static assignment ----------------------------------------------------------

def test_value_written_by_two_nodes():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r"), helper.make_node("Neg", ["x"], ["y"], name="n")]
    err = refused(proto(nodes, [("x", [3])], [("y", [3])]),
                  match="value 'y' is defined twice: Relu node 'r' output and Neg node 'n' output")
    assert (err.node, err.value) == ("n", "y")


def test_node_overwrites_a_graph_input():
    refused(proto([helper.make_node("Relu", ["x"], ["x"], name="n1")], [("x", [3])], [("x", [3])]),
            match="value 'x' is defined twice: graph input and Relu node 'n1' output")


def test_node_overwrites_an_initializer():
    nodes = [helper.make_node("Relu", ["x"], ["w"], name="n1"), helper.make_node("Add", ["x", "w"], ["y"], name="a")]
    refused(proto(nodes, [("x", [3])], [("y", [3])], [("w", np.ones(3, np.float32))]),
            match="value 'w' is defined twice: initializer and Relu node 'n1' output")


def test_initializer_defined_twice():
    model = one_node("Add", {}, [3], [("w", np.ones(3, np.float32))])
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "w"))
    refused(model, match="value 'w' is defined twice: initializer and initializer")


def test_initializer_listed_as_graph_input_is_its_default():
    model = one_node("Add", {}, [3], [("w", np.full(3, 2, np.float32))])
    model.graph.input.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, [3]))
    (y,) = InferenceSession(model).run(None, {"x": np.ones(3, np.float32)})
    np.testing.assert_array_equal(y, np.full(3, 3, np.float32))


def test_subgraph_redefines_an_outer_value():
    branch = helper.make_graph([helper.make_node("Neg", ["x"], ["x"], name="inner")], "b", [],
                               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=branch, else_branch=branch)
    model = proto([node], [("x", [3])], [("y", [3])], [("c", np.array(True))])
    refused(model, match="value 'x' is defined twice: graph input and Neg node 'inner' output")


def test_other_checker_rules_still_apply():
    nodes = [helper.make_node("Neg", ["t"], ["y"], name="late"), helper.make_node("Relu", ["x"], ["t"], name="r")]
    refused(proto(nodes, [("x", [3])], [("y", [3])]), match=r"onnx checker.*topologically sorted")


# ---- tensors: element type and size --------------------------------------------------

def weights_model(tensor: TensorProto) -> onnx.ModelProto:
    node = helper.make_node("Conv", ["x", tensor.name], ["y"], name="c")
    model = proto([node], [("x", [1, 3, 5, 5])], [("y", None)])
    model.graph.initializer.append(tensor)
    return model


def float_tensor(shape=(2, 3, 3, 3)) -> TensorProto:
    return numpy_helper.from_array(np.ones(shape, np.float32), "w")


def test_unknown_element_type():
    t = float_tensor()
    t.data_type = 99
    err = refused(weights_model(t), match="initializer 'w': element type 99 is not an ONNX tensor type")
    assert err.value == 99


def test_huge_declared_shape_with_four_values_allocates_nothing():
    t = numpy_helper.from_array(np.ones(4, np.float32), "w")
    t.dims[:] = [1000000, 1000000, 3, 3]
    tracemalloc.start()
    try:
        refused(weights_model(t), match=r"initializer 'w': declared shape \(1000000, 1000000, 3, 3\) of FLOAT "
                                        r"needs 36000000000000 bytes, raw_data holds 16 bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20


def test_initializer_size_mismatch_shared_case():
    refused(str(shared_case("unclear_initializer_size_mismatch")),
            match=r"initializer 'w': declared shape \(1000000, 1000000, 3, 3\)")


@pytest.mark.parametrize("cut", [-8, 8])
def test_raw_data_too_short_or_too_long(cut):
    t = float_tensor()
    t.raw_data = t.raw_data[:cut] if cut < 0 else t.raw_data + b"\0" * cut
    refused(weights_model(t), match=rf"needs 216 bytes, raw_data holds {216 + cut} bytes")


def test_float_data_short():
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 3, 3], [1.0] * 54)
    del t.float_data[-1]
    refused(weights_model(t), match=r"initializer 'w': declared shape \(2, 3, 3, 3\) of FLOAT needs 54 values "
                                    r"in float_data, it holds 53")


def test_data_in_the_wrong_field():
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 3, 3], [1.0] * 54)
    t.ClearField("float_data")
    t.int64_data.extend([1] * 54)
    refused(weights_model(t), match="initializer 'w': FLOAT data is in int64_data, expected float_data or raw_data")


def test_data_in_two_fields():
    t = float_tensor()
    t.float_data.extend([1.0] * 54)
    refused(weights_model(t), match="data is in both float_data and raw_data")


def test_negative_declared_dim():
    t = float_tensor()
    t.dims[0] = -2
    refused(weights_model(t), match=r"declared shape \(-2, 3, 3, 3\) has a negative dimension")


def test_constant_attribute_tensor_is_checked_too():
    value = numpy_helper.from_array(np.ones(4, np.float32), "v")
    value.dims[:] = [5]
    node = helper.make_node("Constant", [], ["c"], name="k", value=value)
    add = helper.make_node("Add", ["x", "c"], ["y"], name="a")
    err = refused(proto([node, add], [("x", [5])], [("y", [5])]),
                  match=r"Constant node 'k' attribute 'value': declared shape \(5,\) of FLOAT needs 20 bytes")
    assert (err.node, err.attribute, err.value) == ("k", "value", (5,))


# ---- external data -----------------------------------------------------------------------

def external_model(tmp_path, location="w.bin", data=None, **entries) -> Path:
    w = np.arange(54, dtype=np.float32).reshape(2, 3, 3, 3)
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=w.shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in dict(location=location, **entries).items():
        t.external_data.append(onnx.StringStringEntryProto(key=k, value=str(v)))
    if data is not False:
        (tmp_path / "w.bin").write_bytes(w.tobytes() if data is None else data)
    path = tmp_path / "m.onnx"
    path.write_bytes(weights_model(t).SerializeToString())
    return path


def test_external_data_loads_and_runs(tmp_path):
    path = external_model(tmp_path)
    x = np.ones((1, 3, 5, 5), np.float32)
    (y,) = InferenceSession(str(path)).run(None, {"x": x})
    w = np.arange(54, dtype=np.float32).reshape(2, 3, 3, 3)
    np.testing.assert_allclose(y[0, :, 0, 0], w.sum(axis=(1, 2, 3)), rtol=1e-6)


def test_external_data_with_offset_and_length(tmp_path):
    w = np.arange(54, dtype=np.float32)
    path = external_model(tmp_path, data=b"\0" * 8 + w.tobytes() + b"\0" * 4, offset=8, length=216)
    assert load_model(str(path)).proto.graph.initializer[0].raw_data == w.tobytes()


def test_external_data_file_missing(tmp_path):
    refused(str(external_model(tmp_path, data=False)),
            match="initializer 'w': cannot read external data file 'w.bin'")


def test_external_data_file_too_short(tmp_path):
    refused(str(external_model(tmp_path, data=b"\0" * 12)),
            match=r"initializer 'w': declared shape \(2, 3, 3, 3\) of FLOAT needs 216 bytes; external file "
                  r"'w.bin' gives 12 bytes")


def test_external_data_length_disagrees_with_dims(tmp_path):
    refused(str(external_model(tmp_path, length=100)), match="needs 216 bytes; external file 'w.bin' gives 100")


@pytest.mark.parametrize("location", ["../w.bin", "../../../../etc/passwd", "/etc/passwd"])
def test_external_data_outside_the_model_folder(tmp_path, location):
    (tmp_path / "sub").mkdir()
    err = refused(str(external_model(tmp_path / "sub", location=location)), match=f"initializer 'w': external "
                  f"data location '{location}'")
    assert err.value == location


def test_external_data_shared_case():
    refused(str(shared_case("unclear_external_data_errors_not_wrapped")), match="points outside the model's folder")


def test_external_data_from_bytes_needs_the_path(tmp_path):
    data = external_model(tmp_path).read_bytes()
    refused(data, match="data is in external file 'w.bin'; load the model from its file path")


# ---- shapes checked at compile: Reshape targets, BatchNormalization parameters ---------------

@pytest.mark.parametrize("target, match", [
    ([-3, 4], r"shape input 's' \[-3, 4\] has dimension -3: only -1 \(inferred\) may be negative"),
    ([-1, -1], r"shape input 's' \[-1, -1\] has more than one -1"),
    ([4, 0, 0], r"shape input 's' \[4, 0, 0\]: dimension 1 is 0 \(copy the input's\) but input 0 \(12,\) has rank 1"),
    ([5, -1], r"cannot reshape \(12,\) to \[5, -1\]"),
])
def test_reshape_target_is_checked(target, match):
    model = one_node("Reshape", {}, [12], [("s", np.array(target, np.int64))])
    err = refused(model, CompileError, match=rf"Reshape node 'n': {match}")
    assert (err.node, err.attribute, err.value) == ("n", "s", target)


def test_reshape_allowzero_with_zero_and_minus_one():
    model = one_node("Reshape", {"allowzero": 1}, [12], [("s", np.array([0, -1], np.int64))])
    refused(model, CompileError, match=r"has both 0 and -1 with allowzero=1")


def test_reshape_valid_targets_still_work():
    model = one_node("Reshape", {}, [2, 6], [("s", np.array([0, -1, 3], np.int64))])
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    (y,) = InferenceSession(model).run(None, {"x": x})
    np.testing.assert_array_equal(y, x.reshape(2, 2, 3))


@pytest.mark.parametrize("case", ["wrong_reshape_negative_dims_accepted", "crash_negdim_reshape_gather"])
def test_reshape_negative_dims_shared_cases(case):
    err = refused(str(shared_case(case)), CompileError, match=r"Reshape node '.*': shape input 's' \[-\d, -\d\] "
                                                               r"has dimension -\d: only -1")
    assert err.attribute == "s"


def bn_after(producer: str, mean_shape) -> onnx.ModelProto:
    """producer (Conv or Gemm) with 2 output channels -> BatchNormalization whose mean has mean_shape."""
    if producer == "Conv":
        first = helper.make_node("Conv", ["x", "w"], ["t"], name="p")
        x_shape, w = [1, 3, 4, 4], np.ones((2, 3, 1, 1), np.float32)
    else:
        first = helper.make_node("Gemm", ["x", "w"], ["t"], name="p")
        x_shape, w = [1, 3], np.ones((3, 2), np.float32)
    bn = helper.make_node("BatchNormalization", ["t", "s", "b", "m", "v"], ["y"], name="bn")
    params = [("s", np.ones(2, np.float32)), ("b", np.zeros(2, np.float32)),
              ("m", np.zeros(mean_shape, np.float32)), ("v", np.ones(2, np.float32))]
    return proto([first, bn], [("x", x_shape)], [("y", None)], [("w", w)] + params)


@pytest.mark.parametrize("producer", ["Conv", "Gemm"])
def test_batchnorm_parameter_shape_is_checked_before_folding(producer):
    err = refused(bn_after(producer, (1,)), CompileError,
                  match=r"BatchNormalization node 'bn': input 3 \(mean\) has shape \(1,\), "
                        r"expected \(2,\) .*\(value 'm'\)")
    assert (err.node, err.attribute, err.value) == ("bn", "m", (1,))


def test_batchnorm_parameter_shape_unfused():
    bn = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn")
    params = [("s", np.ones(2, np.float32)), ("b", np.zeros(2, np.float32)),
              ("m", np.zeros((2, 1), np.float32)), ("v", np.ones(2, np.float32))]
    refused(proto([bn], [("x", [1, 2, 3])], [("y", None)], params), CompileError,
            match=r"input 3 \(mean\) has shape \(2, 1\), expected \(2,\) .*\(value 'm'\)")


def test_batchnorm_param_shape_shared_case():
    refused(str(shared_case("wrong_batchnorm_param_shape_when_fused")), CompileError,
            match=r"input 3 \(mean\) has shape \(1,\), expected \(2,\) .*\(value 'm'\)")


def test_batchnorm_fused_with_right_shapes_still_runs():
    (y,) = InferenceSession(bn_after("Conv", (2,))).run(None, {"x": np.ones((1, 3, 4, 4), np.float32)})
    np.testing.assert_allclose(y, np.full((1, 2, 4, 4), 3 / np.sqrt(1 + 1e-5), np.float32), rtol=1e-6)


# ---- valid models stay accepted -------------------------------------------------------------

def test_outputs_without_shape_or_type_are_accepted():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    for out in (("y", None), helper.make_empty_tensor_value_info("y")):
        model = proto([node], [("x", [2, 3])], [out])
        (y,) = InferenceSession(model).run(None, {"x": -np.ones((2, 3), np.float32)})
        np.testing.assert_array_equal(y, np.zeros((2, 3), np.float32))
        assert not model.graph.output[0].type.tensor_type.HasField("shape")  # validation changed nothing


def test_input_without_shape_is_valid():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    model = proto([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], [("y", None)])
    assert validate_model(model) == 17


def test_untyped_graph_input_is_refused():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    model = proto([node], [helper.make_empty_tensor_value_info("x")], [("y", None)])
    refused(model, match="onnx checker")


def test_every_manifest_node_test_and_light_model_validates():
    """The conformance tests run these end to end; this names any that validation alone refuses."""
    from runtime.zoo import LIGHT_MODELS, light_model_path

    from .conformance.node_cases import node_cases, read_manifest
    cases = node_cases()
    models = {name: cases[name].model for name in read_manifest()}
    models.update({name: onnx.load(light_model_path(name)) for name in LIGHT_MODELS})
    refusals = {}
    for name, model in models.items():
        try:
            validate_model(model)
        except ModelLoadError as e:
            refusals[name] = str(e)
    assert not refusals
    assert len(models) == len(set(read_manifest())) + len(LIGHT_MODELS)


def test_nodes_inside_if_branches_are_checked_too():
    bad = helper.make_node("Softmax", ["x"], ["t"], name="inner", axis="1")
    branch = helper.make_graph([bad], "b", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=branch, else_branch=branch)
    err = refused(proto([node], [("x", [3])], [("y", [3])], [("c", np.array(True))]),
                  match="Softmax node 'inner': attribute 'axis' has type STRING, expected INT")
    assert err.node == "inner"


def test_cli_prints_one_line_naming_the_problem(tmp_path, capsys):
    from runtime.cli import main
    (tmp_path / "sub").mkdir()
    path = external_model(tmp_path / "sub", location="../w.bin")
    assert main(["run", str(path)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("radrt run: initializer 'w': external data location '../w.bin'")
    assert "\n" not in err and "Traceback" not in err


# ---- invalid models that used to run (red team rows 5-10, 31) -----------------------------------

def ort_refuses(model: onnx.ModelProto, feeds) -> bool:
    import onnxruntime as ort
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception:  # onnxruntime's own exception classes: any refusal counts
        return True
    return False


def test_declared_output_type_must_match_the_producer():
    node = helper.make_node("Relu", ["x"], ["y"], name="r")
    model = proto([node], [("x", [2, 3])], [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 3])])
    refused(model, match=r"output 'y' is declared tensor\(int32\) but is produced as tensor\(float\)")
    assert ort_refuses(model, {"x": np.ones((2, 3), np.float32)})


def _i(a, name):
    return (name, a)


TYPE_CASES = {
    "reshape_float_shape": ("Reshape", {}, [1, 3], [_i(np.array([3, 1], np.float32), "s")], None,
                            r"input 1 \(shape\) 's' has type tensor\(float\), Reshape-14 allows tensor\(int64\)"),
    "slice_int32_starts_int64_ends": ("Slice", {}, [1, 3], [_i(np.array([0], np.int32), "a"),
                                                           _i(np.array([2], np.int64), "b")], None,
                                      r"input 1 \(starts\) 'a' has type tensor\(int32\) but input 2 \(ends\) 'b' "
                                      r"has type tensor\(int64\); Slice-13 binds both to type variable Tind"),
    "tile_int32_repeats": ("Tile", {}, [1, 3], [_i(np.array([2, 1], np.int32), "r")], None,
                           r"input 1 \(repeats\) 'r' has type tensor\(int32\), Tile-13 allows tensor\(int64\)"),
    "pad_int32_pads": ("Pad", {}, [1, 3], [_i(np.array([0, 1, 0, 1], np.int32), "p")], None,
                       r"input 1 \(pads\) 'p' has type tensor\(int32\), Pad-13 allows tensor\(int64\)"),
    "pad_int64_constant_value": ("Pad", {}, [1, 3], [_i(np.array([0, 1, 0, 1], np.int64), "p"),
                                                    _i(np.array(7, np.int64), "v")], None,
                                 r"input 0 \(data\) 'x' has type tensor\(float\) but input 2 \(constant_value\) "
                                 r"'v' has type tensor\(int64\)"),
    "resize_int64_scales": ("Resize", {}, [1, 1, 1, 3], [_i(np.array([1, 1, 1, 2], np.int64), "s")],
                            ["x", "", "s"],
                            r"input 2 \(scales\) 's' has type tensor\(int64\), Resize-13 allows tensor\(float\)"),
    "add_float_int64": ("Add", {}, [1, 3], [_i(np.array([1, 2, 3], np.int64), "c")], None,
                        r"input 0 \(A\) 'x' has type tensor\(float\) but input 1 \(B\) 'c' has type tensor\(int64\)"),
}


@pytest.mark.parametrize("case", sorted(TYPE_CASES))
def test_input_types_outside_the_schema_constraints_are_refused(case):
    op, attrs, shape, inits, inputs, match = TYPE_CASES[case]
    model = one_node(op, attrs, shape, inits, inputs=inputs)
    err = refused(model, match=rf"{op} node 'n': {match}")
    assert err.node == "n"
    assert ort_refuses(model, {"x": np.ones(shape, np.float32)})


def test_types_within_the_constraints_still_run():
    x = np.array([[1.5, -2, 3]], np.float32)
    pow_int = one_node("Pow", {}, [1, 3], [("e", np.array([2, 1, 1], np.int64))])  # T and T1 differ: valid
    (y,) = InferenceSession(pow_int).run(None, {"x": x})
    np.testing.assert_array_equal(y, [[2.25, -2, 3]])
    slice32 = one_node("Slice", {}, [1, 3], [("a", np.array([1], np.int32)), ("b", np.array([3], np.int32)),
                                             ("ax", np.array([1], np.int32))])
    (y,) = InferenceSession(slice32).run(None, {"x": x})
    np.testing.assert_array_equal(y, [[-2, 3]])
    shape = proto([helper.make_node("Shape", ["x"], ["y"], name="s")], [("x", [1, 3])],
                  [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    (y,) = InferenceSession(shape).run(None, {"x": x})
    np.testing.assert_array_equal(y, [1, 3])
    cast = proto([helper.make_node("Cast", ["x"], ["y"], name="c", to=TensorProto.INT32)], [("x", [1, 3])],
                 [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 3])])
    (y,) = InferenceSession(cast).run(None, {"x": x})
    assert y.dtype == np.int32


def if_model(then_outputs: int, else_outputs: int, cond: bool) -> onnx.ModelProto:
    def branch(name, n):
        ops = ["Relu" if name == "t" else "Neg"] + ["Abs"] * (n - 1)
        nodes = [helper.make_node(ops[k], ["x"], [f"{name}{k}"]) for k in range(n)]
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}{k}", TensorProto.FLOAT, None)
                                                   for k in range(n)])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=branch("t", then_outputs),
                            else_branch=branch("e", else_outputs))
    return proto([node], [("x", [2, 3])], [("y", None)], [("c", np.array(cond))])


@pytest.mark.parametrize("cond", [True, False])
def test_if_branches_both_need_the_node_output_count(cond):
    err = refused(if_model(2, 1, cond) if cond else if_model(1, 2, cond),
                  match=r"If node 'if': (then|else)_branch returns 2 values but the node has 1 output")
    assert err.node == "if"
    assert ort_refuses(if_model(2, 1, cond), {"x": np.ones((2, 3), np.float32)})
    (y,) = InferenceSession(if_model(1, 1, cond)).run(None, {"x": -np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(y, np.zeros((2, 3)) if cond else np.ones((2, 3)))  # Relu or Neg of -1


def test_if_branch_not_taken_is_type_checked():
    bad = helper.make_node("Reshape", ["x", "s"], ["t"], name="inner")
    s = helper.make_node("Constant", [], ["s"], name="k", value=numpy_helper.from_array(np.array([6.0], np.float32)))
    else_b = helper.make_graph([s, bad], "e", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    then_b = helper.make_graph([helper.make_node("Relu", ["x"], ["u"])], "t", [],
                               [helper.make_tensor_value_info("u", TensorProto.FLOAT, None)])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_b, else_branch=else_b)
    refused(proto([node], [("x", [2, 3])], [("y", None)], [("c", np.array(True))]),
            match=r"Reshape node 'inner': input 1 \(shape\) 's' has type tensor\(float\)")


@pytest.mark.parametrize("axes", [[0, 0], [1, -3]])
def test_unsqueeze_repeated_axes_are_refused(axes):
    model = one_node("Unsqueeze", {}, [2, 3], [("a", np.array(axes, np.int64))])
    err = refused(model, CompileError,
                  match=rf"Unsqueeze node 'n': axes \[{axes[0]}, {axes[1]}\] name the same axis twice")
    assert err.node == "n"
    assert ort_refuses(model, {"x": np.ones((2, 3), np.float32)})
    attr = one_node("Unsqueeze", {"axes": axes}, [2, 3], opset=11)  # axes as an attribute
    refused(attr, CompileError, match="name the same axis twice")


def test_squeeze_repeated_axes_squeeze_once_as_onnxruntime_does():
    """The Squeeze spec does not forbid a repeated axis (Unsqueeze's does); onnxruntime runs it."""
    import onnxruntime as ort
    model = one_node("Squeeze", {}, [1, 2, 1], [("a", np.array([0, -3, 2], np.int64))])
    x = np.arange(2, dtype=np.float32).reshape(1, 2, 1)
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    (got,) = InferenceSession(model).run(None, {"x": x})
    assert got.shape == want.shape == (2,)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("opset", [7, 9])
def test_upsample_scales_below_one_are_refused(opset):
    scales = [1, 1, 0.5, 1.5]
    if opset == 7:
        model = one_node("Upsample", {"scales": scales}, [1, 1, 4, 4], opset=7)
    else:
        model = one_node("Upsample", {}, [1, 1, 4, 4], [("s", np.array(scales, np.float32))], opset=9)
    err = refused(model, CompileError, match=r"Upsample node 'n': scales \[1\.0, 1\.0, 0\.5, 1\.5\] must all be >= 1")
    assert err.node == "n"
    ok = one_node("Upsample", {"scales": [1.0, 1.0, 2.0, 1.0]}, [1, 1, 2, 2], opset=7)
    (y,) = InferenceSession(ok).run(None, {"x": np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2)})
    np.testing.assert_array_equal(y[0, 0], [[0, 1], [0, 1], [2, 3], [2, 3]])


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("auto_pad", ["SAME_LOWER", "SAME_UPPER"])
def test_pool_same_padding_that_would_be_negative_is_refused(op, auto_pad):
    model = one_node(op, {"kernel_shape": [3, 2], "strides": [2, 3], "auto_pad": auto_pad}, [1, 1, 5, 6])
    err = refused(model, CompileError, match=rf"{op} node 'n': auto_pad {auto_pad} on spatial axis 1 .* needs a "
                                             r"total pad of -1; pads must be non-negative")
    assert err.node == "n"
    assert ort_refuses(model, {"x": np.ones((1, 1, 5, 6), np.float32)})


@pytest.mark.parametrize("auto_pad", ["SAME_LOWER", "SAME_UPPER"])
@pytest.mark.parametrize("k, s, n", [(1, 2, 6), (2, 3, 6), (1, 3, 6), (2, 5, 6), (1, 6, 6), (1, 7, 8), (2, 8, 8)])
def test_conv_same_padding_that_would_be_negative(auto_pad, k, s, n):
    """Where onnxruntime computes these (as radrt: no padding) they run and match; where it
    shifts the windows (and disagrees with the ONNX reference) they are refused."""
    import onnxruntime as ort
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="n", auto_pad=auto_pad, strides=[1, s])
    model = proto([node], [("x", [1, 1, 1, n])], [("y", None)], [("w", np.ones((1, 1, 1, k), np.float32))])
    x = ((np.arange(n, dtype=np.float32) + 1) ** 2).reshape(1, 1, 1, n)
    need = (-(-n // s) - 1) * s + k - n
    if need < (-2 if auto_pad == "SAME_UPPER" else -3):
        refused(model, CompileError, match=rf"Conv node 'n': spatial dim 1: auto_pad {auto_pad} .* needs a total "
                                           rf"pad of {need}")
        return
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    (got,) = InferenceSession(model).run(None, {"x": x})
    np.testing.assert_array_equal(got, want)


def test_constant_with_two_value_attributes_is_refused():
    node = helper.make_node("Constant", [], ["y"], name="k", value_floats=[1.0, 2.0], value_float=2.0)
    err = refused(proto([node], [], [("y", None)]),
                  match=r"Constant node 'k': has 2 value attributes \(value_float, value_floats\), expected "
                        r"exactly one of")
    assert err.node == "k"


@pytest.mark.parametrize("make, name", [
    (lambda: helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, None), r"seq\(tensor\(float\)\)"),
    (lambda: helper.make_value_info("x", helper.make_optional_type_proto(
        helper.make_tensor_type_proto(TensorProto.FLOAT, [2]))), r"optional\(tensor\(float\)\)"),
    (lambda: helper.make_value_info("x", helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [2]))), r"map\(int64,tensor\(float\)\)"),
])
def test_graph_input_that_is_not_a_tensor_names_its_type(make, name):
    node = helper.make_node("Identity", ["x"], ["y"], name="i")
    refused(proto([node], [make()], [helper.make_empty_tensor_value_info("y")]), UnsupportedOpError,
            match=rf"graph input 'x' has type {name}; radrt runs only tensor inputs and outputs")


def test_value_info_and_input_default_types_must_match_too():
    node = helper.make_node("Relu", ["x"], ["h"], name="r")
    model = proto([node, helper.make_node("Neg", ["h"], ["y"], name="n")], [("x", [2])], [("y", None)])
    model.graph.value_info.append(helper.make_tensor_value_info("h", TensorProto.INT64, [2]))
    refused(model, match=r"value_info 'h' is declared tensor\(int64\) but is produced as tensor\(float\)")
    assert ort_refuses(model, {"x": np.ones(2, np.float32)})
    model = proto([helper.make_node("Add", ["x", "b"], ["y"], name="a")], [("x", [2]), ("b", [2])], [("y", None)],
                  [("b", np.ones(2, np.int64))])
    refused(model, match=r"input 'b' is declared tensor\(float\) but its initializer \(default value\) is "
                         r"tensor\(int64\)")

"""Stage 1 (load): unreadable, corrupt and unsupported models fail clearly."""
import onnx
import pytest
from onnx import helper

from runtime import InferenceSession, ModelLoadError, UnsupportedOpError
from runtime.load import load_model

from .helpers import make_model, relu_chain


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ModelLoadError, match="nope.onnx.*cannot read"):
        load_model(str(tmp_path / "nope.onnx"))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(ModelLoadError, match="empty"):
        InferenceSession(str(p))


@pytest.mark.parametrize("cut", [1, 7, 20, -3])
def test_truncated_model_is_a_clear_error(tmp_path, cut):
    data = relu_chain()
    p = tmp_path / "cut.onnx"
    p.write_bytes(data[:cut])
    with pytest.raises(ModelLoadError, match="cut.onnx"):
        InferenceSession(str(p))


def test_garbage_bytes():
    with pytest.raises(ModelLoadError, match="model bytes"):
        InferenceSession(b"\xff\xfe this is not a protobuf \x00\x01" * 10)


def test_unsupported_op_names_op_node_and_opset():
    node = helper.make_node("Einsum", ["x", "x"], ["y"], name="the_einsum", equation="ij,ij->ij")
    with pytest.raises(UnsupportedOpError, match=r"opset 17: Einsum \(1 node, first 'the_einsum'\)"):
        InferenceSession(make_model([node], [("x", [2, 2])], [("y", [2, 2])]))


def test_custom_domain_is_rejected():
    node = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")
    model = onnx.load_from_string(make_model([node], [("x", [2])], [("y", [2])]))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpError, match="com.example::Relu"):
        InferenceSession(model.SerializeToString())


def test_accepts_path_bytes_and_proto(tmp_path):
    data = relu_chain()
    p = tmp_path / "m.onnx"
    p.write_bytes(data)
    for src in (str(p), p, data, onnx.load_from_string(data)):
        assert [i.name for i in InferenceSession(src).get_inputs()] == ["x"]

"""Small model builders shared by tests."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, inputs, outputs, initializers=(), opset=17) -> bytes:
    """inputs/outputs: (name, shape) for float32 values, or ValueInfoProto."""
    def vi(x):
        if isinstance(x, onnx.ValueInfoProto):
            return x
        name, shape = x
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(list(nodes), "test", [vi(i) for i in inputs], [vi(o) for o in outputs],
                              [numpy_helper.from_array(np.asarray(a), n) for n, a in initializers])
    # IR 8: what every onnxruntime release we compare against accepts.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model.SerializeToString()


def relu_chain(n=3, shape=(2, 3)) -> bytes:
    names = ["x"] + [f"r{i}" for i in range(n)]
    nodes = [helper.make_node("Relu", [names[i]], [names[i + 1]], name=f"relu{i}") for i in range(n)]
    return make_model(nodes, [("x", shape)], [(names[-1], shape)])

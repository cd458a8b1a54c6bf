"""One-node ONNX models run by radrt and by onnxruntime (the reference), for the
pool / normalization / softmax / reduce op tests."""
import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import runtime


def one_node_model(op_type, inputs, outputs=("y",), attrs=None, opset=18, initializers=None,
                   output_types=None):
    """inputs: list of (name, array); arrays named in `initializers` become initializers,
    the rest runtime inputs with their shape. An empty name is an omitted optional input."""
    initializers = set(initializers or ())
    graph_inputs, inits, names = [], [], []
    for name, arr in inputs:
        names.append(name)
        if not name:
            continue
        if name in initializers:
            inits.append(numpy_helper.from_array(np.asarray(arr), name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(np.asarray(arr).dtype), np.asarray(arr).shape))
    output_types = output_types or [TensorProto.FLOAT] * len(outputs)
    graph_outputs = [helper.make_tensor_value_info(o, t, None) for o, t in zip(outputs, output_types) if o]
    node = helper.make_node(op_type, names, list(outputs), name="n0", **(attrs or {}))
    graph = helper.make_graph([node], "g", graph_inputs, graph_outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def feeds_of(inputs, initializers=None):
    initializers = set(initializers or ())
    return {n: np.asarray(a) for n, a in inputs if n and n not in initializers}


def run_radrt(model, feeds):
    return runtime.InferenceSession(model.SerializeToString()).run(None, feeds)


def run_ort(model, feeds):
    sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def compare_with_ort(op_type, inputs, attrs=None, opset=18, initializers=None, outputs=("y",),
                     output_types=None, rtol=1e-4, atol=1e-5):
    model = one_node_model(op_type, inputs, outputs, attrs, opset, initializers, output_types)
    feeds = feeds_of(inputs, initializers)
    got, want = run_radrt(model, feeds), run_ort(model, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return got


def assert_deterministic(op_type, inputs, attrs=None, opset=18, initializers=None, outputs=("y",)):
    """Two sessions, two runs each: identical output bytes."""
    model = one_node_model(op_type, inputs, outputs, attrs, opset, initializers)
    feeds = feeds_of(inputs, initializers)
    runs = [out for _ in range(2) for out in [run_radrt(model, feeds), run_radrt(model, feeds)]]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


def rng(seed=0):
    return np.random.default_rng(seed)

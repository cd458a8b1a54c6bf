"""One-node ONNX models run by radrt and by onnxruntime (the reference), shared by every
op test in tests/ops.

    m = model("Conv", inputs=[("x", x)], initializers=[("w", w)], attrs={"pads": [1, 1, 1, 1]})
    got = compare(m, {"x": x})             # radrt's outputs, checked against onnxruntime

`inputs` become graph inputs (shape and dtype from the array), `initializers` constants;
the node reads them in that order unless `node_inputs` names them ('' for an omitted
optional input). Models use IR version 8, which the installed onnxruntime accepts.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import runtime

IR_VERSION = 8
Arrays = Sequence[Tuple[str, np.ndarray]]


def model(op_type: str, inputs: Arrays = (), initializers: Arrays = (), attrs: Optional[dict] = None,
          outputs: Union[int, Sequence[str]] = ("y",), opset: int = 18, output_types=None,
          node_inputs: Optional[Sequence[str]] = None, name: str = "n0") -> onnx.ModelProto:
    """A model of one `op_type` node. `outputs` is a list of names ('' for an omitted
    optional output) or a count (named y0, y1, ...); outputs are float32 unless
    `output_types` (TensorProto types, one per output) says otherwise, or None for
    outputs left untyped."""
    if isinstance(outputs, int):
        outputs = [f"y{k}" for k in range(outputs)]
    outputs = list(outputs)
    if node_inputs is None:
        node_inputs = [n for n, _ in inputs] + [n for n, _ in initializers]
    graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.asarray(a).dtype),
                                                  np.asarray(a).shape) for n, a in inputs]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in initializers]
    if output_types is None:
        output_types = [TensorProto.FLOAT] * len(outputs)
    graph_outputs = [helper.make_tensor_value_info(o, t, None) if t is not None
                     else helper.make_empty_tensor_value_info(o)
                     for o, t in zip(outputs, output_types) if o]
    node = helper.make_node(op_type, list(node_inputs), outputs, name=name, **(attrs or {}))
    graph = helper.make_graph([node], "g", graph_inputs, graph_outputs, inits)
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", opset)])


def _bytes(m) -> bytes:
    return m if isinstance(m, bytes) else m.SerializeToString()


def feeds_for(m, *arrays) -> Dict[str, np.ndarray]:
    """Feeds for the model's graph inputs, in order."""
    proto = m if isinstance(m, onnx.ModelProto) else onnx.load_from_string(m)
    return {i.name: a for i, a in zip(proto.graph.input, arrays)}


def run_radrt(m, feeds: Dict[str, np.ndarray]):
    return runtime.InferenceSession(_bytes(m)).run(None, feeds)


def run_ort(m, feeds: Dict[str, np.ndarray]):
    sess = onnxruntime.InferenceSession(_bytes(m), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_outputs_match(got, want, rtol=1e-4, atol=1e-5, exact=False, equal_nan=True):
    """Same count, shapes and dtypes; values equal (exact) or within rtol/atol."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=equal_nan)


def compare(m, feeds: Dict[str, np.ndarray], rtol=1e-4, atol=1e-5, exact=False):
    """Run with radrt and onnxruntime, check the outputs agree; returns radrt's."""
    got = run_radrt(m, feeds)
    assert_outputs_match(got, run_ort(m, feeds), rtol=rtol, atol=atol, exact=exact)
    return got


def assert_deterministic(m, feeds: Dict[str, np.ndarray]):
    """Two sessions, two runs each: identical output bytes."""
    runs = []
    for _ in range(2):
        sess = runtime.InferenceSession(_bytes(m))
        runs += [[a.copy() for a in sess.run(None, feeds)] for _ in range(2)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


def rng(seed=0):
    return np.random.default_rng(seed)

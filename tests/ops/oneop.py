"""One-node ONNX models run by radrt and by onnxruntime (the reference), shared by every
op test in tests/ops.

    m = model("Conv", inputs=[("x", x)], initializers=[("w", w)], attrs={"pads": [1, 1, 1, 1]})
    got = compare(m, {"x": x})             # radrt's outputs, checked against onnxruntime

`model` builds every model here: `inputs` become graph inputs (shape and dtype from the
array), `initializers` constants; the node reads them in that order unless
`node_inputs` names them ('' for an omitted optional input). Models use IR version 8,
which the installed onnxruntime accepts. Two shorthands build on it: `node_model`
(inputs in node order, some named as initializers) and `one_node` (graph input x,
then constants). Runs take the feeds as a dict or as arrays in graph-input order.
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
          node_inputs: Optional[Sequence[str]] = None, name: str = "n0", **node_attrs) -> onnx.ModelProto:
    """A model of one `op_type` node with attributes `attrs` and `node_attrs`. `outputs`
    is a list of names ('' for an omitted optional output) or a count (named y0, y1,
    ...); outputs are float32 unless `output_types` (TensorProto types, one per
    output) says otherwise, or None for outputs left untyped."""
    attrs = dict(attrs or {}, **node_attrs)
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
    node = helper.make_node(op_type, list(node_inputs), outputs, name=name, **attrs)
    graph = helper.make_graph([node], "g", graph_inputs, graph_outputs, inits)
    return helper.make_model(graph, ir_version=IR_VERSION, opset_imports=[helper.make_opsetid("", opset)])


def node_model(op_type: str, inputs: Arrays, outputs=("y",), attrs=None, opset=18, initializers=None,
               output_types=None, name="n0") -> onnx.ModelProto:
    """`inputs` (name, array) in node order ('' for an omitted optional input); those
    named in `initializers` become initializers, the rest graph inputs."""
    initializers = set(initializers or ())
    return model(op_type, inputs=[(n, a) for n, a in inputs if n and n not in initializers],
                 initializers=[(n, a) for n, a in inputs if n and n in initializers], attrs=attrs,
                 outputs=outputs, opset=opset, output_types=output_types, node_inputs=[n for n, _ in inputs],
                 name=name)


def feeds_of(inputs: Arrays, initializers=None) -> Dict[str, np.ndarray]:
    """Feeds for a `node_model`: its inputs that are not initializers."""
    initializers = set(initializers or ())
    return {n: np.asarray(a) for n, a in inputs if n and n not in initializers}


def one_node(op_type: str, x: np.ndarray, consts=(), attrs=None, opset=19, n_outputs=1, runtime_inputs=()):
    """Graph input 'x', then `consts` as initializers c0, c1, ... (None for an omitted
    optional input), then `runtime_inputs` as graph inputs r0, r1, ...; outputs y0, y1, ...
    untyped; the node is named after the op (e.g. 'pad1')."""
    names = ["x"] + ["" if c is None else f"c{k}" for k, c in enumerate(consts)]
    names += [f"r{k}" for k in range(len(runtime_inputs))]
    return model(op_type, inputs=[("x", x)] + [(f"r{k}", r) for k, r in enumerate(runtime_inputs)],
                 initializers=[(f"c{k}", c) for k, c in enumerate(consts) if c is not None], attrs=attrs,
                 outputs=n_outputs, output_types=[None] * n_outputs, opset=opset, node_inputs=names,
                 name=f"{op_type.lower()}1")


def _bytes(m) -> bytes:
    return m if isinstance(m, bytes) else m.SerializeToString()


def feeds_for(m, *feeds) -> Dict[str, np.ndarray]:
    """`feeds` as one dict, or arrays for the model's graph inputs in order."""
    if len(feeds) == 1 and isinstance(feeds[0], dict):
        return feeds[0]
    proto = m if isinstance(m, onnx.ModelProto) else onnx.load_from_string(m)
    return {i.name: a for i, a in zip(proto.graph.input, feeds)}


def run_radrt(m, *feeds):
    return runtime.InferenceSession(_bytes(m)).run(None, feeds_for(m, *feeds))


def run_ort(m, *feeds):
    sess = onnxruntime.InferenceSession(_bytes(m), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds_for(m, *feeds))


def radrt_output(m, *feeds) -> np.ndarray:
    """The first output, run with radrt."""
    return run_radrt(m, *feeds)[0]


def ort_output(m, *feeds) -> np.ndarray:
    """The first output, run with onnxruntime."""
    return run_ort(m, *feeds)[0]


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


def compare(m, *feeds, rtol=1e-4, atol=1e-5, exact=False):
    """Run with radrt and onnxruntime, check the outputs agree; returns radrt's."""
    got = run_radrt(m, *feeds)
    assert_outputs_match(got, run_ort(m, *feeds), rtol=rtol, atol=atol, exact=exact)
    return got


def compare_node(op_type, inputs, attrs=None, opset=18, initializers=None, outputs=("y",), output_types=None,
                 rtol=1e-4, atol=1e-5):
    """`compare` of a `node_model`."""
    m = node_model(op_type, inputs, outputs, attrs, opset, initializers, output_types)
    return compare(m, feeds_of(inputs, initializers), rtol=rtol, atol=atol)


def assert_deterministic(m, *feeds):
    """Two sessions, two runs each: identical output bytes."""
    feeds = feeds_for(m, *feeds)
    runs = []
    for _ in range(2):
        sess = runtime.InferenceSession(_bytes(m))
        runs += [[a.copy() for a in sess.run(None, feeds)] for _ in range(2)]
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


def assert_node_deterministic(op_type, inputs, attrs=None, opset=18, initializers=None, outputs=("y",)):
    """`assert_deterministic` of a `node_model`."""
    assert_deterministic(node_model(op_type, inputs, outputs, attrs, opset, initializers),
                         feeds_of(inputs, initializers))


def frozen_node_case(name):
    """An onnx node test with every input but the first made an initializer (radrt requires
    shapes, pads, scales... to be constants), and its first data set."""
    from onnx.backend.test.runner import _normalize_tensor

    from tests.conformance.node_cases import node_cases
    case = node_cases()[name]
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    inputs, refs = case.data_sets[0]
    g = m.graph
    first = g.input[0]
    for vi, arr in zip(list(g.input)[1:], inputs[1:]):
        g.initializer.append(numpy_helper.from_array(np.asarray(_normalize_tensor(arr)), vi.name))
    del g.input[:]
    g.input.extend([first])
    return m, _normalize_tensor(inputs[0]), [_normalize_tensor(r) for r in refs], case


def check_frozen_node_case(name):
    from onnx.backend.test.runner import Runner

    from runtime import backend
    m, x, refs, case = frozen_node_case(name)
    outs = backend.prepare(m).run([x])
    Runner.assert_similar_outputs(refs, outs, rtol=case.rtol, atol=case.atol)


def node_case_names(*prefixes):
    from tests.conformance.node_cases import node_cases
    return [n for n in sorted(node_cases()) if n.startswith(prefixes)]


def rng(seed=0):
    return np.random.default_rng(seed)

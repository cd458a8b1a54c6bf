"""Helpers for the data-movement op tests: one-node models run by radrt and onnxruntime."""
import numpy as np
import onnx
import onnxruntime
from onnx import helper, numpy_helper

import runtime

OPSET = 19


def one_node(op, x, consts=(), attrs=None, opset=OPSET, n_outputs=1, runtime_inputs=()):
    """A model of one `op` node: input 'x' (a graph input), then `consts` as initializers
    ('' for an omitted optional input), `runtime_inputs` as extra graph inputs."""
    names = ["x"]
    inits, inputs = [], [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)]
    for k, c in enumerate(consts):
        if c is None:
            names.append("")
            continue
        names.append(f"c{k}")
        inits.append(numpy_helper.from_array(np.asarray(c), f"c{k}"))
    for k, r in enumerate(runtime_inputs):
        names.append(f"r{k}")
        inputs.append(helper.make_tensor_value_info(f"r{k}", helper.np_dtype_to_tensor_dtype(r.dtype), r.shape))
    outs = [f"y{k}" for k in range(n_outputs)]
    node = helper.make_node(op, names, outs, name=f"{op.lower()}1", **(attrs or {}))
    graph = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)


def run_radrt(model, *feeds):
    sess = runtime.InferenceSession(model.SerializeToString())
    names = [i.name for i in model.graph.input]
    return sess.run(None, dict(zip(names, feeds)))


def run_ort(model, *feeds):
    sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in model.graph.input]
    return sess.run(None, dict(zip(names, feeds)))


def assert_same_as_ort(model, *feeds, exact=True):
    ours, ref = run_radrt(model, *feeds), run_ort(model, *feeds)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape, a.dtype, b.dtype)
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def assert_deterministic(model, *feeds):
    sess = runtime.InferenceSession(model.SerializeToString())
    names = [i.name for i in model.graph.input]
    first = [a.copy() for a in sess.run(None, dict(zip(names, feeds)))]
    second = sess.run(None, dict(zip(names, feeds)))
    for a, b in zip(first, second):
        assert a.tobytes() == b.tobytes()


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

"""Shared by tests/ops/test_argmax.py, test_cumsum.py and test_sign.py: one-node models
with the data input fed (or made a constant, to exercise folding) and every other input
an initializer, run by radrt and by onnxruntime (one intra-op thread, no graph
optimizations), and a bitwise comparison that tells -0.0 from +0.0 and NaNs apart."""
import numpy as np
import onnxruntime
from onnx import helper, numpy_helper

from runtime import InferenceSession

INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
FLOATS = [np.float32, np.float64]
SPECIALS = [np.nan, -np.inf, np.inf, -0.0, 0.0, 1.0, -1.0, 2.5]


def make_model(op, x, consts=(), attrs=None, opset=18, fold=False, fed_consts=False):
    """x fed (or an initializer when fold), then consts as initializers (graph inputs
    when fed_consts)."""
    attrs = attrs or {}
    names = ["x"] + [f"c{k}" for k in range(len(consts))]
    arrays = [np.asarray(x)] + [np.asarray(c) for c in consts]
    fed = [] if fold else [0]
    if fed_consts:
        fed += list(range(1, len(arrays)))
    inputs = [helper.make_tensor_value_info(names[k], helper.np_dtype_to_tensor_dtype(arrays[k].dtype),
                                            arrays[k].shape) for k in fed]
    inits = [numpy_helper.from_array(arrays[k], names[k]) for k in range(len(arrays)) if k not in fed]
    node = helper.make_node(op, names, ["y"], name=f"{op.lower()}1", **attrs)
    g = helper.make_graph([node], "g", inputs, [helper.make_empty_tensor_value_info("y")],
                          inits)
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", opset)])
    return m.SerializeToString(), {names[k]: arrays[k] for k in fed}


def run_radrt(model, feeds):
    return InferenceSession(model, scrub_interval_s=None).run(None, feeds)[0]


def run_ort(model, feeds):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = onnxruntime.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def assert_same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    if got.tobytes() != want.tobytes():
        np.testing.assert_array_equal(got, want)   # shows where the values differ
        raise AssertionError(f"equal values, different bits (a signed zero or a NaN's sign): got {got!r}, "
                             f"want {want!r}")


def values(dtype, specials=True):
    """A hypothesis element strategy with many ties (a few small values) and, for floats,
    NaN, infinities and signed zeros."""
    from hypothesis import strategies as st
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        base = st.sampled_from(SPECIALS if specials else [v for v in SPECIALS if np.isfinite(v)])
        width = 32 if dtype == np.float32 else 64
        return st.one_of(base, st.floats(allow_nan=specials, allow_infinity=specials, width=width))
    info = np.iinfo(dtype)
    return st.one_of(st.sampled_from([0, 1, 2, int(info.min), int(info.max)]),
                     st.integers(int(info.min), int(info.max)))

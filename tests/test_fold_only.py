"""Fold-only ops (runtime.fold_only): constant folding of ops radrt has no kernel for.

Each case is one node on constant inputs, folded by radrt, compared with onnxruntime
(graph optimizations off) running the same node on fed inputs; plus size bounds that
refuse before evaluating (red team rows 3, 11, 14)."""
import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

from runtime import CompileError, InferenceSession
from runtime.errors import MemoryBudgetError
from runtime.load import FOLD_ONLY_OPS

ort = pytest.importorskip("onnxruntime")

ELEM = {np.dtype(np.float32): TP.FLOAT, np.dtype(np.float64): TP.DOUBLE, np.dtype(np.int32): TP.INT32,
        np.dtype(np.int64): TP.INT64, np.dtype(bool): TP.BOOL}
f32, i32, i64 = (lambda *v: np.array(v, np.float32)), (lambda *v: np.array(v, np.int32)), \
    (lambda *v: np.array(v, np.int64))
NAN, INF = np.nan, np.inf

# (op, attributes, inputs, output element types, opset)
CASES = [
    ("Range", {}, [np.float32(0), np.float32(1), np.float32(0.1)], [TP.FLOAT], 18),
    ("Range", {}, [np.float32(1), np.float32(0.3), np.float32(-0.1)], [TP.FLOAT], 18),
    ("Range", {}, [np.float32(0), np.float32(-1), np.float32(1)], [TP.FLOAT], 18),
    ("Range", {}, [np.int32(10), np.int32(-2), np.int32(-3)], [TP.INT32], 18),
    ("Range", {}, [np.int64(-5), np.int64(7), np.int64(4)], [TP.INT64], 18),
    ("Range", {}, [np.float32(0.5), np.float32(3.7), np.float32(1.5)], [TP.FLOAT], 18),
    ("OneHot", {"axis": 0}, [f32(1.7, -1.2), np.float32(3.9), f32(0, 1)], [TP.FLOAT], 18),
    ("OneHot", {"axis": -1}, [i64(0, -1, 5, -5, 3, -4), np.int64(4), f32(0, 1)], [TP.FLOAT], 18),
    ("OneHot", {"axis": 1}, [i64(0, 2, 1, 0).reshape(2, 2), i64(3), i64(-1, 7)], [TP.INT64], 18),
    ("OneHot", {"axis": -1}, [np.zeros((0, 2), np.int64), np.int64(3), f32(0, 1)], [TP.FLOAT], 18),
    ("OneHot", {}, [f32(-0.5, 2.99), np.float32(3), f32(2, 5)], [TP.FLOAT], 11),
    ("Equal", {}, [f32(1, NAN, -0.0, INF), f32(1, NAN, 0.0, INF)], [TP.BOOL], 18),
    ("Greater", {}, [f32(1, NAN, 3, -INF), f32(NAN, 1, 3, -INF)], [TP.BOOL], 18),
    ("Less", {}, [i64(1, 5, -3).reshape(3, 1), i64(2, -3)], [TP.BOOL], 18),
    ("GreaterOrEqual", {}, [f32(1, NAN, 3), f32(1)], [TP.BOOL], 18),
    ("LessOrEqual", {}, [f32(-0.0, NAN, 3), f32(0.0, 2, NAN)], [TP.BOOL], 18),
    ("Not", {}, [np.array([True, False])], [TP.BOOL], 18),
    ("And", {}, [np.array([[True], [False]]), np.array([True, False])], [TP.BOOL], 18),
    ("Or", {}, [np.array([True, False]), np.array([False, False])], [TP.BOOL], 18),
    ("Where", {}, [np.array([True, False, True]), f32(1, 2, NAN), f32(4, 5).reshape(2, 1)], [TP.FLOAT], 18),
    ("Where", {}, [np.zeros((0,), bool), np.zeros((0,), np.int64), i64(1)], [TP.INT64], 18),
    ("Round", {}, [f32(0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, NAN, -INF, -0.0)], [TP.FLOAT], 18),
    ("Sign", {}, [f32(-2, 0, NAN, -0.0, INF)], [TP.FLOAT], 18),
    ("Sign", {}, [i32(-7, 0, 3)], [TP.INT32], 18),
    ("Mod", {"fmod": 0}, [i32(7, -7, 7, -7, 0), i32(3, 3, -3, -3, 5)], [TP.INT32], 18),
    ("Mod", {"fmod": 1}, [f32(7.5, -7.5, 7.5, -7.5, INF), f32(2, 2, -2, -2, 2)], [TP.FLOAT], 18),
    ("Mod", {"fmod": 1}, [i64(7, -7, 7, -7), i64(3, 3, -3, -3)], [TP.INT64], 18),
    ("CumSum", {"exclusive": 1, "reverse": 1}, [f32(1, 2, 3, 4), np.int64(0)], [TP.FLOAT], 18),
    ("CumSum", {}, [i32(1, 2, 3, 4).reshape(2, 2), np.int32(-1)], [TP.INT32], 18),
    ("CumSum", {}, [f32(1, NAN, 3), np.int64(0)], [TP.FLOAT], 18),
    ("NonZero", {}, [f32(1, 0, NAN, -0.0).reshape(2, 2)], [TP.INT64], 18),
    ("NonZero", {}, [np.zeros((0, 3), np.float32)], [TP.INT64], 18),
    ("ScatterND", {"reduction": "add"}, [f32(1, 2, 3, 4), i64(1, 1, 3).reshape(3, 1), f32(10, 20, 30)],
     [TP.FLOAT], 18),
    ("ScatterND", {}, [f32(1, 2, 3, 4), i64(-1).reshape(1, 1), f32(10)], [TP.FLOAT], 18),
]


def _ids():
    return [f"{op}-{i}" for i, (op, *_rest) in enumerate(CASES)]


def _out_type(op, inputs):
    """The element type the op's schema gives its first output (declared outputs must match)."""
    if op in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or"):
        return TP.BOOL
    if op == "Range":
        return ELEM[np.asarray(inputs[0]).dtype]
    return TP.FLOAT


def _models(op, attrs, inputs, out_types, opset):
    names = [f"i{k}" for k in range(len(inputs))]
    outs = [f"o{k}" for k in range(len(out_types))]
    node = helper.make_node(op, names, outs, name="n", **attrs)
    out_vi = [helper.make_tensor_value_info(o, t, None) for o, t in zip(outs, out_types)]
    fed = helper.make_graph([node], "fed", [helper.make_tensor_value_info(n, ELEM[np.asarray(a).dtype],
                                                                          list(np.shape(a)))
                                            for n, a in zip(names, inputs)], out_vi)
    const = helper.make_graph([node], "const", [], out_vi,
                              [numpy_helper.from_array(np.asarray(a), n) for n, a in zip(names, inputs)])
    make = lambda g: helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],  # noqa: E731
                                       ir_version=8).SerializeToString()
    return make(fed), make(const), dict(zip(names, (np.asarray(a) for a in inputs)))


def test_every_fold_only_op_has_a_case():
    # ArgMax, ArgMin and TopK have kernels now; their folding cases are in tests/ops/test_argmax.py
    # and tests/ops/test_topk.py.
    assert {c[0] for c in CASES} == set(FOLD_ONLY_OPS)


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_fold_only_op_matches_onnxruntime(case):
    fed, const, feeds = _models(*case)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(fed, so, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = InferenceSession(const).run(None, {})
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("op, inputs, budget", [
    ("Range", [np.float32(0), np.float32(2e8), np.float32(1)], 100_000_000),
    ("Range", [np.int64(0), np.int64(1 << 40), np.int64(1)], 100_000_000),
    ("OneHot", [np.zeros(1000, np.int64), np.int64(100_000), np.array([0, 1], np.float32)], 100_000_000),
    ("Equal", [np.zeros((20_000, 1), np.float32), np.zeros((1, 20_000), np.float32)], 100_000_000),
    ("Where", [np.ones((5000, 1), bool), np.zeros((1, 5000), np.float32), np.float32(1)], 50_000_000),
])
def test_fold_only_output_is_budget_checked_before_it_is_computed(op, inputs, budget):
    attrs = {"axis": -1} if op == "OneHot" else {}
    _, const, _ = _models(op, attrs, inputs, [_out_type(op, inputs)], 18)
    with pytest.raises(MemoryBudgetError, match="node 'n'"):
        InferenceSession(const, max_memory_bytes=budget)


@pytest.mark.parametrize("op, inputs, match", [
    ("Range", [np.float32(0), np.float32(1), np.float32(0)], "delta is 0"),
    ("Range", [np.float32(0), np.float32(np.inf), np.float32(1)], "finite element count"),
    ("OneHot", [np.array([np.nan], np.float32), np.float32(3), np.array([0, 1], np.float32)], "NaN"),
    ("OneHot", [np.array([1], np.int64), np.float32(-2), np.array([0, 1], np.float32)], "depth"),
    ("Equal", [np.zeros(3, np.float32), np.zeros(2, np.float32)], "do not broadcast"),
])
def test_invalid_fold_only_values_are_compile_errors(op, inputs, match):
    _, const, _ = _models(op, {}, inputs, [_out_type(op, inputs)], 18)
    with pytest.raises(CompileError, match=match):
        InferenceSession(const)

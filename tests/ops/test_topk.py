"""TopK on run-time data (runtime/ops/topk.py, csrc/kernels/topk.c).

Hypothesis against onnxruntime (the types it implements: float32, float64, int8,
uint8, int16, int32, int64) and against a numpy stable sort of the documented order
(every type): shapes, axes (negative too), K from 0 to the axis size, largest, sorted,
ties and NaN. onnxruntime's order, which radrt follows: best first, equal values by
lower index, NaN above every number (first with largest=1, last with largest=0),
-0.0 equal to +0.0. With sorted=0 onnxruntime returns the same elements in its heap's
order; radrt returns them sorted, so those cases compare the selected sets. K comes
from an initializer, a fed input the session compiles on, or (opset < 10) the
attribute k; constant inputs fold through the same kernel (the former fold-only cases
of tests/test_fold_only.py are here)."""
import numpy as np
import onnxruntime
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import CompileError
from tests.ops._scan import FLOATS, INTS, assert_same_bits, values

ORT_TYPES = [np.float32, np.float64, np.int8, np.uint8, np.int16, np.int32, np.int64]
NAN, INF = np.nan, np.inf


def make_model(x, k, attrs=None, opset=18, fold=False, fed_k=False, typed=False):
    """TopK of x (fed, or an initializer when fold) with K an initializer (a graph input
    when fed_k; the attribute k before opset 10); outputs v and i, untyped unless typed."""
    x = np.asarray(x)
    attrs = dict(attrs or {})
    k_value = np.array([k], np.int64)
    inputs, inits, names = [], [], ["x"]
    (inits if fold else inputs).append(("x", x))
    if opset < 10:
        attrs["k"] = k
    else:
        names.append("k")
        (inputs if fed_k else inits).append(("k", k_value))
    node = helper.make_node("TopK", names, ["v", "i"], name="topk1", **attrs)
    g = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in inputs],
        [helper.make_tensor_value_info("v", helper.np_dtype_to_tensor_dtype(x.dtype), None),
         helper.make_tensor_value_info("i", helper.np_dtype_to_tensor_dtype(np.dtype(np.int64)), None)]
        if typed else [helper.make_empty_tensor_value_info("v"), helper.make_empty_tensor_value_info("i")],
        [numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", opset)])
    return m.SerializeToString(), dict(inputs)


def run_radrt(model, feeds):
    return InferenceSession(model, scrub_interval_s=None).run(None, feeds)


def run_ort(model, feeds):
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


def reference(x, k, axis, largest=1):
    """(values, indices) in the documented order, from numpy's stable sort (ascending,
    NaN last, -0.0 == +0.0): as is for largest=0; for largest=1 the same sort of the
    reversed axis, read backwards, so equal values keep lower indices first."""
    xs = np.moveaxis(x, axis, -1)
    n = xs.shape[-1]
    if largest:
        order = (n - 1 - np.argsort(xs[..., ::-1], axis=-1, kind="stable"))[..., ::-1]
    else:
        order = np.argsort(xs, axis=-1, kind="stable")
    order = order[..., :k].astype(np.int64)
    vals = np.take_along_axis(xs, order, axis=-1)
    return np.moveaxis(vals, -1, axis), np.moveaxis(order, -1, axis)


def assert_same_selection(got, want, x, axis):
    """Same shapes and types, and per slice the same set of indices, values read at them."""
    (gv, gi), (wv, wi) = got, want
    assert gv.shape == wv.shape and gi.dtype == wi.dtype == np.int64 and gv.dtype == wv.dtype
    np.testing.assert_array_equal(np.sort(gi, axis=axis), np.sort(wi, axis=axis))
    for v, i in ((gv, gi), (wv, wi)):
        assert_same_bits(v, np.take_along_axis(x, i, axis=axis))


@st.composite
def cases(draw, dtypes):
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=7))
    x = draw(hnp.arrays(dtype, shape, elements=values(dtype)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    k = draw(st.integers(0, shape[axis]))
    attrs = {"axis": axis, "largest": draw(st.sampled_from([0, 1])), "sorted": draw(st.sampled_from([0, 1]))}
    return x, k, attrs


@settings(max_examples=200, deadline=None)
@given(case=cases(ORT_TYPES))
def test_matches_onnxruntime(case):
    x, k, attrs = case
    m, feeds = make_model(x, k, attrs)
    got, want = run_radrt(m, feeds), run_ort(m, feeds)
    if attrs["sorted"]:
        for g, w in zip(got, want):
            assert_same_bits(g, w)
    else:
        assert_same_selection(got, want, x, attrs["axis"])


@settings(max_examples=200, deadline=None)
@given(case=cases(FLOATS + INTS))
def test_matches_the_documented_order_on_every_type(case):
    x, k, attrs = case
    m, feeds = make_model(x, k, attrs)
    want = reference(x, k, attrs["axis"] % x.ndim, attrs["largest"])
    for g, w in zip(run_radrt(m, feeds), want):
        assert_same_bits(g, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("largest", [0, 1])
def test_nan_as_onnxruntime(dtype, largest):
    """NaN ranks above +inf, NaNs by index, on rows (axis 1) and columns (axis 0, the
    strided path), for every K; and long rows where onnxruntime switches algorithms."""
    x = np.array([[1, NAN, 3, NAN], [NAN, 1, 2, INF], [NAN, NAN, 1, -INF], [2, 2, NAN, 2],
                  [-0.0, NAN, 0.0, -0.0], [NAN, NAN, NAN, NAN]], dtype)
    for axis in (0, 1, -1):
        for k in range(x.shape[axis] + 1):
            m, feeds = make_model(x, k, {"axis": axis, "largest": largest})
            for g, w in zip(run_radrt(m, feeds), run_ort(m, feeds)):
                assert_same_bits(g, w)
    rng = np.random.default_rng(0)
    row = rng.integers(0, 10, 1000).astype(dtype)
    row[rng.integers(0, 1000, 100)] = NAN
    for k in (1, 5, 300, 999, 1000):
        m, feeds = make_model(row, k, {"largest": largest})
        for g, w in zip(run_radrt(m, feeds), run_ort(m, feeds)):
            assert_same_bits(g, w)


def test_ties_signed_zeros_and_integer_extremes():
    x = np.array([3, 1, 3, 1, 3], np.float32)
    for largest, want in [(1, [0, 2, 4]), (0, [1, 3, 0])]:
        m, feeds = make_model(x, 3, {"largest": largest})
        np.testing.assert_array_equal(run_radrt(m, feeds)[1], want)
    z = np.array([0.0, -0.0, 0.0, -0.0], np.float32)        # -0.0 == +0.0: a tie, by index
    for largest in (0, 1):
        m, feeds = make_model(z, 2, {"largest": largest})
        got = run_radrt(m, feeds)
        np.testing.assert_array_equal(got[1], [0, 1])
        assert_same_bits(got[0], z[:2])
    for dtype in INTS:
        info = np.iinfo(dtype)
        v = np.array([info.min, info.max, info.min + 1, info.max, info.min], dtype)
        m, feeds = make_model(v, 5, {})
        got = run_radrt(m, feeds)
        np.testing.assert_array_equal(got[1], [1, 3, 2, 0, 4])
        assert_same_bits(got[0], v[[1, 3, 2, 0, 4]])


def test_k_fed_at_run_time_compiles_on_its_value():
    x = np.array([[5, 1, 4, 2], [0, 9, 3, 3]], np.float32)
    m, _ = make_model(x, 0, {"axis": 1}, fed_k=True)
    sess = InferenceSession(m, scrub_interval_s=None)
    for k in (2, 0, 4, 2):
        feeds = {"x": x, "k": np.array([k], np.int64)}
        for g, w in zip(sess.run(None, feeds), run_ort(m, feeds)):
            assert_same_bits(g, w)
    with pytest.raises(CompileError, match=r"K is 5, but axis 1 of input shape \(2, 4\) has 4 elements"):
        sess.run(None, {"x": x, "k": np.array([5], np.int64)})


FOLDED = [   # formerly tests/test_fold_only.py's cases, when TopK was fold-only
    (np.array([[3, 1, 2, 1]], np.float32), 2, {"largest": 0, "sorted": 1}),
    (np.array([[3, 1, 3, 1, -INF]], np.float32), 3, {"largest": 1, "sorted": 1}),
    (np.array([[1, 2], [3, 4]], np.float32), 0, {"axis": 0}),
    (np.arange(24, dtype=np.int64).reshape(2, 3, 4) % 5, 2, {"axis": 1, "largest": 0}),
]


@pytest.mark.parametrize("x, k, attrs", FOLDED)
def test_constant_input_folds_through_the_kernel(x, k, attrs):
    folded, _ = make_model(x, k, attrs, fold=True)
    fed, feeds = make_model(x, k, attrs)
    for g, w in zip(run_radrt(folded, {}), run_ort(fed, feeds)):
        assert_same_bits(g, w)


@pytest.mark.parametrize("opset", [1, 10, 11])
def test_older_opsets(opset):
    x = np.array([[2, 7, 7, 1], [1, 0, 1, 5]], np.float32)
    m, feeds = make_model(x, 2, {"axis": -1}, opset=opset)
    for g, w in zip(run_radrt(m, feeds), run_ort(m, feeds)):
        assert_same_bits(g, w)


def test_empty_tensors_and_k_zero():
    for shape, k, axis in [((2, 0), 0, 1), ((0, 3), 2, 1), ((2, 3), 0, 1), ((2, 3), 0, 0)]:
        x = np.ones(shape, np.float32)
        m, feeds = make_model(x, k, {"axis": axis})
        for g, w in zip(run_radrt(m, feeds), run_ort(m, feeds)):
            assert_same_bits(g, w)


@pytest.mark.parametrize("k, attrs, match", [
    (5, {}, r"TopK node 'topk1': K is 5, but axis 1 of input shape \(2, 4\) has 4 elements \(expected 0 <= K <= 4\)"),
    (3, {"axis": 0}, r"K is 3, but axis 0 of input shape \(2, 4\) has 2 elements"),
    (-1, {}, r"K is -1, but axis 1"),
    (1, {"axis": 2}, "axis 2 is out of range for rank 2"),
    (1, {"largest": 2}, "attribute largest is 2, expected 0 or 1"),
    (1, {"sorted": -1}, "attribute sorted is -1, expected 0 or 1"),
])
def test_invalid_k_and_attributes_are_named(k, attrs, match):
    for fold in (False, True):
        m, feeds = make_model(np.zeros((2, 4), np.float32), k, attrs, fold=fold)
        with pytest.raises(CompileError, match=match):
            run_radrt(m, feeds)


def test_float16_model_computes_in_float32_and_matches_onnxruntime():
    """A float16 TopK (runtime.half widens it): float16 values out (the graph output
    declares float16), the same order."""
    x = np.array([[1, NAN, 3, 2, 3, -INF], [0.5, 0.5, -0.0, 0.0, 7, NAN]], np.float16)
    for largest in (0, 1):
        m, feeds = make_model(x, 3, {"largest": largest}, typed=True)
        got, want = run_radrt(m, feeds), run_ort(m, feeds)
        assert got[0].dtype == np.float16
        for g, w in zip(got, want):
            assert_same_bits(g, w)

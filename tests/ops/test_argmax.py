"""ArgMax / ArgMin on run-time data (runtime/ops/argmax.py, csrc/kernels/argmax.c).

Hypothesis against onnxruntime (float32, float64, int8, uint8, int32, int64: the types
it implements) and against a numpy scan of the documented semantics (every type):
shapes, axes (negative too), keepdims, select_last_index, ties and NaN. NaN follows
onnxruntime: a compare with NaN is false, so a NaN at index 0 wins and elsewhere it
never does (numpy's argmax picks the first NaN). Constant inputs fold through the same
kernel (the former fold-only cases of tests/test_fold_only.py are here)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from runtime.errors import CompileError, ModelLoadError
from tests.ops._scan import FLOATS, INTS, assert_same_bits, make_model, run_ort, run_radrt, values

ORT_TYPES = [np.float32, np.float64, np.int8, np.uint8, np.int32, np.int64]
NAN, INF = np.nan, np.inf


def reference(op, x, axis, keepdims=1, last=0):
    """The scan of argmax.h: keep the best so far, replace it when strictly better (or
    better-or-equal with select_last_index); a compare with NaN is false."""
    better = {("ArgMax", 0): np.greater, ("ArgMax", 1): np.greater_equal,
              ("ArgMin", 0): np.less, ("ArgMin", 1): np.less_equal}[(op, last)]
    xs = np.moveaxis(x, axis, 0)
    best, index = xs[0].copy(), np.zeros(xs.shape[1:], np.int64)
    with np.errstate(invalid="ignore"):
        for i in range(1, xs.shape[0]):
            take = better(xs[i], best)
            best = np.where(take, xs[i], best)
            index = np.where(take, i, index)
    index = np.expand_dims(index, axis)
    return index if keepdims else np.squeeze(index, axis)


@st.composite
def cases(draw, dtypes):
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=6))
    x = draw(hnp.arrays(dtype, shape, elements=values(dtype)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    attrs = {"axis": axis, "keepdims": draw(st.sampled_from([0, 1])),
             "select_last_index": draw(st.sampled_from([0, 1]))}
    return x, attrs


@settings(max_examples=150, deadline=None)
@given(case=cases(ORT_TYPES), op=st.sampled_from(["ArgMax", "ArgMin"]))
def test_matches_onnxruntime(op, case):
    x, attrs = case
    m, feeds = make_model(op, x, attrs=attrs)
    got = run_radrt(m, feeds)
    assert_same_bits(got, run_ort(m, feeds))


@settings(max_examples=150, deadline=None)
@given(case=cases(FLOATS + INTS), op=st.sampled_from(["ArgMax", "ArgMin"]))
def test_matches_the_documented_scan_on_every_type(op, case):
    x, attrs = case
    m, feeds = make_model(op, x, attrs=attrs)
    want = reference(op, x, attrs["axis"] % x.ndim, attrs["keepdims"], attrs["select_last_index"])
    assert_same_bits(run_radrt(m, feeds), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
def test_nan_as_onnxruntime(op, dtype, last):
    """Rows (axis 1) and columns (axis 0, the inner > 1 path): NaN first wins, NaN
    elsewhere is skipped, all NaN gives 0; and a long row (NaN at 0 and at 5)."""
    x = np.array([[1, NAN, 3], [NAN, 1, 2], [NAN, NAN, 1], [2, 2, NAN], [NAN, 5, 5], [NAN, NAN, NAN]], dtype)
    for axis in (0, 1, -1):
        m, feeds = make_model(op, x, attrs={"axis": axis, "select_last_index": last})
        assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))
    for at in (0, 5):
        row = np.arange(40, dtype=dtype)
        row[at] = NAN
        m, feeds = make_model(op, row, attrs={"axis": 0, "select_last_index": last})
        assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))


def test_ties_and_extremes():
    x = np.array([[3, 1, 3, 1], [-INF, -INF, INF, INF]], np.float32)
    for op, last, want in [("ArgMax", 0, [0, 2]), ("ArgMax", 1, [2, 3]), ("ArgMin", 0, [1, 0]),
                           ("ArgMin", 1, [3, 1])]:
        m, feeds = make_model(op, x, attrs={"axis": 1, "keepdims": 0, "select_last_index": last})
        np.testing.assert_array_equal(run_radrt(m, feeds), np.array(want, np.int64))
    z = np.array([0.0, -0.0, 0.0], np.float32)   # -0.0 == 0.0: a tie
    m, feeds = make_model("ArgMin", z, attrs={"axis": 0, "select_last_index": 1})
    np.testing.assert_array_equal(run_radrt(m, feeds), [2])
    for dtype in INTS:
        info = np.iinfo(dtype)
        v = np.array([info.max, info.min, info.max, info.min], dtype)
        m, feeds = make_model("ArgMax", v, attrs={"axis": 0, "select_last_index": 1})
        np.testing.assert_array_equal(run_radrt(m, feeds), [2])
        m, feeds = make_model("ArgMin", v, attrs={"axis": 0})
        np.testing.assert_array_equal(run_radrt(m, feeds), [1])


FOLDED = [   # formerly tests/test_fold_only.py's cases, when ArgMax/ArgMin were fold-only
    ("ArgMax", {"axis": 1}, np.array([1, NAN, 3, 2, 2, 1], np.float32).reshape(2, 3)),
    ("ArgMax", {"axis": 1, "select_last_index": 1}, np.array([1, 3, 3, 2, 2, 1], np.float32).reshape(2, 3)),
    ("ArgMax", {"axis": 0, "keepdims": 0}, np.array([-INF, 1, INF, INF], np.float32).reshape(2, 2)),
    ("ArgMin", {"axis": 0, "keepdims": 0}, np.array([1, 3, 3, 1, 2, 1], np.float32).reshape(2, 3)),
    ("ArgMin", {"axis": -1}, np.array([3, NAN, 1, -0.0, 0.0, 5], np.float32).reshape(2, 3)),
    ("ArgMin", {"axis": 1, "select_last_index": 1}, np.array([4, 1, 1, 0, 0, 0], np.int32).reshape(2, 3)),
    ("ArgMax", {"axis": 2}, np.arange(24, dtype=np.int64).reshape(2, 3, 4) % 5),
]


@pytest.mark.parametrize("op, attrs, x", FOLDED)
def test_constant_input_folds_through_the_kernel(op, attrs, x):
    folded, _ = make_model(op, x, attrs=attrs, fold=True)
    fed, feeds = make_model(op, x, attrs=attrs)
    assert_same_bits(run_radrt(folded, {}), run_ort(fed, feeds))
    assert_same_bits(run_radrt(folded, {}), run_radrt(fed, feeds))


def test_opset_11_without_select_last_index():
    x = np.array([[2, 7, 7], [1, 0, 1]], np.float32)
    m, feeds = make_model("ArgMax", x, attrs={"axis": -1}, opset=11)
    assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))


def test_empty_tensors():
    x = np.zeros((0, 3), np.float32)          # empty outer: an empty output
    m, feeds = make_model("ArgMax", x, attrs={"axis": 1})
    assert_same_bits(run_radrt(m, feeds), run_ort(m, feeds))
    m, feeds = make_model("ArgMin", np.zeros((2, 0), np.float32), attrs={"axis": 1})
    with pytest.raises(CompileError, match=r"ArgMin node 'argmin1': axis 1 of input shape \(2, 0\) is empty"):
        run_radrt(m, feeds)


@pytest.mark.parametrize("attrs, match", [
    ({"axis": 2}, "axis 2 is out of range for rank 2"),
    ({"keepdims": 2}, "attribute keepdims is 2, expected 0 or 1"),
    ({"select_last_index": -1}, "attribute select_last_index is -1, expected 0 or 1"),
])
def test_invalid_attributes_are_named(attrs, match):
    m, feeds = make_model("ArgMax", np.zeros((2, 3), np.float32), attrs=attrs)
    with pytest.raises((CompileError, ModelLoadError), match=match):
        run_radrt(m, feeds)

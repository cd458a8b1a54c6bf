"""Broadcasting binary ops (Add Sub Mul Div Pow) and variadic Max/Min/Sum/Mean,
against numpy and onnxruntime."""
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runtime
from runtime.errors import CompileError, UnsupportedOpError
from runtime.ops.elementwise import BIN_ADD, broadcast_params

from .oneop import model, ort_output, radrt_output

make_model = partial(model, opset=17, name="node0")

BINARY = ["Add", "Sub", "Mul", "Div", "Pow"]
VARIADIC = ["Max", "Min", "Sum", "Mean"]


def operands(op, rng, *shapes):
    """Random float32 operands; Pow gets a positive base and a small exponent."""
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    if op == "Pow":
        arrays[0] = np.abs(arrays[0]) + np.float32(0.5)
        arrays[1] = np.clip(arrays[1], -3, 3)
    if op == "Div":
        arrays[1] = np.where(np.abs(arrays[1]) < 0.1, np.float32(1), arrays[1])
    return [np.asarray(x, np.float32) for x in arrays]  # rank 0 stays an array


NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power}

# (a, b) shape pairs: same shape, scalar, per-channel, rank-0, general patterns.
SHAPE_PAIRS = [
    ((2, 3, 4, 5), (2, 3, 4, 5)),
    ((2, 3, 4, 5), ()),
    ((), (2, 3)),
    ((2, 3, 4, 5), (1, 3, 1, 1)),
    ((3, 1, 1), (2, 3, 4, 5)),
    ((2, 3, 4, 5), (5,)),
    ((2, 1, 4, 1), (1, 3, 1, 5)),
    ((4, 1), (1, 6)),
    ((1,), (1,)),
    ((), ()),
    ((2, 0, 3), (1, 3)),
    ((1, 2) * 4, (2, 1) * 4),  # 8 dims that do not merge: the most C takes
]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_matches_numpy(op, shapes):
    a, b = operands(op, np.random.default_rng(0), *shapes)
    got = radrt_output(make_model(op, [("a", a), ("b", b)]), {"a": a, "b": b})
    want = NUMPY[op](a, b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", BINARY)
def test_binary_with_constant_operand(op):
    rng = np.random.default_rng(1)
    x, bias = operands(op, rng, (2, 8, 5, 5), (8, 1, 1))
    got = radrt_output(make_model(op, [("x", x)], [("bias", bias)]), {"x": x})
    np.testing.assert_allclose(got, NUMPY[op](x, bias), rtol=1e-5, atol=1e-6)


def test_binary_nan_and_inf_flow_through():
    a = np.array([np.nan, np.inf, -np.inf, 1.0, 0.0], np.float32)
    b = np.array([1.0, np.inf, 1.0, 0.0, 0.0], np.float32)
    for op in ("Add", "Sub", "Mul", "Div"):
        with np.errstate(all="ignore"):
            want = NUMPY[op](a, b)
        np.testing.assert_array_equal(radrt_output(make_model(op, [("a", a), ("b", b)]), {"a": a, "b": b}), want)


@st.composite
def broadcast_pair(draw):
    """Two shapes of rank 0..5 that broadcast: each dim of the common shape is
    kept, set to 1, or dropped (leading dims only) per operand."""
    rank = draw(st.integers(0, 5))
    full = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))

    def operand():
        keep = draw(st.integers(0, rank))
        return tuple(d if draw(st.booleans()) else 1 for d in full[rank - keep:])

    return operand(), operand()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(op=st.sampled_from(BINARY), shapes=broadcast_pair(), seed=st.integers(0, 2 ** 16))
def test_binary_broadcast_property_vs_onnxruntime(op, shapes, seed):
    a, b = operands(op, np.random.default_rng(seed), *shapes)
    model = make_model(op, [("a", a), ("b", b)])
    got, want = radrt_output(model, {"a": a, "b": b}), ort_output(model, {"a": a, "b": b})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(op=st.sampled_from(VARIADIC), count=st.integers(1, 4), shapes=broadcast_pair(),
       picks=st.lists(st.integers(0, 1), min_size=4, max_size=4), seed=st.integers(0, 2 ** 16))
def test_variadic_property_vs_onnxruntime(op, count, shapes, picks, seed):
    rng = np.random.default_rng(seed)
    inputs = [(f"x{k}", rng.standard_normal(shapes[picks[k]]).astype(np.float32)) for k in range(count)]
    model = make_model(op, inputs)
    feeds = dict(inputs)
    got, want = radrt_output(model, feeds), ort_output(model, feeds)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_variadic_broadcasts_to_a_shape_no_single_input_has():
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal(s).astype(np.float32) for s in [(3, 1), (1, 4), (2, 1, 1)]]
    feeds = {f"x{k}": x for k, x in enumerate(xs)}
    inputs = list(feeds.items())
    np.testing.assert_allclose(radrt_output(make_model("Sum", inputs), feeds), xs[0] + xs[1] + xs[2], rtol=1e-6)
    np.testing.assert_allclose(radrt_output(make_model("Mean", inputs), feeds), (xs[0] + xs[1] + xs[2]) / 3,
                               rtol=1e-6)
    np.testing.assert_array_equal(radrt_output(make_model("Max", inputs), feeds),
                                  np.maximum(np.maximum(xs[0], xs[1]), xs[2]))
    np.testing.assert_array_equal(radrt_output(make_model("Min", inputs), feeds),
                                  np.minimum(np.minimum(xs[0], xs[1]), xs[2]))


@pytest.mark.parametrize("op,fn", [("Max", np.maximum), ("Min", np.minimum)])
def test_max_min_propagate_nan(op, fn):
    a = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    b = np.array([1.0, np.nan, 3.0, np.nan], np.float32)
    got = radrt_output(make_model(op, [("a", a), ("b", b)]), {"a": a, "b": b})
    np.testing.assert_array_equal(got, fn(a, b))


def test_single_input_variadic_is_a_copy():
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    for op in VARIADIC:
        np.testing.assert_array_equal(radrt_output(make_model(op, [("x", x)]), {"x": x}), x)


def test_pow_with_constant_integer_exponent():
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    got = radrt_output(make_model("Pow", [("x", x)], [("e", np.array(2, np.int64))]), {"x": x})
    np.testing.assert_allclose(got, x * x, rtol=1e-6)


def test_legacy_broadcast_attribute_aligns_at_axis():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    b = rng.standard_normal((3, 4)).astype(np.float32)
    got = radrt_output(make_model("Add", [("a", a), ("b", b)], opset=6, broadcast=1, axis=1), {"a": a, "b": b})
    np.testing.assert_allclose(got, a + b.reshape(1, 3, 4, 1), rtol=1e-6)


def test_per_channel_operand_collapses_to_rows_with_a_constant_operand():
    p = broadcast_params(None, BIN_ADD, (2, 8, 5, 5), (2, 8, 5, 5), (1, 8, 1, 1))
    assert p.ndim == 3
    assert list(p.shape)[:3] == [2, 8, 25]
    assert list(p.a_stride)[:3] == [200, 25, 1]
    assert list(p.b_stride)[:3] == [0, 1, 0]
    same = broadcast_params(None, BIN_ADD, (2, 8, 5, 5), (2, 8, 5, 5), (2, 8, 5, 5))
    assert (same.ndim, same.shape[0]) == (1, 400)
    scalar = broadcast_params(None, BIN_ADD, (2, 8, 5, 5), (2, 8, 5, 5), ())
    assert (scalar.ndim, scalar.shape[0], scalar.b_stride[0]) == (1, 400, 0)


def test_runs_are_bit_identical():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 16, 9, 9)).astype(np.float32), rng.standard_normal((16, 1, 1)).astype(np.float32)
    for op in BINARY + VARIADIC:
        if op == "Pow":
            a = np.abs(a)
        sess = runtime.InferenceSession(make_model(op, [("a", a), ("b", b)]))
        first = sess.run(None, {"a": a, "b": b})[0]
        assert first.tobytes() == sess.run(None, {"a": a, "b": b})[0].tobytes()


def test_shapes_that_do_not_broadcast_are_rejected():
    a, b = np.zeros((2, 3), np.float32), np.zeros((4,), np.float32)
    with pytest.raises(CompileError, match=r"Add node 'node0': input shapes \(2, 3\), \(4,\) do not broadcast"):
        runtime.InferenceSession(make_model("Add", [("a", a), ("b", b)]))
    with pytest.raises(CompileError, match=r"Max node 'node0': input shapes .* do not broadcast"):
        runtime.InferenceSession(make_model("Max", [("a", a), ("b", b)]))


def test_integer_inputs_run_in_the_typed_kernels():
    """int64 Mul goes to runtime/ops/typed.py (tests/ops/test_typed.py covers the types)."""
    a = np.arange(6, dtype=np.int64).reshape(2, 3) - 2
    sess = runtime.InferenceSession(make_model("Mul", [("a", a), ("b", a)], output_types=[None]))
    (y,) = sess.run(None, {"a": a, "b": a})
    assert y.dtype == np.int64 and np.array_equal(y, a * a)


def test_runtime_integer_exponent_is_unsupported():
    x, e = np.zeros((2,), np.float32), np.zeros((2,), np.int32)
    with pytest.raises(UnsupportedOpError, match=r"Pow node 'node0': exponent \(input 1\) has dtype int32"):
        runtime.InferenceSession(make_model("Pow", [("x", x), ("e", e)]))


def test_too_many_dims_after_merging_are_unsupported():
    with pytest.raises(UnsupportedOpError, match=r"needs 9 dims after merging, radrt supports at most 8"):
        broadcast_params(_Node(), BIN_ADD,
                         (2,) * 9, (2, 1) * 4 + (2,), (1, 2) * 4 + (1,))


class _Node:
    """Just enough of a node for error messages."""
    op_type, name = "Add", "node0"

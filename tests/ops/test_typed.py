"""Elementwise ops on integers, float64 and bool (runtime/ops/typed.py, csrc/kernels/typed.c):
Hypothesis against a numpy reference of the documented semantics (wrapping arithmetic,
Div truncating with x / 0 = 0 and INT_MIN / -1 = INT_MIN, Mod by sign, Pow), every type,
broadcasting; onnxruntime where it defines the result."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from runtime import InferenceSession
from runtime.errors import CompileError, ModelLoadError, UnsupportedOpError

INTS = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def run(op, arrays, opset=18, **attrs):
    ins = [helper.make_tensor_value_info(f"x{i}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
           for i, a in enumerate(arrays)]
    g = helper.make_graph([helper.make_node(op, [f"x{i}" for i in range(len(arrays))], ["y"], **attrs)], "g",
                          ins, [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()
    return InferenceSession(m, scrub_interval_s=None).run(None, {f"x{i}": a for i, a in enumerate(arrays)})[0]


def reference(op, a, b, fmod=0):
    """numpy with radrt's documented integer semantics (typed.h)."""
    t = a.dtype
    a, b = np.broadcast_arrays(a, b)
    wide_a, wide_b = a.astype(object), b.astype(object)   # exact Python ints
    bits = 8 * t.itemsize
    info = np.iinfo(t)

    def wrap(v):
        v %= 1 << bits
        return v - (1 << bits) if info.min < 0 and v > info.max else v

    out = np.empty(a.shape, object)
    for idx in np.ndindex(a.shape):
        x, z = int(wide_a[idx]), int(wide_b[idx])
        if op == "Add":
            v = wrap(x + z)
        elif op == "Sub":
            v = wrap(x - z)
        elif op == "Mul":
            v = wrap(x * z)
        elif op == "Div":
            v = 0 if z == 0 else wrap(abs(x) // abs(z) * (1 if (x < 0) == (z < 0) else -1))
        elif op == "Mod":
            if z == 0:
                v = 0
            elif fmod:
                v = wrap(abs(x) % abs(z) * (1 if x >= 0 else -1))
            else:
                v = wrap(x % z)
        elif op == "Pow":
            v = wrap(pow(x, z, 1 << bits)) if z >= 0 else (1 if x == 1 else ((-1 if z % 2 else 1) if x == -1 else 0))
        elif op == "Max":
            v = max(x, z)
        elif op == "Min":
            v = min(x, z)
        out[idx] = v
    return out.astype(t)


def operands(dtype):
    shapes = st.sampled_from([((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 2)), ((1, 4), (3, 1))])
    return shapes.flatmap(lambda s: st.tuples(hnp.arrays(dtype, s[0]), hnp.arrays(dtype, s[1])))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Mod", "Max", "Min"])
def test_integer_binary_ops_match_the_documented_semantics(op, dtype, data):
    a, b = data.draw(operands(dtype))
    if op == "Div":   # make zero divisors and INT_MIN / -1 likely
        b = np.where(data.draw(hnp.arrays(np.bool_, b.shape)), b, np.zeros_like(b))
    got = run(op, [a, b])
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, reference(op, a, b))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_integer_edges(dtype):
    lo = np.iinfo(dtype).min
    a = np.array([lo, lo, 7, -7, 7, -7, 5], dtype)
    b = np.array([-1, 0, -2, 2, 0, -1, 3], dtype)
    np.testing.assert_array_equal(run("Div", [a, b]), np.array([lo, 0, -3, -3, 0, 7, 1], dtype))
    np.testing.assert_array_equal(run("Mod", [a, b]), np.array([0, 0, -1, 1, 0, 0, 2], dtype))
    np.testing.assert_array_equal(run("Mod", [a, b], fmod=1), np.array([0, 0, 1, -1, 0, 0, 2], dtype))
    np.testing.assert_array_equal(run("Add", [a, b]), reference("Add", a, b))   # lo + -1 wraps to max
    assert run("Add", [a, b])[0] == np.iinfo(dtype).max


@settings(max_examples=30, deadline=None)
@given(a=hnp.arrays(np.int32, (6,), elements=st.integers(-5, 5)), e=hnp.arrays(np.int32, (6,), elements=st.integers(-3, 12)))
def test_integer_pow(a, e):
    np.testing.assert_array_equal(run("Pow", [a, e]), reference("Pow", a, e))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("op,fn", [("Equal", np.equal), ("Less", np.less), ("Greater", np.greater),
                                   ("LessOrEqual", np.less_equal), ("GreaterOrEqual", np.greater_equal)])
def test_comparisons(op, fn, dtype, data):
    a, b = data.draw(operands(dtype))
    got = run(op, [a, b], opset=16)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, fn(a, b))


@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("op,fn", [("And", np.logical_and), ("Or", np.logical_or), ("Xor", np.logical_xor),
                                   ("Equal", np.equal)])
def test_logic(op, fn, data):
    a, b = data.draw(operands(np.bool_))
    np.testing.assert_array_equal(run(op, [a, b]), fn(a, b))
    np.testing.assert_array_equal(run("Not", [a]), ~a)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, np.bool_, np.float64])
def test_where_broadcasts_three_ways(dtype, data):
    shapes = data.draw(st.sampled_from([((2, 3), (2, 3), (2, 3)), ((3,), (2, 3), ()), ((2, 1, 4), (3, 1), (1, 4)),
                                        ((1,), (1,), (5,))]))
    c = data.draw(hnp.arrays(np.bool_, shapes[0]))
    x = data.draw(hnp.arrays(dtype, shapes[1]))
    z = data.draw(hnp.arrays(dtype, shapes[2]))
    got = run("Where", [c, x, z])
    np.testing.assert_array_equal(got, np.where(c, x, z))


def test_float64_arithmetic_and_variadic_ints():
    a = np.array([[1.5, -2.0], [np.nan, 4.0]])
    b = np.array([0.5, 3.0])
    np.testing.assert_array_equal(run("Add", [a, b]), a + b)
    np.testing.assert_array_equal(run("Max", [a, b]), np.maximum(a, b))
    np.testing.assert_array_equal(run("Sum", [a, b, a]), a + b + a)
    i = [np.array([3, -1], np.int32), np.array([[0], [5]], np.int32), np.array([2, 2], np.int32)]
    np.testing.assert_array_equal(run("Min", i), np.minimum(np.minimum(i[0], i[1]), i[2]))
    np.testing.assert_array_equal(run("Max", i), np.maximum(np.maximum(i[0], i[1]), i[2]))


def test_refusals_name_the_type():
    """The op schemas refuse most type mixes at load (runtime.validate); what they
    allow and radrt does not compute is refused at compile, by name."""
    with pytest.raises(ModelLoadError, match=r"And-7 allows tensor\(bool\)"):
        run("And", [np.zeros(2, np.int32), np.zeros(2, np.int32)])
    with pytest.raises(CompileError, match="a float32 Mod needs fmod=1"):
        run("Mod", [np.zeros(2, np.float32), np.ones(2, np.float32)])
    with pytest.raises(UnsupportedOpError, match="element type float64: Mean computes float32 only"):
        run("Mean", [np.zeros(2, np.float64), np.zeros(2, np.float64)])

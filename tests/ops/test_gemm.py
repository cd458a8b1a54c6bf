"""Gemm and MatMul vs onnxruntime (hypothesis over shapes and attributes),
constant vs runtime weights, determinism, fused clamp and validation errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from runtime.errors import CompileError, UnsupportedOpError

from .oneop import assert_deterministic, compare, node_model


def model(op, arrays, constant, **attrs):
    """One-node model; arrays named a, b, c; those in `constant` are initializers."""
    return node_model(op, list(arrays.items()), attrs=attrs, opset=17, initializers=constant, name="op1")


def check(m, feeds):
    compare(m, feeds, rtol=1e-4, atol=1e-4)
    assert_deterministic(m, feeds)


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 70), k=st.integers(1, 300), trans_a=st.booleans(),
       trans_b=st.booleans(), c_shape=st.sampled_from(["none", "scalar", "row", "col", "full", "one"]),
       alpha=st.sampled_from([1.0, 0.5]), beta=st.sampled_from([1.0, -2.0, 0.0]),
       constant=st.sampled_from([(), ("b",), ("b", "c"), ("a", "c")]), seed=st.integers(0, 2**31 - 1))
def test_gemm_matches_onnxruntime(m, n, k, trans_a, trans_b, c_shape, alpha, beta, constant, seed):
    rng = np.random.default_rng(seed)
    arrays = {"a": rand(rng, *((k, m) if trans_a else (m, k))), "b": rand(rng, *((n, k) if trans_b else (k, n)))}
    shapes = {"scalar": (), "row": (n,), "col": (m, 1), "full": (m, n), "one": (1,)}
    if c_shape != "none":
        arrays["c"] = rand(rng, *shapes[c_shape])
    mdl = model("Gemm", arrays, constant, transA=int(trans_a), transB=int(trans_b), alpha=alpha, beta=beta)
    check(mdl, {k_: v for k_, v in arrays.items() if k_ not in constant})


batch_dims = st.lists(st.integers(1, 3), min_size=0, max_size=3)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 20), n=st.integers(1, 60), k=st.integers(1, 80), a_batch=batch_dims,
       b_batch=batch_dims, a_vec=st.booleans(), b_vec=st.booleans(), b_constant=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_matmul_matches_onnxruntime(m, n, k, a_batch, b_batch, a_vec, b_vec, b_constant, seed):
    # Make the batch dims broadcastable: where both have a dim, one of them is 1 or equal.
    a_batch, b_batch = list(a_batch), list(b_batch)
    for i in range(1, min(len(a_batch), len(b_batch)) + 1):
        if a_batch[-i] != b_batch[-i] and 1 not in (a_batch[-i], b_batch[-i]):
            b_batch[-i] = 1
    rng = np.random.default_rng(seed)
    a_shape = (k,) if a_vec else tuple(a_batch) + (m, k)
    b_shape = (k,) if b_vec else tuple(b_batch) + (k, n)
    arrays = {"a": rand(rng, *a_shape), "b": rand(rng, *b_shape)}
    constant = ("b",) if b_constant else ()
    check(model("MatMul", arrays, constant), {k_: v for k_, v in arrays.items() if k_ not in constant})


@pytest.mark.parametrize("shape", [(1, 2048, 1000), (4, 512, 513), (300, 70, 1), (3, 0, 5)])
def test_gemm_layer_shapes(shape):
    m, k, n = shape
    rng = np.random.default_rng(1)
    arrays = {"a": rand(rng, m, k), "b": rand(rng, n, k) * 0.05, "c": rand(rng, n)}
    check(model("Gemm", arrays, ("b", "c"), transB=1), {"a": arrays["a"]})


def _prepare(op, infos, attrs):
    from runtime.load import Node
    from runtime.ops import lookup
    node = Node(op, "op1", [f"i{j}" for j in range(len(infos))], ["y"], attrs, 17)
    return lookup(op)(node, infos)


def test_fused_clip_gemm():
    from runtime._core import ffi, lib
    from runtime.ops import TensorInfo
    rng = np.random.default_rng(2)
    a, b = rand(rng, 5, 30), rand(rng, 30, 40)
    f32 = np.dtype(np.float32)

    def run(attrs):
        prep = _prepare("Gemm", [TensorInfo(a.shape, f32), TensorInfo(b.shape, f32, b)], attrs)
        out = np.zeros(prep.outputs[0].shape, np.float32)
        scratch = np.zeros(prep.scratch_bytes, np.uint8)
        ptr = lambda x: ffi.cast("void *", ffi.from_buffer(x))
        fn, args = prep.invoke(lib, [ptr(a), ffi.NULL], [ptr(out)], [ptr(c) for c in prep.constants], ptr(scratch))
        fn(*args)
        return out

    np.testing.assert_array_equal(run({"_fused_clip": (0.0, 6.0)}), np.clip(run({}), 0.0, 6.0))


@pytest.mark.parametrize("op,shapes,attrs,err,match", [
    ("Gemm", [(3, 4), (5, 6)], {}, CompileError, r"Gemm node 'op1': A \(3, 4\) \(transA=0\) and B \(5, 6\)"),
    ("Gemm", [(3, 4), (4, 6), (2, 6)], {}, CompileError, r"input 2 \(C\) has shape \(2, 6\)"),
    ("Gemm", [(3, 4, 1), (4, 6)], {}, CompileError, r"input 0 has shape \(3, 4, 1\), expected rank 2"),
    ("MatMul", [(3, 4), (5, 6)], {}, CompileError, "inner dimensions 4 and 5 differ"),
    ("MatMul", [(2, 3, 4), (3, 4, 6)], {}, CompileError, "batch dimensions"),
    ("MatMul", [(), (3,)], {}, CompileError, "expected rank >= 1"),
])
def test_bad_inputs(op, shapes, attrs, err, match):
    from runtime.ops import TensorInfo
    with pytest.raises(err, match=match):
        _prepare(op, [TensorInfo(s, np.dtype(np.float32)) for s in shapes], attrs)


def test_float64_rejected():
    from runtime.ops import TensorInfo
    with pytest.raises(UnsupportedOpError, match="float32 only"):
        _prepare("MatMul", [TensorInfo((2, 2), np.dtype(np.float64)), TensorInfo((2, 2), np.dtype(np.float32))], {})

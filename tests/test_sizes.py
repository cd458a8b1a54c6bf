"""Checked size arithmetic (runtime/sizes.py) and issue 9 §3, "Sizes that overflow".

Part 1 checks the helper, and the C core's own size helpers, against Python's big
integers (hypothesis). Part 2 turns each case of ../shared/cases/trust/models that
is about sizes into a test, built inline with onnx.helper: crashing ones run in a
child process (tests/isolated.py), so a regression fails the test instead of
killing pytest. Part 3 covers siblings: every op whose shape arithmetic could wrap.
"""
import math

import numpy as np
import onnx
import onnxruntime
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import runtime
from runtime import ops, sizes
from runtime._core import ffi, lib
from runtime.errors import CompileError, ModelLoadError, SizeOverflowError
from runtime.load import Node
from runtime.ops import TensorInfo
from tests.isolated import CASES, run_isolated

I64 = sizes.INT64_MAX
F32 = np.dtype(np.float32)


def build(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    """inputs/outputs: (name, elem_type, shape or None); inits: (name, array)."""
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    return helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", opset)])


def compile_error(model: onnx.ModelProto, **kwargs) -> CompileError:
    with pytest.raises(CompileError) as info:
        runtime.InferenceSession(model.SerializeToString(), **kwargs)
    return info.value


def isolated_session(tmp_path, model: onnx.ModelProto, feeds_code: str = "None", **kwargs) -> str:
    """Create a session (and run it when feeds_code is given) in a child process."""
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    run = "" if feeds_code == "None" else f"s.run(None, {feeds_code})"
    return run_isolated(f"""
        import numpy as np, runtime
        def go():
            s = runtime.InferenceSession({str(path)!r}, **{kwargs!r})
            {run}
            return "ran"
        report(go)
    """)


def node(op_type, attrs=None, opset=17, outputs=("y",)):
    return Node(op_type, f"{op_type.lower()}1", ["x"], list(outputs), dict(attrs or {}), opset, None)


# ---- 1. the helper against Python big integers -------------------------------------

dims = st.one_of(st.integers(0, 8), st.integers(0, 1 << 33), st.integers(1 << 60, 1 << 65))


@given(st.lists(dims, max_size=6), st.sampled_from([np.int8, np.float16, np.float32, np.float64]))
def test_counts_match_big_integers(shape, dtype):
    exact = math.prod(shape)
    span = math.prod(d or 1 for d in shape)  # the largest stride, also of an empty tensor
    if span > I64:
        with pytest.raises(SizeOverflowError):
            sizes.element_count(shape)
        return
    assert sizes.element_count(shape) == exact
    if span * np.dtype(dtype).itemsize > I64:
        with pytest.raises(SizeOverflowError):
            sizes.nbytes(shape, dtype)
    else:
        assert sizes.nbytes(shape, dtype) == exact * np.dtype(dtype).itemsize
        assert TensorInfo(tuple(shape), np.dtype(dtype)).nbytes == exact * np.dtype(dtype).itemsize


ints = st.one_of(st.integers(-4, 8), st.integers(-(1 << 65), 1 << 65))


@given(st.lists(ints, min_size=1, max_size=4))
def test_checked_mul_and_add(values):
    if any(v < 0 for v in values):
        with pytest.raises(CompileError):
            sizes.checked_mul(*values, what="m")
    elif any(v > I64 for v in values) or math.prod(values) > I64:
        with pytest.raises(SizeOverflowError):
            sizes.checked_mul(*values, what="m")
    else:
        assert sizes.checked_mul(*values, what="m") == math.prod(values)
    total = sum(values)
    if total < 0:
        with pytest.raises(CompileError) as info:
            sizes.checked_add(*values, what="a")
        assert not isinstance(info.value, SizeOverflowError)
    elif total > I64:
        with pytest.raises(SizeOverflowError):
            sizes.checked_add(*values, what="a")
    else:
        assert sizes.checked_add(*values, what="a") == total


@given(st.integers(0, 1 << 64), st.integers(0, 1 << 63), st.integers(0, 1 << 63), st.integers(1, 1 << 63),
       st.integers(1, 1 << 40), st.integers(1, 1 << 64), st.booleans())
def test_window_output_dim(size, pb, pe, k, d, s, ceil_mode):
    span = size + pb + pe - ((k - 1) * d + 1)
    exact = (-(-span // s) if ceil_mode else span // s) + 1
    if exact > I64:
        with pytest.raises(SizeOverflowError):
            sizes.window_output_dim(size, pb, pe, k, d, s, ceil_mode)
    else:
        assert sizes.window_output_dim(size, pb, pe, k, d, s, ceil_mode) == exact


int64s = st.one_of(st.integers(-(1 << 63), I64), st.sampled_from([0, 1, 2, -1, I64, I64 // 2, 3037000500]))


@settings(max_examples=500)
@given(int64s, int64s)
def test_c_size_helpers_match_big_integers(a, b):
    def ref(r):
        return r if a >= 0 and b >= 0 and r <= I64 else -1
    assert lib.radrt_size_mul(a, b) == ref(a * b)
    assert lib.radrt_size_add(a, b) == ref(a + b)


def test_empty_tensors_with_huge_dims_are_refused():
    """(0, 2^62) has no element, yet its stride 2^62 floats overflows, and numpy refuses
    such an array ('array is too big'): so does the helper."""
    assert sizes.element_count((0, 1 << 62)) == 0
    with pytest.raises(SizeOverflowError):
        sizes.nbytes((0, 1 << 62), np.float32)
    with pytest.raises(SizeOverflowError):
        sizes.element_count((1 << 62, 0, 4))
    assert sizes.nbytes((0, 1 << 20), np.float32) == 0


def test_negative_dims_are_compile_errors_not_overflows():
    with pytest.raises(CompileError, match="negative dimension -1") as info:
        TensorInfo((2, -1), F32).size
    assert not isinstance(info.value, SizeOverflowError)
    # np.prod(dtype=int64) wraps this to 0; the helper refuses it
    assert int(np.prod((1 << 32, 1 << 32), dtype=np.int64)) == 0
    with pytest.raises(SizeOverflowError):
        TensorInfo((1 << 32, 1 << 32), F32).size


def test_errors_name_node_attribute_and_value():
    n = node("Pad")
    with pytest.raises(SizeOverflowError) as info:
        sizes.checked_add(3, I64, what="output dim 1", node=n)
    e = info.value
    assert e.node == "pad1" and e.attribute == "output dim 1" and e.value == I64 + 3
    assert "Pad node 'pad1': output dim 1 is 9223372036854775810" in str(e)


def test_c_fields_and_scratch_results_are_checked():
    with pytest.raises(SizeOverflowError, match=r"params\.padded\[2\]"):
        sizes.check_c_fields(node("MaxPool"), {"padded": [1, 1, 1 << 63], "scale": 0.5}, "params")
    assert sizes.check_c_fields(None, {"a": [1, -(1 << 63)], "b": 2.0}) == {"a": [1, -(1 << 63)], "b": 2.0}
    with pytest.raises(SizeOverflowError):
        sizes.c_scratch_floats(node("MaxPool"), sizes.SIZE_MAX)
    assert sizes.c_scratch_floats(None, 10) == 40


# ---- 2. the cases ---------------------------------------------------------------------

def expand_reduce_model(target):
    return build([helper.make_node("Expand", ["x", "shape"], ["e"], name="expand1"),
                  helper.make_node("ReduceSum", ["e"], ["y"], name="reduce1", keepdims=0)],
                 [("x", TensorProto.FLOAT, (1, 1, 4))], [("y", TensorProto.FLOAT, None)],
                 [("shape", np.array(target, np.int64))], opset=13)


def test_crash_expand_count_wrap(tmp_path):
    """(1,1,4) expanded to (2^31, 2^31, 4): 2^64 elements wrapped to 0 and the kernel wrote
    past a 64-byte buffer (SIGSEGV)."""
    m = expand_reduce_model([1 << 31, 1 << 31, 4])
    result = isolated_session(tmp_path, m, "{'x': np.ones((1, 1, 4), np.float32)}")
    assert result.startswith("SizeOverflowError | Expand node 'expand1': the element count of output 'e'")


def test_crash_expand_count_wrap_cli_does_not_die(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "model.onnx"
    onnx.save(expand_reduce_model([1 << 31, 1 << 31, 4]), str(path))
    proc = subprocess.run([sys.executable, "-m", "runtime.cli", "run", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode > 0, proc  # an error exit, not a signal
    assert "SizeOverflowError" in proc.stderr or "overflows int64" in proc.stderr + proc.stdout


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("strides", [[1, I64], [I64, 1], [I64, I64]])
def test_crash_pool_stride_int64max_matches_onnxruntime(op, strides):
    """Strides of 2^63-1 wrapped VW*stride in the scratch size (a heap overflow); an axis
    with one output never applies its stride, so the answer is onnxruntime's."""
    m = build([helper.make_node(op, ["x"], ["y"], name="pool1", kernel_shape=[2, 2], strides=strides)],
              [("x", TensorProto.FLOAT, (1, 1, 6, 6))], [("y", TensorProto.FLOAT, None)])
    x = np.random.default_rng(0).standard_normal((1, 1, 6, 6)).astype(np.float32)
    s = runtime.InferenceSession(m.SerializeToString())
    assert s.compiled.plan.steps[0].prepared.scratch_bytes < 1024
    (got,) = s.run(None, {"x": x})
    (want,) = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_crash_pool_stride_int64max_repeated_sessions(tmp_path):
    """The heap corruption showed after ~200 sessions (SIGABRT); run them in a child."""
    path = tmp_path / "model.onnx"
    for op in ("MaxPool", "AveragePool"):
        onnx.save(build([helper.make_node(op, ["x"], ["y"], kernel_shape=[2, 2], strides=[1, I64])],
                        [("x", TensorProto.FLOAT, (1, 1, 6, 6))], [("y", TensorProto.FLOAT, None)]), str(path))
        assert run_isolated(f"""
            import gc, numpy as np, runtime
            x = np.random.default_rng(0).standard_normal((1, 1, 6, 6)).astype(np.float32)
            def go():
                for _ in range(200):
                    s = runtime.InferenceSession({str(path)!r})
                    y = s.run(None, {{'x': x}})[0]
                    del s
                    gc.collect()
                return y.shape
            report(go)
        """) == "ok | (1, 1, 5, 1)"


def pad_model(pads, mode="constant", shape=(2, 3)):
    return build([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad1", mode=mode)],
                 [("x", TensorProto.FLOAT, shape)], [("y", TensorProto.FLOAT, None)],
                 [("pads", np.array(pads, np.int64))], opset=13)


@pytest.mark.parametrize("pads", [[0, I64, 0, 0], [0, 0, 0, I64], [I64, 0, 0, 0], [0, I64, 0, I64]])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_wrong_pad_int64max_empty_output(pads, mode):
    """Pad by 2^63-1 returned an empty (2, 0) tensor; onnxruntime: 'Integer overflow'."""
    e = compile_error(pad_model(pads, mode))
    assert type(e) is SizeOverflowError and e.node == "pad1"
    assert "overflows int64" in str(e)


def test_pad_that_crops_everything_and_more_is_a_compile_error():
    e = compile_error(pad_model([0, -(1 << 63), 0, 0]))
    assert type(e) is CompileError and "crop more than the 3 elements" in str(e)


def test_unclear_cffi_overflow_conv_pads():
    """Conv pads 2^62: cffi's 'int too big to convert' escaped."""
    m = build([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", pads=[1 << 62, 0, 1 << 62, 0])],
              [("x", TensorProto.FLOAT, (1, 2, 4, 3))], [("y", TensorProto.FLOAT, None)],
              [("w", np.ones((2, 2, 1, 1), np.float32))])
    e = compile_error(m)
    assert type(e) is SizeOverflowError and e.node == "conv1"


def test_unclear_cffi_overflow_tile():
    m = build([helper.make_node("Tile", ["x", "r"], ["y"], name="tile1")],
              [("x", TensorProto.FLOAT, (2, 3))], [("y", TensorProto.FLOAT, None)],
              [("r", np.array([10 ** 9, 10 ** 9], np.int64))])
    e = compile_error(m)
    assert type(e) is SizeOverflowError and e.node == "tile1"


def test_unclear_cffi_overflow_conv_transpose_strides():
    m = build([helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="deconv1", strides=[1, 1 << 62])],
              [("x", TensorProto.FLOAT, (1, 1, 3, 3))], [("y", TensorProto.FLOAT, None)],
              [("w", np.ones((1, 1, 2, 2), np.float32))])
    e = compile_error(m)
    assert type(e) is SizeOverflowError and e.node == "deconv1"


def test_unclear_cffi_overflow_expand_before_full_reduction():
    e = compile_error(expand_reduce_model([1 << 32, 1 << 32, 4]))
    assert type(e) is SizeOverflowError and e.node == "expand1"


def test_unclear_cffi_negative_dims_into_softmax():
    """Negative dims reached Softmax's size_t arguments ("can't convert negative number
    to unsigned"); now no shape with a negative dim reaches an op."""
    m = build([helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape1"),
               helper.make_node("Softmax", ["r"], ["y"], name="softmax1")],
              [("x", TensorProto.FLOAT, (12,))], [("y", TensorProto.FLOAT, None)],
              [("shape", np.array([-2, -6], np.int64))])
    with pytest.raises((CompileError, ModelLoadError)) as info:  # ModelLoadError once models are validated at load
        runtime.InferenceSession(m.SerializeToString())
    assert type(info.value) in (CompileError, ModelLoadError)
    softmax = ops.lookup("Softmax")
    with pytest.raises(CompileError, match="negative dimension"):
        softmax(node("Softmax", opset=13), [TensorInfo((-2, -6), F32)])


def test_crash_negdim_reshape_gather(tmp_path):
    """Reshape to (-2, -6) reached Gather, whose kernel memset a negative length (SIGSEGV)."""
    m = build([helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape1"),
               helper.make_node("Gather", ["r", "i"], ["y"], name="gather1", axis=0)],
              [("x", TensorProto.FLOAT, (12,)), ("i", TensorProto.INT64, (1,))],
              [("y", TensorProto.FLOAT, None)], [("shape", np.array([-2, -6], np.int64))])
    result = isolated_session(tmp_path, m, "{'x': np.arange(12, dtype=np.float32), 'i': np.array([0])}")
    assert result.split(" |")[0] in ("CompileError", "ModelLoadError"), result
    # Gather's prepare refuses negative dims itself, whatever produced them
    gather = ops.lookup("Gather")
    with pytest.raises(CompileError, match="negative dimension"):
        gather(Node("Gather", "gather1", ["r", "i"], ["y"], {}, 13, None),
               [TensorInfo((-2, -6), F32), TensorInfo((1,), np.dtype(np.int64))])


def test_gather_kernel_never_memsets_a_negative_length():
    """The kernel's own guard: negative sizes touch no memory (NULL pointers here) -> -1."""
    assert run_isolated("""
        from runtime._core import ffi, lib
        report(lambda: [lib.radrt_gather(ffi.NULL, ffi.NULL, 1, ffi.NULL, 1, 4, -8, 1),
                        lib.radrt_gather(ffi.NULL, ffi.NULL, 1, ffi.NULL, -3, 4, 8, 1)])
    """) == "ok | [-1, -1]"


@pytest.mark.skipif(not CASES.is_dir(), reason="shared/cases/trust/models is not beside the repo")
@pytest.mark.parametrize("case, expected", [
    ("crash_expand_count_wrap", "SizeOverflowError"),
    ("wrong_pad_int64max_empty_output", "SizeOverflowError"),
    ("unclear_cffi_overflow_errors", "SizeOverflowError"),
    ("crash_negdim_reshape_gather", ("CompileError", "ModelLoadError")),
])
def test_shared_case_models(case, expected):
    result = run_isolated(f"""
        import runtime
        report(lambda: runtime.InferenceSession({str(CASES / case / 'model.onnx')!r}))
    """)
    assert result.split(" |")[0] in ((expected,) if isinstance(expected, str) else expected), result


# ---- 3. siblings: every op's size arithmetic ---------------------------------------------

def prepare(op_type, ins, attrs=None, opset=17, inputs=None, outputs=("y",)):
    """Call op prepare directly, under a budget as large as int64 (only overflow can stop it)."""
    n = Node(op_type, f"{op_type.lower()}1", inputs or [f"i{k}" for k in range(len(ins))], list(outputs),
             dict(attrs or {}), opset, None)
    with sizes.memory_budget(I64):
        return ops.lookup(op_type)(n, ins)


def const(values, dtype=np.int64):
    arr = np.array(values, dtype)
    return TensorInfo(arr.shape, arr.dtype, arr)


@pytest.mark.parametrize("op_type, ins, attrs", [
    ("Concat", [TensorInfo((1 << 61,), np.dtype(np.uint8))] * 5, {"axis": 0}),
    ("Tile", [TensorInfo((3,), F32), const([I64])], {}),
    ("Expand", [TensorInfo((1,), F32), const([1 << 62, 4])], {}),
    ("Pad", [TensorInfo((4,), F32), const([I64, 1])], {}),
    ("Resize", [TensorInfo((1, 1, 4, 4), F32), const([], np.float32), const([1, 1, 1e30, 1e30], np.float32)],
     {"mode": "nearest"}),
    ("MaxPool", [TensorInfo((1, 1, 4, 4), F32)], {"kernel_shape": [1, 1], "pads": [0, 0, 1 << 62, 1 << 62]}),
    ("AveragePool", [TensorInfo((1, 1, 4, 4), F32)], {"kernel_shape": [2, 2], "strides": [1, 2],
                                                      "pads": [0, I64 - 10, 0, 0]}),
    ("Conv", [TensorInfo((1, 1, 4, 4), F32), TensorInfo((1, 1, 1, 1), F32)], {"pads": [0, 0, 0, I64]}),
    ("Conv", [TensorInfo((1, 2, 4, 4), F32), TensorInfo((2, 1, 1, 1), F32)],
     {"group": 2, "pads": [1 << 62, 0, 0, 0]}),
    # small outputs, but window addresses o*stride - pad + k*dilation beyond int64
    ("Conv", [TensorInfo((1, 1, 4, 4), F32), TensorInfo((1, 1, 1, 1), F32)],
     {"strides": [1, I64], "pads": [0, I64 - 10, 0, I64 - 10]}),
    ("ConvTranspose", [TensorInfo((1, 1, 3, 3), F32), TensorInfo((1, 1, 2, 2), F32)],
     {"strides": [1, 1 << 62], "output_shape": [4, 4]}),
    ("MaxPool", [TensorInfo((1, 1, 4, 4), F32)], {"kernel_shape": [1, 1], "strides": [1, I64],
                                                  "pads": [0, I64 - 10, 0, I64 - 10]}),
    ("MatMul", [TensorInfo((1 << 32, 4), F32), TensorInfo((4, 1 << 32), F32)], {}),
    ("Gemm", [TensorInfo((1 << 32, 4), F32), TensorInfo((4, 1 << 32), F32)], {}),
    ("Add", [TensorInfo((1 << 32, 1), np.dtype(np.float32)), TensorInfo((1, 1 << 32), F32)], {}),
])
def test_op_size_overflow_is_refused_by_name(op_type, ins, attrs):
    with pytest.raises(SizeOverflowError) as info:
        prepare(op_type, ins, attrs, opset=18 if op_type == "Pad" else 17)
    assert info.value.node == f"{op_type.lower()}1"


def test_conv_transpose_output_shape_beyond_its_reach_is_refused_by_name():
    """output_shape [2^63-1, 2^63-1] for a 3x3 input and 2x2 kernel: the spec's pads would be
    negative (the output reaches at most 4x4), refused before any size is computed."""
    with pytest.raises(CompileError, match=r"output_shape \[9223372036854775807, 9223372036854775807\] is "
                                           r"inconsistent .* expected at most \[4, 4\]") as info:
        prepare("ConvTranspose", [TensorInfo((1, 1, 3, 3), F32), TensorInfo((1, 1, 2, 2), F32)],
                {"output_shape": [I64, I64]}, opset=17)
    assert info.value.node == "convtranspose1"


def test_resize_infinite_scale_is_a_compile_error():
    with pytest.raises(CompileError, match="positive values"):
        prepare("Resize", [TensorInfo((1, 1, 4, 4), F32), const([], np.float32),
                           const([1, 1, np.inf, 1], np.float32)], {"mode": "nearest"})


@pytest.mark.parametrize("shape, cls", [([1 << 62, 4], SizeOverflowError), ([3, -1], CompileError)])
def test_constant_of_shape_is_checked_before_numpy_allocates(shape, cls):
    m = build([helper.make_node("ConstantOfShape", ["s"], ["c"], name="cos1"),
               helper.make_node("Add", ["x", "c"], ["y"], name="add1")],
              [("x", TensorProto.FLOAT, (1,))], [("y", TensorProto.FLOAT, None)],
              [("s", np.array(shape, np.int64))])
    with pytest.raises(CompileError) as info:
        runtime.InferenceSession(m.SerializeToString())
    assert type(info.value) is cls and info.value.node == "cos1"


def test_maxpool_with_a_huge_kernel_builds_o1_window_rows():
    """Window rows are O(1) each: a 2^40-tap kernel (pads make one output) needs no
    2^40-entry table; the Indices path has no padded plane, so it runs."""
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    k = 1 << 40
    m = build([helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool1", kernel_shape=[1, k],
                                pads=[0, 0, 0, k - 4])],
              [("x", TensorProto.FLOAT, (1, 1, 1, 4))],
              [("y", TensorProto.FLOAT, None), ("idx", TensorProto.INT64, None)])
    y, idx = runtime.InferenceSession(m.SerializeToString()).run(None, {"x": x})
    assert y.tolist() == [[[[3.0]]]] and idx.tolist() == [[[[3]]]]


def test_pool_window_rows_match_the_tap_by_tap_definition():
    from runtime.ops.pool import RANGE, _axis_table
    rng = np.random.default_rng(1)
    for _ in range(2000):
        n, k, s, d, pb, pe, o_n = (int(v) for v in rng.integers([0, 1, 1, 1, 0, 0, 1], [12, 6, 4, 4, 8, 8, 8]))
        rows = _axis_table(n, o_n, k, s, d, pb, pe)
        for o in range(o_n):
            taps = o * s - pb + d * np.arange(k)
            inside = np.nonzero((taps >= 0) & (taps < n))[0]
            first, last = (inside[0], inside[-1] + 1) if inside.size else (0, 0)
            assert rows[o].tolist() == [o * s - pb, first, last, int(np.count_nonzero(taps < n + pe))]
        assert rows.shape == (o_n, RANGE)

"""ABFT checksums fused into the GEMM (csrc/kernels/gemm.h) and the depthwise Conv
(csrc/kernels/conv.c), through the Conv, Gemm and MatMul prepares: which steps get an AbftSpec, and that a checked invoke gives the same
output bits as the unchecked one with every checksum compared and none exceeded. A
weight flipped in the packed constants after prepare must be detected. The C tests
csrc/tests/test_abft.c and test_abft_dw.c cover the checksum arithmetic against float64."""
import math

import numpy as np
import pytest

from runtime.load import Node
from runtime.ops import ABFT_LAMBDA, TensorInfo, abft_struct, lookup

F32 = np.dtype(np.float32)


def _info(a, constant):
    a = np.asarray(a, np.float32)
    return TensorInfo(a.shape, F32, a if constant else None)


def _prepare(op, arrays, constant, attrs=None):
    """Prepared of one `op` node over `arrays` (constant[i]: input i is an initializer)."""
    node = Node(op, f"{op.lower()}1", [f"i{j}" for j in range(len(arrays))], ["y"], dict(attrs or {}), 17)
    return lookup(op)(node, [_info(a, c) for a, c in zip(arrays, constant)])


def _run(prep, arrays, checked):
    """Output of one invoke on numpy buffers, and the radrt_abft after it (or None)."""
    from runtime._core import ffi, lib
    bufs = [np.ascontiguousarray(a, np.float32) for a in arrays]
    out = np.full(prep.outputs[0].shape, np.nan, np.float32)
    scratch = np.zeros(max(prep.scratch_bytes, 1), np.uint8)
    ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
    consts = [ptr(c) for c in prep.constants]
    ck = keep = None
    if checked:
        ck, keep = abft_struct(ffi, prep.abft, consts)
    fn, args = prep.invoke(lib, [ptr(a) for a in bufs], [ptr(out)], consts,
                           ptr(scratch) if prep.scratch_bytes else ffi.NULL, abft=ck)
    fn(*args)
    del keep
    return out, ck


def _check_clean(prep, arrays):
    plain, _ = _run(prep, arrays, False)
    got, ck = _run(prep, arrays, True)
    assert got.tobytes() == plain.tobytes()
    assert (ck.checked, ck.exceeded, ck.nonfinite) == (prep.abft.checksums, 0, 0)
    assert 0.0 <= ck.worst < 0.5
    return ck


def rand(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# Light-model-like Conv shapes: (x shape, w shape, attrs)
CONV_CASES = [
    ("pointwise", (1, 16, 14, 14), (32, 16, 1, 1), {}),
    ("3x3", (1, 8, 15, 15), (24, 8, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("strided 3x3", (1, 3, 33, 33), (16, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("grouped", (2, 16, 9, 9), (24, 4, 3, 3), {"pads": [1, 1, 1, 1], "group": 4}),
    ("pointwise grouped", (1, 24, 10, 10), (48, 8, 1, 1), {"group": 3}),
    ("1-D, long K", (1, 64, 40), (10, 64, 7), {}),
    ("big N", (1, 4, 40, 40), (8, 4, 3, 3), {"pads": [1, 1, 1, 1], "_fused_clip": (0.0, 6.0)}),
]


@pytest.mark.parametrize("name,x_shape,w_shape,attrs", CONV_CASES, ids=[c[0] for c in CONV_CASES])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_conv_checked_equals_unchecked(name, x_shape, w_shape, attrs, with_bias, scale):
    from runtime._core import lib
    rng = np.random.default_rng(len(name) + int(with_bias))
    x, w = rand(rng, *x_shape, scale=scale), rand(rng, *w_shape, scale=0.2)
    arrays = [x, w] + ([rand(rng, w_shape[0])] if with_bias else [])
    prep = _prepare("Conv", arrays, [False] + [True] * (len(arrays) - 1), attrs)
    assert prep.abft is not None and prep.abft.side == lib.RADRT_ABFT_COLUMNS
    group = attrs.get("group", 1)
    k = w_shape[1] * math.prod(w_shape[2:])
    assert (prep.abft.K, prep.abft.groups) == (k, group)
    mats = w.astype(np.float64).reshape(group, w_shape[0] // group, k)
    np.testing.assert_array_equal(prep.constants[prep.abft.wsum], mats.sum(axis=1).astype(np.float32).ravel())
    np.testing.assert_array_equal(prep.constants[prep.abft.wabs],
                                  np.abs(mats).sum(axis=1).astype(np.float32).ravel())
    _check_clean(prep, arrays)


def test_conv_without_spec():
    rng = np.random.default_rng(1)
    x = rand(rng, 1, 8, 6, 6)
    runtime_w = _prepare("Conv", [x, rand(rng, 4, 8, 3, 3)], [False, False])
    runtime_b = _prepare("Conv", [x, rand(rng, 4, 8, 3, 3), rand(rng, 4)], [False, True, False])
    dw_runtime_w = _prepare("Conv", [x, rand(rng, 8, 1, 3, 3)], [False, False], {"group": 8})
    dw_runtime_b = _prepare("Conv", [x, rand(rng, 8, 1, 3, 3), rand(rng, 8)], [False, True, False], {"group": 8})
    assert runtime_w.abft is None and runtime_b.abft is None
    assert dw_runtime_w.abft is None and dw_runtime_b.abft is None


# Depthwise Conv shapes: (x shape, w shape, attrs); the kernel's paths: the wide stride-1
# layout, stride 2 and other strides row by row, dilations, 1-D and 3-D, channel multiplier.
DEPTHWISE_CASES = [
    ("3x3 light", (1, 24, 14, 14), (24, 1, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("3x3 stride 2", (2, 16, 15, 15), (16, 1, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ("5x5 stride 3 dilated", (1, 6, 20, 17), (6, 1, 5, 5), {"pads": [2, 1, 3, 2], "strides": [3, 3],
                                                           "dilations": [2, 1]}),
    ("multiplier 3, clamp", (1, 4, 9, 30), (12, 1, 3, 3), {"pads": [1, 1, 1, 1], "_fused_clip": (0.0, 6.0)}),
    ("1-D", (2, 5, 300), (10, 1, 4), {"pads": [3, 0], "dilations": [2]}),
    ("3-D", (1, 3, 6, 7, 8), (3, 1, 3, 2, 3), {"pads": [1, 0, 1, 1, 1, 1], "strides": [1, 2, 1]}),
]


@pytest.mark.parametrize("name,x_shape,w_shape,attrs", DEPTHWISE_CASES, ids=[c[0] for c in DEPTHWISE_CASES])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3, "constant"])
def test_depthwise_checked_equals_unchecked(name, x_shape, w_shape, attrs, with_bias, scale):
    from runtime._core import lib
    rng = np.random.default_rng(len(name) + int(with_bias))
    x = np.full(x_shape, 0.7, np.float32) if scale == "constant" else rand(rng, *x_shape, scale=scale)
    w = rand(rng, *w_shape, scale=0.2)
    arrays = [x, w] + ([rand(rng, w_shape[0])] if with_bias else [])
    attrs = dict(attrs, group=x_shape[1])
    prep = _prepare("Conv", arrays, [False] + [True] * (len(arrays) - 1), attrs)
    spec = prep.abft
    assert spec is not None and spec.side == lib.RADRT_ABFT_DEPTHWISE
    assert (spec.K, spec.checksums) == (math.prod(w_shape[2:]), x_shape[0] * w_shape[0])
    assert spec.wsum is None and spec.packed_weights is None and prep.constants == []
    assert prep.unread_inputs == ()  # the kernel reads the weights raw: the engine verifies them
    _check_clean(prep, arrays)


def test_depthwise_fills_the_output_seal():
    from runtime._core import ffi, lib
    rng = np.random.default_rng(6)
    arrays = [rand(rng, 2, 8, 11, 11), rand(rng, 8, 1, 3, 3), rand(rng, 8)]
    prep = _prepare("Conv", arrays, [False, True, True], {"group": 8, "pads": [1, 1, 1, 1]})
    ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
    ck, keep = abft_struct(ffi, prep.abft, [])
    seal = ffi.new("uint64_t[2]")
    ck.seal, ck.seal_base = seal, 3
    out = np.empty(prep.outputs[0].shape, np.float32)
    scratch = np.zeros(prep.scratch_bytes, np.uint8)
    fn, args = prep.invoke(lib, [ptr(a) for a in arrays], [ptr(out)], [], ptr(scratch), abft=ck)
    fn(*args)
    want = ffi.new("radrt_seal *")
    lib.radrt_seal_add(want, ffi.from_buffer(out), out.nbytes, 3)
    assert (seal[0], seal[1]) == (want.sum, want.wsum)
    assert ck.wseal == ffi.NULL and ck.checked == prep.abft.checksums and ck.exceeded == 0
    del keep


# (A shape, B shape, C shape or None, attrs)
GEMM_CASES = [
    ("FC", (1, 512), (512, 10), (10,), {}),
    ("FC transB", (3, 300), (70, 300), (1, 70), {"transB": 1}),
    ("alpha beta", (5, 40), (40, 9), (9,), {"alpha": 0.5, "beta": -2.0}),
    ("scalar C", (4, 33), (33, 1000), (1,), {}),
    ("no C", (1, 1), (1, 1), None, {}),
    ("fused relu", (7, 600), (600, 50), (50,), {"_fused_clip": (0.0, math.inf)}),
]


@pytest.mark.parametrize("name,a_shape,b_shape,c_shape,attrs", GEMM_CASES, ids=[c[0] for c in GEMM_CASES])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_gemm_checked_equals_unchecked(name, a_shape, b_shape, c_shape, attrs, scale):
    from runtime._core import lib
    rng = np.random.default_rng(len(name))
    arrays = [rand(rng, *a_shape, scale=scale), rand(rng, *b_shape, scale=0.1)]
    if c_shape:
        arrays.append(rand(rng, *c_shape))
    prep = _prepare("Gemm", arrays, [False] + [True] * (len(arrays) - 1), attrs)
    assert prep.abft is not None and prep.abft.side == lib.RADRT_ABFT_ROWS
    b = arrays[1].T if attrs.get("transB") else arrays[1]
    np.testing.assert_array_equal(prep.constants[prep.abft.wsum], b.astype(np.float64).sum(axis=1).astype(np.float32))
    _check_clean(prep, arrays)


def test_gemm_without_spec():
    rng = np.random.default_rng(2)
    a, b = rand(rng, 4, 6), rand(rng, 6, 5)
    assert _prepare("Gemm", [a, b], [False, False]).abft is None                      # runtime B
    assert _prepare("Gemm", [a, b, rand(rng, 5)], [False, True, False]).abft is None  # runtime C
    assert _prepare("Gemm", [a, b, rand(rng, 4, 1)], [False, True, True]).abft is None  # row sums differ
    same_rows = np.tile(rand(rng, 1, 5), (4, 1))
    assert _prepare("Gemm", [a, b, same_rows], [False, True, True]).abft is not None


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 7, 64), (64, 20)), ((5, 300), (300,)), ((64,), (64, 8))])
def test_matmul_checked_equals_unchecked(a_shape, b_shape):
    rng = np.random.default_rng(3)
    arrays = [rand(rng, *a_shape), rand(rng, *b_shape)]
    prep = _prepare("MatMul", arrays, [False, True])
    assert prep.abft is not None
    _check_clean(prep, arrays)


def test_matmul_batched_weights_without_spec():
    rng = np.random.default_rng(4)
    prep = _prepare("MatMul", [rand(rng, 2, 3, 8), rand(rng, 2, 8, 4)], [False, True])
    assert prep.abft is None


@pytest.mark.parametrize("op", ["Conv", "Gemm"])
@pytest.mark.parametrize("bit", [23, 26, 30, 31])
def test_flipped_packed_weight_detected(op, bit):
    """A sign or exponent bit of the largest weight flipped in the packed constant."""
    rng = np.random.default_rng(bit)
    if op == "Conv":
        arrays = [rand(rng, 1, 16, 12, 12), rand(rng, 32, 16, 3, 3, scale=0.2), rand(rng, 32)]
        prep = _prepare("Conv", arrays, [False, True, True], {"pads": [1, 1, 1, 1]})
    else:
        arrays = [rand(rng, 3, 256), rand(rng, 256, 40, scale=0.1), rand(rng, 40)]
        prep = _prepare("Gemm", arrays, [False, True, True])
    packed = prep.constants[0]
    at = int(np.argmax(np.abs(packed)))
    packed.view(np.uint32)[at] ^= np.uint32(1 << bit)
    _, ck = _run(prep, arrays, True)
    assert ck.exceeded > 0


def test_lambda_and_results_accumulate():
    rng = np.random.default_rng(5)
    arrays = [rand(rng, 2, 8, 7, 7), rand(rng, 16, 8, 3, 3)]
    prep = _prepare("Conv", arrays, [False, True])
    from runtime._core import ffi, lib
    consts = [ffi.cast("void *", ffi.from_buffer(c)) for c in prep.constants]
    ck, keep = abft_struct(ffi, prep.abft, consts)
    assert ck.side == lib.RADRT_ABFT_COLUMNS and getattr(ck, "lambda") == ABFT_LAMBDA
    out = np.empty(prep.outputs[0].shape, np.float32)
    scratch = np.zeros(prep.scratch_bytes, np.uint8)
    ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
    fn, args = prep.invoke(lib, [ptr(arrays[0]), ffi.NULL], [ptr(out)], consts, ptr(scratch), abft=ck)
    fn(*args)
    fn(*args)
    assert ck.checked == 2 * prep.abft.checksums and ck.exceeded == 0
    del keep

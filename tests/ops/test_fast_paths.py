"""Fast paths and their fall-backs: shapes and attributes just inside and just outside
each fast path's conditions, checked against onnxruntime, with the path the kernel takes
asserted from the parameters prepare hands to C (so a case meant for the fall-back
really reaches it). The conditions are documented in each op's module docstring."""
import numpy as np
import pytest

from runtime.load import Node
from runtime.ops import TensorInfo, lookup

from .oneop import compare, model, rng

F32 = np.dtype(np.float32)


def invoke_args(op_type, attrs, ins, opset=18):
    """The (C function, args) prepare's invoke gives, with null buffer pointers."""
    from runtime._core import ffi, lib
    node = Node(op_type, "n0", [f"i{k}" for k in range(len(ins))], ["y"], dict(attrs), opset)
    prep = lookup(op_type)(node, ins)
    null = ffi.NULL
    return prep.invoke(lib, [null] * len(ins), [null] * len(prep.outputs), [null] * len(prep.constants), null)


# ---- Conv: depthwise, pointwise (1x1), implicit-im2col GEMM ----------------------------

CONV_CASES = [
    # x shape, w shape, attrs, expected path
    ((1, 8, 9, 9), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}, "depthwise"),
    ((1, 8, 9, 9), (16, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}, "depthwise"),  # multiplier 2
    ((1, 8, 9, 10), (8, 1, 3, 3), {"group": 8, "strides": [2, 2], "pads": [0, 1, 1, 0]}, "depthwise"),
    ((1, 8, 9, 9), (8, 1, 5, 5), {"group": 8, "pads": [2, 2, 2, 2], "dilations": [2, 1]}, "depthwise"),
    ((1, 6, 17), (6, 1, 3), {"group": 6, "pads": [1, 1]}, "depthwise"),
    ((1, 4, 5, 6, 7), (4, 1, 3, 3, 3), {"group": 4, "pads": [1] * 6}, "depthwise"),
    ((1, 8, 9, 9), (8, 2, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, "im2col"),  # 2 channels per group
    ((1, 1, 9, 9), (4, 1, 3, 3), {"group": 1, "pads": [1, 1, 1, 1]}, "im2col"),  # one group
    ((1, 8, 7, 7), (8, 1, 1, 1), {"group": 8}, "depthwise"),
    ((1, 8, 7, 9), (12, 8, 1, 1), {}, "pointwise"),
    ((2, 8, 7, 9), (12, 4, 1, 1), {"group": 2}, "pointwise"),
    ((1, 8, 7, 9), (12, 8, 1, 1), {"dilations": [2, 2]}, "pointwise"),  # dilation is moot for 1x1
    ((1, 8, 7, 9), (12, 8, 1, 1), {"strides": [1, 2]}, "im2col"),
    ((1, 8, 7, 9), (12, 8, 1, 1), {"pads": [0, 0, 0, 1]}, "im2col"),
    ((1, 8, 7, 9), (12, 8, 1, 2), {}, "im2col"),
    ((1, 8, 13), (5, 8, 1), {}, "pointwise"),
    ((1, 8, 13), (5, 8, 1), {"strides": [2]}, "im2col"),
    ((1, 3, 11, 11), (5, 3, 3, 3), {"strides": [2, 2], "pads": [1, 0, 2, 1]}, "im2col"),
    ((1, 4, 3, 3), (6, 4, 3, 3), {"pads": [3, 3, 3, 3]}, "im2col"),  # outputs seeing only padding
]


@pytest.mark.parametrize("x_shape,w_shape,attrs,path", CONV_CASES)
@pytest.mark.parametrize("weights_constant", [True, False])
def test_conv_paths_match_onnxruntime(x_shape, w_shape, attrs, path, weights_constant):
    from runtime._core import lib
    r = rng(sum(x_shape) + sum(w_shape))
    x = r.standard_normal(x_shape).astype(np.float32)
    w = r.standard_normal(w_shape).astype(np.float32)
    b = r.standard_normal(w_shape[0]).astype(np.float32)
    ins = [TensorInfo(x_shape, F32), TensorInfo(w_shape, F32, w if weights_constant else None),
           TensorInfo(b.shape, F32, b)]
    _, args = invoke_args("Conv", attrs, ins)
    modes = {lib.RADRT_CONV_DEPTHWISE: "depthwise", lib.RADRT_CONV_POINTWISE: "pointwise",
             lib.RADRT_CONV_IM2COL: "im2col"}
    assert modes[args[0].mode] == path
    if weights_constant:
        m = model("Conv", inputs=[("x", x)], initializers=[("w", w), ("b", b)], attrs=attrs, opset=17)
        compare(m, {"x": x}, rtol=1e-4, atol=1e-4)
    else:
        m = model("Conv", inputs=[("x", x), ("w", w)], initializers=[("b", b)], attrs=attrs, opset=17)
        compare(m, {"x": x, "w": w}, rtol=1e-4, atol=1e-4)


# ---- Elementwise broadcast: the four row kinds, and the odometer over outer dims ---------

BINARY_CASES = [
    # a shape, b shape, expected (ndim after merging, a innermost stride, b innermost stride)
    ((2, 3, 4, 5), (2, 3, 4, 5), (1, 1, 1)),      # same shape: one flat row
    ((2, 3, 4, 5), (), (1, 1, 0)),                # scalar b
    ((1,), (2, 3, 4, 5), (1, 0, 1)),              # scalar a
    ((2, 3, 4, 5), (1, 3, 1, 1), (3, 1, 0)),      # per-channel b: rows with a constant b
    ((2, 3, 4, 5), (3, 1, 1), (3, 1, 0)),
    ((2, 3, 4, 5), (2, 3, 4, 1), (2, 1, 0)),      # b constant along the last axis
    ((2, 3, 4, 1), (2, 3, 4, 5), (2, 0, 1)),
    ((2, 3, 4, 5), (5,), (2, 1, 1)),              # b repeats per row: both contiguous rows
    ((2, 1, 4, 1), (1, 3, 1, 5), (4, 0, 1)),      # alternating patterns: general odometer
    ((2, 1, 2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2, 1, 2), (8, 0, 1)),  # the most dims C takes
    ((7, 1), (1, 1), (1, 1, 0)),
    ((0, 3), (1, 3), (2, 1, 1)),                  # empty output
]


@pytest.mark.parametrize("a_shape,b_shape,layout", BINARY_CASES)
@pytest.mark.parametrize("op", ["Add", "Sub", "Div", "Max", "PRelu"])
def test_binary_row_kinds_match_onnxruntime(a_shape, b_shape, layout, op):
    if op == "PRelu" and np.broadcast_shapes(a_shape, b_shape) != a_shape:
        pytest.skip("PRelu's slope broadcasts to X, not the other way")
    r = rng(len(a_shape) * 7 + len(b_shape))
    a = np.asarray(r.standard_normal(a_shape), np.float32)
    b = np.asarray(r.standard_normal(b_shape) + (3.0 if op == "Div" else 0.0), np.float32)
    if op in ("Add", "Sub", "Div"):
        _, args = invoke_args(op, {}, [TensorInfo(a_shape, F32), TensorInfo(b_shape, F32)])
        p = args[0]
        last = p.ndim - 1
        assert (p.ndim, p.a_stride[last], p.b_stride[last]) == layout
    m = model(op, inputs=[("a", a), ("b", b)], opset=17)
    compare(m, {"a": a, "b": b}, exact=op != "Div", rtol=1e-6, atol=0)


@pytest.mark.parametrize("shapes", [
    [(3, 1), (1, 4), (1, 1)],        # first step: neither operand varies along the row
    [(2, 3, 4), (2, 3, 4), (2, 3, 4)],
    [(4,), (3, 1), (2, 1, 1), ()],
])
@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min"])
def test_variadic_row_kinds_match_onnxruntime(shapes, op):
    r = rng(len(shapes))
    arrays = [np.asarray(r.standard_normal(s), np.float32) for s in shapes]
    names = [f"x{k}" for k in range(len(arrays))]
    m = model(op, inputs=list(zip(names, arrays)), opset=17)
    compare(m, dict(zip(names, arrays)), rtol=1e-6, atol=1e-7)


# ---- Strided copy: memcpy rows, tiled 2-D transpose, element loop -----------------------

def strided_path(p):
    """The inner loop radrt_strided_copy picks for these params (see strided.c)."""
    nd, size = p.ndim, p.itemsize
    last = p.src_stride[nd - 1]
    if nd >= 2 and last != size and p.src_stride[nd - 2] == size:
        return "tiles"
    return "rows" if last == size else "elements"


def transpose_case(shape, perm):
    return "Transpose", shape, {"perm": list(perm)}, []


def slice_case(shape, starts, ends, axes, steps):
    return "Slice", shape, {}, [np.array(v, np.int64) for v in (starts, ends, axes, steps)]


STRIDED_CASES = [
    (transpose_case((2, 3, 4, 5), (0, 1, 2, 3)), "rows"),         # identity: one memcpy
    (transpose_case((2, 3, 4, 5), (1, 0, 2, 3)), "rows"),         # last axis kept innermost
    (transpose_case((2, 3, 4, 5), (0, 1, 3, 2)), "tiles"),
    (transpose_case((1, 6, 7, 3), (0, 3, 1, 2)), "tiles"),        # NHWC -> NCHW
    (transpose_case((1, 3, 7, 6), (0, 2, 3, 1)), "tiles"),        # NCHW -> NHWC
    (transpose_case((2, 3, 1, 5), (0, 3, 2, 1)), "tiles"),        # size-1 axis dropped first
    (transpose_case((2, 3, 4), (1, 2, 0)), "tiles"),
    (transpose_case((2, 3, 4, 5), (3, 2, 1, 0)), "elements"),     # neither of the last two axes contiguous
    (transpose_case((2, 3, 4, 5), (3, 0, 2, 1)), "elements"),
    (transpose_case((1, 4, 2, 5, 3), (0, 2, 1, 3, 4)), "rows"),   # channel shuffle
    (transpose_case((17, 33), (1, 0)), "tiles"),                  # partial 16x16 tiles
    (slice_case((4, 6, 8), [0, 1, 2], [4, 5, 7], [0, 1, 2], [1, 1, 1]), "rows"),
    (slice_case((4, 6, 8), [0, 1, 0], [4, 5, 8], [0, 1, 2], [1, 1, 2]), "elements"),  # step 2
    (slice_case((4, 6, 8), [0, 0, 7], [4, 6, -9], [0, 1, 2], [1, 1, -1]), "elements"),  # reversed
    (slice_case((4, 6, 8), [3, 0], [-5, 6], [0, 1], [-1, 1]), "rows"),  # reversed outer axis
    (slice_case((4, 6, 8), [0, 0, 0], [4, 6, 1], [0, 1, 2], [1, 1, 1]), "elements"),  # a column
    (slice_case((4, 6, 8), [0, 0], [4, 2], [1, 2], [3, 1]), "rows"),
]


@pytest.mark.parametrize("case,path", STRIDED_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
def test_strided_copy_paths_match_onnxruntime(case, path, dtype):
    op, shape, attrs, consts = case
    x = (rng(3).standard_normal(shape) * 100).astype(dtype)
    ins = [TensorInfo(shape, np.dtype(dtype))] + [TensorInfo(c.shape, c.dtype, c) for c in consts]
    _, args = invoke_args(op, attrs, ins)
    assert strided_path(args[2]) == path
    names = [f"c{k}" for k in range(len(consts))]
    m = model(op, inputs=[("x", x)], initializers=list(zip(names, consts)), attrs=attrs,
              output_types=[None])
    compare(m, {"x": x}, exact=True)


@pytest.mark.parametrize("x_shape,target,path", [
    ((3, 1), (3, 4), "tiles"),        # last axis broadcast (stride 0), the one before contiguous
    ((5, 1, 1), (5, 2, 3), "tiles"),
    ((1, 1), (3, 4), "elements"),     # one broadcast axis after coalescing
    ((1, 4), (3, 4), "rows"),
    ((2, 1, 5), (2, 3, 5), "rows"),
])
def test_expand_paths_match_onnxruntime(x_shape, target, path):
    x = rng(1).standard_normal(x_shape).astype(np.float32)
    shape = np.array(target, np.int64)
    _, args = invoke_args("Expand", {}, [TensorInfo(x_shape, F32), TensorInfo(shape.shape, shape.dtype, shape)])
    assert strided_path(args[2]) == path
    compare(model("Expand", inputs=[("x", x)], initializers=[("s", shape)]), {"x": x}, exact=True)


# ---- Pooling: padded plane; wide (stride 1) path vs row path (stride 2 specialised) --------

def pool_path(p):
    """The loop radrt_maxpool/radrt_avgpool picks for these params (see pool.c)."""
    if p.stride[1] == 1 and p.stride[2] == 1:
        return "wide"
    return "rows stride 2" if p.stride[2] == 2 else "rows"


POOL_CASES = [
    # x shape, attrs, path; widths around the 8- and 32-output vector blocks
    ((1, 3, 6, 10), {"kernel_shape": [3, 3]}, "wide"),
    ((1, 3, 6, 10), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, "wide"),
    ((1, 3, 6, 33), {"kernel_shape": [3, 3], "pads": [1, 2, 1, 2]}, "wide"),
    ((1, 3, 6, 10), {"kernel_shape": [3, 3], "strides": [2, 1], "pads": [1, 1, 1, 1]}, "rows"),
    ((1, 3, 6, 10), {"kernel_shape": [3, 3], "strides": [1, 2], "pads": [1, 1, 1, 1]}, "rows stride 2"),
    ((1, 3, 6, 10), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, "rows stride 2"),  # past the end
    ((1, 3, 9, 35), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]}, "rows stride 2"),
    ((1, 3, 6, 11), {"kernel_shape": [2, 2], "strides": [3, 3], "ceil_mode": 1}, "rows"),
    ((1, 3, 6, 10), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 2, 2, 2]}, "wide"),
    ((1, 3, 4, 2), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, "wide"),  # no window fully inside
    ((1, 2, 13), {"kernel_shape": [3], "pads": [1, 1], "strides": [1]}, "wide"),  # 1-D
    ((1, 2, 4, 5, 6), {"kernel_shape": [2, 3, 3], "pads": [0, 1, 1, 1, 1, 1]}, "wide"),  # 3-D
    ((1, 2, 5, 5, 9), {"kernel_shape": [2, 2, 3], "strides": [2, 1, 2]}, "rows stride 2"),
]


@pytest.mark.parametrize("x_shape,attrs,path", POOL_CASES)
@pytest.mark.parametrize("op,extra", [("MaxPool", {}), ("AveragePool", {}),
                                      ("AveragePool", {"count_include_pad": 1})])
def test_pool_paths_match_onnxruntime(x_shape, attrs, path, op, extra):
    attrs = dict(attrs, **extra)
    _, args = invoke_args(op, attrs, [TensorInfo(x_shape, F32)], opset=19)
    assert pool_path(args[-2]) == path
    x = rng(len(x_shape)).standard_normal(x_shape).astype(np.float32)
    compare(model(op, inputs=[("x", x)], attrs=attrs, opset=19), {"x": x}, rtol=1e-5, atol=1e-6)

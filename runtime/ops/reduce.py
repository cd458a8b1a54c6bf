"""Reduce* ops (C: csrc/kernels/reduce.c).

Axes come from the `axes` attribute (older opsets) or from a constant second
input (ReduceSum from opset 13, the others from 18). Empty axes reduce every
axis, unless noop_with_empty_axes=1: then nothing is reduced and each output
is the op applied to a single element (x for sum, x*x for ReduceSumSquare,
|x| for L1/L2, log x for ReduceLogSum), as the ONNX reference does.
Accumulation is in double, in row-major order of the reduced positions.

Reducing an empty axis (a dim of 0): ReduceSum/SumSquare/L1/L2 give 0, ReduceProd 1,
ReduceMax -inf, ReduceMin +inf, ReduceLogSum and ReduceLogSumExp -inf, as the spec
defines them on an empty set. ReduceMean, which the spec leaves undefined there, gives
NaN (0/0: the mean of no values; onnxruntime gives 0), fed or constant alike.
"""
from . import (Prepared, count, node_error, normalize_axis, output_info, register,
               require_ints, require_float32, unsupported)
from .. import sizes

MAX_DIMS = 8  # RADRT_MAX_DIMS

# op type -> kernel op (RADRT_REDUCE_<name>)
REDUCE_OPS = {
    "ReduceSum": "SUM",
    "ReduceMean": "MEAN",
    "ReduceMax": "MAX",
    "ReduceMin": "MIN",
    "ReduceProd": "PROD",
    "ReduceL1": "L1",
    "ReduceL2": "L2",
    "ReduceSumSquare": "SUM_SQUARE",
    "ReduceLogSum": "LOG_SUM",
    "ReduceLogSumExp": "LOG_SUM_EXP",
}


def reduced_axes(node, ins, rank):
    """The sorted set of axes to reduce."""
    axes = node.attr("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = require_ints(node, ins[1], "input 1 (axes)")
    axes = [int(a) for a in (axes or [])]
    if not axes:
        return () if int(node.attr("noop_with_empty_axes", 0)) else tuple(range(rank))
    normalized = [normalize_axis(node, a, rank) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise node_error(node, f"axes {axes} name the same axis twice")
    return tuple(sorted(normalized))


def merged_dims(shape, axes):
    """Input dims with size-1 dims dropped and adjacent kept/reduced runs merged.

    Returns [(size, reduced)] (at least one entry) and the stride of each merged
    dim in the output (0 for a reduced one)."""
    runs = []
    for i, d in enumerate(shape):
        if d == 1:
            continue
        red = i in axes
        if runs and runs[-1][1] == red:
            runs[-1][0] *= d
        else:
            runs.append([d, red])
    if not runs:
        runs = [[1, False]]
    strides, stride = [], 1
    for size, red in reversed(runs):
        strides.append(0 if red else stride)
        stride *= 1 if red else size
    return [(s, r) for s, r in runs], strides[::-1]


def _reduce(node, ins):
    x = ins[0]
    require_float32(node, x)
    if x.rank > MAX_DIMS:
        raise unsupported(node, f"input 0 has rank {x.rank}, radrt supports up to {MAX_DIMS}")
    op_name = REDUCE_OPS[node.op_type]
    axes = reduced_axes(node, ins, x.rank)
    keepdims = int(node.attr("keepdims", 1))
    if keepdims:
        out_shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    else:
        out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    y = output_info(node, out_shape, x.dtype)
    count(node, x.shape, "input 0")  # so every merged dim below fits int64
    runs, strides = merged_dims(x.shape, axes)
    out_count = count(node, out_shape, "output")
    reduce_count = count(node, [x.shape[a] for a in axes], "reduced dims")
    params = dict(ndims=len(runs), dims=[s for s, _ in runs], out_stride=strides,
                  out_count=out_count, reduce_count=reduce_count)

    def invoke(lib, i, o, c, scratch):
        from .._core import ffi
        p = ffi.new("radrt_reduce_params *", dict(params, op=getattr(lib, "RADRT_REDUCE_" + op_name)))
        return lib.radrt_reduce, (i[0], o[0], p, scratch)

    scratch_bytes = sizes.check_bytes(node, sizes.checked_mul(8, out_count, what="scratch", node=node),
                                      "scratch (one double per output)")
    return Prepared([y], invoke, flops=2 * x.size, scratch_bytes=scratch_bytes,
                    unread_inputs=(1,) if len(ins) > 1 else ())


for _op in REDUCE_OPS:
    register(_op)(_reduce)

"""Concat and Split along one axis (C: csrc/kernels/concat.c).

Both view every tensor as (outer, dim_i * inner) rows of bytes, so any
element type works and the CNN channel concat is one memcpy per input.
"""
import numpy as np

from . import (Prepared, TensorInfo, count, node_error, normalize_axis, output_info, register,
               require_ints)
from ..sizes import checked_add, checked_mul


def _rows(node, shape, axis, itemsize):
    outer = count(node, shape[:axis], "outer dims")
    inner = count(node, shape[axis + 1:], "inner dims")
    return outer, checked_mul(inner, itemsize, what="inner row bytes", node=node)


@register("Concat")
def concat(node, ins):
    parts = [i for i in ins if i is not None]
    if not parts:
        raise node_error(node, "has no inputs, expected at least one")
    if "axis" not in node.attrs:
        raise node_error(node, "attribute 'axis' is missing")
    first = parts[0]
    axis = normalize_axis(node, int(node.attr("axis")), first.rank)
    for k, p in enumerate(parts):
        if np.dtype(p.dtype) != np.dtype(first.dtype):
            raise node_error(node, f"input {k} has dtype {np.dtype(p.dtype).name}, expected "
                                   f"{np.dtype(first.dtype).name} like input 0")
        if p.rank != first.rank or any(a != b for i, (a, b) in enumerate(zip(p.shape, first.shape))
                                       if i != axis):
            raise node_error(node, f"input {k} has shape {p.shape}, expected {first.shape} "
                                   f"except along axis {axis}")
    out_shape = list(first.shape)
    out_shape[axis] = checked_add(*(p.shape[axis] for p in parts), what=f"output dim {axis}", node=node)
    y = output_info(node, out_shape, first.dtype)
    size = np.dtype(first.dtype).itemsize
    outer, inner_bytes = _rows(node, first.shape, axis, size)
    blocks = [p.shape[axis] * inner_bytes for p in parts]
    present = [k for k, i in enumerate(ins) if i is not None]

    def invoke(lib, i, o, consts, scratch):
        from .._core import ffi
        srcs = ffi.new("void *[]", [i[k] for k in present])
        block_bytes = ffi.new("int64_t[]", blocks)
        return lib.radrt_concat, (srcs, block_bytes, len(blocks), outer, o[0])

    return Prepared([y], invoke)


@register("Split")
def split(node, ins):
    x = ins[0]
    axis = normalize_axis(node, int(node.attr("axis", 0)), x.rank)
    dim = x.shape[axis]
    nout = len(node.outputs)
    sizes = node.attr("split")
    if len(ins) > 1 and ins[1] is not None:
        sizes = require_ints(node, ins[1], "input 1 (split)")
    if sizes is None:
        num = int(node.attr("num_outputs", nout))
        if num != nout:
            raise node_error(node, f"num_outputs is {num} but the node has {nout} outputs")
        # Equal parts; opset 18 lets the last part be smaller (ceil division).
        part = -(-dim // num) if num else 0
        if node.opset < 18 and dim % max(num, 1):
            raise node_error(node, f"axis {axis} of size {dim} does not split into {num} equal parts")
        sizes = [max(0, min(part, dim - k * part)) for k in range(num)]
    sizes = [int(s) for s in sizes]
    if len(sizes) != nout or any(s < 0 for s in sizes) or sum(sizes) != dim:
        raise node_error(node, f"split sizes {sizes} must be {nout} non-negative values "
                               f"summing to {dim} (axis {axis} of input shape {x.shape})")
    outer, inner_bytes = _rows(node, x.shape, axis, np.dtype(x.dtype).itemsize)
    blocks = [s * inner_bytes for s in sizes]
    outs = [TensorInfo(tuple(x.shape[:axis]) + (s,) + tuple(x.shape[axis + 1:]), x.dtype) for s in sizes]

    def invoke(lib, i, o, consts, scratch):
        from .._core import ffi
        dsts = ffi.new("void *[]", list(o))
        block_bytes = ffi.new("int64_t[]", blocks)
        return lib.radrt_split, (i[0], dsts, block_bytes, len(blocks), outer)

    return Prepared(outs, invoke, unread_inputs=tuple(range(1, len(ins))))

"""Ops that are one strided copy of their input (C: csrc/kernels/strided.c).

Transpose (permuted strides), Slice (offset and signed step strides), Expand
(stride 0 on broadcast axes) and Tile (each axis split into a repeat axis of
stride 0 and the data axis). Every element type works: the kernel moves
`itemsize` bytes. `strided_copy` coalesces axes and proves every address the
kernel will form lies inside the input before anything reaches C.

After coalescing (size-1 axes dropped, axes contiguous in the source merged),
csrc/kernels/strided.c picks its inner loop from the last two source strides:
  - last axis contiguous (Slice with step 1 on it, transposes that keep it
    innermost, channel shuffle): one memcpy per row;
  - last axis not contiguous but the one before is (2-D transposes such as
    NCHW <-> NHWC, Expand of a last axis of size 1): 16x16 tiles;
  - neither (steps other than 1 on the last axis, reversed last axis, other
    permutations): an element loop with the source stride.
All three copy the same bytes; tests/ops/test_fast_paths.py checks each path
against onnxruntime for several element sizes.
"""
from typing import Sequence

import numpy as np

from . import (Prepared, TensorInfo, node_error, normalize_axis, output_info, register,
               require_ints, unsupported)
from .. import sizes

COPY_MAX_DIMS = 16  # RADRT_COPY_MAX_DIMS in strided.h


def coalesce(shape: Sequence[int], strides: Sequence[int]):
    """Drop size-1 axes and merge axes that are contiguous in the source."""
    dims = [(int(n), int(s)) for n, s in zip(shape, strides) if n != 1]
    merged = []
    for n, s in dims:
        if merged and merged[-1][1] == s * n:
            merged[-1] = (merged[-1][0] * n, s)
        else:
            merged.append((n, s))
    return merged or [(1, 0)]


def strided_copy(node, src: TensorInfo, out_shape: Sequence[int], strides: Sequence[int],
                 offset: int = 0, unread_inputs=()) -> Prepared:
    """Prepared step: out (contiguous, out_shape) [idx] = src.flat[offset + idx . strides]
    (strides in elements, any sign)."""
    out_shape = tuple(int(d) for d in out_shape)
    size = int(np.dtype(src.dtype).itemsize)
    out = output_info(node, out_shape, src.dtype)
    if 0 not in out_shape:
        lo = offset + sum(min(0, (n - 1) * s) for n, s in zip(out_shape, strides))
        hi = offset + sum(max(0, (n - 1) * s) for n, s in zip(out_shape, strides))
        if lo < 0 or hi >= src.size:  # an invariant of every caller; C trusts it
            raise node_error(node, f"internal: strided copy reaches elements {lo}..{hi} of an "
                                   f"input with {src.size}")
    dims = coalesce(out_shape, strides)
    if len(dims) > COPY_MAX_DIMS:
        raise unsupported(node, f"output {out_shape} needs {len(dims)} strided axes, radrt "
                                f"supports at most {COPY_MAX_DIMS}")
    # Offsets and strides lie inside the input (checked above), so in bytes they fit int64.
    args = sizes.check_c_fields(node, dict(ndim=len(dims), itemsize=size, src_offset=offset * size,
                                           shape=[n for n, _ in dims],
                                           src_stride=[s * size for _, s in dims]))

    def invoke(lib, ins, outs, consts, scratch):
        from .._core import ffi
        params = ffi.new("radrt_strided_t *", args)
        return lib.radrt_strided_copy, (ins[0], outs[0], params)

    return Prepared([out], invoke, unread_inputs=tuple(unread_inputs))


def contiguous_strides(shape: Sequence[int]):
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc)
        acc *= int(n)
    return strides[::-1]


@register("Transpose")
def transpose(node, ins):
    x = ins[0]
    perm = node.attr("perm")
    perm = list(range(x.rank))[::-1] if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(x.rank)):
        raise node_error(node, f"perm {perm} is not a permutation of the {x.rank} axes of input "
                               f"shape {x.shape}")
    strides = contiguous_strides(x.shape)
    return strided_copy(node, x, [x.shape[p] for p in perm], [strides[p] for p in perm])


@register("Slice")
def slice_(node, ins):
    x = ins[0]
    if node.opset < 10:
        starts, ends = list(node.attr("starts", [])), list(node.attr("ends", []))
        axes = node.attr("axes")
        steps = [1] * len(starts)
    else:
        starts = require_ints(node, ins[1], "input 1 (starts)")
        ends = require_ints(node, ins[2], "input 2 (ends)")
        opt = lambda k: ins[k] if len(ins) > k else None  # noqa: E731
        axes = require_ints(node, opt(3), "input 3 (axes)") if opt(3) is not None else None
        steps = require_ints(node, opt(4), "input 4 (steps)") if opt(4) is not None else [1] * len(starts)
    axes = [normalize_axis(node, int(a), x.rank) for a in (range(len(starts)) if axes is None else axes)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise node_error(node, f"starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                               f"must have the same length")
    if len(set(axes)) != len(axes):
        raise node_error(node, f"axes {axes} repeat an axis")
    begin = [0] * x.rank
    step = [1] * x.rank
    out_shape = list(x.shape)
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st == 0:
            raise node_error(node, f"step of axis {a} is 0, expected a non-zero step")
        dim = x.shape[a]
        # ONNX clamping: starts and ends into [0, dim] for positive steps;
        # starts into [0, dim-1] and ends into [-1, dim-1] for negative steps.
        s = s + dim if s < 0 else s
        e = e + dim if e < 0 else e
        if st > 0:
            s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            n = max(0, -(-(e - s) // st))
        else:
            s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            n = max(0, -(-(s - e) // -st)) if dim else 0
        begin[a], step[a], out_shape[a] = s, st, n
    strides = contiguous_strides(x.shape)
    offset = 0 if 0 in out_shape else sum(b * s for b, s in zip(begin, strides))
    return strided_copy(node, x, out_shape, [s * st for s, st in zip(strides, step)], offset,
                        unread_inputs=tuple(range(1, len(ins))))


@register("Expand")
def expand(node, ins):
    x = ins[0]
    shape = require_ints(node, ins[1] if len(ins) > 1 else None, "input 1 (shape)")
    rank = max(x.rank, len(shape))
    xs = (1,) * (rank - x.rank) + tuple(x.shape)
    ts = (1,) * (rank - len(shape)) + tuple(shape)
    out_shape = []
    for a, (d, t) in enumerate(zip(xs, ts)):
        if t < 0:
            raise node_error(node, f"shape {tuple(shape)} has negative dimension {t} (axis {a}), "
                                   f"expected dimensions >= 0", attribute="shape", value=tuple(shape))
        if d != t and d != 1 and t != 1:
            raise node_error(node, f"input shape {x.shape} cannot be broadcast to {tuple(shape)} "
                                   f"(axis {a}: {d} vs {t})")
        out_shape.append(d if t == 1 else t)
    strides = [0] * (rank - x.rank) + contiguous_strides(x.shape)
    strides = [0 if d == 1 else s for d, s in zip(xs, strides)]
    return strided_copy(node, x, out_shape, strides, unread_inputs=(1,))


@register("Tile")
def tile(node, ins):
    x = ins[0]
    repeats = require_ints(node, ins[1] if len(ins) > 1 else None, "input 1 (repeats)")
    if len(repeats) != x.rank or any(r < 0 for r in repeats):
        raise node_error(node, f"repeats {repeats} must be {x.rank} non-negative values "
                               f"(one per axis of input shape {x.shape})")
    # Output axis a of size r*d is the pair (repeat r, stride 0; data d, stride s).
    shape, strides = [], []
    out = output_info(node, [sizes.checked_mul(r, d, what=f"output dim {a} (repeats {r} x {d})", node=node)
                             for a, (r, d) in enumerate(zip(repeats, x.shape))], x.dtype)
    for r, d, s in zip(repeats, x.shape, contiguous_strides(x.shape)):
        shape += [r, d]
        strides += [0, s]
    prepared = strided_copy(node, x, shape, strides, unread_inputs=(1,))
    prepared.outputs = [out]
    return prepared

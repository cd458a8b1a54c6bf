"""Pad in every mode (C: csrc/kernels/pad.c), any element type.

Pad is a per-axis table copy: for each axis, the source index of every output
position, or -1 for the constant. Negative pads crop first (as onnxruntime
does), then the cropped extent is padded: constant, edge (clamp), reflect
(mirror without repeating the edge, periodically for pads longer than the
axis, as numpy does) or wrap (modulo). `table_copy` is shared with nearest
Resize.
"""
from typing import List, Optional, Sequence

import numpy as np

from . import (Prepared, TensorInfo, node_error, normalize_axis, output_info, register,
               require_constant, require_ints, unsupported)
from .. import sizes
from .strided import contiguous_strides

MAX_DIMS = 8  # RADRT_MAX_DIMS in core.h
MODES = ("constant", "reflect", "edge", "wrap")


def _longest_run(offsets: np.ndarray, itemsize: int):
    """[begin, end) of the longest stretch of consecutive source elements."""
    best, start = (0, 0), 0
    for j in range(1, len(offsets) + 1):
        if j == len(offsets) or offsets[j] < 0 or offsets[j - 1] < 0 or offsets[j] != offsets[j - 1] + itemsize:
            if offsets[start] >= 0 and j - start > best[1] - best[0]:
                best = (start, j)
            start = j
    return best


def table_copy(node, src: TensorInfo, tables: Sequence[np.ndarray], fill: Optional[np.ndarray],
               unread_inputs=()) -> Prepared:
    """Prepared step: out[o_0, .., o_n] = src[tables[0][o_0], .., tables[n][o_n]], or `fill`
    where any table entry is -1."""
    if len(tables) > MAX_DIMS:
        raise unsupported(node, f"input rank {len(tables)} is above the supported {MAX_DIMS}")
    out = output_info(node, tuple(len(t) for t in tables), src.dtype)
    size = np.dtype(src.dtype).itemsize
    tables = [np.asarray(t, np.int64) for t in tables] or [np.zeros(1, np.int64)]
    for axis, (t, dim) in enumerate(zip(tables, src.shape or (1,))):
        if len(t) and (t.max() >= dim or t.min() < -1):  # an invariant of every caller; C trusts it
            raise node_error(node, f"internal: axis {axis} table reaches index {t.max()} of {dim}")
    if fill is None and any((t < 0).any() for t in tables):
        raise node_error(node, "internal: padding positions without a fill value")
    strides = contiguous_strides(src.shape) if src.shape else [1]
    sizes.nbytes(src.shape, src.dtype, "input 0", node)  # so every offset below fits int64
    offsets = [np.where(t < 0, -1, t * s * size) for t, s in zip(tables, strides)]
    starts = np.cumsum([0] + [len(t) for t in offsets[:-1]]).tolist()
    run = _longest_run(offsets[-1], size) if len(offsets[-1]) else (0, 0)
    fill_bytes = np.zeros(1, src.dtype) if fill is None else np.asarray(fill, src.dtype).reshape(1)
    args = dict(ndim=len(offsets), itemsize=size, run_begin=run[0], run_end=run[1],
                shape=[len(t) for t in offsets], table_start=starts)
    constants = [np.concatenate(offsets) if sum(map(len, offsets)) else np.zeros(1, np.int64),
                 fill_bytes]

    def invoke(lib, ins, outs, consts, scratch):
        from .._core import ffi
        params = ffi.new("radrt_table_copy_t *", args)
        return lib.radrt_table_copy, (ins[0], outs[0], consts[0], consts[1], params)

    return Prepared([out], invoke, constants=constants, unread_inputs=tuple(unread_inputs))


def padded_dim(node, axis: int, dim: int, begin: int, end: int) -> int:
    """Output length of one axis: dim + begin + end (negative pads crop), checked."""
    lo, hi = max(0, -begin), dim - max(0, -end)
    if hi < lo:
        raise node_error(node, f"pads ({begin}, {end}) crop more than the {dim} elements of axis {axis}",
                         attribute="pads", value=(begin, end))
    return sizes.checked_add(hi - lo, max(0, begin), max(0, end),
                             what=f"output dim {axis} (input {dim} + pads {begin}, {end})", node=node)


def pad_table(node, axis: int, dim: int, begin: int, end: int, mode: str) -> np.ndarray:
    """Source index of every output position of one axis (-1: the constant); its length is
    the axis's output dim, which the caller has checked against the budget."""
    lo, hi = max(0, -begin), dim - max(0, -end)
    kept = hi - lo
    i = np.arange(padded_dim(node, axis, dim, begin, end), dtype=np.int64) - max(0, begin)
    inside = (i >= 0) & (i < kept)
    if mode == "constant":
        return np.where(inside, lo + i, -1)
    if kept == 0 and len(i):
        raise node_error(node, f"{mode} padding of axis {axis} needs at least one element, "
                               f"the axis has {dim} after cropping")
    if mode == "edge":
        i = np.clip(i, 0, kept - 1)
    elif mode == "wrap":
        i = np.mod(i, kept)
    elif kept == 1:  # reflect of one element repeats it
        i = np.zeros_like(i)
    else:
        period = 2 * (kept - 1)
        i = np.mod(i, period)
        i = np.where(i >= kept, period - i, i)
    return lo + i


@register("Pad")
def pad(node, ins):
    x = ins[0]
    mode = node.attr("mode", "constant")
    if mode not in MODES:
        raise unsupported(node, f"mode '{mode}' is not supported, expected one of {', '.join(MODES)}")
    opt = lambda k: ins[k] if len(ins) > k else None  # noqa: E731
    if node.opset < 11:
        pads = list(node.attr("pads", node.attr("paddings", [])))
        value = float(node.attr("value", 0.0))
        axes = list(range(x.rank))
    else:
        pads = require_ints(node, opt(1), "input 1 (pads)")
        cv = opt(2)
        value = 0 if cv is None else require_constant(node, cv, "input 2 (constant_value)").reshape(-1)
        if cv is not None and value.size != 1:
            raise node_error(node, f"input 2 (constant_value) has {value.size} elements, expected 1")
        if opt(3) is not None:
            axes = [normalize_axis(node, a, x.rank) for a in require_ints(node, opt(3), "input 3 (axes)")]
        else:
            axes = list(range(x.rank))
    if len(set(axes)) != len(axes):
        raise node_error(node, f"axes {axes} repeat an axis")
    if len(pads) != 2 * len(axes):
        raise node_error(node, f"pads {pads} has {len(pads)} values, expected {2 * len(axes)} "
                               f"(begin and end for each of axes {axes}, input shape {x.shape})")
    begin = dict(zip(axes, pads[:len(axes)]))
    end = dict(zip(axes, pads[len(axes):]))
    # The output's size is checked (int64, budget) before any table of it is built.
    out = output_info(node, [padded_dim(node, a, d, begin.get(a, 0), end.get(a, 0))
                             for a, d in enumerate(x.shape)], x.dtype)
    sizes.check_table(node, sum(out.shape), 8 * 2, "pad index tables")  # indices, then byte offsets
    tables: List[np.ndarray] = [pad_table(node, a, d, begin.get(a, 0), end.get(a, 0), mode)
                                for a, d in enumerate(x.shape)]
    fill = np.asarray(value).astype(x.dtype) if mode == "constant" else None
    return table_copy(node, x, tables, fill, unread_inputs=tuple(range(1, len(ins))))

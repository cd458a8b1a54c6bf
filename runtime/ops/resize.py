"""Resize (opsets 10-19) and Upsample (opsets 7-9) (C: csrc/kernels/resize.c, pad.c).

Everything about the geometry is computed here, once: output sizes, the
source coordinate of every output position per axis (coordinate
transformation modes), and from it
- mode nearest: the source index per axis (nearest_mode rounding, clamped),
  run by the per-axis table copy of Pad, so any element type works;
- mode linear / cubic (float32): per axis, the source indices and weights of
  every tap (2 for linear, 4 for cubic, wider with antialias when
  downsampling; exclude_outside renormalises), run as separable passes, one
  per resized axis, outer axes first, as the ONNX reference does.
tf_crop_and_resize positions outside the input get extrapolation_value.
Formulas follow onnx.reference (op_resize.py). Opset 10 Resize and Upsample
use asymmetric coordinates and onnxruntime's legacy nearest rounding (floor
when upsampling, ceil when downsampling).
"""
import math
from typing import List, Optional

import numpy as np

from . import (FLOAT32, Prepared, count, node_error, output_info, register, require_constant, require_ints,
               unsupported)
from ..sizes import check_bytes, check_table, checked_mul
from .pad import table_copy
from .strided import contiguous_strides, strided_copy

COORDINATE_MODES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                    "half_pixel_symmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MODES = ("nearest", "linear", "cubic")
POLICIES = ("stretch", "not_larger", "not_smaller")


def _source_coords(ctm: str, out_len: int, in_len: int, scale: float, roi):
    """x_original (float64, shape (out_len,)) of every output position and, for
    tf_crop_and_resize, which are outside; `roi` is (start, end) of this axis as an array
    of the roi input's element type."""
    y = np.arange(out_len, dtype=np.float64)
    out_width = scale * in_len  # the reference uses the unrounded output width
    outside = None
    if ctm == "align_corners":
        x = np.zeros(out_len) if out_width == 1 else y * (in_len - 1) / (out_width - 1)
    elif ctm == "asymmetric":
        x = y / scale
    elif ctm == "tf_crop_and_resize":
        # roi[1] - roi[0] and roi[0] * (in_len - 1) in the roi's own element type, the rest
        # in float64, as the reference does: a float32 roi of (0.2, 0.9) then maps output 4
        # of 7 over 4 rows to exactly 2.0, where all-float64 arithmetic on the widened
        # float32 values gives 1.99999995 and nearest_mode floor picks row 1.
        t = roi.dtype.type
        span = t(roi[1] - roi[0])
        if out_width == 1:
            x = np.full(out_len, np.float64(span * t(in_len - 1) / t(2)))
        else:
            x = y * np.float64(span) * (in_len - 1) / (out_width - 1)
        x = x + np.float64(t(roi[0] * t(in_len - 1)))
        outside = (x < 0) | (x > in_len - 1)
    elif ctm == "pytorch_half_pixel":
        x = np.zeros(out_len) if out_len == 1 else (y + 0.5) / scale - 0.5  # spec: length_resized
    elif ctm == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif ctm == "half_pixel_symmetric":
        offset = in_len / 2 * (1 - out_len / out_width)
        x = offset + (y + 0.5) / scale - 0.5
    else:  # tf_half_pixel_for_nn
        x = (y + 0.5) / scale
    return x, outside


def _nearest_index(x: np.ndarray, mode: str, scale: float, in_len: int) -> np.ndarray:
    lo = np.floor(x)
    frac = x - lo
    if mode == "round_prefer_floor":
        up = frac > 0.5
    elif mode == "round_prefer_ceil":
        up = frac >= 0.5
    elif mode == "floor":
        up = np.zeros_like(frac, bool)
    elif mode == "ceil":
        up = frac > 0
    else:  # "legacy", opset < 11: truncate when upsampling, ceil when downsampling
        up = (frac > 0) & (scale < 1)
    return np.clip(lo + up, 0, in_len - 1).astype(np.int64)


def _taps(x: np.ndarray, mode: str, scale: float, in_len: int, cubic_a: float, antialias: bool,
          exclude_outside: bool):
    """Source indices (clamped) and weights, shape (out_len, taps)."""
    lo = np.floor(x)
    ratio = np.where(x == lo, 1.0, x - lo)  # the reference prefers the left pixel
    s = min(scale, 1.0)
    if mode == "linear" and not antialias:
        coeffs = np.stack([1 - ratio, ratio], axis=1)
    elif mode == "linear":
        start = int(np.floor(-1 / s) + 1)
        args = (np.arange(start, 2 - start)[None, :] - ratio[:, None]) * s
        coeffs = np.clip(1 - np.abs(args), 0, 1)
        coeffs = coeffs / coeffs.sum(axis=1, keepdims=True)
    elif not antialias:
        a = cubic_a
        r, q = ratio, 1 - ratio
        coeffs = np.stack([((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                           ((a + 2) * r - (a + 3)) * r * r + 1,
                           ((a + 2) * q - (a + 3)) * q * q + 1,
                           ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a], axis=1)
    else:
        a = cubic_a
        start = int(np.floor(-2 / s) + 1)
        t = np.abs(s * (np.arange(start, 2 - start)[None, :] - ratio[:, None]))
        coeffs = np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                          np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))
        coeffs = coeffs / coeffs.sum(axis=1, keepdims=True)
    n = coeffs.shape[1]
    # The n source positions nearest x (ties to the smaller), as the reference picks them.
    pad = int(np.ceil(n / 2))
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if n % 2 == 0:
        first = p + np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        first = p + np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = first[:, None] + np.arange(n)[None, :] - pad
    if exclude_outside:
        coeffs = np.where((idx < 0) | (idx >= in_len), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, in_len - 1), coeffs


def _optional_const(node, ins, k: int, what: str) -> Optional[np.ndarray]:
    info = ins[k] if len(ins) > k else None
    if info is None:
        return None
    value = require_constant(node, info, what)
    return None if value.size == 0 else value


@register("Resize", "Upsample")
def resize(node, ins):
    x = ins[0]
    rank = x.rank
    legacy = node.op_type == "Upsample" or node.opset < 11
    mode = node.attr("mode", "nearest")
    if mode not in MODES or (legacy and mode == "cubic"):
        raise unsupported(node, f"mode '{mode}' is not supported, expected nearest, linear or cubic")
    if legacy:
        if node.op_type == "Upsample" and node.opset < 9:
            scales = np.asarray(node.attr("scales", []), np.float32)
        else:
            scales = require_constant(node, ins[1] if len(ins) > 1 else None, "input 1 (scales)")
        sizes, roi, axes = None, None, list(range(rank))
        ctm, nearest_mode, policy = "asymmetric", "legacy", "stretch"
        antialias, exclude_outside, cubic_a, extrapolation = False, False, -0.75, 0.0
    else:
        roi = _optional_const(node, ins, 1, "input 1 (roi)")
        scales = _optional_const(node, ins, 2, "input 2 (scales)")
        sizes = _optional_const(node, ins, 3, "input 3 (sizes)")
        ctm = node.attr("coordinate_transformation_mode", "half_pixel")
        nearest_mode = node.attr("nearest_mode", "round_prefer_floor")
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        antialias = bool(node.attr("antialias", 0))
        exclude_outside = bool(node.attr("exclude_outside", 0))
        cubic_a = float(node.attr("cubic_coeff_a", -0.75))
        extrapolation = float(node.attr("extrapolation_value", 0.0))
        axes = node.attr("axes")
        axes = list(range(rank)) if axes is None else [int(a) + rank if a < 0 else int(a) for a in axes]
        if ctm not in COORDINATE_MODES:
            raise unsupported(node, f"coordinate_transformation_mode '{ctm}' is not supported, "
                                    f"expected one of {', '.join(COORDINATE_MODES)}")
        if nearest_mode not in NEAREST_MODES:
            raise unsupported(node, f"nearest_mode '{nearest_mode}' is not supported, expected "
                                    f"one of {', '.join(NEAREST_MODES)}")
        if policy not in POLICIES:
            raise unsupported(node, f"keep_aspect_ratio_policy '{policy}' is not supported, "
                                    f"expected one of {', '.join(POLICIES)}")
        if antialias and mode == "nearest":
            raise node_error(node, "antialias is defined for linear and cubic modes only")
    if sorted(set(axes)) != sorted(axes) or any(not 0 <= a < rank for a in axes):
        raise node_error(node, f"axes {node.attr('axes')} must be distinct axes of rank {rank}")
    if (scales is None) == (sizes is None):
        raise node_error(node, "exactly one of scales and sizes must be given (non-empty)")

    # Per-axis scale and output size, over all axes (unlisted axes keep their size).
    scale = [1.0] * rank
    out = list(x.shape)
    if scales is not None:
        scales = np.asarray(scales).reshape(-1)
        if len(scales) != len(axes) or not np.all(np.asarray(scales, np.float64) > 0) \
                or not np.all(np.isfinite(np.asarray(scales, np.float64))):
            raise node_error(node, f"scales {scales.tolist()} must be {len(axes)} positive values "
                                   f"(finite; one per resized axis of input shape {x.shape})")
        if node.op_type == "Upsample" and np.any(np.asarray(scales, np.float64) < 1):
            raise node_error(node, f"scales {scales.tolist()} must all be >= 1 (Upsample only enlarges; "
                                   f"use Resize to shrink)", value=scales.tolist())
        for a, s in zip(axes, scales):
            scale[a] = float(s)
            out[a] = int(np.float64(s) * x.shape[a])
    else:
        sizes = require_ints(node, ins[3], "input 3 (sizes)")
        if len(sizes) != len(axes) or any(v < 0 for v in sizes):
            raise node_error(node, f"sizes {sizes} must be {len(axes)} non-negative values "
                                   f"(one per resized axis of input shape {x.shape})")
        if any(x.shape[a] == 0 for a in axes):
            raise node_error(node, f"input shape {x.shape} is empty along a resized axis")
        ratios = [v / x.shape[a] for a, v in zip(axes, sizes)]
        if policy != "stretch":
            r = min(ratios) if policy == "not_larger" else max(ratios)
            ratios = [r] * len(axes)
            sizes = [int(r * x.shape[a] + 0.5) for a in axes]
        for a, v, r in zip(axes, sizes, ratios):
            scale[a], out[a] = r, v
    if ctm != "tf_crop_and_resize":
        roi = None  # only tf_crop_and_resize reads the roi
    if roi is not None:
        roi = np.asarray(roi).reshape(-1)
        if roi.dtype.kind != "f":
            raise node_error(node, f"roi has dtype {roi.dtype.name}, expected a float type")
        if len(roi) != 2 * len(axes):
            raise node_error(node, f"roi has {len(roi)} values, expected {2 * len(axes)}")
        full = [np.array([0.0, 1.0], roi.dtype) for _ in range(rank)]
        for k, a in enumerate(axes):
            full[a] = np.array([roi[k], roi[len(axes) + k]], roi.dtype)
        roi = full
    elif ctm == "tf_crop_and_resize":
        raise node_error(node, "coordinate_transformation_mode tf_crop_and_resize needs input 1 (roi)")

    def identity(a):
        return (math.isclose(scale[a], 1.0) and out[a] == x.shape[a]
                and (ctm != "tf_crop_and_resize"
                     or (math.isclose(roi[a][0], 0.0) and math.isclose(roi[a][1], 1.0))))

    unread = tuple(range(1, len(ins)))
    # The output is checked (int64, budget) before the coordinate and tap tables sized by it.
    y = output_info(node, out, x.dtype)
    if 0 in out:
        return Prepared([y],
                        lambda lib, i, o, c, s: (lib.radrt_copy, (i[0], o[0], 0)), unread_inputs=unread)
    resized = [a for a in axes if not identity(a)]
    for a in resized:
        if x.shape[a] == 0:
            raise node_error(node, f"axis {a} of input shape {x.shape} is empty, cannot resize it to {out[a]}")
    if not resized:
        return strided_copy(node, x, x.shape, contiguous_strides(x.shape), unread_inputs=unread)

    check_table(node, sum(out[a] for a in resized), 8, "source coordinate tables")
    coords = {a: _source_coords(ctm, out[a], x.shape[a], scale[a], roi[a] if roi else None)
              for a in resized}
    if mode == "nearest":
        check_table(node, sum(out), 8 * 3, "nearest index tables")  # coordinates, indices, offsets
        tables = []
        for a, dim in enumerate(x.shape):
            if a not in coords:
                tables.append(np.arange(dim, dtype=np.int64))
                continue
            xs, outside = coords[a]
            t = _nearest_index(xs, nearest_mode, scale[a], dim)
            tables.append(t if outside is None else np.where(outside, -1, t))
        fill = np.asarray(extrapolation).astype(x.dtype)
        return table_copy(node, x, tables, fill, unread_inputs=unread)

    if np.dtype(x.dtype) != FLOAT32:
        raise unsupported(node, f"input 0 has dtype {np.dtype(x.dtype).name}, {mode} resize "
                                f"supports float32 only")
    return _separable(node, x, out, resized, coords, mode, scale, cubic_a, antialias,
                      exclude_outside, extrapolation, unread)


def _separable(node, x, out, resized, coords, mode, scale, cubic_a, antialias, exclude_outside,
               extrapolation, unread) -> Prepared:
    shape = list(x.shape)
    passes: List[dict] = []
    index_parts: List[np.ndarray] = []
    weight_parts: List[np.ndarray] = []
    buffer_floats = [0, 0]
    used = 0
    flops = 0
    for k, a in enumerate(resized):
        xs, outside = coords[a]
        idx, w = _taps(xs, mode, scale[a], x.shape[a], cubic_a, antialias, exclude_outside)
        taps = idx.shape[1]
        outer = count(node, shape[:a], "outer dims")
        inner = count(node, shape[a + 1:], "inner dims")
        table = used
        index_parts.append(idx.reshape(-1).astype(np.int64))
        weight_parts.append(w.reshape(-1).astype(np.float32))
        used += idx.size
        flags = -1
        if outside is not None and outside.any():
            flags = used
            index_parts.append(outside.astype(np.int64))
            weight_parts.append(np.zeros(len(outside), np.float32))
            used += len(outside)
        shape[a] = out[a]
        passes.append(dict(outer=outer, in_len=x.shape[a], out_len=out[a], inner=inner, taps=taps,
                           table=table, flags=flags,
                           fin_outer=count(node, out[:a], "output outer dims"),
                           fin_inner=count(node, out[a + 1:], "output inner dims")))
        size = count(node, shape, "intermediate pass")
        flops += 2 * taps * size
        if k < len(resized) - 1:
            buffer_floats[k % 2] = max(buffer_floats[k % 2], size)
    split = (buffer_floats[0] + 15) // 16 * 16  # keep the second buffer 64-byte aligned
    scratch_bytes = check_bytes(node, checked_mul(4, split + buffer_floats[1], what="scratch", node=node),
                                      "scratch (intermediate passes)") if len(resized) > 1 else 0
    constants = [np.concatenate(index_parts), np.concatenate(weight_parts)]

    def invoke(lib, ins, outs, consts, scratch):
        from .._core import ffi
        table = ffi.new("radrt_resize_pass_t[]", passes)
        return lib.radrt_resize_separable, (ins[0], outs[0], scratch, split, table, len(passes),
                                            consts[0], consts[1], extrapolation)

    return Prepared([output_info(node, out, x.dtype)], invoke, flops=flops, constants=constants,
                    scratch_bytes=scratch_bytes, unread_inputs=unread)

"""Pooling: MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool (C: csrc/kernels/pool.c).

MaxPool/AveragePool run every spatial rank (1 to 3) as 3-D. Prepare computes
the output shape (explicit pads with floor/ceil, or auto_pad) and the padded
plane every window fits in; the kernel copies each input plane into it (the
frame holds -inf or 0), so its loops never test padding. Which loop runs
(csrc/kernels/pool.c):
  - stride 1 along H and W: whole-plane loops, one per tap (the "wide" path);
  - any other stride: one loop per output row and tap (stride 2 specialised);
  - MaxPool with its Indices output: a per-output loop over a table of the taps
    inside the input (see csrc/kernels/pool.h for the layout).
Every path combines a window's taps in the same order. AveragePool divides by
a per-position divisor computed here (taps inside the input, or inside the
padded input with count_include_pad). Windows lying entirely in the padding
are rejected, except for AveragePool with count_include_pad (they give 0).

MaxPool also takes uint8 and int8 tensors (what onnxruntime's QOperator quantizer
leaves between quantized tensors): radrt_maxpool_u8/i8 widen each plane to float32
(exact), pool it with the same kernel (the -inf frame never wins) and narrow the
maxima back; not with the Indices output. `pool_plan` is shared with the com.microsoft
QLinearAveragePool (runtime/ops/qlinear.py).
"""
import numpy as np

from . import (Prepared, TensorInfo, count, node_error, output_info, register, require_float32,
               unsupported)
from .. import sizes

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
RANGE = 4  # int64 values per table row: base, begin, end, padded (RADRT_POOL_RANGE)


def _ints(node, key, default, count, minimum):
    values = node.attr(key)
    if values is None:
        return [default] * count
    values = [int(v) for v in values]
    if len(values) != count:
        raise node_error(node, f"{key} {values} has {len(values)} values, expected {count}")
    if any(v < minimum for v in values):
        raise node_error(node, f"{key} {values} must all be >= {minimum}")
    return values


def pool_geometry(node, x: TensorInfo):
    """Output spatial shape and the pads actually used, per the ONNX pooling rules."""
    spatial = x.rank - 2
    kernel = node.attr("kernel_shape")
    if kernel is None:
        raise node_error(node, "attribute kernel_shape is missing")
    kernel = _ints(node, "kernel_shape", 1, spatial, 1)
    strides = _ints(node, "strides", 1, spatial, 1)
    dilations = _ints(node, "dilations", 1, spatial, 1)
    pads = _ints(node, "pads", 0, 2 * spatial, 0)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        raise node_error(node, f"auto_pad '{auto_pad}' is not one of {', '.join(AUTO_PADS)}")
    if auto_pad != "NOTSET" and any(pads):
        raise node_error(node, f"pads {pads} cannot be combined with auto_pad '{auto_pad}'")
    ceil_mode = int(node.attr("ceil_mode", 0))
    if ceil_mode not in (0, 1):
        raise node_error(node, f"ceil_mode {ceil_mode} must be 0 or 1")
    in_shape = x.shape[2:]
    out, begin, end = [], [], []
    for i in range(spatial):
        n, k, s, d = in_shape[i], kernel[i], strides[i], dilations[i]
        extent = (k - 1) * d + 1
        if auto_pad == "NOTSET":
            pb, pe = pads[i], pads[spatial + i]
            span = n + pb + pe - extent
            o = (-(-span // s) if ceil_mode else span // s) + 1
            # with ceil_mode, a last window starting in the end padding is dropped
            if ceil_mode and span >= 0 and (o - 1) * s >= n + pb:
                o -= 1
        elif auto_pad == "VALID":
            span = n - extent
            o = (-(-(span + 1) // s) if ceil_mode else span // s + 1)
            pb, pe = 0, 0
        else:
            o = -(-n // s)
            total = (o - 1) * s + extent - n
            if total < 0:  # as onnxruntime: "padding values must be non-negative"
                raise node_error(node, f"auto_pad {auto_pad} on spatial axis {i} (input size {n}, kernel "
                                       f"extent {extent}, stride {s}) needs a total pad of {total}; "
                                       f"pads must be non-negative", attribute="auto_pad", value=total)
            small = total // 2
            pb, pe = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
            span = n + total - extent
        if span < 0 or o < 1:
            raise node_error(node, f"kernel extent {extent} (kernel {k}, dilation {d}) on spatial axis {i} "
                                   f"is larger than the padded input ({n} + pads {pb}, {pe})")
        out.append(sizes.checked_count(o, f"output dim {i} (spatial axis {i})", node))
        begin.append(pb)
        end.append(pe)
    return kernel, strides, dilations, begin, end, out


def effective_strides(strides, out):
    """A stride only moves from one output index to the next: along an axis with one
    output it is never applied, so it is 1 there (a stride of 2^63-1 stays out of the
    kernel's address arithmetic)."""
    return [s if o > 1 else 1 for s, o in zip(strides, out)]


def _axis_table(n, o_n, k, s, d, pb, pe):
    """One RANGE row per output index; see csrc/kernels/pool.h. Taps are base + d * j,
    j < k; each row is O(1) Python-int arithmetic (a kernel of 2^40 taps is fine)."""
    rows = np.zeros((o_n, RANGE), np.int64)
    for o in range(o_n):
        base = o * s - pb
        first = 0 if base >= 0 else -(base // d)  # first j with base + d*j >= 0
        last = min(k, (n - 1 - base) // d + 1) if n - 1 - base >= 0 else 0  # one past the last < n
        padded = min(k, (n + pe - 1 - base) // d + 1) if n + pe - 1 - base >= 0 else 0
        rows[o] = (base, first, last) + (padded,) if first < last else (base, 0, 0, padded)
    return rows


INTEGER_MAX = {np.dtype(np.uint8): "radrt_maxpool_u8", np.dtype(np.int8): "radrt_maxpool_i8"}


def _pool(node, ins, kind):
    x = ins[0]
    integer = kind == "max" and np.dtype(x.dtype) in INTEGER_MAX
    if not integer:
        require_float32(node, x)
    plan = pool_plan(node, x, kind)
    if integer and plan.with_indices:
        raise unsupported(node, f"input 0 has dtype {np.dtype(x.dtype).name}: radrt computes MaxPool's "
                                f"Indices output on float32 only")
    return plan.prepared(node, x, kind, INTEGER_MAX.get(np.dtype(x.dtype)) if integer else None)


class PoolPlan:
    """What `pool_plan` worked out for one MaxPool/AveragePool node: `outputs`, the C
    `params` dict (radrt_pool_params), `constants` (the Indices table or the
    AveragePool divisors), `with_indices` and `flops`."""

    def __init__(self, outputs, params, constants, with_indices, flops):
        self.outputs, self.params, self.constants = outputs, params, constants
        self.with_indices, self.flops = with_indices, flops

    def prepared(self, node, x, kind, integer_kernel=None) -> Prepared:
        from .._core import ffi, lib
        params, with_indices = self.params, self.with_indices
        if with_indices:
            scratch_bytes = 0
        elif integer_kernel is not None:  # widened plane by plane (csrc/kernels/pool.h)
            scratch_bytes = sizes.c_scratch_floats(
                node, lib.radrt_pool_plane_scratch_floats(ffi.new("radrt_pool_params *", params)),
                "widened plane and padded plane scratch")
        else:
            scratch_bytes = sizes.c_scratch_floats(
                node, lib.radrt_pool_scratch_floats(ffi.new("radrt_pool_params *", params)), "padded plane scratch")

        def invoke(lib, i, o, consts, scratch):
            p = ffi.new("radrt_pool_params *", params)
            if with_indices:
                return lib.radrt_maxpool_indices, (i[0], o[0], o[1], consts[0], p)
            if integer_kernel is not None:
                return getattr(lib, integer_kernel), (i[0], o[0], p, scratch)
            if kind == "max":
                return lib.radrt_maxpool, (i[0], o[0], p, scratch)
            return lib.radrt_avgpool, (i[0], o[0], consts[0], p, scratch)

        return Prepared(self.outputs, invoke, flops=self.flops, constants=self.constants,
                        scratch_bytes=scratch_bytes)


def pool_plan(node, x: TensorInfo, kind: str) -> PoolPlan:
    """Geometry, C parameters and tables of a MaxPool ("max") or AveragePool ("avg") of x
    (any dtype: the caller checks it); the outputs have x's dtype."""
    if x.rank < 3:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank 3, 4 or 5 (N, C, 1 to 3 spatial axes)")
    if x.rank > 5:
        raise unsupported(node, f"input 0 has shape {x.shape}: radrt pools 1 to 3 spatial axes, not {x.rank - 2}")
    kernel, strides, dilations, begin, end, out = pool_geometry(node, x)
    n, c = x.shape[:2]
    y_shape = (n, c) + tuple(out)
    # Outputs are checked (int64, budget) before any table sized by them is built.
    outputs = [output_info(node, y_shape, x.dtype)]
    with_indices = kind == "max" and len(node.outputs) > 1 and bool(node.outputs[1])
    if with_indices:
        outputs.append(output_info(node, y_shape, np.int64, index=1))
    strides = effective_strides(strides, out)
    for i, size in enumerate(x.shape[2:]):
        sizes.check_window_reach(node, i, size, begin[i], end[i], out[i], kernel[i], dilations[i], strides[i])
    count_include_pad = int(node.attr("count_include_pad", 0)) if kind == "avg" else 0
    if count_include_pad not in (0, 1):
        raise node_error(node, f"count_include_pad {count_include_pad} must be 0 or 1")
    lead = 3 - (x.rank - 2)  # leading spatial axes of size 1 make every rank 3-D
    in3 = [1] * lead + list(x.shape[2:])
    out3 = [1] * lead + out
    k3, s3, d3 = [1] * lead + kernel, [1] * lead + strides, [1] * lead + dilations
    b3, e3 = [0] * lead + begin, [0] * lead + end
    # padded plane: the input at the begin pads, room for every window (ceil mode may run past the end pad)
    padded = [max(in3[a] + b3[a], (out3[a] - 1) * s3[a] + (k3[a] - 1) * d3[a] + 1) for a in range(3)]
    params = dict(planes=count(node, (n, c), "input 0 planes (N * C)"), **{"in": in3}, out=out3, kernel=k3,
                  stride=s3, dilation=d3, pad_begin=b3, padded=padded,
                  column_major=int(node.attr("storage_order", 0)))
    if params["column_major"] not in (0, 1):
        raise node_error(node, f"storage_order {params['column_major']} must be 0 or 1")
    # every window position then fits int64, so the table rows below do
    sizes.check_c_fields(node, params, "pooling parameters")
    sizes.check_table(node, sum(out3), RANGE * 8, "pooling window tables")
    plane = count(node, out3, "output plane")  # AveragePool: one divisor per output of a plane
    sizes.check_table(node, plane if kind == "avg" else 0, 4, "divisor table")
    tables = [_axis_table(in3[a], out3[a], k3[a], s3[a], d3[a], b3[a], e3[a]) for a in range(3)]
    if kind == "max" or not count_include_pad:
        for a, t in enumerate(tables):
            empty = np.nonzero(t[:, 2] <= t[:, 1])[0]
            if empty.size:
                axis = a - lead
                raise node_error(node, f"output index {int(empty[0])} on spatial axis {axis} pools a window "
                                       f"that lies entirely in the padding (pads {begin[axis]}, {end[axis]}, "
                                       f"kernel {kernel[axis]}, dilation {dilations[axis]}); expected every "
                                       f"window to cover at least one input element")
    flops = count(node, y_shape, "output") * count(node, kernel, "kernel_shape")
    if with_indices:
        constants = [np.concatenate(tables).reshape(-1)]
    else:
        # AveragePool divisor of each output position: taps inside the input (or the padded input)
        constants = []
        if kind == "avg":
            counts = [t[:, 3] if count_include_pad else t[:, 2] - t[:, 1] for t in tables]
            divisors = np.multiply.outer(np.multiply.outer(counts[0], counts[1]), counts[2]).astype(np.float32)
            constants = [divisors.reshape(-1)]
    return PoolPlan(outputs, params, constants, with_indices, flops)


@register("MaxPool")
def max_pool(node, ins):
    return _pool(node, ins, "max")


@register("AveragePool")
def average_pool(node, ins):
    return _pool(node, ins, "avg")


def _global_pool(node, ins, fn_name):
    x = ins[0]
    require_float32(node, x)
    if x.rank < 3:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank >= 3 (N, C, spatial...)")
    planes = count(node, x.shape[:2], "input 0 planes (N * C)")
    size = count(node, x.shape[2:], "input 0 spatial extent")
    if size == 0:
        raise unsupported(node, f"input 0 has shape {x.shape}: pooling an empty spatial extent is not supported")
    out = output_info(node, x.shape[:2] + (1,) * (x.rank - 2), x.dtype)
    return Prepared([out], lambda lib, i, o, c, s: (getattr(lib, fn_name), (i[0], o[0], planes, size)),
                    flops=x.size)


@register("GlobalMaxPool")
def global_max_pool(node, ins):
    return _global_pool(node, ins, "radrt_global_maxpool")


@register("GlobalAveragePool")
def global_average_pool(node, ins):
    return _global_pool(node, ins, "radrt_global_avgpool")

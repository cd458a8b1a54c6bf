"""The com.microsoft QLinear ops of onnxruntime's QOperator quantizer (CNNs), on uint8
and int8 tensors (C: csrc/kernels/qlinear.c, which states every formula).

How it works: every scale and zero point must be a constant holding one value (per
tensor); prepare reads them and computes, in float32 with numpy, the constants the
kernel needs, in the order onnxruntime computes them, so that the results are
bit-exact with onnxruntime's CPU kernels (MLAS on x86-64):
  - QLinearAdd / QLinearMul: numpy broadcasting by a radrt_bcast_t (elementwise.py);
    Add: ratios A_scale / C_scale, B_scale / C_scale and the fixed part C_zp - (ra * A_zp +
    rb * B_zp) (the sum as one fused multiply-add, as onnxruntime's build computes it),
    then fused multiply-adds per element; Mul: one ratio A_scale * B_scale /
    C_scale times the integer product, plus C_zp;
  - QLinearSigmoid / QLinearLeakyRelu: a 256-byte table built here, table[q] =
    quantize(f(dequantize(q))) (sigmoid as MLAS's rational approximation with fused
    multiply-adds), run by a byte lookup;
  - QLinearConcat: each input through a table that requantizes it to the output's
    scale and zero point, or copied when they are the same;
  - QLinearGlobalAveragePool: an exact integer sum per plane, times
    x_scale / (y_scale * size), rounded (NCHW; channels_last=1 is refused);
  - QLinearAveragePool: per plane, dequantized to float32, the float32 AveragePool
    (runtime/ops/pool.py's geometry and kernel), quantized with rint(v / y_scale + y_zp);
  - QLinearSoftmax: onnxruntime's 256-entry table of float32 exponentials, built here
    with the C library's exp and log (CPython's math module, as onnxruntime calls them)
    for the line length, then per line a float32 sum and quotients scaled by
    floor(1 / y_scale) (qlinear_softmax below). Not always bit-exact: onnxruntime 1.32's
    build rounds a few quotients near .5 differently from its published source, which
    radrt follows (at most 1 step apart; tests/ops/test_qlinear.py measures it).
Rounding is half to even and saturating everywhere. A scale or zero point that is
not a constant, not one value, not float32 / of the data type, or a scale that is
not finite and > 0, is refused naming the node, the input and what was expected.
"""
from typing import Optional

import math

import numpy as np

from . import (Prepared, TensorInfo, count, node_error, normalize_axis, output_info, register, unsupported)
from .elementwise import broadcast_params, broadcast_shape
from .pool import pool_plan
from .. import sizes

MS = "com.microsoft"
UINT8, INT8, FLOAT32 = np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.float32)
C_NAMES = {UINT8: "u8", INT8: "i8"}
f32 = np.float32


def _data(node, info: Optional[TensorInfo], what: str, qtype=None) -> np.dtype:
    """The dtype of a quantized data input: uint8 or int8 (and qtype, when given)."""
    if info is None:
        raise node_error(node, f"{what} is required")
    dtype = np.dtype(info.dtype)
    if dtype not in C_NAMES:
        raise unsupported(node, f"{what} has dtype {dtype.name}; radrt runs {node.op_type} on uint8 and int8",
                          value=dtype.name)
    if qtype is not None and dtype != qtype:
        raise node_error(node, f"{what} has dtype {dtype.name}, expected {np.dtype(qtype).name} like input 0",
                         value=dtype.name)
    return dtype


def _qparams(node, ins, scale_index: int, zp_index: int, what: str, qtype) -> tuple:
    """(scale as float32, zero point as int) of a per-tensor quantization: constants of
    one value each; an omitted zero point is 0."""
    s_info = ins[scale_index] if scale_index < len(ins) else None
    s_name = f"input {scale_index} ({what} scale)"
    if s_info is None:
        raise node_error(node, f"{s_name} is required", attribute=node.inputs[scale_index]
                         if scale_index < len(node.inputs) else None)
    if s_info.value is None:
        raise unsupported(node, f"{s_name} '{node.inputs[scale_index]}' must be a constant (an initializer); "
                                f"radrt compiles the quantization parameters in", attribute=node.inputs[scale_index])
    scale = s_info.value
    if np.dtype(scale.dtype) != FLOAT32:
        raise node_error(node, f"{s_name} has dtype {np.dtype(scale.dtype).name}, expected float32",
                         attribute=node.inputs[scale_index], value=np.dtype(scale.dtype).name)
    if scale.size != 1:
        raise unsupported(node, f"{s_name} has shape {scale.shape}: radrt runs per-tensor quantization only "
                                f"(expected one value)", attribute=node.inputs[scale_index], value=scale.shape)
    s = f32(scale.reshape(-1)[0])
    if not np.isfinite(s) or s <= 0:
        raise node_error(node, f"{s_name} is {float(s)}, expected a finite value > 0",
                         attribute=node.inputs[scale_index], value=float(s))
    z_info = ins[zp_index] if zp_index < len(ins) else None
    if z_info is None:
        return s, 0
    z_name = f"input {zp_index} ({what} zero point)"
    if z_info.value is None:
        raise unsupported(node, f"{z_name} '{node.inputs[zp_index]}' must be a constant (an initializer); "
                                f"radrt compiles the quantization parameters in", attribute=node.inputs[zp_index])
    zp = z_info.value
    if np.dtype(zp.dtype) != np.dtype(qtype):
        raise node_error(node, f"{z_name} has dtype {np.dtype(zp.dtype).name}, expected {np.dtype(qtype).name} "
                               f"(the data type)", attribute=node.inputs[zp_index], value=np.dtype(zp.dtype).name)
    if zp.size != 1:
        raise unsupported(node, f"{z_name} has shape {zp.shape}: radrt runs per-tensor quantization only "
                                f"(expected one value)", attribute=node.inputs[zp_index], value=zp.shape)
    return s, int(zp.reshape(-1)[0])


def _arity(node, ins, lo: int, hi: int) -> None:
    if not lo <= len(ins) <= hi:
        raise node_error(node, f"has {len(ins)} inputs, expected {lo} to {hi}", value=len(ins))


def quantize_table(values: np.ndarray, scale, zero_point: int, qtype) -> np.ndarray:
    """MlasQuantizeLinear of float32 values: rint(v / scale) + zero point, saturated."""
    info = np.iinfo(qtype)
    q = np.rint((values.astype(f32) / f32(scale)).astype(f32)).astype(np.float64) + zero_point
    return np.clip(q, info.min, info.max).astype(qtype)


def dequantized_bytes(scale, zero_point: int, qtype) -> np.ndarray:
    """The float32 value of each byte 0..255 read as qtype: scale * (q - zero point)."""
    q = np.arange(256, dtype=np.uint8).view(qtype).astype(np.int32)
    return (f32(scale) * (q - zero_point).astype(f32)).astype(f32)


# ---- QLinearAdd, QLinearMul --------------------------------------------------------------

@register("QLinearAdd", "QLinearMul", domain=MS)
def qlinear_binary(node, ins):
    _arity(node, ins, 7, 8)
    qtype = _data(node, ins[0], "input 0 (A)")
    _data(node, ins[3], "input 3 (B)", qtype)
    a, b = ins[0], ins[3]
    sa, za = _qparams(node, ins, 1, 2, "A", qtype)
    sb, zb = _qparams(node, ins, 4, 5, "B", qtype)
    sc, zc = _qparams(node, ins, 6, 7, "C", qtype)
    out = broadcast_shape(node, [a.shape, b.shape])
    y = output_info(node, out, qtype)
    n = count(node, out, "output")
    from .._core import ffi
    p = ffi.new("radrt_qbinary_t *")
    p.shape = broadcast_params(node, 0, out, a.shape, b.shape)[0]
    p.zp_a, p.zp_b = za, zb
    if node.op_type == "QLinearAdd":
        ra, rb = f32(sa / sc), f32(sb / sc)
        p.ratio_a, p.ratio_b = ra, rb
        # onnxruntime's build contracts ra * A_zp + rb * B_zp into fma(rb, B_zp, ra * A_zp)
        p.fixed = f32(f32(zc) - _fma(rb, f32(zb), f32(ra * f32(za))))
        kernel = f"radrt_qlinear_add_{C_NAMES[qtype]}"
    else:
        p.ratio_a, p.ratio_b = f32(f32(sa * sb) / sc), f32(0)
        p.fixed = f32(zc)
        kernel = f"radrt_qlinear_mul_{C_NAMES[qtype]}"

    def invoke(lib, i, o, c, scratch):
        return getattr(lib, kernel), (p, i[0], i[3], o[0])

    return Prepared([y], invoke, flops=3 * n, unread_inputs=(1, 2, 4, 5, 6, 7))


# ---- table ops: QLinearSigmoid, QLinearLeakyRelu ----------------------------------------------

def _fma(a, b, c) -> np.ndarray:
    """float32 fused multiply-add (the product exact in float64, one rounding at the end)."""
    return (np.float64(a) * np.float64(b) + np.float64(c)).astype(f32)


# MLAS's logistic (onnxruntime/core/mlas/lib/logistic.cpp, Eigen's coefficients); on
# x86-64 with FMA3 its kernel uses fused multiply-adds, as here.
_LOGISTIC_ALPHA = [f32(v) for v in (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
                                    8.51377133304701e-03, 2.48287947061529e-01)]
_LOGISTIC_BETA = [f32(v) for v in (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
                                   1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)]


def mlas_logistic(x: np.ndarray) -> np.ndarray:
    v = np.clip(x.astype(f32), f32(-18.0), f32(18.0)).astype(f32)
    v2 = (v * v).astype(f32)
    p = _fma(v2, _LOGISTIC_ALPHA[0], _LOGISTIC_ALPHA[1])
    for c in _LOGISTIC_ALPHA[2:]:
        p = _fma(p, v2, c)
    p = (p * v).astype(f32)
    q = _fma(v2, _LOGISTIC_BETA[0], _LOGISTIC_BETA[1])
    for c in _LOGISTIC_BETA[2:]:
        q = _fma(q, v2, c)
    return np.clip(((p / q).astype(f32) + f32(0.5)).astype(f32), f32(0), f32(1)).astype(f32)


def _leaky_relu(alpha):
    def f(x):
        return np.where(x >= 0, x, (x * f32(alpha)).astype(f32)).astype(f32)
    return f


def _lookup(node, ins, fn) -> Prepared:
    _arity(node, ins, 4, 5)
    qtype = _data(node, ins[0], "input 0 (X)")
    sx, zx = _qparams(node, ins, 1, 2, "X", qtype)
    sy, zy = _qparams(node, ins, 3, 4, "Y", qtype)
    x = ins[0]
    y = output_info(node, x.shape, qtype)
    n = count(node, x.shape, "input 0")
    with np.errstate(all="ignore"):
        table = quantize_table(fn(dequantized_bytes(sx, zx, qtype)), sy, zy, qtype).view(np.uint8)
    return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_qlinear_lookup, (i[0], o[0], c[0], n)),
                    flops=n, constants=[np.ascontiguousarray(table)], unread_inputs=(1, 2, 3, 4))


@register("QLinearSigmoid", domain=MS)
def qlinear_sigmoid(node, ins):
    return _lookup(node, ins, mlas_logistic)


@register("QLinearLeakyRelu", domain=MS)
def qlinear_leaky_relu(node, ins):
    alpha = node.attr("alpha", 0.01)
    if not np.isfinite(alpha):
        raise node_error(node, f"alpha {alpha} is not finite", attribute="alpha", value=alpha)
    return _lookup(node, ins, _leaky_relu(alpha))


# ---- QLinearConcat ------------------------------------------------------------------------

@register("QLinearConcat", domain=MS)
def qlinear_concat(node, ins):
    if len(ins) < 5 or (len(ins) - 2) % 3:
        raise node_error(node, f"has {len(ins)} inputs, expected Y_scale, Y_zero_point and then one or more "
                               f"triples (X, X_scale, X_zero_point)", value=len(ins))
    xs = ins[2::3]
    qtype = _data(node, xs[0], "input 2 (X 0)")
    for k, x in enumerate(xs[1:], 1):
        _data(node, x, f"input {2 + 3 * k} (X {k})", qtype)
    sy, zy = _qparams(node, ins, 0, 1, "Y", qtype)
    rank = xs[0].rank
    if "axis" not in node.attrs:
        raise node_error(node, "attribute axis is missing", attribute="axis")
    axis = normalize_axis(node, int(node.attr("axis")), rank)
    for k, x in enumerate(xs):
        if x.rank != rank or any(d != e for j, (d, e) in enumerate(zip(x.shape, xs[0].shape)) if j != axis):
            raise node_error(node, f"input X {k} has shape {x.shape}, expected {xs[0].shape} except along "
                                   f"axis {axis}", value=x.shape)
    out_shape = list(xs[0].shape)
    out_shape[axis] = sum(x.shape[axis] for x in xs)
    y = output_info(node, out_shape, qtype)
    outer = count(node, out_shape[:axis], "outer dims")
    inner = count(node, out_shape[axis + 1:], "inner dims")
    blocks = np.array([sizes.element_count((x.shape[axis], inner), "input block", node) for x in xs], np.int64)
    tables, which = [], []
    for k in range(len(xs)):
        sx, zx = _qparams(node, ins, 3 + 3 * k, 4 + 3 * k, f"X {k}", qtype)
        if sx == sy and zx == zy:
            which.append(None)
        else:
            which.append(len(tables))
            tables.append(quantize_table(dequantized_bytes(sx, zx, qtype), sy, zy, qtype).view(np.uint8).copy())
    from .._core import ffi
    n_in = len(xs)

    def invoke(lib, i, o, c, scratch):
        inputs = ffi.new("const uint8_t *[]", [ffi.cast("const uint8_t *", i[2 + 3 * k]) for k in range(n_in)])
        tabs = ffi.new("const uint8_t *[]", [ffi.NULL if w is None else ffi.cast("const uint8_t *", c[w])
                                             for w in which])
        return lib.radrt_qlinear_concat, (inputs, tabs, c[len(tables)], n_in, outer, o[0])

    unread = tuple(k for k in range(len(ins)) if k < 2 or (k - 2) % 3)
    return Prepared([y], invoke, flops=count(node, out_shape, "output"), constants=tables + [blocks],
                    unread_inputs=unread)


# ---- pools --------------------------------------------------------------------------------

def _channels_first(node) -> None:
    if int(node.attr("channels_last", 0)) != 0:
        raise unsupported(node, "channels_last=1 (NHWC) is not supported; radrt pools NCHW tensors "
                                "(channels_last=0)", attribute="channels_last", value=node.attr("channels_last"))


@register("QLinearGlobalAveragePool", domain=MS)
def qlinear_global_average_pool(node, ins):
    _arity(node, ins, 4, 5)
    _channels_first(node)
    qtype = _data(node, ins[0], "input 0 (X)")
    sx, zx = _qparams(node, ins, 1, 2, "X", qtype)
    sy, zy = _qparams(node, ins, 3, 4, "Y", qtype)
    x = ins[0]
    if x.rank < 3:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank >= 3 (N, C, spatial...)")
    planes = count(node, x.shape[:2], "input 0 planes (N * C)")
    size = count(node, x.shape[2:], "input 0 spatial extent")
    if size == 0:
        raise unsupported(node, f"input 0 has shape {x.shape}: pooling an empty spatial extent is not supported")
    y = output_info(node, x.shape[:2] + (1,) * (x.rank - 2), qtype)
    scale = f32(sx / f32(sy * f32(size)))
    kernel = f"radrt_qlinear_global_avgpool_{C_NAMES[qtype]}"
    return Prepared([y], lambda lib, i, o, c, s: (getattr(lib, kernel), (i[0], o[0], planes, size, zx, scale, zy)),
                    flops=x.size, unread_inputs=(1, 2, 3, 4))


@register("QLinearAveragePool", domain=MS)
def qlinear_average_pool(node, ins):
    _arity(node, ins, 4, 5)
    _channels_first(node)
    qtype = _data(node, ins[0], "input 0 (X)")
    sx, zx = _qparams(node, ins, 1, 2, "X", qtype)
    sy, zy = _qparams(node, ins, 3, 4, "Y", qtype)
    x = ins[0]
    if x.rank > 5:
        raise unsupported(node, f"input 0 has shape {x.shape}: radrt pools 1 to 3 spatial axes, not {x.rank - 2}")
    plan = pool_plan(node, x, "avg")
    from .._core import ffi, lib
    params = plan.params
    scratch_bytes = sizes.c_scratch_floats(
        node, lib.radrt_pool_plane_scratch_floats(ffi.new("radrt_pool_params *", params)),
        "dequantized plane and padded plane scratch")
    kernel = f"radrt_qlinear_avgpool_{C_NAMES[qtype]}"

    def invoke(lib, i, o, consts, scratch):
        p = ffi.new("radrt_pool_params *", params)
        return getattr(lib, kernel), (i[0], o[0], consts[0], p, sx, zx, sy, zy, scratch)

    return Prepared(plan.outputs, invoke, flops=plan.flops + 3 * x.size, constants=plan.constants,
                    scratch_bytes=scratch_bytes, unread_inputs=(1, 2, 3, 4))


# ---- QLinearSoftmax -------------------------------------------------------------------------

def softmax_table(x_scale, length: int) -> np.ndarray:
    """onnxruntime's QLinearSoftmax table (QlinearBuildLookupTableUint32, float flavour):
    entry k is exp(d * x_scale + (log(FLT_MAX / length) - 5)) for d = k - 255 = x - max(x),
    in double (the shift's division by x_scale and product by it kept, as there), rounded
    to float32. The line's maximum reads FLT_MAX / (length e^5), so a float32 sum of
    `length` entries stays finite. FLT_MAX / length is a float32 division, as in C++."""
    quotient = float(f32(np.finfo(f32).max) / f32(length))
    scale = float(f32(x_scale))
    shift = max(0.0, math.log(quotient) - 5.0) / scale
    return np.array([math.exp(((k - 255.0) + shift) * scale) for k in range(256)], f32)


@register("QLinearSoftmax", domain=MS)
def qlinear_softmax(node, ins):
    """Inputs X, X_scale, X_zero_point (optional; it cancels in x - max(x)), Y_scale,
    Y_zero_point (optional); attribute opset (required, as onnxruntime requires it) picks
    the Softmax semantics: < 13 coerces to 2-D at axis, >= 13 normalises along the one axis.
    axis defaults to -1 for either: the contrib schema's default, which onnxruntime fills in
    before its kernel's own opset-dependent default (1 below 13) could apply. The tensor is
    viewed as (outer, len, inner) like Softmax."""
    _arity(node, ins, 4, 5)
    qtype = _data(node, ins[0], "input 0 (X)")
    sx = _qparams(node, ins, 1, 2, "X", qtype)[0]
    sy, zy = _qparams(node, ins, 3, 4, "Y", qtype)
    if "opset" not in node.attrs:
        raise node_error(node, "attribute opset is missing (it picks the Softmax semantics: < 13 coerces "
                               "to 2-D at axis, >= 13 one axis)", attribute="opset")
    legacy = int(node.attr("opset")) < 13
    x = ins[0]
    axis = normalize_axis(node, int(node.attr("axis", -1)), x.rank)
    y = output_info(node, x.shape, qtype)
    outer = count(node, x.shape[:axis], "outer dims")
    if legacy:
        length, inner = count(node, x.shape[axis:], "normalised dims"), 1
    else:
        length, inner = count(node, x.shape[axis:axis + 1], "axis"), count(node, x.shape[axis + 1:], "inner dims")
    # an empty line has no table (FLT_MAX / 0); the kernel then reads nothing
    table = softmax_table(sx, length) if length else np.zeros(256, f32)
    y_mult = f32(np.floor(f32(1.0) / sy))
    # A line's maximum reads table[255]; when table[255] * y_mult overflows float32 (a short
    # line, a small y_scale) both it and the sum are scaled by 2^-64, exactly: the quotient
    # is then the one unbounded float32 gives, as onnxruntime 1.32 returns.
    with np.errstate(over="ignore"):
        sum_scale = f32(1.0) if np.isfinite(f32(table[255] * y_mult)) else f32(2.0 ** -64)
    y_mult = f32(y_mult * sum_scale)
    kernel = f"radrt_qlinear_softmax_{C_NAMES[qtype]}"
    return Prepared([y], lambda lib, i, o, c, s: (getattr(lib, kernel), (i[0], o[0], c[0], outer, length, inner,
                                                                          y_mult, sum_scale, zy)),
                    flops=4 * x.size, constants=[table], unread_inputs=(1, 2, 3, 4))

"""Integer kernels of int8 models (C: csrc/kernels/integer.c, whose header states the
arithmetic): ConvInteger and MatMulInteger (int32 output), QLinearConv, QLinearMatMul and
com.microsoft QGemm (requantized uint8/int8, or QGemm's float32, output),
DynamicQuantizeLinear.

Operands are int8 or uint8 (each with its own zero point), products accumulate in int32.
Constant weights are packed here once (radrt_qconv_pack / radrt_qmatmul_pack: int8 rows in
the product's order with their zero points and sums) and stay one byte per weight in the
weights region; runtime weights are packed into scratch at each call. The kernel
normalises the activations to uint8 and corrects its dot products for the zero points
(per tensor, or per output channel / column for the weights). The sum is exact: a shape,
weights or constant bias whose sum could leave int32 (K x 255 x 255 for runtime weights;
sum |w - zp| x 255 per output for constant ones; plus the largest |bias|) is refused with
an UnsupportedOpError naming K, never wrapped (onnxruntime wraps there).

Requantization (QLinear*): y = saturate(round_half_even(float(acc + bias) * multiplier) +
y_zero_point) with multiplier = x_scale * w_scale / y_scale in float32 (QGemm: alpha *
a_scale * b_scale, then / y_scale), per output channel or column when w_scale is, as
onnxruntime computes it; a multiplier that is not finite is a CompileError. The scales,
the weights' zero points and a bias must be constants (initializers, or fed inputs the
session compiles on: see runtime.compile.PARAMETER_INPUTS); the input's zero point may be
computed at run time (DynamicQuantizeLinear feeding ConvInteger, the dynamic pattern).
Not supported (UnsupportedOpError): MatMulInteger's per-row a_zero_point, B with batch
dims that differ from A's, a runtime transposed B, 16-bit and 4-bit integer types.
"""
from typing import Optional

import numpy as np

from . import AbftSpec, Prepared, TensorInfo, count, node_error, output_info, register, unsupported
from .conv import conv_output, spatial_attrs, to3, unused_steps_to_one
from .. import sizes

INT8, UINT8, INT32, FLOAT32 = (np.dtype(t) for t in (np.int8, np.uint8, np.int32, np.float32))
INT32_MAX = 2 ** 31 - 1
WIDEST = 255   # the largest |q - zero_point| of an int8 or uint8 value


def _lib():
    from .._core import ffi, lib
    return ffi, lib


def _packed(node, rows: int, k: int, pack) -> np.ndarray:
    """The packed-weights block (csrc/kernels/integer.h) of `rows` rows of K, filled by
    `pack(pointer)` (radrt_qconv_pack or radrt_qmatmul_pack)."""
    ffi, lib = _lib()
    out = np.zeros(sizes.c_scratch_bytes(node, lib.radrt_qweights_bytes(rows, k), "packed int8 weights"), np.uint8)
    pack(ffi.from_buffer("uint8_t[]", out))
    return out


def _quantized(node, info: Optional[TensorInfo], what: str) -> TensorInfo:
    if info is None:
        raise node_error(node, f"{what} is required")
    if np.dtype(info.dtype) not in (INT8, UINT8):
        raise unsupported(node, f"{what} has dtype {np.dtype(info.dtype).name}, expected int8 or uint8")
    return info


def _zero_point_input(node, ins, index: int, operand: TensorInfo, what: str) -> Optional[TensorInfo]:
    """Zero point input `index` (None when absent), checked to have its operand's type."""
    info = ins[index] if len(ins) > index else None
    if info is not None and np.dtype(info.dtype) != np.dtype(operand.dtype):
        raise node_error(node, f"{what} has dtype {np.dtype(info.dtype).name}, expected "
                               f"{np.dtype(operand.dtype).name} like its operand")
    return info


def _zero_point_of(node, ins, index: int, operand: TensorInfo, what: str, per: int) -> Optional[np.ndarray]:
    """The constant zero point input `index` as int32 [1 or per] (None when absent), of the
    operand's type."""
    info = _zero_point_input(node, ins, index, operand, what)
    if info is None:
        return None
    if info.value is None:
        raise unsupported(node, f"{what} must be a constant (an initializer or a fed input the session "
                                f"compiles on)")
    v = np.asarray(info.value).reshape(-1).astype(np.int32)
    if v.size not in (1, per):
        raise node_error(node, f"{what} has {v.size} values, expected 1 or {per}", value=v.size)
    return v


def _runtime_zero_point(node, ins, index: int, operand: TensorInfo, what: str) -> Optional[TensorInfo]:
    """The scalar zero point of a runtime operand (read by the kernel at run time), or None."""
    info = _zero_point_input(node, ins, index, operand, what)
    if info is None:
        return None
    if info.size != 1:
        raise unsupported(node, f"{what} has shape {info.shape}; radrt supports one zero point for this "
                                f"operand (per tensor)")
    return info


def _scale(node, info: Optional[TensorInfo], what: str, per: int) -> np.ndarray:
    if info is None or info.value is None:
        raise unsupported(node, f"{what} must be a constant (an initializer or a fed input the session compiles on)")
    s = np.asarray(info.value).reshape(-1)
    if s.dtype != FLOAT32:
        raise node_error(node, f"{what} has dtype {s.dtype.name}, expected float32")
    if s.size not in (1, per):
        raise node_error(node, f"{what} has {s.size} values, expected 1 or {per}", value=s.size)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise node_error(node, f"{what} {s.tolist()[:8]} must be finite and > 0")
    return s


def _multiplier(x_scale, w_scale, y_scale) -> np.ndarray:
    """x_scale * w_scale / y_scale in float32, in onnxruntime's order."""
    return np.ascontiguousarray((np.float32(x_scale[0]) * w_scale.astype(np.float32)) / np.float32(y_scale[0]),
                                np.float32)


def _check_sum_bound(node, widened: Optional[np.ndarray], k: int, bias: Optional[np.ndarray] = None) -> None:
    """UnsupportedOpError when an int32 sum could overflow: per output, sum |w - zp| x 255
    (constant weights, one row per output) or K x 255 x 255 (runtime weights), plus the
    largest |bias| (the spec adds the int32 bias to the int32 accumulator; onnxruntime
    wraps there, radrt refuses); and the kernel's raw uint8 x int8 dot product, K x 255 x
    128 (csrc/kernels/integer.c)."""
    if widened is None or not widened.size:
        worst = k * WIDEST * WIDEST
        what = f"K = {k} products of up to {WIDEST} x {WIDEST}"
    else:
        worst = int(np.abs(widened.astype(np.int64)).sum(axis=1).max(initial=0)) * WIDEST
        what = f"weights whose largest sum of |w - zero point| over K = {k} is {worst // WIDEST}, times {WIDEST}"
    if bias is not None and bias.size:
        largest = int(np.abs(bias.astype(np.int64)).max())
        worst += largest
        what += f", plus a bias of magnitude {largest}"
    if k * WIDEST * 128 > worst:
        worst, what = k * WIDEST * 128, f"the kernel's raw dot product over K = {k}, {k} x {WIDEST} x 128"
    if worst > INT32_MAX:
        raise unsupported(node, f"the int32 accumulator could overflow ({what} = {worst} > {INT32_MAX})",
                          value=k)


def _check_multiplier(node, scale: np.ndarray, what: str) -> None:
    """CompileError for a requantization multiplier that is not finite (scales whose
    product or quotient overflows float32, a NaN or infinite alpha)."""
    if not np.all(np.isfinite(scale)):
        raise node_error(node, f"the output multiplier {what} = {scale.tolist()[:8]} is not finite (float32)",
                         value=float(scale.reshape(-1)[~np.isfinite(scale.reshape(-1))][0]))


def _out_kind(node, y_zp: Optional[TensorInfo]) -> int:
    _, lib = _lib()
    if y_zp is None:
        return lib.RADRT_QOUT_U8
    return lib.RADRT_QOUT_I8 if np.dtype(y_zp.dtype) == INT8 else lib.RADRT_QOUT_U8


def _conv(node, ins, x_index, w_index, x_zp_index, w_zp_index, requant):
    ffi, lib = _lib()
    x = _quantized(node, ins[x_index] if len(ins) > x_index else None, f"input {x_index} (x)")
    w = _quantized(node, ins[w_index] if len(ins) > w_index else None, f"input {w_index} (w)")
    if x.rank not in (3, 4, 5) or w.rank != x.rank:
        raise unsupported(node, f"x {x.shape} and w {w.shape}: expected equal ranks 3, 4 or 5 (1-D to 3-D)")
    spatial = x.rank - 2
    batch, cin = x.shape[:2]
    cout = w.shape[0]
    group = int(node.attr("group", 1))
    if group < 1 or cin % group or cout % group:
        raise node_error(node, f"group {group} must divide input channels {cin} and output channels {cout}")
    if w.shape[1] != cin // group:
        raise node_error(node, f"w has shape {w.shape}, expected dim 1 = input channels / group = {cin // group}")
    kernel, strides, dilations, begin, end, auto_pad = spatial_attrs(node, spatial, w.shape[2:])
    if any(k < 1 for k in kernel):
        raise node_error(node, f"w has shape {w.shape}, expected kernel sizes >= 1")
    out, pads = conv_output(node, x.shape[2:], kernel, strides, dilations, begin, end, auto_pad)
    for i, size in enumerate(x.shape[2:]):
        sizes.check_window_reach(node, i, size, begin[i], end[i], out[i], kernel[i], dilations[i], strides[i])
    strides, dilations = unused_steps_to_one(out, kernel, strides, dilations)
    k_size = sizes.checked_mul(cin // group, count(node, kernel, "kernel"), what="inner size K", node=node)

    x_zp = _runtime_zero_point(node, ins, x_zp_index, x, f"input {x_zp_index} (x_zero_point)")
    w_zp = _zero_point_of(node, ins, w_zp_index, w, f"input {w_zp_index} (w_zero_point)", cout)
    w_zp_rows = np.ascontiguousarray(np.zeros(cout, np.int32) if w_zp is None else
                                     np.broadcast_to(w_zp, (cout,)).astype(np.int32))
    widened = None
    if w.value is not None:
        widened = np.asarray(w.value).reshape(cout, k_size).astype(np.int32) - w_zp_rows[:, None]
    _check_sum_bound(node, widened, k_size)

    scale, y_zero, bias, out_kind, per_channel = None, 0, None, lib.RADRT_QOUT_I32, 0
    if requant:
        x_scale = _scale(node, ins[1], "input 1 (x_scale)", 1)
        w_scale = _scale(node, ins[4], "input 4 (w_scale)", cout)
        y_scale = _scale(node, ins[6], "input 6 (y_scale)", 1)
        y_zp = _y_zero_point(node, ins, 7)
        out_kind = _out_kind(node, y_zp)
        y_zero = int(np.asarray(y_zp.value).reshape(-1)[0]) if y_zp is not None else 0
        scale = _multiplier(x_scale, w_scale, y_scale)
        per_channel = int(scale.size > 1)
        _check_multiplier(node, scale, "x_scale x w_scale / y_scale")
        bias = ins[8] if len(ins) > 8 else None
        if bias is not None and (np.dtype(bias.dtype) != INT32 or bias.shape != (cout,)):
            raise node_error(node, f"input 8 (B) has shape {bias.shape} and dtype {np.dtype(bias.dtype).name}, "
                                   f"expected ({cout},) int32")
        if bias is not None and bias.value is None:
            raise unsupported(node, "input 8 (B) must be a constant (an initializer or a fed input the session "
                                    "compiles on): the int32 overflow check needs its values")
        if bias is not None:
            _check_sum_bound(node, widened, k_size, bias.value)
    y_dtype = {lib.RADRT_QOUT_I32: INT32, lib.RADRT_QOUT_U8: UINT8, lib.RADRT_QOUT_I8: INT8}[out_kind]
    y = output_info(node, (batch, cout) + tuple(out), y_dtype)

    fields = dict(batch=batch, in_channels=cin, out_channels=cout, group=group,
                  geom=dict(channels=cin // group, **{"in": to3(x.shape[2:], 1)}, out=to3(out, 1),
                            kernel=to3(kernel, 1), stride=to3(strides, 1), pad=to3(pads, 0),
                            dilation=to3(dilations, 1)),
                  x_signed=int(np.dtype(x.dtype) == INT8), w_signed=int(np.dtype(w.dtype) == INT8),
                  w_packed=int(w.value is not None), out_kind=out_kind, scale_per_channel=per_channel,
                  y_zero_point=y_zero)
    sizes.check_c_fields(node, fields, "convolution parameters")
    scratch = sizes.c_scratch_bytes(node, lib.radrt_qconv_scratch_bytes(ffi.new("radrt_qconv_params *", fields)),
                                    "integer convolution scratch")
    if w.value is not None:   # packed once: int8 rows in the product's order (csrc/kernels/integer.h)
        raw = np.ascontiguousarray(w.value)
        constants = [_packed(node, cout, k_size, lambda out: lib.radrt_qconv_pack(
            ffi.new("radrt_qconv_params *", fields), ffi.from_buffer(raw), ffi.from_buffer("int32_t[]", w_zp_rows),
            out))]
    else:
        constants = [w_zp_rows]
    if requant:
        constants.append(scale)
    abft = None
    if w.value is not None:   # exact checksums (csrc/kernels/integer.h): golden sums in the packed k order
        depthwise = cin // group == 1 and group > 1
        taps = count(node, kernel, "kernel")
        in_packed_order = widened.reshape(cout, cin // group, taps).transpose(0, 2, 1)
        constants.append(_weight_sums(in_packed_order.reshape(group, cout // group, k_size)))
        abft = AbftSpec(side=lib.RADRT_ABFT_EXACT, K=k_size, groups=group, wsum=len(constants) - 1, wabs=None,
                        bias_sum=(), bias_abs=(), work_floats=0, packed_weights=None,
                        checksums=batch * (cout if depthwise else group * count(node, out, "output")))

    def invoke(lib, i, o, c, scratch_ptr, abft=None):
        p = ffi.new("radrt_qconv_params *", fields)
        xz = i[x_zp_index] if x_zp is not None else ffi.NULL
        sp = c[1] if requant else ffi.NULL
        bp = i[8] if bias is not None else ffi.NULL
        wp, w_zero = (c[0], ffi.NULL) if w.value is not None else (i[w_index], c[0])
        return lib.radrt_qconv, (p, i[x_index], xz, wp, w_zero, bp, sp, o[0], scratch_ptr,
                                 ffi.NULL if abft is None else abft)

    unread = (w_index, w_zp_index) if w.value is not None else (w_zp_index,)
    if requant:
        unread += (1, 4, 6, 7)
    return Prepared([y], invoke, flops=2 * batch * cout * count(node, out, "output") * k_size,
                    constants=constants, scratch_bytes=scratch, unread_inputs=unread, abft=abft)


def _weight_sums(rows: np.ndarray) -> np.ndarray:
    """The golden sums of exact ABFT (csrc/kernels/integer.h): for weight rows minus their
    zero points, (groups, rows, K) integers, the int32 sums over each group's rows
    (groups x K, modulo 2^32)."""
    return np.ascontiguousarray(rows.astype(np.int64).sum(axis=1).reshape(-1).astype(np.uint32).view(np.int32))


@register("ConvInteger")
def conv_integer(node, ins):
    return _conv(node, ins, 0, 1, 2, 3, requant=False)


@register("QLinearConv")
def qlinear_conv(node, ins):
    if len(ins) < 8 or any(ins[k] is None for k in (0, 1, 3, 4, 6)):
        raise node_error(node, "inputs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point "
                               "are required (x_scale, w and the scales present)")
    return _conv(node, ins, 0, 3, 2, 5, requant=True)


def _y_zero_point(node, ins, index: int) -> Optional[TensorInfo]:
    info = ins[index] if len(ins) > index else None
    if info is not None and (info.value is None or info.size != 1 or np.dtype(info.dtype) not in (INT8, UINT8)):
        raise unsupported(node, f"input {index} (y_zero_point) must be one constant int8 or uint8 value")
    return info


def _matmul(node, ins, names, trans_a=False, trans_b=False, alpha=1.0, output="int32"):
    """MatMulInteger, QLinearMatMul and QGemm: Y = A B (A, B optionally transposed 2-D
    matrices) with `names` = {input role: index} (a, b, a_zp, b_zp; and a_scale, b_scale,
    y_scale, y_zp, bias for the requantizing ops). output: "int32", "quantized" or
    "float" (QGemm without y_scale: (acc + bias) x alpha x a_scale x b_scale)."""
    ffi, lib = _lib()
    a = _quantized(node, ins[names["a"]] if len(ins) > names["a"] else None, f"input {names['a']} (A)")
    b = _quantized(node, ins[names["b"]] if len(ins) > names["b"] else None, f"input {names['b']} (B)")
    if a.rank < 2 or b.rank < 2:
        raise unsupported(node, f"inputs have shapes {a.shape} and {b.shape}; radrt needs rank >= 2 for both")
    if (trans_a or trans_b) and (a.rank != 2 or b.rank != 2):
        raise node_error(node, f"inputs have shapes {a.shape} and {b.shape}, expected rank 2")
    m, k = a.shape[-2:][::-1] if trans_a else a.shape[-2:]
    kb, n = b.shape[-2:][::-1] if trans_b else b.shape[-2:]
    if k != kb:
        raise node_error(node, f"A {a.shape} and B {b.shape} (transA={int(trans_a)}, transB={int(trans_b)}): "
                               f"inner dimensions {k} and {kb} differ")
    if b.rank > 2 and tuple(b.shape[:-2]) != tuple(a.shape[:-2]):
        raise unsupported(node, f"B {b.shape} has batch dims that differ from A's {a.shape}; radrt multiplies "
                                f"by one 2-D B or by one B per A matrix")
    if trans_b and b.value is None:
        raise unsupported(node, "a transposed B (transB=1) must be a constant")
    batch = count(node, a.shape[:-2], "batch dims")
    a_zp = _runtime_zero_point(node, ins, names["a_zp"], a, f"input {names['a_zp']} (a_zero_point)")
    b_zp = _zero_point_of(node, ins, names["b_zp"], b, f"input {names['b_zp']} (b_zero_point)", n)
    b_zp_cols = np.zeros(n, np.int32) if b_zp is None else np.broadcast_to(b_zp, (n,)).astype(np.int32)
    constants, rows = [np.ascontiguousarray(b_zp_cols)], None
    if b.value is not None:
        value = np.asarray(b.value)
        transposed = np.ascontiguousarray(value if trans_b else np.swapaxes(value, -1, -2))   # (..., N, K)
        constants.append(transposed)
        rows = transposed.reshape(-1, n, k).astype(np.int32) - b_zp_cols[None, :, None] if n and k else None
        _check_sum_bound(node, None if rows is None else rows.reshape(-1, k), k)
    else:
        _check_sum_bound(node, None, k)

    out_kind, y_zero, per_column, bias, bias_strides = lib.RADRT_QOUT_I32, 0, 0, None, (0, 0)
    unread = (names["b"], names["b_zp"]) if b.value is not None else (names["b_zp"],)
    if output != "int32":
        a_scale = _scale(node, ins[names["a_scale"]], f"input {names['a_scale']} (a_scale)", 1)
        b_scale = _scale(node, ins[names["b_scale"]], f"input {names['b_scale']} (b_scale)", n)
        y_scale = None
        if output == "quantized":
            y_scale = _scale(node, ins[names["y_scale"]], f"input {names['y_scale']} (y_scale)", 1)
            y_zp = _y_zero_point(node, ins, names["y_zp"])
            out_kind = _out_kind(node, y_zp)
            y_zero = int(np.asarray(y_zp.value).reshape(-1)[0]) if y_zp is not None else 0
            unread += (names["y_scale"], names["y_zp"])
        else:
            out_kind = lib.RADRT_QOUT_F32
        # onnxruntime's order: alpha x a_scale x b_scale, then / y_scale
        scale = (np.float32(alpha) * np.float32(a_scale[0])) * b_scale.astype(np.float32)
        if y_scale is not None:
            scale = scale / np.float32(y_scale[0])
        scale = np.ascontiguousarray(scale, np.float32)
        _check_multiplier(node, scale, "alpha x a_scale x b_scale" + (" / y_scale" if y_scale is not None else ""))
        per_column = int(scale.size > 1)
        constants.append(scale)
        unread += (names["a_scale"], names["b_scale"])
        bias = ins[names["bias"]] if "bias" in names and len(ins) > names["bias"] else None
        if bias is not None:
            if np.dtype(bias.dtype) != INT32:
                raise node_error(node, f"input {names['bias']} (C) has dtype {np.dtype(bias.dtype).name}, "
                                       f"expected int32")
            try:
                st = np.broadcast_to(np.empty(bias.shape, np.int32), (m, n)).strides
            except ValueError:
                raise node_error(node, f"input {names['bias']} (C) has shape {bias.shape}, expected one that "
                                       f"broadcasts to ({m}, {n})") from None
            bias_strides = (st[0] // 4, st[1] // 4)
            if bias.value is None:
                raise unsupported(node, f"input {names['bias']} (C) must be a constant: the int32 overflow check "
                                        f"needs its values")
            _check_sum_bound(node, None if rows is None else rows.reshape(-1, k), k, bias.value)
    y_dtype = {lib.RADRT_QOUT_I32: INT32, lib.RADRT_QOUT_U8: UINT8, lib.RADRT_QOUT_I8: INT8,
               lib.RADRT_QOUT_F32: FLOAT32}[out_kind]
    y = output_info(node, tuple(a.shape[:-2]) + (m, n), y_dtype)
    fields = dict(batch=batch, M=m, N=n, K=k, a_signed=int(np.dtype(a.dtype) == INT8),
                  a_rs=1 if trans_a else k, a_cs=m if trans_a else 1,
                  b_signed=int(np.dtype(b.dtype) == INT8), b_transposed=int(b.value is not None),
                  b_packed=int(b.value is not None and b.rank == 2),
                  b_batch_stride=k * n if b.rank > 2 else 0, out_kind=out_kind, scale_per_column=per_column,
                  y_zero_point=y_zero, bias_rs=bias_strides[0], bias_cs=bias_strides[1])
    sizes.check_c_fields(node, fields, "matrix product parameters")
    scratch = sizes.c_scratch_bytes(node, lib.radrt_qmatmul_scratch_bytes(ffi.new("radrt_qmatmul_params *", fields)),
                                    "integer matrix product scratch")
    packed = bool(fields["b_packed"])
    if packed:   # one 2-D B, packed once: its columns as int8 rows (csrc/kernels/integer.h)
        constants[:2] = [_packed(node, n, k, lambda out: lib.radrt_qmatmul_pack(
            ffi.new("radrt_qmatmul_params *", fields), ffi.from_buffer(constants[1]),
            ffi.from_buffer("int32_t[]", constants[0]), out))]
    scale_at = len(constants) - 1 if output != "int32" else None
    abft = None
    if packed:   # exact checksums (csrc/kernels/integer.h): the sums over B's columns
        constants.append(_weight_sums(rows if rows is not None else np.zeros((1, n, k), np.int32)))
        abft = AbftSpec(side=lib.RADRT_ABFT_EXACT, K=k, groups=1, wsum=len(constants) - 1, wabs=None, bias_sum=(),
                        bias_abs=(), work_floats=0, checksums=batch * m, packed_weights=None)

    def invoke(lib, i, o, c, scratch_ptr, abft=None):
        p = ffi.new("radrt_qmatmul_params *", fields)
        if packed:
            bp, b_zero = c[0], ffi.NULL
        else:
            bp, b_zero = (c[1] if b.value is not None else i[names["b"]]), c[0]
        az = i[names["a_zp"]] if a_zp is not None else ffi.NULL
        bias_ptr = i[names["bias"]] if bias is not None else ffi.NULL
        return lib.radrt_qmatmul, (p, i[names["a"]], az, bp, b_zero, bias_ptr,
                                   ffi.NULL if scale_at is None else c[scale_at], o[0], scratch_ptr,
                                   ffi.NULL if abft is None else abft)

    return Prepared([y], invoke, flops=2 * batch * m * n * k, constants=constants, scratch_bytes=scratch,
                    unread_inputs=unread, abft=abft)


@register("MatMulInteger")
def matmul_integer(node, ins):
    return _matmul(node, ins, dict(a=0, b=1, a_zp=2, b_zp=3))


@register("QLinearMatMul")
def qlinear_matmul(node, ins):
    if len(ins) < 8 or any(ins[k] is None for k in (0, 1, 3, 4, 6, 7)):
        raise node_error(node, "inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point "
                               "are required")
    return _matmul(node, ins, dict(a=0, a_scale=1, a_zp=2, b=3, b_scale=4, b_zp=5, y_scale=6, y_zp=7),
                   output="quantized")


@register("QGemm", domain="com.microsoft")
def qgemm(node, ins):
    """com.microsoft QGemm (onnxruntime's quantizer for Gemm): Y = alpha A' B' + C with A'
    and B' the (transposed) dequantized operands and C int32 at scale a_scale x b_scale;
    quantized when y_scale is given, float32 otherwise."""
    if len(ins) < 6 or any(ins[k] is None for k in (0, 1, 2, 3, 4, 5)):
        raise node_error(node, "inputs A, a_scale, a_zero_point, B, b_scale, b_zero_point are required")
    has_y = len(ins) > 7 and ins[7] is not None
    if len(ins) > 8 and ins[8] is not None and not has_y:
        raise node_error(node, "input 8 (y_zero_point) is given without input 7 (y_scale)")
    return _matmul(node, ins, dict(a=0, a_scale=1, a_zp=2, b=3, b_scale=4, b_zp=5, bias=6, y_scale=7, y_zp=8),
                   trans_a=bool(node.attr("transA", 0)), trans_b=bool(node.attr("transB", 0)),
                   alpha=float(node.attr("alpha", 1.0)), output="quantized" if has_y else "float")


@register("DynamicQuantizeLinear")
def dynamic_quantize_linear(node, ins):
    if not ins or ins[0] is None:
        raise node_error(node, "input x is required")
    x = ins[0]
    if np.dtype(x.dtype) != FLOAT32:
        raise unsupported(node, f"input x has dtype {np.dtype(x.dtype).name}, expected float32")
    outs = [output_info(node, x.shape, UINT8, 0), output_info(node, (), FLOAT32, 1),
            output_info(node, (), UINT8, 2)]
    n = x.size
    return Prepared(outs, lambda lib, i, o, c, scratch: (lib.radrt_dynamic_quantize, (i[0], n, o[0], o[1], o[2])),
                    flops=3 * n)

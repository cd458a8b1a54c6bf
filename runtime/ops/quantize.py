"""QuantizeLinear and DequantizeLinear: the QDQ form of int8 models
(C: csrc/kernels/quantize.c, which states the rounding and saturation).

A QDQ model quantizes activations with QuantizeLinear and feeds float ops through
DequantizeLinear. radrt runs these two as kernels and the ops between them in float32:
a DequantizeLinear of a constant (int8 weights) folds at compile time into float32
weights (fold_constants, by this same kernel), so the weights are held as float32
(4x the bits of the int8 tensor; `radrt inspect` counts them), and an activation's
Quantize/Dequantize pair rounds it to the int8 grid at run time exactly as the spec
says. onnxruntime instead fuses the pattern into integer kernels that requantize
between ops, so results may differ by a quantization step in places.

Scale and zero point are per tensor (scalar) or per axis (1-D, `axis`, default 1);
they must be constants (initializers, or fed inputs the session compiles on). Types:
int8 and uint8 (and int32 input to DequantizeLinear, e.g. a bias). Not supported
(UnsupportedOpError): blocked quantization (block_size), other types (int16, int4,
float8), output_dtype other than int8/uint8.
"""
import numpy as np
from onnx import TensorProto

from . import FLOAT32, Prepared, TensorInfo, node_error, normalize_axis, output_info, register, unsupported

INT8, UINT8, INT32 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int32)
C_NAMES = {INT8: "i8", UINT8: "u8"}
OUTPUT_DTYPES = {TensorProto.INT8: INT8, TensorProto.UINT8: UINT8}


def _channels(node, x: TensorInfo, scale: np.ndarray, zero_point, qtype) -> tuple:
    """(outer, channels, inner, scale float32 [channels], zero point [channels])."""
    if node.attr("block_size", 0):
        raise unsupported(node, "blocked quantization (block_size) is not supported", attribute="block_size")
    if scale.size == 1 and scale.ndim <= 1:
        channels, axis = 1, None
    elif scale.ndim == 1:
        axis = normalize_axis(node, int(node.attr("axis", 1)), x.rank)
        channels = x.shape[axis]
        if scale.shape[0] != channels:
            raise node_error(node, f"scale has {scale.shape[0]} values for axis {axis} of size {channels}")
    else:
        raise node_error(node, f"scale has shape {scale.shape}, expected a scalar or a 1-D tensor")
    if axis is None:
        outer, inner = 1, int(np.prod(x.shape, dtype=np.int64))
    else:
        outer = int(np.prod(x.shape[:axis], dtype=np.int64))
        inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    s = np.ascontiguousarray(scale.reshape(-1).astype(np.float32))
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise node_error(node, f"scale {s.tolist()[:8]} must be finite and > 0")
    if zero_point is None:
        zp = np.zeros(channels, qtype)
    else:
        if zero_point.size != s.size:
            raise node_error(node, f"zero point has {zero_point.size} values, scale {s.size}")
        zp = np.ascontiguousarray(zero_point.reshape(-1).astype(qtype))
    return outer, channels if axis is not None else 1, inner, s, zp


def _constant(node, info, what):
    if info is None or info.value is None:
        raise unsupported(node, f"{what} must be a constant (an initializer or a fed input the session compiles on)")
    return info.value


@register("QuantizeLinear")
def quantize_linear(node, ins):
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "inputs x and y_scale are required")
    x = ins[0]
    if np.dtype(x.dtype) != FLOAT32:
        raise unsupported(node, f"input x has dtype {np.dtype(x.dtype).name}, radrt quantizes float32")
    scale = _constant(node, ins[1], "input 1 (y_scale)")
    zp_info = ins[2] if len(ins) > 2 else None
    zp = _constant(node, zp_info, "input 2 (y_zero_point)") if zp_info is not None else None
    qtype = np.dtype(zp.dtype) if zp is not None else OUTPUT_DTYPES.get(node.attr("output_dtype", 0) or
                                                                         TensorProto.UINT8)
    if qtype not in C_NAMES:
        raise unsupported(node, f"quantized type {qtype} is not supported (int8, uint8)")
    outer, channels, inner, s, z = _channels(node, x, scale, zp, qtype)
    y = output_info(node, x.shape, qtype)
    kernel = f"radrt_quantize_{C_NAMES[qtype]}"
    return Prepared([y], lambda lib, i, o, c, scratch: (getattr(lib, kernel), (i[0], c[0], c[1], o[0], outer,
                                                                                channels, inner)),
                    flops=2 * x.size, constants=[s, z], unread_inputs=(1, 2))


@register("DequantizeLinear")
def dequantize_linear(node, ins):
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "inputs x and x_scale are required")
    x = ins[0]
    qtype = np.dtype(x.dtype)
    if qtype not in C_NAMES and qtype != INT32:
        raise unsupported(node, f"input x has dtype {qtype.name}; radrt dequantizes int8, uint8 and int32")
    scale = _constant(node, ins[1], "input 1 (x_scale)")
    zp_info = ins[2] if len(ins) > 2 else None
    zp = _constant(node, zp_info, "input 2 (x_zero_point)") if zp_info is not None else None
    if zp is not None and np.dtype(zp.dtype) != qtype:
        raise node_error(node, f"zero point has dtype {np.dtype(zp.dtype).name}, x {qtype.name}")
    if qtype == INT32 and zp is not None and np.any(zp != 0):
        raise node_error(node, "an int32 x needs a zero point of 0 (the spec)")
    outer, channels, inner, s, z = _channels(node, x, scale, zp, qtype)
    y = output_info(node, x.shape, FLOAT32)
    if qtype == INT32:
        return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_dequantize_i32, (i[0], c[0], o[0], outer,
                                                                                         channels, inner)),
                        flops=x.size, constants=[s], unread_inputs=(1, 2))
    kernel = f"radrt_dequantize_{C_NAMES[qtype]}"
    return Prepared([y], lambda lib, i, o, c, scratch: (getattr(lib, kernel), (i[0], c[0], c[1], o[0], outer,
                                                                                channels, inner)),
                    flops=2 * x.size, constants=[s, z], unread_inputs=(1, 2))

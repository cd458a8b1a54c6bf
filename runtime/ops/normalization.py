"""BatchNormalization (inference), LayerNormalization, LRN (C: csrc/kernels/normalization.c).

BatchNormalization that follows a Conv/Gemm is folded by the compile stage;
this kernel runs the rest. With constant statistics, prepare computes the
per-channel multiplier scale / sqrt(var + epsilon) in double once; with
statistics computed at run time the kernel computes it per run in scratch.
"""
import numpy as np

from . import (FLOAT32, Prepared, TensorInfo, count, fused_clamp, node_error, normalize_axis, register,
               require_float32, unsupported)


def _extra_outputs(node, first: int, why: str) -> None:
    extra = [o for o in node.outputs[first:] if o]
    if extra:
        raise unsupported(node, f"output '{extra[0]}' is not supported: {why}")


def batchnorm_params(node, ins):
    """The inference checks of a BatchNormalization node, shared by its kernel and by the
    compile stage's fusions (and constant folding, which goes through the kernel's
    prepare): X of rank >= 2 (N, C, ...) and scale, B, mean, var each of shape exactly
    (C,), all float32. Returns (X, [scale, B, mean, var], epsilon).
    Raises UnsupportedOpError for training_mode=1, spatial=0 or a training-only output,
    CompileError for a missing input or a parameter of another shape (numpy broadcasting
    a (1,) or (C, 1) parameter is not the spec)."""
    if int(node.attr("training_mode", 0)):
        raise unsupported(node, "training_mode=1 is not supported (radrt runs inference only)")
    if not int(node.attr("spatial", 1)):
        raise unsupported(node, "spatial=0 (per-activation statistics) is not supported")
    _extra_outputs(node, 1, "running and saved statistics exist in training mode only")
    if len(ins) < 5 or any(i is None for i in ins[:5]):
        raise node_error(node, f"expected 5 inputs (X, scale, B, mean, var), got {len(ins)}")
    x = ins[0]
    require_float32(node, *ins[:5])
    if x.rank < 2:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank >= 2 (N, C, ...)")
    c = x.shape[1]
    for k, what in enumerate(("scale", "B", "mean", "var"), start=1):
        if tuple(ins[k].shape) != (c,):
            raise node_error(node, f"input {k} ({what}) has shape {ins[k].shape}, expected ({c},) to "
                                   f"match the channels of input 0 {x.shape} (value '{node.inputs[k]}')",
                             attribute=node.inputs[k], value=tuple(ins[k].shape))
    return x, list(ins[1:5]), float(node.attr("epsilon", 1e-5))


@register("BatchNormalization")
def batch_normalization(node, ins):
    x, _, epsilon = batchnorm_params(node, ins)
    n, c = x.shape[:2]
    size = count(node, x.shape[2:], "input 0 spatial extent")
    lo, hi = fused_clamp(node)  # a Relu/Clip the compile stage fused into this step
    out = [TensorInfo(x.shape, x.dtype)]
    if all(i.value is not None for i in ins[1:5]):
        scale, bias, mean, var = (i.value.astype(np.float64) for i in ins[1:5])
        s = (scale / np.sqrt(var + epsilon)).astype(np.float32)
        consts = [mean.astype(np.float32), s, bias.astype(np.float32)]
        return Prepared(out, lambda lib, i, o, k, _: (lib.radrt_batchnorm,
                                                      (i[0], k[0], k[1], k[2], o[0], n, c, size, lo, hi)),
                        flops=2 * x.size, constants=consts, unread_inputs=(1, 2, 3, 4))
    return Prepared(out, lambda lib, i, o, k, scratch: (lib.radrt_batchnorm_runtime,
                                                        (i[0], i[1], i[2], i[3], i[4], o[0], n, c, size,
                                                         epsilon, lo, hi, scratch)),
                    flops=2 * x.size, scratch_bytes=4 * c)


def _affine(node, info, index, what, norm_shape):
    """Scale or B: constant, broadcast to the normalised shape; or a runtime tensor of that size."""
    require_float32(node, info)
    try:
        ok = np.broadcast_shapes(tuple(info.shape), norm_shape) == norm_shape
    except ValueError:
        ok = False
    if not ok:
        raise node_error(node, f"input {index} ({what}) has shape {info.shape}, expected a shape that "
                               f"broadcasts to the normalised shape {norm_shape}")
    if info.value is not None:
        return np.ascontiguousarray(np.broadcast_to(info.value, norm_shape), np.float32)
    if info.size != count(node, norm_shape, "normalised shape"):
        raise unsupported(node, f"input {index} ({what}) of shape {info.shape} is computed at run time; "
                                f"broadcasting it to {norm_shape} needs it to be a constant")
    return None


@register("LayerNormalization")
def layer_normalization(node, ins):
    x = ins[0]
    require_float32(node, x)
    if x.rank < 1:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank >= 1")
    if len(ins) < 2 or ins[1] is None:
        raise node_error(node, "input 1 (Scale) is missing")
    axis = normalize_axis(node, int(node.attr("axis", -1)), x.rank)
    epsilon = float(node.attr("epsilon", 1e-5))
    stash_type = int(node.attr("stash_type", 1))
    norm_shape = tuple(x.shape[axis:])
    rows = count(node, x.shape[:axis], "outer dims")
    length = count(node, norm_shape, "normalised shape")
    if length == 0:
        raise unsupported(node, f"input 0 has shape {x.shape}: normalising over an empty extent is not supported")
    if stash_type != 1 and any(node.outputs[1:3]):
        raise unsupported(node, f"stash_type {stash_type}: Mean and InvStdDev outputs are supported as "
                                f"float (stash_type 1) only")
    _extra_outputs(node, 3, "LayerNormalization has 3 outputs")
    scale = _affine(node, ins[1], 1, "Scale", norm_shape)
    bias_info = ins[2] if len(ins) > 2 else None
    bias = _affine(node, bias_info, 2, "B", norm_shape) if bias_info is not None else None
    consts, unread = [], []
    for k, arr in ((1, scale), (2, bias)):
        if arr is not None:
            consts.append(arr)
            unread.append(k)
    stat_shape = tuple(x.shape[:axis]) + (1,) * (x.rank - axis)
    outputs = [TensorInfo(x.shape, x.dtype), TensorInfo(stat_shape, FLOAT32), TensorInfo(stat_shape, FLOAT32)]
    has_bias = bias_info is not None

    def invoke(lib, i, o, k, scratch):
        from .._core import ffi
        pool = list(k)
        scale_p = pool.pop(0) if scale is not None else i[1]
        bias_p = (pool.pop(0) if bias is not None else i[2]) if has_bias else ffi.NULL
        mean_p = o[1] if len(o) > 1 else ffi.NULL
        inv_p = o[2] if len(o) > 2 else ffi.NULL
        return lib.radrt_layernorm, (i[0], scale_p, bias_p, o[0], mean_p, inv_p, rows, length, epsilon)

    return Prepared(outputs, invoke, flops=8 * x.size, constants=consts, unread_inputs=tuple(unread))


@register("LRN")
def lrn(node, ins):
    x = ins[0]
    require_float32(node, x)
    if x.rank < 2:
        raise node_error(node, f"input 0 has shape {x.shape}, expected rank >= 2 (N, C, ...)")
    size = node.attr("size")
    if size is None or int(size) < 1:
        raise node_error(node, f"attribute size is {size}, expected an int >= 1")
    size = int(size)
    alpha = float(node.attr("alpha", 1e-4))
    beta = float(node.attr("beta", 0.75))
    bias = float(node.attr("bias", 1.0))
    before, after = (size - 1) // 2, size // 2  # floor and ceil of (size - 1) / 2
    n, c = x.shape[:2]
    plane = count(node, x.shape[2:], "input 0 spatial extent")
    return Prepared([TensorInfo(x.shape, x.dtype)],
                    lambda lib, i, o, k, s: (lib.radrt_lrn, (i[0], o[0], n, c, plane, before, after,
                                                              alpha / size, beta, bias)),
                    flops=(2 * size + 4) * x.size)

"""Conv (C: csrc/kernels/conv.c). 1-D, 2-D and 3-D convolutions share one kernel
with three spatial dims (missing leading dims have size 1). Which path runs:

  - depthwise (RADRT_CONV_DEPTHWISE): group > 1 and one input channel per group
    (any channel multiplier, kernel, stride, dilation, pads): direct loops over a
    zero-framed copy of each input plane, all taps of 8 outputs in registers;
    stride 1 along H and W computes whole planes as one line, other strides go
    row by row (stride 2 specialised);
  - pointwise (RADRT_CONV_POINTWISE): every kernel size 1, every stride 1, no pads
    (so the output has the input's spatial shape): the GEMM reads X as its dense
    B matrix, per group;
  - everything else (RADRT_CONV_IM2COL), e.g. a 1x1 kernel with a stride or a pad,
    or grouped convs with more than one input channel per group: the GEMM packs
    its B panels straight from the image (implicit im2col), per group.
Every path gives the ONNX result; tests/ops/test_fast_paths.py runs shapes just
inside and just outside each condition against onnxruntime.

Constant weights are packed once here into the GEMM's A panels (one block per
group); runtime weights are packed by the kernel into scratch. Scratch is the
GEMM's packing buffers, or the depthwise padded plane.

ABFT (csrc/kernels/gemm.h): with constant weights and a constant or absent bias,
the IM2COL and POINTWISE paths get an AbftSpec of side COLUMNS: the weights'
column sums per group (constants 1 and 2) and the per-group bias sums. The
depthwise path gets one of side DEPTHWISE (csrc/kernels/conv.c): no constants, the
kernel predicts each output channel's sum from the taps and bias as it reads them
(inputs 1 and 2, verified by their seals by the engine) and window sums of the
input. Runtime weights get none (the engine checks them otherwise).
"""
import dataclasses

import numpy as np

from . import (AbftSpec, Prepared, count, fused_clamp, node_error, output_info, register,
               require_float32, unsupported, weight_checksums)
from .gemm import pack_a
from .. import sizes

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def spatial_attrs(node, spatial: int, kernel_from_weights):
    """kernel, strides, dilations, (begin, end) pads lists; checks ranges."""
    kernel = list(node.attr("kernel_shape", kernel_from_weights))
    if kernel != list(kernel_from_weights):
        raise node_error(node, f"kernel_shape {kernel} does not match the weights' spatial shape "
                               f"{tuple(kernel_from_weights)}")
    strides = list(node.attr("strides", [1] * spatial))
    dilations = list(node.attr("dilations", [1] * spatial))
    pads = list(node.attr("pads", [0] * (2 * spatial)))
    for name, vals, n, least in (("strides", strides, spatial, 1), ("dilations", dilations, spatial, 1),
                                 ("pads", pads, 2 * spatial, 0)):
        if len(vals) != n or any(v < least for v in vals):
            raise node_error(node, f"{name} {vals} invalid: expected {n} values >= {least}")
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad not in AUTO_PADS:
        raise node_error(node, f"auto_pad '{auto_pad}' is not one of {AUTO_PADS}")
    return kernel, strides, dilations, pads[:spatial], pads[spatial:], auto_pad


def conv_output(node, in_sizes, kernel, strides, dilations, begin, end, auto_pad):
    """Output sizes and begin pads of a convolution."""
    out, pads = [], []
    for i, size in enumerate(in_sizes):
        span = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // strides[i])
            need = (o - 1) * strides[i] + span - size
            # A negative need leaves the last input elements outside every window; radrt
            # then pads nothing, as the ONNX reference does. onnxruntime agrees down to
            # -2 (SAME_UPPER) / -3 (SAME_LOWER) and shifts the windows below that:
            # ambiguous, refused.
            if need < (-2 if auto_pad == "SAME_UPPER" else -3):
                raise node_error(node, f"spatial dim {i}: auto_pad {auto_pad} with input size {size}, "
                                       f"kernel extent {span} and stride {strides[i]} needs a total pad "
                                       f"of {need}; pads must be non-negative and implementations "
                                       f"disagree on this case", attribute="auto_pad", value=need)
            total = max(0, need)
            b = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        elif auto_pad == "VALID":
            o, b = (size - span) // strides[i] + 1, 0
        else:
            o, b = (size + begin[i] + end[i] - span) // strides[i] + 1, begin[i]
        if o < 1:
            raise node_error(node, f"spatial dim {i}: input size {size} with kernel {kernel[i]}, "
                                   f"dilation {dilations[i]} and pads gives output size {o}, expected >= 1")
        out.append(o)
        pads.append(b)
    return out, pads


def unused_steps_to_one(positions, kernel, strides, dilations):
    """Strides along an axis with one position (output positions for Conv and pooling,
    input positions for ConvTranspose) and dilations of a size-1 kernel axis are only
    ever multiplied by index 0, so any value gives the same result: make them 1, so
    no kernel arithmetic (stride * index, scratch sizes, vector lanes) sees a valid
    but huge value such as 2^63-1. Every other stride or dilation is at most the
    padded input size (the output size check bounds it)."""
    strides = [1 if n == 1 else s for n, s in zip(positions, strides)]
    dilations = [1 if k == 1 else d for k, d in zip(kernel, dilations)]
    return strides, dilations


def to3(values, fill):
    """Spatial values as 3 (D, H, W) values, leading ones filled."""
    return [fill] * (3 - len(values)) + list(values)


def conv_operands(node, ins, what: str):
    """X, W and the optional bias of a (transposed) convolution, checked: float32, X of rank
    3 to 5, W of X's rank."""
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected inputs X and W, got {len(ins)} inputs")
    x, w = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    require_float32(node, *[i for i in (x, w, bias) if i is not None])
    if x.rank not in (3, 4, 5):
        raise unsupported(node, f"input 0 has shape {x.shape}, expected rank 3, 4 or 5 "
                                f"(1-D to 3-D {what})")
    if w.rank != x.rank:
        raise node_error(node, f"W has shape {w.shape}, expected rank {x.rank} like X {x.shape}")
    return x, w, bias


@register("Conv")
def conv(node, ins):
    x, w, bias = conv_operands(node, ins, "convolution")
    spatial = x.rank - 2
    batch, cin = x.shape[:2]
    cout = w.shape[0]
    group = int(node.attr("group", 1))
    if group < 1 or cin % group or cout % group:
        raise node_error(node, f"group {group} must divide input channels {cin} and output channels {cout}")
    if w.shape[1] != cin // group:
        raise node_error(node, f"W has shape {w.shape}, expected dim 1 = input channels / group "
                               f"= {cin // group}")
    if bias is not None and bias.shape != (cout,):
        raise node_error(node, f"B has shape {bias.shape}, expected ({cout},)")
    kernel, strides, dilations, begin, end, auto_pad = spatial_attrs(node, spatial, w.shape[2:])
    if any(k < 1 for k in kernel):
        raise node_error(node, f"W has shape {w.shape}, expected kernel sizes >= 1")
    out, pads = conv_output(node, x.shape[2:], kernel, strides, dilations, begin, end, auto_pad)
    y = output_info(node, (batch, cout) + tuple(out), np.float32)
    for i, size in enumerate(x.shape[2:]):
        sizes.check_window_reach(node, i, size, begin[i], end[i], out[i], kernel[i], dilations[i], strides[i])
    strides, dilations = unused_steps_to_one(out, kernel, strides, dilations)
    lo, hi = fused_clamp(node)

    cin_g, cout_g = cin // group, cout // group
    k_size = sizes.checked_mul(cin_g, count(node, kernel, "kernel"), what="GEMM inner size K", node=node)
    out_size = count(node, out, "output spatial extent")
    from .._core import ffi, lib
    if group > 1 and cin_g == 1:
        mode = lib.RADRT_CONV_DEPTHWISE
    elif all(k == 1 for k in kernel) and all(s == 1 for s in strides) and not any(pads) \
            and list(out) == list(x.shape[2:]):
        mode = lib.RADRT_CONV_POINTWISE
    else:
        mode = lib.RADRT_CONV_IM2COL
    w_packed = mode != lib.RADRT_CONV_DEPTHWISE and w.value is not None
    constants, w_group_floats, abft = [], 0, None
    if mode == lib.RADRT_CONV_DEPTHWISE and w.value is not None and (bias is None or bias.value is not None):
        abft = AbftSpec(side=lib.RADRT_ABFT_DEPTHWISE, K=count(node, kernel, "kernel"), groups=group, wsum=None,
                        wabs=None, bias_sum=(), bias_abs=(), work_floats=0, checksums=batch * cout,
                        packed_weights=None)
    if w_packed:
        mats = np.asarray(w.value, np.float32).reshape(group, cout_g, k_size)
        packed = [pack_a(m) for m in mats]
        w_group_floats = packed[0].size
        constants = [np.concatenate(packed)]
        if bias is None or bias.value is not None:
            constants.extend(weight_checksums(mats, axis=1))
            bias_sum, bias_abs = [0.0] * group, [0.0] * group
            if bias is not None:
                b = np.asarray(bias.value, np.float64).reshape(group, cout_g)
                bias_sum = [float(np.float32(v)) for v in b.sum(axis=1)]
                bias_abs = [float(np.float32(v)) for v in np.abs(b).sum(axis=1)]
            work = sizes.c_scratch_floats(node, lib.radrt_abft_work_floats(cout_g, out_size, lib.RADRT_ABFT_COLUMNS),
                                          "ABFT work") // 4
            abft = AbftSpec(side=lib.RADRT_ABFT_COLUMNS, K=k_size, groups=group, wsum=1, wabs=2,
                            bias_sum=tuple(bias_sum), bias_abs=tuple(bias_abs), work_floats=work,
                            checksums=batch * group * out_size)

    fields = dict(batch=batch, in_channels=cin, out_channels=cout, group=group, mode=mode,
                  w_packed=int(w_packed), w_group_floats=w_group_floats, act_min=lo, act_max=hi,
                  geom=dict(channels=cin_g, **{"in": to3(x.shape[2:], 1)}, out=to3(out, 1),
                            kernel=to3(kernel, 1), stride=to3(strides, 1), pad=to3(pads, 0),
                            dilation=to3(dilations, 1)))
    sizes.check_c_fields(node, fields, "convolution parameters")
    scratch = sizes.c_scratch_floats(node, lib.radrt_conv_scratch_floats(ffi.new("radrt_conv_params *", fields)))
    if abft is not None and abft.side == lib.RADRT_ABFT_DEPTHWISE:
        work = sizes.c_scratch_floats(node, lib.radrt_conv_abft_work_floats(ffi.new("radrt_conv_params *", fields)),
                                      "ABFT work") // 4
        abft = dataclasses.replace(abft, work_floats=work)

    def invoke(lib, i, o, consts, scratch_ptr, abft=None):
        p = ffi.new("radrt_conv_params *", fields)
        wp = consts[0] if w_packed else i[1]
        bp = i[2] if bias is not None else ffi.NULL
        return lib.radrt_conv, (p, i[0], wp, bp, o[0], scratch_ptr, ffi.NULL if abft is None else abft)

    flops = 2 * batch * cout * out_size * k_size + (batch * cout * out_size if bias is not None else 0)
    return Prepared([y], invoke, flops=flops,
                    constants=constants, scratch_bytes=scratch,
                    unread_inputs=(1,) if w_packed else (), abft=abft)


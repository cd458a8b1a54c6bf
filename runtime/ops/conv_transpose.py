"""ConvTranspose (C: csrc/kernels/conv_transpose.c): GEMM into a column
buffer in scratch, then col2im. 1-D to 3-D share one kernel.

Output size and begin pads follow the ONNX spec: with output_shape the total
padding stride*(in-1) + output_padding + span - out is split with the larger
half at the end for SAME_UPPER and at the begin otherwise, and explicit pads
are ignored (the spec: "If output_shape is specified pads values are
ignored"; onnxruntime agrees); without it, out = stride*(in-1) + output_padding + span - pads
(SAME_*: out = in*stride).
"""
import numpy as np

from . import Prepared, count, fused_clamp, node_error, output_info, register, unsupported
from .conv import conv_operands, spatial_attrs, to3, unused_steps_to_one
from .gemm import pack_a
from .. import sizes


def _output_and_pads(node, in_sizes, kernel, strides, dilations, begin, end, auto_pad):
    spatial = len(in_sizes)
    out_pad = list(node.attr("output_padding", [0] * spatial))
    if len(out_pad) != spatial or any(p < 0 for p in out_pad):
        raise node_error(node, f"output_padding {out_pad} invalid: expected {spatial} values >= 0")
    for i in range(spatial):
        if out_pad[i] >= max(strides[i], dilations[i]):
            raise node_error(node, f"output_padding {out_pad} must be smaller than the stride "
                                   f"{strides} or dilation {dilations} in each dim")
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    full = [s * (n - 1) + op + span for s, n, op, span in zip(strides, in_sizes, out_pad, spans)]
    output_shape = node.attr("output_shape")
    if output_shape is not None:
        output_shape = list(output_shape)
        if len(output_shape) == spatial + 2:
            output_shape = output_shape[2:]
        if len(output_shape) != spatial or any(o < 1 for o in output_shape):
            raise node_error(node, f"output_shape {node.attr('output_shape')} invalid: expected "
                                   f"{spatial} spatial sizes >= 1")
        totals = [f - o for f, o in zip(full, output_shape)]
        if any(-t >= s for t, s in zip(totals, strides)):
            raise node_error(node, f"output_shape {node.attr('output_shape')} is inconsistent with input "
                                   f"sizes {list(in_sizes)}, kernel {kernel} and strides {strides}: expected "
                                   f"at most {[f + s - 1 for f, s in zip(full, strides)]}",
                             attribute="output_shape", value=list(node.attr("output_shape")))
        if any(t < 0 for t in totals) and auto_pad != "NOTSET":
            raise unsupported(node, f"output_shape {node.attr('output_shape')} is larger than the full "
                                    f"output {full}: with auto_pad {auto_pad} the split of a negative "
                                    f"padding is not defined (onnxruntime and the onnx reference disagree)",
                              attribute="output_shape", value=list(node.attr("output_shape")))
        # A negative total (output up to stride-1 larger than full) extends the end only,
        # as onnxruntime and the onnx reference do.
        pads = [max(0, t // 2 if auto_pad == "SAME_UPPER" else t - t // 2) for t in totals]
        return output_shape, pads
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [n * s for n, s in zip(in_sizes, strides)]
        totals = [f - o for f, o in zip(full, out)]
        pads = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in totals]
        return out, pads
    if auto_pad == "VALID":
        begin, end = [0] * spatial, [0] * spatial
    out = [f - b - e for f, b, e in zip(full, begin, end)]
    if any(o < 1 for o in out):
        raise node_error(node, f"input sizes {list(in_sizes)} with kernel {kernel}, strides {strides} "
                               f"and pads give output sizes {out}, expected >= 1")
    return out, begin


@register("ConvTranspose")
def conv_transpose(node, ins):
    x, w, bias = conv_operands(node, ins, "transposed convolution")
    spatial = x.rank - 2
    batch, cin = x.shape[:2]
    group = int(node.attr("group", 1))
    if group < 1 or cin % group:
        raise node_error(node, f"group {group} must divide input channels {cin}")
    if w.shape[0] != cin:
        raise node_error(node, f"W has shape {w.shape}, expected dim 0 = input channels {cin}")
    cout_g = w.shape[1]
    cout = cout_g * group
    if bias is not None and bias.shape != (cout,):
        raise node_error(node, f"B has shape {bias.shape}, expected ({cout},)")
    kernel, strides, dilations, begin, end, auto_pad = spatial_attrs(node, spatial, w.shape[2:])
    if any(k < 1 for k in kernel):
        raise node_error(node, f"W has shape {w.shape}, expected kernel sizes >= 1")
    out, pads = _output_and_pads(node, x.shape[2:], kernel, strides, dilations, begin, end, auto_pad)
    y = output_info(node, (batch, cout) + tuple(out), np.float32)
    for i, size in enumerate(x.shape[2:]):  # input i lands at i*stride - pad + k*dilation
        sizes.check_window_reach(node, i, out[i], pads[i], 0, size, kernel[i], dilations[i], strides[i])
    strides, dilations = unused_steps_to_one(x.shape[2:], kernel, strides, dilations)
    lo, hi = fused_clamp(node)

    cin_g = cin // group
    rows = sizes.checked_mul(cout_g, count(node, kernel, "kernel"), what="column rows", node=node)
    w_packed = w.value is not None
    constants, w_group_floats = [], 0
    if w_packed:
        mats = np.asarray(w.value, np.float32).reshape(group, cin_g, rows)
        packed = [pack_a(m.T) for m in mats]
        w_group_floats = packed[0].size
        constants = [np.concatenate(packed)]

    fields = dict(batch=batch, in_channels=cin, out_channels=cout, group=group,
                  out=to3(out, 1), kernel=to3(kernel, 1), stride=to3(strides, 1), pad=to3(pads, 0),
                  dilation=to3(dilations, 1), w_packed=int(w_packed), w_group_floats=w_group_floats,
                  act_min=lo, act_max=hi, **{"in": to3(x.shape[2:], 1)})
    from .._core import ffi, lib
    sizes.check_c_fields(node, fields, "transposed convolution parameters")
    scratch = sizes.c_scratch_floats(node, lib.radrt_conv_transpose_scratch_floats(
        ffi.new("radrt_conv_transpose_params *", fields)))

    def invoke(lib, i, o, consts, scratch_ptr):
        p = ffi.new("radrt_conv_transpose_params *", fields)
        wp = consts[0] if w_packed else i[1]
        bp = i[2] if bias is not None else ffi.NULL
        return lib.radrt_conv_transpose, (p, i[0], wp, bp, o[0], scratch_ptr)

    in_size = count(node, x.shape[2:], "input spatial extent")
    flops = 2 * batch * group * rows * in_size * cin_g
    return Prepared([y], invoke, flops=flops,
                    constants=constants, scratch_bytes=scratch,
                    unread_inputs=(1,) if w_packed else ())

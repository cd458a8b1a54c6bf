"""Softmax and LogSoftmax (C: csrc/kernels/softmax.c).

The tensor is viewed as (outer, len, inner) and normalised along len:
- opset < 13: the input is coerced to 2-D at `axis` (default 1), so
  len = prod(shape[axis:]) and inner = 1;
- opset >= 13: along the single axis `axis` (default -1).
"""

from . import Prepared, TensorInfo, count, normalize_axis, register, require_float32
from .. import sizes


def _softmax(node, ins, fn_name):
    x = ins[0]
    require_float32(node, x)
    legacy = node.opset < 13
    axis = normalize_axis(node, int(node.attr("axis", 1 if legacy else -1)), x.rank)
    outer = count(node, x.shape[:axis], "outer dims")
    if legacy:
        length, inner = count(node, x.shape[axis:], "normalised dims"), 1
    else:
        length, inner = count(node, x.shape[axis:axis + 1], "axis"), count(node, x.shape[axis + 1:], "inner dims")
    # double sums, then float maxima
    scratch = sizes.check_bytes(node, sizes.checked_mul(inner, 8 + 4, what="scratch", node=node), "scratch")
    return Prepared([TensorInfo(x.shape, x.dtype)],
                    lambda lib, i, o, c, s: (getattr(lib, fn_name), (i[0], o[0], outer, length, inner, s)),
                    flops=5 * x.size, scratch_bytes=scratch)


@register("Softmax")
def softmax(node, ins):
    return _softmax(node, ins, "radrt_softmax")


@register("LogSoftmax")
def log_softmax(node, ins):
    return _softmax(node, ins, "radrt_log_softmax")

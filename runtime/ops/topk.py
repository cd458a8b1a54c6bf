"""TopK on run-time data (C: csrc/kernels/topk.c).

Inputs: X (float32, float64 or any integer type; float16 models compute in float32,
runtime.half) and, from opset 10, K: a compile-time parameter (runtime.compile.
PARAMETER_INPUTS: an initializer, a value computed from constants, or a fed input the
session compiles on), an int64 tensor of one element; before opset 10 the attribute k.
Attributes: axis (default -1, negative counts from the end), largest and sorted
(opset 11+, default 1). Outputs: Values (X's type) and Indices (int64), X's shape with
the axis dim replaced by K.

Order (topk.h): by value, best first (greatest with largest=1, least with 0), equal
values by lower index as the spec says; NaN ranks above every number (first with
largest=1, last with largest=0) and -0.0 equals +0.0: onnxruntime's order. sorted=0
leaves the order to the runtime; radrt returns it sorted as well (onnxruntime returns
its heap's order there, the same elements). K = 0 gives empty outputs; K < 0 or K
greater than the axis size is a CompileError naming K and the size.
Constant inputs fold through this same kernel (runtime.compile.fold_constants).
"""

from .. import sizes
from . import Prepared, count, node_error, normalize_axis, output_info, register, require_constant
from .argmax import INT64, SUPPORTED, element_type, flag
from .typed import TYPE_CODES


def topk_k(node, ins) -> int:
    """K: input 1 from opset 10 (a constant int64 tensor of one element), else attribute k."""
    if node.opset < 10:
        k = node.attr("k")
        if k is None:
            raise node_error(node, "attribute k is missing (TopK before opset 10 takes K as an attribute)",
                             attribute="k")
        return int(k)
    if len(ins) < 2 or ins[1] is None:
        raise node_error(node, "input 1 (K) is missing")
    value = require_constant(node, ins[1], "input 1 (K)")
    if value.dtype != INT64:
        raise node_error(node, f"input 1 (K) has element type {value.dtype.name}, expected int64",
                         value=value.dtype.name)
    if value.size != 1 or value.ndim > 1:
        raise node_error(node, f"input 1 (K) has shape {value.shape}, expected one element", value=value.shape)
    return int(value.reshape(-1)[0])


@register("TopK")
def topk(node, ins):
    if not ins or ins[0] is None:
        raise node_error(node, "input 0 (X) is missing")
    x = ins[0]
    dtype = element_type(node, x, SUPPORTED)
    axis = normalize_axis(node, int(node.attr("axis", -1)), x.rank)
    k = topk_k(node, ins)
    length = x.shape[axis]
    if not 0 <= k <= length:
        raise node_error(node, f"K is {k}, but axis {axis} of input shape {tuple(x.shape)} has {length} "
                               f"elements (expected 0 <= K <= {length})", value=k)
    largest = flag(node, "largest", 1)
    flag(node, "sorted", 1)   # checked; radrt's results are sorted either way
    out_shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    values = output_info(node, out_shape, dtype, 0)
    indices = output_info(node, out_shape, INT64, 1)
    outer = count(node, x.shape[:axis], "outer dims")
    inner = count(node, x.shape[axis + 1:], "inner dims")
    scratch = sizes.check_bytes(node, sizes.checked_mul(k, 8, what="scratch", node=node), "scratch")
    code = TYPE_CODES[dtype]

    def invoke(lib, i, o, c, heap):
        return lib.radrt_topk, (i[0], o[0], o[1], code, largest, outer, length, inner, k, heap)

    return Prepared([values, indices], invoke, flops=count(node, x.shape, "input 0"), scratch_bytes=scratch,
                    unread_inputs=(1,) if len(ins) > 1 else ())

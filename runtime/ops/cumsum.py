"""CumSum on run-time data (C: csrc/kernels/cumsum.c): float32, float64, int32,
int64, uint32, uint64 (float16 models compute in float32, runtime.half).

Input 1, the axis, is a compile-time parameter: a constant (initializer, or computed
from constants) int32/int64 scalar or one-element tensor in [-rank, rank); a fed axis
is refused (UnsupportedOpError). Attributes exclusive and reverse (0 or 1).
Summation order (fixed): a running sum along the axis in the scan direction, in the
element type itself (float32 in float32, as onnxruntime and numpy: bit-identical
results), the first output copied from the input (inclusive) or +0 (exclusive);
integers wrap modulo 2^bits. Constant inputs fold through this same kernel.
"""
import numpy as np

from . import Prepared, count, node_error, normalize_axis, output_info, register, require_constant
from .argmax import element_type, flag
from .typed import TYPE_CODES

SUPPORTED = frozenset(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.uint32, np.uint64))


def cumsum_axis(node, info, rank: int) -> int:
    """The constant axis input as an index in [0, rank)."""
    value = require_constant(node, info, "input 1 (axis)")
    if value.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise node_error(node, f"input 1 (axis) has element type {value.dtype.name}, expected int32 or int64",
                         value=value.dtype.name)
    if value.size != 1 or value.ndim > 1:
        raise node_error(node, f"input 1 (axis) has shape {value.shape}, expected a scalar (or one element)",
                         value=value.shape)
    return normalize_axis(node, int(value.reshape(-1)[0]), rank)


@register("CumSum")
def cumsum(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected 2 inputs (x, axis), got {len([i for i in ins if i is not None])}")
    x = ins[0]
    dtype = element_type(node, x, SUPPORTED)
    axis = cumsum_axis(node, ins[1], x.rank)
    exclusive = flag(node, "exclusive", 0)
    reverse = flag(node, "reverse", 0)
    y = output_info(node, x.shape, dtype)
    outer = count(node, x.shape[:axis], "outer dims")
    length = x.shape[axis]
    inner = count(node, x.shape[axis + 1:], "inner dims")
    code = TYPE_CODES[dtype]

    def invoke(lib, i, o, c, scratch):
        return lib.radrt_cumsum, (i[0], o[0], code, exclusive, reverse, outer, length, inner)

    return Prepared([y], invoke, flops=count(node, x.shape, "input 0"), unread_inputs=(1,))

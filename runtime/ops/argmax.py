"""ArgMax and ArgMin on run-time data (C: csrc/kernels/argmax.c).

Attributes: axis (default 0, negative counts from the end), keepdims (default 1),
select_last_index (opset 12+, default 0). Input: float32, float64 or any integer
type (float16 models compute in float32, runtime.half); output int64.

The input is viewed as [outer, len, inner] around the axis; each output element is
the index of the first (select_last_index=1: the last) greatest (least) element
along the axis. A compare with NaN is false, so NaN never wins over a number and a
number never wins over a NaN: a NaN at index 0 gives 0, elsewhere it is skipped.
That is onnxruntime's result (numpy's argmax picks the first NaN instead).
An empty axis has no ArgMax: a CompileError unless the output is empty too.
Constant inputs fold through this same kernel (runtime.compile.fold_constants).
"""
import numpy as np

from . import Prepared, count, node_error, normalize_axis, output_info, register, unsupported
from .typed import BOOL, TYPE_CODES

INT64 = np.dtype(np.int64)
SUPPORTED = frozenset(t for t in TYPE_CODES if t != BOOL)


def flag(node, name: str, default: int) -> int:
    """A 0/1 attribute; CompileError naming it and its value otherwise."""
    value = node.attr(name, default)
    if value not in (0, 1):
        raise node_error(node, f"attribute {name} is {value}, expected 0 or 1", attribute=name, value=value)
    return int(value)


def element_type(node, info, supported, what: str = "input 0"):
    dtype = np.dtype(info.dtype)
    if dtype not in supported:
        raise unsupported(node, f"{what} has element type {dtype.name}; radrt's {node.op_type} supports "
                                f"{', '.join(sorted(t.name for t in supported))}", value=dtype.name)
    return dtype


@register("ArgMax", "ArgMin")
def arg_extreme(node, ins):
    if len(ins) != 1 or ins[0] is None:
        raise node_error(node, f"expected 1 input, got {len([i for i in ins if i is not None])}")
    x = ins[0]
    dtype = element_type(node, x, SUPPORTED)
    axis = normalize_axis(node, int(node.attr("axis", 0)), x.rank)
    keepdims = flag(node, "keepdims", 1)
    last = flag(node, "select_last_index", 0)
    if keepdims:
        out_shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    else:
        out_shape = x.shape[:axis] + x.shape[axis + 1:]
    y = output_info(node, out_shape, INT64)
    outer = count(node, x.shape[:axis], "outer dims")
    length = x.shape[axis]
    inner = count(node, x.shape[axis + 1:], "inner dims")
    n_out = count(node, out_shape, "output")
    if length == 0 and n_out:
        raise node_error(node, f"axis {axis} of input shape {tuple(x.shape)} is empty: {node.op_type} of no "
                               f"elements is undefined (expected a dim of at least 1)", value=tuple(x.shape))
    code = TYPE_CODES[dtype]
    op_name = "RADRT_ARG_MAX" if node.op_type == "ArgMax" else "RADRT_ARG_MIN"

    def invoke(lib, i, o, c, scratch):
        return lib.radrt_arg_extreme, (i[0], o[0], code, getattr(lib, op_name), last, outer, length, inner)

    return Prepared([y], invoke, flops=count(node, x.shape, "input 0"))

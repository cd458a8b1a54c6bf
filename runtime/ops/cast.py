"""Cast and CastLike between float32 and the other supported element types
(C: csrc/kernels/cast.c, which documents the semantics: float -> integer
truncates toward zero, saturates, and maps NaN to 0). A cast to the same type
is a copy; casts between two non-float32 types are not supported.

Out of range (e.g. 300.0 -> int8), where the ONNX spec leaves the result undefined,
radrt saturates (127; +-inf to the type's max/min; NaN to 0), whether the input is fed
or constant: constant folding runs this same kernel (runtime.compile.run_one_step).
onnxruntime wraps instead (44; NaN and inf to INT_MIN for int32)."""
import numpy as np
from onnx import helper

from . import FLOAT32, Prepared, TensorInfo, node_error, register, unsupported

# The C name of each element type the cast kernels handle besides float32.
C_NAMES = {
    np.dtype(np.float16): "f16", np.dtype(np.float64): "f64", np.dtype(np.int8): "i8",
    np.dtype(np.uint8): "u8", np.dtype(np.int16): "i16", np.dtype(np.uint16): "u16",
    np.dtype(np.int32): "i32", np.dtype(np.uint32): "u32", np.dtype(np.int64): "i64",
    np.dtype(np.uint64): "u64", np.dtype(np.bool_): "bool",
}


def _target_of_cast(node) -> np.dtype:
    to = node.attr("to")
    if to is None:
        raise node_error(node, "attribute 'to' is missing")
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(int(to)))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or (dtype != FLOAT32 and dtype not in C_NAMES):
        raise unsupported(node, f"cast to element type {to} is not supported (supported: float, "
                                f"float16, double, int8/16/32/64, uint8/16/32/64, bool)")
    return dtype


def _cast(node, x: TensorInfo, to: np.dtype, unread=()) -> Prepared:
    src = np.dtype(x.dtype)
    out = TensorInfo(x.shape, to)
    n = x.size
    if src == to:
        nbytes = x.nbytes
        return Prepared([out], lambda lib, i, o, c, scratch: (lib.radrt_copy, (i[0], o[0], nbytes)),
                        unread_inputs=unread)
    if src == FLOAT32:
        kernel = f"radrt_cast_f32_to_{C_NAMES[to]}"
    elif to == FLOAT32 and src in C_NAMES:
        kernel = f"radrt_cast_{C_NAMES[src]}_to_f32"
    else:
        raise unsupported(node, f"cast from {src.name} to {to.name} is not supported; radrt casts "
                                f"between float32 and another type only")
    return Prepared([out], lambda lib, i, o, c, scratch: (getattr(lib, kernel), (i[0], o[0], n)),
                    flops=n, unread_inputs=unread)


def round_through_float16(x: TensorInfo) -> Prepared:
    """Cast of float32 `x` to float16 and back, one step (radrt_cast_f32_via_f16): the
    step runtime.compile's fuse_float16_round makes of such a pair of Casts."""
    n = x.size
    return Prepared([TensorInfo(x.shape, FLOAT32)],
                    lambda lib, i, o, c, scratch: (lib.radrt_cast_f32_via_f16, (i[0], o[0], n)), flops=2 * n)


@register("Cast")
def cast(node, ins):
    if not ins or ins[0] is None:
        raise node_error(node, "input 0 is missing")
    return _cast(node, ins[0], _target_of_cast(node))


@register("CastLike")
def cast_like(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "expected 2 inputs (input, target_type)")
    # Only target_type's element type matters; its data is never read.
    return _cast(node, ins[0], np.dtype(ins[1].dtype), unread=(1,))

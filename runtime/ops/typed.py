"""Elementwise ops on run-time data of every numeric type (C: csrc/kernels/typed.c):
integer and float64 arithmetic (Add, Sub, Mul, Div, Pow, Mod, variadic Max/Min, and
Sum of float64),
comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual: bool out), logic
(And, Or, Xor, Not) and Where. float32 arithmetic stays in elementwise.py
(vectorised row loops, fused clamps); `elementwise.binary` and `elementwise.variadic`
hand other element types here.

Where the ONNX spec leaves integer results open, radrt picks (and typed.h says):
Add/Sub/Mul/Pow wrap modulo 2^bits (as numpy and onnxruntime); Div truncates toward
zero, x / 0 = 0 and INT_MIN / -1 = INT_MIN (numpy and onnxruntime would trap or give
garbage); Mod with fmod=0 takes the divisor's sign (Python's %), with fmod=1 the
dividend's (C's %), x mod 0 = 0; Pow with a negative integer exponent truncates
(1 for base 1, +-1 for base -1, 0 otherwise). Float comparisons with NaN are false.
Broadcasting as elementwise.py (operands collapsed into a radrt_bcast_t).
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import Prepared, TensorInfo, count, node_error, output_info, register, unsupported
from .elementwise import MAX_DIMS, broadcast_params, broadcast_shape

BOOL = np.dtype(np.bool_)
# numpy dtype -> RADRT_T_* code (typed.h).
TYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int8): 2, np.dtype(np.uint8): 3,
              np.dtype(np.int16): 4, np.dtype(np.uint16): 5, np.dtype(np.int32): 6, np.dtype(np.uint32): 7,
              np.dtype(np.int64): 8, np.dtype(np.uint64): 9, BOOL: 10}
ADD, SUB, MUL, DIV, MOD, FMOD, POW, MAX, MIN, EQ, LT, GT, LE, GE, AND, OR, XOR = range(17)
ARITHMETIC = {"Add": ADD, "Sub": SUB, "Mul": MUL, "Div": DIV, "Pow": POW, "Max": MAX, "Min": MIN, "Sum": ADD}
COMPARISONS = {"Equal": EQ, "Less": LT, "Greater": GT, "LessOrEqual": LE, "GreaterOrEqual": GE}
LOGIC = {"And": AND, "Or": OR, "Xor": XOR}
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _same_type(node, ins: Sequence[TensorInfo], allowed, what: str) -> np.dtype:
    types = {np.dtype(i.dtype) for i in ins}
    if len(types) != 1:
        raise node_error(node, f"inputs have element types {sorted(t.name for t in types)}; expected one type")
    dtype = types.pop()
    if dtype not in allowed:
        raise unsupported(node, f"element type {dtype.name} is not supported for {what} (supported: "
                                f"{', '.join(sorted(t.name for t in allowed))})")
    return dtype


def _binary_step(node, op: int, dtype: np.dtype, a: TensorInfo, b: TensorInfo, out_dtype: np.dtype) -> Prepared:
    out = broadcast_shape(node, [a.shape, b.shape])
    y = output_info(node, out, out_dtype)
    params = broadcast_params(node, 0, out, a.shape, b.shape)
    code = TYPE_CODES[dtype]
    n = count(node, out, "output")
    return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_typed_binary, (params, op, code, i[0], i[1], o[0])),
                    flops=n)


def typed_binary(node, ins: List[Optional[TensorInfo]]) -> Prepared:
    """Add/Sub/Mul/Div/Pow of two operands of one non-float32 numeric type."""
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected 2 inputs, got {len([i for i in ins if i is not None])}")
    allowed = set(TYPE_CODES) - {BOOL, np.dtype(np.float32)}
    dtype = _same_type(node, ins, allowed, node.op_type)
    return _binary_step(node, ARITHMETIC[node.op_type], dtype, ins[0], ins[1], dtype)


def typed_variadic(node, ins: List[Optional[TensorInfo]]) -> Prepared:
    """Max/Min (any numeric type) and Sum (float64: the schema) of 2 or more operands of one non-float32 numeric type: the same
    binary kernel folded left over the inputs (y = op(x0, x1), then y = op(y, xk))."""
    if node.op_type not in ARITHMETIC:   # Mean: float32 only (the schema allows it on floats only)
        raise unsupported(node, f"element type {np.dtype(ins[0].dtype).name}: {node.op_type} computes float32 "
                                f"only")
    allowed = set(TYPE_CODES) - {BOOL, np.dtype(np.float32)}
    dtype = _same_type(node, ins, allowed, node.op_type)
    out = broadcast_shape(node, [i.shape for i in ins])
    y = output_info(node, out, dtype)
    op, code = ARITHMETIC[node.op_type], TYPE_CODES[dtype]
    if len(ins) == 1:
        nbytes = ins[0].nbytes
        return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_copy, (i[0], o[0], nbytes)))
    from .._core import ffi
    steps = ffi.new("radrt_bcast_t[]", len(ins) - 1)
    steps[0] = broadcast_params(node, 0, out, ins[0].shape, ins[1].shape)[0]
    for k in range(2, len(ins)):
        steps[k - 1] = broadcast_params(node, 0, out, out, ins[k].shape)[0]
    n = count(node, out, "output")

    def invoke(lib, i, o, c, scratch):
        inputs = ffi.new("const void *[]", [ffi.cast("const void *", p) for p in i])
        return lib.radrt_typed_variadic, (steps, op, code, inputs, len(i), o[0])

    return Prepared([y], invoke, flops=n * (len(ins) - 1))


@register("Mod")
def mod(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "expected 2 inputs")
    dtype = _same_type(node, ins, set(TYPE_CODES) - {BOOL}, "Mod")
    fmod = node.attr("fmod", 0)
    if fmod not in (0, 1):
        raise node_error(node, f"attribute fmod is {fmod}, expected 0 or 1", attribute="fmod", value=fmod)
    if dtype in FLOATS and fmod != 1:
        raise node_error(node, f"a {dtype.name} Mod needs fmod=1 (the spec: fmod=0 is for integers)",
                         attribute="fmod", value=fmod)
    return _binary_step(node, FMOD if fmod else MOD, dtype, ins[0], ins[1], dtype)


@register(*COMPARISONS)
def compare(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "expected 2 inputs")
    allowed = set(TYPE_CODES) if node.op_type == "Equal" else set(TYPE_CODES) - {BOOL}
    dtype = _same_type(node, ins, allowed, node.op_type)
    return _binary_step(node, COMPARISONS[node.op_type], dtype, ins[0], ins[1], BOOL)


@register(*LOGIC)
def logic(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "expected 2 inputs")
    _same_type(node, ins, {BOOL}, node.op_type)
    return _binary_step(node, LOGIC[node.op_type], BOOL, ins[0], ins[1], BOOL)


@register("Not")
def logical_not(node, ins):
    if len(ins) != 1 or ins[0] is None:
        raise node_error(node, "expected 1 input")
    _same_type(node, ins, {BOOL}, "Not")
    x = ins[0]
    y = output_info(node, x.shape, BOOL)
    n = x.size
    return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_not, (i[0], o[0], n)), flops=n)


def _where_params(node, out: Tuple[int, ...], shapes: Sequence[Tuple[int, ...]]):
    """A radrt_where_t: the output index space with each operand's element strides
    (0 on its broadcast dims); size-1 output dims dropped."""
    from .._core import ffi
    rank = len(out)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    dims = [d for d in range(rank) if out[d] != 1] or [None]
    if len(dims) > MAX_DIMS:
        raise unsupported(node, f"Where over {len(dims)} dims of size > 1; radrt supports at most {MAX_DIMS}")
    p = ffi.new("radrt_where_t *")
    p.ndim = len(dims)
    strides = []
    for s in padded:
        run, st = 1, [0] * rank
        for d in range(rank - 1, -1, -1):
            st[d] = 0 if s[d] == 1 else run
            run *= s[d]
        strides.append(st)
    for k, d in enumerate(dims):
        p.shape[k] = 1 if d is None else out[d]
        p.c_stride[k] = 0 if d is None else strides[0][d]
        p.x_stride[k] = 0 if d is None else strides[1][d]
        p.z_stride[k] = 0 if d is None else strides[2][d]
    return p


@register("Where")
def where(node, ins):
    if len(ins) != 3 or any(i is None for i in ins):
        raise node_error(node, "expected 3 inputs (condition, X, Y)")
    c, x, z = ins
    if np.dtype(c.dtype) != BOOL:
        raise node_error(node, f"condition has element type {np.dtype(c.dtype).name}, expected bool")
    dtype = _same_type(node, [x, z], set(TYPE_CODES), "Where")
    out = broadcast_shape(node, [c.shape, x.shape, z.shape])
    y = output_info(node, out, dtype)
    params = _where_params(node, out, [c.shape, x.shape, z.shape])
    size = dtype.itemsize
    n = count(node, out, "output")
    return Prepared([y], lambda lib, i, o, cs, scratch: (lib.radrt_where, (params, size, i[0], i[1], i[2], o[0])),
                    flops=n)

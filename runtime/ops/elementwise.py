"""Binary float32 ops with numpy broadcasting, and variadic Max/Min/Sum/Mean
(C: csrc/kernels/elementwise.c).

Broadcasting is resolved here, once: `broadcast_params` drops the output's
size-1 dims and merges neighbouring dims whose operands broadcast the same way,
so the C kernel sees the fewest rows possible (one flat row for same-shape or
scalar operands, N*C rows of H*W for a per-channel operand). The kernel runs
one row loop per innermost row, chosen by the operands' innermost strides:
  - both 1 (same shape, or an operand repeating along outer dims): vv;
  - b's 0 (b constant along the row: scalar, per-channel, last axis 1): vs;
  - a's 0: sv;  both 0 (only a variadic op's first step): ss;
and walks the outer dims (any broadcast pattern, up to 8 dims after merging;
more is unsupported) with an odometer. Every combination runs the same
per-element expression, so the result does not depend on the row kind;
tests/ops/test_fast_paths.py covers each kind and the general case.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import (FLOAT32, Prepared, TensorInfo, count, fused_clamp, node_error, output_info, register,
               require_float32, unsupported)

MAX_DIMS = 8  # RADRT_MAX_DIMS in csrc/core.h

BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MAX, BIN_MIN, BIN_PRELU = range(8)
BINARY_OPS = {"Add": BIN_ADD, "Sub": BIN_SUB, "Mul": BIN_MUL, "Div": BIN_DIV, "Pow": BIN_POW}
VARIADIC_OPS = {"Max": BIN_MAX, "Min": BIN_MIN, "Sum": BIN_ADD, "Mean": BIN_ADD}


def broadcast_shape(node, shapes: Sequence[Tuple[int, ...]]) -> Tuple[int, ...]:
    """The multidirectional (numpy) broadcast of `shapes`, or a CompileError."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(rank):
        dims = {s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0}
        sizes = dims - {1}
        if len(sizes) > 1:
            raise node_error(node, f"input shapes {', '.join(map(str, shapes))} do not broadcast "
                                   f"(axis {axis} has sizes {sorted(dims)})")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def broadcast_params(node, op: int, out: Tuple[int, ...], a: Tuple[int, ...], b: Tuple[int, ...]):
    """A `radrt_bcast_t` computing `out` from operands of shapes a and b, which
    must broadcast to out (checked by the caller with `broadcast_shape`)."""
    from .._core import ffi
    rank = len(out)
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    dims: List[list] = []  # [size, a broadcast?, b broadcast?], merged
    for o, da, db in zip(out, a, b):
        if o == 1:
            continue
        pattern = [da == 1, db == 1]
        if dims and dims[-1][1:] == pattern:
            dims[-1][0] *= o
        else:
            dims.append([o] + pattern)
    if not dims:
        dims = [[1, False, False]]
    if len(dims) > MAX_DIMS:
        raise unsupported(node, f"broadcasting {a} with {b} needs {len(dims)} dims after merging, "
                                f"radrt supports at most {MAX_DIMS}")
    p = ffi.new("radrt_bcast_t *")
    p.act_min, p.act_max = -np.inf, np.inf  # no clamp; binary/variadic set a fused one
    p.op = op
    p.ndim = len(dims)
    run_a = run_b = 1
    for d in range(len(dims) - 1, -1, -1):
        size, a_bcast, b_bcast = dims[d]
        p.shape[d] = size
        p.a_stride[d] = 0 if a_bcast else run_a
        p.b_stride[d] = 0 if b_bcast else run_b
        run_a *= 1 if a_bcast else size
        run_b *= 1 if b_bcast else size
    return p


def _legacy_broadcast(node, a: TensorInfo, b: TensorInfo) -> Tuple[int, ...]:
    """Opset < 7: B broadcasts to A only with broadcast=1, aligned at `axis`
    (default: trailing dims); returns B's shape padded with ones to A's rank."""
    if not node.attr("broadcast", 0):
        if a.shape != b.shape:
            raise node_error(node, f"input shapes {a.shape} and {b.shape} differ and broadcast=0 "
                                   f"(opset {node.opset})")
        return b.shape
    axis = node.attr("axis", a.rank - b.rank)
    if not 0 <= axis <= a.rank - b.rank:
        raise node_error(node, f"axis {axis} cannot place B of shape {b.shape} inside A of shape {a.shape}")
    padded = (1,) * axis + tuple(b.shape) + (1,) * (a.rank - b.rank - axis)
    if any(db not in (1, da) for da, db in zip(a.shape, padded)):
        raise node_error(node, f"B of shape {b.shape} does not broadcast to A of shape {a.shape} at axis {axis}")
    return padded


@register(*BINARY_OPS)
def binary(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected 2 inputs, got {len([i for i in ins if i is not None])}")
    a, b = ins
    if np.dtype(a.dtype) != FLOAT32:
        from .typed import typed_binary  # integers and float64 (runtime/ops/typed.py)
        return typed_binary(node, ins)
    exponent: Optional[np.ndarray] = None
    if node.op_type == "Pow" and np.dtype(b.dtype) != FLOAT32:
        # Pow takes an exponent of another numeric type; a constant one is
        # converted to float32 here, a runtime one is not supported.
        if b.value is None or not np.issubdtype(b.dtype, np.number):
            raise unsupported(node, f"exponent (input 1) has dtype {np.dtype(b.dtype).name}; only a "
                                    f"float32 exponent or a constant numeric one is supported")
        exponent = b.value.astype(np.float32)
    else:
        require_float32(node, a, b)
    b_shape = _legacy_broadcast(node, a, b) if node.opset < 7 else b.shape
    out = broadcast_shape(node, [a.shape, b_shape])
    y = output_info(node, out, FLOAT32)
    params = broadcast_params(node, BINARY_OPS[node.op_type], out, a.shape, b_shape)
    params.act_min, params.act_max = fused_clamp(node)
    n = count(node, out, "output")

    def invoke(lib, i, o, c, scratch):
        return lib.radrt_binary, (params, i[0], c[0] if exponent is not None else i[1], o[0])

    return Prepared([y], invoke, flops=n,
                    constants=[exponent] if exponent is not None else [],
                    unread_inputs=(1,) if exponent is not None else ())


@register(*VARIADIC_OPS)
def variadic(node, ins):
    if not ins or any(i is None for i in ins):
        raise node_error(node, "expected 1 or more inputs, none omitted")
    if any(np.dtype(i.dtype) != FLOAT32 for i in ins):
        from .typed import typed_variadic  # integers and float64 (runtime/ops/typed.py)
        return typed_variadic(node, ins)
    out = broadcast_shape(node, [i.shape for i in ins])
    y = output_info(node, out, FLOAT32)
    n = count(node, out, "output")
    if len(ins) == 1:  # a copy; Mean of one input is that input
        nbytes = ins[0].nbytes
        return Prepared([y],
                        lambda lib, i, o, c, scratch: (lib.radrt_copy, (i[0], o[0], nbytes)))
    from .._core import ffi
    op = VARIADIC_OPS[node.op_type]
    steps = ffi.new("radrt_bcast_t[]", len(ins) - 1)
    steps[0] = broadcast_params(node, op, out, ins[0].shape, ins[1].shape)[0]
    for k in range(2, len(ins)):
        steps[k - 1] = broadcast_params(node, op, out, out, ins[k].shape)[0]
    steps[len(ins) - 2].act_min, steps[len(ins) - 2].act_max = fused_clamp(node)  # the final step only
    divisor = float(len(ins)) if node.op_type == "Mean" else 1.0

    def invoke(lib, i, o, c, scratch):
        inputs = ffi.new("const float *[]", [ffi.cast("const float *", p) for p in i])
        return lib.radrt_variadic, (steps, inputs, len(i), o[0], n, divisor)

    return Prepared([y], invoke, flops=n * len(ins))

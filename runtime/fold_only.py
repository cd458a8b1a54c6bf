"""Fold-only ops: ops radrt has no kernel for, computed at compile time from constants.

How it works. `fold(node, ins, evaluate)` does two things for a node of
load.FOLD_ONLY_OPS, in this order:
1. `output_bounds` computes the shape and dtype of every output from the input
   shapes and, where the size depends on a value (Range's count, OneHot's depth),
   from that value; each is checked with `sizes.check_tensor` (int64
   and the memory budget) BEFORE anything is evaluated, so a constant
   Range(0, 2e8) under a 100 MB budget is a MemoryBudgetError naming the node,
   not a 2.4 GB allocation.
2. The value: ops whose numerics onnx's ReferenceEvaluator gets wrong or leaves
   to numpy are computed here, in a few lines of numpy that follow the spec
   (and onnxruntime where the spec is silent):
     Range    count = ceil((limit - start) / delta) with limit - start in T, values
              accumulated in T (start, start + delta, ...), as the spec's function
              body and onnxruntime do; delta == 0 or a non-finite count is refused.
     OneHot   depth and float indices cast to int64 (truncation) as the spec says;
              indices in [-depth, depth - 1], negatives counted from the end, others
              give an all-off row; NaN/inf indices or depth, depth < 0 are refused.
   The other ops (comparisons, logic, Where, Round, Sign, Mod, CumSum, NonZero,
   ScatterND) go to `evaluate` (the reference evaluator); tests/test_fold_only.py
   checks them against onnxruntime on edge cases (NaN, -0.0, negative indices, ties,
   empty tensors).
Several of these ops also have a kernel (comparisons, logic, Where, Mod, Sign,
CumSum): a node whose types the kernel takes folds through that kernel
(runtime.compile.fold_constants), and only the types it declines come here.
ArgMax, ArgMin (runtime/ops/argmax.py) and TopK (runtime/ops/topk.py) have a kernel
for every type radrt loads and are no longer fold-only.
Errors: CompileError (invalid values), MemoryBudgetError / SizeOverflowError (size).
"""
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from .ops import node_error
from .sizes import check_tensor

BOOL_OUT = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Not", "And", "Or"})
BROADCAST = BOOL_OUT | {"Mod", "Where"}
SAME_SHAPE = frozenset({"Not", "Round", "Sign", "CumSum"})


def _scalar(node, info, what: str):
    value = None if info is None else info.value
    if value is None or np.asarray(value).size != 1:
        raise node_error(node, f"{what} must be a constant scalar, got "
                               f"{None if value is None else np.asarray(value).shape}")
    return np.asarray(value).reshape(-1)[0]


def _axis(node, rank: int, default: int = 0, extra: int = 0) -> int:
    axis = int(node.attr("axis", default))
    if not -(rank + extra) <= axis < rank + extra:
        raise node_error(node, f"attribute 'axis' is {axis}, expected in [{-(rank + extra)}, "
                               f"{rank + extra - 1}] for input rank {rank}", attribute="axis", value=axis)
    return axis + rank + extra if axis < 0 else axis


def range_count(node, ins) -> int:
    """Element count of Range(start, limit, delta): max(ceil((limit - start) / delta), 0)."""
    start, limit, delta = (_scalar(node, ins[k], n) for k, n in enumerate(("start", "limit", "delta")))
    if delta == 0:
        raise node_error(node, "delta is 0, expected a non-zero step", value=0)
    if np.issubdtype(np.asarray(start).dtype, np.integer):
        span = int(limit) - int(start)
        return max(-(-span // int(delta)), 0)
    with np.errstate(all="ignore"):
        span = limit - start  # in T, as onnxruntime computes it
        quotient = float(span) / float(delta)
    if not math.isfinite(quotient):
        raise node_error(node, f"(limit - start) / delta is {quotient} (start {start}, limit {limit}, "
                               f"delta {delta}), expected a finite element count", value=quotient)
    return max(math.ceil(quotient), 0)


def _onehot_depth(node, ins) -> int:
    depth = _scalar(node, ins[1], "input 1 (depth)")
    if not np.isfinite(depth) or depth < 0:
        raise node_error(node, f"input 1 (depth) is {depth}, expected a finite non-negative number",
                         value=float(depth))
    return int(depth)  # the spec casts a non-integer depth to int64 (truncation)


def output_bounds(node, ins) -> List[Tuple[Tuple[int, ...], np.dtype]]:
    """(shape, dtype) of each output of a fold-only node, from input shapes and the few
    values that set a size; CompileError when they do not broadcast or are invalid."""
    op = node.op_type
    shapes = [() if i is None else tuple(i.shape) for i in ins]
    if op in BROADCAST:
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise node_error(node, f"input shapes {shapes} do not broadcast") from None
        dtype = np.dtype(bool) if op in BOOL_OUT else np.dtype(ins[-1].dtype)
        return [(tuple(shape), dtype)]
    if op in SAME_SHAPE:
        return [(shapes[0], np.dtype(ins[0].dtype))]
    if op == "ScatterND":
        return [(shapes[0], np.dtype(ins[0].dtype))]
    if op == "NonZero":
        return [((len(shapes[0]), int(np.prod(shapes[0], dtype=object))), np.dtype(np.int64))]
    if op == "Range":
        return [((range_count(node, ins),), np.dtype(ins[0].dtype))]
    if op == "OneHot":
        shape = list(shapes[0])
        shape.insert(_axis(node, len(shape), default=-1, extra=1), _onehot_depth(node, ins))
        return [(tuple(shape), np.dtype(ins[2].dtype))]
    raise node_error(node, "no output bound is known for this fold-only op")


def _range(node, ins) -> np.ndarray:
    start, delta = _scalar(node, ins[0], "start"), _scalar(node, ins[2], "delta")
    n = range_count(node, ins)
    dtype = np.asarray(start).dtype
    steps = np.full(n, delta, dtype)
    if n:
        steps[0] = start
    # np.add.accumulate adds left to right in T: start, start + delta, (start + delta) + delta,
    # like the spec's function body (integers never wrap: the last value is before limit).
    return np.add.accumulate(steps, dtype=dtype)


def _onehot(node, ins) -> np.ndarray:
    indices = np.asarray(ins[0].value)
    if indices.dtype.kind == "f" and not np.all(np.isfinite(indices)):
        raise node_error(node, "input 0 (indices) holds NaN or inf, expected finite class indices")
    depth = _onehot_depth(node, ins)
    values = np.asarray(ins[2].value).reshape(-1)
    if values.size != 2:
        raise node_error(node, f"input 2 (values) has {values.size} elements, expected 2 (off, on)")
    idx = indices.astype(np.int64)  # the spec casts non-integer indices to int64 (truncation)
    idx = np.where(idx < 0, idx + depth, idx)
    axis = _axis(node, indices.ndim, default=-1, extra=1)
    classes = np.arange(depth, dtype=np.int64).reshape((-1,) + (1,) * (indices.ndim - axis))
    hot = np.expand_dims(idx, axis) == classes
    return np.where(hot, values[1], values[0]).astype(values.dtype)


OWN = {"Range": _range, "OneHot": _onehot}


def fold(node, ins, evaluate: Callable[[], Sequence[Optional[np.ndarray]]]) -> List[Optional[np.ndarray]]:
    """Outputs of fold-only `node` on constant `ins` (one per node output, None where
    omitted), each bounded and budget-checked before it is computed."""
    bounds = output_bounds(node, ins)
    for k, (shape, dtype) in enumerate(bounds):
        check_tensor(node, shape, dtype, f"output {k}")
    if node.op_type in OWN:
        return [OWN[node.op_type](node, ins)] + [None] * (len(node.outputs) - 1)
    return list(evaluate())

"""Elementwise activations and unary float32 math (C: csrc/kernels/activation.c;
PRelu uses the broadcasting kernel of csrc/kernels/elementwise.c)."""
import numpy as np

from . import (FLOAT32, Prepared, TensorInfo, node_error, register, require_constant,
               require_float32, unsupported)
from .elementwise import BIN_PRELU, broadcast_params

FLT_MAX = float(np.finfo(np.float32).max)

# Ops whose kernel is `radrt_<name>(x, y, n)`.
PLAIN_UNARY = {
    "Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hard_swish", "Tanh": "tanh",
    "Erf": "erf", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Neg": "neg", "Abs": "abs",
    "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil",
}
# Rough cost in flops per element, for `radrt inspect`.
COST = {"sigmoid": 4, "swish": 5, "tanh": 8, "erf": 8, "exp": 4, "log": 4, "hard_swish": 4}


def _unary_input(node, ins) -> TensorInfo:
    if not ins or ins[0] is None:
        raise node_error(node, "input 0 (X) is missing")
    require_float32(node, ins[0])
    return ins[0]


def _prepared(x: TensorInfo, kernel: str, *params) -> Prepared:
    n = x.size
    return Prepared([TensorInfo(x.shape, FLOAT32)],
                    lambda lib, i, o, c, scratch: (getattr(lib, "radrt_" + kernel), (i[0], o[0], n) + params),
                    flops=n * COST.get(kernel, 1))


def swish(x: TensorInfo) -> Prepared:
    """x * sigmoid(x) in one pass (radrt_swish): the step runtime.compile's fuse_swish makes
    of a Sigmoid and the Mul of its input by its output; float32 `x`, checked by the
    Sigmoid's prepare."""
    return _prepared(x, "swish")


@register(*PLAIN_UNARY)
def plain_unary(node, ins):
    return _prepared(_unary_input(node, ins), PLAIN_UNARY[node.op_type])


@register("LeakyRelu")
def leaky_relu(node, ins):
    return _prepared(_unary_input(node, ins), "leaky_relu", float(node.attr("alpha", 0.01)))


@register("HardSigmoid")
def hard_sigmoid(node, ins):
    return _prepared(_unary_input(node, ins), "hard_sigmoid",
                     float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5)))


def _clip_bound(node, ins, index: int, what: str, default: float) -> float:
    info = ins[index] if len(ins) > index else None
    if info is None:
        return default
    value = require_constant(node, info, f"input {index} ({what})")
    if np.dtype(info.dtype) != FLOAT32:
        raise unsupported(node, f"input {index} ({what}) has dtype {np.dtype(info.dtype).name}, "
                                f"expected float32 like the input")
    if value.size != 1:
        raise node_error(node, f"input {index} ({what}) has shape {value.shape}, expected a scalar")
    return float(value.reshape(-1)[0])


def clip_bounds(node, ins):
    """(lo, hi) of a Clip node; the compile stage uses it to fuse Clip into Conv/Gemm.

    An absent bound is the float32 range (the spec's numeric_limits lowest()/max(), every
    opset), so Clip maps +-inf to +-FLT_MAX and passes NaN through, as onnxruntime does."""
    if node.opset < 11:
        return float(node.attr("min", -FLT_MAX)), float(node.attr("max", FLT_MAX))
    return (_clip_bound(node, ins, 1, "min", -FLT_MAX), _clip_bound(node, ins, 2, "max", FLT_MAX))


@register("Clip")
def clip(node, ins):
    x = _unary_input(node, ins)
    lo, hi = clip_bounds(node, ins)
    return _prepared(x, "clip", lo, hi)


@register("PRelu")
def prelu(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, "expected 2 inputs (X, slope)")
    x, slope = ins
    require_float32(node, x, slope)
    # The slope broadcasts unidirectionally to X (numpy rules, X's shape wins).
    padded = (1,) * (x.rank - slope.rank) + tuple(slope.shape)
    if slope.rank > x.rank or any(s not in (1, d) for s, d in zip(padded, x.shape)):
        raise node_error(node, f"slope of shape {slope.shape} does not broadcast to X of shape {x.shape}")
    params = broadcast_params(node, BIN_PRELU, x.shape, x.shape, slope.shape)
    return Prepared([TensorInfo(x.shape, FLOAT32)],
                    lambda lib, i, o, c, scratch: (lib.radrt_binary, (params, i[0], i[1], o[0])),
                    flops=x.size)

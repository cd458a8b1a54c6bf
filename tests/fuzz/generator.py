"""Seeded model generator for the structure fuzzer: a small valid model, then mutations.

`generate(seed) -> (model_bytes, meta)` is deterministic per seed (one
`random.Random(seed)` drives every choice; numpy data comes from a generator
seeded from it). It works in two steps:

1. build: 1-6 nodes drawn from radrt's op set (kernels in runtime/ops, the
   view, compile-time and fold-only ops of runtime/load.py), chained through a
   pool of float32 values whose shapes the builders track themselves, so the
   base model is valid ONNX at opset 13-18;
2. mutate: 0-3 mutations from MUTATIONS, each a function of (rng, model)
   that edits the ModelProto in place: extreme or wrongly typed attributes,
   unknown attributes, input counts, declared and initializer shapes, data
   size and element type mismatches, opset/IR versions, duplicate or cut
   edges, subgraphs, op type and domain swaps.

Nothing here runs onnx.checker: refusing an invalid model is radrt's job.
`meta` = {"seed", "opset", "ops": [op types of the base model],
"mutations": ["name:target", ...]} travels into the fuzz log.
"""
import random
from typing import Callable, Dict, List, Tuple

import numpy as np
import onnx
from onnx import TensorProto, defs, helper, numpy_helper

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64

EXTREME_INTS = [0, -1, -2, 1, 2, 3, 7, 255, 65536, 10**6, 10**9, 2**31 - 1, 2**31, -2**31,
                2**32, 2**62, 2**63 - 1, -2**63, -1000]
EXTREME_FLOATS = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1e38, -1e38, 3.5e38,
                  1e-45, 1.7, -1.0, 0.5, 1e9]
EXTREME_DIMS = [0, -1, -2, -7, 1, 2**31, 10**6, 10**9, 2**62, 2**63 - 1, 3 * 10**8]
ALL_ELEM_TYPES = list(range(0, 24)) + [99]
# Exponent splits whose powers of two multiply to 2^64 (or just past it): element and
# byte counts that wrap to 0 or a small number in int64/size_t arithmetic.
WRAP_EXPONENTS = [(32, 32), (31, 31, 2), (62, 2), (21, 21, 22), (16, 16, 16, 16), (33, 31),
                  (30, 30, 2), (31, 32), (61, 3)]


class _Builder:
    """The model under construction: nodes, graph inputs, initializers, a pool of float values."""

    def __init__(self, rng: random.Random, opset: int):
        self.rng = rng
        self.np = np.random.default_rng(rng.getrandbits(32))
        self.opset = opset
        self.nodes: List[onnx.NodeProto] = []
        self.inputs: List[onnx.ValueInfoProto] = []
        self.inits: List[onnx.TensorProto] = []
        self.pool: List[Tuple[str, Tuple[int, ...]]] = []  # float32 values: (name, shape)
        self.ops: List[str] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def new_input(self, shape: Tuple[int, ...]) -> str:
        name = self.name("x")
        self.inputs.append(helper.make_tensor_value_info(name, F32, list(shape)))
        self.pool.append((name, tuple(shape)))
        return name

    def value(self, ranks=(0, 1, 2, 3, 4)) -> Tuple[str, Tuple[int, ...]]:
        """A float value of one of `ranks`: a recent one from the pool, or a new graph input."""
        fit = [v for v in self.pool if len(v[1]) in ranks and all(d >= 1 for d in v[1])]
        if fit and self.rng.random() < 0.85:
            return fit[-1] if self.rng.random() < 0.6 else self.rng.choice(fit)
        rank = self.rng.choice(list(ranks))
        shape = tuple(self.rng.randint(1, 5) for _ in range(rank))
        return self.new_input(shape), shape

    def init(self, array: np.ndarray, prefix: str = "w") -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def floats(self, shape) -> np.ndarray:
        return self.np.standard_normal(tuple(shape)).astype(np.float32)

    def ints(self, values) -> str:
        return self.init(np.asarray(values, np.int64), "k")

    def node(self, op: str, inputs: List[str], shape: Tuple[int, ...], n_out: int = 1,
             **attrs) -> List[str]:
        """Adds `op`; its first output is a float value of `shape` (None: not a float value)."""
        outs = [self.name("v") for _ in range(n_out)]
        named = self.rng.random() < 0.7
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op.lower()) if named else "",
                                           **attrs))
        self.ops.append(op)
        if shape is not None:
            self.pool.append((outs[0], tuple(shape)))
        return outs


# ---- op builders: each adds one or a few nodes and registers the float output ----------

UNARY = ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Floor", "Ceil", "Sqrt", "Log",
         "Reciprocal", "Erf", "HardSwish", "Identity", "Dropout"]
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
          "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]


def _broadcast_partner(b: _Builder, shape) -> Tuple[int, ...]:
    r = b.rng.random()
    if r < 0.3:
        return tuple(shape)
    if r < 0.5:
        return ()
    if r < 0.8:
        return tuple(d if b.rng.random() < 0.5 else 1 for d in shape)
    return tuple(shape[len(shape) - b.rng.randint(0, len(shape)):])


def _bcast(a, c):
    rank = max(len(a), len(c))
    a, c = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(c)) + tuple(c)
    return tuple(max(x, y) for x, y in zip(a, c))


def b_unary(b):
    x, s = b.value()
    op = b.rng.choice(UNARY + ["LeakyRelu", "HardSigmoid"])
    if op == "HardSwish" and b.opset < 14:
        op = "Relu"
    attrs = {}
    if op == "LeakyRelu":
        attrs["alpha"] = b.rng.choice([0.01, 0.2])
    b.node(op, [x], s, **attrs)


def b_softmax(b):
    x, s = b.value((1, 2, 3, 4))
    b.node(b.rng.choice(["Softmax", "LogSoftmax"]), [x], s, axis=b.rng.randint(-len(s), len(s) - 1))


def b_clip(b):
    x, s = b.value()
    ins = [x, b.init(np.float32(-0.5)) if b.rng.random() < 0.7 else "",
           b.init(np.float32(0.5)) if b.rng.random() < 0.7 else ""]
    while ins and ins[-1] == "":
        ins.pop()
    b.node("Clip", ins, s)


def b_binary(b):
    x, s = b.value()
    other = _broadcast_partner(b, s)
    y = b.init(b.floats(other)) if b.rng.random() < 0.7 else b.new_input(other)
    ins = [x, y] if b.rng.random() < 0.5 else [y, x]
    b.node(b.rng.choice(["Add", "Sub", "Mul", "Div", "Pow"]), ins, _bcast(s, other))


def b_variadic(b):
    x, s = b.value()
    others = [_broadcast_partner(b, s) for _ in range(b.rng.randint(1, 2))]
    ins = [x] + [b.init(b.floats(o)) for o in others]
    out = s
    for o in others:
        out = _bcast(out, o)
    b.node(b.rng.choice(["Max", "Min", "Sum", "Mean"]), ins, out)


def b_prelu(b):
    x, s = b.value((1, 2, 3, 4))
    slope = (s[1],) + (1,) * (len(s) - 2) if len(s) >= 2 and b.rng.random() < 0.6 else (s[-1],)
    b.node("PRelu", [x, b.init(b.floats(slope))], s)


def b_matmul(b):
    x, s = b.value((1, 2, 3))
    n = b.rng.randint(1, 5)
    out = s[:-1] + (n,)
    b.node("MatMul", [x, b.init(b.floats((s[-1], n)))], out)


def b_gemm(b):
    x, s = b.value((2,))
    m, k = s
    ta, tb = b.rng.randint(0, 1), b.rng.randint(0, 1)
    if ta:
        m, k = k, m
    n = b.rng.randint(1, 5)
    w = b.init(b.floats((n, k) if tb else (k, n)))
    ins = [x, w]
    if b.rng.random() < 0.7:
        ins.append(b.init(b.floats(b.rng.choice([(n,), (1, n), (m, n), (), (m, 1)]))))
    b.node("Gemm", ins, (m, n), transA=ta, transB=tb, alpha=b.rng.choice([1.0, 0.5]),
           beta=b.rng.choice([1.0, 2.0]))


def _spatial_params(b, dims, kernel_max=3):
    k = [b.rng.randint(1, min(kernel_max, d)) for d in dims]
    s = [b.rng.randint(1, 2) for _ in dims]
    d = [1 if b.rng.random() < 0.8 else 2 for _ in dims]
    d = [dd if (kk - 1) * dd + 1 <= dim else 1 for dd, kk, dim in zip(d, k, dims)]
    p = [b.rng.randint(0, kk - 1) for kk in k] + [b.rng.randint(0, kk - 1) for kk in k]
    return k, s, d, p


def _conv_out(dims, k, s, d, p):
    n = len(dims)
    return [(dim + p[i] + p[i + n] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i, dim in enumerate(dims)]


def b_conv(b):
    x, s = b.value((3, 4))
    c = s[1]
    group = c if c > 1 and b.rng.random() < 0.3 else 1
    m = group * b.rng.randint(1, 3)
    k, st, d, p = _spatial_params(b, s[2:])
    out = _conv_out(s[2:], k, st, d, p)
    ins = [x, b.init(b.floats((m, c // group) + tuple(k)))]
    if b.rng.random() < 0.6:
        ins.append(b.init(b.floats((m,))))
    b.node("Conv", ins, (s[0], m) + tuple(out), kernel_shape=k, strides=st, dilations=d,
           pads=p, group=group)


def b_conv_transpose(b):
    x, s = b.value((3, 4))
    c, m = s[1], b.rng.randint(1, 3)
    k, st, d, p = _spatial_params(b, s[2:])
    n = len(k)
    out = [st[i] * (s[2 + i] - 1) + (k[i] - 1) * d[i] + 1 - p[i] - p[i + n] for i in range(n)]
    ins = [x, b.init(b.floats((c, m) + tuple(k)))]
    if b.rng.random() < 0.5:
        ins.append(b.init(b.floats((m,))))
    b.node("ConvTranspose", ins, (s[0], m) + tuple(out), kernel_shape=k, strides=st,
           dilations=d, pads=p)


def b_pool(b):
    x, s = b.value((3, 4))
    op = b.rng.choice(["MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool"])
    if op.startswith("Global"):
        b.node(op, [x], s[:2] + (1,) * (len(s) - 2))
        return
    k, st, d, p = _spatial_params(b, s[2:])
    attrs = dict(kernel_shape=k, strides=st, pads=p)
    if op == "MaxPool" and b.rng.random() < 0.3:
        attrs["dilations"] = d
    else:
        d = [1] * len(k)
    if op == "AveragePool":
        attrs["count_include_pad"] = b.rng.randint(0, 1)
    b.node(op, [x], s[:2] + tuple(_conv_out(s[2:], k, st, d, p)), **attrs)


def b_batchnorm(b):
    x, s = b.value((2, 3, 4))
    c = s[1]
    params = [b.floats((c,)), b.floats((c,)), b.floats((c,)), np.abs(b.floats((c,))) + 0.1]
    b.node("BatchNormalization", [x] + [b.init(a) for a in params], s, epsilon=1e-5)


def b_layernorm(b):
    if b.opset < 17:
        return b_unary(b)
    x, s = b.value((1, 2, 3, 4))
    axis = b.rng.randint(-len(s), len(s) - 1)
    norm = s[axis % len(s):]
    ins = [x, b.init(b.floats(norm))]
    if b.rng.random() < 0.5:
        ins.append(b.init(b.floats(norm)))
    b.node("LayerNormalization", ins, s, axis=axis)


def b_lrn(b):
    x, s = b.value((4,))
    b.node("LRN", [x], s, size=b.rng.choice([1, 3, 5]))


def b_pad(b):
    x, s = b.value((1, 2, 3, 4))
    pads = [b.rng.randint(0, 2) for _ in range(2 * len(s))]
    mode = b.rng.choice(["constant", "constant", "reflect", "edge"])
    if mode == "reflect":
        pads = [min(p, s[i % len(s)] - 1) for i, p in enumerate(pads)]
    ins = [x, b.ints(pads)]
    if mode == "constant" and b.rng.random() < 0.5:
        ins.append(b.init(np.float32(1.5)))
    out = tuple(d + pads[i] + pads[i + len(s)] for i, d in enumerate(s))
    b.node("Pad", ins, out, mode=mode)


def b_slice(b):
    x, s = b.value((1, 2, 3, 4))
    axes = sorted(b.rng.sample(range(len(s)), b.rng.randint(1, len(s))))
    starts, ends, steps, out = [], [], [], list(s)
    for a in axes:
        st = b.rng.choice([1, 1, 2, -1])
        lo, hi = b.rng.randint(-s[a], s[a]), b.rng.choice([s[a], -1, 2**63 - 1, 0, -s[a] - 1])
        if st < 0:
            lo, hi = hi, lo
        starts.append(lo), ends.append(hi), steps.append(st)
        out[a] = len(range(*slice(lo, hi, st).indices(s[a])))
    ins = [x, b.ints(starts), b.ints(ends), b.ints(axes)]
    if b.rng.random() < 0.7:
        ins.append(b.ints(steps))
    elif steps != [1] * len(steps):
        ins.append(b.ints(steps))
    b.node("Slice", ins, tuple(out))


def b_transpose(b):
    x, s = b.value((1, 2, 3, 4))
    perm = list(range(len(s)))
    b.rng.shuffle(perm)
    b.node("Transpose", [x], tuple(s[p] for p in perm), perm=perm)


def b_concat(b):
    x, s = b.value((1, 2, 3, 4))
    axis = b.rng.randint(0, len(s) - 1)
    other = list(s)
    other[axis] = b.rng.randint(1, 3)
    out = list(s)
    out[axis] += other[axis]
    b.node("Concat", [x, b.init(b.floats(other))], tuple(out), axis=axis - len(s) * b.rng.randint(0, 1))


def b_split(b):
    x, s = b.value((1, 2, 3, 4))
    axis = max(range(len(s)), key=lambda a: s[a])
    if s[axis] < 2:
        b.node("Split", [x, b.ints([s[axis]])], s, axis=axis)
        return
    first = b.rng.randint(1, s[axis] - 1)
    sizes = [first, s[axis] - first]
    out = list(s)
    out[axis] = first
    b.node("Split", [x, b.ints(sizes)], tuple(out), n_out=2, axis=axis)


def b_gather(b):
    x, s = b.value((1, 2, 3, 4))
    axis = b.rng.randint(0, len(s) - 1)
    ishape = tuple(b.rng.randint(1, 3) for _ in range(b.rng.randint(0, 2)))
    idx = b.np.integers(-s[axis], s[axis], size=ishape)
    b.node("Gather", [x, b.ints(idx)], s[:axis] + ishape + s[axis + 1:], axis=axis)


def b_expand(b):
    x, s = b.value((0, 1, 2, 3))
    target = [d if d != 1 else b.rng.randint(1, 3) for d in s]
    if b.rng.random() < 0.5:
        target = [b.rng.randint(1, 3)] + target
    b.node("Expand", [x, b.ints(target)], _bcast(s, target))


def b_tile(b):
    x, s = b.value((1, 2, 3))
    reps = [b.rng.randint(1, 3) for _ in s]
    b.node("Tile", [x, b.ints(reps)], tuple(d * r for d, r in zip(s, reps)))


def b_reshape(b):
    x, s = b.value((1, 2, 3, 4))
    total = int(np.prod(s))
    target = [total] if b.rng.random() < 0.3 else []
    if not target:
        rest = total
        for _ in range(b.rng.randint(1, 3)):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = b.rng.choice(divs)
            target.append(d)
            rest //= d
        target.append(rest)
    out = tuple(target)
    if b.rng.random() < 0.4:
        target[b.rng.randrange(len(target))] = -1
    b.node("Reshape", [x, b.ints(target)], out)


def b_flatten(b):
    x, s = b.value((1, 2, 3, 4))
    axis = b.rng.randint(0, len(s))
    b.node("Flatten", [x], (int(np.prod(s[:axis])), int(np.prod(s[axis:]))), axis=axis)


def b_squeeze(b):
    x, s = b.value((0, 1, 2, 3))
    axes = sorted(b.rng.sample(range(len(s) + 1), b.rng.randint(1, min(2, len(s) + 1))))
    out = list(s)
    for a in axes:
        out.insert(a, 1)
    y = b.node("Unsqueeze", [x, b.ints(axes)], tuple(out))[0]
    if b.rng.random() < 0.5:
        b.node("Squeeze", [y, b.ints(axes)], s)


def b_cast(b):
    x, s = b.value()
    to = b.rng.choice([TensorProto.INT32, TensorProto.INT64, TensorProto.DOUBLE,
                       TensorProto.FLOAT16, TensorProto.INT8, TensorProto.UINT8, TensorProto.BOOL])
    y = b.node("Cast", [x], None, to=to)[0]
    if b.rng.random() < 0.5:
        b.node("Cast", [y], s, to=F32)
    elif b.opset >= 15:
        b.node("CastLike", [y, b.init(np.float32(0))], s)


def b_resize(b):
    x, s = b.value((3, 4))
    mode = b.rng.choice(["nearest", "linear", "cubic"])
    scales = [1.0, 1.0] + [b.rng.choice([0.5, 1.0, 2.0, 1.5]) for _ in s[2:]]
    out = tuple(int(np.floor(d * sc)) for d, sc in zip(s, scales))
    if any(o < 1 for o in out):
        scales = [1.0] * len(s)
        out = s
    attrs = dict(mode=mode, coordinate_transformation_mode=b.rng.choice(
        ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"]))
    if b.rng.random() < 0.5:
        ins = [x, "", b.init(np.asarray(scales, np.float32))]
    else:
        ins = [x, "", "", b.ints(out)]
    b.node("Resize", ins, out, **attrs)


def b_reduce(b):
    x, s = b.value((1, 2, 3, 4))
    op = b.rng.choice(REDUCE)
    axes = sorted(b.rng.sample(range(len(s)), b.rng.randint(1, len(s))))
    keep = b.rng.randint(0, 1)
    out = tuple(1 if i in axes else d for i, d in enumerate(s)) if keep else \
        tuple(d for i, d in enumerate(s) if i not in axes)
    if b.opset >= 18 or (op == "ReduceSum" and b.opset >= 13):
        b.node(op, [x, b.ints(axes)], out, keepdims=keep)
    else:
        b.node(op, [x], out, axes=axes, keepdims=keep)


def b_shape_chain(b):
    x, s = b.value((1, 2, 3))
    shp = b.node("Shape", [x], None)[0]
    value = numpy_helper.from_array(np.asarray([0.25], np.float32), "value")
    c = b.node("ConstantOfShape", [shp], None, value=value)[0]
    b.node("Add", [x, c], s)


def b_size_chain(b):
    x, s = b.value()
    n = b.node("Size", [x], None)[0]
    f = b.node("Cast", [n], None, to=F32)[0]
    b.node("Mul", [x, f], s)


def b_constant(b):
    x, s = b.value()
    c = b.node("Constant", [], None, value=numpy_helper.from_array(b.floats(s[-1:] if s else ()), "c"))[0]
    b.node("Add", [x, c], s)


def b_fold_chain(b):
    x, s = b.value((1, 2, 3))
    n = s[-1]
    r = b.node("Range", [b.ints(0), b.ints(n), b.ints(1)], None)[0]
    if b.rng.random() < 0.5:
        g = b.node("Greater", [r, b.ints(n // 2)], None)[0]
        r = b.node("Where", [g, r, b.ints(np.zeros(n, np.int64))], None)[0]
    f = b.node("Cast", [r], None, to=F32)[0]
    b.node("Add", [x, f], s)


def b_if(b):
    x, s = b.value()
    branches = []
    for op in (b.rng.choice(["Relu", "Neg", "Abs"]), b.rng.choice(["Sigmoid", "Identity"])):
        out = b.name("branch")
        g = helper.make_graph([helper.make_node(op, [x], [out])], b.name("g"), [],
                              [helper.make_tensor_value_info(out, F32, list(s))])
        branches.append(g)
    cond = b.init(np.asarray(b.rng.random() < 0.5))
    b.node("If", [cond], s, then_branch=branches[0], else_branch=branches[1])


BUILDERS: Dict[str, Callable] = {
    "unary": b_unary, "softmax": b_softmax, "clip": b_clip, "binary": b_binary,
    "variadic": b_variadic, "prelu": b_prelu, "matmul": b_matmul, "gemm": b_gemm,
    "conv": b_conv, "conv_transpose": b_conv_transpose, "pool": b_pool,
    "batchnorm": b_batchnorm, "layernorm": b_layernorm, "lrn": b_lrn, "pad": b_pad,
    "slice": b_slice, "transpose": b_transpose, "concat": b_concat, "split": b_split,
    "gather": b_gather, "expand": b_expand, "tile": b_tile, "reshape": b_reshape,
    "flatten": b_flatten, "squeeze": b_squeeze, "cast": b_cast, "resize": b_resize,
    "reduce": b_reduce, "shape_chain": b_shape_chain, "size_chain": b_size_chain,
    "constant": b_constant, "fold_chain": b_fold_chain, "if": b_if,
}
ALL_OPS = sorted(set(UNARY + REDUCE + [
    "LeakyRelu", "HardSigmoid", "Softmax", "LogSoftmax", "Clip", "Add", "Sub", "Mul", "Div", "Pow",
    "Max", "Min", "Sum", "Mean", "PRelu", "MatMul", "Gemm", "Conv", "ConvTranspose", "MaxPool",
    "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "BatchNormalization",
    "LayerNormalization", "LRN", "Pad", "Slice", "Transpose", "Concat", "Split", "Gather",
    "Expand", "Tile", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "CastLike", "Resize",
    "Upsample", "Shape", "Size", "ConstantOfShape", "Constant", "Range", "Where", "Greater",
    "If", "ArgMax", "TopK", "OneHot", "NonZero", "ScatterND", "CumSum", "Loop", "Scan"]))


def build(rng: random.Random) -> Tuple[onnx.ModelProto, _Builder]:
    opset = rng.choice([13, 14, 15, 17, 18])
    b = _Builder(rng, opset)
    keys = sorted(BUILDERS)
    for _ in range(rng.randint(1, 6)):
        BUILDERS[rng.choice(keys)](b)
    outputs = [b.pool[-1]]
    if len(b.pool) > 2 and rng.random() < 0.3:
        outputs.append(rng.choice(b.pool[:-1]))
    outs, seen = [], set()
    for name, shape in outputs:
        if name not in seen:
            seen.add(name)
            outs.append(helper.make_tensor_value_info(name, F32, list(shape)))
    graph = helper.make_graph(b.nodes, "fuzz", b.inputs, outs, b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model, b


# ---- mutations: each edits the model in place and returns a short "what:target" tag ----------

def _nodes(model):
    """Every node, subgraph nodes included."""
    out = []

    def walk(g):
        for n in g.node:
            out.append(n)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)
    walk(model.graph)
    return out


def _pick_node(rng, model):
    nodes = _nodes(model)
    return rng.choice(nodes) if nodes else None


def _extreme_int(rng):
    return rng.choice(EXTREME_INTS) if rng.random() < 0.8 else rng.randint(-2**63, 2**63 - 1)


def _wrap_vector(rng, n):
    """n values (n >= 1) whose product reaches 2^64 or just below it: counts that wrap."""
    fits = [e for e in WRAP_EXPONENTS if len(e) <= n]
    exps = list(rng.choice(fits)) if fits and n > 1 else [62]
    vals = [1] * (n - len(exps)) + [2 ** e for e in exps]
    rng.shuffle(vals)
    return vals


def _set_attr(node, name, value, attr_type=None):
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute(name, value, attr_type=attr_type))


def _schema_attrs(node, opset):
    try:
        return defs.get_schema(node.op_type, max(opset, 1), node.domain).attributes
    except Exception:  # unknown op or opset: no schema to draw from
        return {}


def _opset(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18)


def m_attr_extreme(rng, model):
    """An INT/INTS/FLOAT attribute (existing, or one the schema allows) set to extreme values."""
    node = _pick_node(rng, model)
    if node is None:
        return "attr_extreme:none"
    A = onnx.AttributeProto
    cands = {a.name: a.type for a in node.attribute if a.type in (A.INT, A.INTS, A.FLOAT, A.FLOATS)}
    for name, sa in _schema_attrs(node, _opset(model)).items():
        t = int(sa.type)
        if t in (A.INT, A.INTS, A.FLOAT, A.FLOATS) and rng.random() < 0.5:
            cands.setdefault(name, t)
    if not cands:
        return f"attr_extreme:{node.op_type}:none"
    # Shape-arithmetic attributes first: that is where sizes are computed.
    spatial = sorted(c for c in cands if c in ("strides", "pads", "dilations", "kernel_shape",
                                                "output_padding", "output_shape", "axis", "axes"))
    name = rng.choice(spatial if spatial and rng.random() < 0.6 else sorted(cands))
    t = cands[name]
    existing = next((a for a in node.attribute if a.name == name), None)
    if t == A.INT:
        _set_attr(node, name, _extreme_int(rng), A.INT)
    elif t == A.FLOAT:
        _set_attr(node, name, rng.choice(EXTREME_FLOATS), A.FLOAT)
    elif t == A.FLOATS:
        n = len(existing.floats) if existing is not None and existing.floats else rng.randint(1, 4)
        _set_attr(node, name, [rng.choice(EXTREME_FLOATS) for _ in range(n)], A.FLOATS)
    else:
        vals = list(existing.ints) if existing is not None and existing.ints else \
            [rng.randint(1, 3) for _ in range(rng.choice([1, 2, 4]))]
        if rng.random() < 0.15:
            vals = _wrap_vector(rng, len(vals))
        elif rng.random() < 0.5:
            vals[rng.randrange(len(vals))] = _extreme_int(rng)
        else:
            vals = [_extreme_int(rng) for _ in vals]
        if rng.random() < 0.15:
            vals = vals + [_extreme_int(rng)] if rng.random() < 0.5 else vals[:-1]
        _set_attr(node, name, vals, A.INTS)
    return f"attr_extreme:{node.op_type}.{name}"


def m_attr_wrong_type(rng, model):
    node = _pick_node(rng, model)
    if node is None or not node.attribute:
        return "attr_wrong_type:none"
    a = rng.choice(list(node.attribute))
    choices = [("INT", 1), ("INT", 2), ("FLOAT", 1.7), ("FLOAT", float("nan")), ("STRING", "ab"),
               ("STRING", "1"), ("INTS", [1, 2]), ("FLOATS", [1.5, 1.0]), ("STRINGS", ["x"]),
               ("TENSOR", numpy_helper.from_array(np.asarray([1], np.int64), "t")),
               ("INTS", []), ("GRAPH", helper.make_graph([], "empty", [], []))]
    kind, value = rng.choice(choices)
    _set_attr(node, a.name, value, getattr(onnx.AttributeProto, kind))
    return f"attr_wrong_type:{node.op_type}.{a.name}={kind}"


def m_attr_unknown(rng, model):
    node = _pick_node(rng, model)
    if node is None:
        return "attr_unknown:none"
    name = rng.choice(["pad", "axiss", "foo", "stride", "kernel", "mode", "to", "perm", "value",
                       "_fused_clip"])
    value = rng.choice([1, [1, 1], 0.5, "same", [0.0, 1.0]])
    _set_attr(node, name, value)
    return f"attr_unknown:{node.op_type}.{name}"


def m_input_count(rng, model):
    node = _pick_node(rng, model)
    if node is None:
        return "input_count:none"
    names = [vi.name for vi in model.graph.input] + [t.name for t in model.graph.initializer]
    r = rng.random()
    ins = list(node.input)
    if r < 0.3 and ins:
        ins.pop()
        what = "drop_last"
    elif r < 0.55:
        ins.append(rng.choice(names + [""]) if names else "")
        what = "extra"
    elif ins:
        ins[rng.randrange(len(ins))] = ""
        what = "omit"
    else:
        what = "noop"
    del node.input[:]
    node.input.extend(ins)
    return f"input_count:{node.op_type}:{what}"


def m_input_shape(rng, model):
    """A declared graph input shape: extreme, negative, symbolic, missing or of another rank."""
    if not model.graph.input:
        return "input_shape:none"
    vi = rng.choice(list(model.graph.input))
    shape = vi.type.tensor_type.shape
    r = rng.random()
    if r < 0.1:
        vi.type.tensor_type.ClearField("shape")
        return "input_shape:no_shape"
    if r < 0.2:
        shape.dim.add().dim_value = rng.randint(1, 3)
        return "input_shape:rank+1"
    if r < 0.3 and shape.dim:
        del shape.dim[-1]
        return "input_shape:rank-1"
    if r < 0.38 and shape.dim:
        for d, v in zip(shape.dim, _wrap_vector(rng, len(shape.dim))):
            d.dim_value = v
        return "input_shape:wrap"
    if r < 0.45 and shape.dim:
        dims = [rng.choice([1000, 10**4, 3 * 10**4]) for _ in shape.dim]
        for d, v in zip(shape.dim, dims):
            d.dim_value = v
        return "input_shape:huge_all"
    if not shape.dim:
        return "input_shape:scalar"
    d = rng.choice(list(shape.dim))
    if rng.random() < 0.2:
        d.dim_param = rng.choice(["N", "batch", ""])
        return "input_shape:dim_param"
    d.dim_value = rng.choice(EXTREME_DIMS)
    return f"input_shape:dim={d.dim_value}"


def m_init_shape(rng, model):
    """Initializer dims changed without its data: size mismatch, zero, negative, huge."""
    if not model.graph.initializer:
        return "init_shape:none"
    t = rng.choice(list(model.graph.initializer))
    dims = list(t.dims)
    r = rng.random()
    if r < 0.3 and dims:
        dims[rng.randrange(len(dims))] = rng.choice(EXTREME_DIMS)
    elif r < 0.5:
        dims.append(rng.choice([1, 2, 10**6]))
    elif r < 0.65 and dims:
        dims.pop()
    else:
        dims = [rng.choice([10**6, 1000, 2**31]) for _ in dims] or [10**6]
    del t.dims[:]
    t.dims.extend(dims)
    return f"init_shape:{t.name}"


def m_int_values(rng, model):
    """An int64 initializer (shape, axes, pads, indices, repeats, split...) given extreme values."""
    ints = [t for t in model.graph.initializer if t.data_type == I64]
    if not ints:
        return "int_values:none"
    t = rng.choice(ints)
    arr = numpy_helper.to_array(t).copy()
    flat = arr.reshape(-1)
    if flat.size:
        if rng.random() < 0.2:
            flat[:] = _wrap_vector(rng, flat.size)
        elif rng.random() < 0.6:
            flat[rng.randrange(flat.size)] = _extreme_int(rng)
        else:
            flat[:] = [_extreme_int(rng) for _ in range(flat.size)]
    elif rng.random() < 0.5:
        arr = np.asarray([_extreme_int(rng)], np.int64)
    if rng.random() < 0.15:
        arr = np.append(arr.reshape(-1), np.int64(_extreme_int(rng)))
    t.CopyFrom(numpy_helper.from_array(arr.astype(np.int64), t.name))
    return f"int_values:{t.name}"


def m_init_data(rng, model):
    """Initializer data: truncated/extended raw_data, data in a wrong field, element type changed."""
    if not model.graph.initializer:
        return "init_data:none"
    t = rng.choice(list(model.graph.initializer))
    r = rng.random()
    if r < 0.25 and t.raw_data:
        t.raw_data = t.raw_data[:rng.randrange(len(t.raw_data))]
        return "init_data:raw_short"
    if r < 0.4:
        t.raw_data = t.raw_data + bytes(rng.choice([1, 4, 8, 64]))
        return "init_data:raw_long"
    if r < 0.55:
        t.ClearField("raw_data")
        t.float_data.extend([1.0] * rng.randint(0, 3))
        return "init_data:wrong_field"
    t.data_type = rng.choice(ALL_ELEM_TYPES)
    return f"init_data:type={t.data_type}"


def m_elem_type(rng, model):
    vis = list(model.graph.input) + list(model.graph.output)
    if not vis:
        return "elem_type:none"
    vi = rng.choice(vis)
    vi.type.tensor_type.elem_type = rng.choice(ALL_ELEM_TYPES)
    return f"elem_type:{vi.type.tensor_type.elem_type}"


def m_opset(rng, model):
    r = rng.random()
    if not model.opset_import:
        model.opset_import.append(helper.make_opsetid("", 18))
    if r < 0.45:
        v = rng.randint(0, 25) if rng.random() < 0.9 else rng.choice([99, 2**31, -1])
        model.opset_import[0].version = v
        return f"opset:{v}"
    if r < 0.55:
        del model.opset_import[:]
        return "opset:none"
    if r < 0.65:
        model.opset_import.append(helper.make_opsetid(rng.choice(["", "ai.onnx", "com.microsoft"]),
                                                      rng.randint(1, 20)))
        return "opset:extra_import"
    v = rng.choice([0, 1, 2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 99])
    model.ir_version = v
    return f"ir_version:{v}"


def m_duplicate(rng, model):
    """SSA violations: two writers of one value, a node overwriting a graph input, twin initializers."""
    g = model.graph
    nodes = list(g.node)
    r = rng.random()
    if r < 0.35 and len(nodes) >= 2:
        a, c = rng.sample(nodes, 2)
        c.output[0] = a.output[0]
        return "duplicate:output"
    if r < 0.6 and nodes and g.input:
        rng.choice(nodes).output[0] = rng.choice(list(g.input)).name
        return "duplicate:overwrite_input"
    if r < 0.8 and g.initializer:
        t = rng.choice(list(g.initializer))
        twin = onnx.TensorProto()
        twin.CopyFrom(t)
        g.initializer.append(twin)
        return "duplicate:initializer"
    if g.initializer and g.input:
        t = rng.choice(list(g.initializer))
        t.name = rng.choice(list(g.input)).name
        return "duplicate:initializer_as_input"
    if len(nodes) >= 2:
        nodes[1].name = nodes[0].name or "dup"
        nodes[0].name = nodes[1].name
    return "duplicate:node_name"


def m_edges(rng, model):
    """Renamed, cut, cyclic or out-of-order edges."""
    g = model.graph
    nodes = list(g.node)
    if not nodes:
        return "edges:none"
    r = rng.random()
    n = rng.choice(nodes)
    if r < 0.25 and n.input:
        n.input[rng.randrange(len(n.input))] = "missing_value"
        return "edges:missing_input"
    if r < 0.4 and n.input:
        n.input[0] = n.output[0]
        return "edges:self_loop"
    if r < 0.55 and len(nodes) >= 2:
        i = nodes.index(n)
        if i + 1 < len(nodes) and n.input:
            n.input[0] = nodes[-1].output[0]
            return "edges:forward_ref"
    if r < 0.7 and len(nodes) >= 2:
        order = list(nodes)
        rng.shuffle(order)
        del g.node[:]
        g.node.extend(order)
        return "edges:shuffled"
    if r < 0.85:
        g.output[0].name = rng.choice(["nowhere", g.input[0].name if g.input else "nowhere"])
        return "edges:output_renamed"
    g.node.remove(n)
    return f"edges:cut_{n.op_type}"


def m_subgraph(rng, model):
    """Wrap a node into an If (constant or run-time condition) or add a Loop/Scan."""
    g = model.graph
    if not g.node:
        return "subgraph:none"
    n = rng.choice(list(g.node))
    r = rng.random()
    if r < 0.2:
        n.op_type = rng.choice(["Loop", "Scan"])
        return "subgraph:loop_scan"
    inner = onnx.NodeProto()
    inner.CopyFrom(n)
    outs = [f"{o}_inner" for o in n.output]
    del inner.output[:]
    inner.output.extend(outs)
    branch_outs = [helper.make_tensor_value_info(o, F32, None) for o in outs]
    if rng.random() < 0.2:
        branch_outs = branch_outs[:-1] + [helper.make_tensor_value_info("not_produced", F32, None)]
    then_g = helper.make_graph([inner], "then", [], branch_outs)
    else_g = helper.make_graph([inner], "else", [], list(branch_outs))
    if r < 0.6:
        cond = "fuzz_cond"
        g.initializer.append(numpy_helper.from_array(np.asarray(rng.random() < 0.5), cond))
    else:
        cond = g.input[0].name if g.input and rng.random() < 0.5 else "fuzz_cond_in"
        if cond == "fuzz_cond_in":
            g.input.append(helper.make_tensor_value_info(cond, TensorProto.BOOL, []))
    wrapper = helper.make_node("If", [cond], list(n.output), name=n.name + "_if",
                               then_branch=then_g, else_branch=else_g)
    i = list(g.node).index(n)
    g.node.remove(n)
    g.node.insert(i, wrapper)
    return "subgraph:if"


def m_op_swap(rng, model):
    node = _pick_node(rng, model)
    if node is None:
        return "op_swap:none"
    old = node.op_type
    node.op_type = rng.choice(ALL_OPS)
    return f"op_swap:{old}->{node.op_type}"


def m_domain(rng, model):
    node = _pick_node(rng, model)
    if node is None:
        return "domain:none"
    node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "ai.onnx", "fuzz.domain"])
    return f"domain:{node.domain}"


def m_constant_node(rng, model):
    """A Constant node with an extreme or odd payload feeding a node input."""
    g = model.graph
    if not g.node:
        return "constant_node:none"
    n = rng.choice(list(g.node))
    if not n.input:
        return "constant_node:noinput"
    r = rng.random()
    if r < 0.3:
        attrs = {"value_ints": [_extreme_int(rng) for _ in range(rng.randint(1, 4))]}
    elif r < 0.45:
        attrs = {"value_float": rng.choice(EXTREME_FLOATS)}
    elif r < 0.6:
        attrs = {"value_int": _extreme_int(rng)}
    elif r < 0.7:
        attrs = {"value_string": "abc"}
    elif r < 0.8:
        attrs = {}
    else:
        with np.errstate(over="ignore"):
            attrs = {"value": numpy_helper.from_array(
                np.full((rng.randint(0, 3),), rng.choice(EXTREME_FLOATS), np.float32), "c")}
    name = "fuzz_const"
    g.node.insert(0, helper.make_node("Constant", [], [name], **attrs))
    n.input[rng.randrange(len(n.input))] = name
    return f"constant_node:{n.op_type}:{sorted(attrs) or 'empty'}"


def m_float_values(rng, model):
    """A float initializer filled with NaN, inf or extreme magnitudes."""
    fl = [t for t in model.graph.initializer if t.data_type == F32]
    if not fl:
        return "float_values:none"
    t = rng.choice(fl)
    arr = numpy_helper.to_array(t).copy()
    if arr.size:
        with np.errstate(over="ignore"):  # 1e38 and friends saturate to inf in float16 etc.
            arr.reshape(-1)[rng.randrange(arr.size)] = rng.choice(EXTREME_FLOATS)
    t.CopyFrom(numpy_helper.from_array(arr, t.name))
    return f"float_values:{t.name}"


MUTATIONS: List[Tuple[Callable, int]] = [
    (m_attr_extreme, 10), (m_attr_wrong_type, 3), (m_attr_unknown, 2), (m_input_count, 3),
    (m_input_shape, 4), (m_init_shape, 1), (m_int_values, 8), (m_init_data, 1),
    (m_elem_type, 2), (m_opset, 3), (m_duplicate, 2), (m_edges, 2), (m_subgraph, 2),
    (m_op_swap, 3), (m_domain, 1), (m_constant_node, 2), (m_float_values, 2),
]


def generate(seed: int) -> Tuple[bytes, dict]:
    """The model for `seed` (serialized ModelProto) and what went into it."""
    rng = random.Random(seed)
    model, b = build(rng)
    n_mut = rng.choices([0, 1, 2, 3], weights=[1, 4, 3, 2])[0]
    fns, weights = zip(*MUTATIONS)
    applied = []
    for fn in rng.choices(fns, weights=weights, k=n_mut):
        try:
            applied.append(fn(rng, model))
        except ValueError:  # e.g. data no longer matches dims after an earlier mutation
            applied.append(fn.__name__[2:] + ":skipped")
    meta = {"seed": seed, "opset": b.opset, "ops": sorted(set(b.ops)), "mutations": applied}
    return model.SerializeToString(), meta

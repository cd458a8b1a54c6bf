"""Graph-level differential testing of the compile stage.

hypothesis builds small multi-op graphs (2 to 10 nodes from radrt's op set) over a
4-D image track (N, C, H, W) and a 2-D matrix track (M, K), with broadcastable
operands that are constants (initializers), fed graph inputs or other values of the
graph, node names absent, explicit or colliding (equal to the name radrt makes up for
an unnamed node, or repeating another node's name), some intermediate values also
graph outputs, opsets 11 to 21. Each graph runs three ways:

- radrt, every compile pass on, against onnxruntime with graph optimisations off and
  one intra-op thread (the reference);
- radrt with every pass off, against radrt with every pass on;
- radrt with each pass off in turn, against radrt with every pass on.

Tolerance rtol 1e-4, atol 1e-5 (+ 1e-5 per unit of the largest magnitude in the
output): fusions fold BatchNormalization and per-channel Mul/Add into weights, which
changes float32 rounding by a few ulps per op, and the values stay O(1)-O(10).
Deterministic: a fixed example count, derandomized, no example database.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

import runtime
from runtime.compile import PASSES

ort = pytest.importorskip("onnxruntime")
ort.set_default_logger_severity(3)

SETTINGS = settings(max_examples=1500, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


class GraphBuilder:
    """Nodes, initializers, fed inputs and the shape of every value, built op by op."""

    def __init__(self, draw, rng):
        self.draw = draw
        self.rng = rng
        self.nodes = []
        self.inits = []
        self.inputs = []  # (name, array)
        self.shapes = {}
        self.count = 0

    def fresh(self, prefix="v"):
        self.count += 1
        return f"{prefix}{self.count}"

    def data(self, shape, positive=False):
        a = np.asarray(self.rng.standard_normal(shape), np.float32)
        return np.asarray(np.abs(a) + 0.5, np.float32) if positive else a

    def operand(self, shape, positive=False, fed=None):
        """A new operand of `shape`: an initializer, or (one time in four) a fed input."""
        name = self.fresh("c")
        value = self.data(shape, positive)
        if fed is None:
            fed = self.draw(st.integers(0, 3)) == 0
        if fed:
            self.inputs.append((name, value))
        else:
            self.inits.append(numpy_helper.from_array(value, name))
        self.shapes[name] = tuple(shape)
        return name

    def const(self, array):
        name = self.fresh("k")
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        self.shapes[name] = np.asarray(array).shape
        return name

    def node(self, op, inputs, shape, **attrs):
        out = self.fresh()
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        self.shapes[out] = tuple(shape)
        return out


def pick(draw, options):
    return draw(st.sampled_from(options))


def conv(g, x, shape):
    n, c, h, w = shape
    k = pick(g.draw, [1, 3])
    depthwise = c > 1 and g.draw(st.booleans())
    group, cout = (c, c * pick(g.draw, [1, 2])) if depthwise else (1, pick(g.draw, [1, 2, 3, 4]))
    stride = pick(g.draw, [1, 1, 2])
    pad = pick(g.draw, [0, 1]) if k == 3 else 0
    if (h + 2 * pad - k) < 0 or (w + 2 * pad - k) < 0:
        return None
    wname = g.operand((cout, c // group, k, k))
    inputs = [x, wname] + ([g.operand((cout,))] if g.draw(st.booleans()) else [])
    out = (n, cout, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    return g.node("Conv", inputs, out, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4,
                  group=group)


def batchnorm(g, x, shape):
    c = shape[1]
    fed = g.draw(st.integers(0, 3)) == 0
    params = [g.operand((c,), fed=fed), g.operand((c,), fed=fed), g.operand((c,), fed=fed),
              g.operand((c,), positive=True, fed=fed)]
    return g.node("BatchNormalization", [x] + params, shape, epsilon=pick(g.draw, [1e-5, 1e-3]))


def binary(g, x, shape):
    rank = len(shape)
    kind = pick(g.draw, ["channel", "channel_low_rank", "scalar", "one", "full", "last", "higher_rank",
                         "value"])
    if kind == "channel":
        other = (1, shape[1]) + (1,) * (rank - 2)
    elif kind == "channel_low_rank":
        other = (shape[1],) + (1,) * (rank - 2)
    elif kind == "scalar":
        other = ()
    elif kind == "one":
        other = (1,)
    elif kind == "full":
        other = shape
    elif kind == "last":
        other = (shape[-1],)
    elif kind == "higher_rank":
        other = (1,) * (rank + 1)
    else:
        same = [v for v, s in g.shapes.items() if s == shape and v != x and not v.startswith("k")]
        if not same:
            return None
        operand = pick(g.draw, same)
        other = None
    if other is not None:
        operand = g.operand(other)
        out = tuple(np.broadcast_shapes(shape, other))
    else:
        out = shape
    inputs = [x, operand] if g.draw(st.booleans()) else [operand, x]
    return g.node(pick(g.draw, ["Add", "Mul"]), inputs, out)


def unary(g, x, shape):
    return g.node(pick(g.draw, ["Relu", "Sigmoid"]), [x], shape)


def clip(g, x, shape):
    lo = float(pick(g.draw, [-1.0, -0.5, 0.0]))
    hi = float(pick(g.draw, [0.5, 1.0, 6.0]))
    inputs = [x, g.const(np.float32(lo)), g.const(np.float32(hi))]
    if g.draw(st.booleans()):
        inputs = inputs[:2]
    return g.node("Clip", inputs, shape)


def pool(g, x, shape):
    n, c, h, w = shape
    k = pick(g.draw, [2, 3])
    stride = pick(g.draw, [1, 2])
    pad = pick(g.draw, [0, 1]) if k == 3 else 0
    if h + 2 * pad < k or w + 2 * pad < k:
        return None
    out = (n, c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
    op = pick(g.draw, ["MaxPool", "AveragePool"])
    attrs = dict(kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4)
    if op == "AveragePool":
        attrs["count_include_pad"] = pick(g.draw, [0, 1])
    return g.node(op, [x], out, **attrs)


def concat(g, x, shape):
    axis = 1
    other_shape = list(shape)
    other_shape[axis] = pick(g.draw, [1, 2])
    other = g.operand(tuple(other_shape))
    out = list(shape)
    out[axis] += other_shape[axis]
    return g.node("Concat", [x, other] if g.draw(st.booleans()) else [other, x], tuple(out), axis=axis)


def transpose(g, x, shape):
    perm = list(g.draw(st.permutations(range(len(shape)))))
    return g.node("Transpose", [x], tuple(shape[p] for p in perm), perm=perm)


def softmax(g, x, shape):
    axis = pick(g.draw, [-1, 1])
    return g.node("Softmax", [x], shape, axis=axis)


def pad(g, x, shape):
    rank = len(shape)
    pads = [0, 0] + [pick(g.draw, [0, 1]) for _ in range(rank - 2)]
    pads += [0, 0] + [pick(g.draw, [0, 1, 2]) for _ in range(rank - 2)]
    out = tuple(d + pads[i] + pads[rank + i] for i, d in enumerate(shape))
    value = g.const(np.float32(pick(g.draw, [0.0, 0.5])))
    return g.node("Pad", [x, g.const(np.array(pads, np.int64)), value], out, mode="constant")


def slice_(g, x, shape):
    axis = len(shape) - 1
    if shape[axis] < 2:
        return None
    start = pick(g.draw, [0, 1])
    end = shape[axis] if g.draw(st.booleans()) else shape[axis] - 1
    if end <= start:
        return None  # an empty tensor: ReduceMean of it is undefined (radrt NaN, onnxruntime 0)
    out = list(shape)
    out[axis] = end - start
    return g.node("Slice", [x, g.const(np.array([start], np.int64)), g.const(np.array([end], np.int64)),
                            g.const(np.array([axis], np.int64))], tuple(out))


def reshape(g, x, shape):
    n = shape[0]
    rest = int(np.prod(shape[1:]))
    if len(shape) == 2 and g.draw(st.booleans()):
        target = (n, rest, 1, 1)
    else:
        target = (n, rest)
    spec = [n, -1] + [1] * (len(target) - 2)
    if len(target) == 2 and g.draw(st.booleans()):
        return g.node("Flatten", [x], target, axis=1)
    return g.node("Reshape", [x, g.const(np.array(spec, np.int64))], target)


def cast_pair(g, x, shape):
    exact = x.startswith("k") or x in dict(g.inputs)
    # A rounding cast of a computed value would turn a 1-ulp difference upstream into
    # a float16 ulp or an integer step: only exact values (inputs, constants) get one.
    to = pick(g.draw, [TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.INT32] if exact
              else [TensorProto.DOUBLE])
    mid = g.fresh()
    g.nodes.append(helper.make_node("Cast", [x], [mid], to=to))
    return g.node("Cast", [mid], shape, to=TensorProto.FLOAT)


def gemm(g, x, shape):
    m, k = shape
    n = pick(g.draw, [1, 2, 3, 4])
    trans_b = pick(g.draw, [0, 1])
    b = g.operand((n, k) if trans_b else (k, n))
    inputs = [x, b]
    c_shape = pick(g.draw, [None, (n,), (1, n), (m, 1), (m, n), ()])
    if c_shape is not None:
        inputs.append(g.operand(c_shape))
    return g.node("Gemm", inputs, (m, n), transB=trans_b, alpha=float(pick(g.draw, [1.0, 0.5])),
                  beta=float(pick(g.draw, [1.0, 2.0])))


def matmul(g, x, shape):
    p = pick(g.draw, [1, 2, 3])
    return g.node("MatMul", [x, g.operand((shape[-1], p))], shape[:-1] + (p,))


def conv_transpose(g, x, shape):
    n, c, h, w = shape
    k, stride = pick(g.draw, [1, 2, 3]), pick(g.draw, [1, 2])
    cout = pick(g.draw, [1, 2, 3])
    inputs = [x, g.operand((c, cout, k, k))] + ([g.operand((cout,))] if g.draw(st.booleans()) else [])
    out = (n, cout, stride * (h - 1) + k, stride * (w - 1) + k)
    return g.node("ConvTranspose", inputs, out, strides=[stride, stride])


def more_unary(g, x, shape):
    op = pick(g.draw, ["Tanh", "Exp", "LeakyRelu", "Neg", "Abs", "HardSwish", "Identity", "Dropout"])
    if op == "HardSwish" and g.opset < 14:
        return None
    if op == "Exp":
        x = g.node("Tanh", [x], shape)  # keeps Exp's result O(1)
    return g.node(op, [x], shape)


def sub_div(g, x, shape):
    op = pick(g.draw, ["Sub", "Div"])
    other = pick(g.draw, [(), (shape[-1],), shape])
    operand = g.operand(other, positive=(op == "Div"))
    inputs = [x, operand] if op == "Div" or g.draw(st.booleans()) else [operand, x]
    return g.node(op, inputs, shape)


def global_pool(g, x, shape):
    return g.node(pick(g.draw, ["GlobalAveragePool", "GlobalMaxPool"]), [x], shape[:2] + (1, 1))


def reduce_mean(g, x, shape):
    axis = pick(g.draw, list(range(1, len(shape))))
    out = tuple(1 if i == axis else d for i, d in enumerate(shape))
    if g.opset >= 18:
        return g.node("ReduceMean", [x, g.const(np.array([axis], np.int64))], out, keepdims=1)
    return g.node("ReduceMean", [x], out, axes=[axis], keepdims=1)


def unsqueeze_squeeze(g, x, shape):
    """Unsqueeze then Squeeze at one axis: views (axes an attribute before opset 13, an input after)."""
    axis = pick(g.draw, [0, len(shape)])
    mid_shape = shape[:axis] + (1,) + shape[axis:]
    if g.opset >= 13:
        mid = g.node("Unsqueeze", [x, g.const(np.array([axis], np.int64))], mid_shape)
        return g.node("Squeeze", [mid, g.const(np.array([axis], np.int64))], shape)
    mid = g.node("Unsqueeze", [x], mid_shape, axes=[axis])
    return g.node("Squeeze", [mid], shape, axes=[axis])


def split_concat(g, x, shape):
    """Split along the last axis in two, then Concat the halves back in the other order."""
    last = len(shape) - 1
    if shape[last] < 2:
        return None
    first = shape[last] // 2
    sizes = [first, shape[last] - first]
    a, b = g.fresh(), g.fresh()
    if g.opset >= 13:
        g.nodes.append(helper.make_node("Split", [x, g.const(np.array(sizes, np.int64))], [a, b], axis=last))
    else:
        g.nodes.append(helper.make_node("Split", [x], [a, b], axis=last, split=sizes))
    return g.node("Concat", [b, a], shape, axis=last)


OPS_4D = [conv, conv, batchnorm, binary, binary, unary, clip, pool, concat, transpose, softmax, pad, slice_,
          reshape, cast_pair, conv_transpose, more_unary, sub_div, global_pool, reduce_mean, unsqueeze_squeeze,
          split_concat]
OPS_2D = [gemm, gemm, matmul, batchnorm, binary, unary, clip, concat, transpose, softmax, slice_, reshape,
          cast_pair, more_unary, sub_div, reduce_mean, unsqueeze_squeeze, split_concat]
OPS_ANY = [binary, unary, clip, transpose, cast_pair, more_unary, sub_div]
FUSABLE = [batchnorm, binary, binary, unary, clip]


def constant_input(g, shape):
    """An initializer of `shape` as the next op's data input: with its other operands
    constant too, the op folds at compile time (fold_constants on) or runs (off)."""
    return g.const(g.data(shape))


@st.composite
def graphs(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    g = GraphBuilder(draw, np.random.default_rng(seed))
    opset = draw(st.integers(11, 21))
    g.opset = opset
    if draw(st.booleans()):
        shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(3, 6)),
                 draw(st.integers(3, 6)))
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)))
    x = "x"
    g.inputs.append((x, g.data(shape)))
    g.shapes[x] = shape
    live = [x]
    producer = {}
    n_nodes = draw(st.integers(2, 10))
    while len(g.nodes) < n_nodes:
        src = live[-1] if draw(st.integers(0, 3)) else pick(draw, live)
        if draw(st.integers(0, 5)) == 0:  # an op whose inputs are all constants
            src = constant_input(g, g.shapes[src])
        shape = g.shapes[src]
        ops = OPS_4D if len(shape) == 4 else OPS_2D if len(shape) == 2 else OPS_ANY
        if producer.get(src) in ("Conv", "Gemm", "MatMul", "BatchNormalization") and draw(st.booleans()):
            ops = FUSABLE  # what the fusions look for
        out = pick(draw, ops)(g, src, shape)
        if out is not None:
            live.append(out)
            producer[out] = g.nodes[-1].op_type
    names = name_nodes(draw, g.nodes)
    for node, name in zip(g.nodes, names):
        node.name = name
    used = {i for n in g.nodes for i in n.input}
    outputs = [live[-1]] + [v for v in live[1:-1] if v in used and draw(st.integers(0, 4)) == 0]
    graph = helper.make_graph(
        g.nodes, "diff",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in g.inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model.SerializeToString(), dict(g.inputs)


def name_nodes(draw, nodes):
    """Per node: no name, an explicit one, or one that collides with the name load.to_nodes
    makes up for another, unnamed node ('OpType_index'). Explicit names stay unique
    (onnxruntime refuses a model with two nodes of one name)."""
    kinds = [pick(draw, ["none", "none", "explicit", "collide"]) for _ in nodes]
    unnamed = [j for j, k in enumerate(kinds) if k == "none"]
    names, used = [], set()
    for i, kind in enumerate(kinds):
        name = ""
        if kind == "explicit":
            name = f"n{i}"
        elif kind == "collide" and unnamed:
            j = pick(draw, unnamed)
            name = f"{nodes[j].op_type}_{j}"
        if name in used:
            name = ""
        used.add(name)
        names.append(name)
    return names


def ort_run(data, feeds):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(None, feeds)


def radrt_run(data, feeds, disabled=()):
    return runtime.InferenceSession(data, disabled_passes=disabled).run(None, feeds)


def assert_close(got, want, what):
    assert len(got) == len(want), what
    for k, (a, b) in enumerate(zip(got, want)):
        assert a.shape == b.shape, f"{what}: output {k} shape {a.shape} != {b.shape}"
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, scale), err_msg=f"{what}: output {k}")


@SETTINGS
@given(graphs())
def test_radrt_matches_onnxruntime_and_itself_with_passes_off(case):
    data, feeds = case
    want = ort_run(data, feeds)
    got = radrt_run(data, feeds)
    assert_close(got, want, "radrt vs onnxruntime")
    assert_close(radrt_run(data, feeds, PASSES), got, "all passes off vs on")
    for name in PASSES:
        assert_close(radrt_run(data, feeds, (name,)), got, f"pass {name} off vs on")

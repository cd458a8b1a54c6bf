"""Stage 2, compile: fix shapes, then rewrite the graph in named, switchable passes.

`compile_graph(loaded, input_shapes, disabled_passes, max_memory_bytes)` walks the nodes in order
with every value's shape and dtype known (input shapes are fixed here) and
gives each node one fate: a constant, a view, absorbed into the step that
feeds it, or a kernel `Step` prepared by its op in `runtime.ops` (which
validates what the C kernel will trust). Steps whose outputs nobody reads are
dropped. The result is a `CompiledGraph`.

The rewrites are the passes in `PASSES`, in the order they are tried on a node.
Each can be switched off (`disabled_passes=`, also on `InferenceSession`) and
the graph still runs with the same results; each states its legality rule in
its docstring (`_Compiler.<pass name>`), and tests/test_graph_differential.py
checks random graphs with every pass on, all off and each one off:

- fold_constants: a node whose inputs are all constants is computed now, with
  radrt's own kernel (a one-step graph planned and run by the C core: fold time
  and run time are one code path, so a model gives the same answer whichever
  operands happen to be constant);
- views: Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout, and a Cast to its
  input's own element type, alias their input's buffer (no copy, no step); off,
  each becomes a copy step;
- fuse_batchnorm: BatchNormalization into the Conv or Gemm that feeds it;
- fuse_mul_add: Mul/Add by a constant per-channel vector into the Conv, Gemm
  or BatchNormalization that feeds it;
- fuse_activation: Relu/Clip into the Conv, ConvTranspose, Gemm, MatMul,
  BatchNormalization, Add, Sub, Mul or Sum that feeds it, as that kernel's
  store-time clamp (the same compare-based clamp, so NaN still passes through);
- fuse_pad: a zero constant Pad of the spatial dims into the Conv that reads it,
  as the Conv's own padding;
- fuse_qdq: the QDQ pattern DequantizeLinear -> Conv / MatMul / Gemm (weights a
  DequantizeLinear of constant int8) -> QuantizeLinear into one integer kernel
  (QLinearConv, QLinearMatMul, com.microsoft QGemm), as onnxruntime fuses it: the
  weights stay int8 and the sum is exact. The one pass that may change a result: the
  float32 op's rounding error can move the quantized output by one step, where the
  integer kernel requantizes the exact sum (tests/test_quantize.py). Also, exactly,
  DequantizeLinear -> MaxPool / Concat -> QuantizeLinear with one scale and zero point
  throughout becomes MaxPool / Concat on the quantized tensors;
- fuse_swish: Sigmoid(X) and the Mul of X by it (the swish x * sigmoid(x) of
  EfficientNet and its kin) as one Swish step, one pass over X instead of two, with
  the same bits (the product Mul computes of the same two values);
- fuse_float16_round: a Cast of float32 to float16 read only by a Cast back to float32
  (what runtime.half makes of a float16 model's Cast to float16) as one step that
  rounds through float16, with no float16 tensor between: the same bits.

Not passes, because radrt has no kernel that could run them instead: Constant,
ConstantOfShape, Shape and Size of a known shape, `If` with a constant
condition (replaced by its branch) and the fold-only ops (load.FOLD_ONLY_OPS),
which are evaluated here always. The fold-only ops go through
runtime.fold_only: output sizes bounded and budget-checked before evaluating,
Range and OneHot computed by radrt's own spec numerics, the
rest by onnx's reference evaluator (checked against onnxruntime in
tests/test_fold_only.py). The few nodes whose kernel declines their element
types (UnsupportedOpError from its prepare, so the same node on run-time
inputs is refused too) use the reference evaluator: there is no run-time path
for its numerics to disagree with.

Names the stage makes up (of unnamed nodes, of nodes repeating a name, of
folded tensors) come from `_Names`: never equal to a name in the model or to
each other, by construction.
"""
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import fold_only, ops, rnn, sizes
from .errors import CompileError, InvalidArgumentError, RadrtError, UnsupportedOpError
from .load import FOLD_ONLY_OPS, VIEW_OPS, LoadedModel, Node, to_nodes
from .ops import FLOAT32, Prepared, TensorInfo
from .ops.activation import clip_bounds, swish
from .ops.cast import round_through_float16
from .ops.normalization import batchnorm_params
from .ops import FUSED_CLIP

PASSES = ("fold_constants", "views", "fuse_batchnorm", "fuse_mul_add", "fuse_activation", "fuse_pad", "fuse_qdq",
          "fuse_swish", "fuse_float16_round")

# Inputs that kernels read at compile time (ops.require_constant), by op type.
# With fold_constants off, a constant that a node reads there stays a constant.
PARAMETER_INPUTS = {
    "Clip": (1, 2), "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Upsample": (1,), "Split": (1,),
    "Slice": (1, 2, 3, 4), "Expand": (1,), "Tile": (1,), "Reshape": (1,), "Squeeze": (1,),
    "Unsqueeze": (1,), "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,),
    "ReduceLogSumExp": (1,), "ReduceMax": (1,), "ReduceMean": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "ReduceSum": (1,), "ReduceSumSquare": (1,),
    "LayerNormalization": (1, 2),  # a Scale or B that broadcasts must be a constant
    "TopK": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "OneHot": (1,), "CumSum": (1,),
    "LSTM": (4,), "GRU": (4,), "RNN": (4,),   # sequence_lens (runtime.rnn)
    "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2),   # scale, zero point
    "QLinearConv": (1, 2, 4, 5, 6, 7, 8), "QLinearMatMul": (1, 2, 4, 5, 6, 7),   # scales, zero points, bias
    "ConvInteger": (3,), "MatMulInteger": (3,),   # the weights' zero point (x's is read at run time)
}
# Ops whose PARAMETER_INPUTS are data (a LayerNormalization Scale or B runs fed at run
# time unless it must broadcast): never compiled on their value.
_DATA_PARAMETER_OPS = frozenset({"LayerNormalization"})
# Ops whose output depends on their input's shape, not its values.
_SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})


def parameter_inputs(loaded: LoadedModel) -> Dict[str, List[str]]:
    """{runtime input name: ["<op> node '<name>' input <k>", ...]}: the inputs whose
    values reach a compile-time parameter (PARAMETER_INPUTS: pads, axes, starts, sizes,
    scales, repeats, shape, k, ...) through the graph's data flow (Shape and Size read
    only a shape, so they cut it). The session compiles such a model on the values fed
    to these inputs, as it compiles on symbolic shapes (runtime.session)."""
    runtime = {vi.name for vi in runtime_inputs(loaded.proto)}
    producer: Dict[str, Node] = {}
    for n in loaded.nodes:
        for o in n.outputs:
            if o:
                producer[o] = n
    found: Dict[str, List[str]] = {}
    for n in loaded.nodes:
        if n.domain or n.op_type in _DATA_PARAMETER_OPS:  # PARAMETER_INPUTS name default-domain ops
            continue
        for k in PARAMETER_INPUTS.get(n.op_type, ()):
            if k >= len(n.inputs) or not n.inputs[k]:
                continue
            seen, stack = set(), [n.inputs[k]]
            while stack:
                v = stack.pop()
                if v in seen:
                    continue
                seen.add(v)
                if v in runtime:
                    found.setdefault(v, []).append(f"{n.op_type} node '{n.name}' input {k}")
                p = producer.get(v)
                if p is not None and (p.domain or p.op_type not in _SHAPE_ONLY_OPS):
                    stack.extend(i for i in p.inputs if i)
    return found
_GRAPH_OUTPUT = ("", -1)  # a reader entry: the value is a graph output
_SUBGRAPH = (None, -1)  # a reader entry: read inside a subgraph


@dataclass
class Step:
    node: Node
    inputs: List[Optional[str]]  # value names; None for an omitted optional input
    outputs: List[str]
    prepared: Prepared


@dataclass
class CompiledGraph:
    opset: int
    inputs: List[str]
    outputs: List[str]
    values: Dict[str, TensorInfo]
    alias: Dict[str, str]  # view value -> the value whose buffer it shares
    steps: List[Step]
    folded_nodes: int = 0
    fused_nodes: List[Tuple[str, str]] = field(default_factory=list)  # (op_type, node name)
    disabled_passes: FrozenSet[str] = frozenset()
    float16_widened: bool = False  # float16 model computed in float32 (runtime.half)

    def base(self, name: str) -> str:
        return self.alias.get(name, name)


_ONNX_TO_NP = {
    onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.FLOAT16: np.float16, onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT16: np.int16,
    onnx.TensorProto.UINT16: np.uint16, onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.UINT32: np.uint32, onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.UINT64: np.uint64, onnx.TensorProto.BOOL: np.bool_,
}


def np_dtype(elem_type: int, what: str) -> np.dtype:
    if elem_type not in _ONNX_TO_NP:
        known = elem_type in onnx.TensorProto.DataType.values()
        name = onnx.TensorProto.DataType.Name(elem_type) if known else f"{elem_type} (not an ONNX type)"
        raise UnsupportedOpError(f"{what}: element type {name} "
                                 f"is not supported (supported: float, double, float16, int8/16/32/64, "
                                 f"uint8/16/32/64, bool)")
    return np.dtype(_ONNX_TO_NP[elem_type])


def declared_shape(vi: onnx.ValueInfoProto) -> Optional[List]:
    """The shape a graph input (or output) declares; the one place that decides which
    dims are dynamic, as onnxruntime does. A list with an int per fixed dim and, per
    dynamic dim, its dim_param string or None (a dim with neither dim_value nor
    dim_param, or a negative dim_value: exporters write -1); None when the value has
    no shape at all (dynamic of any rank, not a scalar)."""
    tensor_type = vi.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else (d.dim_param or None)
            for d in tensor_type.shape.dim]


def is_fixed(shape: Optional[Sequence]) -> bool:
    """True when a `declared_shape` fixes every dim (and the rank)."""
    return shape is not None and all(isinstance(d, int) for d in shape)


def shape_matches(declared: Optional[Sequence], shape: Sequence[int]) -> bool:
    """True when `shape` (of a feed) fits a `declared_shape`: same rank, same fixed dims."""
    if declared is None:
        return True
    return len(declared) == len(shape) and all(not isinstance(d, int) or d == g
                                               for d, g in zip(declared, shape))


def runtime_inputs(proto: onnx.ModelProto) -> List[onnx.ValueInfoProto]:
    inits = {t.name for t in proto.graph.initializer}
    return [vi for vi in proto.graph.input if vi.name not in inits]


def check_passes(disabled_passes) -> FrozenSet[str]:
    """`disabled_passes` as a set of names from PASSES; InvalidArgumentError otherwise."""
    if isinstance(disabled_passes, (str, bytes)) or not isinstance(disabled_passes, Iterable):
        raise InvalidArgumentError(f"disabled_passes: expected a sequence of pass names (known passes: "
                                   f"{', '.join(PASSES)}), got {disabled_passes!r}",
                                   argument="disabled_passes", value=disabled_passes)
    names = list(disabled_passes)
    for name in names:
        if not isinstance(name, str) or name not in PASSES:
            raise InvalidArgumentError(f"disabled_passes: unknown pass {name!r}; known passes: "
                                       f"{', '.join(PASSES)}", argument="disabled_passes", value=name)
    return frozenset(names)


def compile_graph(loaded: LoadedModel, input_shapes: Optional[Dict[str, Sequence[int]]] = None,
                  disabled_passes: Sequence[str] = (),
                  max_memory_bytes: Optional[int] = None,
                  input_values: Optional[Dict[str, np.ndarray]] = None) -> CompiledGraph:
    """Compile `loaded` for fixed input shapes (`input_shapes` by input name, else the
    declared shapes) and, for the inputs in `input_values` (parameter inputs, see
    parameter_inputs), those values as constants (the input stays an input: the run
    feeds it, and the session checks the fed value is the one compiled on); with
    every pass of PASSES on except `disabled_passes`, every
    tensor, scratch and compile-time table checked against `max_memory_bytes`
    (runtime.sizes; None: the default budget).
    Raises CompileError (shapes, attributes; SizeOverflowError, MemoryBudgetError),
    UnsupportedOpError (ops, types radrt does not run), InvalidArgumentError (an
    unknown pass name, a budget that is not an int > 0)."""
    disabled = check_passes(disabled_passes)
    graph = loaded.proto.graph
    input_shapes = dict(input_shapes or {})
    values: Dict[str, TensorInfo] = {}
    for t in graph.initializer:
        arr = numpy_helper.to_array(t)
        values[t.name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)
    inputs = []
    for vi in runtime_inputs(loaded.proto):
        what = f"input '{vi.name}'"
        dtype = np_dtype(vi.type.tensor_type.elem_type, what)
        shape = input_shapes.pop(vi.name, None)
        if shape is None:
            shape = declared_shape(vi)
            if not is_fixed(shape):
                where = "its rank" if shape is None else \
                    f"dimension {[isinstance(d, int) for d in shape].index(False)} of {tuple(shape)}"
                raise CompileError(f"{what}: {where} is not fixed; give input_shapes={{'{vi.name}': (...)}} "
                                   f"or feed the input")
        value = (input_values or {}).get(vi.name)
        if value is not None:
            value = np.array(value, dtype=dtype, copy=True)
            if value.shape != tuple(shape):
                raise CompileError(f"{what}: value of shape {value.shape} for an input of shape {tuple(shape)}")
        values[vi.name] = TensorInfo(tuple(int(d) for d in shape), dtype, value)
        inputs.append(vi.name)
    if input_shapes:
        raise CompileError(f"input_shapes names {sorted(input_shapes)}, which are not runtime inputs "
                           f"of the model (expected some of {inputs})")

    c = _Compiler(loaded.opset, values, _readers(graph), _Names(loaded.proto), disabled)
    with sizes.memory_budget(sizes.resolve_budget(max_memory_bytes)):  # see runtime.sizes
        c.walk(loaded.nodes)
    outputs = [o.name for o in graph.output]
    for name in outputs:
        if name not in c.values:
            raise CompileError(f"graph output '{name}' is produced by no node, input or initializer")
    steps = _drop_dead_steps(c.steps, c.alias, outputs)
    return CompiledGraph(loaded.opset, inputs, outputs, c.values, c.alias, steps,
                         c.folded, c.fused, disabled, loaded.float16_widened)


def _readers(graph: onnx.GraphProto) -> Dict[str, List[Tuple[Optional[str], int]]]:
    """Every read of each value: (op key, input index), _SUBGRAPH or _GRAPH_OUTPUT. The op
    key is `ops.op_key`: the op type in the default domain, "domain::op_type" otherwise
    (so a contrib op never matches a default-domain op's name)."""
    readers: Dict[str, List[Tuple[Optional[str], int]]] = {}
    for n in graph.node:
        for k, i in enumerate(n.input):
            readers.setdefault(i, []).append((ops.op_key(n.op_type, n.domain), k))
        for name in _subgraph_reads(n):  # values read from inside subgraphs count too
            readers.setdefault(name, []).append(_SUBGRAPH)
    for o in graph.output:
        readers.setdefault(o.name, []).append(_GRAPH_OUTPUT)
    return readers


def _subgraph_reads(node: onnx.NodeProto) -> List[str]:
    """Every name read inside the node's subgraphs, at any depth (node inputs and
    subgraph outputs, which may name an outer value directly)."""
    names = []
    for a in node.attribute:
        for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
            for sn in g.node:
                names.extend(i for i in sn.input if i)
                names.extend(_subgraph_reads(sn))
            names.extend(o.name for o in g.output)
    return names


def _drop_dead_steps(steps: List[Step], alias: Dict[str, str], outputs: List[str]) -> List[Step]:
    live = {alias.get(o, o) for o in outputs}
    kept = []
    for step in reversed(steps):
        if any(o in live for o in step.outputs):
            kept.append(step)
            live.update(alias.get(i, i) for i in step.inputs if i)
    return kept[::-1]


class _Names:
    """Node and tensor names the compile stage makes up, unique by construction.

    `taken` starts as every name in the model (values, initializers, node names,
    in subgraphs too). `fresh(base)` returns base, or base#2, base#3, ... the
    first not taken, and takes it. A node keeps its explicit name the first time
    the name is seen; an unnamed node (load named it OpType_index) or a node
    repeating a name gets a fresh one, so no two steps and no two folded tensors
    share a name."""

    def __init__(self, proto: onnx.ModelProto):
        self.taken = set()
        self.node_names = set()

        def scan(g: onnx.GraphProto) -> None:
            self.taken.update(v.name for v in (*g.input, *g.output, *g.value_info))
            self.taken.update(t.name for t in g.initializer)
            for n in g.node:
                self.taken.update(n.input)
                self.taken.update(n.output)
                if n.name:
                    self.taken.add(n.name)
                for a in n.attribute:
                    for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                        scan(sub)

        scan(proto.graph)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}#{k}"
        self.taken.add(name)
        return name

    def node(self, node: Node) -> Node:
        explicit = node.proto is not None and bool(node.proto.name)
        if explicit and node.name not in self.node_names:
            self.node_names.add(node.name)
            return node
        name = self.fresh(node.name)
        self.node_names.add(name)
        return dataclasses.replace(node, name=name)


def channel_vector(out_shape: Sequence[int], operand: np.ndarray) -> Optional[np.ndarray]:
    """The legality rule of every per-channel fusion (BatchNormalization, Mul, Add, a
    Gemm's C): `operand`, applied elementwise to a value of shape `out_shape` whose
    channel axis is 1 (N, C, ... for Conv and BatchNormalization; the columns of a Gemm's
    (M, N) output), is one value per channel only if broadcasting it leaves `out_shape`
    unchanged (no higher rank, no bigger dim) and every dim of it, aligned to the right,
    is 1 except the channel dim, and every value is finite (folding inf or NaN into weights
    turns 0 * inf into NaN where the unfused graph gives +-inf). Returns that (C,) float64
    vector, or None (no fusion)."""
    out_shape = tuple(out_shape)
    operand = np.asarray(operand)
    if len(out_shape) < 2 or operand.ndim > len(out_shape):
        return None
    shape = (1,) * (len(out_shape) - operand.ndim) + tuple(operand.shape)
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, out_shape[1]):
        return None
    vector = operand.reshape(-1).astype(np.float64)
    if not np.all(np.isfinite(vector)):
        return None
    return np.broadcast_to(vector, (out_shape[1],)).copy()


def finite_fold(*arrays: np.ndarray) -> bool:
    """The value side of the per-channel legality rule: a fold may replace parameters only
    when every input to it and every folded float32 result is finite (a BatchNormalization
    with var + epsilon == 0, or w * s overflowing float32, would put inf into weights that
    multiply zeros: NaN where the unfused graph is finite or +-inf)."""
    return all(np.all(np.isfinite(a)) for a in arrays)


def _outputs_of(node: Node, prepared: Prepared) -> List[str]:
    """The node's outputs the prepared kernel writes; UnsupportedOpError for a wanted output
    it does not write."""
    n = len(prepared.outputs)
    if len(node.outputs) > n and any(node.outputs[n:]):
        raise UnsupportedOpError(f"{node.op_type} node '{node.name}': output {n} "
                                 f"('{node.outputs[n]}') is not supported")
    return list(node.outputs[:n])


def run_one_step(opset: int, node: Node, ins: List[Optional[TensorInfo]],
                 prepared: Prepared) -> List[Optional[np.ndarray]]:
    """Run one prepared kernel on constant inputs with the C core, as a one-step graph
    planned and bound like any model; returns one array per node output (None when
    omitted). This is how constants fold: the kernel that would run them at run time."""
    from .execute import Region, bind, load_weights, replica_regions, run_steps
    from .plan import plan_memory
    outs = _outputs_of(node, prepared)
    values = {n: i for n, i in zip(node.inputs, ins) if n}
    values.update({n: i for n, i in zip(outs, prepared.outputs) if n})
    wanted = [o for o in outs if o]
    step = Step(node, list(node.inputs), outs, prepared)
    plan = plan_memory(CompiledGraph(opset, [], wanted, values, {}, [step]))
    weights = Region(f"fold/{node.name}/weights", plan.region_bytes["weights"])
    load_weights(plan, weights)
    regions = replica_regions(plan, weights, 0)
    run_steps(bind(plan, regions))
    got = {n: regions["output"].array(p, info.dtype, info.shape).copy() for n, p, info in plan.outputs}
    return [got.get(o) if o else None for o in outs]


class _Compiler:
    def __init__(self, opset: int, values: Dict[str, TensorInfo],
                 readers: Dict[str, List[Tuple[Optional[str], int]]], names: _Names,
                 disabled: FrozenSet[str]):
        self.opset = opset
        self.values = values
        self.readers = readers
        self.names = names
        self.disabled = disabled
        self.alias: Dict[str, str] = {}
        self.steps: List[Step] = []
        self.producer: Dict[str, Step] = {}
        self.folded = 0
        self.fused: List[Tuple[str, str]] = []
        # DequantizeLinear outputs: name -> (x, scale, zero point, axis) input names (for fuse_qdq)
        self.dequantized: Dict[str, Tuple[str, str, str, int]] = {}

    def on(self, pass_name: str) -> bool:
        return pass_name not in self.disabled

    def info(self, node: Node, name: str) -> Optional[TensorInfo]:
        if not name:
            return None
        if name not in self.values:
            raise CompileError(f"{node.op_type} node '{node.name}': input '{name}' is not produced "
                               f"before it (graph not topologically sorted, or a missing initializer)")
        return self.values[name]

    def walk(self, nodes: List[Node]) -> None:
        for node in nodes:
            node = self.names.node(node)
            ins = [self.info(node, n) for n in node.inputs]
            op = node.op_type
            if op == "DequantizeLinear" and not node.domain and len(node.inputs) >= 2 \
                    and not node.attr("block_size", 0):   # blocked scales never fuse
                zp = node.inputs[2] if len(node.inputs) > 2 else ""
                self.dequantized[node.outputs[0]] = (node.inputs[0], node.inputs[1], zp, int(node.attr("axis", 1)))
            if node.domain:  # a contrib op (com.microsoft): its kernel, never a default-domain pass
                if not (self.all_constant(node, ins) and self.fold_constants(node, ins)):
                    self.add_step(node, ins)
            elif op == "If":
                self.inline_if(node, ins)
            elif op in rnn.GATES:
                self.expand_recurrent(node, ins)
            elif op in ("Shape", "Size") and ins[0] is not None:
                self.set_constant(node, [_fold_shape(node, ins[0])])
            elif self.all_constant(node, ins) and self.fold_constants(node, ins):
                pass
            elif op in VIEW_OPS:
                self.views(node, ins)
            elif op == "Cast" and self.on("views") and _casts_to_own_type(node, ins):
                self.make_view(node, ins)
            elif op == "BatchNormalization" and self.on("fuse_batchnorm") and self.fuse_batchnorm(node, ins):
                pass
            elif op == "Mul" and self.on("fuse_swish") and self.fuse_swish(node, ins):
                pass
            elif op == "Cast" and self.on("fuse_float16_round") and self.fuse_float16_round(node, ins):
                pass
            elif op in ("Mul", "Add") and self.on("fuse_mul_add") and self.fuse_mul_add(node, ins):
                pass
            elif op in ("Relu", "Clip") and self.on("fuse_activation") and self.fuse_activation(node, ins):
                pass
            elif op == "Conv" and self.on("fuse_pad") and self.fuse_pad(node, ins):
                pass
            elif op == "QuantizeLinear" and self.on("fuse_qdq") and self.fuse_qdq(node, ins):
                pass
            else:
                self.add_step(node, ins)

    # -- fold_constants ------------------------------------------------------------
    @staticmethod
    def all_constant(node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike",
                            "RandomUniformLike", "Multinomial", "Bernoulli"):
            return False
        return all(i is None or i.value is not None for i in ins)

    def set_constant(self, node: Node, arrays: List[Optional[np.ndarray]]) -> None:
        self.folded += 1
        for name, arr in zip(node.outputs, arrays):
            if name and arr is not None:
                arr = np.asarray(arr)
                self.values[name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)

    def fold_constants(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fold_constants: compute a node whose inputs are all constants now; True
        when it did (its outputs are constants from then on).

        Legality: the value is computed by the kernel that would compute it at run time
        (`run_one_step`), so folding never changes a result. Constant, ConstantOfShape,
        views of constants (a constant reshaped) and ops without a kernel fold whether
        the pass is on or off (see the module docstring). Off, a node with a kernel
        becomes a step, unless it must stay a constant: an output that is not float32
        (shape and index arithmetic, read by kernels at compile time) or one that a
        reader takes at a compile-time parameter input (PARAMETER_INPUTS, a node
        without a kernel, a subgraph)."""
        op = node.op_type
        if node.domain:  # a contrib op: folded by its own kernel, or left a step
            prepared = self.prepare(node, ins, self.lookup_kernel(node))
            if not self.on("fold_constants") and self.may_run_as_step(node, prepared):
                return False
            self.set_constant(node, run_one_step(self.opset, node, ins, prepared))
            return True
        if op == "Constant":
            self.set_constant(node, [_constant_value(node)])
            return True
        if op == "ConstantOfShape":
            fill = node.attr("value")
            fill = np.zeros(1, np.float32) if fill is None else fill.reshape(-1)
            shape = tuple(ops.require_ints(node, ins[0], "input 0 (shape)"))
            sizes.check_tensor(node, shape, fill.dtype, f"output '{node.outputs[0]}'")
            self.set_constant(node, [np.full(shape, fill[0], dtype=fill.dtype)])
            return True
        if op in VIEW_OPS:
            self.make_view(node, ins)
            self.folded += 1
            return True
        prepare = ops.lookup(op)
        prepared = None
        if prepare is not None:
            try:
                prepared = self.prepare(node, ins, prepare)
            except UnsupportedOpError:
                prepared = None  # the kernel declines these types: no run-time path either
        if prepared is None and op in FOLD_ONLY_OPS:
            self.set_constant(node, fold_only.fold(node, ins, lambda: self.fold_reference(node, ins)))
            return True
        if prepared is None:
            self.set_constant(node, self.fold_reference(node, ins))
            return True
        if not self.on("fold_constants") and self.may_run_as_step(node, prepared):
            return False
        self.set_constant(node, run_one_step(self.opset, node, ins, prepared))
        return True

    def may_run_as_step(self, node: Node, prepared: Prepared) -> bool:
        """With fold_constants off: may this constant-input node run as a kernel step?"""
        for name, info in zip(_outputs_of(node, prepared), prepared.outputs):
            if not name:
                continue
            if np.dtype(info.dtype) != FLOAT32:
                return False
            for op, k in self.readers.get(name, []):
                if (op, k) == _GRAPH_OUTPUT:
                    continue
                if op is None or (ops.lookup(op) is None and op not in VIEW_OPS) \
                        or k in PARAMETER_INPUTS.get(op, ()):
                    return False
        return True

    def fold_reference(self, node: Node, ins: List[Optional[TensorInfo]]) -> List[np.ndarray]:
        """A node radrt has no kernel for (or whose kernel declines its types), evaluated
        with onnx's reference evaluator at the model's opset."""
        from onnx.reference import ReferenceEvaluator
        try:
            graph = helper.make_graph(
                [node.proto], "fold", [helper.make_empty_tensor_value_info(n) for n in node.inputs if n],
                [helper.make_empty_tensor_value_info(n) for n in node.outputs if n])
            ref = ReferenceEvaluator(helper.make_model(
                graph, opset_imports=[helper.make_opsetid("", self.opset)]))
            feeds = {n: i.value for n, i in zip(node.inputs, ins) if n}
            results = iter(ref.run(None, feeds))
            return [next(results) if n else None for n in node.outputs]
        except Exception as e:
            raise CompileError(f"{node.op_type} node '{node.name}' (opset {self.opset}): constant "
                               f"folding failed: {e}", node=node.name) from e

    def inline_if(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        if ins[0] is None or ins[0].value is None:
            raise UnsupportedOpError(f"op If (node '{node.name}', opset {self.opset}): only a "
                                     f"condition known at compile time is supported")
        cond = np.asarray(ins[0].value)
        if cond.size != 1:
            raise ops.node_error(node, f"input 0 (cond) has shape {cond.shape}, expected a single element",
                                 attribute="cond", value=cond.shape)
        branch = node.attr("then_branch") if bool(cond.reshape(-1)[0]) else node.attr("else_branch")
        for t in branch.initializer:
            arr = numpy_helper.to_array(t)
            self.values[t.name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)
        self.walk(to_nodes(branch, self.opset, prefix=node.name + "/"))
        for out, inner in zip(node.outputs, branch.output):
            self.alias_or_copy(out, inner.name, self.values[inner.name].shape)
        self.folded += 1

    def expand_recurrent(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        """LSTM, GRU or RNN unrolled over its fixed sequence length into kernel ops
        (runtime.rnn), which are then compiled like the model's own nodes."""
        nodes, constants = rnn.expand(node, ins, self.names.fresh, self.opset)
        for name, arr in constants.items():
            self.values[name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)
        self.walk(nodes)

    # -- views -----------------------------------------------------------------------
    def alias_or_copy(self, out: str, src: str, shape: Tuple[int, ...]) -> None:
        info = self.values[src]
        if info.value is not None:
            self.values[out] = TensorInfo(tuple(shape), info.dtype, info.value.reshape(shape))
            return
        self.values[out] = TensorInfo(tuple(shape), info.dtype)
        self.alias[out] = self.alias.get(src, src)

    def make_view(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        shape = _view_shape(node, ins)
        if node.op_type == "Dropout" and len(node.outputs) > 1 and node.outputs[1]:
            self.values[node.outputs[1]] = TensorInfo(shape, np.dtype(bool), np.ones(shape, bool))
        self.alias_or_copy(node.outputs[0], node.inputs[0], shape)

    def views(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        """Pass views: Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout (inference) as
        a new shape over the input's buffer, no step.

        Legality: each of these ops keeps the elements in row-major order and only
        changes the shape, so the output's bytes are the input's bytes; a view is
        never written (steps write their own outputs only). Off: the op becomes a
        copy step (radrt_copy of the bytes) into a buffer of its own."""
        if self.on("views"):
            self.make_view(node, ins)
            return
        shape = _view_shape(node, ins)
        if node.op_type == "Dropout" and len(node.outputs) > 1 and node.outputs[1]:
            self.values[node.outputs[1]] = TensorInfo(shape, np.dtype(bool), np.ones(shape, bool))
        nbytes = ins[0].nbytes
        prepared = Prepared([TensorInfo(shape, ins[0].dtype)],
                            lambda lib, i, o, c, scratch: (lib.radrt_copy, (i[0], o[0], nbytes)),
                            unread_inputs=tuple(range(1, len(node.inputs))))
        copy = dataclasses.replace(node, outputs=node.outputs[:1])
        self.append_step(copy, prepared)

    # -- fusions ---------------------------------------------------------------------
    def fuse_batchnorm(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_batchnorm: BatchNormalization folded into the weights and bias of the
        Conv or Gemm that feeds it; True when it did.

        Legality: the producer is a Conv or Gemm step with constant weights (and bias),
        no fused clamp yet, whose output only this node reads (not a graph output);
        the BatchNormalization's parameters are constants, each of shape (C,) with C
        its input's channels (`batchnorm_params`: any other shape is a CompileError,
        not a refused fusion); then y = x * s + t per channel, with the channel rule of
        `channel_vector` (for Gemm: the columns of Y)."""
        _, params, epsilon = batchnorm_params(node, ins)
        prev = self.fusable_producer(node, ("Conv", "Gemm"))
        if prev is None or FUSED_CLIP in prev.node.attrs or any(p.value is None for p in params):
            return False
        scale, bias, mean, var = (p.value.astype(np.float64) for p in params)
        if not finite_fold(scale, bias, mean, var):
            return False
        with np.errstate(all="ignore"):  # var + epsilon <= 0: s is inf or NaN, refused below
            s = scale / np.sqrt(var + epsilon)
        return self.fold_channel_affine(prev, node, s, bias - mean * s)

    def fuse_mul_add(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_mul_add: Mul or Add of a constant and the output of a Conv, Gemm or
        BatchNormalization step, folded into that step's weights and bias (Conv, Gemm)
        or scale and bias (BatchNormalization); True when it did.

        Legality: the producer's output is read by this node only (not a graph output);
        the other operand is a float32 constant that is one value per output channel
        by `channel_vector` (the Mul/Add output keeps the producer's shape and rank);
        the producer's weights and bias (Conv, Gemm) or statistics (BatchNormalization)
        are constants and it has no fused clamp yet."""
        if len(node.inputs) != 2 or any(i is None for i in ins):
            return False
        for k in (0, 1):
            prev = self.fusable_producer(node, ("Conv", "Gemm", "BatchNormalization"), k)
            other = ins[1 - k]
            if prev is None or FUSED_CLIP in prev.node.attrs or other.value is None:
                continue
            if np.dtype(other.dtype) != FLOAT32:
                return False
            vector = channel_vector(ins[k].shape, other.value)
            if vector is None:
                return False
            s, t = (vector, np.zeros_like(vector)) if node.op_type == "Mul" else (np.ones_like(vector), vector)
            if prev.node.op_type == "BatchNormalization":
                return self.fold_into_batchnorm(prev, node, s, t)
            return self.fold_channel_affine(prev, node, s, t)
        return False

    def fold_into_batchnorm(self, prev: Step, node: Node, s: np.ndarray, t: np.ndarray) -> bool:
        """Make a BatchNormalization step (constant parameters) compute y * s + t per channel."""
        params = [self.values.get(n) for n in prev.inputs[1:5]]
        if len(params) != 4 or any(p is None or p.value is None for p in params) or s.shape != params[0].shape:
            return False
        scale, bias = (p.value.astype(np.float64) for p in params[:2])
        scale_name = self.names.fresh(node.name + "/folded_scale")
        bias_name = self.names.fresh(node.name + "/folded_B")
        with np.errstate(over="ignore"):  # a float32 overflow is inf, refused next
            new_scale, new_bias = (scale * s).astype(np.float32), (bias * s + t).astype(np.float32)
        if not finite_fold(scale, bias, s, t, new_scale, new_bias):
            return False
        for name, value in ((scale_name, new_scale), (bias_name, new_bias)):
            self.values[name] = TensorInfo(value.shape, np.dtype(np.float32), value.astype(np.float32))
        self.replace_step(prev, node, [prev.inputs[0], scale_name, bias_name] + prev.inputs[3:], prev.node.attrs)
        return True

    def fold_channel_affine(self, prev: Step, node: Node, s: np.ndarray, t: np.ndarray) -> bool:
        """Make `prev` (Conv or Gemm with constant weights) compute y * s + t per output
        channel (s, t of shape (C,)); False when its weights or bias are not constants or
        a Gemm's C is not per column."""
        w_info = self.values.get(prev.inputs[1])
        if w_info is None or w_info.value is None:
            return False
        b_name = prev.inputs[2] if len(prev.inputs) > 2 else ""
        b_info = self.values.get(b_name) if b_name else None
        if b_name and (b_info is None or b_info.value is None):
            return False
        w = w_info.value.astype(np.float64)
        out_shape = self.values[prev.outputs[0]].shape
        cout = out_shape[1]
        if s.shape != (cout,) or t.shape != (cout,):
            return False
        if prev.node.op_type == "Conv":
            w = w * s.reshape((cout,) + (1,) * (w.ndim - 1))
            b = np.zeros(cout) if b_info is None else b_info.value.astype(np.float64)
        else:  # Gemm: Y = alpha*A'B' + beta*C, scaled over the columns of Y
            if w.ndim != 2:
                return False
            w = w * (s.reshape(-1, 1) if prev.node.attr("transB", 0) else s.reshape(1, -1))
            b = np.zeros(cout)
            if b_info is not None:
                column = channel_vector(out_shape, b_info.value)
                if column is None:
                    return False  # e.g. C of shape (M, 1): per row, not per column
                b = float(prev.node.attr("beta", 1.0)) * column
        b = b * s + t
        with np.errstate(over="ignore"):  # a float32 overflow is inf, refused next
            w32, b32 = w.astype(np.float32), b.astype(np.float32)
        if not finite_fold(w_info.value, s, t, w32, b32) or (b_info is not None and not finite_fold(b_info.value)):
            return False
        w_name = self.names.fresh(node.name + "/folded_W")
        b_name = self.names.fresh(node.name + "/folded_B")
        self.values[w_name] = TensorInfo(w.shape, np.dtype(np.float32), w.astype(np.float32))
        self.values[b_name] = TensorInfo(b.shape, np.dtype(np.float32), b.astype(np.float32))
        new_inputs = [prev.inputs[0], w_name, b_name] + prev.inputs[3:]
        attrs = dict(prev.node.attrs, beta=1.0) if prev.node.op_type == "Gemm" else prev.node.attrs
        self.replace_step(prev, node, new_inputs, attrs)
        return True

    def fuse_activation(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_activation: Relu or Clip as the store-time clamp of the Conv,
        ConvTranspose, Gemm, MatMul, BatchNormalization, Add, Sub, Mul or Sum (of two or
        more inputs) step that feeds it; True when it did.

        Legality: the producer's output is read by this node only (not a graph output),
        the producer has no clamp yet, and the Clip bounds are constant scalars with
        lo <= hi (else the Clip step reports them); the kernels clamp with the same
        compares as the Clip kernel, so NaN passes through both."""
        prev = self.fusable_producer(node, ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization",
                                            "Add", "Sub", "Mul", "Sum"))
        if prev is None or FUSED_CLIP in prev.node.attrs:
            return False
        if prev.node.op_type == "Sum" and len(prev.inputs) < 2:
            return False  # a one-input Sum is a copy step, with no clamp
        if node.op_type == "Relu":
            lo, hi = 0.0, float("inf")
        else:
            try:
                lo, hi = clip_bounds(node, ins)
            except RadrtError:
                return False  # the Clip step itself reports it
            if not lo <= hi:
                return False
        self.replace_step(prev, node, prev.inputs, dict(prev.node.attrs, **{FUSED_CLIP: (lo, hi)}))
        return True

    def fuse_swish(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_swish: this Mul of X by Sigmoid(X) and the Sigmoid step become one
        Swish step (ONNX Swish with alpha 1: x * sigmoid(x)) reading X once; True when
        it did.

        Legality: the Mul has two inputs, one the output of a Sigmoid step read by this
        Mul only (not a graph output), the other that Sigmoid's own input (the same
        value); so the Mul's output has X's shape and element type. The Swish kernel
        computes the Sigmoid kernel's value and multiplies X by it, as the Mul kernel
        does: the same bits (NaN payloads aside)."""
        if len(node.inputs) != 2 or any(i is None for i in ins):
            return False
        for k in (0, 1):
            prev = self.fusable_producer(node, ("Sigmoid",), k)
            if prev is None or node.inputs[1 - k] != prev.inputs[0] or ins[1 - k].shape != ins[k].shape:
                continue
            x = self.values[prev.inputs[0]]
            fused = Node("Swish", prev.node.name, [prev.inputs[0]], [node.outputs[0]], {}, prev.node.opset)
            prepared = self.prepare(fused, [x], lambda n, i: swish(i[0]))
            self.steps.remove(prev)
            del self.values[prev.outputs[0]]
            self.append_step(fused, prepared)
            self.fused.append((node.op_type, node.name))
            return True
        return False

    def fuse_float16_round(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_float16_round: this Cast to float32 of a Cast step from float32 to
        float16 becomes one step rounding float32 through float16; True when it did.

        Legality: the first Cast's float16 output is read by this Cast only (not a graph
        output), its input is float32, and this Cast's target is float32. The fused kernel
        applies the two casts' own conversions to each value: the same bits."""
        if not ins or ins[0] is None or np.dtype(ins[0].dtype) != np.dtype(np.float16):
            return False
        if node.attr("to") != onnx.TensorProto.FLOAT:
            return False
        prev = self.fusable_producer(node, ("Cast",))
        if prev is None or np.dtype(self.values[prev.inputs[0]].dtype) != FLOAT32:
            return False
        x = self.values[prev.inputs[0]]
        fused = Node("Cast", prev.node.name, [prev.inputs[0]], [node.outputs[0]],
                     {"to": onnx.TensorProto.FLOAT}, prev.node.opset)
        prepared = self.prepare(fused, [x], lambda n, i: round_through_float16(i[0]))
        self.steps.remove(prev)
        del self.values[prev.outputs[0]]
        self.append_step(fused, prepared)
        self.fused.append((node.op_type, node.name))
        return True

    def fuse_pad(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_pad: a Pad step feeding this Conv's input X becomes the Conv's own
        padding (pads added to the Conv's pads); True when it did.

        Legality: the Pad's output is read by this Conv only; mode constant with value 0
        (or none); no padding of the batch or channel dims and none negative; the Conv
        has no auto_pad and constant, finite weights. The Conv treats its padding as
        zeros in the same products, so the result is the same (with a weight of inf or
        NaN, 0 x inf would differ from a skipped product: not fused)."""
        prev = self.fusable_producer(node, ("Pad",))
        if prev is None or node.attr("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET"):
            return False
        w = ins[1] if len(ins) > 1 else None
        if w is None or w.value is None or not np.all(np.isfinite(w.value)):
            return False
        pad = prev.node
        mode = pad.attr("mode", "constant")
        if (mode.decode() if isinstance(mode, bytes) else mode) != "constant":
            return False
        pad_ins = [self.values.get(n) if n else None for n in prev.inputs]
        if pad.opset < 11:
            pads, value = pad.attr("pads"), pad.attr("value", 0.0)
        else:
            if len(pad_ins) < 2 or pad_ins[1] is None or pad_ins[1].value is None:
                return False
            if len(pad_ins) > 3 and pad_ins[3] is not None:
                return False   # an axes input: left to the Pad step
            pads = [int(v) for v in pad_ins[1].value.reshape(-1)]
            value = 0.0
            if len(pad_ins) > 2 and pad_ins[2] is not None:
                if pad_ins[2].value is None or pad_ins[2].value.size != 1:
                    return False
                value = float(pad_ins[2].value.reshape(-1)[0])
        x = pad_ins[0]
        if pads is None or x is None or value != 0.0 or len(pads) != 2 * x.rank or x.rank < 3:
            return False
        rank = x.rank
        begin, end = list(pads[:rank]), list(pads[rank:])
        if any(begin[:2]) or any(end[:2]) or any(p < 0 for p in pads):
            return False
        conv_pads = list(node.attr("pads") or [0] * (2 * (rank - 2)))
        spatial = rank - 2
        new = [conv_pads[k] + begin[2 + k] for k in range(spatial)] + \
              [conv_pads[spatial + k] + end[2 + k] for k in range(spatial)]
        self.steps.remove(prev)
        del self.values[prev.outputs[0]]
        fused = dataclasses.replace(node, inputs=[prev.inputs[0]] + list(node.inputs[1:]),
                                    attrs=dict(node.attrs, pads=new))
        self.add_step(fused, [self.values[n] if n else None for n in fused.inputs])
        self.fused.append(("Pad", pad.name))
        return True

    def fuse_qdq(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Pass fuse_qdq: this QuantizeLinear, the Conv / MatMul / Gemm step feeding it
        and the DequantizeLinear nodes feeding that become one QLinearConv, QLinearMatMul
        or com.microsoft QGemm step; True when it did.

        Legality: the op's output is read by this QuantizeLinear only and has no fused
        clamp; the QuantizeLinear and the activation's DequantizeLinear have one constant
        scale and zero point; the weights are a DequantizeLinear of a constant int8/uint8
        tensor, per tensor or per output channel (Conv axis 0, MatMul the last axis, Gemm
        the N axis), no DequantizeLinear blocked (block_size); a bias is a
        DequantizeLinear of a constant int32 tensor with zero point 0 and scale equal, in
        float32, to activation scale x weight scale (so the integer bias is the same
        value); a Gemm has alpha = beta = 1. The integer kernel
        then computes the same real-number formula with one rounding (the requantization)
        where the float path rounds every product: the result may differ by one
        quantization step, as onnxruntime's fused kernels do. The integer op's prepare
        may still decline (types, shapes): the nodes then run unfused."""
        if self.drop_qdq(node):
            return True
        prev = self.fusable_producer(node, ("Conv", "MatMul", "Gemm"))
        if prev is None or FUSED_CLIP in prev.node.attrs or len(prev.inputs) < 2:
            return False
        op = prev.node.op_type

        def constant(name, size_ok=lambda n: n == 1):
            info = self.values.get(name) if name else None
            return info if info is not None and info.value is not None and size_ok(info.value.size) else None

        y_scale, y_zp = (node.inputs + ["", ""])[1:3]
        if constant(y_scale) is None or constant(y_zp) is None:
            return False
        x = self.dequantized.get(prev.inputs[0])
        if x is None or constant(x[1]) is None or (x[2] and constant(x[2]) is None) \
                or np.dtype(self.values[x[0]].dtype) not in (np.dtype(np.uint8), np.dtype(np.int8)):
            return False
        w = self.dequantized.get(prev.inputs[1])
        w_info = constant(w[0], lambda n: True) if w is not None else None
        if w_info is None or np.dtype(w_info.dtype) not in (np.dtype(np.uint8), np.dtype(np.int8)):
            return False
        w_scale = constant(w[1], lambda n: True)
        if w_scale is None or (w[2] and constant(w[2], lambda n: True) is None):
            return False
        if w_scale.value.size > 1:   # per channel: along the output channels only
            trans_b = op == "Gemm" and int(prev.node.attr("transB", 0))
            out_axis = {"Conv": 0, "MatMul": w_info.rank - 1, "Gemm": 0 if trans_b else 1}[op]
            if w[3] % max(w_info.rank, 1) != out_axis:
                return False
        bias = ""
        if op in ("Conv", "Gemm") and len(prev.inputs) > 2 and prev.inputs[2]:
            b = self.dequantized.get(prev.inputs[2])
            b_info = constant(b[0], lambda n: True) if b is not None else None
            b_scale = constant(b[1], lambda n: True) if b is not None else None
            if b_info is None or b_scale is None or np.dtype(b_info.dtype) != np.dtype(np.int32) \
                    or (b[2] and (constant(b[2], lambda n: True) is None or np.any(self.values[b[2]].value))):
                return False
            want = np.float32(self.values[x[1]].value.reshape(-1)[0]) * w_scale.value.astype(np.float32).reshape(-1)
            try:
                want, have = np.broadcast_arrays(want, b_scale.value.astype(np.float32).reshape(-1))
            except ValueError:
                return False   # as many bias scales as neither 1 nor the weight scales
            if not np.array_equal(want, have):
                return False
            bias = b[0]
        attrs = {k: v for k, v in prev.node.attrs.items() if not k.startswith("_")}
        if op == "Conv":
            fused = Node("QLinearConv", prev.node.name, [x[0], x[1], x[2], w[0], w[1], w[2], y_scale, y_zp]
                         + ([bias] if bias else []), [node.outputs[0]], attrs, prev.node.opset)
        elif op == "MatMul":
            fused = Node("QLinearMatMul", prev.node.name, [x[0], x[1], x[2], w[0], w[1], w[2], y_scale, y_zp],
                         [node.outputs[0]], {}, prev.node.opset)
        else:
            if float(attrs.get("alpha", 1.0)) != 1.0 or (bias and float(attrs.get("beta", 1.0)) != 1.0) \
                    or (len(prev.inputs) > 2 and prev.inputs[2] and not bias):
                return False
            fused = Node("QGemm", prev.node.name, [x[0], x[1], x[2], w[0], w[1], w[2], bias, y_scale, y_zp],
                         [node.outputs[0]], {k: attrs[k] for k in ("transA", "transB") if k in attrs},
                         prev.node.opset, None, "com.microsoft")
        return self.replace_with_quantized(prev, fused, node)

    def drop_qdq(self, node: Node) -> bool:
        """Part of pass fuse_qdq: DequantizeLinear -> MaxPool / Concat -> QuantizeLinear with
        one scale and zero point throughout runs MaxPool / Concat on the quantized tensors
        themselves; True when it did.

        Legality (exact, not only close): every DequantizeLinear input and the
        QuantizeLinear have the same constant scalar scale (> 0) and zero point of one
        type; the op's output is read by this QuantizeLinear only; MaxPool has no Indices
        output. Dequantizing is increasing, so the max of the dequantized values is the
        dequantized max, and QuantizeLinear(DequantizeLinear(q)) = q for every q (|q - zero
        point| <= 255: (q - z) x s / s lies within an ulp of q - z, which rounds back)."""
        prev = self.fusable_producer(node, ("MaxPool", "Concat"))
        if prev is None or FUSED_CLIP in prev.node.attrs:
            return False
        if prev.node.op_type == "MaxPool" and (len(prev.outputs) > 1 and prev.outputs[1]):
            return False

        def params(scale: str, zp: str):
            s_info, z_info = self.values.get(scale), self.values.get(zp) if zp else None
            if s_info is None or s_info.value is None or s_info.value.size != 1 or z_info is None \
                    or z_info.value is None or z_info.value.size != 1:
                return None
            sv = float(np.asarray(s_info.value, np.float32).reshape(-1)[0])
            if not (np.isfinite(sv) and sv > 0):
                return None
            return sv, int(np.asarray(z_info.value).reshape(-1)[0]), np.dtype(z_info.dtype)

        out = params(*(node.inputs + ["", ""])[1:3])
        if out is None or out[2] not in (np.dtype(np.uint8), np.dtype(np.int8)):
            return False
        quantized = []
        for name in prev.inputs:
            dq = self.dequantized.get(name)
            if dq is None or params(dq[1], dq[2]) != out or np.dtype(self.values[dq[0]].dtype) != out[2]:
                return False
            quantized.append(dq[0])
        fused = Node(prev.node.op_type, prev.node.name, quantized, [node.outputs[0]],
                     {k: v for k, v in prev.node.attrs.items() if not k.startswith("_")}, prev.node.opset)
        return self.replace_with_quantized(prev, fused, node)

    def replace_with_quantized(self, prev: Step, fused: Node, quantize: Node) -> bool:
        """fuse_qdq's last step: `fused` (reading quantized tensors) replaces step `prev` and
        absorbs the QuantizeLinear `quantize`; False, changing nothing, when the fused op's
        prepare declines (types, shapes)."""
        try:
            prepared = self.prepare(fused, [self.values[n] if n else None for n in fused.inputs],
                                    self.lookup_kernel(fused))
        except (UnsupportedOpError, CompileError):
            return False
        self.steps.remove(prev)
        del self.values[prev.outputs[0]]
        self.append_step(fused, prepared)
        self.fused.append(("QuantizeLinear", quantize.name))
        return True

    def fusable_producer(self, node: Node, op_types, input_index: int = 0) -> Optional[Step]:
        """The step whose only reader is `node` (and not a graph output), if of op_types."""
        name = node.inputs[input_index]
        prev = self.producer.get(name)
        if prev is None or prev.node.domain or prev.node.op_type not in op_types \
                or len(self.readers.get(name, ())) != 1:
            return None
        return prev

    def replace_step(self, prev: Step, absorbed: Node, inputs: List[str], attrs: dict) -> None:
        """Re-prepare `prev` with new inputs/attributes so it also does `absorbed`'s work."""
        fused = Node(prev.node.op_type, prev.node.name, inputs, [absorbed.outputs[0]], attrs,
                     prev.node.opset, None, prev.node.domain)
        self.steps.remove(prev)
        del self.values[prev.outputs[0]]
        self.add_step(fused, [self.values[n] if n else None for n in inputs])
        self.fused.append((absorbed.op_type, absorbed.name))

    # -- kernel steps ------------------------------------------------------------------
    def lookup_kernel(self, node: Node):
        """The prepare function of the node's op in its domain; UnsupportedOpError naming
        the op ("com.microsoft::Foo" for a contrib op) when radrt has no kernel for it."""
        prepare = ops.lookup(node.op_type, node.domain)
        if prepare is None:
            raise UnsupportedOpError(
                f"op {ops.op_key(node.op_type, node.domain)} (node '{node.name}', opset {self.opset}) has no "
                f"radrt kernel" + ("" if node.domain else
                                   " and its inputs are not all constant, so it cannot be folded at compile time"),
                node=node.name)
        return prepare

    def add_step(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        self.append_step(node, self.prepare(node, ins, self.lookup_kernel(node)))

    @staticmethod
    def prepare(node: Node, ins: List[Optional[TensorInfo]], prepare) -> Prepared:
        """`prepare(node, ins)` with every input, output and scratch size checked: dims >= 0,
        counts within int64, each within the memory budget (runtime.sizes)."""
        for name, info in zip(node.inputs, ins):
            if info is not None:
                sizes.check_tensor(node, info.shape, info.dtype, f"input '{name}'")
        prepared = prepare(node, ins)
        for name, info in zip(node.outputs, prepared.outputs):
            sizes.check_tensor(node, info.shape, info.dtype, f"output '{name}'")
        sizes.check_bytes(node, prepared.scratch_bytes, "scratch")
        return prepared

    def append_step(self, node: Node, prepared: Prepared) -> None:
        step = Step(node, list(node.inputs), _outputs_of(node, prepared), prepared)
        for name, info in zip(step.outputs, prepared.outputs):
            if name:
                self.values[name] = info
                self.producer[name] = step
        if any(step.outputs):
            self.steps.append(step)


def _constant_value(node: Node) -> np.ndarray:
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in node.attrs:
            v = node.attrs[key]
            if key.endswith(("float", "floats")):
                return np.asarray(v, np.float32)
            if key.endswith(("int", "ints")):
                return np.asarray(v, np.int64)
            return np.asarray(v)
    raise UnsupportedOpError(f"Constant node '{node.name}': only tensor, float(s) and int(s) "
                             f"values are supported, got attributes {sorted(node.attrs)}")


def _fold_shape(node: Node, x: TensorInfo) -> np.ndarray:
    if node.op_type == "Size":
        return np.asarray(x.size, np.int64)
    rank = x.rank
    start, end = node.attr("start", 0), node.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.asarray(x.shape[start:end], np.int64)


def _casts_to_own_type(node: Node, ins: List[Optional[TensorInfo]]) -> bool:
    """A Cast whose target is its input's own element type: an Identity (pass views),
    e.g. the Cast to float32 of a value runtime.half widened from float16."""
    to = node.attr("to")
    if not ins or ins[0] is None or to is None:
        return False
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(int(to))) == np.dtype(ins[0].dtype)
    except (KeyError, TypeError, ValueError):
        return False


def _view_shape(node: Node, ins: List[Optional[TensorInfo]]) -> Tuple[int, ...]:
    x = ins[0]
    op = node.op_type
    if op in ("Identity", "Dropout", "Cast"):
        return x.shape
    if op == "Flatten":
        axis = node.attr("axis", 1)
        axis = axis + x.rank if axis < 0 else axis  # range [-rank, rank]
        if not 0 <= axis <= x.rank:
            raise ops.node_error(node, f"axis {node.attr('axis', 1)} is out of range for rank {x.rank}")
        return (sizes.element_count(x.shape[:axis], "input", node),
                sizes.element_count(x.shape[axis:], "input", node))
    if op == "Reshape":
        if len(ins) < 2 and "shape" in node.attrs:  # Reshape-1: the shape is an attribute
            target, what = [int(d) for d in node.attrs["shape"]], "attribute 'shape'"
        else:
            target = ops.require_ints(node, ins[1] if len(ins) > 1 else None, "input 1 (shape)")
            what = f"shape input '{node.inputs[1]}'"
        allowzero = node.attr("allowzero", 0)
        context = dict(attribute=node.inputs[1] if len(ins) > 1 else "shape", value=target)
        negative = [d for d in target if d < -1]
        if negative:
            raise ops.node_error(node, f"{what} {target} has dimension {negative[0]}: only -1 (inferred) "
                                       f"may be negative", **context)
        if target.count(-1) > 1:
            raise ops.node_error(node, f"{what} {target} has more than one -1", **context)
        if allowzero and 0 in target and -1 in target:
            raise ops.node_error(node, f"{what} {target} has both 0 and -1 with allowzero=1", **context)
        if not allowzero and 0 in target[x.rank:]:
            raise ops.node_error(node, f"{what} {target}: dimension {target.index(0, x.rank)} is 0 (copy the "
                                       f"input's) but input 0 {x.shape} has rank {x.rank}", **context)
        out = [x.shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
        if -1 in out:
            known = sizes.element_count([d for d in out if d != -1], "input 1 (shape)", node)
            if known == 0 or x.size % known:
                raise ops.node_error(node, f"cannot reshape {x.shape} to {target}", **context)
            out[out.index(-1)] = x.size // known
        if sizes.element_count(out, "input 1 (shape)", node) != x.size:
            raise ops.node_error(node, f"cannot reshape {x.shape} ({x.size} elements) to {target}", **context)
        return tuple(out)
    axes = node.attr("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = ops.require_ints(node, ins[1], "input 1 (axes)")
    if op == "Squeeze":
        if axes is None:
            return tuple(d for d in x.shape if d != 1)
        # a repeated axis squeezes once: the spec does not forbid it and onnxruntime accepts it
        axes = {ops.normalize_axis(node, a, x.rank) for a in axes}
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ops.node_error(node, f"cannot squeeze axis {bad[0]} of shape {x.shape}: size is not 1")
        return tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if op == "Unsqueeze":
        if axes is None:
            raise ops.node_error(node, "axes are missing")
        rank = x.rank + len(axes)
        given, axes = list(axes), sorted(ops.normalize_axis(node, a, rank) for a in axes)
        if len(set(axes)) != len(axes):
            raise ops.node_error(node, f"axes {given} name the same axis twice (output rank {rank})",
                                 value=given)
        out = list(x.shape)
        for a in axes:
            out.insert(a, 1)
        return tuple(out)
    raise AssertionError(op)

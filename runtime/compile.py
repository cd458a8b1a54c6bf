"""Stage 2, compile: fix shapes, fold constants, fold BatchNormalization, make views.

`compile_graph(loaded, input_shapes)` walks the nodes in order with every
value's shape and dtype known (input shapes are fixed here) and sorts each node
into one of four fates:

1. folded: Shape/Size of a value with a known shape, Constant,
   ConstantOfShape, and any node whose inputs are all constants are evaluated
   now with numpy (onnx's reference evaluator for the general case); `If` with
   a constant condition is replaced by the chosen branch;
2. view: Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout give a new shape
   over the same bytes (an alias of their input's buffer, no copy, no step);
3. fused: BatchNormalization that only reads the output of a Conv or Gemm with
   constant weights is folded into that op's weights and bias, and so is a Mul
   or Add of a Conv output by a constant per-channel vector (BatchNormalization
   written out, as in Inception v2); such a Mul or Add after a
   BatchNormalization that cannot fold (it follows a Concat, as in DenseNet)
   folds into that BatchNormalization's scale and bias; Relu or Clip that only
   reads the output of a Conv, ConvTranspose, Gemm, MatMul or
   BatchNormalization becomes that kernel's store-time clamp (the same
   compare-based clamp, so NaN still passes through);
4. kernel: everything else is a `Step`, prepared by its op in `runtime.ops`,
   which validates what the C kernel will trust.

Steps whose outputs nobody reads are dropped. The result is a `CompiledGraph`.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import ops, sizes
from .errors import CompileError, RadrtError, UnsupportedOpError
from .load import VIEW_OPS, LoadedModel, Node, to_nodes
from .ops import Prepared, TensorInfo
from .ops.activation import clip_bounds
from .ops.normalization import batchnorm_params
from .ops import FUSED_CLIP


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
        raise UnsupportedOpError(f"{what}: element type {onnx.TensorProto.DataType.Name(elem_type)} "
                                 f"is not supported (supported: float, double, float16, int8/16/32/64, "
                                 f"uint8/16/32/64, bool)")
    return np.dtype(_ONNX_TO_NP[elem_type])


def declared_shape(vi: onnx.ValueInfoProto) -> List:
    """The input's shape as the model declares it: ints, dim_param strings or None."""
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in vi.type.tensor_type.shape.dim]


def runtime_inputs(proto: onnx.ModelProto) -> List[onnx.ValueInfoProto]:
    inits = {t.name for t in proto.graph.initializer}
    return [vi for vi in proto.graph.input if vi.name not in inits]


def compile_graph(loaded: LoadedModel,
                  input_shapes: Optional[Dict[str, Sequence[int]]] = None,
                  max_memory_bytes: Optional[int] = None) -> CompiledGraph:
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
            unknown = [i for i, d in enumerate(shape) if not isinstance(d, int)]
            if unknown:
                raise CompileError(f"{what}: dimension {unknown[0]} of {tuple(shape)} is not fixed; "
                                   f"give input_shapes={{'{vi.name}': (...)}} or feed the input")
        values[vi.name] = TensorInfo(tuple(int(d) for d in shape), dtype)
        inputs.append(vi.name)
    if input_shapes:
        raise CompileError(f"input_shapes names {sorted(input_shapes)}, which are not runtime inputs "
                           f"of the model (expected some of {inputs})")

    c = _Compiler(loaded.opset, values, _consumer_counts(graph))
    with sizes.memory_budget(sizes.resolve_budget(max_memory_bytes)):  # see runtime.sizes
        c.walk(loaded.nodes)
    outputs = [o.name for o in graph.output]
    for name in outputs:
        if name not in c.values:
            raise CompileError(f"graph output '{name}' is produced by no node, input or initializer")
    steps = _drop_dead_steps(c.steps, c.alias, outputs)
    return CompiledGraph(loaded.opset, inputs, outputs, c.values, c.alias, steps,
                         c.folded, c.fused)


def _consumer_counts(graph: onnx.GraphProto) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            counts[i] = counts.get(i, 0) + 1
        for a in n.attribute:  # values read from inside subgraphs count too
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else []):
                for sn in g.node:
                    for i in sn.input:
                        counts[i] = counts.get(i, 0) + 1
    for o in graph.output:
        counts[o.name] = counts.get(o.name, 0) + 1
    return counts


def _drop_dead_steps(steps: List[Step], alias: Dict[str, str], outputs: List[str]) -> List[Step]:
    live = {alias.get(o, o) for o in outputs}
    kept = []
    for step in reversed(steps):
        if any(o in live for o in step.outputs):
            kept.append(step)
            live.update(alias.get(i, i) for i in step.inputs if i)
    return kept[::-1]


class _Compiler:
    def __init__(self, opset: int, values: Dict[str, TensorInfo], consumers: Dict[str, int]):
        self.opset = opset
        self.values = values
        self.consumers = consumers
        self.alias: Dict[str, str] = {}
        self.steps: List[Step] = []
        self.producer: Dict[str, Step] = {}
        self.folded = 0
        self.fused: List[Tuple[str, str]] = []

    def info(self, node: Node, name: str) -> Optional[TensorInfo]:
        if not name:
            return None
        if name not in self.values:
            raise CompileError(f"{node.op_type} node '{node.name}': input '{name}' is not produced "
                               f"before it (graph not topologically sorted, or a missing initializer)")
        return self.values[name]

    def walk(self, nodes: List[Node]) -> None:
        for node in nodes:
            ins = [self.info(node, n) for n in node.inputs]
            if node.op_type == "If":
                self.inline_if(node, ins)
            elif node.op_type in ("Shape", "Size") and ins[0] is not None:
                self.set_constant(node, [_fold_shape(node, ins[0])])
            elif self.all_constant(node, ins):
                self.set_constant(node, self.fold(node, ins))
            elif node.op_type in VIEW_OPS:
                self.make_view(node, ins)
            elif node.op_type == "BatchNormalization" and self.fuse_batchnorm(node, ins):
                pass
            elif node.op_type in ("Mul", "Add") and self.fuse_mul_add(node, ins):
                pass
            elif node.op_type in ("Relu", "Clip") and self.fuse_activation(node, ins):
                pass
            else:
                self.add_step(node, ins)

    # -- fate 1: folded ------------------------------------------------------
    @staticmethod
    def all_constant(node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike",
                            "RandomUniformLike", "Multinomial", "Bernoulli"):
            return False
        return all(i is None or i.value is not None for i in ins)

    def set_constant(self, node: Node, arrays: List[np.ndarray]) -> None:
        self.folded += 1
        for name, arr in zip(node.outputs, arrays):
            if name:
                arr = np.asarray(arr)
                self.values[name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)

    def fold(self, node: Node, ins: List[Optional[TensorInfo]]) -> List[np.ndarray]:
        if node.op_type == "Constant":
            return [_constant_value(node)]
        if node.op_type == "ConstantOfShape":
            fill = node.attr("value")
            fill = np.zeros(1, np.float32) if fill is None else fill.reshape(-1)
            shape = tuple(int(d) for d in ins[0].value)
            sizes.check_tensor(node, shape, fill.dtype, f"output '{node.outputs[0]}'")
            return [np.full(shape, fill[0], dtype=fill.dtype)]
        from onnx.reference import ReferenceEvaluator
        try:
            # A one-node model, so the evaluator picks the op version of the model's opset.
            graph = helper.make_graph(
                [node.proto], "fold", [helper.make_empty_tensor_value_info(n) for n in node.inputs if n],
                [helper.make_empty_tensor_value_info(n) for n in node.outputs if n])
            ref = ReferenceEvaluator(helper.make_model(
                graph, opset_imports=[helper.make_opsetid("", self.opset)]))
            feeds = {n: i.value for n, i in zip(node.inputs, ins) if n}
            return list(ref.run(None, feeds))
        except Exception as e:
            raise CompileError(f"{node.op_type} node '{node.name}' (opset {self.opset}): constant "
                               f"folding failed: {e}") from e

    def inline_if(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        if ins[0] is None or ins[0].value is None:
            raise UnsupportedOpError(f"op If (node '{node.name}', opset {self.opset}): only a "
                                     f"condition known at compile time is supported")
        branch = node.attr("then_branch") if bool(np.asarray(ins[0].value).reshape(-1)[0]) \
            else node.attr("else_branch")
        for t in branch.initializer:
            arr = numpy_helper.to_array(t)
            self.values[t.name] = TensorInfo(tuple(arr.shape), arr.dtype, arr)
        self.walk(to_nodes(branch, self.opset, prefix=node.name + "/"))
        for out, inner in zip(node.outputs, branch.output):
            self.alias_or_copy(out, inner.name, self.values[inner.name].shape)
        self.folded += 1

    # -- fate 2: views --------------------------------------------------------
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

    # -- fate 3: BatchNormalization folded into Conv/Gemm ----------------------
    def fuse_batchnorm(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        batchnorm_params(node, ins)  # the checks of the unfused path, before any folding
        prev = self.fusable_producer(node, ("Conv", "Gemm"))
        if prev is None or FUSED_CLIP in prev.node.attrs:
            return False
        if len([o for o in node.outputs if o]) != 1 or node.attr("training_mode", 0):
            return False
        if any(i is None or i.value is None for i in ins[1:5]):
            return False
        scale, bias, mean, var = (i.value.astype(np.float64) for i in ins[1:5])
        s = scale / np.sqrt(var + float(node.attr("epsilon", 1e-5)))
        return self.fold_channel_affine(prev, node, s, bias - mean * s)

    def fuse_mul_add(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        """Conv or BatchNormalization output times, or plus, a constant per-channel vector."""
        if len(node.inputs) != 2 or any(i is None for i in ins):
            return False
        for k in (0, 1):
            prev = self.fusable_producer(node, ("Conv", "BatchNormalization"), k)
            other = ins[1 - k]
            if prev is None or FUSED_CLIP in prev.node.attrs or other.value is None:
                continue
            vector = _channel_vector(self.values[node.inputs[k]].shape, other.value)
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
        scale_name, bias_name = node.name + "/folded_scale", node.name + "/folded_B"
        for name, value in ((scale_name, scale * s), (bias_name, bias * s + t)):
            self.values[name] = TensorInfo(value.shape, np.dtype(np.float32), value.astype(np.float32))
        self.replace_step(prev, node, [prev.inputs[0], scale_name, bias_name] + prev.inputs[3:], prev.node.attrs)
        return True

    def fold_channel_affine(self, prev: Step, node: Node, s: np.ndarray, t: np.ndarray) -> bool:
        """Make `prev` (Conv or Gemm with constant weights) compute y * s + t per output channel."""
        w_info = self.values.get(prev.inputs[1])
        if w_info is None or w_info.value is None:
            return False
        b_name = prev.inputs[2] if len(prev.inputs) > 2 else ""
        b_info = self.values.get(b_name) if b_name else None
        if b_name and (b_info is None or b_info.value is None):
            return False
        w = w_info.value.astype(np.float64)
        if prev.node.op_type == "Conv":
            cout = w.shape[0]
            if s.shape != (cout,) or t.shape != (cout,):
                return False
            w = w * s.reshape((cout,) + (1,) * (w.ndim - 1))
            b = np.zeros(cout) if b_info is None else b_info.value.astype(np.float64)
        else:  # Gemm: Y = alpha*A'B' + beta*C, scaled over the columns of Y
            if prev.node.attr("transA", 0) or w.ndim != 2:
                return False
            beta = float(prev.node.attr("beta", 1.0))
            cols = w.shape[0] if prev.node.attr("transB", 0) else w.shape[1]
            if s.shape != (cols,) or t.shape != (cols,):
                return False
            w = w * (s.reshape(-1, 1) if prev.node.attr("transB", 0) else s.reshape(1, -1))
            if b_info is None:
                b = np.zeros(cols)
            elif b_info.value.size in (1, cols):
                b = beta * np.broadcast_to(b_info.value.reshape(-1).astype(np.float64), (cols,))
            else:
                return False
        b = b * s + t
        w_name, b_name = node.name + "/folded_W", node.name + "/folded_B"
        self.values[w_name] = TensorInfo(w.shape, np.dtype(np.float32), w.astype(np.float32))
        self.values[b_name] = TensorInfo(b.shape, np.dtype(np.float32), b.astype(np.float32))
        new_inputs = [prev.inputs[0], w_name, b_name] + prev.inputs[3:]
        attrs = dict(prev.node.attrs, beta=1.0) if prev.node.op_type == "Gemm" else prev.node.attrs
        self.replace_step(prev, node, new_inputs, attrs)
        return True

    def fuse_activation(self, node: Node, ins: List[Optional[TensorInfo]]) -> bool:
        prev = self.fusable_producer(node, ("Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization"))
        if prev is None or FUSED_CLIP in prev.node.attrs:
            return False
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

    def fusable_producer(self, node: Node, op_types, input_index: int = 0) -> Optional[Step]:
        """The step whose only reader is `node` (and not a graph output), if of op_types."""
        name = node.inputs[input_index]
        prev = self.producer.get(name)
        if prev is None or prev.node.op_type not in op_types or self.consumers.get(name, 0) != 1:
            return None
        return prev

    def replace_step(self, prev: Step, absorbed: Node, inputs: List[str], attrs: dict) -> None:
        """Re-prepare `prev` with new inputs/attributes so it also does `absorbed`'s work."""
        fused = Node(prev.node.op_type, prev.node.name, inputs, [absorbed.outputs[0]], attrs,
                     prev.node.opset, None)
        self.steps.remove(prev)
        del self.values[prev.outputs[0]]
        self.add_step(fused, [self.values[n] if n else None for n in inputs])
        self.fused.append((absorbed.op_type, absorbed.name))

    # -- fate 4: kernel steps -----------------------------------------------------
    def add_step(self, node: Node, ins: List[Optional[TensorInfo]]) -> None:
        prepare = ops.lookup(node.op_type)
        if prepare is None:
            raise UnsupportedOpError(
                f"op {node.op_type} (node '{node.name}', opset {self.opset}) has no radrt kernel "
                f"and its inputs are not all constant, so it cannot be folded at compile time")
        for name, info in zip(node.inputs, ins):  # dims >= 0, sizes in int64 and the budget
            if info is not None:
                sizes.check_tensor(node, info.shape, info.dtype, f"input '{name}'")
        prepared = prepare(node, ins)
        for name, info in zip(node.outputs, prepared.outputs):
            sizes.check_tensor(node, info.shape, info.dtype, f"output '{name}'")
        sizes.check_bytes(node, prepared.scratch_bytes, "scratch")
        wanted = [o for o in node.outputs if o]
        if len(node.outputs) > len(prepared.outputs) and any(node.outputs[len(prepared.outputs):]):
            raise UnsupportedOpError(f"{node.op_type} node '{node.name}': output "
                                     f"{len(prepared.outputs)} ('{node.outputs[len(prepared.outputs)]}') "
                                     f"is not supported")
        step = Step(node, list(node.inputs), list(node.outputs[:len(prepared.outputs)]), prepared)
        for name, info in zip(step.outputs, prepared.outputs):
            if name:
                self.values[name] = info
                self.producer[name] = step
        if wanted:
            self.steps.append(step)


def _channel_vector(out_shape: Tuple[int, ...], c: np.ndarray) -> Optional[np.ndarray]:
    """`c` as one value per channel (axis 1) of `out_shape`, if it broadcasts only that way."""
    if c.size == 1:
        return np.full(out_shape[1], float(c.reshape(-1)[0])) if len(out_shape) > 1 else None
    shape = (1,) * (len(out_shape) - c.ndim) + tuple(c.shape)
    if c.ndim > len(out_shape) or len(out_shape) < 2 or shape[1] != out_shape[1] or \
            any(d != 1 for i, d in enumerate(shape) if i != 1):
        return None
    return c.reshape(-1).astype(np.float64)


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


def _view_shape(node: Node, ins: List[Optional[TensorInfo]]) -> Tuple[int, ...]:
    x = ins[0]
    op = node.op_type
    if op in ("Identity", "Dropout"):
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
            target = [int(d) for d in ops.require_constant(node, ins[1] if len(ins) > 1 else None,
                                                            "input 1 (shape)").reshape(-1)]
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
        axes = ops.require_constant(node, ins[1], "input 1 (axes)").reshape(-1).tolist()
    if op == "Squeeze":
        if axes is None:
            return tuple(d for d in x.shape if d != 1)
        axes = {ops.normalize_axis(node, a, x.rank) for a in axes}
        bad = [a for a in axes if x.shape[a] != 1]
        if bad:
            raise ops.node_error(node, f"cannot squeeze axis {bad[0]} of shape {x.shape}: size is not 1")
        return tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if op == "Unsqueeze":
        if axes is None:
            raise ops.node_error(node, "axes are missing")
        rank = x.rank + len(axes)
        axes = sorted(ops.normalize_axis(node, a, rank) for a in axes)
        out = list(x.shape)
        for a in axes:
            out.insert(a, 1)
        return tuple(out)
    raise AssertionError(op)

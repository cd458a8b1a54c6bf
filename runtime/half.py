"""Load-time rewrite: float16 models compute in float32.

`widen_float16(proto)` returns a copy of a model in which every float16 tensor inside
the graph is float32: initializers and Constant values are widened (exactly: every
float16 value is a float32 value), the declared types of intermediate values follow,
and the kernels (float32 only) run them. What the model states about float16 stays:

- a model input declared float16 stays float16 (the caller feeds float16); a Cast to
  float32 right after it feeds the graph;
- a model output declared float16 stays float16: a Cast to float16 right before it (an
  output declared without a type is float16 when onnx's type inference says so);
- a `Cast(to=FLOAT16)` in the model still rounds to float16 (round to nearest even,
  overflow to infinity, as the Cast kernel does it) and is followed by a Cast back to
  float32, so later ops see the rounded value; a `CastLike` whose target is float16 (by
  onnx's type inference on the original model) becomes that same Cast pair, but from
  float64 (radrt casts float64 to float32 only: it then rounds once, at the model's
  float16 output, or not at all).

Other intermediate results keep float32 precision where a float16 runtime would round
each op's output to float16: radrt's results are the more exact ones, and differ from
onnxruntime's (which on x86 computes most float16 ops in float32 and rounds every
output to float16) by about float16's rounding error (2^-11 relative) per op. This is
the faithful way to compute on a CPU without float16 arithmetic; the tolerance the tests
use for float16 models says so.

Weights: held as float32 in the weight region (2x the bits a float16 copy would
expose to upsets; `radrt inspect` prints the exposed bits), so every kernel, protection
mode and checksum works on them unchanged.

Subgraphs (If/Loop/Scan bodies) are rewritten the same way; attributes that name an
element type (Cast `to`, ConstantOfShape `value`, EyeLike/Random* `dtype`) follow.
"""
from typing import Dict, List

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F16, F32 = TensorProto.FLOAT16, TensorProto.FLOAT
# Ops whose `dtype` attribute names their output's element type.
_DTYPE_ATTR_OPS = frozenset({"EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike",
                             "RandomUniformLike", "Multinomial", "Bernoulli"})


def has_float16(proto: onnx.ModelProto) -> bool:
    """Whether any tensor, declared value or element-type attribute of the model is float16."""
    return _graph_has_float16(proto.graph)


def _graph_has_float16(g: onnx.GraphProto) -> bool:
    if any(t.data_type == F16 for t in g.initializer):
        return True
    if any(vi.type.tensor_type.elem_type == F16 for vi in [*g.input, *g.output, *g.value_info]):
        return True
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == F16:
                return True
            if a.name in ("to", "dtype") and a.type == onnx.AttributeProto.INT and a.i == F16:
                return True
            if a.type == onnx.AttributeProto.GRAPH and _graph_has_float16(a.g):
                return True
            if a.type == onnx.AttributeProto.GRAPHS and any(_graph_has_float16(s) for s in a.graphs):
                return True
    return False


def widen_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `proto` computing its float16 tensors in float32 (module docstring);
    the model itself when it has no float16 anywhere."""
    if not has_float16(proto):
        return proto
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    taken = _all_names(out.graph)
    _widen_graph(out.graph, taken, top=True, outer={}, half=_float16_values(proto))
    return out


def _float16_values(proto: onnx.ModelProto) -> set:
    """Names of the values whose element type is float16 in the original model: declared
    (inputs, outputs, value_info, initializers) or found by onnx's type inference; float64
    values are in it as ("float64", name), so that a CastLike from float64 is told apart."""
    try:
        inferred = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:   # inference is a help here, never a requirement
        inferred = proto.graph
    names = set()

    def add(name: str, elem_type: int) -> None:
        if elem_type == F16:
            names.add(name)
        elif elem_type == TensorProto.DOUBLE:
            names.add(("float64", name))

    def scan(g: onnx.GraphProto) -> None:
        for vi in [*g.input, *g.output, *g.value_info]:
            add(vi.name, vi.type.tensor_type.elem_type)
        for t in g.initializer:
            add(t.name, t.data_type)
        for n in g.node:
            for a in n.attribute:
                if n.op_type == "Constant" and a.type == onnx.AttributeProto.TENSOR:
                    for o in n.output:
                        add(o, a.t.data_type)
                for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                    scan(sub)
    scan(inferred)
    return names


def _all_names(g: onnx.GraphProto) -> set:
    names = {vi.name for vi in [*g.input, *g.output, *g.value_info]} | {t.name for t in g.initializer}
    for n in g.node:
        names.update(n.input)
        names.update(n.output)
        names.add(n.name)
        for a in n.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                names |= _all_names(sub)
    return names


def _fresh(taken: set, base: str) -> str:
    """`base`, or `base_K` for the first K that no name in the model uses."""
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _widen_tensor(t: onnx.TensorProto) -> onnx.TensorProto:
    if t.data_type != F16:
        return t
    return numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name)


def _widen_graph(g: onnx.GraphProto, taken: set, top: bool, outer: Dict[str, str], half: set) -> None:
    """Rewrite `g` in place; `outer` renames outer-scope values a subgraph reads; `half`:
    the names of float16 values in the original model (_float16_values)."""
    for i, t in enumerate(g.initializer):
        if t.data_type == F16:
            g.initializer[i].CopyFrom(_widen_tensor(t))
    for vi in g.value_info:
        if vi.type.tensor_type.elem_type == F16:
            vi.type.tensor_type.elem_type = F32
    nodes: List[onnx.NodeProto] = []
    local = {vi.name for vi in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    rename: Dict[str, str] = {k: v for k, v in outer.items() if k not in local}
    # Model inputs declared float16 stay so; the graph reads a float32 copy. (A subgraph's
    # formal inputs are widened like any value: its caller passes float32.)
    initializers = {t.name for t in g.initializer}
    for vi in g.input:
        if vi.type.tensor_type.elem_type != F16:
            continue
        if not top or vi.name in initializers:
            vi.type.tensor_type.elem_type = F32
            continue
        wide = _fresh(taken, vi.name + "_f32")
        nodes.append(helper.make_node("Cast", [vi.name], [wide], to=F32, name=_fresh(taken, vi.name + "_widen")))
        rename[vi.name] = wide
    # Model outputs declared float16 (or left untyped and float16 by onnx's type inference)
    # stay so: their producer (or initializer) is renamed to a float32 value, cast to
    # float16 at the end. An output that is a model input passes through as it is.
    input_names = {vi.name for vi in g.input}
    narrow_outputs = []
    for vi in g.output:
        elem = vi.type.tensor_type.elem_type
        is_half = elem == F16 or (elem == TensorProto.UNDEFINED and top and vi.name in half)
        if not is_half or (top and vi.name in input_names):
            continue
        if not top:
            vi.type.tensor_type.elem_type = F32
            continue
        wide = _fresh(taken, vi.name + "_f32")
        narrow_outputs.append((wide, vi.name))
        for t in g.initializer:
            if t.name == vi.name:
                t.name = wide
        rename[vi.name] = wide
    for n in g.node:
        # CastLike to a float16 target is a Cast to float16 (from float64, which radrt casts
        # to float32 only, it stays a CastLike to the widened target, unrounded)
        to_half = n.op_type == "CastLike" and n.domain in ("", "ai.onnx") and len(n.input) > 1 \
            and n.input[1] in half and ("float64", n.input[0]) not in half
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
        for k, name in enumerate(n.output):
            if name in rename:
                n.output[k] = rename[name]
        if to_half:
            cast = helper.make_node("Cast", [n.input[0]], list(n.output), name=n.name, to=F16)
            cast.attribute.extend(a for a in n.attribute if a.name == "saturate")
            n = cast
        nodes.extend(_widen_node(n, taken, rename, half))
    for wide, name in narrow_outputs:
        nodes.append(helper.make_node("Cast", [wide], [name], to=F16, name=_fresh(taken, name + "_narrow")))
    del g.node[:]
    g.node.extend(nodes)


def _widen_node(n: onnx.NodeProto, taken: set, rename: Dict[str, str], half: set) -> List[onnx.NodeProto]:
    for a in n.attribute:
        if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == F16:
            a.t.CopyFrom(_widen_tensor(a.t))
        elif a.type == onnx.AttributeProto.GRAPH:
            _widen_graph(a.g, taken, top=False, outer=rename, half=half)
        elif a.type == onnx.AttributeProto.GRAPHS:
            for sub in a.graphs:
                _widen_graph(sub, taken, top=False, outer=rename, half=half)
        elif a.name == "dtype" and n.op_type in _DTYPE_ATTR_OPS and n.domain in ("", "ai.onnx") \
                and a.i == F16:
            a.i = F32
    if n.op_type == "Cast" and n.domain in ("", "ai.onnx"):
        to = next((a for a in n.attribute if a.name == "to"), None)
        if to is not None and to.i == F16:
            # Round to float16 as the model says, then carry the rounded value in float32.
            out = n.output[0]
            rounded = _fresh(taken, out + "_f16")
            n.output[0] = rounded
            back = helper.make_node("Cast", [rounded], [out], to=F32, name=_fresh(taken, (n.name or out) + "_back"))
            return [n, back]
    return [n]

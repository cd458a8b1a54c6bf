"""Re-draw every weight of a model at random (seeded), keeping activations finite.

The CNNs that ship in the onnx wheel have every weight equal to 0.02, so their
outputs are uniform and prove little. `randomize_weights(model, seed)` turns
every float weight (an initializer, or a ConstantOfShape of a constant shape,
which is how those IR-3 models carry weights) into an initializer drawn by its
role:
- Conv/ConvTranspose/Gemm/MatMul weight: normal, std sqrt(2 / fan_in) (He), so
  each layer keeps the activation scale;
- BatchNormalization scale U(0.3, 0.6) (damps residual growth), variance U(0.5, 1.5), bias and mean
  N(0, 0.1);
- anything else (biases, PRelu slopes, ...): N(0, 0.05).
"""
from typing import Dict, List, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

_WEIGHT_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _roles(graph: onnx.GraphProto) -> Dict[str, Tuple[onnx.NodeProto, int]]:
    roles = {}
    for n in graph.node:
        for k, name in enumerate(n.input):
            roles.setdefault(name, (n, k))
    return roles


def _fan_in(node: onnx.NodeProto, shape: Tuple[int, ...]) -> int:
    if node.op_type == "Conv":
        return int(np.prod(shape[1:]))
    if node.op_type == "ConvTranspose":
        return int(shape[0] * np.prod(shape[2:]))
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return shape[1] if trans_b else shape[0]
    return shape[-2] if len(shape) >= 2 else shape[0]


def _draw(rng: np.random.Generator, shape, role) -> np.ndarray:
    node, k = role if role else (None, -1)
    op = node.op_type if node is not None and node.domain in ("", "ai.onnx") else ""
    if op in _WEIGHT_OPS and k == 1 and len(shape) >= 1:
        std = np.sqrt(2.0 / max(_fan_in(node, tuple(shape)), 1))
        return rng.normal(0.0, std, shape)
    if op == "BatchNormalization" and k == 1:
        return rng.uniform(0.3, 0.6, shape)
    if op == "BatchNormalization" and k == 4:
        return rng.uniform(0.5, 1.5, shape)
    if op == "BatchNormalization":
        return rng.normal(0.0, 0.1, shape)
    return rng.normal(0.0, 0.05, shape)


def randomize_weights(model: onnx.ModelProto, seed: int) -> onnx.ModelProto:
    """A copy of `model` whose float weights are re-drawn; everything else is unchanged."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    rng = np.random.default_rng(seed)
    roles = _roles(g)
    inits = {t.name: t for t in g.initializer}

    new_inits: List[onnx.TensorProto] = []
    dropped_nodes = []
    for n in g.node:
        if n.op_type == "ConstantOfShape" and n.domain in ("", "ai.onnx") and n.input and n.input[0] in inits:
            value = next((numpy_helper.to_array(a.t) for a in n.attribute if a.name == "value"),
                         np.zeros(1, np.float32))
            if value.dtype != np.float32:
                continue
            shape = tuple(int(d) for d in numpy_helper.to_array(inits[n.input[0]]))
            arr = _draw(rng, shape, roles.get(n.output[0])).astype(np.float32)
            new_inits.append(numpy_helper.from_array(arr, n.output[0]))
            dropped_nodes.append(n)
    for n in dropped_nodes:
        g.node.remove(n)
    for t in list(g.initializer):
        if t.data_type == onnx.TensorProto.FLOAT and t.name in roles:
            arr = _draw(rng, tuple(t.dims), roles[t.name]).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(arr, t.name))
    g.initializer.extend(new_inits)

    # Shape initializers that fed only the removed ConstantOfShape nodes go too.
    still_read = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for t in list(g.initializer):
        if t.name not in still_read:
            g.initializer.remove(t)
    names = {t.name for t in g.initializer}
    for vi in list(g.input):
        if vi.name not in still_read and vi.name not in names:
            g.input.remove(vi)
    return out

"""radrt as an `onnx.backend.base.Backend`, so onnx's own BackendTest can drive it.

    import runtime.backend as backend
    rep = backend.prepare(model)          # ModelProto -> BackendRep
    outputs = rep.run([x])                # positional inputs, in graph order
    (y,) = backend.run_node(node, [x])    # one node: a model is built around it

radrt runs on the CPU only: any other device is refused (InvalidArgumentError),
as is a keyword radrt does not take (UnknownArgumentError). prepare's keywords
are InferenceSession's. Every failure is a RadrtError.
"""
from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from .errors import InvalidArgumentError, ModelLoadError, UnknownArgumentError
from .session import InferenceSession


def _check_device(device: Any) -> None:
    if not RadrtBackend.supports_device(device):
        raise InvalidArgumentError(f"device {device!r}: radrt runs its C kernels on the CPU only "
                                   f"(expected 'CPU' or 'CPU:0')", argument="device", value=device)


def _refuse_unknown(where: str, unknown: dict, accepted: Sequence[str]) -> None:
    if unknown:
        name = sorted(unknown)[0]
        raise UnknownArgumentError(f"{where} got an unknown keyword argument {name!r} (accepted: "
                                   f"{', '.join(accepted) or 'none'})", argument=name, value=unknown[name])


class RadrtRep(BackendRep):
    def __init__(self, session: InferenceSession):
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]

    def run(self, inputs: Any, **kwargs) -> tuple:
        """Run once: inputs a dict {name: array}, a list in graph-input order, or one array.

        Raises UnknownArgumentError for any keyword (radrt takes none here),
        InvalidArgumentError for a wrong count, name, dtype or shape."""
        _refuse_unknown("RadrtRep.run", kwargs, ())
        if isinstance(inputs, dict):
            feeds = inputs
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            if len(inputs) != len(self.input_names):
                raise InvalidArgumentError(f"got {len(inputs)} inputs, the model expects "
                                           f"{len(self.input_names)} ({self.input_names})",
                                           argument="inputs", value=len(inputs))
            feeds = dict(zip(self.input_names, inputs))
        return tuple(self.session.run(None, feeds))


class RadrtBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs) -> RadrtRep:
        """An InferenceSession for `model` (keywords: InferenceSession's).

        Raises InvalidArgumentError for a device other than the CPU,
        UnknownArgumentError for a keyword InferenceSession does not take,
        ModelLoadError for a model onnx's checker refuses."""
        _check_device(device)
        try:
            super().prepare(model, device)
        except onnx.checker.ValidationError as e:
            raise ModelLoadError(f"model: onnx's checker refuses it: {e}") from e
        return RadrtRep(InferenceSession(model, **kwargs))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[np.ndarray], device: str = "CPU",
                 outputs_info: Optional[Sequence[tuple]] = None, opset_version: Optional[int] = None,
                 **kwargs) -> tuple:
        """Run one node on `inputs` (arrays, in the node's input order; '' inputs skipped).

        A one-node model is built around it: input types from the arrays,
        output types from `outputs_info` ((dtype, shape) per output) or else
        from onnx's shape inference. Keywords: opset_version (default: the
        installed onnx's) and InferenceSession's.

        Raises InvalidArgumentError for a wrong device or input count, and
        ModelLoadError when an output's type cannot be inferred (give
        outputs_info) or the node is invalid."""
        _check_device(device)
        names = [n for n in node.input if n]
        arrays = [np.asarray(x) for x in inputs]
        if len(arrays) != len(names):
            raise InvalidArgumentError(f"run_node: got {len(arrays)} inputs, node {node.op_type} "
                                       f"'{node.name}' has {len(names)} ({names})", argument="inputs",
                                       value=len(arrays))
        graph_inputs = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(x.dtype),
                                                           x.shape) for n, x in zip(names, arrays)]
        outputs = [n for n in node.output if n]
        opsets = [onnx.helper.make_opsetid("", opset_version)] if opset_version is not None else None
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs,
                                       [onnx.helper.make_empty_tensor_value_info(n) for n in outputs])
        model = onnx.helper.make_model(graph, opset_imports=opsets) if opsets else onnx.helper.make_model(graph)
        model.graph.ClearField("output")
        if outputs_info is not None:
            if len(outputs_info) != len(outputs):
                raise InvalidArgumentError(f"run_node: outputs_info has {len(outputs_info)} entries, node "
                                           f"{node.op_type} '{node.name}' has {len(outputs)} outputs",
                                           argument="outputs_info", value=len(outputs_info))
            model.graph.output.extend(onnx.helper.make_tensor_value_info(
                n, onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
                for n, (dtype, shape) in zip(outputs, outputs_info))
        else:
            try:
                inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
            except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as e:
                raise ModelLoadError(f"run_node: node {node.op_type} '{node.name}': onnx's shape "
                                     f"inference fails: {e}") from e
            types = {vi.name: vi for vi in inferred.graph.value_info}
            for n in outputs:
                vi = types.get(n)
                tensor = vi.type.tensor_type if vi is not None else None
                if tensor is None or not tensor.elem_type or not tensor.HasField("shape"):
                    raise ModelLoadError(f"run_node: node {node.op_type} '{node.name}': the type or rank of "
                                         f"output '{n}' cannot be inferred; give outputs_info",
                                         node=node.name, attribute=n)
                model.graph.output.append(vi)
        return cls.run_model(model, arrays, device, **kwargs)

    @classmethod
    def supports_device(cls, device: Any) -> bool:
        """True for "CPU" (or "CPU:0"): radrt runs on the CPU only."""
        return isinstance(device, str) and device in ("CPU", "CPU:0")


prepare = RadrtBackend.prepare
run_model = RadrtBackend.run_model
run_node = RadrtBackend.run_node
supports_device = RadrtBackend.supports_device

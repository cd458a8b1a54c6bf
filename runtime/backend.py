"""radrt as an `onnx.backend.base.Backend`, so onnx's own BackendTest can drive it.

    import runtime.backend as backend
    rep = backend.prepare(model)          # ModelProto -> BackendRep
    outputs = rep.run([x])                # positional inputs, in graph order
"""
from typing import Any, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from .errors import InvalidArgumentError
from .session import InferenceSession


class RadrtRep(BackendRep):
    def __init__(self, session: InferenceSession):
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]

    def run(self, inputs: Any, **kwargs) -> tuple:
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
        super().prepare(model, device, **kwargs)
        return RadrtRep(InferenceSession(model, **kwargs))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Sequence[np.ndarray], device: str = "CPU",
                 outputs_info=None, **kwargs) -> tuple:
        graph_inputs = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(
            np.asarray(x).dtype), np.asarray(x).shape) for n, x in zip(node.input, inputs) if n]
        graph_outputs = [onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
        model = onnx.helper.make_model(onnx.helper.make_graph([node], "run_node", graph_inputs, graph_outputs))
        return cls.run_model(model, [x for n, x in zip(node.input, inputs) if n], device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() == "CPU"


prepare = RadrtBackend.prepare
run_model = RadrtBackend.run_model
run_node = RadrtBackend.run_node
supports_device = RadrtBackend.supports_device

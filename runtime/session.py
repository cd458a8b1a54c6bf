"""InferenceSession: the onnxruntime-shaped entry point (load → compile → plan → execute).

    sess = runtime.InferenceSession("model.onnx")
    (y,) = sess.run(None, {"x": x})

Shapes are fixed at compile time. When the model leaves an input dimension
symbolic and `input_shapes` does not fix it, the session compiles on the first
`run()` with the fed shapes, and compiles again only when a later feed brings
new shapes.
"""
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .compile import CompiledGraph, compile_graph, declared_shape, np_dtype, runtime_inputs
from .errors import CompileError
from .execute import Regions, bind, run_steps
from .load import LoadedModel, load_model
from .plan import MemoryPlan, plan_memory

_TYPE_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double",
               np.dtype(np.float16): "float16", np.dtype(np.int8): "int8",
               np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
               np.dtype(np.uint16): "uint16", np.dtype(np.int32): "int32",
               np.dtype(np.uint32): "uint32", np.dtype(np.int64): "int64",
               np.dtype(np.uint64): "uint64", np.dtype(np.bool_): "bool"}


@dataclass(frozen=True)
class NodeArg:
    """An input or output as onnxruntime describes it."""
    name: str
    shape: list
    type: str
    dtype: np.dtype  # radrt's addition: the numpy dtype the feed must have


class Compiled:
    """One compiled shape signature: graph, plan, regions and bound calls."""

    def __init__(self, loaded: LoadedModel, input_shapes: Optional[Dict[str, Sequence[int]]]):
        self.graph: CompiledGraph = compile_graph(loaded, input_shapes)
        self.plan: MemoryPlan = plan_memory(self.graph)
        self.regions = Regions(self.plan)
        self.calls = bind(self.plan, self.regions)
        self.input_views = {n: self.regions[p.region].array(p, info.dtype, info.shape)
                            for n, p, info in self.plan.inputs}
        self.output_views = {n: self.regions[p.region].array(p, info.dtype, info.shape)
                             for n, p, info in self.plan.outputs}


class InferenceSession:
    def __init__(self, path_or_bytes, sess_options=None, providers=None,
                 input_shapes: Optional[Dict[str, Sequence[int]]] = None, **_ignored):
        self._loaded = load_model(path_or_bytes)
        self._input_protos = runtime_inputs(self._loaded.proto)
        self._input_dtypes = {vi.name: np_dtype(vi.type.tensor_type.elem_type, f"input '{vi.name}'")
                              for vi in self._input_protos}
        self._fixed_shapes = {k: tuple(v) for k, v in (input_shapes or {}).items()}
        self._compiled: Optional[Compiled] = None
        self.last_latency_s = 0.0
        known = [self._fixed_shapes.get(vi.name, declared_shape(vi)) for vi in self._input_protos]
        if all(isinstance(d, int) for shape in known for d in shape):
            self._compiled = Compiled(self._loaded, self._fixed_shapes or None)

    # -- onnxruntime-shaped API -------------------------------------------------
    def get_inputs(self) -> List[NodeArg]:
        shapes = self._compiled.graph.values if self._compiled else {}
        return [NodeArg(vi.name, list(shapes[vi.name].shape) if vi.name in shapes else declared_shape(vi),
                        f"tensor({_TYPE_NAMES[self._input_dtypes[vi.name]]})", self._input_dtypes[vi.name])
                for vi in self._input_protos]

    def get_outputs(self) -> List[NodeArg]:
        out = []
        for vi in self._loaded.proto.graph.output:
            if self._compiled:
                info = self._compiled.graph.values[vi.name]
                shape, dtype = list(info.shape), info.dtype
            else:
                shape, dtype = declared_shape(vi), np_dtype(vi.type.tensor_type.elem_type, vi.name)
            out.append(NodeArg(vi.name, shape, f"tensor({_TYPE_NAMES[np.dtype(dtype)]})", np.dtype(dtype)))
        return out

    def get_modelmeta(self):
        return self._loaded.proto.metadata_props

    def run(self, output_names: Optional[Sequence[str]], input_feed: Dict[str, np.ndarray],
            run_options=None) -> List[np.ndarray]:
        feeds = self._check_feeds(input_feed)
        compiled = self._compiled_for(feeds)
        for name, arr in feeds.items():
            np.copyto(compiled.input_views[name], arr)
        t0 = time.perf_counter()
        run_steps(compiled.calls)
        self.last_latency_s = time.perf_counter() - t0
        names = list(compiled.output_views) if output_names is None else list(output_names)
        missing = [n for n in names if n not in compiled.output_views]
        if missing:
            raise ValueError(f"output '{missing[0]}' is not an output of the model "
                             f"(outputs: {list(compiled.output_views)})")
        return [compiled.output_views[n].copy() for n in names]

    # -- internals -------------------------------------------------------------------
    @property
    def compiled(self) -> Compiled:
        if self._compiled is None:
            raise CompileError("the model has symbolic input dimensions; it is compiled on the first "
                               "run() or with input_shapes=...")
        return self._compiled

    def _check_feeds(self, input_feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if not isinstance(input_feed, dict):
            raise ValueError(f"input_feed must be a dict of name -> numpy array, got {type(input_feed).__name__}")
        expected = [vi.name for vi in self._input_protos]
        unknown = [n for n in input_feed if n not in self._input_dtypes]
        if unknown:
            raise ValueError(f"input '{unknown[0]}' is not an input of the model (inputs: {expected})")
        missing = [n for n in expected if n not in input_feed]
        if missing:
            raise ValueError(f"input '{missing[0]}' is missing from the feed (inputs: {expected})")
        feeds = {}
        for name, value in input_feed.items():
            arr = np.asarray(value)
            want = self._input_dtypes[name]
            if arr.dtype != want:
                raise ValueError(f"input '{name}': dtype {arr.dtype} does not match the model's "
                                 f"{want} (tensor({_TYPE_NAMES.get(want, want)}))")
            feeds[name] = arr
        return feeds

    def _compiled_for(self, feeds: Dict[str, np.ndarray]) -> Compiled:
        shapes = {n: tuple(a.shape) for n, a in feeds.items()}
        if self._compiled is not None and all(
                self._compiled.graph.values[n].shape == s for n, s in shapes.items()):
            return self._compiled
        for vi in self._input_protos:
            declared = list(self._fixed_shapes.get(vi.name, declared_shape(vi)))
            got = shapes[vi.name]
            if len(declared) != len(got) or any(isinstance(d, int) and d != g
                                                for d, g in zip(declared, got)):
                raise ValueError(f"input '{vi.name}': shape {got} does not match the model's "
                                 f"{tuple(d if isinstance(d, int) else '?' for d in declared)}")
        self._compiled = Compiled(self._loaded, shapes)
        return self._compiled

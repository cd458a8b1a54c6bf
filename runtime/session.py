"""InferenceSession: the onnxruntime-shaped entry point (load → compile → plan → execute).

    sess = runtime.InferenceSession("model.onnx", protection="tmr")
    (y,) = sess.run(None, {"x": x})
    sess.health()   # scrub_passes, upsets_detected, upsets_corrected, ...

Shapes are fixed at compile time. When the model leaves an input dimension
symbolic and `input_shapes` does not fix it, the session compiles on the first
`run()` with the fed shapes, and compiles again only when a later feed brings
new shapes.

Protection (`runtime.protect`): `none`, `scrub`, `dwc` or `tmr`, switchable
between runs with `set_protection`. In the protected modes a background
scrubber checks the weight copies every `scrub_interval_s` (None: only on
demand, with `scrub()`).
"""
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .compile import (CompiledGraph, check_passes, compile_graph, declared_shape, is_fixed, np_dtype,
                      runtime_inputs, shape_matches)
from .errors import CompileError, UncorrectableUpsetError
from .load import LoadedModel, load_model
from .plan import MemoryPlan, plan_memory
from .protect import VOTE_POINTS, WEIGHT_COPIES, check_mode
from .protect.engine import Engine
from .protect.faults import FaultSite, fault_sites, make_upset
from .protect.scrubber import DEFAULT_CHUNK_BYTES, DEFAULT_INTERVAL_S, BackgroundScrubber
from .protect.weights import DEFAULT_BLOCK_SIZE, WeightCopies

HEALTH_COUNTERS = ("scrub_passes", "upsets_detected", "upsets_corrected", "uncorrectable",
                   "vote_disagreements", "reexecutions")

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
    """One compiled shape signature: the graph and its memory plan."""

    def __init__(self, loaded: LoadedModel, input_shapes: Optional[Dict[str, Sequence[int]]],
                 disabled_passes: Sequence[str] = ()):
        self.graph: CompiledGraph = compile_graph(loaded, input_shapes, disabled_passes)
        self.plan: MemoryPlan = plan_memory(self.graph)


class InferenceSession:
    def __init__(self, path_or_bytes, sess_options=None, providers=None,
                 input_shapes: Optional[Dict[str, Sequence[int]]] = None,
                 protection: str = "none", vote_points: str = "every_op",
                 scrub_block_size: int = DEFAULT_BLOCK_SIZE,
                 scrub_interval_s: Optional[float] = DEFAULT_INTERVAL_S,
                 scrub_chunk_bytes: int = DEFAULT_CHUNK_BYTES, disabled_passes: Sequence[str] = (),
                 **_ignored):
        self._disabled_passes = check_passes(disabled_passes)  # compile passes off (runtime.compile.PASSES)
        self._loaded = load_model(path_or_bytes)
        self._input_protos = runtime_inputs(self._loaded.proto)
        self._input_dtypes = {vi.name: np_dtype(vi.type.tensor_type.elem_type, f"input '{vi.name}'")
                              for vi in self._input_protos}
        self._fixed_shapes = {k: tuple(v) for k, v in (input_shapes or {}).items()}
        self._mode = check_mode(protection)
        self._vote_points = _check_vote_points(vote_points)
        self._block_size = scrub_block_size
        self._lock = threading.RLock()
        self._health = dict.fromkeys(HEALTH_COUNTERS, 0)
        self._events: deque = deque(maxlen=256)
        self._armed: Dict[int, list] = {}
        self._compiled: Optional[Compiled] = None
        self._engine: Optional[Engine] = None
        self.last_latency_s = 0.0
        known = [self._fixed_shapes.get(vi.name, declared_shape(vi)) for vi in self._input_protos]
        if all(is_fixed(shape) for shape in known):
            self._set_compiled(Compiled(self._loaded, self._fixed_shapes or None, self._disabled_passes))
        self._scrubber: Optional[BackgroundScrubber] = None
        self._scrub_schedule = (scrub_interval_s, scrub_chunk_bytes)
        self._start_scrubber()

    # -- onnxruntime-shaped API -------------------------------------------------
    def get_inputs(self) -> List[NodeArg]:
        shapes = self._compiled.graph.values if self._compiled else {}
        # No declared shape (any rank) shows as [], as onnxruntime shows it.
        return [NodeArg(vi.name, list(shapes[vi.name].shape) if vi.name in shapes else declared_shape(vi) or [],
                        f"tensor({_TYPE_NAMES[self._input_dtypes[vi.name]]})", self._input_dtypes[vi.name])
                for vi in self._input_protos]

    def get_outputs(self) -> List[NodeArg]:
        out = []
        for vi in self._loaded.proto.graph.output:
            if self._compiled:
                info = self._compiled.graph.values[vi.name]
                shape, dtype = list(info.shape), info.dtype
            else:
                shape, dtype = declared_shape(vi) or [], np_dtype(vi.type.tensor_type.elem_type, vi.name)
            out.append(NodeArg(vi.name, shape, f"tensor({_TYPE_NAMES[np.dtype(dtype)]})", np.dtype(dtype)))
        return out

    def get_modelmeta(self):
        return self._loaded.proto.metadata_props

    def run(self, output_names: Optional[Sequence[str]], input_feed: Dict[str, np.ndarray],
            run_options=None) -> List[np.ndarray]:
        with self.paused_run(input_feed) as paused:
            return paused.finish(output_names)

    def paused_run(self, input_feed: Dict[str, np.ndarray]) -> "PausedRun":
        """A run that can stop between ops and go on later (fault-injection campaigns).

            with sess.paused_run(feeds) as p:
                p.advance_to(k)              # ops 0..k-1, fault-free, done once
                ... os.fork() ... sess.inject(...); p.finish()   # in each child
        """
        return PausedRun(self, self._check_feeds(input_feed))

    # -- protection -------------------------------------------------------------------
    @property
    def protection(self) -> str:
        return self._mode

    def set_protection(self, mode: str, vote_points: Optional[str] = None) -> None:
        """Switch protection between runs; new weight copies come from verified ones."""
        check_mode(mode)
        with self._lock:
            self._vote_points = _check_vote_points(vote_points or self._vote_points)
            if self._engine is not None:
                old = self._engine
                if len(old.weights.copies) > 1:
                    self._scrub_all()
                if old.weights.lost_block is not None:
                    raise UncorrectableUpsetError(
                        f"weights block {old.weights.lost_block} is uncorrectable; reload the model")
                weights = old.weights.with_copies(WEIGHT_COPIES[mode], self._block_size)
                self._engine = Engine(self._compiled.plan, mode, weights, self._vote_points,
                                      self._health, self._events)
                self._armed = {}
            self._mode = mode
            self._start_scrubber()

    def scrub(self) -> int:
        """One full scrub pass now; returns how many blocks (of any copy) it repaired."""
        with self._lock:
            engine = self._require_engine()
            if len(engine.weights.copies) < 2:
                raise ValueError("protection 'none' keeps one weight copy and no checks; "
                                 "choose scrub, dwc or tmr to scrub")
            return self._scrub_all()

    def health(self) -> Dict[str, int]:
        with self._lock:
            return dict(self._health)

    def reset_health(self) -> None:
        with self._lock:
            self._health.update(dict.fromkeys(HEALTH_COUNTERS, 0))

    def drain_events(self) -> List[tuple]:
        """Events since the last call: (name, aux1, aux2), names as in the ICD §9."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
            return events

    # -- fault injection ---------------------------------------------------------------
    def fault_sites(self) -> List[FaultSite]:
        with self._lock:
            return fault_sites(self._require_engine())

    def inject(self, site_name: str, byte_offset: int, bit: int, at_op: Optional[int] = None,
               model: str = "flip") -> None:
        """Upset one bit of a fault site (see runtime.protect.faults for when it lands)."""
        with self._lock:
            engine = self._require_engine()
            sites = {s.name: s for s in fault_sites(engine)}
            if site_name not in sites:
                kinds = sorted({s.name.split("/")[0] for s in sites.values()})
                raise ValueError(f"fault site '{site_name}' does not exist in protection "
                                 f"'{self._mode}' (site kinds: {', '.join(kinds)}; see fault_sites())")
            when, upset = make_upset(engine, sites[site_name], int(byte_offset), int(bit), at_op, model)
            if when is None:
                upset()
            else:
                self._armed.setdefault(when, []).append(upset)

    def close(self) -> None:
        if self._scrubber is not None:
            self._scrubber.stop()

    def __del__(self):
        scrubber = getattr(self, "_scrubber", None)
        if scrubber is not None:
            scrubber.stop()

    # -- internals -------------------------------------------------------------------
    @property
    def compiled(self) -> Compiled:
        if self._compiled is None:
            raise CompileError("the model has symbolic input dimensions; it is compiled on the first "
                               "run() or with input_shapes=...")
        return self._compiled

    def _require_engine(self) -> Engine:
        self.compiled  # raises the symbolic-shape error
        return self._engine

    def _set_compiled(self, compiled: Compiled) -> None:
        weights = WeightCopies.from_plan(compiled.plan, WEIGHT_COPIES[self._mode], self._block_size)
        self._engine = Engine(compiled.plan, self._mode, weights, self._vote_points,
                              self._health, self._events)
        self._compiled = compiled
        self._armed = {}

    def _start_scrubber(self) -> None:
        interval_s, chunk_bytes = self._scrub_schedule
        if interval_s is not None and self._mode != "none" and self._scrubber is None:
            self._scrubber = BackgroundScrubber(self, interval_s, chunk_bytes)
            self._scrubber.start()

    def _scrub_all(self) -> int:
        engine = self._engine
        repaired = engine.scrub_weights()
        engine.weights.cursor = 0
        self._health["scrub_passes"] += 1
        return repaired

    def _scrub_step(self, max_bytes: int) -> None:
        """One wake-up of the background scrubber."""
        with self._lock:
            engine = self._engine
            if engine is None or len(engine.weights.copies) < 2:
                return
            result = engine.weights.scrub_step(max_bytes)
            engine.account_scrub(result)
            if result.completed_pass:
                self._health["scrub_passes"] += 1

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

    def _compile_for(self, feeds: Dict[str, np.ndarray]) -> None:
        shapes = {n: tuple(a.shape) for n, a in feeds.items()}
        if self._compiled is not None and all(
                self._compiled.graph.values[n].shape == s for n, s in shapes.items()):
            return
        for vi in self._input_protos:
            declared = self._fixed_shapes.get(vi.name, declared_shape(vi))
            got = shapes[vi.name]
            if not shape_matches(declared, got):
                raise ValueError(f"input '{vi.name}': shape {got} does not match the model's "
                                 f"{tuple(d if isinstance(d, int) else '?' for d in declared)}")
        self._set_compiled(Compiled(self._loaded, shapes, self._disabled_passes))


class PausedRun:
    """One inference, stoppable between ops; holds the session's lock while open."""

    def __init__(self, session: InferenceSession, feeds: Dict[str, np.ndarray]):
        self.session = session
        self.feeds = feeds
        self.at = 0

    def __enter__(self) -> "PausedRun":
        s = self.session
        s._lock.acquire()
        try:
            s._compile_for(self.feeds)
            weights = s._engine.weights
            if weights.lost_block is not None:
                raise UncorrectableUpsetError(
                    f"weights block {weights.lost_block} (bytes from "
                    f"{weights.lost_block * weights.block_size}) was hit by an upset no copy can "
                    f"repair; reload the model")
            self.t0 = time.perf_counter()
            s._engine.begin(self.feeds)
        except BaseException:
            s._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.session._lock.release()

    def advance_to(self, stop: int) -> None:
        """Run ops [self.at, stop) now."""
        engine = self.session._engine
        if not self.at <= stop <= len(engine.plan.steps):
            raise ValueError(f"cannot advance a run paused at op {self.at} to op {stop} "
                             f"(the model has {len(engine.plan.steps)} ops)")
        engine.advance(self.at, stop)
        self.at = stop

    def finish(self, output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        """Apply the armed upsets, run the remaining ops, vote/compare; return the outputs."""
        s, engine = self.session, self.session._engine
        names = None if output_names is None else list(output_names)
        if names is not None:
            missing = [n for n in names if n not in engine.replicas[0].outputs]
            if missing:
                raise ValueError(f"output '{missing[0]}' is not an output of the model "
                                 f"(outputs: {list(engine.replicas[0].outputs)})")
        armed, s._armed = s._armed, {}
        now = armed.pop(self.at - 1, [])  # upsets whose moment is right now
        late = sorted(k for k in armed if k < self.at) + [self.at - 1 for u in now if u.before_vote]
        if late:
            raise ValueError(f"an upset armed for op {late[0]} cannot land in a run already at op {self.at}")
        for upset in now:
            upset()
        engine.advance(self.at, len(engine.plan.steps), armed)
        outputs = engine.finish()
        s.last_latency_s = time.perf_counter() - self.t0
        return [outputs[n] for n in (names or list(outputs))]


def _check_vote_points(vote_points: str) -> str:
    if vote_points not in VOTE_POINTS:
        raise ValueError(f"vote_points '{vote_points}' is not one of {', '.join(VOTE_POINTS)}")
    return vote_points

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
import inspect
import os
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import onnx

from .arguments import check_choice, check_integer, check_seconds, is_integer
from .compile import (CompiledGraph, check_passes, compile_graph, declared_shape, is_fixed, np_dtype,
                      parameter_inputs,
                      runtime_inputs, shape_matches)
from .errors import CompileError, InvalidArgumentError, UnknownArgumentError
from .load import LoadedModel, load_model
from .plan import MemoryPlan, plan_memory
from .protect import HEALTH_COUNTERS as _HEALTH, VOTE_POINTS, check_mode, mode as protection_mode
from .protect.engine import Engine, make_engine
from .protect.faults import FaultSite, fault_sites, make_upset, read_site
from .protect.scrubber import (DEFAULT_CHUNK_BYTES, DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S,
                               BackgroundScrubber)
from .protect.weights import DEFAULT_BLOCK_SIZE, WeightCopies, check_block_size
from .sizes import resolve_budget

HEALTH_COUNTERS = tuple(name for name, _ in _HEALTH)  # runtime.protect.modes

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
    """One compiled signature (input shapes, and the values of parameter inputs): the
    graph and its memory plan."""

    def __init__(self, loaded: LoadedModel, input_shapes: Optional[Dict[str, Sequence[int]]],
                 max_memory_bytes: Optional[int] = None, protection: str = "none",
                 disabled_passes: Sequence[str] = (), input_values: Optional[Dict[str, np.ndarray]] = None):
        self.graph: CompiledGraph = compile_graph(loaded, input_shapes, disabled_passes, max_memory_bytes,
                                                  input_values)
        self.plan: MemoryPlan = plan_memory(self.graph, max_memory_bytes, protection)
        self.key: Optional[tuple] = None   # the session's cache key (InferenceSession._compile_for)


# Compiled signatures a session keeps (least recently used dropped first): a model with
# symbolic shapes or parameter inputs compiles once per distinct signature up to this.
COMPILE_CACHE_SIZE = 8
# A parameter input (compile.parameter_inputs) holds at most this many elements: the
# session compiles on its value, which only makes sense for pads, axes, sizes and the like.
MAX_PARAMETER_ELEMENTS = 4096


class InferenceSession:
    """One ONNX model, compiled and planned once, run with optional SEU protection.

    The onnxruntime-shaped API (`run`, `get_inputs`, `get_outputs`) plus
    protection (`protection`, `set_protection`, `scrub`, `health`,
    `drain_events`) and fault injection (`fault_sites`, `inject`,
    `paused_run`). Thread-safe: one lock serialises runs, scrubs and
    injections.

    Every argument is checked when the session is made: a value radrt does not
    understand raises `InvalidArgumentError` (a ValueError) naming the argument
    and the value, and an unknown keyword raises `UnknownArgumentError` (a
    TypeError), so a misspelt `protecton="tmr"` can never run unprotected.
    """

    def __init__(self, path_or_bytes,
                 sess_options=None,
                 providers=None,
                 provider_options=None,
                 input_shapes: Optional[Dict[str, Sequence[int]]] = None,
                 protection: str = "none",
                 vote_points: str = "every_op",
                 scrub_block_size: int = DEFAULT_BLOCK_SIZE,
                 scrub_interval_s: Optional[float] = DEFAULT_INTERVAL_S,
                 scrub_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 max_memory_bytes: Optional[int] = None,
                 disabled_passes: Sequence[str] = (),
                 **unknown):
        """Load, compile and plan a model.

        Args (onnxruntime's own, accepted where radrt honours them):
            path_or_bytes: the model: a path (str or os.PathLike), its serialized
                bytes (bytes, bytearray, memoryview) or an onnx.ModelProto.
            sess_options: None, or an onnxruntime.SessionOptions left at its
                defaults except intra_op_num_threads / inter_op_num_threads 0 or 1
                (radrt runs in one thread) and use_deterministic_compute (radrt is
                always bit-deterministic). Any other readable setting changed from
                its default raises InvalidArgumentError: radrt would not honour it.
                Settings made through methods (add_session_config_entry,
                add_free_dimension_override_by_name, add_initializer,
                register_custom_ops_library) cannot be read back: do not use them
                (use input_shapes for free dimensions).
            providers: None or ["CPUExecutionProvider"] (radrt runs its own C
                kernels on the CPU); any other provider raises InvalidArgumentError.
            provider_options: None, or one empty dict per provider (radrt has no
                provider options).
        Args (radrt's):
            input_shapes: None or {input name: shape}, fixing the input's symbolic
                dimensions at construction (shape: a sequence of ints >= 0 of the
                input's rank; dimensions the model fixes must keep their value).
                Without it, a model with symbolic dimensions compiles on the first
                run() with the fed shapes.
            protection: "none", "scrub", "dwc", "tmr" or "abft" (what each covers
                and costs: runtime.protect.modes, README "Protection").
            vote_points: "every_op" or "outputs": where tmr votes. Accepted in
                every mode and kept for a later set_protection("tmr"); the other
                modes do not vote, so there it changes nothing.
            scrub_block_size: bytes per CRC-checked weight block: an int, a
                multiple of 64 from 64 to 2**30 (default 4096).
            scrub_interval_s: seconds between background scrubber wake-ups: a
                finite number in [0.001, 86400] (a shorter interval would spin
                the thread, each wake-up taking the session's lock), or None for
                no background scrubber (scrub() on demand only). Default 0.1.
                Used in scrub, dwc and tmr.
            scrub_chunk_bytes: bytes of each weight copy checked per wake-up: an
                int >= 1 (default 1 MiB).
            max_memory_bytes: the memory budget in bytes, an int > 0 (None: 50 %
                of physical memory, `runtime.sizes.default_max_memory_bytes()`;
                a budget above physical memory is accepted, and then bounds
                nothing the machine could give). A model file larger than it
                raises ModelLoadError before it is read. It bounds any single
                tensor, scratch or compile-time table (checked while compiling,
                before a table sized by it is built) and the plan's total in the
                protection mode (weights x weight copies + (arena + input +
                output) x replicas, see runtime.plan); above it compiling, or
                set_protection to a mode whose copies would not fit, raises
                MemoryBudgetError naming the node and the bytes, before anything
                is allocated.
            disabled_passes: names from runtime.compile.PASSES to switch off
                (default: none; every pass is proven result-preserving, this is for
                testing and for isolating a suspected compile bug).

        Raises:
            UnknownArgumentError: a keyword not listed above (also a TypeError).
            InvalidArgumentError: an argument of the wrong type or out of range
                (also a ValueError); its `argument` and `value` name it.
            ModelLoadError / UnsupportedOpError: the model cannot be read or run.
            CompileError (SizeOverflowError, MemoryBudgetError): shapes,
                attributes or sizes do not fit together.
        """
        if unknown:
            accepted = [p for p in inspect.signature(InferenceSession.__init__).parameters
                        if p not in ("self", "path_or_bytes", "unknown")]
            name = sorted(unknown)[0]
            raise UnknownArgumentError(f"InferenceSession got an unknown keyword argument {name!r} "
                                       f"(accepted: {', '.join(accepted)})", argument=name,
                                       value=unknown[name])
        _check_model_argument(path_or_bytes)
        _check_ort_options("sess_options", sess_options, "SessionOptions", _HONOURED_SESSION_OPTIONS)
        _check_providers(providers, provider_options)
        self._mode = check_mode(protection)
        self._vote_points = _check_vote_points(vote_points)
        self._block_size = check_block_size(scrub_block_size)
        if scrub_interval_s is not None:
            scrub_interval_s = check_seconds("scrub_interval_s", scrub_interval_s, MAX_INTERVAL_S,
                                             MIN_INTERVAL_S)
        scrub_chunk_bytes = check_integer("scrub_chunk_bytes", scrub_chunk_bytes, 1)
        self._max_memory_bytes = resolve_budget(max_memory_bytes)
        self._disabled_passes = check_passes(disabled_passes)  # compile passes off (runtime.compile.PASSES)
        self._loaded = load_model(path_or_bytes, self._max_memory_bytes)
        self._input_protos = runtime_inputs(self._loaded.proto)
        self._input_dtypes = {vi.name: np_dtype(vi.type.tensor_type.elem_type, f"input '{vi.name}'")
                              for vi in self._input_protos}
        self._fixed_shapes = _check_input_shapes(input_shapes, self._input_protos)
        # Inputs whose fed values the model is compiled on (pads, axes, sizes, ... fed at run time).
        self._parameter_inputs = parameter_inputs(self._loaded)
        self._compile_cache: "OrderedDict[tuple, Compiled]" = OrderedDict()
        self._lock = threading.RLock()
        # The open paused run, if any. The lock is re-entrant (a campaign worker injects
        # while its paused run holds the lock), so this is what stops the same thread
        # from running again over the arena a paused run still uses.
        self._paused: Optional["PausedRun"] = None
        self._health = dict.fromkeys(HEALTH_COUNTERS, 0)
        self._events: deque = deque(maxlen=256)
        self._armed: Dict[int, list] = {}
        self._compiled: Optional[Compiled] = None
        self._engine: Optional[Engine] = None
        self.last_latency_s = 0.0
        known = [self._fixed_shapes.get(vi.name, declared_shape(vi)) for vi in self._input_protos]
        if all(is_fixed(shape) for shape in known) and not self._parameter_inputs:
            self._set_compiled(self._compile(self._fixed_shapes or None))
        self._scrubber: Optional[BackgroundScrubber] = None
        self._scrub_schedule = (scrub_interval_s, scrub_chunk_bytes)
        self._start_scrubber()

    # -- onnxruntime-shaped API -------------------------------------------------
    def get_inputs(self) -> List[NodeArg]:
        """The runtime inputs, in graph order: name, shape (ints; a symbolic dimension is its
        name or None until compiled), onnxruntime type string and numpy dtype."""
        shapes = self._compiled.graph.values if self._compiled else {}
        # No declared shape (any rank) shows as [], as onnxruntime shows it.
        return [NodeArg(vi.name, list(shapes[vi.name].shape) if vi.name in shapes else declared_shape(vi) or [],
                        f"tensor({_TYPE_NAMES[self._input_dtypes[vi.name]]})", self._input_dtypes[vi.name])
                for vi in self._input_protos]

    def get_outputs(self) -> List[NodeArg]:
        """The graph outputs, in graph order, described as get_inputs() describes inputs."""
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
            run_options=None, **unknown) -> List[np.ndarray]:
        """One inference.

        Args:
            output_names: None for every graph output in graph order, or a list
                or tuple of output names (str), in the order wanted. A bare str
                is refused (onnxruntime takes a list: `["y"]`, not `"y"`).
            input_feed: {input name: numpy array} with every runtime input of
                the model, each of exactly the model's dtype (no casting) and of
                its shape (symbolic dimensions: any size; a new shape compiles
                again).
            run_options: None, or an onnxruntime.RunOptions left at its defaults
                (radrt honours none of its settings).

        Returns:
            A list of numpy arrays, owned by the caller (copies, not views of
            radrt's memory), with the outputs' dtypes and shapes.

        Raises:
            InvalidArgumentError: output_names, input_feed or run_options is not
                as above (names the output or input and the value).
            UncorrectableUpsetError: protection detected an upset it could not
                repair in this run, or earlier (a lost weight block: every run
                raises until the model is reloaded). The outputs are lost.
            CompileError: a new input shape does not compile.
        """
        _refuse_unknown_keywords(InferenceSession.run, unknown)
        names = self._check_output_names(output_names)
        _check_ort_options("run_options", run_options, "RunOptions", {})
        with self.paused_run(input_feed) as paused:
            return paused.finish(names)

    def paused_run(self, input_feed: Dict[str, np.ndarray]) -> "PausedRun":
        """A run that can stop between ops and go on later (fault-injection campaigns).

            with sess.paused_run(feeds) as p:
                p.advance_to(k)              # ops 0..k-1, fault-free, done once
                ... os.fork() ... sess.inject(...); p.finish()   # in each child

        Use it only as a context manager: it holds the session's lock from
        `with` to the end of the block (other threads wait). While it is open,
        run(), another paused_run() and set_protection() on the same thread
        raise InvalidArgumentError (they would overwrite the paused run's
        memory); inject(), scrub(), health() and fault_sites() are allowed.
        `p.snapshot()` copies the paused state and `p.restore(state)` goes back to
        it, so one prefix serves many runs in this process.
        advance_to() and finish() outside the `with` block raise
        InvalidArgumentError.
        """
        return PausedRun(self, self._check_feeds(input_feed))

    # -- protection -------------------------------------------------------------------
    @property
    def protection(self) -> str:
        return self._mode

    def set_protection(self, mode: str, vote_points: Optional[str] = None, **unknown) -> None:
        """Switch protection between runs; new weight copies come from verified ones.

        Raises InvalidArgumentError for an unknown mode or vote_points, or while
        upsets armed with inject() wait for the next run, and UncorrectableUpsetError (the mode is left unchanged) when the scrub
        before the switch finds a weight block no copy can repair.
        """
        _refuse_unknown_keywords(InferenceSession.set_protection, unknown)
        check_mode(mode)
        with self._lock:
            self._refuse_while_paused("set_protection")
            if self._compiled is not None:
                self._compiled.plan.check_budget(mode)  # before anything changes
            vote_points = _check_vote_points(self._vote_points if vote_points is None else vote_points)
            self._refuse_to_drop_armed_upsets("switching protection rebuilds the replicas they target")
            if self._engine is not None:
                old = self._engine
                # every copy verified against the load-time baseline first, one copy too (a
                # single copy is repaired from the model's arrays): new copies are made from it
                self._scrub_all()
                old.raise_if_weights_lost()
                weights = old.weights.with_copies(protection_mode(mode).weight_copies, self._block_size)
                self._engine = make_engine(self._compiled.plan, mode, weights, vote_points,
                                      self._health, self._events)
                self._armed = {}
            self._mode = mode
            self._vote_points = vote_points
            self._start_scrubber()

    def scrub(self, **unknown) -> int:
        """One full scrub pass over every weight block of every copy, now.

        Returns:
            How many block-copies (CRC-32C blocks of scrub_block_size bytes, in
            any copy) it repaired; 0 when every copy verified.

        Raises:
            InvalidArgumentError: protection is 'none' (one copy, nothing to
                compare).
            UncorrectableUpsetError: some weight block is lost (no copy verifies
                and, under tmr, the vote does not either), found by this pass or
                earlier; counted once in health()['uncorrectable'].
            CompileError: the model has symbolic dimensions and has not run yet.
        """
        _refuse_unknown_keywords(InferenceSession.scrub, unknown)
        with self._lock:
            engine = self._require_engine()
            if len(engine.weights.copies) < 2:
                raise InvalidArgumentError("protection 'none' keeps one weight copy and no checks; "
                                           "choose a mode that keeps a golden copy (scrub, dwc, tmr, abft) to scrub",
                                           argument="protection", value=self._mode)
            self._raise_if_scrubber_failed()
            repaired = self._scrub_all()
            engine.raise_if_weights_lost()
            return repaired

    def health(self) -> Dict[str, int]:
        """Counters since the session was made (or reset_health), as a new dict of ints,
        named and defined in runtime.protect.modes.HEALTH_COUNTERS (scrub_passes,
        upsets_detected, upsets_corrected, uncorrectable, vote_disagreements,
        reexecutions, checksum_mismatches, ops_reexecuted)."""
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
        """The memory an upset can hit in the current protection mode.

        Returns:
            FaultSite(name, kind, nbytes, replica, op_index) for every weight
            copy (`weights/copy{c}`), replica arena (`activations/r{r}`), input
            copy (`input/r{r}`) and op output (`compute/op{k}/r{r}`); nbytes in
            bytes. See runtime.protect.faults for when each kind lands.

        Raises:
            CompileError: the model has symbolic dimensions and has not run yet.
        """
        with self._lock:
            return fault_sites(self._require_engine())

    def inject(self, site_name: str, byte_offset: int, bit: int, at_op: Optional[int] = None,
               model: str = "flip", value: Optional[int] = None, **unknown) -> None:
        """Upset one bit of a fault site, through C, in the bytes the kernels use.

        Args:
            site_name: a name from fault_sites(), e.g. "weights/copy1".
            byte_offset: int, 0 <= byte_offset < the site's nbytes.
            bit: int, 0 (least significant) to 7.
            at_op: None for weights sites (lands now and stays until scrubbed);
                for input sites None or -1 (lands after the next run copies the
                inputs in) or an op index after which it lands; for activations
                sites the op index (int, 0 to the op count - 1) after which it
                lands in the next run; for compute sites None or the site's own
                op index.
            model: "flip" (invert the bit), "stuck0" or "stuck1" (force it),
                "zero" or "random" (set the 4-byte word holding byte_offset,
                rounded down to a multiple of 4 and clipped to the site, to 0 or
                to `value`; runtime.protect.faults).
            value: for "random" only, the word's new value, an int in [0, 2^32)
                (little-endian: byte j takes bits 8j..8j+7).
        Integers must be int or numpy integers: a bool, float or str is refused,
        never truncated.

        Raises:
            InvalidArgumentError: an unknown site or model, an argument of the
                wrong type or out of range (names the argument and value).
            CompileError: the model has symbolic dimensions and has not run yet.
        """
        _refuse_unknown_keywords(InferenceSession.inject, unknown)
        with self._lock:
            engine = self._require_engine()
            sites = engine.fault_site_index()
            if not isinstance(site_name, str) or site_name not in sites:
                kinds = sorted({s.name.split("/")[0] for s in sites.values()})
                raise InvalidArgumentError(f"fault site {site_name!r} does not exist in protection "
                                           f"'{self._mode}' (site kinds: {', '.join(kinds)}; see "
                                           f"fault_sites())", argument="site_name", value=site_name)
            when, upset = make_upset(engine, sites[site_name], byte_offset, bit, at_op, model, value)
            if when is None:
                upset()
            else:
                self._armed.setdefault(when, []).append(upset)

    def read_site(self, site_name: str, byte_offset: int, nbytes: int) -> bytes:
        """The current `nbytes` bytes of a fault site from `byte_offset` (clipped to the
        site's end), read from the memory the kernels use: weights now; activations,
        input and compute sites as the (paused) run left them. Read-only.

        Raises:
            InvalidArgumentError: an unknown site, or an offset out of the site.
        """
        with self._lock:
            engine = self._require_engine()
            sites = {s.name: s for s in fault_sites(engine)}
            if not isinstance(site_name, str) or site_name not in sites:
                raise InvalidArgumentError(f"fault site {site_name!r} does not exist in protection '{self._mode}' "
                                           f"(see fault_sites())", argument="site_name", value=site_name)
            return read_site(engine, sites[site_name], byte_offset, nbytes)

    def close(self) -> None:
        """Stop the background scrubber (the session still runs; scrub() still works)."""
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
            if self._parameter_inputs:
                name, uses = next(iter(self._parameter_inputs.items()))
                raise CompileError(f"the model is compiled on the values fed to its parameter inputs "
                                   f"({', '.join(self._parameter_inputs)}; '{name}' reaches {uses[0]}): "
                                   f"it is compiled on the first run()")
            raise CompileError("the model has symbolic input dimensions; it is compiled on the first "
                               "run() or with input_shapes=...")
        return self._compiled

    def _require_engine(self) -> Engine:
        self.compiled  # raises the symbolic-shape error
        return self._engine

    def _set_compiled(self, compiled: Compiled) -> None:
        weights = WeightCopies.from_plan(compiled.plan, protection_mode(self._mode).weight_copies, self._block_size)
        self._engine = make_engine(compiled.plan, self._mode, weights, self._vote_points,
                              self._health, self._events)
        self._compiled = compiled
        self._armed = {}

    def _raise_if_scrubber_failed(self) -> None:
        failure = self._scrubber.failure if self._scrubber is not None else None
        if failure is not None:
            raise RuntimeError(f"the background scrubber stopped on {type(failure).__name__}: {failure}; "
                               f"the weights are no longer scrubbed (a radrt bug: please report it)") from failure

    def _refuse_while_paused(self, what: str) -> None:
        """Holding the lock: refuse `what` if this thread has a paused run open."""
        paused = self._paused
        if paused is not None:
            raise InvalidArgumentError(f"{what}: a paused run is in progress on this session (opened by "
                                       f"paused_run(), paused at op {paused.at}); leave its `with` block "
                                       f"first", argument="paused_run", value=paused.at)

    def _refuse_to_drop_armed_upsets(self, why: str) -> None:
        if self._armed:
            count = sum(len(upsets) for upsets in self._armed.values())
            raise InvalidArgumentError(f"{count} upset(s) armed with inject() for the next run would be "
                                       f"dropped: {why}; run once first", argument="inject", value=count)

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
            raise InvalidArgumentError(f"input_feed must be a dict of name -> numpy array, got "
                                       f"{type(input_feed).__name__}", argument="input_feed",
                                       value=type(input_feed).__name__)
        expected = [vi.name for vi in self._input_protos]
        unknown = [n for n in input_feed if n not in self._input_dtypes]
        if unknown:
            raise InvalidArgumentError(f"input {unknown[0]!r} is not an input of the model (inputs: {expected})",
                                       argument="input_feed", value=unknown[0])
        missing = [n for n in expected if n not in input_feed]
        if missing:
            raise InvalidArgumentError(f"input '{missing[0]}' is missing from the feed (inputs: {expected})",
                                       argument="input_feed", value=missing[0])
        feeds = {}
        for name, value in input_feed.items():
            arr = np.asarray(value)
            want = self._input_dtypes[name]
            if arr.dtype != want:
                raise InvalidArgumentError(f"input '{name}': dtype {arr.dtype} does not match the model's "
                                           f"{want} (tensor({_TYPE_NAMES.get(want, want)}))",
                                           argument="input_feed", value=str(arr.dtype))
            feeds[name] = arr
        return feeds

    def _check_output_names(self, output_names: Any) -> Optional[List[str]]:
        """None, or output_names as a list after checking each is a graph output name."""
        if output_names is None:
            return None
        outputs = [o.name for o in self._loaded.proto.graph.output]
        if not isinstance(output_names, (list, tuple)):
            hint = f" (a list of names: [{output_names!r}])" if isinstance(output_names, str) else ""
            raise InvalidArgumentError(f"output_names must be None or a list of output names{hint}, got "
                                       f"{output_names!r} ({type(output_names).__name__})",
                                       argument="output_names", value=output_names)
        for name in output_names:
            if not isinstance(name, str) or name not in outputs:
                raise InvalidArgumentError(f"output {name!r} is not an output of the model "
                                           f"(outputs: {outputs})", argument="output_names", value=name)
        return list(output_names)

    def _compile_for(self, feeds: Dict[str, np.ndarray]) -> None:
        """Make the compiled signature of these feeds current: their shapes and the values
        of the parameter inputs; from the cache (COMPILE_CACHE_SIZE) or compiled now."""
        shapes = {n: tuple(a.shape) for n, a in feeds.items()}
        values = {}
        for name, uses in self._parameter_inputs.items():
            arr = feeds[name]
            if arr.size > MAX_PARAMETER_ELEMENTS:
                raise InvalidArgumentError(
                    f"input '{name}' reaches a compile-time parameter ({uses[0]}), so radrt compiles the model "
                    f"on its value; it holds {arr.size} elements, expected at most {MAX_PARAMETER_ELEMENTS}",
                    argument="input_feed", value=name)
            values[name] = arr
        key = (tuple(sorted(shapes.items())),
               tuple((n, a.tobytes()) for n, a in sorted(values.items())))
        if self._compiled is not None and self._compiled.key == key:
            return
        if self._compiled is not None and not values and all(
                self._compiled.graph.values[n].shape == s for n, s in shapes.items()):
            return
        for vi in self._input_protos:
            declared = self._fixed_shapes.get(vi.name, declared_shape(vi))
            got = shapes[vi.name]
            if not shape_matches(declared, got):
                raise InvalidArgumentError(f"input '{vi.name}': shape {got} does not match the model's "
                                           f"{tuple(d if isinstance(d, int) else '?' for d in declared)}",
                                           argument="input_feed", value=got)
        self._refuse_to_drop_armed_upsets(f"the feed's shapes {shapes}"
                                          + (f" and parameter values of {sorted(values)}" if values else "")
                                          + " compile the model again")
        compiled = self._compile_cache.pop(key, None)
        if compiled is None:
            compiled = self._compile(shapes, values)
            compiled.key = key
        else:
            compiled.plan.check_budget(self._mode)   # planned under another mode, maybe
        self._compile_cache[key] = compiled
        while len(self._compile_cache) > COMPILE_CACHE_SIZE:
            self._compile_cache.popitem(last=False)
        self._set_compiled(compiled)

    def _compile(self, input_shapes: Optional[Dict[str, Sequence[int]]],
                 input_values: Optional[Dict[str, np.ndarray]] = None) -> Compiled:
        return Compiled(self._loaded, input_shapes, self._max_memory_bytes, self._mode, self._disabled_passes,
                        input_values or None)


@dataclass(frozen=True)
class PausedState:
    """A PausedRun.snapshot(): the engine's RunState, health counters, events, op index."""
    engine: Any
    health: Dict[str, int]
    events: tuple
    at: int


class PausedRun:
    """One inference, stoppable between ops; holds the session's lock while open
    (between __enter__ and __exit__; the session's `_paused` is this run then)."""

    def __init__(self, session: InferenceSession, feeds: Dict[str, np.ndarray]):
        self.session = session
        self.feeds = feeds
        self.at = 0
        self._open = False

    def __enter__(self) -> "PausedRun":
        s = self.session
        s._lock.acquire()
        try:
            s._refuse_while_paused("run()/paused_run()")
            s._raise_if_scrubber_failed()
            s._compile_for(self.feeds)
            s._engine.raise_if_weights_lost()
            self.t0 = time.perf_counter()
            s._engine.begin(self.feeds)
        except BaseException:
            s._lock.release()
            raise
        self._open = True
        s._paused = self
        return self

    def __exit__(self, *exc) -> None:
        self._open = False
        self.session._paused = None
        self.session._lock.release()

    def _require_open(self, what: str) -> None:
        if not self._open:
            raise InvalidArgumentError(f"{what}: the paused run is not open; use paused_run as a context "
                                       f"manager: `with sess.paused_run(feeds) as p: p.{what}(...)`",
                                       argument="paused_run", value=what)

    def advance_to(self, stop: int) -> None:
        """Run ops [self.at, stop) now (inside the `with` block only), with the upsets
        armed for them (as finish() would apply them)."""
        self._require_open("advance_to")
        s, engine = self.session, self.session._engine
        if not is_integer(stop) or not self.at <= stop <= len(engine.plan.steps):
            raise InvalidArgumentError(f"advance_to: stop {stop!r} is not an op index a run paused at op "
                                       f"{self.at} can advance to (expected an int from {self.at} to "
                                       f"{len(engine.plan.steps)}, the model's op count)",
                                       argument="stop", value=stop)
        stop = int(stop)
        if s._armed:  # also those due right now, when stop == self.at
            engine.advance(self.at, stop, self._take_armed(stop))
        else:
            engine.advance(self.at, stop)
        self.at = stop

    def step(self) -> None:
        """Run the next op, with the upsets armed for it: advance_to(self.at + 1) for a
        caller stepping op by op (inside the `with` block only; at the end of the run,
        InvalidArgumentError)."""
        if not self._open:
            self._require_open("step")
        s, engine = self.session, self.session._engine
        if self.at >= len(engine.plan.steps):
            raise InvalidArgumentError(f"step: the run is at its end (op {self.at})", argument="step",
                                       value=self.at)
        if s._armed:
            engine.advance(self.at, self.at + 1, self._take_armed(self.at + 1))
        else:
            engine.advance(self.at, self.at + 1)
        self.at += 1

    def snapshot(self) -> "PausedState":
        """Everything the rest of this run can change, copied (inside the `with` block only):
        the engine's run state (Engine.save_run_state), the health counters, the events and
        the op the run is paused at. Upsets must not be armed (they are not part of it)."""
        self._require_open("snapshot")
        s = self.session
        s._refuse_to_drop_armed_upsets("snapshot() copies the run state without them")
        return PausedState(s._engine.save_run_state(), dict(s._health), tuple(s._events), self.at)

    def restore(self, state: "PausedState", written: Optional[Dict[str, List[tuple]]] = None) -> None:
        """Go back to a snapshot() of this run, byte for byte (inside the `with` block
        only). Upsets armed since are dropped; weight upsets, which land in the weight
        copies now, are not undone (the caller restores the bytes it upset).
        written: None, or the only byte ranges written since, {region: [(lo, hi)]}
        (Engine.restore_run_state): fewer bytes to copy back."""
        self._require_open("restore")
        s = self.session
        if not isinstance(state, PausedState):
            raise InvalidArgumentError(f"restore: expected a PausedState from snapshot(), got "
                                       f"{type(state).__name__}", argument="state", value=type(state).__name__)
        s._engine.restore_run_state(state.engine, written)
        s._health.clear()
        s._health.update(state.health)
        s._events.clear()
        s._events.extend(state.events)
        s._armed = {}
        self.at = state.at

    def _take_armed(self, stop: int):
        """Pop the upsets armed for ops before `stop`; apply those due right now; return
        the others as hooks by op."""
        s = self.session
        now = s._armed.pop(self.at - 1, [])
        late = sorted(k for k in s._armed if k < self.at) + [self.at - 1 for u in now if u.before_vote]
        if late:
            s._armed = {}
            raise InvalidArgumentError(f"an upset armed for op {late[0]} cannot land in a run already at "
                                       f"op {self.at}", argument="at_op", value=late[0])
        for upset in now:
            upset()
        return {k: s._armed.pop(k) for k in sorted(s._armed) if k < stop}

    def finish(self, output_names: Optional[Sequence[str]] = None) -> List[np.ndarray]:
        """Apply the armed upsets, run the remaining ops, vote/compare; return the outputs
        (inside the `with` block only)."""
        self._require_open("finish")
        s, engine = self.session, self.session._engine
        names = s._check_output_names(output_names)
        armed = self._take_armed(len(engine.plan.steps))
        engine.advance(self.at, len(engine.plan.steps), armed)
        outputs = engine.finish()
        s.last_latency_s = time.perf_counter() - self.t0
        return [outputs[n] for n in (names or list(outputs))]


def _refuse_unknown_keywords(method, unknown: Dict[str, Any]) -> None:
    """UnknownArgumentError (a TypeError) naming the first unknown keyword of `method`
    and the ones it accepts, as InferenceSession() does: a misspelt keyword never runs."""
    if unknown:
        accepted = [p for p in inspect.signature(method).parameters if p not in ("self", "unknown")]
        name = sorted(unknown)[0]
        raise UnknownArgumentError(f"{method.__qualname__} got an unknown keyword argument {name!r} "
                                   f"(accepted: {', '.join(accepted) or 'none'})", argument=name,
                                   value=unknown[name])


def _check_vote_points(vote_points: str) -> str:
    return check_choice("vote_points", vote_points, VOTE_POINTS)


def _check_model_argument(path_or_bytes: Any) -> None:
    if not isinstance(path_or_bytes, (str, os.PathLike, bytes, bytearray, memoryview, onnx.ModelProto)):
        raise InvalidArgumentError(f"path_or_bytes must be a model path (str or os.PathLike), its bytes "
                                   f"or an onnx.ModelProto, got {path_or_bytes!r} "
                                   f"({type(path_or_bytes).__name__})", argument="path_or_bytes",
                                   value=path_or_bytes)


# SessionOptions settings radrt honours beyond their defaults: it runs in one
# thread (0 means "the default", one) and is always bit-deterministic.
_HONOURED_SESSION_OPTIONS = {"intra_op_num_threads": (0, 1), "inter_op_num_threads": (0, 1),
                             "use_deterministic_compute": (False, True)}


def _check_ort_options(argument: str, options: Any, type_name: str, honoured: Dict[str, tuple]) -> None:
    """None, or an onnxruntime `type_name` whose readable settings are defaults or honoured values.

    onnxruntime is not imported (it is not on the board): a fresh instance of the
    object's own class gives the defaults.
    """
    if options is None:
        return
    cls = type(options)
    if cls.__name__ != type_name or not cls.__module__.startswith("onnxruntime"):
        raise InvalidArgumentError(f"{argument} must be None or an onnxruntime.{type_name}, got "
                                   f"{options!r} ({cls.__name__})", argument=argument, value=options)
    fresh = cls()
    for setting in sorted(dir(fresh)):
        default = getattr(fresh, setting)
        if setting.startswith("_") or callable(default):
            continue
        value = getattr(options, setting)
        if value == default or value in honoured.get(setting, ()):
            continue
        allowed = honoured.get(setting, (default,))
        raise InvalidArgumentError(f"{argument}.{setting} = {value!r}: radrt does not honour it "
                                   f"(accepted: {', '.join(repr(a) for a in allowed)})",
                                   argument=f"{argument}.{setting}", value=value)


def _check_providers(providers: Any, provider_options: Any) -> None:
    expected = "None or ['CPUExecutionProvider'] (radrt runs its own C kernels on the CPU)"
    if providers is not None:
        if not isinstance(providers, (list, tuple)) or len(providers) != 1:
            raise InvalidArgumentError(f"providers must be {expected}, got {providers!r}",
                                       argument="providers", value=providers)
        name = providers[0]
        if isinstance(name, tuple) and len(name) == 2 and name[1] == {}:
            name = name[0]  # onnxruntime's (name, options) form, with no options
        if name != "CPUExecutionProvider":
            raise InvalidArgumentError(f"providers must be {expected}, got {providers!r}",
                                       argument="providers", value=providers)
    if provider_options is not None:
        count = 1 if providers is None else len(providers)
        if (not isinstance(provider_options, (list, tuple)) or len(provider_options) != count
                or any(o != {} for o in provider_options)):
            raise InvalidArgumentError(f"provider_options must be None or [{{}}] (radrt's CPU kernels "
                                       f"take no provider options), got {provider_options!r}",
                                       argument="provider_options", value=provider_options)


def _check_input_shapes(input_shapes: Any, input_protos) -> Dict[str, tuple]:
    """{name: shape tuple} from input_shapes, each a runtime input with ints >= 0 of its rank."""
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, dict):
        raise InvalidArgumentError(f"input_shapes must be None or a dict of input name -> shape, got "
                                   f"{input_shapes!r}", argument="input_shapes", value=input_shapes)
    protos = {vi.name: vi for vi in input_protos}
    fixed = {}
    for name, shape in input_shapes.items():
        what = f"input_shapes[{name!r}]"
        if name not in protos:
            raise InvalidArgumentError(f"input_shapes names {name!r}, which is not a runtime input of the "
                                       f"model (inputs: {list(protos)})", argument="input_shapes", value=name)
        if not isinstance(shape, (list, tuple)):
            raise InvalidArgumentError(f"{what} must be a list or tuple of ints, got {shape!r}",
                                       argument="input_shapes", value=shape)
        dims = tuple(check_integer(f"{what} dimension {i}", d, 0) for i, d in enumerate(shape))
        declared = declared_shape(protos[name])
        if not shape_matches(declared, dims):
            raise InvalidArgumentError(
                f"{what} = {dims} does not match the model's "
                f"{tuple(d if isinstance(d, int) else '?' for d in declared)} (only "
                f"symbolic dimensions can be fixed)", argument="input_shapes", value=dims)
        fixed[name] = dims
    return fixed

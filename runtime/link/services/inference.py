"""PUS service 200, inference (docs/icd.md §4): stage inputs, run, send and re-send results.

- TC[200,1] put-input chunk: checked at acceptance against the serving model's input
  `input_index` BEFORE anything is allocated (ICD v2): no model → NO_MODEL; index out of
  range → BAD_ARGUMENT; then, as far as the header can be read, the first that
  applies: dtype → DTYPE_MISMATCH; rank or dims (also against the request's earlier
  chunks) → SHAPE_MISMATCH; a header cut short → BAD_LENGTH; total_bytes (computed with
  Python integers, so nothing overflows) → BAD_LENGTH; bytes past total_bytes →
  BAD_ARGUMENT. Every refusal counts in `inputs_refused`. So nothing larger than the
  model's inputs is ever staged (an input with a symbolic dim takes any value there, up
  to MAX_DYNAMIC_INPUT_BYTES; its memory follows the bytes received).
- Staging is keyed by (source ID, request_id): two controllers using the same
  request_id never meet. Each controller stages at most STAGED_PER_SOURCE requests (its
  own least recently touched one is evicted), so a busy controller never evicts a quiet
  one's; the runtime keeps the state of the service.MAX_CONTROLLERS controllers heard
  most recently. Staged memory is bounded by STAGED_REQUESTS = MAX_CONTROLLERS x
  STAGED_PER_SOURCE requests of the model's inputs.
- TC[200,2] runs what its own source staged; TM[200,3] chunks then TM[200,4] carrying
  the CRC-32 of the outputs and input_crc32, the CRC-32 of the inputs as staged and run
  (zlib CRC-32, in input order), so the controller checks the uplink end to end: a
  CRC-16-invisible uplink error changes input_crc32.
- TC[200,5] re-sends a cached result: every output, or only the byte ranges asked
  (output_index u8, offset u32, length u32 each; together at most the result's size),
  then TM[200,4]. The last RESULTS_PER_SOURCE results of each controller are kept.
"""
import logging
import math
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import UncorrectableUpsetError
from ..oplog import log_event
from ..catalogue import RESEND_RANGE, CommandError, ErrorCode, Service, message
from ..tensors import (_FIXED, _TAIL, DTYPE_CODES, MAX_RANK, TensorAssembler, TensorChunk, dtype_code,
                       max_chunk_data, split_tensor)

MAX_CONTROLLERS = 16     # source IDs whose state is kept (least recently heard forgotten)
log = logging.getLogger("radrt.link")
STAGED_PER_SOURCE = 4
STAGED_REQUESTS = MAX_CONTROLLERS * STAGED_PER_SOURCE
RESULTS_PER_SOURCE = 8   # ICD §4: at least the last 8 results of each controller
# An input with a symbolic dim has no fixed size: its declared total_bytes is capped.
MAX_DYNAMIC_INPUT_BYTES = 16 << 20
RUN = message(Service.INFERENCE, 2)
DONE = message(Service.INFERENCE, 4)


@dataclass
class RunResult:
    status: int
    latency_us: int
    crc32: int
    corrected: int
    input_crc32: int
    outputs: List[np.ndarray]

    def done_report(self, request_id: int) -> bytes:
        return DONE.pack(request_id=request_id, status=self.status, latency_us=self.latency_us,
                         crc32=self.crc32, corrected_during_run=min(self.corrected, 0xFFFF),
                         input_crc32=self.input_crc32)


def crc32_of(arrays: Sequence[np.ndarray]) -> int:
    """zlib CRC-32 of the arrays' bytes (little-endian, C order) one after the other."""
    crc = 0
    for array in arrays:
        crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    return crc


def _dims_match(dims: Tuple[int, ...], shape: Sequence) -> bool:
    """A model dim that is not an integer (symbolic) takes any value."""
    return len(dims) == len(shape) and all(not isinstance(s, int) or d == s for d, s in zip(dims, shape))


class InferenceService:
    def __init__(self, core, results_per_source: int = RESULTS_PER_SOURCE):
        if results_per_source < RESULTS_PER_SOURCE:
            raise ValueError(f"result cache of {results_per_source} per controller, the ICD asks for "
                             f"at least {RESULTS_PER_SOURCE}")
        self.core = core
        self.results_per_source = results_per_source
        # source ID -> request_id -> input index -> chunks (least recently touched first)
        self.staged: Dict[int, "OrderedDict[int, Dict[int, TensorAssembler]]"] = {}
        self.results: Dict[int, "OrderedDict[int, RunResult]"] = {}

    def handlers(self):
        return {(Service.INFERENCE, 1): self.put_input, (Service.INFERENCE, 2): self.run,
                (Service.INFERENCE, 5): self.resend}

    def staged_bytes(self) -> int:
        """Bytes held by staged inputs (what was received)."""
        return sum(t.received_bytes for requests in self.staged.values() for request in requests.values()
                   for t in request.values())

    def staged_requests(self) -> int:
        return sum(len(requests) for requests in self.staged.values())

    def forget(self, source_id: int) -> None:
        """Drops a controller's staged inputs and results (service.MAX_CONTROLLERS)."""
        self.staged.pop(source_id, None)
        self.results.pop(source_id, None)

    # -- TC[200,1] ------------------------------------------------------------------

    def put_input(self, tc):
        try:
            chunk = self._check_chunk(tc.source_id, tc.app_data)
        except CommandError:
            self.core.counters.inputs_refused += 1
            raise

        def execute(replies):
            requests = self.staged.setdefault(tc.source_id, OrderedDict())
            staged = requests.get(chunk.request_id)
            if staged is None:
                while len(requests) >= STAGED_PER_SOURCE:
                    requests.popitem(last=False)
                staged = requests[chunk.request_id] = {}
            requests.move_to_end(chunk.request_id)
            if chunk.index in staged:
                staged[chunk.index].add(chunk)
            else:
                staged[chunk.index] = TensorAssembler(chunk)
        return execute

    def _check_chunk(self, source_id: int, data: bytes) -> TensorChunk:
        """The ICD v2 acceptance checks of a put-input chunk, in the ICD's order."""
        specs = self.core.backend.input_specs()
        if specs is None:
            raise CommandError(ErrorCode.NO_MODEL, "no model is active: upload one and activate it")
        if len(data) < _FIXED.size:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[200,1]: {len(data)} bytes, the chunk header "
                               f"needs at least {_FIXED.size}", detail=len(data))
        request_id, index, code, rank = _FIXED.unpack_from(data)
        if index >= len(specs):
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"TC[200,1]: input_index {index}, the model has "
                               f"{len(specs)} input(s)", detail=index)
        shape, dtype = specs[index]
        try:
            expected_code = dtype_code(dtype)
        except ValueError as exc:  # e.g. bool: no chunk can match, and serve must not stop
            raise CommandError(ErrorCode.DTYPE_MISMATCH, f"input {index}: dtype code {code}, the model "
                               f"expects {np.dtype(dtype)}, which the link cannot carry ({exc})",
                               detail=index) from exc
        if code != expected_code:
            raise CommandError(ErrorCode.DTYPE_MISMATCH, f"input {index}: dtype code {code}, the model "
                               f"expects {expected_code} ({np.dtype(dtype)})", detail=index)
        if rank != len(shape) or rank > MAX_RANK:
            raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: rank {rank}, the model's input "
                               f"has rank {len(shape)} ({list(shape)})", detail=index)
        if len(data) < _FIXED.size + 4 * rank:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[200,1]: {len(data)} bytes, a rank-{rank} chunk "
                               f"header needs {_FIXED.size + 4 * rank + _TAIL.size}", detail=len(data))
        dims = struct.unpack_from(f">{rank}I", data, _FIXED.size)
        if not _dims_match(dims, shape):
            raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: dims {list(dims)}, the model "
                               f"expects {list(shape)}", detail=index)
        earlier = self.staged.get(source_id, {}).get(request_id, {}).get(index)
        if earlier is not None and earlier.dims != tuple(dims):
            raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index} of request {request_id}: dims "
                               f"{list(dims)}, its earlier chunks had {list(earlier.dims)}", detail=index)
        header_len = _FIXED.size + 4 * rank + _TAIL.size
        if len(data) < header_len:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[200,1]: {len(data)} bytes, a rank-{rank} chunk "
                               f"header needs {header_len}", detail=len(data))
        total, offset = _TAIL.unpack_from(data, _FIXED.size + 4 * rank)
        expected_total = math.prod(dims) * DTYPE_CODES[code].itemsize  # Python int: no overflow
        if total != expected_total:
            raise CommandError(ErrorCode.BAD_LENGTH, f"input {index}: total_bytes {total}, dims {list(dims)} "
                               f"of {np.dtype(dtype)} make {expected_total}", detail=index)
        if total > MAX_DYNAMIC_INPUT_BYTES and not all(isinstance(s, int) for s in shape):
            raise CommandError(ErrorCode.BAD_LENGTH, f"input {index}: total_bytes {total} for a model input "
                               f"of symbolic shape {list(shape)}, largest accepted {MAX_DYNAMIC_INPUT_BYTES}",
                               detail=index)
        payload = data[header_len:]
        if offset + len(payload) > total:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"input {index}: chunk covers bytes [{offset}, "
                               f"{offset + len(payload)}) past total_bytes {total}", detail=offset)
        return TensorChunk(request_id, index, code, tuple(dims), total, offset, payload)

    # -- TC[200,2] ------------------------------------------------------------------

    def run(self, tc):
        request_id = RUN.unpack(tc.app_data)["request_id"]

        def execute(replies):
            result = self._infer(tc.source_id, request_id)
            cache = self.results.setdefault(tc.source_id, OrderedDict())
            cache[request_id] = result
            cache.move_to_end(request_id)
            while len(cache) > self.results_per_source:
                cache.popitem(last=False)
            self._send(request_id, result, None, replies)
            if result.status:
                raise CommandError(ErrorCode(result.status), f"request {request_id} failed", detail=request_id)
        return execute

    def _infer(self, source_id: int, request_id: int) -> RunResult:
        """Runs staged inputs; raises CommandError for requests that cannot start and
        returns a failed RunResult for runs that started and failed."""
        core = self.core
        specs = core.backend.input_specs()
        if specs is None:
            raise CommandError(ErrorCode.NO_MODEL, "no model is active: upload one and activate it")
        staged = self.staged.get(source_id, {}).get(request_id)
        if staged is None:
            raise CommandError(ErrorCode.UNKNOWN_REQUEST, f"request {request_id} of source "
                               f"{source_id:#06x} has no staged inputs", detail=request_id)
        for index in range(len(specs)):
            tensor = staged.get(index)
            if tensor is None or not tensor.complete:  # kept: the missing chunks may follow
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"request {request_id}: input {index} "
                                   f"{'missing' if tensor is None else 'incomplete'}: "
                                   f"{'' if tensor is None else tensor.ranges.missing()[:4]}", detail=index)
        del self.staged[source_id][request_id]  # it runs now, or can never run
        feeds = []
        for index, (shape, dtype) in enumerate(specs):
            tensor = staged[index]
            # The model may have changed since staging (ACTIVATE_SLOT in between).
            if tensor.dtype not in DTYPE_CODES or DTYPE_CODES[tensor.dtype] != np.dtype(dtype).newbyteorder("<"):
                raise CommandError(ErrorCode.DTYPE_MISMATCH, f"input {index}: dtype code {tensor.dtype}, "
                                   f"the model now expects {np.dtype(dtype)}", detail=index)
            if not _dims_match(tensor.dims, shape):
                raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: dims {list(tensor.dims)}, the "
                                   f"model now expects {list(shape)}", detail=index)
            feeds.append(tensor.array())
        input_crc = crc32_of(feeds)
        before = core.backend.health().get("upsets_corrected", 0)
        start = core.monotonic()
        try:
            outputs = [self._wire_array(o) for o in core.backend.run(feeds)]
            status = 0
        except UncorrectableUpsetError:
            outputs, status = [], ErrorCode.UNCORRECTABLE_UPSET
        except CommandError as exc:
            outputs, status = [], exc.code
            log_event(log, None, "run_failed", request_id=request_id, source_id=source_id,
                      code=exc.code.name, reason=str(exc))
        latency_us = min(int((core.monotonic() - start) * 1e6), 0xFFFFFFFF)
        corrected = core.backend.health().get("upsets_corrected", 0) - before
        if status:
            core.counters.inferences_failed += 1
        else:
            core.counters.inferences_ok += 1
        return RunResult(int(status), latency_us, crc32_of(outputs), corrected, input_crc, outputs)

    @staticmethod
    def _wire_array(output) -> np.ndarray:
        """An output as it goes on the wire: little-endian, C order, a dtype with a code."""
        output = np.asarray(output)
        try:
            code = dtype_code(output.dtype)
        except ValueError as exc:
            raise CommandError(ErrorCode.INTERNAL, str(exc)) from exc
        return np.ascontiguousarray(output, dtype=DTYPE_CODES[code])

    def _send(self, request_id: int, result: RunResult, ranges: Optional[List[Tuple[int, int, int]]],
              replies: list) -> None:
        """TM[200,3] chunks of every output (ranges None) or of the byte ranges
        (output_index, offset, length), then TM[200,4]."""
        if ranges is None:
            ranges = [(i, 0, o.nbytes) for i, o in enumerate(result.outputs)]
        for index, offset, length in ranges:
            output = result.outputs[index]
            for chunk in split_tensor(request_id, index, output, max_chunk_data(output.ndim, telemetry=True),
                                      offset, offset + length):
                replies.append((Service.INFERENCE, 3, chunk.pack()))
        replies.append((Service.INFERENCE, 4, result.done_report(request_id)))

    # -- TC[200,5] ------------------------------------------------------------------

    def resend(self, tc):
        data = tc.app_data
        if len(data) < 4 or (len(data) - 4) % RESEND_RANGE.size:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[200,5]: {len(data)} bytes, expected 4 + "
                               f"{RESEND_RANGE.size} x ranges", detail=len(data))
        (request_id,) = struct.unpack_from(">I", data)
        ranges = [RESEND_RANGE.unpack_from(data, at) for at in range(4, len(data), RESEND_RANGE.size)]

        def execute(replies):
            result = self.results.get(tc.source_id, {}).get(request_id)
            if result is None:
                raise CommandError(ErrorCode.UNKNOWN_REQUEST, f"no cached result of request {request_id} of "
                                   f"source {tc.source_id:#06x}", detail=request_id)
            asked, total = sum(r[2] for r in ranges), sum(o.nbytes for o in result.outputs)
            if asked > total:
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"TC[200,5]: ranges of {asked} bytes in all, request "
                                   f"{request_id}'s outputs have {total}", detail=asked)
            for index, offset, length in ranges:
                if index >= len(result.outputs):
                    raise CommandError(ErrorCode.BAD_ARGUMENT, f"TC[200,5]: output {index}, request "
                                       f"{request_id} has {len(result.outputs)}", detail=index)
                if offset + length > result.outputs[index].nbytes:
                    raise CommandError(ErrorCode.BAD_ARGUMENT, f"TC[200,5]: bytes [{offset}, {offset + length}) "
                                       f"of output {index}, which has {result.outputs[index].nbytes}",
                                       detail=offset)
            self._send(request_id, result, ranges or None, replies)
        return execute

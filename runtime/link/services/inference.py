"""PUS service 200, inference (docs/icd.md §4): stage inputs, run, send and re-send results.

- TC[200,1] put-input chunk: checked at acceptance against the serving model's input
  `input_index` BEFORE anything is allocated (ICD v2): no model → NO_MODEL; index out of
  range → BAD_ARGUMENT; short header → BAD_LENGTH; dtype → DTYPE_MISMATCH; dims →
  SHAPE_MISMATCH; total_bytes (computed with Python integers, so nothing overflows) →
  BAD_LENGTH; bytes past total_bytes → BAD_ARGUMENT. Every refusal counts in
  `inputs_refused`. So nothing larger than the model's inputs is ever staged (an input
  with a symbolic dim takes any value there, up to MAX_DYNAMIC_INPUT_BYTES in all).
- Staging is keyed by (source ID, request_id): two controllers using the same
  request_id never meet. At most STAGED_PER_SOURCE requests per source and
  STAGED_REQUESTS in all are staged (least recently touched evicted), so staged memory
  is bounded by STAGED_REQUESTS x the model's input bytes.
- TC[200,2] runs what its own source staged; TM[200,3] chunks then TM[200,4] carrying
  the CRC-32 of the outputs and input_crc32, the CRC-32 of the inputs as staged and run
  (zlib CRC-32, in input order), so the controller checks the uplink end to end: a
  CRC-16-invisible uplink error changes input_crc32.
- TC[200,5] re-sends a cached result: every output, or only the byte ranges asked
  (output_index u8, offset u32, length u32 each), then TM[200,4]. The last
  RESULTS_PER_SOURCE results of each of the last RESULT_SOURCES sources are kept.
"""
import math
import struct
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import UncorrectableUpsetError
from ..catalogue import RESEND_RANGE, CommandError, ErrorCode, Service, message
from ..tensors import (_FIXED, _TAIL, DTYPE_CODES, MAX_RANK, TensorAssembler, TensorChunk, dtype_code,
                       max_chunk_data)

STAGED_PER_SOURCE = 4
STAGED_REQUESTS = 16
RESULTS_PER_SOURCE = 8   # ICD §4: at least the last 8 results of each controller
RESULT_SOURCES = 8
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
        self.staged: "OrderedDict[Tuple[int, int], Dict[int, TensorAssembler]]" = OrderedDict()
        self.results: "OrderedDict[int, OrderedDict[int, RunResult]]" = OrderedDict()

    def handlers(self):
        return {(Service.INFERENCE, 1): self.put_input, (Service.INFERENCE, 2): self.run,
                (Service.INFERENCE, 5): self.resend}

    def staged_bytes(self) -> int:
        return sum(t.total_bytes for request in self.staged.values() for t in request.values())

    # -- TC[200,1] ------------------------------------------------------------------

    def put_input(self, tc):
        try:
            chunk = self._check_chunk(tc.app_data)
        except CommandError:
            self.core.counters.inputs_refused += 1
            raise
        key = (tc.source_id, chunk.request_id)

        def execute(replies):
            staged = self.staged.get(key)
            if staged is None:
                self._make_room(tc.source_id)
                staged = self.staged[key] = {}
            self.staged.move_to_end(key)
            if chunk.index in staged:
                staged[chunk.index].add(chunk)
            else:
                staged[chunk.index] = TensorAssembler(chunk)
        return execute

    def _check_chunk(self, data: bytes) -> TensorChunk:
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
        header_len = _FIXED.size + 4 * rank + _TAIL.size
        if len(data) < header_len:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[200,1]: {len(data)} bytes, a rank-{rank} chunk "
                               f"header needs {header_len}", detail=len(data))
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
        dims = struct.unpack_from(f">{rank}I", data, _FIXED.size)
        if rank > MAX_RANK or not _dims_match(dims, shape):
            raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: dims {list(dims)}, the model "
                               f"expects {list(shape)}", detail=index)
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

    def _make_room(self, source_id: int) -> None:
        """Evicts the least recently touched staged requests: of this source beyond
        STAGED_PER_SOURCE - 1, then of anyone beyond STAGED_REQUESTS - 1."""
        own = [k for k in self.staged if k[0] == source_id]
        for key in own[:max(0, len(own) - STAGED_PER_SOURCE + 1)]:
            del self.staged[key]
        while len(self.staged) >= STAGED_REQUESTS:
            self.staged.popitem(last=False)

    # -- TC[200,2] ------------------------------------------------------------------

    def run(self, tc):
        request_id = RUN.unpack(tc.app_data)["request_id"]

        def execute(replies):
            result = self._infer(tc.source_id, request_id)
            cache = self.results.setdefault(tc.source_id, OrderedDict())
            self.results.move_to_end(tc.source_id)
            cache[request_id] = result
            cache.move_to_end(request_id)
            while len(cache) > self.results_per_source:
                cache.popitem(last=False)
            while len(self.results) > RESULT_SOURCES:
                self.results.popitem(last=False)
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
        staged = self.staged.pop((source_id, request_id), None)
        if staged is None:
            raise CommandError(ErrorCode.UNKNOWN_REQUEST, f"request {request_id} of source "
                               f"{source_id:#06x} has no staged inputs", detail=request_id)
        feeds = []
        for index, (shape, dtype) in enumerate(specs):
            tensor = staged.get(index)
            if tensor is None or not tensor.complete:
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"request {request_id}: input {index} "
                                   f"{'missing' if tensor is None else 'incomplete'}", detail=index)
            # The model may have changed since staging (ACTIVATE_SLOT in between).
            if tensor.dtype != dtype_code(dtype):
                raise CommandError(ErrorCode.DTYPE_MISMATCH, f"input {index}: dtype code {tensor.dtype}, "
                                   f"the model expects {dtype_code(dtype)}", detail=index)
            if not _dims_match(tensor.dims, shape):
                raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: dims {list(tensor.dims)}, the "
                                   f"model expects {list(shape)}", detail=index)
            feeds.append(tensor.array())
        if len(staged) > len(specs):
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"request {request_id}: {len(staged)} inputs, "
                               f"the model has {len(specs)}", detail=len(staged))
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
            step = max_chunk_data(output.ndim, telemetry=True)
            data = output.tobytes()
            dims = tuple(int(d) for d in output.shape)
            code = dtype_code(output.dtype)
            if length == 0 and output.nbytes == 0:
                replies.append((Service.INFERENCE, 3, TensorChunk(request_id, index, code, dims, 0, 0, b"").pack()))
            for at in range(offset, offset + length, step):
                piece = data[at:min(at + step, offset + length)]
                replies.append((Service.INFERENCE, 3,
                                TensorChunk(request_id, index, code, dims, len(data), at, piece).pack()))
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

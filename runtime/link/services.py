"""The runtime's side of the payload link: PUS services over a backend (ICD §4–§7).

`PayloadService` turns received bytes into TC packets and the TCs into TM replies. It
knows the wire; what it runs on sits behind `PayloadBackend`, so `radrt serve` is a
loop of `port.write(service.receive(port.read(...)))` plus `service.poll()`.

Requirements (each verified in tests/link/test_services.py):
- every TC whose ack flags ask for it gets exactly one acceptance report; failures
  are always reported (TM[1,2] at acceptance, TM[1,8] at completion);
- a duplicate TC (same source ID and sequence count as one of the last 64 accepted)
  is not executed again: its reports (everything but output chunks) are re-sent;
- with a key, a TC failing authentication gets TM[1,2] and event AUTH_FAILURE only;
- the last 8 (or more) inference results can be re-sent with TC[200,5];
- HK structure 1 reports the fields of ICD §5 in order;
- uploads never touch the active slot; commits are atomic (slots.py).

Processing of one TC: authenticate (strip trailer) → duplicate check → accept (service,
subtype, argument layout; TM[1,1] if asked) → execute (replies; TM[1,7] if asked, or
TM[1,8]). Frame and packet errors are dropped and counted by the FrameDecoder.
A TC addressed to another APID is ignored and counted as rejected (it is not ours to
answer).
"""
import struct
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

from ..errors import UncorrectableUpsetError
from ..protect.modes import HEALTH_NAMES
from .auth import AuthError, Authenticator
from .codes import (ACK_ACCEPTANCE, ACK_COMPLETION, EVENT_SEVERITY, HK_STRUCTURE_ID, HK_U8_FIELDS,
                    HK_U32_FIELDS, NO_ACTIVE_SLOT, PROTECTION_MODES, CommandError, ErrorCode,
                    EventId, Function, Service, Verification)
from .framing import FrameCounters, FrameDecoder, frame
from .packets import DEFAULT_APID, TcPacket, TmBuilder, parse_tc
from .slots import ModelSlots
from .tensors import (DTYPE_CODES, ChunkError, TensorAssembler, TensorChunk, dtype_code,
                      max_chunk_data, split_tensor)

DUPLICATE_WINDOW = 64
RESULT_CACHE = 8
STAGED_REQUESTS = 4
MAX_INPUT_BYTES = 64 << 20
# The protection counters of HK structure 1 (ICD §5), named as runtime.protect.modes defines them.
HEALTH_FIELDS = tuple(name for name in HK_U32_FIELDS if name in HEALTH_NAMES)


class PayloadBackend(Protocol):
    """What the service needs from the inference runtime (the lead's session wires it).

    - input_specs(): the serving model's inputs as [(shape, numpy dtype)], in model
      input order; None while no model serves.
    - run(feeds): feeds in model input order → outputs in model output order. Raises
      runtime.UncorrectableUpsetError (→ UNCORRECTABLE_UPSET) or CommandError.
    - health(): cumulative counters named as HEALTH_FIELDS (missing ones read 0).
    - set_protection(mode): one of codes.PROTECTION_MODES.
    - scrub(): one full scrub pass; returns when it is done.
    - check_model(model): raises if the ONNX bytes do not load or use an unsupported op.
    - load_model(model): makes the bytes the serving model; raises (old model keeps
      serving) if it cannot.
    - drain_events(): [(EventId, aux1, aux2)] that happened since the last call
      (upsets corrected, vote disagreements...).
    """

    def input_specs(self) -> Optional[List[Tuple[Tuple[int, ...], np.dtype]]]: ...
    def run(self, feeds: List[np.ndarray]) -> List[np.ndarray]: ...
    def health(self) -> Dict[str, int]: ...
    def set_protection(self, mode: str) -> None: ...
    def scrub(self) -> None: ...
    def check_model(self, model: bytes) -> None: ...
    def load_model(self, model: bytes) -> None: ...
    def drain_events(self) -> List[Tuple[int, int, int]]: ...


# A reply before it becomes a packet: (service, subtype, source data).
Reply = Tuple[int, int, bytes]


@dataclass
class RunResult:
    status: int
    latency_us: int
    crc32: int
    corrected: int
    outputs: List[np.ndarray]

    def done_report(self, request_id: int) -> bytes:
        return struct.pack(">IHIIH", request_id, self.status, self.latency_us, self.crc32,
                           min(self.corrected, 0xFFFF))


@dataclass
class ServiceCounters:
    inferences_ok: int = 0
    inferences_failed: int = 0
    tc_rejected: int = 0
    auth_rejected: int = 0
    duplicates_ignored: int = 0


def _u8(data: bytes, what: str) -> int:
    if len(data) != 1:
        raise CommandError(ErrorCode.BAD_LENGTH, f"{what}: {len(data)} argument bytes, expected 1")
    return data[0]


def _exact(data: bytes, length: int, what: str) -> bytes:
    if len(data) != length:
        raise CommandError(ErrorCode.BAD_LENGTH, f"{what}: {len(data)} argument bytes, expected {length}",
                           detail=len(data))
    return data


class PayloadService:
    def __init__(self, backend: PayloadBackend, slots: ModelSlots, *, apid: int = DEFAULT_APID,
                 authenticator: Optional[Authenticator] = None, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic, result_cache: int = RESULT_CACHE,
                 max_input_bytes: int = MAX_INPUT_BYTES):
        if result_cache < RESULT_CACHE:
            raise ValueError(f"result cache of {result_cache}, the ICD asks for at least {RESULT_CACHE}")
        self.backend = backend
        self.slots = slots
        self.apid = apid
        self.authenticator = authenticator
        self.monotonic = monotonic
        self.started = monotonic()
        self.max_input_bytes = max_input_bytes
        self.tm = TmBuilder(apid=apid, clock=clock)
        self.decoder = FrameDecoder(parse_tc)
        self.counters = ServiceCounters()
        self.protection = PROTECTION_MODES[0]
        self.controller_id = 0  # destination of unsolicited events: the last source seen
        self._health_baseline: Dict[str, int] = {}
        self._accepted: "OrderedDict[Tuple[int, int], List[Reply]]" = OrderedDict()
        self._results: "OrderedDict[int, RunResult]" = OrderedDict()
        self._result_cache = result_cache
        self._events: List[Tuple[int, int, int]] = []  # raised by TCs, sent after their replies
        self._staged: "OrderedDict[int, Dict[int, TensorAssembler]]" = OrderedDict()
        self._handlers = {
            (Service.TEST, 1): self._ping,
            (Service.HOUSEKEEPING, 27): self._housekeeping,
            (Service.FUNCTIONS, 1): self._function,
            (Service.INFERENCE, 1): self._put_input,
            (Service.INFERENCE, 2): self._run,
            (Service.INFERENCE, 5): self._resend,
            (Service.MODEL_SLOTS, 1): self._begin_upload,
            (Service.MODEL_SLOTS, 2): self._upload_chunk,
            (Service.MODEL_SLOTS, 3): self._commit,
            (Service.MODEL_SLOTS, 4): self._slot_status,
        }

    # -- byte and packet level ------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Bytes from the line in, framed TM out."""
        out = bytearray()
        for tc in self.decoder.feed(data):
            for packet in self.handle(tc):
                out += frame(packet)
        return bytes(out)

    def poll(self) -> bytes:
        """Framed events the backend and the slots raised since the last call (call it
        periodically); it also drives the background verification of the slots (ICD §7)."""
        self.slots.verify_due(self.monotonic())
        events = self.backend.drain_events() + self.slots.drain_events()
        return b"".join(frame(self.event(*e)) for e in events)

    def event(self, event_id: int, aux1: int = 0, aux2: int = 0, destination: Optional[int] = None) -> bytes:
        severity = EVENT_SEVERITY[EventId(event_id)]
        return self.tm.build(Service.EVENTS, severity, struct.pack(">HII", event_id, aux1, aux2),
                             self.controller_id if destination is None else destination)

    def handle(self, tc: TcPacket) -> List[bytes]:
        """One TC in, its TM packets out."""
        if tc.apid != self.apid:
            self.counters.tc_rejected += 1
            return []
        request_id = tc.request_id
        if self.authenticator is not None:
            try:
                tc = self.authenticator.verify(tc)
            except AuthError as exc:
                self.counters.auth_rejected += 1
                return [self._packet(tc, self._failure(Verification.ACCEPTANCE_FAILURE, request_id,
                                                       exc.code, 0)),
                        self.event(EventId.AUTH_FAILURE, tc.source_id, exc.code, destination=tc.source_id)]
        self.controller_id = tc.source_id
        key = (tc.source_id, tc.seq_count)
        if key in self._accepted:
            self.counters.duplicates_ignored += 1
            return [self._packet(tc, r) for r in self._accepted[key]]
        handler = self._handlers.get((tc.service, tc.subtype))
        try:
            if handler is None:
                known = {s for s, _ in self._handlers}
                code = ErrorCode.BAD_SUBTYPE if tc.service in known else ErrorCode.BAD_SERVICE
                raise CommandError(code, f"no TC[{tc.service},{tc.subtype}]", detail=tc.service)
            execute = handler(tc.app_data)
        except CommandError as exc:
            self.counters.tc_rejected += 1
            return [self._packet(tc, self._failure(Verification.ACCEPTANCE_FAILURE, request_id,
                                                   exc.code, exc.detail))]
        replies: List[Reply] = []
        if tc.ack_flags & ACK_ACCEPTANCE:
            replies.append((Service.VERIFICATION, Verification.ACCEPTANCE_SUCCESS, request_id))
        recorded: List[Reply] = list(replies)
        self._accepted[key] = recorded
        while len(self._accepted) > DUPLICATE_WINDOW:
            self._accepted.popitem(last=False)
        try:
            execute(replies)
            if tc.ack_flags & ACK_COMPLETION:
                replies.append((Service.VERIFICATION, Verification.COMPLETION_SUCCESS, request_id))
        except CommandError as exc:
            replies.append(self._failure(Verification.COMPLETION_FAILURE, request_id, exc.code, exc.detail))
        except UncorrectableUpsetError:  # a scrub or protection switch found lost weights
            replies.append(self._failure(Verification.COMPLETION_FAILURE, request_id,
                                         ErrorCode.UNCORRECTABLE_UPSET, 0))
        except Exception:
            replies.append(self._failure(Verification.COMPLETION_FAILURE, request_id,
                                         ErrorCode.INTERNAL, 0))
        # Output chunks are recovered with TC[200,5], not by re-sending a duplicate.
        recorded[:] = [r for r in replies if (r[0], r[1]) != (Service.INFERENCE, 3)]
        events = self._events + self.backend.drain_events() + self.slots.drain_events()
        self._events = []
        return [self._packet(tc, r) for r in replies] + [self.event(*e) for e in events]

    def _packet(self, tc: TcPacket, reply: Reply) -> bytes:
        return self.tm.build(reply[0], reply[1], reply[2], tc.source_id)

    @staticmethod
    def _failure(subtype: int, request_id: bytes, code: int, detail: int) -> Reply:
        return Service.VERIFICATION, subtype, request_id + struct.pack(">HI", code, detail)

    # -- housekeeping -----------------------------------------------------------------
    # Each handler checks the arguments (acceptance; raises CommandError) and returns
    # the function that executes the TC, appending its replies.

    def housekeeping(self) -> Dict[str, int]:
        health = self.backend.health()
        frames = self.decoder.counters
        values = {name: health.get(name, 0) - self._health_baseline.get(name, 0)
                  for name in HEALTH_FIELDS}
        values.update(uptime_s=int(self.monotonic() - self.started),
                      frames_ok=frames.frames_ok, frames_bad_crc=frames.frames_bad_crc,
                      frames_bad_format=frames.frames_bad_format,
                      frames_oversize=frames.frames_oversize, **vars(self.counters),
                      active_slot=NO_ACTIVE_SLOT if self.slots.active is None else self.slots.active,
                      protection_mode=PROTECTION_MODES.index(self.protection))
        return values

    def _ping(self, data: bytes):
        _exact(data, 0, "TC[17,1]")
        return lambda replies: replies.append((Service.TEST, 2, b""))

    def _housekeeping(self, data: bytes):
        (structure,) = struct.unpack(">H", _exact(data, 2, "TC[3,27]"))
        if structure != HK_STRUCTURE_ID:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"HK structure {structure}, only "
                               f"{HK_STRUCTURE_ID} exists", detail=structure)

        def execute(replies):
            hk = self.housekeeping()
            body = struct.pack(">H", structure)
            body += struct.pack(f">{len(HK_U32_FIELDS)}I", *(hk[f] & 0xFFFFFFFF for f in HK_U32_FIELDS))
            body += bytes(hk[f] & 0xFF for f in HK_U8_FIELDS)
            replies.append((Service.HOUSEKEEPING, 25, body))
        return execute

    # -- functions ------------------------------------------------------------------

    def _function(self, data: bytes):
        if len(data) < 2:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[8,1]: {len(data)} bytes, function ID needs 2")
        function_id, args = struct.unpack_from(">H", data)[0], data[2:]
        if function_id == Function.SET_PROTECTION:
            mode = _u8(args, "SET_PROTECTION")
            if mode >= len(PROTECTION_MODES):
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"protection mode {mode}, known "
                                   f"0..{len(PROTECTION_MODES) - 1}", detail=mode)
            return lambda replies: self._set_protection(PROTECTION_MODES[mode])
        if function_id == Function.SCRUB_NOW:
            _exact(args, 0, "SCRUB_NOW")
            return lambda replies: self.backend.scrub()
        if function_id == Function.ACTIVATE_SLOT:
            slot = _u8(args, "ACTIVATE_SLOT")
            self.slots.check_slot(slot)
            return lambda replies: self._activate(slot)
        if function_id == Function.RESET_COUNTERS:
            _exact(args, 0, "RESET_COUNTERS")
            return lambda replies: self._reset_counters()
        raise CommandError(ErrorCode.BAD_ARGUMENT, f"function ID {function_id} unknown",
                           detail=function_id)

    def _set_protection(self, mode: str) -> None:
        self.backend.set_protection(mode)
        self.protection = mode

    def _activate(self, slot: int) -> None:
        try:
            self.slots.activate(slot, self.backend.load_model)
        except CommandError as exc:
            self._events.append((EventId.MODEL_REJECTED, slot, exc.code))
            raise
        self._events.append((EventId.MODEL_ACTIVATED, slot, 0))

    def _reset_counters(self) -> None:
        self.counters = ServiceCounters()
        self.decoder.counters = FrameCounters()
        self._health_baseline = dict(self.backend.health())

    # -- inference ------------------------------------------------------------------

    def _put_input(self, data: bytes):
        try:
            chunk = TensorChunk.unpack(data)
        except ChunkError as exc:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"TC[200,1]: {exc}") from exc
        if chunk.total_bytes > self.max_input_bytes:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"input of {chunk.total_bytes} bytes, largest "
                               f"accepted {self.max_input_bytes}", detail=chunk.total_bytes)

        def execute(replies):
            staged = self._staged.setdefault(chunk.request_id, {})
            self._staged.move_to_end(chunk.request_id)
            while len(self._staged) > STAGED_REQUESTS:
                self._staged.popitem(last=False)
            try:
                if chunk.index in staged:
                    staged[chunk.index].add(chunk)
                else:
                    staged[chunk.index] = TensorAssembler(chunk)
            except ChunkError as exc:
                raise CommandError(ErrorCode.BAD_ARGUMENT, str(exc), detail=chunk.index) from exc
        return execute

    def _run(self, data: bytes):
        (request_id,) = struct.unpack(">I", _exact(data, 4, "TC[200,2]"))

        def execute(replies):
            result = self._infer(request_id)
            self._results[request_id] = result
            self._results.move_to_end(request_id)
            while len(self._results) > self._result_cache:
                self._results.popitem(last=False)
            self._send_result(request_id, result, replies)
            if result.status:
                raise CommandError(ErrorCode(result.status), f"request {request_id} failed",
                                   detail=request_id)
        return execute

    def _infer(self, request_id: int) -> RunResult:
        """Runs staged inputs; raises CommandError for requests that cannot start and
        returns a failed RunResult for runs that started and failed."""
        specs = self.backend.input_specs()
        if specs is None:
            raise CommandError(ErrorCode.NO_MODEL, "no model is active")
        staged = self._staged.pop(request_id, None)
        if staged is None:
            raise CommandError(ErrorCode.UNKNOWN_REQUEST, f"request {request_id} has no staged inputs",
                               detail=request_id)
        feeds = []
        for index, (shape, dtype) in enumerate(specs):
            tensor = staged.get(index)
            if tensor is None or not tensor.complete:
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"request {request_id}: input {index} "
                                   f"{'missing' if tensor is None else 'incomplete'}", detail=index)
            if tensor.dtype != dtype_code(dtype):
                raise CommandError(ErrorCode.DTYPE_MISMATCH, f"input {index}: dtype code {tensor.dtype}, "
                                   f"model expects {dtype_code(dtype)}", detail=index)
            if tensor.dims != tuple(shape):
                raise CommandError(ErrorCode.SHAPE_MISMATCH, f"input {index}: dims {tensor.dims}, model "
                                   f"expects {tuple(shape)}", detail=index)
            feeds.append(tensor.array())
        if len(staged) > len(specs):
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"request {request_id}: {len(staged)} inputs, "
                               f"the model has {len(specs)}", detail=len(staged))
        before = self.backend.health().get("upsets_corrected", 0)
        start = self.monotonic()
        try:
            outputs = [self._wire_array(o) for o in self.backend.run(feeds)]
            status = 0
        except UncorrectableUpsetError:
            outputs, status = [], ErrorCode.UNCORRECTABLE_UPSET
        except CommandError as exc:
            outputs, status = [], exc.code
        latency_us = min(int((self.monotonic() - start) * 1e6), 0xFFFFFFFF)
        corrected = self.backend.health().get("upsets_corrected", 0) - before
        if status:
            self.counters.inferences_failed += 1
        else:
            self.counters.inferences_ok += 1
        crc = 0
        for output in outputs:
            crc = zlib.crc32(output.tobytes(), crc)
        return RunResult(int(status), latency_us, crc, corrected, outputs)

    @staticmethod
    def _wire_array(output) -> np.ndarray:
        """An output as it goes on the wire: little-endian, C order, a dtype with a code."""
        output = np.asarray(output)
        try:
            code = dtype_code(output.dtype)
        except ValueError as exc:
            raise CommandError(ErrorCode.INTERNAL, str(exc)) from exc
        return np.ascontiguousarray(output, dtype=DTYPE_CODES[code])

    def _send_result(self, request_id: int, result: RunResult, replies: List[Reply]) -> None:
        for index, output in enumerate(result.outputs):
            chunk_data = max_chunk_data(output.ndim, telemetry=True)
            for chunk in split_tensor(request_id, index, output, chunk_data):
                replies.append((Service.INFERENCE, 3, chunk.pack()))
        replies.append((Service.INFERENCE, 4, result.done_report(request_id)))

    def _resend(self, data: bytes):
        (request_id,) = struct.unpack(">I", _exact(data, 4, "TC[200,5]"))

        def execute(replies):
            result = self._results.get(request_id)
            if result is None:
                raise CommandError(ErrorCode.UNKNOWN_REQUEST, f"no cached result of request {request_id}",
                                   detail=request_id)
            self._send_result(request_id, result, replies)
        return execute

    # -- model slots ----------------------------------------------------------------

    def _begin_upload(self, data: bytes):
        slot, total = struct.unpack_from(">BI", _exact(data, 37, "TC[201,1]"))
        sha256 = data[5:]
        self.slots.check_slot(slot)
        return lambda replies: self.slots.begin(slot, total, sha256)

    def _upload_chunk(self, data: bytes):
        if len(data) < 5:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[201,2]: {len(data)} bytes, header needs 5")
        slot, offset = struct.unpack_from(">BI", data)
        self.slots.check_slot(slot)
        return lambda replies: self.slots.write(slot, offset, data[5:])

    def _commit(self, data: bytes):
        slot = _u8(data, "TC[201,3]")
        self.slots.check_slot(slot)

        def execute(replies):
            try:
                self.slots.commit(slot, self.backend.check_model)
            except CommandError as exc:
                self._events.append((EventId.MODEL_REJECTED, slot, exc.code))
                raise
        return execute

    def _slot_status(self, data: bytes):
        slot = _u8(data, "TC[201,4]")
        self.slots.check_slot(slot)

        def execute(replies):
            status = self.slots.status(slot)
            replies.append((Service.MODEL_SLOTS, 5, struct.pack(">BBI", slot, status.state, status.bytes)
                            + status.sha256))
        return execute

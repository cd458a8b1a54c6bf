"""The controller (ground/bench) side of the payload link: TCs out, TM in.

Reads like operations (F Prime's integration-test API): `ping()`, `hk()`,
`infer(inputs)`, `upload(slot, model)`, `activate(slot)`, `set_protection(mode)`,
`scrub()`, `reset_counters()`, each sending TCs and awaiting their reports.

Reliability (ICD §7): every TC asks for acceptance and completion reports by default.
A command is done when its completion report (and its expected reply, if any) has
arrived; if nothing completes it within `timeout` seconds (counted from the last packet
received, so long replies are not cut off), the TC is sent again with the same sequence
count (and, with authentication, a new counter), up to `retries` times. The runtime
recognises the duplicate and re-sends its reports without executing it again. A
failure report raises CommandFailed; lost output chunks of an inference are
re-requested with TC[200,5] and the result is checked against its CRC-32.
"""
import hashlib
import random
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .auth import TRAILER_LEN, CounterStore, sign
from .codes import (ACK_ACCEPTANCE, ACK_COMPLETION, HK_STRUCTURE_ID, HK_U8_FIELDS, HK_U32_FIELDS,
                    PROTECTION_MODES, ErrorCode, Function, Service, SlotState, Verification)
from .packets import DEFAULT_APID, MAX_PACKET, TC_OVERHEAD, SequenceCounter, TcPacket, TmPacket
from .slots import SlotStatus
from .tensors import TensorChunk, assemble, max_chunk_data, split_tensor
from .transport import PacketLink

DEFAULT_SOURCE_ID = 0x0042
UPLOAD_HEADER = 5  # slot u8 + offset u32
# progress(bytes_done, bytes_total): called as a transfer goes (the CLI draws it).
Progress = Callable[[int, int], None]


def reply_timeout(baud: int) -> float:
    """A TC's reply timeout for a line rate: twice the largest frame's time on the line
    (8N1: 10 bits a byte) plus 0.2 s of turnaround, and at least 0.5 s."""
    return max(0.5, 2 * (MAX_PACKET + 64) * 10 / baud + 0.2)


# TC names for messages (ICD §4, §6); TC[8,1] is named by its function ID.
TC_NAMES = {
    (Service.TEST, 1): "PING", (Service.HOUSEKEEPING, 27): "HK_REQUEST",
    (Service.INFERENCE, 1): "PUT_INPUT", (Service.INFERENCE, 2): "RUN", (Service.INFERENCE, 5): "RESEND_OUTPUTS",
    (Service.MODEL_SLOTS, 1): "BEGIN_UPLOAD", (Service.MODEL_SLOTS, 2): "UPLOAD_CHUNK",
    (Service.MODEL_SLOTS, 3): "COMMIT_UPLOAD", (Service.MODEL_SLOTS, 4): "SLOT_STATUS",
}

# What the u32 detail of a failure report holds, per error code ("{detail}" is its
# value), and per (TC name, code) where the TC decides it (runtime/link/services.py,
# slots.py). A code absent here sends 0.
DETAIL_MEANINGS = {
    ErrorCode.BAD_SERVICE: "service {detail}", ErrorCode.BAD_SUBTYPE: "service {detail}",
    ErrorCode.BAD_ARGUMENT: "the argument out of range: {detail}",
    ErrorCode.SHAPE_MISMATCH: "input {detail}", ErrorCode.DTYPE_MISMATCH: "input {detail}",
    ErrorCode.UNKNOWN_REQUEST: "request_id {detail}", ErrorCode.SLOT_BUSY: "slot {detail}",
    ErrorCode.HASH_MISMATCH: "slot {detail}", ErrorCode.MODEL_INVALID: "slot {detail}",
}
DETAIL_MEANINGS_BY_TC = {
    ("ACTIVATE_SLOT", ErrorCode.BAD_ARGUMENT): "slot {detail}",
    ("SET_PROTECTION", ErrorCode.BAD_ARGUMENT): "mode code {detail}",
    ("HK_REQUEST", ErrorCode.BAD_ARGUMENT): "structure ID {detail}",
    ("SLOT_STATUS", ErrorCode.BAD_ARGUMENT): "slot {detail}",
    ("BEGIN_UPLOAD", ErrorCode.BAD_ARGUMENT): "the slot or the model size in bytes: {detail}",
    ("UPLOAD_CHUNK", ErrorCode.BAD_ARGUMENT): "the slot or the chunk's offset: {detail}",
    ("COMMIT_UPLOAD", ErrorCode.BAD_ARGUMENT): "the slot, or the first byte not received: {detail}",
    ("PUT_INPUT", ErrorCode.BAD_ARGUMENT): "the input index or the declared size: {detail}",
    ("RUN", ErrorCode.BAD_ARGUMENT): "the input index or the number of inputs staged: {detail}",
    ("RUN", ErrorCode.UNCORRECTABLE_UPSET): "request_id {detail}",
    ("RUN", ErrorCode.INTERNAL): "request_id {detail}",
}

# What an operator does about each code; per (TC name, code) where the TC changes the
# answer. "{detail}" is the detail's value.
HINTS = {
    ErrorCode.BAD_SERVICE: "the runtime does not provide this service: check that both ends implement "
                           "the same ICD version (docs/icd.md)",
    ErrorCode.BAD_SUBTYPE: "the runtime does not provide this subtype: check that both ends implement "
                           "the same ICD version (docs/icd.md)",
    ErrorCode.BAD_LENGTH: "the TC's data does not match its layout: check that both ends implement the "
                          "same ICD version (docs/icd.md)",
    ErrorCode.BAD_ARGUMENT: "an argument is out of range: see the detail and docs/icd.md §4-§6",
    ErrorCode.AUTH_FAILED: "the TC's MAC does not verify: use the runtime's key (--key-file, the same key "
                           "as `radrt serve --key-file`)",
    ErrorCode.REPLAY: "the controller's counter is behind the runtime's: use --counter-file with a larger "
                      "value (e.g. nanoseconds since the epoch: date +%s%N)",
    ErrorCode.COUNTER_WINDOW: "the controller's counter is 2^56 or more ahead of the runtime's last accepted "
                              "one: use --counter-file with a smaller value (the recommended counter is "
                              "nanoseconds since the epoch: date +%s%N)",
    ErrorCode.NO_MODEL: "upload a model and activate it: radrt link upload/activate",
    ErrorCode.SHAPE_MISMATCH: "give input {detail} the active model's shape (radrt inspect MODEL shows it)",
    ErrorCode.DTYPE_MISMATCH: "give input {detail} the active model's dtype (radrt inspect MODEL shows it)",
    ErrorCode.UNKNOWN_REQUEST: "the runtime holds no staged inputs or result for this request of this "
                               "source ID: run the inference again (radrt link infer)",
    ErrorCode.SLOT_BUSY: "slot {detail} is the active slot and uploads never touch it: upload into "
                         "another slot (radrt link slot --slot N shows each slot's state)",
    ErrorCode.HASH_MISMATCH: "slot {detail}'s bytes do not match their SHA-256: upload the model again "
                             "(radrt link upload MODEL --slot {detail})",
    ErrorCode.MODEL_INVALID: "the model in slot {detail} does not load or uses an unsupported op: check it "
                             "on the ground (radrt inspect MODEL), then upload a model that loads",
    ErrorCode.UNCORRECTABLE_UPSET: "an upset the protection mode could not repair: run again; a stronger "
                                   "mode (radrt link mode tmr) and a scrub (radrt link scrub) help",
    ErrorCode.INTERNAL: "a fault in the runtime: keep radrt serve's log (stderr) and report it",
}
HINTS_BY_TC = {
    ("ACTIVATE_SLOT", ErrorCode.BAD_ARGUMENT): "only a committed slot can be activated: radrt link slot "
                                               "--slot {detail} shows its state; upload a model into it "
                                               "first: radrt link upload MODEL --slot {detail}",
    ("SET_PROTECTION", ErrorCode.BAD_ARGUMENT): "the runtime knows modes " + ", ".join(
        f"{code} {name}" for code, name in enumerate(PROTECTION_MODES)),
    ("HK_REQUEST", ErrorCode.BAD_ARGUMENT): "the runtime does not have this HK structure: check that both "
                                            "ends implement the same ICD version (docs/icd.md §5)",
    ("BEGIN_UPLOAD", ErrorCode.BAD_ARGUMENT): "use a slot the runtime has (radrt link slot --slot N) and a "
                                              "model no larger than it accepts",
    ("COMMIT_UPLOAD", ErrorCode.BAD_ARGUMENT): "the upload is not complete: run radrt link upload again, "
                                               "it resumes from what the runtime has",
    ("ACTIVATE_SLOT", ErrorCode.HASH_MISMATCH): "slot {detail} is damaged at rest and is never served: "
                                                "upload the model into it again (radrt link upload MODEL "
                                                "--slot {detail}), then activate it",
}
UNKNOWN_CODE_HINT = "a code this controller does not know: check that both ends implement the same ICD version"


def tc_name(service: int, subtype: int, data: bytes = b"") -> str:
    """`ACTIVATE_SLOT (TC[8,1])`: the TC's name (TC[8,1]: its function's) and numbers."""
    name = TC_NAMES.get((service, subtype))
    if (service, subtype) == (Service.FUNCTIONS, 1) and len(data) >= 2:
        function_id = struct.unpack_from(">H", data)[0]
        try:
            name = Function(function_id).name
        except ValueError:
            name = f"FUNCTION {function_id}"
    return f"{name} (TC[{service},{subtype}])" if name else f"TC[{service},{subtype}]"


def _seconds(value: float) -> str:
    """0.9222 → '0.92', 3.0 → '3': seconds for a person."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


class LinkTimeout(Exception):
    """No completion after every retry. The message says where the controller looked
    (APID, port, baud rate) and what to check."""

    def __init__(self, message: str, *, tc: str = "", seq_count: Optional[int] = None):
        super().__init__(message)
        self.tc, self.seq_count = tc, seq_count

    def as_dict(self) -> Dict[str, object]:
        return {"error": "LinkTimeout", "tc": self.tc, "seq_count": self.seq_count, "message": str(self)}


class CommandFailed(Exception):
    """The runtime answered with a failure report (TM[1,2] or TM[1,8]). The message
    names the TC, its request (sequence count), the stage, the code (name and number),
    the detail with its meaning, and what to do (HINTS)."""

    def __init__(self, service: int, subtype: int, stage: str, code: int, detail: int, *,
                 data: bytes = b"", seq_count: Optional[int] = None):
        self.service, self.subtype, self.stage, self.code, self.detail = service, subtype, stage, code, detail
        self.seq_count = seq_count
        self.tc = tc_name(service, subtype, data)
        bare = self.tc.split(" (")[0]
        try:
            known: Optional[ErrorCode] = ErrorCode(code)
            self.code_name = known.name
        except ValueError:
            known, self.code_name = None, f"unknown code {code}"
        meaning = DETAIL_MEANINGS_BY_TC.get((bare, known)) or DETAIL_MEANINGS.get(known)
        self.detail_meaning = meaning.format(detail=detail) if meaning else None
        hint = HINTS_BY_TC.get((bare, known)) or HINTS.get(known) or UNKNOWN_CODE_HINT
        self.hint = hint.format(detail=detail)
        request = f", request seq {seq_count}," if seq_count is not None else ""
        detail_text = f"detail {detail}" + (f" = {self.detail_meaning}" if self.detail_meaning else "")
        super().__init__(f"{self.tc}{request} failed at {stage}: {self.code_name} (code {code}), "
                         f"{detail_text}. What to do: {self.hint}")

    def as_dict(self) -> Dict[str, object]:
        return {"error": "CommandFailed", "tc": self.tc, "seq_count": self.seq_count, "stage": self.stage,
                "code": self.code, "code_name": self.code_name, "detail": self.detail,
                "detail_meaning": self.detail_meaning, "hint": self.hint, "message": str(self)}


@dataclass
class InferenceResult:
    request_id: int
    outputs: List[np.ndarray]
    latency_us: int
    corrected_during_run: int
    resends: int  # TC[200,5] needed to recover lost output chunks


class Controller:
    def __init__(self, link: PacketLink, *, apid: int = DEFAULT_APID,
                 source_id: int = DEFAULT_SOURCE_ID, key: Optional[bytes] = None,
                 counter: Optional[CounterStore] = None, timeout: float = 2.0, retries: int = 3,
                 ack_flags: int = ACK_ACCEPTANCE | ACK_COMPLETION, port_name: Optional[str] = None,
                 baud: Optional[int] = None):
        """`port_name` and `baud` only describe the line in LinkTimeout's message."""
        if not ack_flags & ACK_COMPLETION:
            raise ValueError("the controller needs completion reports to know when a TC is done")
        self.link = link
        self.apid, self.source_id, self.key = apid, source_id, key
        self.counter = counter if counter is not None else CounterStore(initial=time.time_ns())
        self.timeout, self.retries, self.ack_flags = timeout, retries, ack_flags
        self.port_name, self.baud = port_name, baud
        self.sequence = SequenceCounter()
        self.events: List[TmPacket] = []   # TM[5,x] received, oldest first
        self.sent_attempts = 0             # TCs put on the line, retries included
        self._request_ids = random.Random().getrandbits(32)

    # -- one TC ---------------------------------------------------------------------

    def command(self, service: int, subtype: int, data: bytes = b"",
                expect: Optional[Tuple[int, int]] = None) -> List[TmPacket]:
        """Sends a TC and returns the non-verification TM received for it (all
        attempts). Raises CommandFailed or LinkTimeout."""
        tc = TcPacket(service, subtype, bytes(data), self.apid, self.sequence.next(),
                      self.source_id, self.ack_flags)
        request_id = tc.request_id
        replies: List[TmPacket] = []
        for _attempt in range(self.retries + 1):
            raw = sign(tc, self.key, self.counter.next()) if self.key else tc.pack()
            self.link.send(raw)
            self.sent_attempts += 1
            if self._await_completion(tc, request_id, replies, expect):
                return replies
        name = tc_name(service, subtype, tc.app_data)
        port = self.port_name or "the link"
        baud = f" ({self.baud})" if self.baud else ""
        raise LinkTimeout(f"{name} seq {tc.seq_count}: no completion from APID 0x{self.apid:03X} on {port} "
                          f"after {self.retries + 1} attempts of {_seconds(self.timeout)} s: check the port, "
                          f"the baud rate{baud} and the APID; is `radrt serve` running?",
                          tc=name, seq_count=tc.seq_count)

    def _await_completion(self, tc: TcPacket, request_id: bytes, replies: List[TmPacket],
                          expect: Optional[Tuple[int, int]]) -> bool:
        while True:
            tm = self.link.receive(self.timeout)
            if tm is None:
                return False
            if tm.service == Service.EVENTS:
                self.events.append(tm)
            elif tm.service != Service.VERIFICATION:
                replies.append(tm)
            elif tm.source_data[:4] == request_id:
                if tm.subtype in (Verification.ACCEPTANCE_FAILURE, Verification.COMPLETION_FAILURE):
                    code, detail = struct.unpack_from(">HI", tm.source_data, 4)
                    stage = "acceptance" if tm.subtype == Verification.ACCEPTANCE_FAILURE else "completion"
                    raise CommandFailed(tc.service, tc.subtype, stage, code, detail, data=tc.app_data,
                                        seq_count=tc.seq_count)
                if tm.subtype == Verification.COMPLETION_SUCCESS:
                    # The expected reply precedes the completion report; if it is
                    # missing it was lost, and a retry makes the runtime re-send it.
                    return expect is None or any((r.service, r.subtype) == expect for r in replies)

    # -- operations -----------------------------------------------------------------

    def ping(self) -> float:
        """Round-trip seconds of an are-you-alive."""
        start = time.monotonic()
        self.command(Service.TEST, 1, expect=(Service.TEST, 2))
        return time.monotonic() - start

    def hk(self) -> Dict[str, int]:
        replies = self.command(Service.HOUSEKEEPING, 27, struct.pack(">H", HK_STRUCTURE_ID),
                               expect=(Service.HOUSEKEEPING, 25))
        report = [r for r in replies if (r.service, r.subtype) == (Service.HOUSEKEEPING, 25)][-1]
        data = report.source_data
        n32 = len(HK_U32_FIELDS)
        expected = 2 + 4 * n32 + len(HK_U8_FIELDS)
        if len(data) != expected:
            raise ValueError(f"TM[3,25] of {len(data)} bytes, structure 1 has {expected}")
        values = struct.unpack_from(f">H{n32}I{len(HK_U8_FIELDS)}B", data)
        return dict(zip(HK_U32_FIELDS + HK_U8_FIELDS, values[1:]))

    def function(self, function_id: int, args: bytes = b"") -> None:
        self.command(Service.FUNCTIONS, 1, struct.pack(">H", function_id) + args)

    def set_protection(self, mode: Union[str, int]) -> None:
        code = PROTECTION_MODES.index(mode) if isinstance(mode, str) else mode
        self.function(Function.SET_PROTECTION, bytes([code]))

    def scrub(self) -> None:
        self.function(Function.SCRUB_NOW)

    def activate(self, slot: int) -> None:
        self.function(Function.ACTIVATE_SLOT, bytes([slot]))

    def reset_counters(self) -> None:
        self.function(Function.RESET_COUNTERS)

    def infer(self, inputs: Sequence[np.ndarray], request_id: Optional[int] = None,
              progress: Optional[Progress] = None) -> InferenceResult:
        """Uploads the inputs, runs, collects and checks the outputs (CRC-32 of all
        output bytes), re-requesting them with TC[200,5] while any are missing.
        `progress(bytes_sent, input_bytes)` is called after each input chunk."""
        if request_id is None:
            self._request_ids = (self._request_ids + 1) & 0xFFFFFFFF
            request_id = self._request_ids
        trailer = TRAILER_LEN if self.key else 0
        total, sent = sum(np.asarray(a).nbytes for a in inputs), 0
        for index, array in enumerate(inputs):
            array = np.asarray(array)
            for chunk in split_tensor(request_id, index, array,
                                      max_chunk_data(array.ndim, telemetry=False, trailer=trailer)):
                self.command(Service.INFERENCE, 1, chunk.pack())
                sent += len(chunk.data)
                if progress is not None:
                    progress(sent, total)
        rid = struct.pack(">I", request_id)
        replies = self.command(Service.INFERENCE, 2, rid)
        for resends in range(self.retries + 1):
            result = self._collect(request_id, replies, resends)
            if result is not None:
                return result
            replies = replies + self.command(Service.INFERENCE, 5, rid)
        raise LinkTimeout(f"request {request_id}: outputs incomplete or CRC mismatch after "
                          f"{self.retries} re-sends")

    def _collect(self, request_id: int, replies: List[TmPacket], resends: int) -> Optional[InferenceResult]:
        chunks, done = [], None
        for tm in replies:
            if tm.service != Service.INFERENCE:
                continue
            if tm.subtype == 3:
                chunk = TensorChunk.unpack(tm.source_data)
                if chunk.request_id == request_id:
                    chunks.append(chunk)
            elif tm.subtype == 4 and struct.unpack_from(">I", tm.source_data)[0] == request_id:
                done = struct.unpack(">IHIIH", tm.source_data)
        if done is None:
            return None
        _, status, latency_us, crc, corrected = done
        tensors = assemble(chunks)
        if sorted(tensors) != list(range(len(tensors))) or not all(t.complete for t in tensors.values()):
            return None
        outputs = [tensors[i].array() for i in range(len(tensors))]
        got = 0
        for output in outputs:
            got = zlib.crc32(output.tobytes(), got)
        if got != crc:
            return None
        return InferenceResult(request_id, outputs, latency_us, corrected, resends)

    def slot_status(self, slot: int) -> SlotStatus:
        replies = self.command(Service.MODEL_SLOTS, 4, bytes([slot]), expect=(Service.MODEL_SLOTS, 5))
        data = [r for r in replies if (r.service, r.subtype) == (Service.MODEL_SLOTS, 5)][-1].source_data
        number, state, size = struct.unpack_from(">BBI", data)
        return SlotStatus(number, SlotState(state), size, data[6:38])

    def upload(self, slot: int, model: bytes, resume: bool = True,
               progress: Optional[Progress] = None) -> SlotStatus:
        """Begin, chunks, commit. With `resume`, an upload of the same model already in
        progress on the slot continues from the bytes the runtime reports received.
        `progress(bytes_on_the_runtime, model_bytes)` is called after the begin (with
        the resumed bytes) and after each chunk."""
        sha256 = hashlib.sha256(model).digest()
        start = 0
        if resume:
            status = self.slot_status(slot)
            if status.state == SlotState.RECEIVING and status.sha256 == sha256:
                start = status.bytes
        self.command(Service.MODEL_SLOTS, 1, struct.pack(">BI", slot, len(model)) + sha256)
        if progress is not None:
            progress(start, len(model))
        step = MAX_PACKET - TC_OVERHEAD - (TRAILER_LEN if self.key else 0) - UPLOAD_HEADER
        for offset in range(start, len(model), step):
            self.command(Service.MODEL_SLOTS, 2, struct.pack(">BI", slot, offset) + model[offset:offset + step])
            if progress is not None:
                progress(min(offset + step, len(model)), len(model))
        self.command(Service.MODEL_SLOTS, 3, bytes([slot]))
        return self.slot_status(slot)

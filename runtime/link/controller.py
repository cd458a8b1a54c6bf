"""The controller (ground/bench) side of the payload link: TCs out, TM in.

Reads like operations (F Prime's integration-test API): `ping()`, `hk()`,
`infer(inputs)`, `upload(slot, model)`, `activate(slot)`, `set_protection(mode)`,
`scrub()`, `reset_counters()`, each sending TCs and awaiting their reports.

Reliability (docs/icd.md §4, §7): every TC asks for acceptance and completion reports
by default. A command is done when its completion report (and its expected reply, if
any) has arrived; if nothing completes it within `timeout` seconds (counted from the
last packet received, so long replies are not cut off), the identical packet is sent
again, up to `retries` times: the runtime recognises the duplicate and re-sends its
reports without executing it again. Chunks of an input or a model upload go as a
window of TCs sent back to back, so one timeout covers every chunk lost in the window;
with authentication their retries are signed again with fresh counters (later TCs of
the window moved the runtime's counter on, so the identical packet would be a REPLAY;
the chunks are idempotent, so running one twice is harmless). The runtime answers TCs
in the order they arrive, so a report of a later TC of the window means an earlier one
still pending was lost (or its reports were): it is sent again at once, not after a
timeout. `chunk_bytes` caps the data of an input chunk, of a re-sent output range, and
the ranges of one TC[200,5] (9 bytes each): on a noisy line a smaller frame is lost
less often (a 4 KiB frame is hit with probability 1 - (1 - BER)^(8 x 4114): 28% at
BER 1e-5, 2.4% for a 256-byte chunk's 302 bytes).

An inference is accepted only when TM[200,4]'s crc32 matches the outputs received and
its input_crc32 the inputs sent (ICD v2 §4): a lost output chunk is recovered with a
TC[200,5] asking only its byte ranges; a wrong input_crc32 (an uplink error CRC-16 did
not see) stages and runs the inputs again under a new request_id.
"""
import hashlib
import random
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .auth import TRAILER_LEN, CounterStore, controller_counter, sign
from .catalogue import (ACK_ACCEPTANCE, ACK_COMPLETION, HK_STRUCTURE_ID, HK_STRUCTURES, ICD_VERSION,
                        MESSAGES, PROTECTION_MODES, RESEND_RANGE, ErrorCode, Function, Service, SlotState,
                        Verification, message)
from .packets import DEFAULT_APID, MAX_PACKET, SEQ_COUNT_MODULO, TC_OVERHEAD, SequenceCounter, TcPacket, TmPacket
from .slots import SlotStatus
from .tensors import DTYPE_CODES, ByteRanges, ChunkError, TensorChunk, max_chunk_data, split_tensor
from .transport import PacketLink

DEFAULT_SOURCE_ID = 0x0042
UPLOAD_HEADER = 5  # slot u8 + offset u32


def reply_timeout(baud: int) -> float:
    """A TC's reply timeout for a line rate: twice the largest frame's time on the line
    (8N1: 10 bits a byte) plus 0.2 s of turnaround, and at least 0.5 s."""
    return max(0.5, 2 * (MAX_PACKET + 64) * 10 / baud + 0.2)


# TC names for messages: the catalogue's (docs/icd.md §4); TC[8,1] is named by its
# function ID (§6).
TC_NAMES = {key: m.name for key, m in MESSAGES.items() if m.direction == "TC"}

# What the u32 detail of a failure report holds, per error code ("{detail}" is its
# value), and per (TC name, code) where the TC decides it (runtime/link/services/,
# slots.py). A code absent here sends 0.
DETAIL_MEANINGS = {
    ErrorCode.BAD_SERVICE: "service {detail}", ErrorCode.BAD_SUBTYPE: "service {detail}",
    ErrorCode.BAD_LENGTH: "{detail} data bytes",
    ErrorCode.BAD_ARGUMENT: "the argument out of range: {detail}",
    ErrorCode.SHAPE_MISMATCH: "input {detail}", ErrorCode.DTYPE_MISMATCH: "input {detail}",
    ErrorCode.UNKNOWN_REQUEST: "request_id {detail}", ErrorCode.SLOT_BUSY: "slot {detail}",
    ErrorCode.HASH_MISMATCH: "slot {detail}", ErrorCode.MODEL_INVALID: "slot {detail}",
}
DETAIL_MEANINGS_BY_TC = {
    ("ACTIVATE_SLOT", ErrorCode.BAD_ARGUMENT): "slot {detail}",
    ("SET_PROTECTION", ErrorCode.BAD_ARGUMENT): "mode code {detail}",
    ("HK_REQUEST", ErrorCode.BAD_ARGUMENT): "structure ID {detail}",
    ("SLOT_STATUS_REQUEST", ErrorCode.BAD_ARGUMENT): "slot {detail}",
    ("BEGIN_UPLOAD", ErrorCode.BAD_ARGUMENT): "the slot or the model size in bytes: {detail}",
    ("UPLOAD_CHUNK", ErrorCode.BAD_ARGUMENT): "the slot or the chunk's offset: {detail}",
    ("COMMIT", ErrorCode.BAD_ARGUMENT): "the slot, or the first byte not received: {detail}",
    ("PUT_INPUT_CHUNK", ErrorCode.BAD_ARGUMENT): "the input index or the chunk's offset: {detail}",
    ("PUT_INPUT_CHUNK", ErrorCode.BAD_LENGTH): "input {detail}, or the TC's data bytes",
    ("RESEND_OUTPUTS", ErrorCode.BAD_ARGUMENT): "the output index or the range's offset: {detail}",
    ("RUN", ErrorCode.BAD_ARGUMENT): "the input missing or incomplete, or the number of inputs staged: "
                                     "{detail}",
    ("RUN", ErrorCode.UNCORRECTABLE_UPSET): "request_id {detail}",   # TM[200,4] status
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
                      "value (radrt's controllers count microseconds since the epoch: date +%s%6N > FILE)",
    ErrorCode.COUNTER_WINDOW: "the controller's counter is 2^56 or more ahead of the runtime's last accepted "
                              "one: use --counter-file with a smaller value (radrt's controllers count "
                              "microseconds since the epoch: date +%s%6N > FILE)",
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
    ("HK_REQUEST", ErrorCode.BAD_ARGUMENT): "the runtime does not have HK structure {detail}: an ICD v1 "
                                            "runtime has only structure 1 (radrt link hk --structure 1); "
                                            "see docs/icd.md §5",
    ("BEGIN_UPLOAD", ErrorCode.BAD_ARGUMENT): "use a slot the runtime has (radrt link slot --slot N) and a "
                                              "model no larger than it accepts",
    ("COMMIT", ErrorCode.BAD_ARGUMENT): "the upload is not complete: run radrt link upload again, "
                                        "it resumes from what the runtime has",
    ("PUT_INPUT_CHUNK", ErrorCode.BAD_LENGTH): "the declared size of input {detail} differs from the "
                                               "active model's (or the chunk's header is cut short): give "
                                               "inputs of the model's shape and dtype (radrt inspect MODEL)",
    ("ACTIVATE_SLOT", ErrorCode.HASH_MISMATCH): "slot {detail} is damaged at rest and is never served: "
                                                "upload the model into it again (radrt link upload MODEL "
                                                "--slot {detail}), then activate it",
}
UNKNOWN_CODE_HINT = "a code this controller does not know: check that both ends implement the same ICD version"


def tc_name(service: int, subtype: int, data: bytes = b"") -> str:
    """`ACTIVATE_SLOT (TC[8,1])`: the TC's name (TC[8,1]: its function's) and numbers."""
    name: Optional[str] = TC_NAMES.get((service, subtype))
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


class InputCorrupted(Exception):
    """Every run of an inference reported an input_crc32 other than the inputs sent."""


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


class IcdMismatch(Exception):
    """The runtime speaks another ICD version than this controller (TM[17,2])."""


@dataclass
class InferenceResult:
    request_id: int
    outputs: List[np.ndarray]
    latency_us: int
    corrected_during_run: int
    resends: int            # TC[200,5] needed to recover lost output chunks
    input_crc32: int        # as the runtime reported it, equal to the inputs sent
    input_reruns: int = 0   # runs repeated because input_crc32 did not match the inputs sent


RESULT_DONE = message(Service.INFERENCE, 4)
ALIVE = message(Service.TEST, 2)
WINDOW = 32  # TCs of one window of chunks (< the runtime's 64-TC duplicate window)


_SEQUENCE_BLOCK = 1024
_next_sequence_start = random.Random().getrandbits(14)


def _sequence_start() -> int:
    """A new Controller's first sequence count: random per process, then 1024 further per
    instance, so two controllers of one source (a script run twice, two objects) do not
    send byte-identical packets that the runtime would take for duplicates (ICD §7)."""
    global _next_sequence_start
    start = _next_sequence_start
    _next_sequence_start = (start + _SEQUENCE_BLOCK) % SEQ_COUNT_MODULO
    return start


class PersistedSequence(SequenceCounter):
    """The sequence count of a controller that runs one process per command (`radrt
    link`): counts are reserved in `store` (a CounterStore) a window ahead before they
    are used, so even a process killed at any moment never makes its successor reuse a
    count among the runtime's last 64 (ICD §7). `close()` stores the next unused count."""

    def __init__(self, store: CounterStore, window: int = 64):
        self.store, self.window = store, window
        self._count = self._reserved = store.value
        super().__init__(store.value)

    def next(self) -> int:
        if self._count >= self._reserved:
            self._reserved = self._count + self.window
            self.store.store(self._reserved)
        value, self._count = self._count, self._count + 1
        return value % SEQ_COUNT_MODULO

    def close(self) -> None:
        self.store.store(self._count)


class Controller:
    def __init__(self, link: PacketLink, *, apid: int = DEFAULT_APID,
                 source_id: int = DEFAULT_SOURCE_ID, key: Optional[bytes] = None,
                 counter: Optional[CounterStore] = None, timeout: float = 2.0, retries: int = 3,
                 resend_rounds: int = 8, ack_flags: int = ACK_ACCEPTANCE | ACK_COMPLETION,
                 port_name: Optional[str] = None, baud: Optional[int] = None,
                 chunk_bytes: Optional[int] = None):
        """`port_name` and `baud` only describe the line in LinkTimeout's message;
        `chunk_bytes` caps input chunks and re-sent output ranges (module docstring)."""
        if not ack_flags & ACK_COMPLETION:
            raise ValueError("the controller needs completion reports to know when a TC is done")
        if chunk_bytes is not None and chunk_bytes < 1:
            raise ValueError(f"chunk_bytes {chunk_bytes}, expected >= 1 (None: the largest a packet holds)")
        self.link = link
        self.apid, self.source_id, self.key = apid, source_id, key
        self.counter = counter if counter is not None else controller_counter()
        self.timeout, self.retries, self.ack_flags = timeout, retries, ack_flags
        self.resend_rounds = resend_rounds
        self.chunk_bytes = chunk_bytes
        self.port_name, self.baud = port_name, baud
        self.sequence = SequenceCounter(_sequence_start())
        self.events: List[TmPacket] = []   # TM[5,x] received, oldest first
        self.sent_attempts = 0             # TCs put on the line, retries included
        self._request_ids = random.Random().getrandbits(32)

    # -- TCs ------------------------------------------------------------------------

    def _raw(self, tc: TcPacket) -> bytes:
        return sign(tc, self.key, self.counter.next()) if self.key else tc.pack()

    def command(self, service: int, subtype: int, data: bytes = b"",
                expect: Optional[Tuple[int, int]] = None) -> List[TmPacket]:
        """Sends a TC and returns the non-verification TM received for it (all
        attempts). Raises CommandFailed or LinkTimeout."""
        return self.commands([(service, subtype, bytes(data))], expect=expect)

    def commands(self, tcs: Sequence[Tuple[int, int, bytes]], expect: Optional[Tuple[int, int]] = None,
                 idempotent: bool = False,
                 progress: Optional[Callable[[TcPacket], None]] = None) -> List[TmPacket]:
        """Sends the TCs back to back and waits until each has completed; retries the
        ones that have not (see the module docstring). `progress(tc)` is called with
        each TC as it completes. Returns the non-verification TM received meanwhile."""
        packets = [TcPacket(service, subtype, data, self.apid, self.sequence.next(), self.source_id,
                            self.ack_flags) for service, subtype, data in tcs]
        pending: Dict[bytes, Tuple[TcPacket, bytes]] = {tc.request_id: (tc, self._raw(tc)) for tc in packets}
        replies: List[TmPacket] = []
        sends: Dict[bytes, int] = {}      # request ID -> times sent
        last_sent: Dict[bytes, int] = {}  # request ID -> sent_attempts at its latest send

        def send(request_id: bytes) -> None:
            tc, raw = pending[request_id]
            if sends.get(request_id) and idempotent and self.key:
                raw = self._raw(tc)  # a new TC: harmless if the first one did execute
                pending[request_id] = (tc, raw)
            self.link.send(raw)
            self.sent_attempts += 1
            sends[request_id] = sends.get(request_id, 0) + 1
            last_sent[request_id] = self.sent_attempts

        def answered(request_id: bytes) -> None:
            for earlier in [r for r in pending if last_sent[r] < last_sent[request_id] and sends[r] <= self.retries]:
                send(earlier)

        for request_id in list(pending):
            send(request_id)
        while True:
            self._await(pending, replies, expect, progress, answered)
            if not pending:
                return replies
            again = [r for r in pending if sends[r] <= self.retries]
            if not again:
                break
            for request_id in again:
                send(request_id)
        tc = next(iter(pending.values()))[0]
        name = tc_name(tc.service, tc.subtype, tc.app_data)
        port = self.port_name or "the link"
        baud = f" ({self.baud})" if self.baud else ""
        raise LinkTimeout(f"{name} seq {tc.seq_count}: no completion from APID 0x{self.apid:03X} on {port} "
                          f"after {self.retries + 1} attempts of {_seconds(self.timeout)} s: check the port, "
                          f"the baud rate{baud} and the APID; is `radrt serve` running?",
                          tc=name, seq_count=tc.seq_count)

    def _await(self, pending: Dict[bytes, Tuple[TcPacket, bytes]], replies: List[TmPacket],
               expect: Optional[Tuple[int, int]],
               progress: Optional[Callable[[TcPacket], None]],
               answered: Callable[[bytes], None] = lambda request_id: None) -> None:
        """Receives until every pending TC has completed or the line stays quiet for
        `timeout` s; completed TCs leave `pending`. `answered(request_id)` is called on
        each report of a pending TC."""
        while pending:
            tm = self.link.receive(self.timeout)
            if tm is None:
                return
            if tm.service == Service.EVENTS:
                self.events.append(tm)
                continue
            if tm.service != Service.VERIFICATION:
                replies.append(tm)
                continue
            request_id = tm.source_data[:4]
            if request_id not in pending:
                continue  # a late report of a TC already done
            tc = pending[request_id][0]
            answered(request_id)
            if tm.subtype in (Verification.ACCEPTANCE_FAILURE, Verification.COMPLETION_FAILURE):
                code, detail = struct.unpack_from(">HI", tm.source_data, 4)
                stage = "acceptance" if tm.subtype == Verification.ACCEPTANCE_FAILURE else "completion"
                raise CommandFailed(tc.service, tc.subtype, stage, code, detail, data=tc.app_data,
                                    seq_count=tc.seq_count)
            if tm.subtype == Verification.COMPLETION_SUCCESS:
                # The expected reply precedes the completion report; if it is missing it
                # was lost, and a retry makes the runtime re-send it.
                if expect is None or any((r.service, r.subtype) == expect for r in replies):
                    del pending[request_id]
                    if progress is not None:
                        progress(tc)

    # -- operations -----------------------------------------------------------------

    def ping(self) -> float:
        """Round-trip seconds of an are-you-alive. Raises IcdMismatch when the runtime
        reports another ICD version."""
        start = time.monotonic()
        replies = self.command(Service.TEST, 1, expect=(Service.TEST, 2))
        elapsed = time.monotonic() - start
        alive = [r for r in replies if (r.service, r.subtype) == (Service.TEST, 2)][-1]
        if len(alive.source_data) != ALIVE.struct.size or alive.source_data[0] != ICD_VERSION:
            raise IcdMismatch(f"the runtime answered TM[17,2] with data {alive.source_data.hex() or '(none)'}; "
                              f"this controller speaks ICD v{ICD_VERSION} (data {ICD_VERSION:02x})")
        return elapsed

    def hk(self, structure: int = HK_STRUCTURE_ID) -> Dict[str, int]:
        """One housekeeping report, decoded by name (catalogue.HK_STRUCTURES; numbers as
        on the wire: catalogue.hk_names gives enumerations their names)."""
        if structure not in HK_STRUCTURES:
            raise ValueError(f"HK structure {structure} unknown; known {sorted(HK_STRUCTURES)}")
        replies = self.command(Service.HOUSEKEEPING, 27, struct.pack(">H", structure),
                               expect=(Service.HOUSEKEEPING, 25))
        report = [r for r in replies if (r.service, r.subtype) == (Service.HOUSEKEEPING, 25)][-1]
        return HK_STRUCTURES[structure].unpack(report.source_data)

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

    def _new_request_id(self) -> int:
        self._request_ids = (self._request_ids + 1) & 0xFFFFFFFF
        return self._request_ids

    def infer(self, inputs: Sequence[np.ndarray], request_id: Optional[int] = None,
              progress: Optional[Callable[[int], None]] = None) -> InferenceResult:
        """Stages the inputs, runs, collects and checks the outputs (see the module
        docstring). `progress(n)` is called as n more input bytes are staged.
        Raises CommandFailed, LinkTimeout, or InputCorrupted after `retries` re-runs
        that all came back with a wrong input_crc32."""
        inputs = [np.asarray(a) for a in inputs]
        sent_crc = 0
        for array in inputs:
            sent_crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), sent_crc)
        trailer = TRAILER_LEN if self.key else 0
        for rerun in range(self.retries + 1):
            rid = request_id if request_id is not None and rerun == 0 else self._new_request_id()
            chunks = [(Service.INFERENCE, 1, chunk.pack()) for index, array in enumerate(inputs)
                      for chunk in split_tensor(rid, index, array, self._chunk_data(array.ndim, trailer))]
            for at in range(0, len(chunks), WINDOW):
                self.commands(chunks[at:at + WINDOW], idempotent=True, progress=None if progress is None else
                              (lambda tc: progress(len(TensorChunk.unpack(tc.app_data).data))))
            replies = self.command(Service.INFERENCE, 2, struct.pack(">I", rid))
            result = self._collect(rid, replies)
            if result.input_crc32 == sent_crc:
                result.input_reruns = rerun
                return result
        raise InputCorrupted(f"request {rid}: the runtime ran inputs whose CRC-32 {result.input_crc32:08x} "
                             f"differs from the inputs sent ({sent_crc:08x}) on {self.retries + 1} "
                             f"attempts: the uplink corrupts data its CRC-16 does not catch")

    def _chunk_data(self, rank: int, trailer: int) -> int:
        largest = max_chunk_data(rank, telemetry=False, trailer=trailer)
        return min(largest, self.chunk_bytes or largest)

    def _collect(self, request_id: int, replies: List[TmPacket]) -> InferenceResult:
        """Assembles the outputs of `request_id` from `replies`, asking TC[200,5] for
        what is missing: the byte ranges lost when the outputs' sizes are known, every
        output when TM[200,4] was lost or the outputs fail its crc32."""
        received: Dict[int, Tuple[TensorChunk, bytearray, "ByteRanges"]] = {}
        done = None
        for resends in range(self.resend_rounds + 1):
            for tm in replies:
                if tm.service != Service.INFERENCE:
                    continue
                if tm.subtype == 3:
                    try:
                        chunk = TensorChunk.unpack(tm.source_data)
                    except ChunkError:  # a header error CRC-16 missed: its bytes are asked again
                        continue
                    if chunk.request_id != request_id:
                        continue
                    if chunk.index not in received:
                        received[chunk.index] = (chunk, bytearray(chunk.total_bytes), ByteRanges(chunk.total_bytes))
                    first, buffer, ranges = received[chunk.index]
                    if (chunk.dtype, chunk.dims, chunk.total_bytes) == (first.dtype, first.dims, first.total_bytes):
                        buffer[chunk.offset:chunk.offset + len(chunk.data)] = chunk.data
                        ranges.add(chunk.offset, len(chunk.data))
                elif tm.subtype == 4 and struct.unpack_from(">I", tm.source_data)[0] == request_id:
                    done = RESULT_DONE.unpack(tm.source_data)
            ranges_missing = self._missing(received, self.chunk_bytes)
            if done is not None and ranges_missing == []:
                if done["status"]:
                    raise CommandFailed(Service.INFERENCE, 2, "completion", done["status"], request_id)
                outputs = [np.frombuffer(bytes(received[i][1]), dtype=DTYPE_CODES[received[i][0].dtype])
                           .reshape(received[i][0].dims).copy() for i in range(len(received))]
                if zlib.crc32(b"".join(bytes(received[i][1]) for i in range(len(received)))) == done["crc32"]:
                    return InferenceResult(request_id, outputs, done["latency_us"], done["corrected_during_run"],
                                           resends, done["input_crc32"])
                received.clear()   # a corrupted chunk that passed CRC-16: take everything again
                ranges_missing = None
            if resends == self.resend_rounds:
                break
            data = struct.pack(">I", request_id)
            limit = (MAX_PACKET - TC_OVERHEAD - (TRAILER_LEN if self.key else 0) - 4) // RESEND_RANGE.size
            if self.chunk_bytes:  # a long TC[200,5] would itself be lost on the line that needs it
                limit = min(limit, max(1, self.chunk_bytes // RESEND_RANGE.size))
            if ranges_missing == []:
                ranges_missing = [(0, 0, 0)]  # outputs complete, TM[200,4] lost: ask it alone
            for index, offset, length in (ranges_missing or [])[:limit]:
                data += RESEND_RANGE.pack(index, offset, length)
            replies = self.command(Service.INFERENCE, 5, data)
        raise LinkTimeout(f"request {request_id}: outputs incomplete or CRC mismatch after "
                          f"{self.resend_rounds} re-sends")

    @staticmethod
    def _missing(received, piece: Optional[int] = None) -> Optional[List[Tuple[int, int, int]]]:
        """Byte ranges (output_index, offset, length) of the outputs seen that are still
        missing, cut in pieces of at most `piece` bytes; None when no output was seen or
        an index was skipped (an output lost whole: only a full re-send brings it)."""
        if not received or sorted(received) != list(range(len(received))):
            return None
        return [(i, at, min(piece or b - a, b - at)) for i in sorted(received)
                for a, b in received[i][2].missing() for at in range(a, b, piece or b - a)]

    def slot_status(self, slot: int) -> SlotStatus:
        replies = self.command(Service.MODEL_SLOTS, 4, bytes([slot]), expect=(Service.MODEL_SLOTS, 5))
        data = [r for r in replies if (r.service, r.subtype) == (Service.MODEL_SLOTS, 5)][-1].source_data
        status = message(Service.MODEL_SLOTS, 5).unpack(data)
        return SlotStatus(status["slot"], SlotState(status["state"]), status["bytes"], status["sha256"])

    def upload(self, slot: int, model: bytes, resume: bool = True,
               progress: Optional[Callable[[int], None]] = None) -> SlotStatus:
        """Begin, chunks, commit. With `resume`, an upload of the same model already in
        progress on the slot continues from the bytes the runtime reports received.
        `progress(n)` is called as n more bytes are acknowledged."""
        sha256 = hashlib.sha256(model).digest()
        start = 0
        if resume:
            status = self.slot_status(slot)
            if status.state == SlotState.RECEIVING and status.sha256 == sha256:
                start = status.bytes
        self.command(Service.MODEL_SLOTS, 1, struct.pack(">BI", slot, len(model)) + sha256)
        largest = MAX_PACKET - TC_OVERHEAD - (TRAILER_LEN if self.key else 0) - UPLOAD_HEADER
        step = min(largest, self.chunk_bytes or largest)
        chunks = [(Service.MODEL_SLOTS, 2, struct.pack(">BI", slot, offset) + model[offset:offset + step])
                  for offset in range(start, len(model), step)]
        if progress is not None:
            progress(start)
        for at in range(0, len(chunks), WINDOW):
            window = chunks[at:at + WINDOW]
            self.commands(window, idempotent=True, progress=None if progress is None else
                          (lambda tc: progress(len(tc.app_data) - UPLOAD_HEADER)))
        self.command(Service.MODEL_SLOTS, 3, bytes([slot]))
        return self.slot_status(slot)

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
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .auth import TRAILER_LEN, CounterStore, controller_counter, sign
from .codes import (ACK_ACCEPTANCE, ACK_COMPLETION, HK_STRUCTURE_ID, HK_U8_FIELDS, HK_U32_FIELDS,
                    PROTECTION_MODES, ErrorCode, Function, Service, SlotState, Verification)
from .packets import DEFAULT_APID, MAX_PACKET, TC_OVERHEAD, SequenceCounter, TcPacket, TmPacket
from .slots import SlotStatus
from .tensors import TensorChunk, assemble, max_chunk_data, split_tensor
from .transport import PacketLink

DEFAULT_SOURCE_ID = 0x0042
UPLOAD_HEADER = 5  # slot u8 + offset u32


def reply_timeout(baud: int) -> float:
    """A TC's reply timeout for a line rate: twice the largest frame's time on the line
    (8N1: 10 bits a byte) plus 0.2 s of turnaround, and at least 0.5 s."""
    return max(0.5, 2 * (MAX_PACKET + 64) * 10 / baud + 0.2)


class LinkTimeout(Exception):
    """No completion after every retry."""


class CommandFailed(Exception):
    """The runtime answered with a failure report."""

    def __init__(self, service: int, subtype: int, stage: str, code: int, detail: int):
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = f"code {code}"
        super().__init__(f"TC[{service},{subtype}] failed at {stage}: {name} (detail {detail})")
        self.stage, self.code, self.detail = stage, code, detail


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
                 ack_flags: int = ACK_ACCEPTANCE | ACK_COMPLETION):
        if not ack_flags & ACK_COMPLETION:
            raise ValueError("the controller needs completion reports to know when a TC is done")
        self.link = link
        self.apid, self.source_id, self.key = apid, source_id, key
        self.counter = counter if counter is not None else controller_counter()
        self.timeout, self.retries, self.ack_flags = timeout, retries, ack_flags
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
        raise LinkTimeout(f"TC[{service},{subtype}] seq {tc.seq_count}: no completion after "
                          f"{self.retries + 1} attempts of {self.timeout} s")

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
                    raise CommandFailed(tc.service, tc.subtype, stage, code, detail)
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

    def infer(self, inputs: Sequence[np.ndarray], request_id: Optional[int] = None) -> InferenceResult:
        """Uploads the inputs, runs, collects and checks the outputs (CRC-32 of all
        output bytes), re-requesting them with TC[200,5] while any are missing."""
        if request_id is None:
            self._request_ids = (self._request_ids + 1) & 0xFFFFFFFF
            request_id = self._request_ids
        trailer = TRAILER_LEN if self.key else 0
        for index, array in enumerate(inputs):
            array = np.asarray(array)
            for chunk in split_tensor(request_id, index, array,
                                      max_chunk_data(array.ndim, telemetry=False, trailer=trailer)):
                self.command(Service.INFERENCE, 1, chunk.pack())
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

    def upload(self, slot: int, model: bytes, resume: bool = True) -> SlotStatus:
        """Begin, chunks, commit. With `resume`, an upload of the same model already in
        progress on the slot continues from the bytes the runtime reports received."""
        sha256 = hashlib.sha256(model).digest()
        start = 0
        if resume:
            status = self.slot_status(slot)
            if status.state == SlotState.RECEIVING and status.sha256 == sha256:
                start = status.bytes
        self.command(Service.MODEL_SLOTS, 1, struct.pack(">BI", slot, len(model)) + sha256)
        step = MAX_PACKET - TC_OVERHEAD - (TRAILER_LEN if self.key else 0) - UPLOAD_HEADER
        for offset in range(start, len(model), step):
            self.command(Service.MODEL_SLOTS, 2, struct.pack(">BI", slot, offset) + model[offset:offset + step])
        self.command(Service.MODEL_SLOTS, 3, bytes([slot]))
        return self.slot_status(slot)

"""The message catalogue of the payload link (docs/icd.md, ICD v2) as data.

Everything both ends must agree on is defined here once: services and subtypes, the
field layout of every fixed-layout message (`MESSAGES`), error codes, events and their
severities, functions, slot states, protection-mode codes, the housekeeping structures
(`HK_STRUCTURES`) and the rules of the ICD with a requirement ID each (`REQUIREMENTS`,
cited by the tests that verify them, as F Prime's SDDs do). The runtime's services
(services/), the controller (controller.py), the HK decoder and the firmware's C
header (firmware_stubs/icd.h, checked against this module by
tests/link/test_icd_header.py) all take their numbers and layouts from here.

Each error code and event is documented where it is defined with its cause, as cFS
does in its `*_events.h`: an operator reading a TM[1,2] or TM[5,x] looks it up here.
"""
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Dict, Tuple
from ..protect.modes import MODES as _PROTECTION_MODES


class Service(IntEnum):
    VERIFICATION = 1
    HOUSEKEEPING = 3
    EVENTS = 5
    FUNCTIONS = 8
    TEST = 17
    INFERENCE = 200
    MODEL_SLOTS = 201


class Verification(IntEnum):
    """TM[1,x] subtypes."""
    ACCEPTANCE_SUCCESS = 1
    ACCEPTANCE_FAILURE = 2
    COMPLETION_SUCCESS = 7
    COMPLETION_FAILURE = 8


# TC ack flags (low 4 bits of the first secondary-header byte). 0x2 (start) and 0x4
# (progress) are ignored by the runtime.
ACK_ACCEPTANCE = 0x1
ACK_COMPLETION = 0x8
ACK_ALL = 0xF


class ErrorCode(IntEnum):
    """Failure codes of TM[1,2] / TM[1,8] (u16) and of TM[200,4] status (ICD §8)."""

    BAD_SERVICE = 1
    """Acceptance: the TC names a service the runtime does not provide."""
    BAD_SUBTYPE = 2
    """Acceptance: the service exists but not this subtype (or TM-only subtype)."""
    BAD_LENGTH = 3
    """Acceptance: application data shorter or longer than the subtype's layout."""
    BAD_ARGUMENT = 4
    """Acceptance or completion: an argument out of range (unknown structure ID,
    function ID, slot, dtype code, chunk past total_bytes, incomplete input...)."""
    AUTH_FAILED = 5
    """Acceptance: authentication is on and the trailer is missing or its MAC is wrong."""
    REPLAY = 6
    """Acceptance: the trailer's counter is not greater than the last accepted one."""
    NO_MODEL = 7
    """Completion: an inference was asked for while no model slot is active."""
    SHAPE_MISMATCH = 8
    """Completion: an input's dims differ from the active model's input shape."""
    DTYPE_MISMATCH = 9
    """Completion: an input's dtype code differs from the active model's input type."""
    UNKNOWN_REQUEST = 10
    """Completion: run or resend of a request_id with no staged inputs / cached result."""
    SLOT_BUSY = 11
    """Completion: an upload addressed the active slot (uploads never touch it)."""
    HASH_MISMATCH = 12
    """Completion: a committed upload's SHA-256 differs from the one given at begin."""
    MODEL_INVALID = 13
    """Completion: the uploaded model does not load or uses an unsupported op."""
    UNCORRECTABLE_UPSET = 14
    """Completion: the run met an upset the protection mode could not repair."""
    INTERNAL = 15
    """Completion: an unexpected runtime error (the detail holds nothing useful)."""
    COUNTER_WINDOW = 16
    """Acceptance: the trailer's counter is 2^56 or more beyond the last accepted one
    (ICD v2 §7 forward window); the stored counter does not move."""


class Severity(IntEnum):
    """TM[5,x] subtype of an event."""
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


class EventId(IntEnum):
    """TM[5,x] event IDs (u16), each with its two u32 auxiliaries (ICD §9)."""

    UPSET_CORRECTED = 1
    """Low. Cause: scrubbing or voting found and repaired an upset.
    aux1 region id, aux2 byte offset."""
    UPSET_UNCORRECTABLE = 2
    """High. Cause: an upset no copy could repair; the run that met it failed.
    aux1 region id, aux2 byte offset."""
    VOTE_DISAGREEMENT = 3
    """Low. Cause: a replica disagreed with the majority after an op.
    aux1 op index, aux2 replica."""
    MODEL_ACTIVATED = 4
    """Info. Cause: ACTIVATE_SLOT swapped the serving model. aux1 slot, aux2 0."""
    MODEL_REJECTED = 5
    """Medium. Cause: a commit or activation failed (hash, load, unsupported op).
    aux1 slot, aux2 error code."""
    AUTH_FAILURE = 6
    """Medium. Cause: a TC failed authentication. aux1 source ID, aux2 error code
    (AUTH_FAILED or REPLAY)."""
    SLOT_CORRUPT = 7
    """High. Cause: a stored model slot failed its SHA-256 (at start-up, on
    ACTIVATE_SLOT or in the background re-verification); it gets state CORRUPT and is
    never served. aux1 slot, aux2 0."""
    CHECKSUM_MISMATCH = 8
    """Low. Cause: an abft check failed (GEMM checksum, duplicated op, chained tensor
    checksum) and the op was re-executed. aux1 op index, aux2 0."""


EVENT_SEVERITY = {
    EventId.UPSET_CORRECTED: Severity.LOW,
    EventId.UPSET_UNCORRECTABLE: Severity.HIGH,
    EventId.VOTE_DISAGREEMENT: Severity.LOW,
    EventId.MODEL_ACTIVATED: Severity.INFO,
    EventId.MODEL_REJECTED: Severity.MEDIUM,
    EventId.AUTH_FAILURE: Severity.MEDIUM,
    EventId.SLOT_CORRUPT: Severity.HIGH,
    EventId.CHECKSUM_MISMATCH: Severity.LOW,
}


class Function(IntEnum):
    """TC[8,1] function IDs (ICD §6)."""
    SET_PROTECTION = 1
    SCRUB_NOW = 2
    ACTIVATE_SLOT = 3
    RESET_COUNTERS = 4


# Protection mode codes of HK and SET_PROTECTION (ICD §5): index = wire code. Later
# modes take the next codes.
PROTECTION_MODES = _PROTECTION_MODES  # runtime.protect.modes, ordered by code


class SlotState(IntEnum):
    EMPTY = 0
    RECEIVING = 1
    COMMITTED = 2
    ACTIVE = 3
    CORRUPT = 4


ICD_VERSION = 2  # TM[17,2] and HK structure 2 carry it

# HK structure 1 (ICD §5): u32 fields in wire order, then active_slot u8 and
# protection_mode u8.
HK_U32_FIELDS = (
    "uptime_s", "inferences_ok", "inferences_failed", "scrub_passes", "upsets_detected",
    "upsets_corrected", "uncorrectable", "vote_disagreements", "reexecutions", "frames_ok",
    "frames_bad_crc", "frames_bad_format", "frames_oversize", "tc_rejected", "auth_rejected",
    "duplicates_ignored",
)
HK_U8_FIELDS = ("active_slot", "protection_mode")
# HK structure 2 (ICD v2 §5): structure 1's fields, then icd_version u8, then these u32.
HK2_STRUCTURE_ID = 2
HK2_U32_FIELDS = ("checksum_mismatches", "ops_reexecuted", "slot_integrity_failures", "inputs_refused")
NO_ACTIVE_SLOT = 0xFF  # active_slot value while no slot serves


# -- fixed-layout messages (ICD §4) --------------------------------------------------

@dataclass(frozen=True)
class Message:
    """One TC or TM whose application/source data is a fixed sequence of big-endian
    fields (struct codes). Variable parts (tensor chunks, upload chunks, function
    arguments, TC[200,5] ranges, HK reports) have their own codecs, named in `layout`."""

    service: int
    subtype: int
    name: str
    direction: str                       # "TC" or "TM"
    fields: Tuple[Tuple[str, str], ...]  # (name, struct code); empty with a variable layout
    layout: str = "fixed"                # "fixed", or what codes the variable part

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct(">" + "".join(code for _, code in self.fields))

    def pack(self, **values) -> bytes:
        missing = [n for n, _ in self.fields if n not in values]
        extra = sorted(set(values) - {n for n, _ in self.fields})
        if missing or extra:
            raise ValueError(f"{self.name}: fields missing {missing}, unknown {extra}")
        return self.struct.pack(*(values[n] for n, _ in self.fields))

    def unpack(self, data: bytes) -> Dict[str, object]:
        """Raises CommandError(BAD_LENGTH) when `data` is not exactly the layout's size."""
        size = self.struct.size
        if len(data) != size:
            raise CommandError(ErrorCode.BAD_LENGTH, f"{self.name} (TC[{self.service},{self.subtype}]): "
                               f"{len(data)} data bytes, its layout has {size}", detail=len(data))
        return dict(zip((n for n, _ in self.fields), self.struct.unpack(data)))


_REQUEST = ("request_id", "4s")       # a TC's packet ID + sequence control
_FAILURE = (_REQUEST, ("code", "H"), ("detail", "I"))
_MESSAGES = (
    Message(1, 1, "ACCEPTANCE_SUCCESS", "TM", (_REQUEST,)),
    Message(1, 2, "ACCEPTANCE_FAILURE", "TM", _FAILURE),
    Message(1, 7, "COMPLETION_SUCCESS", "TM", (_REQUEST,)),
    Message(1, 8, "COMPLETION_FAILURE", "TM", _FAILURE),
    Message(3, 27, "HK_REQUEST", "TC", (("structure_id", "H"),)),
    Message(3, 25, "HK_REPORT", "TM", (), "HK_STRUCTURES"),
    Message(5, 1, "EVENT_INFO", "TM", (("event_id", "H"), ("aux1", "I"), ("aux2", "I"))),
    Message(5, 2, "EVENT_LOW", "TM", (("event_id", "H"), ("aux1", "I"), ("aux2", "I"))),
    Message(5, 3, "EVENT_MEDIUM", "TM", (("event_id", "H"), ("aux1", "I"), ("aux2", "I"))),
    Message(5, 4, "EVENT_HIGH", "TM", (("event_id", "H"), ("aux1", "I"), ("aux2", "I"))),
    Message(8, 1, "FUNCTION", "TC", (), "function_id u16 + FUNCTION_ARGS"),
    Message(17, 1, "ARE_YOU_ALIVE", "TC", ()),
    Message(17, 2, "ALIVE", "TM", (("icd_version", "B"),)),
    Message(200, 1, "PUT_INPUT_CHUNK", "TC", (), "tensors.TensorChunk"),
    Message(200, 2, "RUN", "TC", (("request_id", "I"),)),
    Message(200, 3, "OUTPUT_CHUNK", "TM", (), "tensors.TensorChunk"),
    Message(200, 4, "RESULT_DONE", "TM", (("request_id", "I"), ("status", "H"), ("latency_us", "I"),
                                          ("crc32", "I"), ("corrected_during_run", "H"),
                                          ("input_crc32", "I"))),
    Message(200, 5, "RESEND_OUTPUTS", "TC", (), "request_id u32 + RESEND_RANGE*"),
    Message(201, 1, "BEGIN_UPLOAD", "TC", (("slot", "B"), ("total_bytes", "I"), ("sha256", "32s"))),
    Message(201, 2, "UPLOAD_CHUNK", "TC", (), "UPLOAD_CHUNK_HEADER + data"),
    Message(201, 3, "COMMIT", "TC", (("slot", "B"),)),
    Message(201, 4, "SLOT_STATUS_REQUEST", "TC", (("slot", "B"),)),
    Message(201, 5, "SLOT_STATUS", "TM", (("slot", "B"), ("state", "B"), ("bytes", "I"), ("sha256", "32s"))),
)
MESSAGES: Dict[Tuple[int, int], Message] = {(m.service, m.subtype): m for m in _MESSAGES}
BY_NAME: Dict[str, Message] = {m.name: m for m in _MESSAGES}
RESEND_RANGE = struct.Struct(">BII")         # output_index, offset, length
UPLOAD_CHUNK_HEADER = struct.Struct(">BI")   # slot, offset
FUNCTION_ARGS: Dict[int, str] = {}           # filled below: function ID -> struct codes of its arguments


def message(service: int, subtype: int) -> Message:
    return MESSAGES[(service, subtype)]


# -- housekeeping structures (ICD §5) --------------------------------------------------

@dataclass(frozen=True)
class HkStructure:
    structure_id: int
    fields: Tuple[Tuple[str, str], ...]   # (name, struct code) in wire order

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct(">" + "".join(code for _, code in self.fields))

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(n for n, _ in self.fields)

    def pack(self, values: Dict[str, int]) -> bytes:
        """TM[3,25] source data: structure ID u16 then the fields (u32 wrap, u8 wrap)."""
        masks = {"I": 0xFFFFFFFF, "B": 0xFF}
        return struct.pack(">H", self.structure_id) + self.struct.pack(
            *(values[n] & masks[c] for n, c in self.fields))

    def unpack(self, data: bytes) -> Dict[str, int]:
        """Raises ValueError naming the structure when the length is not its layout's."""
        expected = 2 + self.struct.size
        if len(data) != expected:
            raise ValueError(f"TM[3,25] structure {self.structure_id}: {len(data)} bytes, its layout "
                             f"has {expected}")
        (sid,) = struct.unpack_from(">H", data)
        if sid != self.structure_id:
            raise ValueError(f"TM[3,25] carries structure {sid}, expected {self.structure_id}")
        return dict(zip(self.names, self.struct.unpack_from(data, 2)))


class CommandError(Exception):
    """A TC that fails with an ICD error code; `detail` is the u32 of the failure
    report (e.g. the input index that mismatched). A backend may raise it too."""

    def __init__(self, code: ErrorCode, message: str, detail: int = 0):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.detail = detail & 0xFFFFFFFF


HK_STRUCTURES: Dict[int, HkStructure] = {
    1: HkStructure(1, tuple((n, "I") for n in HK_U32_FIELDS) + tuple((n, "B") for n in HK_U8_FIELDS)),
    2: HkStructure(2, tuple((n, "I") for n in HK_U32_FIELDS) + tuple((n, "B") for n in HK_U8_FIELDS)
                   + (("icd_version", "B"),) + tuple((n, "I") for n in HK2_U32_FIELDS)),
}
HK_STRUCTURE_ID = 2  # the structure controllers read by default


def hk_names(values: Dict[str, int]) -> Dict[str, object]:
    """A decoded HK report with its enumerations by name: protection_mode "tmr",
    active_slot None while no slot serves (255 on the wire)."""
    named: Dict[str, object] = dict(values)
    if "protection_mode" in values:
        code = values["protection_mode"]
        named["protection_mode"] = (PROTECTION_MODES[code] if code < len(PROTECTION_MODES)
                                    else f"unknown mode code {code}")
    if "active_slot" in values:
        named["active_slot"] = None if values["active_slot"] == NO_ACTIVE_SLOT else values["active_slot"]
    return named


FUNCTION_ARGS.update({Function.SET_PROTECTION: "B", Function.SCRUB_NOW: "",
                      Function.ACTIVATE_SLOT: "B", Function.RESET_COUNTERS: ""})


# -- requirements (each rule of docs/icd.md, cited by the tests that verify it) --------------
REQUIREMENTS: Dict[str, str] = {
    "ICD-2-FRAME": "§2 a frame is COBS(packet) || 0x00; empty frames are ignored; after garbage "
                   "the receiver resynchronises at the next 0x00",
    "ICD-2-OVERSIZE": "§2 a packet longer than 4096 bytes before COBS is dropped and counted",
    "ICD-3-HEADERS": "§3 CCSDS primary header and PUS-C TC/TM secondary headers, bit-exact",
    "ICD-3-CRC": "§3 CRC-16/CCITT-FALSE over every preceding byte, last two bytes of every packet",
    "ICD-3-SEQ": "§3 each side keeps its own 14-bit sequence count, +1 per packet, wrapping",
    "ICD-4-ALIVE": "§4 TM[17,2] carries icd_version 2",
    "ICD-4-PUT-INPUT": "§4 TC[200,1]: dtype, dims and total_bytes equal the active model's input, "
                       "else acceptance failure DTYPE_MISMATCH / SHAPE_MISMATCH / BAD_LENGTH; nothing staged",
    "ICD-4-RESULT": "§4 outputs go as TM[200,3] chunks, then TM[200,4] with crc32 of the outputs and "
                    "input_crc32 of the inputs as staged and run",
    "ICD-4-RESEND": "§4 TC[200,5] re-sends every output, or only the byte ranges asked; the last 8 "
                    "results of each controller are kept",
    "ICD-4-PER-SOURCE": "§4 requests are scoped per source ID: (source ID, request_id)",
    "ICD-4-CONTROLLER-CHECK": "§4 a controller accepts a result only when crc32 matches the outputs "
                              "received and input_crc32 the inputs sent",
    "ICD-4-SLOTS": "§4 model upload: begin, idempotent chunks, commit (SHA-256, model check), status",
    "ICD-5-HK": "§5 HK structures 1 and 2, fields in order",
    "ICD-6-FUNCTIONS": "§6 SET_PROTECTION, SCRUB_NOW, ACTIVATE_SLOT (committed slot only), RESET_COUNTERS",
    "ICD-7-DROP": "§7 a packet with a bad CRC, length or header version is dropped, counted, not executed",
    "ICD-7-ACK": "§7 one acceptance report per TC that asks; failures are always reported",
    "ICD-7-DUPLICATE": "§7 a duplicate is a packet byte-identical to one of the last 64 TCs accepted "
                       "from its source: reports re-sent, not executed again, counter not re-checked",
    "ICD-7-AUTH": "§7 with a key every TC carries counter u64 + HMAC-SHA256[:16]; failures get "
                  "TM[1,2] and AUTH_FAILURE only",
    "ICD-7-COUNTER-WINDOW": "§7 last < counter < last + 2^56, else REPLAY / COUNTER_WINDOW; a refused "
                            "counter never moves the stored one",
    "ICD-7-COUNTER-FILE": "§7 a missing counter file means 0; one that cannot be read is an error at "
                          "start-up naming the file",
    "ICD-7-UPLOAD-ATOMIC": "§7 an upload never touches the active slot; commits are atomic",
    "ICD-7-SLOTS-AT-REST": "§7 slots verified before load and in the background; a failing slot gets "
                           "state 4, SLOT_CORRUPT, slot_integrity_failures + 1; fallback; never exit",
    "ICD-7-OVERFLOW": "§7 every length and element count of a TC checked with overflow-safe "
                      "arithmetic before anything is allocated",
    "ICD-8-CODES": "§8 error codes 1..16",
    "ICD-9-EVENTS": "§9 events 1..8 with their severities and auxiliaries",
    "ICD-10-GOLDEN": "§10 golden vectors, bit-exact on both ends",
}

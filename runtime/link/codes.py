"""Numbers of the payload link (ICD §4–§9): services, error codes, events, modes.

Each error code and event is documented where it is defined with its cause, as cFS
does in its `*_events.h`: an operator reading a TM[1,2] or TM[5,x] looks it up here.
"""
from enum import IntEnum
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
HK_STRUCTURE_ID = 1
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


class CommandError(Exception):
    """A TC that fails with an ICD error code; `detail` is the u32 of the failure
    report (e.g. the input index that mismatched). A backend may raise it too."""

    def __init__(self, code: ErrorCode, message: str, detail: int = 0):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.detail = detail & 0xFFFFFFFF

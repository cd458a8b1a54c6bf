"""PUS service 1, request verification (docs/icd.md §4, §7): the reports and the
duplicate window.

Reports echo the TC's request ID (packet ID + sequence control); failures add the
error code u16 and a detail u32 (layouts in catalogue.MESSAGES[(1, x)]).

Duplicates (ICD v2 §7): a TC byte-identical to one of the last 64 TCs accepted (passed
authentication and acceptance) from the same source ID gets its reports again (not its output chunks) and is not executed
again. A TC that reuses a sequence count with other bytes is a new TC: v1 matched on
(source, sequence count) and so answered a rebooted controller's new TC with an old
TC's success (issue 12, "false success").
"""
import hashlib
import struct
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

from ..catalogue import Service, Verification

DUPLICATE_WINDOW = 64  # per source ID
ACCEPTANCE, COMPLETION = "acceptance", "completion"
_SUBTYPES = {(ACCEPTANCE, True): Verification.ACCEPTANCE_SUCCESS,
             (ACCEPTANCE, False): Verification.ACCEPTANCE_FAILURE,
             (COMPLETION, True): Verification.COMPLETION_SUCCESS,
             (COMPLETION, False): Verification.COMPLETION_FAILURE}

# A reply before it becomes a packet: (service, subtype, source data).
Reply = Tuple[int, int, bytes]


def success(stage: str, request_id: bytes) -> Reply:
    return Service.VERIFICATION, _SUBTYPES[(stage, True)], request_id


def failure(stage: str, request_id: bytes, code: int, detail: int) -> Reply:
    return Service.VERIFICATION, _SUBTYPES[(stage, False)], request_id + struct.pack(">HI", code, detail)


class DuplicateWindow:
    """The last `size` TCs accepted per source ID, by the SHA-256 of their bytes, with
    the reports they got (the list is filled as the TC executes). The service bounds the
    number of sources (`forget`, service.MAX_CONTROLLERS)."""

    def __init__(self, size: int = DUPLICATE_WINDOW):
        self.size = size
        self._by_source: Dict[int, "OrderedDict[bytes, List[Reply]]"] = {}

    def get(self, source_id: int, raw: bytes) -> Optional[List[Reply]]:
        window = self._by_source.get(source_id)
        return None if window is None else window.get(hashlib.sha256(raw).digest())

    def add(self, source_id: int, raw: bytes, replies: List[Reply]) -> None:
        window = self._by_source.setdefault(source_id, OrderedDict())
        window[hashlib.sha256(raw).digest()] = replies
        while len(window) > self.size:
            window.popitem(last=False)

    def forget(self, source_id: int) -> None:
        self._by_source.pop(source_id, None)

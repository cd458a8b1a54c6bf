"""PUS service 5, event reporting (docs/icd.md §9): TM[5, severity] with event ID u16,
aux1 u32, aux2 u32. Every event the runtime sends is also logged here, one line each
(logger "radrt.link", the event's name in `extra["event"]`), so a ground crew reading
the board's log sees what the controller saw."""
import logging
import struct

from ..catalogue import EVENT_SEVERITY, EventId, Service, Severity

log = logging.getLogger("radrt.link")
_LEVELS = {Severity.INFO: logging.INFO, Severity.LOW: logging.INFO, Severity.MEDIUM: logging.WARNING,
           Severity.HIGH: logging.ERROR}
_AUX = {EventId.UPSET_CORRECTED: ("region", "offset"), EventId.UPSET_UNCORRECTABLE: ("region", "offset"),
        EventId.VOTE_DISAGREEMENT: ("op", "replica"), EventId.MODEL_ACTIVATED: ("slot", None),
        EventId.MODEL_REJECTED: ("slot", "code"), EventId.AUTH_FAILURE: ("source_id", "code"),
        EventId.SLOT_CORRUPT: ("slot", None), EventId.CHECKSUM_MISMATCH: ("op", None)}


def report(event_id: int, aux1: int, aux2: int):
    """(service, subtype, source data) of the event's TM[5,x]."""
    return (Service.EVENTS, EVENT_SEVERITY[EventId(event_id)],
            struct.pack(">HII", event_id, aux1 & 0xFFFFFFFF, aux2 & 0xFFFFFFFF))


def log_event(event_id: EventId, aux1: int, aux2: int) -> None:
    names = _AUX[event_id]
    fields = {n: v for n, v in zip(names, (aux1, aux2)) if n is not None}
    log.log(_LEVELS[EVENT_SEVERITY[event_id]], "event %s %s", event_id.name,
            " ".join(f"{k}={v}" for k, v in fields.items()),
            extra={"event": event_id.name.lower(), "fields": fields})

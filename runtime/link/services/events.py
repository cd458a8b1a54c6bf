"""PUS service 5, event reporting (docs/icd.md §9): TM[5, severity] with event ID u16,
aux1 u32, aux2 u32. Every event the runtime sends is also logged, one line each
(logger "radrt.link", through ../oplog.py: the event's name and named auxiliaries), so
a ground crew reading the board's log sees what the controller saw."""
import logging
import struct

from ..catalogue import EVENT_SEVERITY, EventId, Service
from ..oplog import log_icd_event

log = logging.getLogger("radrt.link")


def report(event_id: int, aux1: int, aux2: int):
    """(service, subtype, source data) of the event's TM[5,x]."""
    return (Service.EVENTS, EVENT_SEVERITY[EventId(event_id)],
            struct.pack(">HII", event_id, aux1 & 0xFFFFFFFF, aux2 & 0xFFFFFFFF))


def log_event(event_id: EventId, aux1: int, aux2: int) -> None:
    log_icd_event(log, event_id, aux1, aux2)

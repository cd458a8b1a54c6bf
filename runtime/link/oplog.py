"""Operations log of `radrt serve`: one line per significant event, as text or JSON.

How it works: the link calls `log_event(logger, level, "model_activated", slot=1)`;
the record carries the event name and its fields (`extra={"event": name, "fields":
{...}}`: any logging call that passes these is formatted the same), and the formatter
that `configure_logging("text" | "json")` installs on the root logger writes it:

- text: `2026-12-01T06:03:06.123Z INFO radrt.serve model_activated: slot 1 now serves [slot=1]`
- json: one object per line, keys `time` (ISO 8601 UTC, ms), `level`, `logger`, `event`,
  `message`, then the event's fields (`{"time": "...", "level": "INFO", "logger":
  "radrt.serve", "event": "model_activated", "message": "slot 1 now serves", "slot": 1}`).

Records logged without `log_event` (a library's warning, `warnings.warn`) get event
`log_message`, so a JSON reader still sees one object per line with the same keys.

ICD events (TM[5,x]) are logged with `log_icd_event(logger, event_id, aux1, aux2)`,
which names the auxiliaries and maps the severity to a level: info → INFO, low → DEBUG
(frequent under upsets: not printed at the default level), medium → WARNING,
high → ERROR.

Events (stable names; `EVENTS` below is the catalogue, one line each with its level
and fields; tests check that every name the runtime logs is in it):
- runtime_started (INFO): port, baud, apid, protection, slot (or null), model (path or
  null), auth (true/false). Logged once the port is open.
- runtime_stopped (INFO): every HK field (counters, active_slot, protection_mode as
  codes). Logged after the port is closed.
- model_loaded (INFO): what (the slot or model that serves at start-up), slot (or
  null), slots (folder), verify_period_s.
- no_model (WARNING): slots, verify_period_s: nothing serves at start-up; inferences
  answer NO_MODEL.
- slot_verification_failed (ERROR, slots.py): slot, reason: a slot failed its SHA-256
  (with the ICD event slot_corrupt).
- serving_fallback (WARNING, slots.py): slot, serving: what serves after a corrupt slot.
- activation_refused (WARNING, slots.py): slot, code (name), reason.
- counter_window (WARNING, auth.py): counter, last: a counter beyond the forward window.
- auth_disabled (WARNING): no key: telecommands are not authenticated.
- mode_change (INFO): mode, mode_code, previous (SET_PROTECTION executed).
- upload_begun (INFO): slot, bytes, sha256 (TC[201,1] executed).
- upload_committed (INFO): slot, bytes, sha256 (TC[201,3] stored the model).
- counters_reset (INFO): RESET_COUNTERS executed.
- run_failed (ERROR): request_id, source_id, code (name), reason: a run that started
  and failed with an error other than an uncorrectable upset (e.g. INTERNAL: an output
  the link cannot carry).
- tc_internal_error (ERROR): service, subtype, reason: a TC that failed with INTERNAL
  (a bug, or the counter file could not be written); the traceback follows in text mode.
- ICD §9 events, fields named from their aux1/aux2:
  upset_corrected (DEBUG: region, offset), upset_uncorrectable (ERROR: region, offset),
  vote_disagreement (DEBUG: op_index, replica), model_activated (INFO: slot),
  model_rejected (WARNING: slot, code, code_name), auth_failure (WARNING: source_id,
  code, code_name), slot_corrupt (ERROR: slot), checksum_mismatch (DEBUG: op_index);
  each also carries event_id. An event ID unknown here: icd_event (WARNING: event_id,
  aux1, aux2).
- log_message: a record not logged through log_event (its level as logged).
"""
import datetime
import json
import logging
import sys
from typing import Any, Dict, Optional, TextIO, Tuple, Union

from .catalogue import EVENT_SEVERITY, ErrorCode, EventId, Severity

LOG_FORMATS = ("text", "json")

# name → (level, message template over the fields)
EVENTS: Dict[str, Tuple[int, str]] = {
    "runtime_started": (logging.INFO, "serving on {port} at {baud} baud, APID {apid}, protection {protection}; "
                                      "slot {slot}, model {model}, authentication {auth}"),
    "runtime_stopped": (logging.INFO, "stopped after {uptime_s} s"),
    "model_loaded": (logging.INFO, "serving {what} at start-up; slots re-verified every {verify_period_s} s"),
    "no_model": (logging.WARNING, "no model: upload one into a slot and activate it "
                                  "(radrt link upload MODEL --slot N; radrt link activate --slot N)"),
    # logged by slots.py and auth.py with their own messages (extra={"event", "fields"})
    "slot_verification_failed": (logging.ERROR, "slot {slot} is corrupt ({reason})"),
    "serving_fallback": (logging.WARNING, "now serving {serving}"),
    "activation_refused": (logging.WARNING, "ACTIVATE_SLOT {slot} refused ({code})"),
    "counter_window": (logging.WARNING, "authentication counter {counter} beyond the window of {last}"),
    "auth_disabled": (logging.WARNING, "no --key-file: telecommands are NOT authenticated"),
    "mode_change": (logging.INFO, "protection {previous} -> {mode}"),
    "upload_begun": (logging.INFO, "upload of {bytes} bytes into slot {slot} begun"),
    "upload_committed": (logging.INFO, "slot {slot} committed ({bytes} bytes, sha256 {sha256})"),
    "counters_reset": (logging.INFO, "counters reset"),
    "run_failed": (logging.ERROR, "request {request_id} of source {source_id} failed: {code}: {reason}"),
    "tc_internal_error": (logging.ERROR, "TC[{service},{subtype}] failed with INTERNAL: {reason}"),
    "upset_corrected": (logging.DEBUG, "upset corrected in region {region} at byte {offset}"),
    "upset_uncorrectable": (logging.ERROR, "uncorrectable upset in region {region} at byte {offset}"),
    "vote_disagreement": (logging.DEBUG, "replica {replica} disagreed at op {op_index}"),
    "model_activated": (logging.INFO, "slot {slot} now serves"),
    "model_rejected": (logging.WARNING, "slot {slot} rejected: {code_name} ({code})"),
    "auth_failure": (logging.WARNING, "TC from source {source_id} failed authentication: {code_name} ({code})"),
    "slot_corrupt": (logging.ERROR, "slot {slot} failed its SHA-256: never served"),
    "checksum_mismatch": (logging.DEBUG, "checksum mismatch at op {op_index}: op re-executed"),
    "icd_event": (logging.WARNING, "ICD event {event_id} (aux1 {aux1}, aux2 {aux2}) unknown to this log"),
    "log_message": (logging.INFO, ""),
}

# ICD §9 event → (log event name, names of aux1 and aux2; None = always 0)
ICD_EVENTS: Dict[EventId, Tuple[str, Optional[str], Optional[str]]] = {
    EventId.UPSET_CORRECTED: ("upset_corrected", "region", "offset"),
    EventId.UPSET_UNCORRECTABLE: ("upset_uncorrectable", "region", "offset"),
    EventId.VOTE_DISAGREEMENT: ("vote_disagreement", "op_index", "replica"),
    EventId.MODEL_ACTIVATED: ("model_activated", "slot", None),
    EventId.MODEL_REJECTED: ("model_rejected", "slot", "code"),
    EventId.AUTH_FAILURE: ("auth_failure", "source_id", "code"),
    EventId.SLOT_CORRUPT: ("slot_corrupt", "slot", None),
    EventId.CHECKSUM_MISMATCH: ("checksum_mismatch", "op_index", None),
}

SEVERITY_LEVELS = {Severity.INFO: logging.INFO, Severity.LOW: logging.DEBUG,
                   Severity.MEDIUM: logging.WARNING, Severity.HIGH: logging.ERROR}

_RECORD_KEYS = ("time", "level", "logger", "event", "message")


def log_event(logger: logging.Logger, level: Union[int, str, None], event: str,
              message: Optional[str] = None, **fields: Any) -> None:
    """Logs one event. `level` None takes the event's level from EVENTS; `message`
    None formats the event's template with `fields` (a template field that is not
    given is left as `{name}`: the line is still written). Field names must not be
    one of the record keys (time, level, logger, event, message): ValueError."""
    clash = set(fields) & set(_RECORD_KEYS)
    if clash:
        raise ValueError(f"log_event({event!r}): field names {sorted(clash)} are record keys")
    default_level, template = EVENTS.get(event, (logging.INFO, ""))
    if level is None:
        level = default_level
    elif isinstance(level, str):
        level = logging.getLevelName(level.upper())
    if message is None:
        message = template.format_map(_Missing({k: _plain(v) for k, v in fields.items()}))
    logger.log(level, message, extra={"event": event, "fields": fields})


def icd_event_fields(event_id: int, aux1: int, aux2: int) -> Tuple[str, int, Dict[str, Any]]:
    """(log event name, level, fields) of an ICD §9 event. An ID this runtime does not
    know is logged as `icd_event` with the raw numbers (not dropped)."""
    try:
        event = EventId(event_id)
    except ValueError:
        return "icd_event", logging.WARNING, {"event_id": event_id, "aux1": aux1, "aux2": aux2}
    name, aux1_name, aux2_name = ICD_EVENTS[event]
    fields: Dict[str, Any] = {"event_id": int(event)}
    if aux1_name:
        fields[aux1_name] = aux1
    if aux2_name:
        fields[aux2_name] = aux2
    if aux2_name == "code":
        fields["code_name"] = _code_name(aux2)
    return name, SEVERITY_LEVELS[EVENT_SEVERITY[event]], fields


def log_icd_event(logger: logging.Logger, event_id: int, aux1: int = 0, aux2: int = 0, **extra: Any) -> None:
    """Logs the ICD event the runtime is about to send as TM[5,x] (extra fields, e.g.
    destination, are added)."""
    name, level, fields = icd_event_fields(event_id, aux1, aux2)
    log_event(logger, level, name, **fields, **extra)


class TextFormatter(logging.Formatter):
    """`TIME LEVEL LOGGER EVENT: message [k=v ...]`, one line."""

    def format(self, record: logging.LogRecord) -> str:
        event, fields = _event_of(record)
        line = f"{_iso_time(record)} {record.levelname} {record.name} {event}: {record.getMessage()}"
        if fields:
            line += " [" + " ".join(f"{k}={_plain(v)}" for k, v in fields.items()) + "]"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, message, then the fields.
    bytes become hex; numpy scalars and other objects become their int/float/str."""

    def format(self, record: logging.LogRecord) -> str:
        event, fields = _event_of(record)
        obj: Dict[str, Any] = {"time": _iso_time(record), "level": record.levelname, "logger": record.name,
                               "event": event, "message": record.getMessage()}
        obj.update({k: _jsonable(v) for k, v in fields.items()})
        if record.exc_info:
            obj["exception"] = self.formatException(record.exc_info)
        return json.dumps(obj, default=str)


def configure_logging(fmt: str, stream: TextIO = sys.stderr, level: int = logging.INFO) -> logging.Handler:
    """Installs the formatter of `fmt` ("text" or "json") on the root logger (replacing
    its handlers) and routes `warnings` into it. Raises ValueError for another format."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r}, expected one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    return handler


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _event_of(record: logging.LogRecord) -> Tuple[str, Dict[str, Any]]:
    return getattr(record, "event", "log_message"), getattr(record, "fields", {})


def _iso_time(record: logging.LogRecord) -> str:
    t = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"unknown code {code}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return value


def _plain(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_jsonable(value), default=str, separators=(",", ":"))
    return str(value)

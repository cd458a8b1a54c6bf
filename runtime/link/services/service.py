"""The runtime's side of the payload link: the TC dispatcher over its PUS services.

`PayloadService` turns received bytes into TC packets and the TCs into TM replies. It
knows the wire; what it runs on sits behind `PayloadBackend`, so `radrt serve` is a
loop of `port.write(service.receive(port.read(...)))` plus `service.poll()`.

Processing of one TC (docs/icd.md §7):
  APID check (another APID's TC is ignored and counted as rejected: not ours to answer)
  → duplicate check (a packet byte-identical to one of the last 64 accepted from its
    source: its reports are re-sent, nothing runs, the counter is not checked again)
  → authenticate (strip the trailer; failures get TM[1,2] + AUTH_FAILURE only)
  → accept (the service module's handler checks service, subtype and arguments;
    TM[1,1] if asked, TM[1,2] always on failure)
  → execute (replies; TM[1,7] if asked, or TM[1,8]).
Frame and packet errors are dropped and counted by the FrameDecoder.

Each PUS service is a module of this package (alive = 17, housekeeping = 3,
events = 5, functions = 8, inference = 200, model_slots = 201, verification = 1);
the numbers and layouts they use come from ../catalogue.py.
"""
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol, Tuple

import numpy as np

from ...errors import UncorrectableUpsetError
from ..auth import AuthError, Authenticator
from ..catalogue import ACK_ACCEPTANCE, ACK_COMPLETION, PROTECTION_MODES, CommandError, ErrorCode, EventId, Service
from ..framing import FrameCounters, FrameDecoder, frame
from ..oplog import log_event
from ..packets import DEFAULT_APID, TcPacket, TmBuilder, parse_tc
from ..slots import ModelSlots
from . import alive, events, functions, housekeeping, inference, model_slots, verification
from .inference import MAX_CONTROLLERS
from .verification import Reply


class PayloadBackend(Protocol):
    """What the service needs from the inference runtime (server.SessionBackend).

    - input_specs(): the serving model's inputs as [(shape, numpy dtype)], in model
      input order; None while no model serves.
    - run(feeds): feeds in model input order → outputs in model output order. Raises
      runtime.UncorrectableUpsetError (→ UNCORRECTABLE_UPSET) or CommandError.
    - health(): cumulative counters named as runtime.protect.modes.HEALTH_COUNTERS
      (missing ones read 0).
    - set_protection(mode): one of catalogue.PROTECTION_MODES.
    - scrub(): one full scrub pass; returns when it is done.
    - check_model(model): raises if the ONNX bytes do not load or use an unsupported op.
    - load_model(model): makes the bytes the serving model; raises (old model keeps
      serving) if it cannot.
    - unload_model(): stops serving (no model) — used when the serving slot is found corrupt.
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


@dataclass
class ServiceCounters:
    """The link's own HK counters (ICD §5); the frame counters are the FrameDecoder's."""
    inferences_ok: int = 0
    inferences_failed: int = 0
    tc_rejected: int = 0
    auth_rejected: int = 0
    duplicates_ignored: int = 0
    inputs_refused: int = 0


class PayloadService:
    def __init__(self, backend: PayloadBackend, slots: ModelSlots, *, apid: int = DEFAULT_APID,
                 authenticator: Optional[Authenticator] = None, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 result_cache: int = inference.RESULTS_PER_SOURCE):
        self.backend = backend
        self.slots = slots
        self.apid = apid
        self.authenticator = authenticator
        self.monotonic = monotonic
        self.started = monotonic()
        self.tm = TmBuilder(apid=apid, clock=clock)
        self.decoder = FrameDecoder(parse_tc)
        self.counters = ServiceCounters()
        self.protection = PROTECTION_MODES[0]
        self.controller_id = 0  # destination of unsolicited events: the last source seen
        self.health_baseline: Dict[str, int] = {}
        self.pending_events: List[Tuple[int, int, int]] = []  # raised by TCs, sent after their replies
        self.duplicates = verification.DuplicateWindow()
        self._controllers: "OrderedDict[int, None]" = OrderedDict()
        self.inference = inference.InferenceService(self, result_cache)
        self.hk = housekeeping.HousekeepingService(self)
        self._handlers: Dict[Tuple[int, int], Callable] = {}
        for part in (alive.AliveService(self), self.hk, functions.FunctionService(self),
                     self.inference, model_slots.ModelSlotService(self)):
            self._handlers.update(part.handlers())

    # -- byte and packet level ------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Bytes from the line in, framed TM out."""
        out = bytearray()
        for tc in self.decoder.feed(data):
            for packet in self.handle(tc):
                out += frame(packet)
        return bytes(out)

    def poll(self) -> bytes:
        """Framed events raised outside a TC (the backend's, background slot checks)
        since the last call: call it periodically. It also drives the background
        re-verification of the model slots (slots.verify_due, a few MiB per call)."""
        self.slots.verify_due(self.monotonic())
        return b"".join(frame(self.event(*e)) for e in self.drain_events())

    def drain_events(self) -> List[Tuple[int, int, int]]:
        drained, self.pending_events = self.pending_events, []
        return drained + self.backend.drain_events() + self.slots.drain_events()

    def event(self, event_id: int, aux1: int = 0, aux2: int = 0, destination: Optional[int] = None) -> bytes:
        """One TM[5,x] packet, logged (events.log_event)."""
        events.log_event(EventId(event_id), aux1, aux2)
        return self.tm.build(*events.report(event_id, aux1, aux2),
                             self.controller_id if destination is None else destination)

    def handle(self, tc: TcPacket) -> List[bytes]:
        """One TC in, its TM packets out."""
        if tc.apid != self.apid:
            self.counters.tc_rejected += 1
            return []
        raw = tc.pack()
        recorded = self.duplicates.get(tc.source_id, raw)
        if recorded is not None:
            self.counters.duplicates_ignored += 1
            return [self._packet(tc, r) for r in recorded]
        request_id = tc.request_id
        if self.authenticator is not None:
            try:
                tc = self.authenticator.verify(tc)
            except AuthError as exc:
                self.counters.auth_rejected += 1
                return [self._packet(tc, verification.failure(verification.ACCEPTANCE, request_id,
                                                              exc.code, 0)),
                        self.event(EventId.AUTH_FAILURE, tc.source_id, exc.code, destination=tc.source_id)]
            except OSError as exc:  # the counter cannot be persisted: the TC must not run
                return self._internal(tc, request_id, verification.ACCEPTANCE, exc)
        self.controller_id = tc.source_id
        self._heard(tc.source_id)
        handler = self._handlers.get((tc.service, tc.subtype))
        try:
            if handler is None:
                known = {s for s, _ in self._handlers}
                code = ErrorCode.BAD_SUBTYPE if tc.service in known else ErrorCode.BAD_SERVICE
                raise CommandError(code, f"no TC[{tc.service},{tc.subtype}]", detail=tc.service)
            execute = handler(tc)
        except CommandError as exc:
            self.counters.tc_rejected += 1
            return [self._packet(tc, verification.failure(verification.ACCEPTANCE, request_id, exc.code,
                                                          exc.detail))]
        except Exception as exc:  # a bug: report it, never leave receive()
            return self._internal(tc, request_id, verification.ACCEPTANCE, exc)
        # Accepted: a byte-identical re-send from now on gets the reports again (ICD §7).
        replies: List[Reply] = []
        self.duplicates.add(tc.source_id, raw, replies)  # filled in below, kept by reference
        if tc.ack_flags & ACK_ACCEPTANCE:
            replies.append(verification.success(verification.ACCEPTANCE, request_id))
        executed: List[Reply] = []
        try:
            execute(executed)
            if tc.ack_flags & ACK_COMPLETION:
                executed.append(verification.success(verification.COMPLETION, request_id))
        except CommandError as exc:
            executed.append(verification.failure(verification.COMPLETION, request_id, exc.code, exc.detail))
        except UncorrectableUpsetError:  # a scrub or protection switch found lost weights
            executed.append(verification.failure(verification.COMPLETION, request_id,
                                                 ErrorCode.UNCORRECTABLE_UPSET, 0))
        except Exception as exc:
            self._log_internal(tc, exc)
            executed.append(verification.failure(verification.COMPLETION, request_id, ErrorCode.INTERNAL, 0))
        sent = replies + executed
        # A duplicate gets the reports again; output chunks are recovered with TC[200,5].
        replies.extend(r for r in executed if (r[0], r[1]) != (Service.INFERENCE, 3))
        return [self._packet(tc, r) for r in sent] + [self.event(*e) for e in self.drain_events()]

    def _internal(self, tc: TcPacket, request_id: bytes, stage: str, exc: Exception) -> List[bytes]:
        self.counters.tc_rejected += 1
        self._log_internal(tc, exc)
        return [self._packet(tc, verification.failure(stage, request_id, ErrorCode.INTERNAL, 0))]

    @staticmethod
    def _log_internal(tc: TcPacket, exc: Exception) -> None:
        log_event(events.log, None, "tc_internal_error", service=tc.service, subtype=tc.subtype,
                  reason=f"{type(exc).__name__}: {exc}")
        events.log.debug("traceback", exc_info=exc)

    def _heard(self, source_id: int) -> None:
        """Keeps the state (duplicate window, staged inputs, results) of the
        MAX_CONTROLLERS source IDs heard most recently; a new one beyond that makes the
        least recently heard one forgotten. With authentication only signed TCs get here."""
        self._controllers[source_id] = None
        self._controllers.move_to_end(source_id)
        while len(self._controllers) > MAX_CONTROLLERS:
            forgotten, _ = self._controllers.popitem(last=False)
            self.duplicates.forget(forgotten)
            self.inference.forget(forgotten)

    def _packet(self, tc: TcPacket, reply: Reply) -> bytes:
        return self.tm.build(reply[0], reply[1], reply[2], tc.source_id)

    def housekeeping(self) -> Dict[str, int]:
        """Every HK field (structure 2's), by name, as it would be reported now."""
        return self.hk.values()

    def reset_counters(self) -> None:
        self.counters = ServiceCounters()
        self.decoder.counters = FrameCounters()
        self.health_baseline = dict(self.backend.health())
        self.slots.integrity_failures = 0
        log_event(events.log, None, "counters_reset")

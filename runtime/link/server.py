"""`radrt serve`: the payload link served by an InferenceSession (ICD roles: runtime side).

`SessionBackend` is the `PayloadBackend` of `services.PayloadService` over the real
session: it runs inferences with the chosen protection, reports health, scrubs on
command, validates and swaps models (the old model serves until the new one is
built), and turns the session's events into ICD events.

`serve(...)` is the loop: bytes from the port go to the service, its TM goes back,
and events are polled between reads (the poll also re-verifies the model slots at
rest, a few MiB per call: ICD §7). `build_service` never fails for a damaged slot: it
serves the most recently active slot that verifies, else --model, else nothing.
SIGINT/SIGTERM set a flag that the loop checks between reads, so the request in hand
finishes and its replies are flushed; then the port is closed and `serve` returns 0.
`serve(backend=...)` serves another SessionBackend (ground tools wrap it: the
accelerated upsets of `radrt fi serve`, fault_injection/upsets.py).
"""
import logging
import os
import signal
import stat
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import InvalidArgumentError
from ..session import InferenceSession
from .auth import Authenticator, CounterStore
from .catalogue import EventId
from .tensors import dtype_code
from .oplog import log_event
from .packets import DEFAULT_APID
from .services import PayloadService
from .slots import DEFAULT_VERIFY_PERIOD_S, ModelSlots
from .transport import DEFAULT_BAUD, open_transport

log = logging.getLogger("radrt.serve")

READ_CHUNK = 4096
READ_TIMEOUT_S = 0.05


class SessionBackend:
    def __init__(self, protection: str = "none"):
        self.protection = protection
        self.session: Optional[InferenceSession] = None
        # Counters and events of the sessions that served before this one (ACTIVATE_SLOT
        # replaces the session): HK counters are cumulative whatever model serves (ICD §5).
        self._carried: Dict[str, int] = {}
        self._carried_events: List[Tuple[int, int, int]] = []

    # -- PayloadBackend ---------------------------------------------------------------
    def input_specs(self) -> Optional[List[Tuple[Tuple[int, ...], np.dtype]]]:
        if self.session is None:
            return None
        return [(tuple(i.shape), i.dtype) for i in self.session.get_inputs()]

    def run(self, feeds: List[np.ndarray]) -> List[np.ndarray]:
        names = [i.name for i in self.session.get_inputs()]
        return self.session.run(None, dict(zip(names, feeds)))

    def health(self) -> Dict[str, int]:
        health = dict(self._carried)
        if self.session is not None:
            for name, value in self.session.health().items():
                health[name] = health.get(name, 0) + value
        return health

    def set_protection(self, mode: str) -> None:
        if self.session is not None:
            self.session.set_protection(mode)
        self.protection = mode

    def scrub(self) -> None:
        if self.session is not None and self.protection != "none":
            self.session.scrub()

    def check_model(self, model: bytes) -> None:
        """Raises if the model does not load, or has an input or output whose dtype the
        link cannot carry (ICD §3 dtype codes): it could never be served."""
        session = InferenceSession(model, scrub_interval_s=None)
        try:
            check_link_dtypes(session)
        finally:
            session.close()

    def load_model(self, model: bytes) -> None:
        new = InferenceSession(model, protection=self.protection)
        try:
            check_link_dtypes(new)
        except ValueError:
            new.close()
            raise
        self._retire()
        self.session = new

    def unload_model(self) -> None:
        """No model serves any more (a corrupt slot with nothing to fall back to):
        inferences answer NO_MODEL."""
        self._retire()

    def _retire(self) -> None:
        """Closes the serving session, keeping its counters and undrained events."""
        old, self.session = self.session, None
        if old is not None:
            self._carried_events += self._session_events(old)
            for name, value in old.health().items():
                self._carried[name] = self._carried.get(name, 0) + value
            old.close()

    def drain_events(self) -> List[Tuple[int, int, int]]:
        events, self._carried_events = self._carried_events, []
        return events + (self._session_events(self.session) if self.session is not None else [])

    @staticmethod
    def _session_events(session: InferenceSession) -> List[Tuple[int, int, int]]:
        # The session's events (runtime.protect.modes.EVENTS) are ICD events by name.
        return [(EventId[name], int(a) & 0xFFFFFFFF, int(b) & 0xFFFFFFFF)
                for name, a, b in session.drain_events()]


def check_link_dtypes(session: InferenceSession) -> None:
    """Raises ValueError naming the first input or output whose dtype has no ICD §3
    dtype code (the link could not carry it)."""
    for kind, args in (("input", session.get_inputs()), ("output", session.get_outputs())):
        for arg in args:
            try:
                dtype_code(arg.dtype)
            except ValueError as exc:
                raise ValueError(f"{kind} '{arg.name}' has dtype {arg.dtype}, which the payload link cannot "
                                 f"carry ({exc})") from exc


def read_key_file(path: str) -> bytes:
    """The HMAC key: refused when other users can read the file."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(f"key file '{path}' has mode {stat.filemode(mode)}: group and others must "
                              f"have no access (chmod 600 {path})")
    key = Path(path).read_bytes().strip()
    try:
        key = bytes.fromhex(key.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        pass  # a raw binary key
    if not key:
        raise ValueError(f"key file '{path}' is empty")
    return key


def build_service(backend: SessionBackend, slots_dir: str, model_path: Optional[str], apid: int,
                  key_file: Optional[str], counter_file: Optional[str],
                  slot_verify_period_s: float = DEFAULT_VERIFY_PERIOD_S) -> PayloadService:
    """The service over `backend`. Raises for the operator's files (a counter file that
    does not hold a counter, a key file, a --model that does not load), never for a
    damaged slot: that one is reported (SLOT_CORRUPT, log) and the next model serves
    (ICD §7 "Slots at rest")."""
    authenticator = None
    if key_file:
        counter = CounterStore(counter_file or os.path.join(slots_dir, "auth_counter"))
        authenticator = Authenticator(read_key_file(key_file), counter)
    else:
        log_event(log, None, "auth_disabled")
    slots = ModelSlots(slots_dir, verify_period_s=slot_verify_period_s)
    slots.attach(backend, model_path)
    serving = slots.start_serving()
    if backend.session is None:
        log_event(log, None, "no_model", slots=slots_dir, verify_period_s=slot_verify_period_s)
    else:
        log_event(log, None, "model_loaded", what=serving, slot=slots.active, slots=slots_dir,
                  verify_period_s=slot_verify_period_s)
    service = PayloadService(backend, slots, apid=apid, authenticator=authenticator)
    service.protection = backend.protection
    return service


def serve(port_url: str, model_path: Optional[str], *, baud: int = DEFAULT_BAUD, protect: str = "none",
          slots_dir: str = "radrt-slots", key_file: Optional[str] = None, counter_file: Optional[str] = None,
          apid: int = DEFAULT_APID, slot_verify_period_s: float = DEFAULT_VERIFY_PERIOD_S,
          stop: Optional[threading.Event] = None, backend: Optional[SessionBackend] = None) -> int:
    """Serves until `stop` is set or SIGINT/SIGTERM; `backend` (default a SessionBackend
    with `protect`) must have been built with protection `protect`."""
    stop = stop or threading.Event()
    backend = backend if backend is not None else SessionBackend(protect)
    if backend.protection != protect:
        raise InvalidArgumentError(f"backend: protection {backend.protection!r} differs from protect={protect!r}; "
                                   f"expected the backend built with the protection served",
                                   argument="backend", value=backend.protection)
    service = build_service(backend, slots_dir, model_path, apid, key_file, counter_file, slot_verify_period_s)
    port = open_transport(port_url, baud)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    log_event(log, None, "runtime_started", port=port_url, baud=baud, apid=f"0x{apid:03X}", protection=protect,
              slot=service.slots.active,
              model=model_path if service.slots.active is None and backend.session is not None else None,
              auth=key_file is not None)
    try:
        while not stop.is_set():
            data = port.read(READ_CHUNK, READ_TIMEOUT_S)
            out = service.receive(data) if data else b""
            out += service.poll()
            if out:
                port.write(out)
    finally:
        port.close()
        if backend.session is not None:
            backend.session.close()
        log_event(log, None, "runtime_stopped", **service.housekeeping())
    return 0

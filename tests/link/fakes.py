"""In-test stand-ins: a PayloadBackend fake and a responder thread that serves a
PayloadService over a byte stream (optionally dropping replies)."""
import threading
from typing import Callable, List, Optional

import numpy as np

from runtime.errors import UncorrectableUpsetError
from runtime.link.framing import frame


class FakeBackend:
    """Doubles its single float32 input of shape (2, 3); `model` bytes b"bad..." fail
    validation. Counts runs so tests can tell an execution from a re-sent report."""

    def __init__(self, served: bool = True):
        self.served = served
        self.runs = 0
        self.scrubs = 0
        self.mode = "none"
        self.loaded: List[bytes] = []
        self.counters = {"scrub_passes": 0, "upsets_corrected": 0}
        self.events: list = []
        self.fail_next: Optional[Exception] = None
        self.outputs: Callable = lambda x: [x * 2, np.arange(3000, dtype=np.int64)]

    def input_specs(self):
        return [((2, 3), np.dtype(np.float32))] if self.served else None

    def run(self, feeds):
        self.runs += 1
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        self.counters["upsets_corrected"] += 1
        return self.outputs(feeds[0])

    def health(self):
        return dict(self.counters)

    def set_protection(self, mode):
        self.mode = mode

    def scrub(self):
        self.scrubs += 1
        self.counters["scrub_passes"] += 1

    def check_model(self, model):
        if model.startswith(b"bad"):
            raise ValueError("node 'n0': op type 'Bad' is not supported")

    def load_model(self, model):
        self.check_model(model)
        self.loaded.append(model)
        self.served = True

    def drain_events(self):
        events, self.events = self.events, []
        return events


UNCORRECTABLE = UncorrectableUpsetError("weights: block 3 has no good copy")


class Responder(threading.Thread):
    """Feeds bytes from `stream` to `service` and writes its replies back. `drop(n)`
    is asked for each reply frame (n counts from 0) and drops it when it says True."""

    def __init__(self, stream, service, drop: Callable[[int], bool] = lambda n: False):
        super().__init__(daemon=True)
        self.stream, self.service, self.drop = stream, service, drop
        self.stop = threading.Event()
        self.sent = 0

    def run(self):
        decoder = self.service.decoder
        while not self.stop.is_set():
            data = self.stream.read(4096, 0.05)
            if not data:
                continue
            for tc in decoder.feed(data):
                for packet in self.service.handle(tc):
                    if not self.drop(self.sent):
                        self.stream.write(frame(packet))
                    self.sent += 1

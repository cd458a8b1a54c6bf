"""The background scrubber: a daemon thread that scrubs a chunk of the weights per wake-up.

Interplay with `run()` (they share the weight copies): the session's lock is
held by `run()` for a whole inference and by the scrubber for one chunk, so a
repair never lands while a kernel reads the weights, and a scrub never sees a
half-voted state. `run()` waits at most one chunk (default 1 MiB per copy:
well under a millisecond at the CRC32C rate). The thread holds only a weak
reference to its session and ends when the session is closed or collected.
If a wake-up raises, the thread records the exception in `failure` and ends;
the session's next run() or scrub() raises it, so a dead scrubber is never
silent.
"""
import threading
import weakref
from typing import Optional

from ..arguments import check_integer, check_seconds

DEFAULT_INTERVAL_S = 0.1
DEFAULT_CHUNK_BYTES = 1 << 20
# Longest wake-up interval: a day. Much longer waits overflow Event.wait's
# platform timeout (threading.TIMEOUT_MAX) and would end the thread silently.
MAX_INTERVAL_S = 86400.0
# Shortest wake-up interval: a millisecond. Each wake-up takes the session's
# lock, so a shorter interval would spin the thread and starve run().
MIN_INTERVAL_S = 1e-3


class BackgroundScrubber(threading.Thread):
    def __init__(self, session, interval_s: float, chunk_bytes: int):
        super().__init__(name="radrt-scrubber", daemon=True)
        self._session = weakref.ref(session)
        self.interval_s = check_seconds("scrub_interval_s", interval_s, MAX_INTERVAL_S, MIN_INTERVAL_S)
        self.chunk_bytes = check_integer("scrub_chunk_bytes", chunk_bytes, 1)
        self._stopped = threading.Event()
        self.failure: Optional[BaseException] = None

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval_s):
                session = self._session()
                if session is None:
                    return
                session._scrub_step(self.chunk_bytes)
                del session
        except BaseException as e:  # raised again by the session's next run() or scrub()
            self.failure = e

    def stop(self) -> None:
        self._stopped.set()

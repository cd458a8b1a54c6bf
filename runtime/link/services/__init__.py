"""The runtime's side of the payload link (docs/icd.md): one module per PUS service.

- service.py        PayloadService: bytes → TCs → the services → TM; duplicates, auth
- verification.py   PUS 1: acceptance/completion reports, the duplicate window
- housekeeping.py   PUS 3: HK structures 1 and 2
- events.py         PUS 5: event reports, each also logged
- functions.py      PUS 8: SET_PROTECTION, SCRUB_NOW, ACTIVATE_SLOT, RESET_COUNTERS
- alive.py          PUS 17: are-you-alive
- inference.py      PUS 200: inputs staged per source, run, results re-sent by range
- model_slots.py    PUS 201: upload, commit, slot status
"""
from .housekeeping import HEALTH_FIELDS
from .inference import (MAX_CONTROLLERS, RESULTS_PER_SOURCE, STAGED_PER_SOURCE, STAGED_REQUESTS, RunResult,
                        crc32_of)
from .service import PayloadBackend, PayloadService, ServiceCounters
from .verification import DUPLICATE_WINDOW

__all__ = ["PayloadService", "PayloadBackend", "ServiceCounters", "RunResult", "crc32_of", "HEALTH_FIELDS",
           "DUPLICATE_WINDOW", "MAX_CONTROLLERS", "RESULTS_PER_SOURCE", "STAGED_PER_SOURCE", "STAGED_REQUESTS"]

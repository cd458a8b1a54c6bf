"""PUS service 3, housekeeping (docs/icd.md §5): TC[3,27] one-shot request for
structure 1 or 2 → TM[3,25] with the fields of catalogue.HK_STRUCTURES in order.

Values: the protection counters are the backend's (named as
runtime.protect.modes.HEALTH_COUNTERS) minus their value at the last RESET_COUNTERS;
frame counters are the FrameDecoder's; the link's own counters are
service.ServiceCounters; slot_integrity_failures is the slots'. u32 counters wrap.
"""
from typing import Dict

from ...protect.modes import HEALTH_NAMES
from ..catalogue import (HK_STRUCTURES, ICD_VERSION, NO_ACTIVE_SLOT, PROTECTION_MODES, CommandError,
                         ErrorCode, Service, message)

REQUEST = message(Service.HOUSEKEEPING, 27)
# The protection counters HK reports, named as runtime.protect.modes defines them.
HEALTH_FIELDS = tuple(name for name in HK_STRUCTURES[2].names if name in HEALTH_NAMES)


class HousekeepingService:
    def __init__(self, core):
        self.core = core

    def handlers(self):
        return {(Service.HOUSEKEEPING, 27): self.request}

    def values(self) -> Dict[str, int]:
        """Every field of structure 2, by name (structure 1 is a prefix of it)."""
        core = self.core
        health = core.backend.health()
        frames = core.decoder.counters
        values = {name: health.get(name, 0) - core.health_baseline.get(name, 0) for name in HEALTH_FIELDS}
        values.update(uptime_s=int(core.monotonic() - core.started),
                      frames_ok=frames.frames_ok, frames_bad_crc=frames.frames_bad_crc,
                      frames_bad_format=frames.frames_bad_format, frames_oversize=frames.frames_oversize,
                      **vars(core.counters),
                      active_slot=NO_ACTIVE_SLOT if core.slots.active is None else core.slots.active,
                      protection_mode=PROTECTION_MODES.index(core.protection),
                      icd_version=ICD_VERSION,
                      slot_integrity_failures=core.slots.integrity_failures)
        return values

    def request(self, tc):
        structure_id = REQUEST.unpack(tc.app_data)["structure_id"]
        structure = HK_STRUCTURES.get(structure_id)
        if structure is None:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"HK structure {structure_id} unknown; known "
                               f"{sorted(HK_STRUCTURES)}", detail=structure_id)
        return lambda replies: replies.append((Service.HOUSEKEEPING, 25, structure.pack(self.values())))

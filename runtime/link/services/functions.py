"""PUS service 8, function management (docs/icd.md §6): TC[8,1] function ID u16 then
the function's arguments (catalogue.FUNCTION_ARGS): SET_PROTECTION, SCRUB_NOW,
ACTIVATE_SLOT, RESET_COUNTERS. Arguments are checked at acceptance; the function runs
at execution, and its completion report comes when it is done."""
import logging
import struct

from ..catalogue import FUNCTION_ARGS, PROTECTION_MODES, CommandError, ErrorCode, EventId, Function, Service
from ..oplog import log_event

log = logging.getLogger("radrt.link")


class FunctionService:
    def __init__(self, core):
        self.core = core

    def handlers(self):
        return {(Service.FUNCTIONS, 1): self.function}

    def function(self, tc):
        data = tc.app_data
        if len(data) < 2:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[8,1]: {len(data)} bytes, function ID needs 2",
                               detail=len(data))
        (function_id,) = struct.unpack_from(">H", data)
        if function_id not in FUNCTION_ARGS:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"function ID {function_id} unknown; known "
                               f"{sorted(int(f) for f in FUNCTION_ARGS)}", detail=function_id)
        function = Function(function_id)
        layout = struct.Struct(">" + FUNCTION_ARGS[function])
        if len(data) - 2 != layout.size:
            raise CommandError(ErrorCode.BAD_LENGTH, f"{function.name}: {len(data) - 2} argument bytes, "
                               f"expected {layout.size}", detail=len(data) - 2)
        args = layout.unpack_from(data, 2)
        core = self.core
        if function == Function.SET_PROTECTION:
            (mode,) = args
            if mode >= len(PROTECTION_MODES):
                raise CommandError(ErrorCode.BAD_ARGUMENT, f"protection mode {mode}, known "
                                   f"0..{len(PROTECTION_MODES) - 1}", detail=mode)
            return lambda replies: self.set_protection(PROTECTION_MODES[mode])
        if function == Function.SCRUB_NOW:
            return lambda replies: core.backend.scrub()
        if function == Function.ACTIVATE_SLOT:
            (slot,) = args
            core.slots.check_slot(slot)
            return lambda replies: self.activate(slot)
        return lambda replies: core.reset_counters()

    def set_protection(self, mode: str) -> None:
        old = self.core.protection
        self.core.backend.set_protection(mode)
        self.core.protection = mode
        log_event(log, None, "mode_change", mode=mode, mode_code=PROTECTION_MODES.index(mode), previous=old)

    def activate(self, slot: int) -> None:
        try:
            self.core.slots.activate(slot, self.core.backend.load_model)
        except CommandError as exc:
            self.core.pending_events.append((EventId.MODEL_REJECTED, slot, exc.code))
            raise
        self.core.pending_events.append((EventId.MODEL_ACTIVATED, slot, 0))

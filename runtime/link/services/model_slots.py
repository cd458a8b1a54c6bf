"""PUS service 201, model slots (docs/icd.md §4, §7): begin upload, idempotent chunks,
commit (SHA-256 and model check, atomic), slot status. The file handling and its
power-cut safety are ../slots.py; this module checks arguments and reports."""
import logging

from ..catalogue import UPLOAD_CHUNK_HEADER, CommandError, ErrorCode, EventId, Service, message
from ..oplog import log_event

log = logging.getLogger("radrt.link")
BEGIN = message(Service.MODEL_SLOTS, 1)
COMMIT = message(Service.MODEL_SLOTS, 3)
STATUS_REQUEST = message(Service.MODEL_SLOTS, 4)
STATUS = message(Service.MODEL_SLOTS, 5)


class ModelSlotService:
    def __init__(self, core):
        self.core = core

    def handlers(self):
        return {(Service.MODEL_SLOTS, 1): self.begin, (Service.MODEL_SLOTS, 2): self.chunk,
                (Service.MODEL_SLOTS, 3): self.commit, (Service.MODEL_SLOTS, 4): self.status}

    def begin(self, tc):
        args = BEGIN.unpack(tc.app_data)
        slots = self.core.slots
        slots.check_slot(args["slot"])

        def execute(replies):
            slots.begin(args["slot"], args["total_bytes"], args["sha256"])
            log_event(log, None, "upload_begun", slot=args["slot"], bytes=args["total_bytes"],
                      sha256=args["sha256"])
        return execute

    def chunk(self, tc):
        data = tc.app_data
        if len(data) < UPLOAD_CHUNK_HEADER.size:
            raise CommandError(ErrorCode.BAD_LENGTH, f"TC[201,2]: {len(data)} bytes, header needs "
                               f"{UPLOAD_CHUNK_HEADER.size}", detail=len(data))
        slot, offset = UPLOAD_CHUNK_HEADER.unpack_from(data)
        self.core.slots.check_slot(slot)
        return lambda replies: self.core.slots.write(slot, offset, data[UPLOAD_CHUNK_HEADER.size:])

    def commit(self, tc):
        slot = COMMIT.unpack(tc.app_data)["slot"]
        self.core.slots.check_slot(slot)

        def execute(replies):
            try:
                self.core.slots.commit(slot, self.core.backend.check_model)
            except CommandError as exc:
                self.core.pending_events.append((EventId.MODEL_REJECTED, slot, exc.code))
                raise
            status = self.core.slots.status(slot)
            log_event(log, None, "upload_committed", slot=slot, bytes=status.bytes, sha256=status.sha256)
        return execute

    def status(self, tc):
        slot = STATUS_REQUEST.unpack(tc.app_data)["slot"]
        self.core.slots.check_slot(slot)

        def execute(replies):
            s = self.core.slots.status(slot)
            replies.append((Service.MODEL_SLOTS, 5, STATUS.pack(slot=slot, state=s.state, bytes=s.bytes,
                                                                sha256=s.sha256)))
        return execute

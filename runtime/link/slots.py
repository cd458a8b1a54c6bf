"""Model slots (ICD §4 service 201, §7): upload, commit, activate, with power-cut safety.

Files in the slot folder:
- `slotN.part`  an upload in progress (chunks written at their offsets);
- `slotN.onnx`  a committed model;
- `active`      the number of the active slot.

Invariants:
- an upload never touches the active slot (begin on it fails with SLOT_BUSY);
- a commit checks the SHA-256 and the validator, fsyncs the `.part` file and renames it
  over `slotN.onnx`, then fsyncs the folder: a power cut leaves either the old or the
  new file, never a torn one, and never changes which slot is active;
- `active` is replaced the same way (write temp, fsync, rename, fsync folder), after
  the backend has loaded the new model, so the old model serves until the swap.
An upload in progress does not survive a restart (its `.part` is deleted at start-up);
it resumes across link outages and controller restarts (begin with the same size and
hash keeps what was received; slot status tells how far).
"""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Union

from .catalogue import CommandError, ErrorCode, SlotState
from .tensors import ByteRanges

DEFAULT_SLOTS = 4
MAX_MODEL_BYTES = 256 << 20


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a temporary file, fsync it, rename it over `path`, fsync the folder."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_folder(path.parent)


@dataclass
class _Upload:
    total_bytes: int
    sha256: bytes
    ranges: ByteRanges


@dataclass(frozen=True)
class SlotStatus:
    slot: int
    state: SlotState
    bytes: int       # receiving: contiguous prefix received; committed/active: size
    sha256: bytes    # receiving: the announced hash; empty slot: 32 zero bytes


class ModelSlots:
    def __init__(self, folder: Union[str, Path], n_slots: int = DEFAULT_SLOTS,
                 max_model_bytes: int = MAX_MODEL_BYTES):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n_slots = n_slots
        self.max_model_bytes = max_model_bytes
        self._uploads: Dict[int, _Upload] = {}
        self.integrity_failures = 0  # slots found not to match their SHA-256 (HK structure 2)
        self._committed: Dict[int, bytes] = {}  # slot -> sha256 of slotN.onnx
        for leftover in list(self.folder.glob("*.part")) + list(self.folder.glob("*.tmp")):
            leftover.unlink()
        for slot in range(n_slots):
            path = self._model_path(slot)
            if path.exists():
                self._committed[slot] = hashlib.sha256(path.read_bytes()).digest()
        self.active: Optional[int] = None
        active_file = self.folder / "active"
        if active_file.exists():
            slot = int(active_file.read_text().strip())
            if slot in self._committed:
                self.active = slot

    def _model_path(self, slot: int) -> Path:
        return self.folder / f"slot{slot}.onnx"

    def _part_path(self, slot: int) -> Path:
        return self.folder / f"slot{slot}.part"

    def check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.n_slots:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot}, expected 0..{self.n_slots - 1}",
                               detail=slot)

    def status(self, slot: int) -> SlotStatus:
        self.check_slot(slot)
        if slot in self._uploads:
            upload = self._uploads[slot]
            return SlotStatus(slot, SlotState.RECEIVING, upload.ranges.prefix, upload.sha256)
        if slot in self._committed:
            state = SlotState.ACTIVE if slot == self.active else SlotState.COMMITTED
            return SlotStatus(slot, state, self._model_path(slot).stat().st_size, self._committed[slot])
        return SlotStatus(slot, SlotState.EMPTY, 0, bytes(32))

    def begin(self, slot: int, total_bytes: int, sha256: bytes) -> None:
        """Starts an upload, or keeps the one in progress if it has the same size and
        hash (resume)."""
        self.check_slot(slot)
        if slot == self.active:
            raise CommandError(ErrorCode.SLOT_BUSY, f"slot {slot} is active; upload to another slot",
                               detail=slot)
        if not 0 < total_bytes <= self.max_model_bytes:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"model of {total_bytes} bytes, expected "
                               f"1..{self.max_model_bytes}", detail=total_bytes)
        current = self._uploads.get(slot)
        if current and (current.total_bytes, current.sha256) == (total_bytes, sha256):
            return
        with open(self._part_path(slot), "wb") as f:
            f.truncate(total_bytes)
        self._uploads[slot] = _Upload(total_bytes, bytes(sha256), ByteRanges(total_bytes))

    def write(self, slot: int, offset: int, data: bytes) -> None:
        self.check_slot(slot)
        upload = self._uploads.get(slot)
        if upload is None:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} is not receiving; begin first",
                               detail=slot)
        if offset + len(data) > upload.total_bytes:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"chunk [{offset}, {offset + len(data)}) past "
                               f"the model's {upload.total_bytes} bytes", detail=offset)
        fd = os.open(self._part_path(slot), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        upload.ranges.add(offset, len(data))

    def commit(self, slot: int, validate: Callable[[bytes], None]) -> None:
        """Checks hash and model, then makes the upload the slot's committed model."""
        self.check_slot(slot)
        upload = self._uploads.get(slot)
        if upload is None:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} is not receiving", detail=slot)
        if not upload.ranges.complete:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot}: missing byte ranges "
                               f"{upload.ranges.missing()[:4]}", detail=upload.ranges.prefix)
        part = self._part_path(slot)
        model = part.read_bytes()
        if hashlib.sha256(model).digest() != upload.sha256:
            self._abandon(slot)
            raise CommandError(ErrorCode.HASH_MISMATCH, f"slot {slot}: SHA-256 of the upload differs "
                               f"from the one announced", detail=slot)
        try:
            validate(model)
        except CommandError:
            self._abandon(slot)
            raise
        except Exception as exc:
            self._abandon(slot)
            raise CommandError(ErrorCode.MODEL_INVALID, f"slot {slot}: {exc}", detail=slot) from exc
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, self._model_path(slot))
        _fsync_folder(self.folder)
        del self._uploads[slot]
        self._committed[slot] = upload.sha256

    def _abandon(self, slot: int) -> None:
        del self._uploads[slot]
        self._part_path(slot).unlink()

    def model_bytes(self, slot: int) -> bytes:
        return self._model_path(slot).read_bytes()

    def activate(self, slot: int, load: Callable[[bytes], None]) -> None:
        """`load` swaps the serving model (and raises, keeping the old one, if it
        cannot); then the choice is persisted."""
        self.check_slot(slot)
        if slot not in self._committed or slot in self._uploads:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} holds no committed model",
                               detail=slot)
        try:
            load(self.model_bytes(slot))
        except CommandError:
            raise
        except Exception as exc:
            raise CommandError(ErrorCode.MODEL_INVALID, f"slot {slot}: {exc}", detail=slot) from exc
        write_atomically(self.folder / "active", f"{slot}\n".encode())
        self.active = slot

"""Model slots (ICD §4 service 201, §7): upload, commit, activate, and verification at rest.

Files in the slot folder:
- `slotN.part`    an upload in progress (chunks written at their offsets);
- `slotN.onnx`    a committed model;
- `slotN.sha256`  its record, one line `<sha256 hex> <bytes>`. While a commit replaces
                  the model a second line names what the slot held before (`<hex>
                  <bytes>`, or `empty`), so a power cut between the record and the
                  rename leaves a slot that still verifies (as its old or its new model);
- `active`        the activation history, most recent first (`2 0\n`): the first slot
                  of it that verifies and loads serves.

Invariants:
- an upload never touches the active slot (begin on it fails with SLOT_BUSY);
- a commit checks the SHA-256 and the validator, fsyncs the `.part` file, writes the
  record (new and previous content), renames the `.part` over `slotN.onnx`, fsyncs the
  folder, then rewrites the record with the new content only: a power cut leaves either
  the old or the new model, each matching its record, and never changes which slot is
  active;
- `active` is replaced the same way (write temp, fsync, rename, fsync folder), after
  the backend has loaded the new model, so the old model serves until the swap;
- a model is never loaded unless the bytes loaded hash to its record (read once, hashed,
  then those bytes are loaded: start-up, ACTIVATE_SLOT, fallback).

Verification at rest (ICD v2 §7 "Slots at rest"), as cFS CS scrubs its regions:
- start-up: records are parsed and sizes checked (a stat); the slot to serve is hashed
  in full before it loads;
- background: `verify_due(now)`, called from the serve loop, starts a pass over every
  committed slot when one is due (the first at the first call, then every
  `verify_period_s`), and hashes at most `verify_step_bytes` per call, keeping the hash
  state and offset between calls, so one call never stalls the link long;
- a slot that fails (file missing, truncated, unreadable, a hash or size that differs,
  a record missing or garbled) gets state CORRUPT, event SLOT_CORRUPT (slot, 0),
  `integrity_failures` + 1 and a log line, and leaves the activation history. If it was
  serving, the attached holder serves the most recently active slot that verifies, else
  the model given at start-up, else none (inferences answer NO_MODEL). Nothing here
  raises for a damaged slot except ACTIVATE_SLOT (HASH_MISMATCH) and the TCs on it.
A CORRUPT slot can be overwritten by a new upload and cannot be activated.

An upload in progress does not survive a restart (its `.part` is deleted at start-up);
it resumes across link outages and controller restarts (begin with the same size and
hash keeps what was received; slot status tells how far).
"""
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Protocol, Tuple, Union

from ..errors import InvalidArgumentError
from .catalogue import CommandError, ErrorCode, EventId, SlotState
from .tensors import ByteRanges

DEFAULT_SLOTS = 4
MAX_MODEL_BYTES = 256 << 20
DEFAULT_VERIFY_PERIOD_S = 600.0
DEFAULT_VERIFY_STEP_BYTES = 4 << 20  # per verify_due call: ~8 ms on the 2-core x86_64 dev VM (~540 MB/s)

log = logging.getLogger("radrt.slots")

Content = Tuple[bytes, int]  # (sha256, size in bytes) of a model file


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


class ModelHolder(Protocol):
    """What serves the model: `load_model(bytes)` swaps it in (raises, keeping the old
    one, if it cannot); `unload_model()` stops serving any model (→ NO_MODEL)."""

    def load_model(self, model: bytes) -> None: ...
    def unload_model(self) -> None: ...


class RecordError(ValueError):
    """A slot record that is missing or does not parse."""


def format_record(contents: List[Optional[Content]]) -> bytes:
    """Record lines: `<sha256 hex> <bytes>` per content, `empty` for an empty slot."""
    return b"".join(b"empty\n" if c is None else f"{c[0].hex()} {c[1]}\n".encode() for c in contents)


def parse_record(raw: bytes) -> List[Optional[Content]]:
    """The contents a record accepts (first: the committed one). Raises RecordError."""
    try:
        lines = raw.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise RecordError(f"record is not ASCII text ({raw[:40]!r})") from None
    if not 1 <= len(lines) <= 2:
        raise RecordError(f"record has {len(lines)} lines, expected 1 or 2")
    contents: List[Optional[Content]] = []
    for line in lines:
        if line == "empty" and contents:
            contents.append(None)
            continue
        words = line.split(" ")
        if len(words) != 2 or len(words[0]) != 64 or not words[1].isdigit():
            raise RecordError(f"record line {line[:80]!r}, expected '<64 hex digits> <bytes>'")
        try:
            digest = bytes.fromhex(words[0])
        except ValueError:
            raise RecordError(f"record line {line[:80]!r}: the SHA-256 is not hex") from None
        contents.append((digest, int(words[1])))
    return contents


@dataclass
class _Upload:
    total_bytes: int
    sha256: bytes
    ranges: ByteRanges


@dataclass
class _Corrupt:
    reason: str
    sha256: bytes  # the recorded hash when known, else 32 zero bytes
    size: int      # the file's size when it exists, else 0


@dataclass
class _Pass:
    """A background verification pass: slots left, and the one being hashed."""
    queue: List[int]
    slot: Optional[int] = None
    generation: int = 0
    expected: Optional[Content] = None
    offset: int = 0
    hasher: "hashlib._Hash" = field(default_factory=hashlib.sha256)


@dataclass(frozen=True)
class SlotStatus:
    slot: int
    state: SlotState
    bytes: int       # receiving: contiguous prefix received; committed/active/corrupt: size
    sha256: bytes    # receiving: the announced hash; corrupt: the recorded one; empty: zeros


class ModelSlots:
    """The slot folder. Events raised here (SLOT_CORRUPT) wait in `drain_events()`;
    `integrity_failures` counts slots found corrupt (HK slot_integrity_failures)."""

    def __init__(self, folder: Union[str, Path], n_slots: int = DEFAULT_SLOTS,
                 max_model_bytes: int = MAX_MODEL_BYTES, *,
                 verify_period_s: float = DEFAULT_VERIFY_PERIOD_S,
                 verify_step_bytes: int = DEFAULT_VERIFY_STEP_BYTES):
        if not verify_period_s > 0:
            raise ValueError(f"slot verification period {verify_period_s} s, expected > 0")
        if verify_step_bytes < 1:
            raise ValueError(f"slot verification step {verify_step_bytes} bytes, expected >= 1")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n_slots = n_slots
        self.max_model_bytes = max_model_bytes
        self.verify_period_s = verify_period_s
        self.verify_step_bytes = verify_step_bytes
        self.integrity_failures = 0
        self.verify_passes = 0           # background passes completed
        self.holder: Optional[ModelHolder] = None
        self.default_model: Optional[Path] = None
        self.active: Optional[int] = None  # the slot serving (or chosen to serve at start-up)
        self._uploads: Dict[int, _Upload] = {}
        self._committed: Dict[int, Content] = {}  # slot -> (sha256, size) of slotN.onnx
        self._corrupt: Dict[int, _Corrupt] = {}
        self._generation: Dict[int, int] = {}  # + 1 per commit: a pass drops a replaced slot
        self._events: List[Tuple[int, int, int]] = []
        self._pass: Optional[_Pass] = None
        self._next_due: Optional[float] = None
        for leftover in list(self.folder.glob("*.part")) + list(self.folder.glob("*.tmp")):
            try:
                leftover.unlink()
            except OSError as exc:  # e.g. a folder of that name: in the way of nothing yet
                log.error("leftover %s not removed (%s)", leftover, exc)
        self.history: List[int] = self._read_history()
        for slot in range(n_slots):
            self._load_record(slot)
        self.history = [s for s in self.history if s in self._committed]
        if self.history:
            self.active = self.history[0]

    # -- files ------------------------------------------------------------------------

    def _model_path(self, slot: int) -> Path:
        return self.folder / f"slot{slot}.onnx"

    def _part_path(self, slot: int) -> Path:
        return self.folder / f"slot{slot}.part"

    def _record_path(self, slot: int) -> Path:
        return self.folder / f"slot{slot}.sha256"

    def _read_history(self) -> List[int]:
        path = self.folder / "active"
        try:
            text = path.read_text(encoding="ascii") if path.exists() else ""
            history = [int(word) for word in text.split()]
        except (OSError, ValueError) as exc:
            log.error("activation history %s unreadable (%s): no slot is taken as active", path, exc)
            return []
        if any(not 0 <= s < self.n_slots for s in history) or len(set(history)) != len(history):
            log.error("activation history %s holds %r, expected distinct slots 0..%d: no slot is "
                      "taken as active", path, text.strip()[:80], self.n_slots - 1)
            return []
        return history

    def _write_history(self) -> None:
        write_atomically(self.folder / "active", (" ".join(map(str, self.history)) + "\n").encode())

    def _load_record(self, slot: int) -> None:
        """Start-up: the slot's state from its record and a stat of its file (a hash only
        when a power cut left a record naming two contents)."""
        model, record = self._model_path(slot), self._record_path(slot)
        if not model.exists() and not record.exists():
            return
        try:
            if not record.exists():
                raise RecordError(f"record {record.name} is missing")
            contents = parse_record(record.read_bytes())
            if not model.exists():
                if None in contents:  # a power cut before a first commit's rename
                    record.unlink()
                    _fsync_folder(self.folder)
                    return
                raise RecordError(f"model file {model.name} is missing")
            size = model.stat().st_size
            candidates = [c for c in contents if c is not None and c[1] == size]
            if not candidates:
                raise RecordError(f"{model.name} has {size} bytes, its record says "
                                  f"{' or '.join(str(c[1]) for c in contents if c)}")
            if len(contents) > 1:  # a power cut during a commit: which content is there?
                digest = hashlib.sha256(model.read_bytes()).digest()
                match = [c for c in candidates if c[0] == digest]
                if not match:
                    raise RecordError(f"{model.name} SHA-256 {digest.hex()[:16]}... matches "
                                      f"neither content of its record")
                write_atomically(record, format_record(match[:1]))
                candidates = match
            self._committed[slot] = candidates[0]
        except (OSError, RecordError) as exc:
            self._mark_corrupt(slot, str(exc))

    def _file_size(self, slot: int) -> int:
        try:
            return self._model_path(slot).stat().st_size
        except OSError:
            return 0

    # -- state ------------------------------------------------------------------------

    def check_slot(self, slot: int) -> None:
        if not 0 <= slot < self.n_slots:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot}, expected 0..{self.n_slots - 1}",
                               detail=slot)

    def status(self, slot: int) -> SlotStatus:
        self.check_slot(slot)
        if slot in self._uploads:
            upload = self._uploads[slot]
            return SlotStatus(slot, SlotState.RECEIVING, upload.ranges.prefix, upload.sha256)
        if slot in self._corrupt:
            corrupt = self._corrupt[slot]
            return SlotStatus(slot, SlotState.CORRUPT, corrupt.size, corrupt.sha256)
        if slot in self._committed:
            state = SlotState.ACTIVE if slot == self.active else SlotState.COMMITTED
            sha256, size = self._committed[slot]
            return SlotStatus(slot, state, size, sha256)
        return SlotStatus(slot, SlotState.EMPTY, 0, bytes(32))

    def drain_events(self) -> List[Tuple[int, int, int]]:
        """[(EventId, aux1, aux2)] raised since the last call (SLOT_CORRUPT)."""
        events, self._events = self._events, []
        return events

    # -- upload -----------------------------------------------------------------------

    def begin(self, slot: int, total_bytes: int, sha256: bytes) -> None:
        """Starts an upload, or keeps the one in progress if it has the same size and
        hash (resume). A CORRUPT slot may be overwritten."""
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
        """Checks hash and model, then makes the upload the slot's committed model, with
        its record (see the module doc for the order of the writes)."""
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
        new: Content = (upload.sha256, len(model))
        if slot in self.history:  # it no longer holds the model that was activated
            self.history.remove(slot)
            self._write_history()
        if slot in self._committed:
            previous: List[Optional[Content]] = [self._committed[slot]]
        else:
            previous = [] if self._model_path(slot).exists() else [None]
        record = self._record_path(slot)
        write_atomically(record, format_record([new] + previous))
        os.replace(part, self._model_path(slot))
        _fsync_folder(self.folder)
        write_atomically(record, format_record([new]))
        del self._uploads[slot]
        self._generation[slot] = self._generation.get(slot, 0) + 1
        self._corrupt.pop(slot, None)
        self._committed[slot] = new

    def _abandon(self, slot: int) -> None:
        del self._uploads[slot]
        self._part_path(slot).unlink()

    def model_bytes(self, slot: int) -> bytes:
        """The slot file as it is, unverified (see `verified_model`)."""
        return self._model_path(slot).read_bytes()

    # -- verification -----------------------------------------------------------------

    def verified_model(self, slot: int) -> bytes:
        """The committed model's bytes, read once and checked against the record. A slot
        that does not verify is marked CORRUPT (with a fallback if it served) and this
        raises CommandError HASH_MISMATCH (detail = slot)."""
        expected = self._committed.get(slot)
        if expected is None:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} holds no committed model "
                               f"(state {self.status(slot).state.name})", detail=slot)
        try:
            model = self._model_path(slot).read_bytes()
            if len(model) != expected[1]:
                raise RecordError(f"{len(model)} bytes, its record says {expected[1]}")
            digest = hashlib.sha256(model).digest()
            if digest != expected[0]:
                raise RecordError(f"SHA-256 {digest.hex()[:16]}... differs from its record "
                                  f"{expected[0].hex()[:16]}...")
        except (OSError, RecordError) as exc:
            self._mark_corrupt(slot, str(exc))
            raise CommandError(ErrorCode.HASH_MISMATCH, f"slot {slot} does not verify: {exc}",
                               detail=slot) from exc
        return model

    def _mark_corrupt(self, slot: int, reason: str) -> None:
        sha256 = self._committed.pop(slot, (bytes(32), 0))[0]
        if sha256 == bytes(32):
            try:
                contents = parse_record(self._record_path(slot).read_bytes())
                sha256 = contents[0][0] if contents[0] else sha256
            except (OSError, RecordError):
                pass  # the record is what failed: report zeros
        self._corrupt[slot] = _Corrupt(reason, sha256, self._file_size(slot))
        self.integrity_failures += 1
        self._events.append((EventId.SLOT_CORRUPT, slot, 0))
        log.error("slot %d is corrupt (%s): it is not served; upload a model into it again",
                  slot, reason, extra={"event": "slot_verification_failed",
                                       "fields": {"slot": slot, "reason": reason}})
        if slot in self.history:
            self.history.remove(slot)
            try:
                self._write_history()
            except OSError as exc:
                log.error("activation history not rewritten (%s): slot %d stays out of it "
                          "until the restart re-checks it", exc, slot)
        if slot == self.active:
            self.active = None
            self._fall_back()

    def verify_due(self, now: float) -> None:
        """Background re-verification (call it from the serve loop; `now` in seconds
        of a monotonic clock). Hashes at most `verify_step_bytes` per call."""
        if self._next_due is None:
            self._next_due = now  # the first pass starts at once: start-up hashed only the served slot
        if self._pass is None:
            if now < self._next_due:
                return
            self._pass = _Pass(queue=sorted(self._committed))
        budget = self.verify_step_bytes
        while budget > 0:
            p = self._pass
            if p.slot is not None and (self._generation.get(p.slot, 0) != p.generation
                                       or p.slot not in self._committed):
                p.slot = None  # replaced or found corrupt meanwhile
            if p.slot is None:
                if not p.queue:
                    self._pass = None
                    self._next_due = now + self.verify_period_s
                    self.verify_passes += 1
                    return
                slot = p.queue.pop(0)
                if slot in self._committed:
                    p.slot, p.generation = slot, self._generation.get(slot, 0)
                    p.expected, p.offset, p.hasher = self._committed[slot], 0, hashlib.sha256()
                continue
            budget -= self._hash_step(p, budget)

    def _hash_step(self, p: _Pass, budget: int) -> int:
        """Hashes up to `budget` bytes of the pass's slot; returns the bytes read."""
        slot, (sha256, size) = p.slot, p.expected
        try:
            with open(self._model_path(slot), "rb") as f:
                if os.fstat(f.fileno()).st_size != size:
                    raise RecordError(f"{os.fstat(f.fileno()).st_size} bytes, its record says {size}")
                f.seek(p.offset)
                data = f.read(min(budget, size - p.offset))
            if p.offset + len(data) < size and not data:
                raise RecordError(f"read stopped at byte {p.offset} of {size}")
            p.hasher.update(data)
            p.offset += len(data)
            if p.offset == size:
                p.slot = None
                if p.hasher.digest() != sha256:
                    raise RecordError(f"SHA-256 {p.hasher.hexdigest()[:16]}... differs from its record "
                                      f"{sha256.hex()[:16]}...")
            return max(len(data), 1)
        except (OSError, RecordError) as exc:
            p.slot = None
            self._mark_corrupt(slot, f"background verification: {exc}")
            return 1

    # -- serving ----------------------------------------------------------------------

    def attach(self, holder: ModelHolder, default_model: Optional[Union[str, Path]] = None) -> None:
        """What serves, and the model given at start-up (the last fallback)."""
        self.holder = holder
        self.default_model = Path(default_model) if default_model else None

    def start_serving(self) -> str:
        """Start-up: loads the most recently active slot that verifies, else the
        default model, else nothing. Returns what serves, for the log. A damaged slot
        never raises; a default model that does not load does (the operator's file)."""
        return self._serve_best(at_start=True)

    def _fall_back(self) -> None:
        if self.holder is None:
            log.error("no model holder attached: nothing unloaded the corrupt slot")
            return
        serving = self._serve_best(at_start=False)
        log.warning("now serving %s", serving, extra={"event": "serving_fallback",
                                                      "fields": {"slot": self.active, "serving": serving}})

    def _serve_best(self, at_start: bool) -> str:
        self.active = None
        for slot in list(self.history):
            try:
                model = self.verified_model(slot)
                self.holder.load_model(model)
            except CommandError:
                continue  # marked corrupt, logged
            except Exception as exc:
                log.error("slot %d verifies but does not load (%s): trying the next", slot, exc)
                continue
            self.active = slot
            return f"slot {slot} (the most recently active slot that verifies)"
        if self.default_model is not None:
            try:
                self.holder.load_model(self.default_model.read_bytes())
                return f"{self.default_model} (the model given at start-up)"
            except Exception as exc:
                if at_start:
                    raise InvalidArgumentError(f"--model {self.default_model}: cannot be served: {exc}",
                                               argument="--model", value=str(self.default_model)) from exc
                log.error("model given at start-up %s does not load (%s)", self.default_model, exc)
        self.holder.unload_model()
        return "no model (inferences answer NO_MODEL): upload one into a slot and activate it"

    def activate(self, slot: int, load: Callable[[bytes], None]) -> None:
        """Verifies the slot, then `load` swaps the serving model (and raises, keeping
        the old one, if it cannot); then the choice is persisted. Raises CommandError:
        BAD_ARGUMENT for an empty or receiving slot, HASH_MISMATCH for a corrupt one or
        one that does not verify now, MODEL_INVALID when it does not load."""
        try:
            self._activate(slot, load)
        except CommandError as exc:
            log.warning("ACTIVATE_SLOT %d refused (%s): %s", slot, exc.code.name, exc,
                        extra={"event": "activation_refused",
                               "fields": {"slot": slot, "code": exc.code.name, "reason": str(exc)}})
            raise

    def _activate(self, slot: int, load: Callable[[bytes], None]) -> None:
        self.check_slot(slot)
        if slot in self._uploads:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} is receiving an upload (state "
                               f"RECEIVING): commit it before activating it", detail=slot)
        if slot in self._corrupt:
            raise CommandError(ErrorCode.HASH_MISMATCH, f"slot {slot} is corrupt (state CORRUPT: "
                               f"{self._corrupt[slot].reason}): upload the model again", detail=slot)
        if slot not in self._committed:
            raise CommandError(ErrorCode.BAD_ARGUMENT, f"slot {slot} is empty (state EMPTY): upload "
                               f"and commit a model before activating it", detail=slot)
        model = self.verified_model(slot)
        try:
            load(model)
        except CommandError:
            raise
        except Exception as exc:
            raise CommandError(ErrorCode.MODEL_INVALID, f"slot {slot}: {exc}", detail=slot) from exc
        self.history = [slot] + [s for s in self.history if s != slot]
        self._write_history()
        self.active = slot

"""Model slots at rest (ICD v2 §7 "Slots at rest"): damaged slot files are never served,
never stop the runtime, and are reported (state CORRUPT, SLOT_CORRUPT, counter)."""
import hashlib
import struct
import subprocess
import sys

import numpy as np
import onnx
import pytest

from fault_injection.models import digits_model_path, load_heldout
from runtime import InferenceSession
from runtime.link.catalogue import CommandError, ErrorCode, EventId, Function, Severity, SlotState
from runtime.link.controller import CommandFailed, Controller
from runtime.link.framing import FrameDecoder
from runtime.link.packets import TcPacket, parse_tm
from runtime.link.server import SessionBackend, build_service
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots, SlotStatus, format_record, parse_record
from runtime.link.tensors import split_tensor
from runtime.link.transport import FdStream, PacketLink, open_pty_pair
from runtime.randomize import randomize_weights

from .fakes import FakeBackend

MODEL_A = bytes(range(256)) * 4 + b"model A"
MODEL_B = bytes(range(255, -1, -1)) * 4 + b"model B"
DEFAULT = b"the model given at start-up"
X = np.arange(6, dtype=np.float32).reshape(2, 3)


class HolderBackend(FakeBackend):
    """FakeBackend that can also stop serving; `serving` is the model it holds."""

    @property
    def serving(self):
        return self.loaded[-1] if self.served and self.loaded else None

    def unload_model(self):
        self.served = False


def store(slots, slot, model, activate=True):
    slots.begin(slot, len(model), hashlib.sha256(model).digest())
    slots.write(slot, 0, model)
    slots.commit(slot, lambda m: None)
    if activate:
        slots.activate(slot, lambda m: None)


def folder_with_two_activations(tmp_path):
    """Slot 0 holds A (activated first), slot 1 holds B (activated last): history [1, 0]."""
    folder = tmp_path / "slots"
    slots = ModelSlots(folder)
    store(slots, 0, MODEL_A)
    store(slots, 1, MODEL_B)
    assert (folder / "active").read_text() == "1 0\n"
    return folder


def flip_byte(path, offset=100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def restart(folder, default=None, **kw):
    """What `radrt serve` does at start-up, over the fake backend."""
    backend = HolderBackend(served=False)
    slots = ModelSlots(folder, **kw)
    slots.attach(backend, default)
    slots.start_serving()
    return slots, backend


def first_pass(slots):
    """Runs the first background verification pass to its end (it starts at once)."""
    while slots.verify_passes == 0:
        slots.verify_due(0.0)


def damage(folder, kind):
    model, record = folder / "slot1.onnx", folder / "slot1.sha256"
    if kind == "flipped byte":
        flip_byte(model)
    elif kind == "truncated":
        model.write_bytes(model.read_bytes()[:500])
    elif kind == "empty":
        model.write_bytes(b"")
    elif kind == "file missing":
        model.unlink()
    elif kind == "unreadable":
        model.unlink()
        model.mkdir()
    elif kind == "record missing":
        record.unlink()
    elif kind == "record garbled":
        record.write_bytes(b"\x00\x01 not a record\n")
    elif kind == "record of another model":
        record.write_bytes(format_record([(hashlib.sha256(MODEL_A).digest(), len(MODEL_B))]))


DAMAGES = ["flipped byte", "truncated", "empty", "file missing", "unreadable", "record missing",
           "record garbled", "record of another model"]


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_active_slot_falls_back_to_the_previous_active_slot(tmp_path, kind):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): a damaged active slot (each kind of damage) is not served; it
    gets state CORRUPT, event SLOT_CORRUPT (slot, 0), slot_integrity_failures + 1, and the
    most recently active slot that verifies serves."""
    folder = folder_with_two_activations(tmp_path)
    damage(folder, kind)
    slots, backend = restart(folder, default=None)
    assert backend.serving == MODEL_A and backend.loaded == [MODEL_A]
    assert slots.active == 0
    status = slots.status(1)
    assert status.state == SlotState.CORRUPT
    assert slots.drain_events() == [(EventId.SLOT_CORRUPT, 1, 0)]
    assert slots.integrity_failures == 1
    assert (folder / "active").read_text() == "0\n"  # it left the history
    # A second restart stays on slot 0; the first background pass reports slot 1 again.
    slots, backend = restart(folder)
    first_pass(slots)
    assert backend.serving == MODEL_A and slots.status(1).state == SlotState.CORRUPT


def test_corrupt_status_reports_the_recorded_hash_and_the_file_size(tmp_path):
    """ICD-4-SLOTS, ICD-7-SLOTS-AT-REST (§4 TM[201,5] for a corrupt slot): state 4, the file's bytes, the recorded SHA-256."""
    folder = folder_with_two_activations(tmp_path)
    flip_byte(folder / "slot1.onnx")
    slots, _ = restart(folder)
    assert slots.status(1) == SlotStatus(1, SlotState.CORRUPT, len(MODEL_B), hashlib.sha256(MODEL_B).digest())


def test_flipped_active_slot_falls_back_to_the_model_given_at_start_up(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): no other slot was ever active → the model given at start-up."""
    folder = tmp_path / "slots"
    store(ModelSlots(folder), 0, MODEL_A)
    flip_byte(folder / "slot0.onnx")
    (tmp_path / "default.onnx").write_bytes(DEFAULT)
    slots, backend = restart(folder, default=tmp_path / "default.onnx")
    assert backend.serving == DEFAULT and slots.active is None
    assert slots.status(0).state == SlotState.CORRUPT and slots.integrity_failures == 1


def test_flipped_active_slot_with_nothing_to_fall_back_to_answers_no_model(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): no slot verifies and no start-up model → NO_MODEL for runs;
    the service still answers (ping, slot status)."""
    folder = tmp_path / "slots"
    store(ModelSlots(folder), 0, MODEL_A)
    flip_byte(folder / "slot0.onnx")
    slots, backend = restart(folder)
    assert backend.serving is None and slots.active is None
    service = PayloadService(backend, slots, clock=lambda: 0.0)
    tms = []
    for chunk in split_tensor(7, 0, X, 100):
        tms += service.handle(TcPacket(200, 1, chunk.pack(), seq_count=1, source_id=0x42, ack_flags=0xF))
    tms += service.handle(TcPacket(200, 2, struct.pack(">I", 7), seq_count=2, source_id=0x42, ack_flags=0xF))
    codes = [struct.unpack_from(">H", t.source_data, 4)[0] for t in map(parse_tm, tms)
             if (t.service, t.subtype) in ((1, 2), (1, 8))]
    assert codes and set(codes) == {ErrorCode.NO_MODEL}  # at put-input or at run, never a run
    assert backend.runs == 0
    tms = [parse_tm(p) for p in service.handle(TcPacket(201, 4, b"\0", seq_count=3, source_id=0x42,
                                                        ack_flags=0xF))]
    (status,) = [t for t in tms if t.service == 201]
    assert status.source_data[1] == SlotState.CORRUPT


def test_model_given_at_start_up_that_does_not_load_is_the_operators_error(tmp_path):
    """ICD-7-SLOTS-AT-REST: the start-up model is the operator's file, not a slot: when it is what would serve
    and it does not load, start-up fails with its error (as before v2)."""
    folder = tmp_path / "slots"
    (tmp_path / "bad.onnx").write_bytes(b"bad model")
    backend = HolderBackend(served=False)
    slots = ModelSlots(folder)
    slots.attach(backend, tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="op type 'Bad' is not supported"):
        slots.start_serving()


class Bench:
    """A service over a fake backend with a clock the test drives."""

    def __init__(self, folder, default=None, **kw):
        self.now = 0.0
        self.slots, self.backend = restart(folder, default, **kw)
        self.service = PayloadService(self.backend, self.slots, clock=lambda: 0.0, monotonic=lambda: self.now)
        self.seq = 0

    def poll(self, now):
        self.now = now
        return [parse_tm(p) for p in FrameDecoder().feed(self.service.poll())]

    def call(self, service, subtype, data=b""):
        self.seq += 1
        tc = TcPacket(service, subtype, data, seq_count=self.seq, source_id=0x42, ack_flags=0xF)
        return [parse_tm(p) for p in self.service.handle(tc)]


def events(tms):
    return [(t.subtype, struct.unpack(">HII", t.source_data)) for t in tms if t.service == 5]


def failure(tms):
    (tm,) = [t for t in tms if (t.service, t.subtype) in ((1, 2), (1, 8))]
    return tm.subtype, struct.unpack_from(">HI", tm.source_data, 4)


def test_background_verification_catches_a_flip_made_while_serving(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): every committed slot is re-verified in the background, period
    configurable; a flip made while serving is caught by the next pass, a little per poll:
    SLOT_CORRUPT (high) goes out, the counter moves, the previous active slot serves."""
    folder = folder_with_two_activations(tmp_path)
    size = len(MODEL_A) + len(MODEL_B)
    bench = Bench(folder, verify_period_s=100.0, verify_step_bytes=256)
    assert bench.backend.serving == MODEL_B
    polls = 0
    while bench.slots.verify_passes == 0:  # the first pass starts at the first poll
        assert bench.poll(0.0) == []
        polls += 1
    assert polls == -(-size // 256)  # 256 bytes a poll, never the whole slot in one call
    flip_byte(folder / "slot1.onnx", offset=len(MODEL_B) - 3)
    assert bench.poll(99.9) == [] and bench.slots.integrity_failures == 0  # not due yet
    tms = []
    while not tms:
        tms = bench.poll(100.0)
    assert events(tms) == [(Severity.HIGH, (EventId.SLOT_CORRUPT, 1, 0))]
    assert bench.slots.integrity_failures == 1
    assert bench.backend.serving == MODEL_A and bench.slots.active == 0
    assert bench.slots.status(1).state == SlotState.CORRUPT
    while bench.slots.verify_passes == 1:
        assert bench.poll(100.0) == []  # slot 0 still verifies
    assert bench.slots.integrity_failures == 1


def test_background_verification_of_a_slot_that_is_not_serving(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): a committed slot that is not serving is re-verified too; the
    serving model does not change."""
    folder = folder_with_two_activations(tmp_path)
    flip_byte(folder / "slot0.onnx")
    bench = Bench(folder, verify_step_bytes=1 << 20)
    assert bench.slots.status(0).state == SlotState.COMMITTED  # start-up hashes only what it loads
    assert events(bench.poll(0.0)) == [(Severity.HIGH, (EventId.SLOT_CORRUPT, 0, 0))]
    assert bench.backend.serving == MODEL_B and bench.backend.loaded == [MODEL_B]
    assert bench.slots.status(0).state == SlotState.CORRUPT
    assert (folder / "active").read_text() == "1\n"


def test_activate_slot_of_a_slot_damaged_at_rest_fails_with_hash_mismatch(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 slots at rest): ACTIVATE_SLOT verifies first and fails with HASH_MISMATCH
    for a slot that does not verify; the slot becomes CORRUPT (SLOT_CORRUPT, counter);
    the serving model is unchanged. Activating it again: HASH_MISMATCH again."""
    folder = tmp_path / "slots"
    slots = ModelSlots(folder)
    store(slots, 0, MODEL_A)
    store(slots, 1, MODEL_B, activate=False)
    flip_byte(folder / "slot1.onnx")
    bench = Bench(folder)
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 1))
    assert failure(tms) == (8, (ErrorCode.HASH_MISMATCH, 1))
    assert events(tms) == [(Severity.MEDIUM, (EventId.MODEL_REJECTED, 1, ErrorCode.HASH_MISMATCH)),
                           (Severity.HIGH, (EventId.SLOT_CORRUPT, 1, 0))]
    assert bench.backend.serving == MODEL_A and bench.slots.active == 0
    assert bench.slots.status(1).state == SlotState.CORRUPT and bench.slots.integrity_failures == 1
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 1))
    assert failure(tms) == (8, (ErrorCode.HASH_MISMATCH, 1))
    assert bench.slots.integrity_failures == 1  # already known: not counted twice


def test_reactivating_the_serving_slot_after_a_flip_falls_back(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7): ACTIVATE_SLOT of the serving slot, flipped at rest, fails with HASH_MISMATCH
    and the runtime stops serving it (previous active slot)."""
    folder = folder_with_two_activations(tmp_path)
    bench = Bench(folder)
    flip_byte(folder / "slot1.onnx")
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 1))
    assert failure(tms) == (8, (ErrorCode.HASH_MISMATCH, 1))
    assert bench.backend.serving == MODEL_A and bench.slots.active == 0


def test_activating_an_empty_slot_says_so(tmp_path, caplog):
    """ICD-6-FUNCTIONS (§6): ACTIVATE_SLOT takes only a committed slot: an empty one fails with
    BAD_ARGUMENT, detail = the slot, and the message (logged) names the slot and its state."""
    bench = Bench(tmp_path / "slots")
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 2))
    assert failure(tms) == (8, (ErrorCode.BAD_ARGUMENT, 2))
    assert "ACTIVATE_SLOT 2 refused (BAD_ARGUMENT): slot 2 is empty (state EMPTY)" in caplog.text
    with pytest.raises(CommandError, match="slot 2 is empty \\(state EMPTY\\): upload and commit"):
        bench.slots.activate(2, bench.backend.load_model)
    bench.slots.begin(3, 10, bytes(32))
    with pytest.raises(CommandError, match="slot 3 is receiving an upload \\(state RECEIVING\\)"):
        bench.slots.activate(3, bench.backend.load_model)


def test_corrupt_slot_can_be_overwritten_and_activated_again(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7): a CORRUPT slot is not activatable but a new upload may overwrite it."""
    folder = folder_with_two_activations(tmp_path)
    flip_byte(folder / "slot1.onnx")
    bench = Bench(folder)
    assert bench.slots.status(1).state == SlotState.CORRUPT
    store(bench.slots, 1, MODEL_B, activate=False)
    assert bench.slots.status(1) == SlotStatus(1, SlotState.COMMITTED, len(MODEL_B),
                                               hashlib.sha256(MODEL_B).digest())
    bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 1))
    assert bench.backend.serving == MODEL_B and bench.slots.status(1).state == SlotState.ACTIVE
    assert (folder / "active").read_text() == "1 0\n"


def test_commit_over_a_slot_in_the_history_removes_it_from_the_history(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7 fallback order): a slot re-uploaded after it was active no longer holds the
    model that was activated, so it is no fallback (nothing serves it without ACTIVATE)."""
    folder = tmp_path / "slots"
    slots = ModelSlots(folder)
    store(slots, 0, MODEL_A)
    store(slots, 1, MODEL_B)
    store(slots, 0, b"another model", activate=False)
    assert (folder / "active").read_text() == "1\n"
    flip_byte(folder / "slot1.onnx")
    slots, backend = restart(folder)
    assert backend.serving is None and slots.status(0).state == SlotState.COMMITTED


@pytest.mark.parametrize("cut", ["after the record", "after the rename"])
def test_power_cut_during_a_commit_leaves_a_slot_that_verifies(tmp_path, cut):
    """ICD-7-UPLOAD-ATOMIC (§7 model slots): a commit is atomic; with its record, a power cut between the
    record and the rename (old model) or between the rename and the final record (new
    model) leaves a slot that verifies, not a CORRUPT one."""
    folder = tmp_path / "slots"
    store(ModelSlots(folder), 1, MODEL_A, activate=False)
    record = [(hashlib.sha256(MODEL_B).digest(), len(MODEL_B)), (hashlib.sha256(MODEL_A).digest(), len(MODEL_A))]
    (folder / "slot1.sha256").write_bytes(format_record(record))
    if cut == "after the rename":
        (folder / "slot1.onnx").write_bytes(MODEL_B)
    slots = ModelSlots(folder)
    held = MODEL_A if cut == "after the record" else MODEL_B
    assert slots.status(1) == SlotStatus(1, SlotState.COMMITTED, len(held), hashlib.sha256(held).digest())
    assert parse_record((folder / "slot1.sha256").read_bytes()) == [(hashlib.sha256(held).digest(), len(held))]
    assert slots.integrity_failures == 0


def test_power_cut_during_a_first_commit_leaves_an_empty_slot(tmp_path):
    """ICD-7-UPLOAD-ATOMIC (§7 model slots): a first commit cut before its rename leaves the slot empty."""
    folder = tmp_path / "slots"
    folder.mkdir()
    (folder / "slot2.sha256").write_bytes(format_record([(hashlib.sha256(MODEL_B).digest(), len(MODEL_B)),
                                                         None]))
    slots = ModelSlots(folder)
    assert slots.status(2).state == SlotState.EMPTY and slots.integrity_failures == 0
    assert list(folder.iterdir()) == []


def test_leftovers_that_cannot_be_removed_do_not_stop_the_start_up(tmp_path, caplog):
    """ICD-7-SLOTS-AT-REST (§7): the runtime never exits because the slot folder is odd:
    a folder named like a leftover upload is logged, the active slot serves."""
    folder = folder_with_two_activations(tmp_path)
    (folder / "slot2.part").mkdir()
    slots, backend = restart(folder)
    assert backend.serving == MODEL_B and slots.active == 1
    assert "leftover" in caplog.text and "slot2.part" in caplog.text


@pytest.mark.parametrize("history", [b"x\n", b"9\n", b"1 1\n", b"\xff"])
def test_garbled_activation_history_is_logged_and_no_slot_serves_from_it(tmp_path, history, caplog):
    """ICD-7-SLOTS-AT-REST (§7): a damaged `active` record never stops the runtime: it is logged and the
    start-up model serves."""
    folder = folder_with_two_activations(tmp_path)
    (folder / "active").write_bytes(history)
    (tmp_path / "default.onnx").write_bytes(DEFAULT)
    slots, backend = restart(folder, default=tmp_path / "default.onnx")
    assert backend.serving == DEFAULT and slots.active is None
    assert "activation history" in caplog.text


def digits_output(model_bytes, image):
    sess = InferenceSession(model_bytes, scrub_interval_s=None)
    return sess.run(None, {sess.get_inputs()[0].name: image})[0]


def real_folder(tmp_path):
    """Slot 0: the digits model (activated first); slot 1: randomized weights (last)."""
    model_a = digits_model_path().read_bytes()
    model_b = randomize_weights(onnx.load(digits_model_path()), seed=3).SerializeToString()
    folder = tmp_path / "slots"
    slots = ModelSlots(folder)
    store(slots, 0, model_a)
    store(slots, 1, model_b)
    return folder, model_a, model_b


@pytest.mark.parametrize("kind", DAMAGES)
def test_build_service_never_raises_for_a_damaged_slot(tmp_path, kind):
    """ICD-7-SLOTS-AT-REST (§7): the runtime never exits because a slot is damaged: build_service (the
    start-up of `radrt serve`, real session) over every damage of both slots starts."""
    folder, model_a, _ = real_folder(tmp_path)
    damage(folder, kind)
    backend = SessionBackend("tmr")
    service = build_service(backend, str(folder), None, 0x0A0, None, None)
    image = load_heldout()[0][:1]
    np.testing.assert_array_equal(backend.run([image])[0], digits_output(model_a, image))
    assert service.slots.status(1).state == SlotState.CORRUPT
    for path in folder.glob("slot0.*"):
        if path.is_file():
            path.write_bytes(b"")
    service = build_service(SessionBackend("tmr"), str(folder), None, 0x0A0, None, None)
    assert service.backend.session is None and service.slots.active is None
    while service.slots.verify_passes == 0:
        service.poll()
    assert [service.slots.status(s).state for s in (0, 1)] == [SlotState.CORRUPT, SlotState.CORRUPT]
    backend.session.close()


def test_radrt_serve_with_a_damaged_slot_folder_starts_logs_and_answers(tmp_path):
    """ICD-7-SLOTS-AT-REST (§7), through `radrt serve` over a pty: with the last active slot
    flipped at rest it starts, logs the corrupt slot, serves the previous active slot;
    a flip made while serving is caught by the background verification and the model
    given at start-up serves; it stops cleanly with exit code 0."""
    folder, model_a, model_b = real_folder(tmp_path)
    model_c = randomize_weights(onnx.load(digits_model_path()), seed=5).SerializeToString()
    (tmp_path / "c.onnx").write_bytes(model_c)
    flip_byte(folder / "slot1.onnx", offset=len(model_b) // 2)
    image = load_heldout()[0][:1]
    master, port = open_pty_pair()
    server = subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--port", port, "--slots",
                               str(folder), "--protect", "tmr", "--model", str(tmp_path / "c.onnx"),
                               "--slot-verify-period", "0.2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ctl = Controller(PacketLink(FdStream(master), parse_tm), timeout=3.0, retries=3)
    try:
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_a, image))
        assert ctl.slot_status(1).state == SlotState.CORRUPT
        assert ctl.slot_status(0).state == SlotState.ACTIVE
        with pytest.raises(CommandFailed, match="HASH_MISMATCH"):
            ctl.activate(1)
        flip_byte(folder / "slot0.onnx", offset=len(model_a) // 2)
        for _ in range(5000):  # until the next background pass (0.2 s period) has run
            if ctl.slot_status(0).state == SlotState.CORRUPT:
                break
        else:
            pytest.fail("the background verification never reported slot 0")
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_c, image))
        slot_corrupt = [struct.unpack(">HII", e.source_data) for e in ctl.events
                        if struct.unpack_from(">H", e.source_data)[0] == EventId.SLOT_CORRUPT]
        assert (EventId.SLOT_CORRUPT, 0, 0) in slot_corrupt
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
        ctl.link.close()
    assert server.returncode == 0, err
    assert "slot 1 is corrupt" in err and "slot 0 is corrupt (background verification" in err
    assert "serving slot 0 (the most recently active slot that verifies)" in err
    assert f"now serving {tmp_path / 'c.onnx'} (the model given at start-up)" in err


@pytest.mark.parametrize("period", ["0", "-1", "nan", "soon"])
def test_slot_verify_period_must_be_a_positive_number(tmp_path, period):
    """ICD-7-SLOTS-AT-REST: `radrt serve --slot-verify-period SECONDS` ("period configurable"): anything
    but a positive number is a one-line usage error naming the option."""
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "serve", "--port", "loop://", "--slots",
                           str(tmp_path / "s"), "--slot-verify-period", period],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"--slot-verify-period must be a number in (0, 1e+09], got {period!r}" in done.stderr

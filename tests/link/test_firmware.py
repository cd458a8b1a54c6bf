"""The C firmware stub on ICD v2: its unit tests (ICD golden vectors, SHA-256/HMAC
vectors, under ASan/UBSan), and `payload_fw` against PayloadService (fake backend) over
a pty, directly, through the line emulator, and through `PacketHook`, which changes or
drops chosen packets on the runtime's end of the pty (a CRC-16-invisible uplink error,
a lost output chunk, a lost result report, an alive TM of another ICD version)."""
import random
import struct
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from fault_injection.line import LineImpairment, SerialLine, open_endpoint
from runtime.link.auth import Authenticator, CounterStore
from runtime.link.catalogue import EventId
from runtime.link.framing import cobs_decode, frame
from runtime.link.packets import crc16
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots
from runtime.link.transport import FdStream, open_pty_pair, open_transport

from .fakes import FakeBackend, Responder

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware_stubs"
KEY = bytes(range(32))

needs_cc = pytest.mark.skipif(shutil.which("cc") is None or shutil.which("make") is None,
                              reason="no C compiler (cc) or make on this machine")


@needs_cc
def test_firmware_unit_tests():
    """ICD-10-GOLDEN (v1 and v2 vectors), ICD-2-FRAME, ICD-2-OVERSIZE, ICD-3-CRC in C,
    under ASan/UBSan."""
    done = subprocess.run(["make", "-C", str(FIRMWARE), "test"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_link_core:" in done.stdout and " 0 failed" in done.stdout


@pytest.fixture(scope="module")
def payload_fw():
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("no C compiler (cc) or make on this machine")
    done = subprocess.run(["make", "-C", str(FIRMWARE)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stderr
    return FIRMWARE / "payload_fw"


class PacketHook:
    """Wraps the runtime's end of the pty. Each whole packet from the firmware goes
    through `uplink(packet)`, each from the runtime through `downlink(packet)`; a hook
    returns the packet (changed or not), or None to drop it."""

    def __init__(self, stream, uplink=lambda p: p, downlink=lambda p: p):
        self.stream, self.uplink, self.downlink = stream, uplink, downlink
        self._incoming = bytearray()

    @staticmethod
    def _through(hook, frames: bytes) -> bytes:
        out = bytearray()
        for body in frames.split(b"\0")[:-1]:
            packet = hook(cobs_decode(body)) if body else None
            if packet is not None:
                out += frame(packet)
        return bytes(out)

    def read(self, size, timeout):
        self._incoming += self.stream.read(size, timeout)
        end = self._incoming.rfind(0) + 1  # whole frames only; the rest waits
        frames, self._incoming = bytes(self._incoming[:end]), self._incoming[end:]
        return self._through(self.uplink, frames)

    def write(self, data):
        self.stream.write(self._through(self.downlink, data))

    def close(self):
        self.stream.close()


def is_packet(packet, service, subtype):
    return packet[7] == service and packet[8] == subtype


def with_crc(packet):
    return packet[:-2] + struct.pack(">H", crc16(packet[:-2]))


def write_records(tmp_path, count):
    """An input file of `count` records and its expectations (top-1 and CRC-32 of the
    fake backend's outputs)."""
    x = np.random.default_rng(0).random((count, 2, 3), dtype=np.float32)
    np.save(tmp_path / "inputs.npy", x)
    with open(tmp_path / "expect.txt", "w") as f:
        for r in x:
            crc = zlib.crc32(np.arange(3000, dtype="<i8").tobytes(), zlib.crc32((r * 2).tobytes()))
            f.write(f"{int(np.argmax(r))} {crc:08x}\n")
    return tmp_path / "inputs.npy", tmp_path / "expect.txt"


@pytest.fixture
def records(tmp_path):
    return write_records(tmp_path, 4)


@pytest.fixture
def runtime_side(tmp_path):
    started = []

    def start(drop=lambda n: False, key=None, **hooks):
        master, path = open_pty_pair()
        auth = Authenticator(key, CounterStore()) if key else None
        service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"), authenticator=auth)
        stream = PacketHook(FdStream(master), **hooks) if hooks else FdStream(master)
        responder = Responder(stream, service, drop)
        responder.start()
        started.append(responder)
        return path, service
    yield start
    for responder in started:
        responder.stop.set()
        responder.join()
        responder.stream.close()


def run_fw(payload_fw, port, *extra, stderr=None):
    done = subprocess.run([str(payload_fw), "--port", port, "--timeout-ms", "300", *map(str, extra)],
                          capture_output=True, text=True, timeout=120)
    summary = done.stdout.strip().splitlines()[-1]
    fields = dict(f.split("=") for f in summary.split() if "=" in f)
    if stderr is not None:
        stderr.append(done.stderr)
    return done.returncode, summary, fields


def test_payload_fw_inference(payload_fw, runtime_side, records):
    """ICD-4-ALIVE, ICD-5-HK, ICD-4-CONTROLLER-CHECK: alive with icd_version 2, HK structure 2,
    results accepted on both CRCs."""
    port, service = runtime_side()
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert fields["records"] == "4" and fields["ok"] == "4" and fields["retries"] == "0"
    assert fields["input_crc_errors"] == "0" and fields["resends"] == "0"
    assert service.housekeeping()["inferences_ok"] == 4


def test_payload_fw_prints_hk_structure_2_by_name(payload_fw, runtime_side):
    """ICD-5-HK: structure 2 read strictly; protection mode and active slot printed by name."""
    port, _ = runtime_side()
    done = subprocess.run([str(payload_fw), "--port", port, "--timeout-ms", "300"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    hk = dict(f.split("=") for f in done.stdout.splitlines()[1].split()[1:])
    assert hk["icd_version"] == "2" and hk["protection"] == "none" and hk["active_slot"] == "none"
    assert hk["inputs_refused"] == "0" and hk["slot_integrity_failures"] == "0"


def test_payload_fw_refuses_another_icd_version(payload_fw, runtime_side):
    """ICD-4-ALIVE: TM[17,2] carries icd_version; the stub speaks 2 only and says so."""
    def alive_v1(packet):
        if is_packet(packet, 17, 2):
            return with_crc(packet[:20] + b"\x01" + packet[21:])
        return packet
    port, service = runtime_side(downlink=alive_v1)
    errors = []
    code, summary, fields = run_fw(payload_fw, port, stderr=errors)
    assert code == 1 and fields["ping"] == "failed" and fields["hk"] == "failed", summary
    assert "TM[17,2] icd_version 1, this firmware speaks ICD v2 only" in errors[0]


def with_data(packet, data):
    """The TM `packet` with other source data: length field and CRC-16 made right."""
    head = bytearray(packet[:20])
    head[4:6] = struct.pack(">H", 20 + len(data) + 2 - 7)
    return with_crc(bytes(head) + data + b"\0\0")


def test_payload_fw_refuses_a_short_hk_structure_2(payload_fw, runtime_side):
    """ICD-5-HK: structure 2 is parsed strictly; a report one byte short is refused by name."""
    port, _ = runtime_side(downlink=lambda p: with_data(p, p[20:-3]) if is_packet(p, 3, 25) else p)
    errors = []
    code, summary, fields = run_fw(payload_fw, port, stderr=errors)
    assert code == 1 and fields["ping"] == "ok" and fields["hk"] == "failed", summary
    assert "TM[3,25] of 84 data bytes for structure 2, expected 85 bytes of structure 2" in errors[0]


def test_payload_fw_names_counter_window(payload_fw, runtime_side):
    """ICD-8-CODES: error code 16 is printed by name. The runtime's refusal (a wrong key:
    AUTH_FAILED) is rewritten on the line into COUNTER_WINDOW, so this checks the stub
    alone (the runtime's window, ICD-7-COUNTER-WINDOW, is tested on its side)."""
    def as_counter_window(packet):
        if is_packet(packet, 1, 2):
            return with_crc(packet[:24] + struct.pack(">H", 16) + packet[26:])
        return packet
    port, service = runtime_side(key=KEY, downlink=as_counter_window)
    errors = []
    code, summary, fields = run_fw(payload_fw, port, "--key", bytes(32).hex(), stderr=errors)
    assert code == 1 and fields["ping"] == "failed" and fields["failures"] == "1", summary
    assert "TC[17,1] failed: COUNTER_WINDOW (16) detail 0" in errors[0]
    assert service.housekeeping()["auth_rejected"] == 1


def test_payload_fw_names_v2_events(payload_fw, runtime_side):
    """ICD-9-EVENTS: events 7 and 8 are printed by name (--verbose)."""
    port, service = runtime_side()
    service.backend.events = [(EventId.SLOT_CORRUPT, 1, 0), (EventId.CHECKSUM_MISMATCH, 12, 0)]
    done = subprocess.run([str(payload_fw), "--port", port, "--timeout-ms", "300", "--verbose"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "event SLOT_CORRUPT (7) severity 4 aux1 1 aux2 0" in done.stdout
    assert "event CHECKSUM_MISMATCH (8) severity 2 aux1 12 aux2 0" in done.stdout
    assert "payload_fw: PASS" in done.stdout and " events=2 " in done.stdout


# A CRC-16/CCITT-invisible error: the generator polynomial x^16 + x^12 + x^5 + 1
# (0x11021, bytes 01 10 21) XORed into a packet is a multiple of it, so the packet's
# CRC-16 still matches (ICD §3); only the runtime's input_crc32 can reveal it.
GENERATOR = bytes.fromhex("011021")


def corrupt_inputs(count):
    """An uplink hook that flips CRC-16-invisible bits in the data of the first `count`
    put-input TCs (the runtime stages and runs other bytes than the firmware sent)."""
    corrupted = []

    def hook(packet):
        if is_packet(packet, 200, 1) and len(corrupted) < count:
            at = len(packet) - 2 - len(GENERATOR) - 4  # inside the tensor data
            bad = bytearray(packet)
            for i, b in enumerate(GENERATOR):
                bad[at + i] ^= b
            assert bytes(bad) != packet and crc16(bytes(bad[:-2])) == crc16(packet[:-2])
            corrupted.append(at)
            return bytes(bad)
        return packet
    return hook, corrupted


def test_payload_fw_refuses_a_result_of_corrupted_inputs(payload_fw, runtime_side, records):
    """ICD-4-CONTROLLER-CHECK (issue 12 'wrong answers with status 0'): a result is accepted
    only when input_crc32 matches the inputs sent; an uplink error CRC-16 misses
    (ICD-3-CRC) is caught, and the record is staged and run again."""
    hook, corrupted = corrupt_inputs(1)
    port, service = runtime_side(uplink=hook)
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert len(corrupted) == 1
    assert code == 0, summary
    assert fields["ok"] == "4" and fields["input_crc_errors"] == "1" and fields["label_errors"] == "0"
    assert service.housekeeping()["inferences_ok"] == 5  # the corrupted run ran, and was refused


def test_payload_fw_never_accepts_wrong_inputs(payload_fw, runtime_side, tmp_path):
    """ICD-4-CONTROLLER-CHECK: every run of corrupted inputs is refused; after --retries
    re-stagings the record fails (never a false success)."""
    records = write_records(tmp_path, 1)
    hook, corrupted = corrupt_inputs(1000)
    port, service = runtime_side(uplink=hook)
    errors = []
    code, summary, fields = run_fw(payload_fw, port, "--retries", "2", "--inputs", records[0], stderr=errors)
    assert code == 1, summary
    assert "every run of 3 had other inputs than those sent" in errors[0]
    assert fields["ok"] == "0" and fields["run_failed"] == "1" and fields["input_crc_errors"] == "3"
    assert len(corrupted) == 3 and service.housekeeping()["inferences_ok"] == 3


def output_chunk(packet):
    """(request_id, output_index, offset, data length) of a TM[200,3]."""
    request_id, index, _, rank = struct.unpack_from(">IBBB", packet, 20)
    _, offset = struct.unpack_from(">II", packet, 27 + 4 * rank)
    return request_id, index, offset, len(packet) - 2 - (35 + 4 * rank)


def test_payload_fw_asks_only_the_lost_bytes(payload_fw, runtime_side, records):
    """ICD-4-RESEND with ranges: one lost output chunk is asked for by byte range, and only
    its bytes come again."""
    lost, resent, asked = [], [], []

    def downlink(packet):
        if is_packet(packet, 200, 3):
            chunk = output_chunk(packet)
            if not lost and chunk[1] == 1 and chunk[2] > 0:
                lost.append(chunk)
                return None
            if asked and chunk[0] == lost[0][0]:
                resent.append(chunk)
        return packet

    def uplink(packet):
        if is_packet(packet, 200, 5):
            asked.append(packet[11:-2])
        return packet
    port, service = runtime_side(uplink=uplink, downlink=downlink)
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert fields["resends"] == "1" and fields["ranged_resends"] == "1" and fields["ok"] == "4"
    request_id, index, offset, length = lost[0]
    assert asked == [struct.pack(">IBII", request_id, index, offset, length)]
    assert sum(c[3] for c in resent) == length and all(c[:2] == (request_id, index) for c in resent)
    assert service.housekeeping()["inferences_ok"] == 4


def test_payload_fw_lost_result_report_asks_everything(payload_fw, runtime_side, records):
    """ICD-4-RESEND with no range: when TM[200,4] is lost the sizes are unknown, so every
    output is asked again."""
    lost, asked = [], []

    def downlink(packet):
        if is_packet(packet, 200, 4) and not lost:
            lost.append(packet)
            return None
        return packet

    def uplink(packet):
        if is_packet(packet, 200, 5):
            asked.append(packet[11:-2])
        return packet
    port, service = runtime_side(uplink=uplink, downlink=downlink)
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert fields["resends"] == "1" and fields["ranged_resends"] == "0" and fields["ok"] == "4"
    assert asked == [lost[0][20:24]]  # request_id only


def test_payload_fw_recovers_dropped_replies(payload_fw, runtime_side, records):
    """ICD-7-DUPLICATE: a TC retried as the identical packet is answered as a duplicate,
    not re-run."""
    lost = {n for n in range(10_000) if random.Random(n).random() < 0.15}  # seeded, not periodic
    port, service = runtime_side(drop=lambda n: n in lost)
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert int(fields["retries"]) + int(fields["resends"]) > 0
    assert service.housekeeping()["inferences_ok"] == 4  # retries never re-ran an inference
    assert service.housekeeping()["duplicates_ignored"] == int(fields["retries"])


def test_payload_fw_authenticated(payload_fw, runtime_side, records):
    port, service = runtime_side(key=KEY)
    code, summary, _ = run_fw(payload_fw, port, "--key", KEY.hex(), "--inputs", records[0])
    assert code == 0, summary
    assert service.housekeeping()["auth_rejected"] == 0


def test_payload_fw_wrong_key_rejected(payload_fw, runtime_side):
    port, service = runtime_side(key=KEY)
    code, summary, fields = run_fw(payload_fw, port, "--key", bytes(32).hex())
    assert code == 1 and fields["ping"] == "failed" and fields["failures"] == "1"
    assert service.housekeeping()["auth_rejected"] == 1


def test_payload_fw_dead_link_says_what_to_check(payload_fw, runtime_side):
    """Issue 12 'opaque operations': a dead link (here another APID, which the runtime
    does not answer) ends in a timeout that names what to check."""
    port, service = runtime_side()
    errors = []
    code, summary, fields = run_fw(payload_fw, port, "--apid", "0xA1", "--retries", "1", stderr=errors)
    assert code == 1 and fields["ping"] == "failed" and fields["timeouts"] == "1", summary
    assert "TC[17,1]: no completion report after 2 attempts of 300 ms: check the port, baud rate and " \
           "APID (0x0A1)" in errors[0]
    assert service.housekeeping()["tc_rejected"] == 2


def test_payload_fw_through_a_noisy_line(payload_fw, runtime_side, tmp_path):
    records = write_records(tmp_path, 12)  # ~400 kB both ways: the line surely hits some frames
    port, service = runtime_side()
    runtime_end = open_transport(port)
    firmware_end, firmware_path = open_endpoint("pty", 115200)
    # ~15 % of full 4 KiB frames hit by a bit error, ~8 % by a dropped byte.
    line = SerialLine(firmware_end, runtime_end, LineImpairment(ber=5e-6, drop=2e-5, seed=11),
                      LineImpairment(ber=5e-6, drop=2e-5, seed=12)).start()
    try:
        code, summary, fields = run_fw(payload_fw, firmware_path, "--retries", "6",
                                       "--inputs", records[0], "--expect", records[1])
    finally:
        line.stop()
        firmware_end.close()
        runtime_end.close()
    impaired = sum(c["bits_flipped"] + c["bytes_dropped"] for c in line.counters().values())
    assert impaired > 0
    assert code == 0, summary
    assert int(fields["frames_dropped"]) + service.decoder.counters.frames_dropped > 0
    assert service.housekeeping()["inferences_ok"] == 12

"""The C firmware stub: its unit tests (ICD golden vectors, SHA-256/HMAC vectors,
under ASan/UBSan), and `payload_fw` against PayloadService (fake backend) over a pty,
directly and through the line emulator."""
import random
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from fault_injection.line import LineImpairment, SerialLine, open_endpoint
from runtime.link.auth import Authenticator, CounterStore
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

    def start(drop=lambda n: False, key=None):
        master, path = open_pty_pair()
        auth = Authenticator(key, CounterStore()) if key else None
        service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"), authenticator=auth)
        responder = Responder(FdStream(master), service, drop)
        responder.start()
        started.append(responder)
        return path, service
    yield start
    for responder in started:
        responder.stop.set()
        responder.join()
        responder.stream.close()


def run_fw(payload_fw, port, *extra):
    done = subprocess.run([str(payload_fw), "--port", port, "--timeout-ms", "300", *map(str, extra)],
                          capture_output=True, text=True, timeout=120)
    summary = done.stdout.strip().splitlines()[-1]
    fields = dict(f.split("=") for f in summary.split() if "=" in f)
    return done.returncode, summary, fields


def test_payload_fw_inference(payload_fw, runtime_side, records):
    port, service = runtime_side()
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert fields["records"] == "4" and fields["ok"] == "4" and fields["retries"] == "0"
    assert service.housekeeping()["inferences_ok"] == 4


def test_payload_fw_recovers_dropped_replies(payload_fw, runtime_side, records):
    lost = {n for n in range(10_000) if random.Random(n).random() < 0.15}  # seeded, not periodic
    port, service = runtime_side(drop=lambda n: n in lost)
    code, summary, fields = run_fw(payload_fw, port, "--inputs", records[0], "--expect", records[1])
    assert code == 0, summary
    assert int(fields["retries"]) + int(fields["resends"]) > 0
    assert service.housekeeping()["inferences_ok"] == 4  # retries never re-ran an inference


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

"""The serial line emulator: impairment statistics, and two ptys joined through it."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fault_injection.line import LineImpairment, SerialLine, open_endpoint
from runtime.link.transport import open_transport

DATA = bytes(np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8))


def test_zero_ber_passes_bytes_unchanged():
    line = LineImpairment(seed=1)
    assert line.apply(DATA) == DATA
    assert line.counters.bits_flipped == 0 and line.counters.bytes_passed == len(DATA)


def test_bit_errors_near_expectation():
    ber = 1e-3
    line = LineImpairment(ber=ber, seed=2)
    out = line.apply(DATA)
    expected = 8 * len(DATA) * ber
    flipped = int(np.unpackbits(np.frombuffer(out, np.uint8) ^ np.frombuffer(DATA, np.uint8)).sum())
    assert flipped == line.counters.bits_flipped
    assert abs(flipped - expected) < 6 * np.sqrt(expected)


def test_drops_counted():
    line = LineImpairment(drop=0.01, seed=3)
    out = line.apply(DATA)
    assert len(out) == len(DATA) - line.counters.bytes_dropped
    assert abs(line.counters.bytes_dropped - 2000) < 6 * np.sqrt(2000)


def test_bursts_counted():
    line = LineImpairment(burst_rate=1e-3, burst_bits=16, seed=4)
    line.apply(DATA)
    assert abs(line.counters.bursts - 200) < 6 * np.sqrt(200)
    # each burst bit flips with probability 1/2
    assert 0.3 * 16 * line.counters.bursts < line.counters.bits_flipped < 0.7 * 16 * line.counters.bursts


def test_seeded_and_reproducible():
    runs = [LineImpairment(ber=1e-3, drop=1e-3, burst_rate=1e-4, seed=9) for _ in range(2)]
    assert runs[0].apply(DATA[:50_000]) == runs[1].apply(DATA[:50_000])


def test_rates_must_be_probabilities():
    with pytest.raises(ValueError, match="ber 2 is not a probability"):
        LineImpairment(ber=2)


def read_exactly(port, n, timeout):
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += port.read(n - len(got), 0.1)
    return got


@pytest.fixture
def two_ptys():
    made = []

    def make(a_to_b, b_to_a=None, baud=None):
        a, a_path = open_endpoint("pty", 115200)
        b, b_path = open_endpoint("pty", 115200)
        line = SerialLine(a, b, a_to_b, b_to_a or LineImpairment(), baud=baud).start()
        ports = open_transport(a_path), open_transport(b_path)
        made.append((line, a, b, ports))
        return line, ports
    yield make
    for line, a, b, ports in made:
        line.stop()
        for p in ports:
            p.close()
        a.close()
        b.close()


def test_ptys_joined_unchanged(two_ptys):
    line, (a, b) = two_ptys(LineImpairment(seed=1))
    a.write(DATA[:20_000])
    assert read_exactly(b, 20_000, 10) == DATA[:20_000]
    b.write(b"reply")
    assert read_exactly(a, 5, 5) == b"reply"
    assert line.counters()["a_to_b"]["bytes_passed"] == 20_000


def test_ptys_with_bit_errors_and_drops(two_ptys):
    line, (a, b) = two_ptys(LineImpairment(ber=1e-3, drop=1e-2, seed=2))
    a.write(DATA[:20_000])
    counters = None
    deadline = time.monotonic() + 10
    got = b""
    while time.monotonic() < deadline:
        got += b.read(4096, 0.2)
        counters = line.counters()["a_to_b"]
        if counters["bytes_in"] == 20_000 and len(got) == counters["bytes_passed"]:
            break
    assert counters["bytes_dropped"] > 0 and len(got) == 20_000 - counters["bytes_dropped"]
    assert abs(counters["bits_flipped"] - 160) < 6 * np.sqrt(160)


def test_throttling_gives_roughly_the_baud_rate(two_ptys):
    baud = 19200  # 1920 bytes/s
    line, (a, b) = two_ptys(LineImpairment(), baud=baud)
    start = time.monotonic()
    a.write(DATA[:1920])
    assert read_exactly(b, 1920, 20) == DATA[:1920]
    elapsed = time.monotonic() - start
    assert elapsed > 0.6  # ~1 s expected; loose, never tight on time


def test_cli_help():
    done = subprocess.run([sys.executable, "-m", "fault_injection.line", "--help"], capture_output=True,
                          text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0
    assert "--ber" in done.stdout and "never drop bytes" in done.stdout

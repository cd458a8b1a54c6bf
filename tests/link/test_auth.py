"""Authentication trailer, replay counter, forward window and counter files (ICD §7)."""
import os
import struct
import subprocess
import sys

import pytest

from runtime.errors import InvalidArgumentError
from runtime.link.auth import (unix_microseconds, COUNTER_MAX, TRAILER_LEN, Authenticator, AuthError, CounterStore,
                               controller_counter, sign)
from runtime.link.catalogue import ErrorCode, EventId, Severity
from runtime.link.controller import Controller
from runtime.link.packets import TcPacket, crc16, parse_tc, parse_tm
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots
from runtime.link.transport import FdStream, PacketLink, open_pty_pair

from .fakes import FakeBackend, Responder

KEY = bytes(range(32))
VECTOR = bytes.fromhex("18a0c002001e2f1101004200000000000000079ad337b3e10c997994061c15fe1a380fcdfe")
PING = TcPacket(17, 1, apid=0x0A0, seq_count=2, source_id=0x42, ack_flags=0xF)


def test_icd_vector_verifies_with_key_and_counter_7():
    auth = Authenticator(KEY, CounterStore())
    assert auth.verify(parse_tc(VECTOR)) == PING
    assert auth.counter.value == 7


def test_wrong_mac_fails():
    raw = bytearray(sign(PING, KEY, 8))
    raw[-3] ^= 0x80  # last MAC byte
    raw[-2:] = crc16(bytes(raw[:-2])).to_bytes(2, "big")
    with pytest.raises(AuthError, match="MAC mismatch") as info:
        Authenticator(KEY, CounterStore()).verify(parse_tc(bytes(raw)))
    assert info.value.code == ErrorCode.AUTH_FAILED


def test_wrong_key_fails():
    with pytest.raises(AuthError) as info:
        Authenticator(bytes(32), CounterStore()).verify(parse_tc(VECTOR))
    assert info.value.code == ErrorCode.AUTH_FAILED


def test_missing_trailer_fails():
    with pytest.raises(AuthError, match="no 24-byte authentication trailer") as info:
        Authenticator(KEY, CounterStore()).verify(TcPacket(17, 1, b"\0" * (TRAILER_LEN - 1)))
    assert info.value.code == ErrorCode.AUTH_FAILED


@pytest.mark.parametrize("last", [7, 8, 1 << 40])
def test_replayed_or_non_increasing_counter(last):
    auth = Authenticator(KEY, CounterStore(initial=last))
    with pytest.raises(AuthError, match="not greater than the last accepted") as info:
        auth.verify(parse_tc(VECTOR))
    assert info.value.code == ErrorCode.REPLAY
    assert auth.counter.value == last  # a rejected TC never moves the counter


def test_counter_persists_atomically(tmp_path):
    path = tmp_path / "auth_counter"
    auth = Authenticator(KEY, CounterStore(path))
    auth.verify(parse_tc(VECTOR))
    assert path.read_text() == "7\n"
    assert not list(tmp_path.glob("*.tmp"))
    restarted = Authenticator(KEY, CounterStore(path))
    with pytest.raises(AuthError) as info:
        restarted.verify(parse_tc(VECTOR))
    assert info.value.code == ErrorCode.REPLAY
    assert restarted.verify(parse_tc(sign(PING, KEY, 9))) == PING


def test_sender_counter_increments_and_persists(tmp_path):
    store = CounterStore(tmp_path / "c", initial=41)
    assert store.next() == 42
    assert CounterStore(tmp_path / "c").value == 42


# -- ICD v2 §7: forward window of the counter --------------------------------------------

def signed_ping(counter, seq=2):
    return parse_tc(sign(TcPacket(17, 1, apid=0x0A0, seq_count=seq, source_id=0x42, ack_flags=0xF),
                         KEY, counter))


def test_counter_2_64_minus_1_is_refused_and_does_not_lock_the_link(tmp_path, caplog):
    """ICD-7-COUNTER-WINDOW (§7 counter window): a validly signed TC with counter 2^64-1 gets COUNTER_WINDOW,
    the stored counter does not move, and later TCs are still accepted, also after a
    restart (a new Authenticator on the same file)."""
    path = tmp_path / "auth_counter"
    auth = Authenticator(KEY, CounterStore(path))
    auth.verify(signed_ping(1000))
    with pytest.raises(AuthError, match="2\\^56 or more beyond the last accepted 1000") as info:
        auth.verify(signed_ping(COUNTER_MAX, seq=3))
    assert info.value.code == ErrorCode.COUNTER_WINDOW
    assert auth.counter.value == 1000 and path.read_text() == "1000\n"
    assert f"authentication counter {COUNTER_MAX} is 2^56 or more beyond the last accepted 1000" in caplog.text
    assert auth.verify(signed_ping(1001, seq=4)).seq_count == 4
    restarted = Authenticator(KEY, CounterStore(path))
    assert restarted.counter.value == 1001
    with pytest.raises(AuthError) as info:
        restarted.verify(signed_ping(COUNTER_MAX, seq=5))
    assert info.value.code == ErrorCode.COUNTER_WINDOW
    assert restarted.verify(signed_ping(1002, seq=6)).seq_count == 6


@pytest.mark.parametrize("last", [0, 7, 1_796_000_000_000_000_000, COUNTER_MAX - (1 << 56)])
def test_window_boundary_is_exact(last):
    """ICD-7-COUNTER-WINDOW (§7): last + 2^56 - 1 is accepted, last + 2^56 is refused."""
    auth = Authenticator(KEY, CounterStore(initial=last))
    with pytest.raises(AuthError) as info:
        auth.verify(signed_ping(last + (1 << 56)))
    assert info.value.code == ErrorCode.COUNTER_WINDOW and auth.counter.value == last
    auth.verify(signed_ping(last + (1 << 56) - 1, seq=3))
    assert auth.counter.value == last + (1 << 56) - 1


def test_fresh_runtime_accepts_the_controllers_counter():
    """ICD-7-COUNTER-WINDOW: radrt's controller counter (µs since the epoch) is inside the
    window of a fresh runtime (0), and stays so for two thousand years."""
    auth = Authenticator(KEY, CounterStore())
    auth.verify(signed_ping(controller_counter().next()))
    assert 0 < auth.counter.value < 1 << 56
    assert (1 << 56) / (365.25 * 86400 * 10**6) > 2200


def test_fresh_runtime_refuses_a_nanosecond_counter():
    """ICD-7-COUNTER-WINDOW, ICD-7-COUNTER-FILE (§7) as written: a missing counter file means 0 and the window is 2^56, so a
    fresh runtime refuses the recommended controller counter (ns since the epoch, about
    2^60.6 in 2026) with COUNTER_WINDOW. Recorded so an ICD change here shows up."""
    auth = Authenticator(KEY, CounterStore())
    with pytest.raises(AuthError) as info:
        auth.verify(signed_ping(1_796_000_000_000_000_000))
    assert info.value.code == ErrorCode.COUNTER_WINDOW


def test_counter_window_failure_is_reported_like_other_auth_failures(tmp_path):
    """ICD-7-COUNTER-WINDOW, ICD-7-AUTH (§7): a TC beyond the window gets TM[1,2] COUNTER_WINDOW and event AUTH_FAILURE
    (aux1 source ID, aux2 the code), and nothing else; auth_rejected counts it."""
    service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"),
                             authenticator=Authenticator(KEY, CounterStore(initial=50)), clock=lambda: 0.0)
    tms = [parse_tm(p) for p in service.handle(signed_ping(50 + (1 << 56)))]
    assert [(t.service, t.subtype) for t in tms] == [(1, 2), (5, Severity.MEDIUM)]
    code, detail = struct.unpack_from(">HI", tms[0].source_data, 4)
    assert code == ErrorCode.COUNTER_WINDOW
    assert struct.unpack(">HII", tms[1].source_data) == (EventId.AUTH_FAILURE, 0x42, ErrorCode.COUNTER_WINDOW)
    assert service.housekeeping()["auth_rejected"] == 1
    assert service.authenticator.counter.value == 50
    assert [(t.service, t.subtype) for t in map(parse_tm, service.handle(signed_ping(51, seq=9)))] == \
        [(1, 1), (17, 2), (1, 7)]


# -- ICD §7: counter files ------------------------------------------------------------------

BAD_COUNTER_FILES = [
    (b"", "is empty"),
    (b"\n", "is empty"),
    (b"garbage\n", "holds b'garbage\\\\n'"),
    (b"-5\n", "holds b'-5\\\\n'"),
    (b"+5\n", "holds b'\\+5\\\\n'"),
    (b"0x10\n", "holds b'0x10\\\\n'"),
    (b"1 2\n", "holds b'1 2\\\\n'"),
    (b"7.5\n", "holds b'7.5\\\\n'"),
    (b"\xff\xfe\n", "holds b'\\\\xff\\\\xfe\\\\n'"),
    (f"{1 << 64}\n".encode(), "holds 18446744073709551616, more than 2\\^64-1"),
]


@pytest.mark.parametrize("content,problem", BAD_COUNTER_FILES)
def test_bad_counter_file_is_an_error_naming_the_file(tmp_path, content, problem):
    """ICD-7-COUNTER-FILE (§7): a counter file that cannot be read is an error that names the file (never
    a silent 0, never a traceback; "-5" is not a counter)."""
    path = tmp_path / "auth_counter"
    path.write_bytes(content)
    with pytest.raises(InvalidArgumentError, match=f"counter file '{path}' {problem}: expected one "
                                                   f"unsigned decimal integer 0..{COUNTER_MAX}") as info:
        CounterStore(path)
    assert info.value.value == str(path)


def test_unreadable_counter_file_is_an_error_naming_the_file(tmp_path):
    """ICD-7-COUNTER-FILE (§7): a counter file that cannot be read (here a folder) names the file."""
    path = tmp_path / "auth_counter"
    path.mkdir()
    with pytest.raises(InvalidArgumentError, match=f"counter file '{path}' cannot be read: Is a directory"):
        CounterStore(path)


@pytest.mark.parametrize("content,value", [(b"0", 0), (b"7\n", 7), (b" 42 \n", 42),
                                           (f"{COUNTER_MAX}\n".encode(), COUNTER_MAX)])
def test_good_counter_files(tmp_path, content, value):
    """ICD-7-COUNTER-FILE (§7): a counter file holds one unsigned decimal u64; a missing one means 0."""
    (tmp_path / "c").write_bytes(content)
    assert CounterStore(tmp_path / "c").value == value
    assert CounterStore(tmp_path / "missing").value == 0


def test_recommended_controller_counter(tmp_path):
    """ICD-7-AUTH (§7 recommended controller counter): max(persisted + 1, ns since the epoch),
    persisted before use; the Controller and `radrt link` default to it."""
    store = CounterStore(tmp_path / "c", clock=lambda: 1000)
    assert store.next() == 1000  # a new file: the clock
    assert store.next() == 1001  # the clock did not move: persisted + 1
    assert CounterStore(tmp_path / "c").value == 1001
    ahead = CounterStore(tmp_path / "c", clock=lambda: 500)
    assert ahead.next() == 1002  # the clock went back: persisted + 1
    assert controller_counter(tmp_path / "c").clock is unix_microseconds
    assert controller_counter().path is None
    link = PacketLink(FdStream(os.open(os.devnull, os.O_RDWR)), parse_tm)
    assert Controller(link).counter.clock is unix_microseconds
    link.close()


def test_radrt_serve_with_a_garbage_counter_file_fails_at_start_up_naming_it(tmp_path):
    """ICD-7-COUNTER-FILE (§7): a counter file that cannot be read is an error at start-up naming the file:
    one line, exit code 2, no traceback."""
    key = tmp_path / "key"
    key.write_text(KEY.hex())
    os.chmod(key, 0o600)
    counter = tmp_path / "counter"
    counter.write_text("-5\n")
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "serve", "--port", "loop://", "--slots",
                           str(tmp_path / "s"), "--key-file", str(key), "--counter-file", str(counter)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"radrt serve: counter file '{counter}' holds b'-5\\n': expected one unsigned" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_radrt_link_counter_file_new_against_a_runtime_with_a_time_counter(tmp_path):
    """ICD-7-COUNTER-WINDOW (§7 recommended counter): `radrt link --counter-file NEW` (a missing file) signs
    with max(0 + 1, µs since the epoch), so a runtime whose stored counter is a time value
    (left by an earlier controller) accepts it; the new file persists what was sent, and
    a garbage --counter-file is an error at the call naming the file."""
    runtime_counter = tmp_path / "runtime_counter"
    CounterStore(runtime_counter).store(unix_microseconds() - 10**6)
    key_file = tmp_path / "key"
    key_file.write_text(KEY.hex())
    os.chmod(key_file, 0o600)
    master, port = open_pty_pair()
    service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"),
                             authenticator=Authenticator(KEY, CounterStore(runtime_counter)))
    responder = Responder(FdStream(master), service)
    responder.start()
    new = tmp_path / "new_counter"

    def link(*args):
        return subprocess.run([sys.executable, "-m", "runtime.cli", "link", "ping", "--port", port,
                               "--key-file", str(key_file), "--state-dir", str(tmp_path / "state"), *args],
                              capture_output=True, text=True, timeout=120)
    try:
        for _ in range(2):
            done = link("--counter-file", str(new))
            assert done.returncode == 0, done.stderr
            assert CounterStore(new).value == CounterStore(runtime_counter).value
        assert service.housekeeping()["auth_rejected"] == 0
        new.write_text("garbage\n")
        done = link("--counter-file", str(new))
        assert done.returncode == 2
        assert f"radrt link ping: counter file '{new}' holds b'garbage\\n'" in done.stderr
    finally:
        responder.stop.set()
        responder.join()

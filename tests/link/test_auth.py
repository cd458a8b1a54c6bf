"""Authentication trailer and replay counter (ICD §7)."""
import pytest

from runtime.link.auth import TRAILER_LEN, Authenticator, AuthError, CounterStore, sign
from runtime.link.catalogue import ErrorCode
from runtime.link.packets import TcPacket, crc16, parse_tc

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

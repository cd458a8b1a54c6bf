"""TC authentication (ICD §7): a 24-byte trailer at the end of the application data.

    trailer = counter (u64 big-endian) || HMAC-SHA256(key, packet[0 : end of counter])[:16]

The MAC covers the primary header (whose length field already counts the trailer),
the secondary header, the application data and the counter; the CRC-16 follows the
trailer. The runtime accepts a counter only if it is strictly greater than the last
accepted one and persists the new value before the TC executes (write, fsync, rename),
so a reboot cannot reopen a replay window. A controller that retries a TC keeps the
sequence count (so the runtime can spot the duplicate) but signs it with a new counter.

Vector: key 0x00..0x1f, counter 7, ping TC seq 2 (source 0x42, ack 0xF) =
`18a0c002001e2f110100420000000000000007 9ad337b3e10c997994061c15fe1a380f cdfe`.
"""
import hashlib
import hmac
import os
import struct
from pathlib import Path
from typing import Optional, Union

from .catalogue import ErrorCode
from .packets import CRC_LEN, TcPacket

COUNTER_LEN = 8
MAC_LEN = 16
TRAILER_LEN = COUNTER_LEN + MAC_LEN


class AuthError(Exception):
    """A TC that fails authentication; `code` is AUTH_FAILED or REPLAY."""

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def mac(key: bytes, signed_bytes: bytes) -> bytes:
    return hmac.new(key, signed_bytes, hashlib.sha256).digest()[:MAC_LEN]


def sign(tc: TcPacket, key: bytes, counter: int) -> bytes:
    """Packs `tc` with the trailer appended to its application data."""
    if not 0 <= counter < 1 << 64:
        raise ValueError(f"authentication counter {counter} does not fit u64")
    placeholder = TcPacket(tc.service, tc.subtype,
                           bytes(tc.app_data) + struct.pack(">Q", counter) + bytes(MAC_LEN),
                           tc.apid, tc.seq_count, tc.source_id, tc.ack_flags).pack()
    signed = placeholder[:-(MAC_LEN + CRC_LEN)]
    tc_with_trailer = TcPacket(tc.service, tc.subtype,
                               bytes(tc.app_data) + struct.pack(">Q", counter) + mac(key, signed),
                               tc.apid, tc.seq_count, tc.source_id, tc.ack_flags)
    return tc_with_trailer.pack()


class CounterStore:
    """A u64 counter kept in a file, replaced atomically: write a temporary file, fsync
    it, rename it over the old one, fsync the folder. `path=None` keeps it in memory."""

    def __init__(self, path: Optional[Union[str, Path]] = None, initial: int = 0):
        self.path = Path(path) if path is not None else None
        self.value = initial
        if self.path is not None and self.path.exists():
            self.value = int(self.path.read_text().strip())

    def store(self, value: int) -> None:
        if self.path is not None:
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w") as f:
                f.write(f"{value}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        self.value = value

    def next(self) -> int:
        """The sender's side: the next counter, persisted before it is used."""
        self.store(self.value + 1)
        return self.value


class Authenticator:
    """The runtime's side: checks a TC's trailer and strips it."""

    def __init__(self, key: bytes, counter: CounterStore):
        if not key:
            raise ValueError("authentication key is empty")
        self.key = bytes(key)
        self.counter = counter

    def verify(self, tc: TcPacket) -> TcPacket:
        """Returns `tc` without its trailer, or raises AuthError. The counter is
        persisted only when the MAC is good and the counter is fresh."""
        if len(tc.app_data) < TRAILER_LEN:
            raise AuthError(ErrorCode.AUTH_FAILED,
                            f"application data of {len(tc.app_data)} bytes has no "
                            f"{TRAILER_LEN}-byte authentication trailer")
        raw = tc.pack()
        trailer_at = len(raw) - CRC_LEN - TRAILER_LEN
        (counter,) = struct.unpack_from(">Q", raw, trailer_at)
        expected = mac(self.key, raw[:trailer_at + COUNTER_LEN])
        if not hmac.compare_digest(expected, raw[trailer_at + COUNTER_LEN:len(raw) - CRC_LEN]):
            raise AuthError(ErrorCode.AUTH_FAILED, "authentication MAC mismatch")
        if counter <= self.counter.value:
            raise AuthError(ErrorCode.REPLAY, f"authentication counter {counter} is not "
                                              f"greater than the last accepted {self.counter.value}")
        self.counter.store(counter)
        return TcPacket(tc.service, tc.subtype, tc.app_data[:-TRAILER_LEN], tc.apid,
                        tc.seq_count, tc.source_id, tc.ack_flags)

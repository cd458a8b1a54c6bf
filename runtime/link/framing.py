"""COBS framing of the payload link (ICD §2), with F Prime-style deframing results.

Frame = COBS(packet) || 0x00. COBS removes every 0x00 from the packet, so 0x00 only
ever ends a frame: after garbage the decoder resynchronises at the next 0x00, and an
empty frame (a leading 0x00 that a sender may add to flush line noise) is ignored.

The ping TC `18a0c00100062f110100428b34` frames to `0518a0c00105062f110104428b3400`.

Each frame body is classified like F Prime's `Svc::FramingProtocol` deframer:
- INVALID_SIZE: the packet would exceed 4096 bytes. Detected while bytes arrive, so an
  endless run without 0x00 never grows the buffer past one encoded maximum;
- INVALID_FORMAT: not valid COBS, or shorter than a CRC and a primary header, or the
  `parse` callback raised PacketFormatError (header bits, length field, PUS version);
- INVALID_CHECKSUM: the packet error control CRC-16 does not match;
- OK: the packet (parsed by `parse` when given) is returned.
MORE_NEEDED is the state between frames: bytes are buffered until the next 0x00.
Every dropped frame is counted; `bytes_discarded` counts the bytes they held.
"""
import enum
from dataclasses import dataclass
from typing import Callable, List, Optional

from .packets import CRC_LEN, MAX_PACKET, PRIMARY_HEADER_LEN, PacketFormatError, crc16

# Largest COBS encoding of a MAX_PACKET packet: one code byte per 254 data bytes.
MAX_ENCODED = MAX_PACKET + MAX_PACKET // 254 + 1


class FrameFormatError(ValueError):
    """A frame body that is not valid COBS."""


class DeframeStatus(enum.Enum):
    OK = "ok"
    MORE_NEEDED = "more needed"
    INVALID_FORMAT = "invalid format"
    INVALID_SIZE = "invalid size"
    INVALID_CHECKSUM = "invalid checksum"


def cobs_encode(data: bytes) -> bytes:
    """Consistent overhead byte stuffing (no trailing 0x00)."""
    out = bytearray()
    blocks = bytes(data).split(b"\x00")
    for number, block in enumerate(blocks):
        # A zero-free run of 254 bytes gets code 0xFF: "254 data bytes, no zero
        # follows". Data that ends right after such a run needs no final code byte.
        cut = False
        while len(block) >= 254:
            out.append(0xFF)
            out += block[:254]
            block = block[254:]
            cut = True
        if cut and not block and number == len(blocks) - 1:
            break
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(encoded: bytes) -> bytes:
    """Inverse of cobs_encode; raises FrameFormatError on a 0x00 or a code byte that
    points past the end."""
    encoded = bytes(encoded)
    out = bytearray()
    i, n = 0, len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0:
            raise FrameFormatError(f"0x00 inside a COBS frame at byte {i}")
        end = i + code
        if end > n:
            raise FrameFormatError(f"COBS code {code} at byte {i} runs past the frame end ({n})")
        block = encoded[i + 1:end]
        if 0 in block:
            raise FrameFormatError(f"0x00 inside a COBS frame at byte {i + 1 + block.index(0)}")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def frame(packet: bytes) -> bytes:
    """The bytes to put on the line for one packet."""
    if len(packet) > MAX_PACKET:
        raise ValueError(f"packet of {len(packet)} bytes, largest allowed {MAX_PACKET}")
    return cobs_encode(packet) + b"\x00"


@dataclass
class FrameCounters:
    frames_ok: int = 0
    frames_bad_crc: int = 0
    frames_bad_format: int = 0
    frames_oversize: int = 0
    bytes_discarded: int = 0

    @property
    def frames_dropped(self) -> int:
        return self.frames_bad_crc + self.frames_bad_format + self.frames_oversize


def deframe(body: bytes, parse: Optional[Callable[[bytes], object]] = None):
    """Classifies one frame body (the bytes between two 0x00); returns
    (DeframeStatus, packet or None)."""
    if len(body) > MAX_ENCODED:
        return DeframeStatus.INVALID_SIZE, None
    try:
        packet = cobs_decode(body)
    except FrameFormatError:
        return DeframeStatus.INVALID_FORMAT, None
    if len(packet) > MAX_PACKET:
        return DeframeStatus.INVALID_SIZE, None
    if len(packet) < PRIMARY_HEADER_LEN + CRC_LEN:
        return DeframeStatus.INVALID_FORMAT, None
    if crc16(packet[:-CRC_LEN]) != int.from_bytes(packet[-CRC_LEN:], "big"):
        return DeframeStatus.INVALID_CHECKSUM, None
    if parse is None:
        return DeframeStatus.OK, packet
    try:
        return DeframeStatus.OK, parse(packet)
    except PacketFormatError:
        return DeframeStatus.INVALID_FORMAT, None


class FrameDecoder:
    """Turns a byte stream into packets, dropping and counting bad frames.

    `parse` (e.g. packets.parse_tc) turns a CRC-checked packet into an object; a
    PacketFormatError from it counts as a bad-format frame. Never raises on input bytes.
    """

    def __init__(self, parse: Optional[Callable[[bytes], object]] = None):
        self.parse = parse
        self.counters = FrameCounters()
        self._buffer = bytearray()
        self._oversize = False  # discarding the rest of an oversize frame

    def feed(self, data: bytes) -> List[object]:
        packets = []
        start = 0
        data = bytes(data)
        while start < len(data):
            end = data.find(0, start)
            chunk = data[start:] if end < 0 else data[start:end]
            self._take(chunk)
            if end < 0:
                break
            self._end_frame(packets)
            start = end + 1
        return packets

    def _take(self, chunk: bytes) -> None:
        if self._oversize:
            self.counters.bytes_discarded += len(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_ENCODED:
            self.counters.frames_oversize += 1
            self.counters.bytes_discarded += len(self._buffer)
            self._buffer.clear()
            self._oversize = True

    def _end_frame(self, packets: list) -> None:
        if self._oversize:
            self._oversize = False
            return
        if not self._buffer:
            return
        body = bytes(self._buffer)
        self._buffer.clear()
        status, packet = deframe(body, self.parse)
        if status is DeframeStatus.OK:
            self.counters.frames_ok += 1
            packets.append(packet)
            return
        self.counters.bytes_discarded += len(body)
        if status is DeframeStatus.INVALID_SIZE:
            self.counters.frames_oversize += 1
        elif status is DeframeStatus.INVALID_CHECKSUM:
            self.counters.frames_bad_crc += 1
        else:
            self.counters.frames_bad_format += 1

    @property
    def status(self) -> DeframeStatus:
        """MORE_NEEDED while a frame is partly received, else OK."""
        return DeframeStatus.MORE_NEEDED if self._buffer or self._oversize else DeframeStatus.OK

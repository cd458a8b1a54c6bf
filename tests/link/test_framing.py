"""Frame decoder: COBS against the `cobs` package, resynchronisation, counters."""
import struct

import pytest
from cobs import cobs
from hypothesis import given, settings, strategies as st

from runtime.link.framing import (MAX_ENCODED, DeframeStatus, FrameDecoder, cobs_decode, cobs_encode,
                                  deframe, frame)
from runtime.link.packets import MAX_PACKET, TcPacket, crc16, parse_tc


def tc(seq: int, data: bytes = b"") -> TcPacket:
    return TcPacket(200, 1, data, apid=0x0A0, seq_count=seq, source_id=0x42)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">H", crc16(body))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_cobs_matches_the_cobs_package(data):
    assert cobs_encode(data) == cobs.encode(data)
    assert cobs_decode(cobs_encode(data)) == data


@pytest.mark.parametrize("n", [253, 254, 255, 508, 509, MAX_PACKET])
def test_cobs_block_boundaries(n):
    for data in (bytes([7]) * n, bytes([7]) * n + b"\0", bytes(n)):
        assert cobs_encode(data) == cobs.encode(data)
        assert cobs_decode(cobs_encode(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 2000), max_size=6))
def test_decoder_survives_arbitrary_bytes(garbage, cuts):
    decoder = FrameDecoder(parse_tc)
    at = 0
    for cut in cuts + [len(garbage)]:
        decoder.feed(garbage[at:at + cut])
        at += cut
    decoder.feed(garbage[at:])
    c = decoder.counters
    # Every non-empty segment ended by a 0x00 is either a packet or counted as dropped.
    segments = [s for s in garbage.split(b"\0")[:-1] if s]
    assert c.frames_ok + c.frames_dropped == len(segments)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.binary(max_size=300), min_size=1, max_size=5),
       st.integers(1, 97))
def test_no_valid_frame_lost_after_garbage(garbage, payloads, piece):
    """ICD-2-FRAME: after garbage the decoder resynchronises at the next 0x00."""
    packets = [tc(i, p) for i, p in enumerate(payloads)]
    stream = garbage + b"\0" + b"".join(frame(p.pack()) for p in packets)
    decoder = FrameDecoder(parse_tc)
    received = []
    for at in range(0, len(stream), piece):  # arrives in arbitrary pieces
        received += decoder.feed(stream[at:at + piece])
    assert received[-len(packets):] == packets
    segments = [s for s in garbage.split(b"\0") if s]
    c = decoder.counters
    assert c.frames_ok + c.frames_dropped == len(segments) + len(packets)
    assert c.frames_ok - len(packets) + c.frames_dropped == len(segments)


def test_empty_frames_ignored():
    """ICD-2-FRAME: empty frames are ignored."""
    decoder = FrameDecoder(parse_tc)
    assert decoder.feed(b"\0\0" + frame(tc(1).pack()) + b"\0") == [tc(1)]
    assert decoder.counters.frames_dropped == 0


@pytest.mark.parametrize("app_data", [MAX_PACKET - 12, MAX_PACKET])
def test_oversize_frame_dropped_and_counted(app_data):
    """ICD-2-OVERSIZE: a packet over 4096 bytes is dropped and counted."""
    # 4097 bytes (its encoding fits the buffer: caught after decoding) and 4109 bytes
    # (caught while the bytes arrive).
    raw = TcPacket(200, 1, bytes(app_data), apid=0x0A0).pack()
    assert len(raw) > MAX_PACKET
    decoder = FrameDecoder(parse_tc)
    assert decoder.feed(cobs_encode(raw) + b"\0" + frame(tc(2).pack())) == [tc(2)]
    assert decoder.counters.frames_oversize == 1
    assert deframe(cobs_encode(raw), parse_tc)[0] is DeframeStatus.INVALID_SIZE


def test_endless_run_without_delimiter_is_bounded():
    decoder = FrameDecoder(parse_tc)
    for _ in range(10):
        decoder.feed(b"\x01" * 1000)
    assert decoder.status is DeframeStatus.MORE_NEEDED
    assert len(decoder._buffer) <= MAX_ENCODED
    assert decoder.feed(b"\0" + frame(tc(3).pack())) == [tc(3)]
    assert decoder.counters.frames_oversize == 1
    assert decoder.counters.bytes_discarded == 10_000


def test_largest_packet_passes():
    data = bytes(range(256)) * 16
    packet = tc(4, data[:MAX_PACKET - 13])
    assert len(packet.pack()) == MAX_PACKET
    assert FrameDecoder(parse_tc).feed(frame(packet.pack())) == [packet]


def bad_crc():
    raw = bytearray(tc(5, b"abc").pack())
    raw[-1] ^= 0x01
    return bytes(raw), "frames_bad_crc"


def bad_ccsds_version():
    raw = bytearray(tc(5).pack()[:-2])
    raw[0] |= 0x20
    return with_crc(bytes(raw)), "frames_bad_format"


def bad_pus_version():
    raw = bytearray(tc(5).pack()[:-2])
    raw[6] = (1 << 4) | 0xF
    return with_crc(bytes(raw)), "frames_bad_format"


def bad_length_field():
    raw = bytearray(tc(5, b"abcd").pack()[:-2])
    raw[5] -= 1
    return with_crc(bytes(raw)), "frames_bad_format"


def tm_where_tc_expected():
    from runtime.link.packets import TmPacket
    return TmPacket(17, 2).pack(), "frames_bad_format"


def too_short():
    return with_crc(b"\x18\xa0\xc0"), "frames_bad_format"


def bad_cobs():
    return None, "frames_bad_format"


@pytest.mark.parametrize("make", [bad_crc, bad_ccsds_version, bad_pus_version, bad_length_field,
                                  tm_where_tc_expected, too_short, bad_cobs])
def test_bad_packets_dropped_and_counted(make):
    """ICD-7-DROP: bad CRC, length or header version: dropped, counted, not executed."""
    raw, counter = make()
    encoded = b"\x05\x01\x02" if raw is None else cobs_encode(raw)  # code 5 runs past the end
    decoder = FrameDecoder(parse_tc)
    assert decoder.feed(encoded + b"\0" + frame(tc(6).pack())) == [tc(6)]
    counts = vars(decoder.counters)
    assert counts[counter] == 1
    assert decoder.counters.frames_dropped == 1
    assert counts["bytes_discarded"] == len(encoded)

"""CCSDS space packets with PUS-C TC/TM secondary headers (ICD §3), strict.

Ping TC (APID 0x0A0, seq 1, source 0x0042, ack 0xF) packs to
`18a0c001 0006 2f 11 01 0042 8b34`:

    primary header  18a0 c001 0006   version 0, TC, sec. header, APID 0x0A0;
                                     seq flags 0b11, count 1; data length - 1
    TC sec. header  2f 11 01 0042    PUS 2 | ack 0xF, service 17, subtype 1, source
    packet error    8b34             CRC-16/CCITT-FALSE of every preceding byte

Alive TM (seq 5, message counter 3, destination 0x0042):
`08a0c005000f 20 11 02 0003 0042 4000010000000a 7ff6` (timestamp = CDS short with
P-field 0x40).

Parsing is stricter than `spacepackets` (measured: it accepts a TM as a TC, CCSDS
version 1, segmented packets and trailing bytes); the ICD asks for nothing looser, so
this module packs and parses with `struct` and checks every fixed header bit. The
`spacepackets` package is the test oracle (tests/link/test_packets.py).
"""
import binascii
import struct
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

MAX_PACKET = 4096  # bytes before COBS (ICD §2)
DEFAULT_APID = 0x0A0
PRIMARY_HEADER_LEN = 6
TC_SEC_HEADER_LEN = 5
TM_SEC_HEADER_LEN = 14
CRC_LEN = 2
TIMESTAMP_LEN = 7
TC_OVERHEAD = PRIMARY_HEADER_LEN + TC_SEC_HEADER_LEN + CRC_LEN
TM_OVERHEAD = PRIMARY_HEADER_LEN + TM_SEC_HEADER_LEN + CRC_LEN
PUS_VERSION = 2
SEQ_UNSEGMENTED = 0b11
SEQ_COUNT_MODULO = 1 << 14
CDS_PFIELD = 0x40  # CDS, epoch 1958-01-01, 16-bit days, no sub-ms field
DAYS_1958_TO_1970 = 4383


class PacketFormatError(ValueError):
    """A packet that breaks the ICD's layout (header bits, lengths, PUS version)."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor out).
    binascii.crc_hqx is exactly this algorithm given init 0xFFFF."""
    return binascii.crc_hqx(data, 0xFFFF)


def cds_short_timestamp(unix_seconds: float) -> bytes:
    """CCSDS CDS short time code with its P-field, as spacepackets'
    CdsShortTimestamp packs it: P-field, days since 1958 (u16), ms of day (u32)."""
    ms_total = int(unix_seconds * 1000)
    days, ms_of_day = divmod(ms_total, 86_400_000)
    return struct.pack(">BHI", CDS_PFIELD, (days + DAYS_1958_TO_1970) & 0xFFFF, ms_of_day)


def _primary_header(is_tc: bool, apid: int, seq_count: int, data_field_len: int) -> bytes:
    if not 0 <= apid < 0x800:
        raise ValueError(f"APID {apid:#x} does not fit 11 bits")
    if not 0 <= seq_count < SEQ_COUNT_MODULO:
        raise ValueError(f"sequence count {seq_count} does not fit 14 bits")
    packet_id = (int(is_tc) << 12) | (1 << 11) | apid
    return struct.pack(">HHH", packet_id, (SEQ_UNSEGMENTED << 14) | seq_count,
                       data_field_len - 1)


def _check_primary(raw: bytes, is_tc: bool) -> Tuple[int, int]:
    """Checks the fixed bits of the primary header and the length field against the
    packet's real length; returns (apid, seq_count)."""
    if len(raw) > MAX_PACKET:
        raise PacketFormatError(f"packet of {len(raw)} bytes, largest allowed {MAX_PACKET}")
    packet_id, seq_ctrl, length_field = struct.unpack_from(">HHH", raw)
    version, packet_type, sec_flag = packet_id >> 13, (packet_id >> 12) & 1, (packet_id >> 11) & 1
    if version != 0:
        raise PacketFormatError(f"CCSDS version {version}, expected 0")
    if packet_type != int(is_tc):
        raise PacketFormatError(f"packet type {packet_type}, expected {int(is_tc)} "
                                f"({'TC' if is_tc else 'TM'})")
    if not sec_flag:
        raise PacketFormatError("secondary header flag clear, expected set")
    if seq_ctrl >> 14 != SEQ_UNSEGMENTED:
        raise PacketFormatError(f"sequence flags {seq_ctrl >> 14:#04b}, expected 0b11")
    if length_field + 1 + PRIMARY_HEADER_LEN != len(raw):
        raise PacketFormatError(f"length field says {length_field + 1 + PRIMARY_HEADER_LEN} "
                                f"bytes, packet has {len(raw)}")
    if crc16(raw[:-CRC_LEN]) != struct.unpack_from(">H", raw, len(raw) - CRC_LEN)[0]:
        raise PacketFormatError("packet error control CRC mismatch")
    return packet_id & 0x7FF, seq_ctrl & 0x3FFF


@dataclass
class TcPacket:
    """A PUS-C telecommand. `app_data` includes the authentication trailer when one
    is present (auth.py adds and strips it)."""
    service: int
    subtype: int
    app_data: bytes = b""
    apid: int = DEFAULT_APID
    seq_count: int = 0
    source_id: int = 0
    ack_flags: int = 0xF

    @property
    def request_id(self) -> bytes:
        """Packet ID + packet sequence control: the 4 bytes verification reports echo."""
        return _primary_header(True, self.apid, self.seq_count, 1)[:4]

    def pack(self) -> bytes:
        body = struct.pack(">BBBH", (PUS_VERSION << 4) | (self.ack_flags & 0xF),
                           self.service, self.subtype, self.source_id) + bytes(self.app_data)
        head = _primary_header(True, self.apid, self.seq_count, len(body) + CRC_LEN)
        packet = head + body
        return packet + struct.pack(">H", crc16(packet))


@dataclass
class TmPacket:
    """A PUS-C telemetry packet."""
    service: int
    subtype: int
    source_data: bytes = b""
    apid: int = DEFAULT_APID
    seq_count: int = 0
    message_counter: int = 0
    destination_id: int = 0
    timestamp: bytes = bytes(TIMESTAMP_LEN)

    def pack(self) -> bytes:
        if len(self.timestamp) != TIMESTAMP_LEN:
            raise ValueError(f"timestamp of {len(self.timestamp)} bytes, expected {TIMESTAMP_LEN}")
        body = (struct.pack(">BBBHH", PUS_VERSION << 4, self.service, self.subtype,
                            self.message_counter, self.destination_id)
                + bytes(self.timestamp) + bytes(self.source_data))
        head = _primary_header(False, self.apid, self.seq_count, len(body) + CRC_LEN)
        packet = head + body
        return packet + struct.pack(">H", crc16(packet))


def parse_tc(raw: bytes) -> TcPacket:
    """Parses one whole TC packet; raises PacketFormatError on any deviation."""
    raw = bytes(raw)
    if len(raw) < TC_OVERHEAD:
        raise PacketFormatError(f"TC of {len(raw)} bytes, shortest is {TC_OVERHEAD}")
    apid, seq_count = _check_primary(raw, is_tc=True)
    flags, service, subtype, source_id = struct.unpack_from(">BBBH", raw, PRIMARY_HEADER_LEN)
    if flags >> 4 != PUS_VERSION:
        raise PacketFormatError(f"PUS version {flags >> 4}, expected {PUS_VERSION}")
    return TcPacket(service, subtype, raw[PRIMARY_HEADER_LEN + TC_SEC_HEADER_LEN:-CRC_LEN],
                    apid, seq_count, source_id, flags & 0xF)


def parse_tm(raw: bytes) -> TmPacket:
    """Parses one whole TM packet; raises PacketFormatError on any deviation."""
    raw = bytes(raw)
    if len(raw) < TM_OVERHEAD:
        raise PacketFormatError(f"TM of {len(raw)} bytes, shortest is {TM_OVERHEAD}")
    apid, seq_count = _check_primary(raw, is_tc=False)
    flags, service, subtype, counter, dest = struct.unpack_from(">BBBHH", raw, PRIMARY_HEADER_LEN)
    if flags >> 4 != PUS_VERSION:
        raise PacketFormatError(f"PUS version {flags >> 4}, expected {PUS_VERSION}")
    if flags & 0xF:
        raise PacketFormatError(f"time reference status {flags & 0xF}, expected 0")
    ts_at = PRIMARY_HEADER_LEN + 7
    return TmPacket(service, subtype, raw[ts_at + TIMESTAMP_LEN:-CRC_LEN], apid, seq_count,
                    counter, dest, raw[ts_at:ts_at + TIMESTAMP_LEN])


class SequenceCounter:
    """A side's 14-bit packet sequence counter: +1 per packet sent, wrapping."""

    def __init__(self, start: int = 0):
        self._next = start % SEQ_COUNT_MODULO

    def next(self) -> int:
        value = self._next
        self._next = (value + 1) % SEQ_COUNT_MODULO
        return value


@dataclass
class TmBuilder:
    """Builds the runtime's TM: one sequence counter, one u16 message type counter per
    (service, subtype), CDS timestamps from `clock` (Unix seconds)."""
    apid: int = DEFAULT_APID
    clock: Callable[[], float] = time.time
    sequence: SequenceCounter = field(default_factory=SequenceCounter)
    message_counters: Dict[Tuple[int, int], int] = field(default_factory=dict)

    def build(self, service: int, subtype: int, source_data: bytes, destination_id: int) -> bytes:
        key = (service, subtype)
        counter = self.message_counters.get(key, 0)
        self.message_counters[key] = (counter + 1) & 0xFFFF
        return TmPacket(service, subtype, source_data, self.apid, self.sequence.next(), counter,
                        destination_id, cds_short_timestamp(self.clock())).pack()

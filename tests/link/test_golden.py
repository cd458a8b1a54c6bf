"""ICD §10 golden vectors, bit-exact, checked with our codec and with the reference
packages (`spacepackets`, `cobs`) directly."""
import pytest
from cobs import cobs
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

from runtime.link.auth import Authenticator, CounterStore, sign
from runtime.link.framing import FrameDecoder, cobs_decode, frame
from runtime.link.packets import TcPacket, TmPacket, crc16, parse_tc, parse_tm

PING_TC = bytes.fromhex("18a0c00100062f110100428b34")
PING_FRAME = bytes.fromhex("0518a0c00105062f110104428b3400")
ALIVE_TM = bytes.fromhex("08a0c005000f201102000300424000010000000a7ff6")
TIMESTAMP = bytes.fromhex("4000010000000a")
AUTH_PING_TC = bytes.fromhex("18a0c002001e2f1101004200000000000000079ad337b3e10c997994061c15fe1a380fcdfe")
KEY = bytes(range(32))


def test_crc16_check_value():
    """ICD-3-CRC: CRC-16/CCITT-FALSE check value 0x29B1."""
    assert crc16(b"123456789") == 0x29B1


def test_ping_tc():
    """ICD-10-GOLDEN: the ping TC vector."""
    assert TcPacket(17, 1, apid=0x0A0, seq_count=1, source_id=0x42, ack_flags=0xF).pack() == PING_TC
    assert PusTc(service=17, message_subtype=1, apid=0x0A0, seq_count=1, source_id=0x42,
                 ack_flags=0xF).pack() == PING_TC
    assert parse_tc(PING_TC) == TcPacket(17, 1, b"", 0x0A0, 1, 0x42, 0xF)


def test_ping_frame():
    assert frame(PING_TC) == PING_FRAME
    assert cobs.encode(PING_TC) + b"\x00" == PING_FRAME
    assert cobs_decode(PING_FRAME[:-1]) == PING_TC
    assert FrameDecoder(parse_tc).feed(PING_FRAME) == [parse_tc(PING_TC)]


def test_alive_tm():
    tm = TmPacket(17, 2, b"", apid=0x0A0, seq_count=5, message_counter=3, destination_id=0x42,
                  timestamp=TIMESTAMP)
    assert tm.pack() == ALIVE_TM
    assert PusTm(service=17, message_subtype=2, timestamp=TIMESTAMP, apid=0x0A0, seq_count=5,
                 message_counter=3, destination_id=0x42).pack() == ALIVE_TM
    assert CdsShortTimestamp(ccsds_days=1, ms_of_day=10).pack() == TIMESTAMP
    assert parse_tm(ALIVE_TM) == tm
    assert PusTm.unpack(ALIVE_TM, timestamp_len=7).timestamp == TIMESTAMP


def test_authenticated_ping():
    tc = TcPacket(17, 1, apid=0x0A0, seq_count=2, source_id=0x42, ack_flags=0xF)
    assert sign(tc, KEY, 7) == AUTH_PING_TC
    assert PusTc.unpack(AUTH_PING_TC).app_data.hex() == "0000000000000007" + "9ad337b3e10c997994061c15fe1a380f"
    verified = Authenticator(KEY, CounterStore()).verify(parse_tc(AUTH_PING_TC))
    assert (verified.service, verified.subtype, verified.app_data, verified.seq_count) == (17, 1, b"", 2)


@pytest.mark.parametrize("unix, days, ms", [(0.0, 4383, 0), (86_400 * 2 + 1.5, 4385, 1500)])
def test_cds_timestamp_matches_spacepackets(unix, days, ms):
    from runtime.link.packets import cds_short_timestamp
    assert cds_short_timestamp(unix) == CdsShortTimestamp(ccsds_days=days, ms_of_day=ms).pack()


V2_ALIVE_TM = bytes.fromhex("08a0c0050010201102000300424000010000000a02032a")
V2_RESULT_DONE_TM = bytes.fromhex(
    "08a0c009002320c804000400424000010000000a000000070000000004d2b63cfbcd0001d5cd438f38e6")


def test_v2_alive_tm():
    """ICD-10-GOLDEN, ICD-4-ALIVE: the v2 alive TM, from the runtime's own service."""
    from runtime.link.catalogue import ICD_VERSION, message
    data = message(17, 2).pack(icd_version=ICD_VERSION)
    tm = TmPacket(17, 2, data, apid=0x0A0, seq_count=5, message_counter=3, destination_id=0x42,
                  timestamp=TIMESTAMP)
    assert tm.pack() == V2_ALIVE_TM
    assert PusTm(service=17, message_subtype=2, timestamp=TIMESTAMP, apid=0x0A0, seq_count=5,
                 message_counter=3, destination_id=0x42, source_data=data).pack() == V2_ALIVE_TM


def test_v2_result_done_tm():
    """ICD-10-GOLDEN, ICD-4-RESULT: TM[200,4] with input_crc32, packed as the runtime packs it."""
    import zlib
    from runtime.link.services import RunResult
    result = RunResult(status=0, latency_us=1234, crc32=zlib.crc32(bytes.fromhex("01020304")), corrected=1,
                       input_crc32=zlib.crc32(bytes.fromhex("0506")), outputs=[])
    tm = TmPacket(200, 4, result.done_report(7), apid=0x0A0, seq_count=9, message_counter=4,
                  destination_id=0x42, timestamp=TIMESTAMP)
    assert tm.pack() == V2_RESULT_DONE_TM
    assert parse_tm(V2_RESULT_DONE_TM).source_data == result.done_report(7)

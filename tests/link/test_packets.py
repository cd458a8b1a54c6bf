"""Packets against `spacepackets`, strictness, counters."""
import pytest
from hypothesis import given, settings, strategies as st
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

from runtime.link.packets import (SEQ_COUNT_MODULO, PacketFormatError, SequenceCounter, TcPacket,
                                  TmBuilder, TmPacket, parse_tc, parse_tm)

apids = st.integers(0, 0x7FF)
seqs = st.integers(0, SEQ_COUNT_MODULO - 1)
u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)


@settings(max_examples=200, deadline=None)
@given(apids, seqs, u8, u8, u16, st.integers(0, 15), st.binary(max_size=200))
def test_tc_matches_spacepackets(apid, seq, service, subtype, source, ack, data):
    """ICD-3-HEADERS: TC headers bit-exact with spacepackets."""
    ours = TcPacket(service, subtype, data, apid, seq, source, ack)
    raw = ours.pack()
    assert raw == PusTc(service=service, message_subtype=subtype, apid=apid, seq_count=seq,
                        source_id=source, ack_flags=ack, app_data=data).pack()
    assert parse_tc(raw) == ours
    assert ours.request_id == raw[:4]


@settings(max_examples=200, deadline=None)
@given(apids, seqs, u8, u8, u16, u16, st.binary(min_size=7, max_size=7), st.binary(max_size=200))
def test_tm_matches_spacepackets(apid, seq, service, subtype, counter, dest, stamp, data):
    ours = TmPacket(service, subtype, data, apid, seq, counter, dest, stamp)
    raw = ours.pack()
    assert raw == PusTm(service=service, message_subtype=subtype, timestamp=stamp, source_data=data,
                        apid=apid, seq_count=seq, message_counter=counter, destination_id=dest).pack()
    assert parse_tm(raw) == ours


def test_strictness_where_spacepackets_is_lenient():
    raw = TmPacket(17, 2).pack()
    PusTc.unpack(raw)  # spacepackets takes a TM for a TC ...
    with pytest.raises(PacketFormatError, match="packet type 0, expected 1"):
        parse_tc(raw)   # ... the ICD does not
    with pytest.raises(PacketFormatError, match="length field says 13 bytes, packet has 14"):
        parse_tc(TcPacket(17, 1).pack() + b"\0")


def test_sequence_counter_wraps_at_14_bits():
    """ICD-3-SEQ: 14-bit sequence count, wrapping."""
    counter = SequenceCounter(SEQ_COUNT_MODULO - 1)
    assert [counter.next() for _ in range(3)] == [SEQ_COUNT_MODULO - 1, 0, 1]


def test_tm_builder_counts_per_service_and_subtype():
    builder = TmBuilder(clock=lambda: 0.0)
    packets = [parse_tm(builder.build(s, t, b"", 0x42)) for s, t in [(17, 2), (17, 2), (1, 1), (17, 2)]]
    assert [p.seq_count for p in packets] == [0, 1, 2, 3]
    assert [p.message_counter for p in packets] == [0, 1, 0, 2]
    assert all(p.destination_id == 0x42 for p in packets)

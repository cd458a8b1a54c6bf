"""PayloadService against a fake backend: verification, duplicates, results, HK,
authentication, functions and model slots (docs/icd.md; requirement IDs of
runtime.link.catalogue.REQUIREMENTS in each test's docstring)."""
import hashlib
import struct
import zlib

import numpy as np
import pytest

from runtime.link.auth import Authenticator, CounterStore, sign
from runtime.link.catalogue import (HK2_U32_FIELDS, HK_U8_FIELDS, HK_U32_FIELDS, NO_ACTIVE_SLOT, ErrorCode,
                                   EventId, Function, Severity, SlotState)
from runtime.link.framing import FrameDecoder, frame
from runtime.link.packets import MAX_PACKET, TcPacket, parse_tm
from runtime.link.services import DUPLICATE_WINDOW, RESULTS_PER_SOURCE, PayloadService
from runtime.link.slots import ModelSlots
from runtime.link.tensors import TensorChunk, split_tensor

from .fakes import UNCORRECTABLE, FakeBackend

KEY = bytes(range(32))
X = np.arange(6, dtype=np.float32).reshape(2, 3)


class Bench:
    """A service, its fake backend, and a TC sender that numbers its TCs."""

    def __init__(self, tmp_path, key=None, served=True):
        self.backend = FakeBackend(served)
        self.slots = ModelSlots(tmp_path / "slots")
        auth = Authenticator(key, CounterStore()) if key else None
        self.service = PayloadService(self.backend, self.slots, authenticator=auth, clock=lambda: 0.0)
        self.seq = 0
        self.key = key
        self.counter = 100

    def tc(self, service, subtype, data=b"", ack=0xF, seq=None, source=0x42):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return TcPacket(service, subtype, data, apid=0x0A0, seq_count=seq, source_id=source, ack_flags=ack)

    def raw(self, tc, sign_it=True):
        if self.key and sign_it:
            self.counter += 1
            return sign(tc, self.key, self.counter)
        return tc.pack()

    def send_raw(self, raw):
        return [parse_tm(p) for p in FrameDecoder().feed(self.service.receive(frame(raw)))]

    def send(self, tc, sign_it=True):
        """Sends through framing, as the line would, and returns the parsed TM."""
        return self.send_raw(self.raw(tc, sign_it))

    def call(self, service, subtype, data=b"", **kw):
        return self.send(self.tc(service, subtype, data, **kw))

    def put_inputs(self, request_id, array=X, index=0, source=0x42):
        for chunk in split_tensor(request_id, index, array, 10):
            assert kinds(self.call(200, 1, chunk.pack(), source=source)) == [(1, 1), (1, 7)]


def kinds(tms):
    return [(t.service, t.subtype) for t in tms]


def failure(tm):
    return struct.unpack_from(">HI", tm.source_data, 4)


@pytest.fixture
def bench(tmp_path):
    return Bench(tmp_path)


@pytest.mark.parametrize("ack, expected", [
    (0xF, [(1, 1), (17, 2), (1, 7)]), (0x9, [(1, 1), (17, 2), (1, 7)]),
    (0x1, [(1, 1), (17, 2)]), (0x8, [(17, 2), (1, 7)]), (0x6, [(17, 2)]), (0x0, [(17, 2)])])
def test_reports_follow_ack_flags(bench, ack, expected):
    tms = bench.call(17, 1, ack=ack)
    assert kinds(tms) == expected
    tc = bench.tc(17, 1, seq=bench.seq)
    assert all(t.source_data[:4] == tc.request_id for t in tms if t.service == 1)
    assert all(t.destination_id == 0x42 for t in tms)


@pytest.mark.parametrize("service, subtype, data, code", [
    (99, 1, b"", ErrorCode.BAD_SERVICE), (17, 9, b"", ErrorCode.BAD_SUBTYPE),
    (17, 1, b"x", ErrorCode.BAD_LENGTH),
    (8, 1, b"\0\x09", ErrorCode.BAD_ARGUMENT), (8, 1, b"\0\1\x07", ErrorCode.BAD_ARGUMENT),
    (201, 4, b"\x09", ErrorCode.BAD_ARGUMENT), (200, 1, b"\0\0\0\1\0\x63\0\0\0\0\0\0\0\0\0", ErrorCode.DTYPE_MISMATCH),
    (200, 5, b"\0\0\0\1\0", ErrorCode.BAD_LENGTH), (3, 27, b"\0\3", ErrorCode.BAD_ARGUMENT)])
def test_acceptance_failures_reported_even_without_ack(bench, service, subtype, data, code):
    """ICD-7-ACK: failures are always reported."""
    tms = bench.call(service, subtype, data, ack=0)
    assert kinds(tms) == [(1, 2)]
    assert failure(tms[0])[0] == code
    assert bench.service.housekeeping()["tc_rejected"] == 1


def test_completion_failure_reported_without_ack(bench):
    tms = bench.call(200, 5, struct.pack(">I", 77), ack=0)
    assert kinds(tms) == [(1, 8)]
    assert failure(tms[0]) == (ErrorCode.UNKNOWN_REQUEST, 77)


def test_inference_round_trip(bench):
    """ICD-4-RESULT: output chunks, then TM[200,4] with crc32 and input_crc32."""
    bench.put_inputs(5)
    tms = bench.call(200, 2, struct.pack(">I", 5))
    assert kinds(tms)[0] == (1, 1) and kinds(tms)[-2:] == [(200, 4), (1, 7)]
    chunks = [TensorChunk.unpack(t.source_data) for t in tms if (t.service, t.subtype) == (200, 3)]
    assert all(c.request_id == 5 for c in chunks)
    out0 = b"".join(c.data for c in chunks if c.index == 0)
    out1 = b"".join(c.data for c in chunks if c.index == 1)
    assert out0 == (X * 2).tobytes() and out1 == np.arange(3000, dtype="<i8").tobytes()
    assert max(len(t.pack()) for t in tms) == MAX_PACKET  # full chunks fill a packet exactly
    request_id, status, _latency, crc, corrected, input_crc = struct.unpack(">IHIIHI", tms[-2].source_data)
    assert (request_id, status, corrected) == (5, 0, 1)
    assert crc == zlib.crc32(out0 + out1)
    assert input_crc == zlib.crc32(X.tobytes())
    assert bench.service.housekeeping()["inferences_ok"] == 1


def test_duplicate_tc_reports_resent_not_executed(bench):
    bench.put_inputs(6)
    run = bench.tc(200, 2, struct.pack(">I", 6))
    first = bench.send(run)
    again = bench.send(run)
    assert bench.backend.runs == 1
    assert kinds(again) == [(1, 1), (200, 4), (1, 7)]  # not the output chunks: TC[200,5] gets those
    assert again[1].source_data == first[-2].source_data
    assert bench.service.housekeeping()["duplicates_ignored"] == 1


def test_duplicate_window_is_64_accepted_tcs(bench):
    ping = bench.tc(17, 1)
    bench.send(ping)
    for _ in range(DUPLICATE_WINDOW - 1):
        bench.call(17, 1)
    bench.send(ping)
    assert bench.service.housekeeping()["duplicates_ignored"] == 1
    bench.call(17, 1)
    bench.call(17, 1)  # now the first ping left the window
    bench.send(ping)
    assert bench.service.housekeeping()["duplicates_ignored"] == 1


def test_rejected_tc_is_not_a_duplicate(bench):
    """ICD-7-DUPLICATE: the window holds TCs ACCEPTED; a TC refused at acceptance and sent
    again identical is handled again."""
    bad = bench.tc(17, 1, b"x")
    assert kinds(bench.send(bad)) == [(1, 2)]
    assert kinds(bench.send(bad)) == [(1, 2)]
    assert bench.service.housekeeping()["duplicates_ignored"] == 0
    assert bench.service.housekeeping()["tc_rejected"] == 2


def test_reused_sequence_count_with_other_bytes_is_a_new_tc(bench):
    """ICD-7-DUPLICATE (issue 12 'false success'): a controller after a reboot reuses an
    earlier TC's sequence count for a different TC: it is executed, not answered with
    the old TC's reports."""
    bench.put_inputs(6)
    bench.send(bench.tc(200, 2, struct.pack(">I", 6), seq=500))
    bench.put_inputs(7, X + 1)
    tms = bench.send(bench.tc(200, 2, struct.pack(">I", 7), seq=500))
    assert bench.backend.runs == 2
    out = b"".join(TensorChunk.unpack(t.source_data).data for t in tms if (t.service, t.subtype) == (200, 3)
                   and TensorChunk.unpack(t.source_data).index == 0)
    assert out == ((X + 1) * 2).tobytes()
    assert bench.service.housekeeping()["duplicates_ignored"] == 0


def test_result_cache_keeps_last_8(bench):
    """ICD-4-RESEND: the last 8 results of a controller can be re-sent."""
    for request_id in range(RESULTS_PER_SOURCE + 1):
        bench.put_inputs(request_id)
        bench.call(200, 2, struct.pack(">I", request_id))
    tms = bench.call(200, 5, struct.pack(">I", 0))
    assert failure(tms[-1]) == (ErrorCode.UNKNOWN_REQUEST, 0)
    for request_id in range(1, RESULTS_PER_SOURCE + 1):
        tms = bench.call(200, 5, struct.pack(">I", request_id))
        assert kinds(tms)[-2:] == [(200, 4), (1, 7)]
        assert (200, 3) in kinds(tms)
    assert bench.backend.runs == RESULTS_PER_SOURCE + 1


@pytest.mark.parametrize("array, code", [
    (np.zeros((3, 2), np.float32), ErrorCode.SHAPE_MISMATCH),
    (np.zeros((2, 3, 1), np.float32), ErrorCode.SHAPE_MISMATCH),
    (np.zeros((2, 3), np.int32), ErrorCode.DTYPE_MISMATCH)])
def test_input_mismatch_refused_at_acceptance(bench, array, code):
    """ICD-4-PUT-INPUT: a chunk whose dtype or dims differ from the model's input fails at
    acceptance; nothing is staged."""
    (chunk,) = split_tensor(9, 0, array, 4000)
    tms = bench.call(200, 1, chunk.pack())
    assert kinds(tms) == [(1, 2)] and failure(tms[0]) == (code, 0)
    assert bench.service.housekeeping()["inputs_refused"] == 1
    assert bench.service.inference.staged_bytes() == 0


def chunk_header(request_id, index, code, dims, total, offset=0):
    return struct.pack(f">IBBB{len(dims)}III", request_id, index, code, len(dims), *dims, total, offset)


@pytest.mark.parametrize("data, code", [
    # issue 12: 31-byte TCs each declaring a 64 MiB tensor allocated it (40 took 2.6 GB)
    (chunk_header(1, 0, 1, (4096, 4096), 64 << 20), ErrorCode.SHAPE_MISMATCH),
    # dims whose product overflows 64 bits, total_bytes 0 (was accepted)
    (chunk_header(1, 0, 1, (0xFFFFFFFF,) * 3, 0), ErrorCode.SHAPE_MISMATCH),
    (chunk_header(1, 0, 1, (2, 3), 0), ErrorCode.BAD_LENGTH),
    (chunk_header(1, 0, 1, (2, 3), 2 ** 32 - 1), ErrorCode.BAD_LENGTH),
    (chunk_header(1, 1, 1, (2, 3), 24), ErrorCode.BAD_ARGUMENT),
    (chunk_header(1, 0, 1, (2, 3), 24, offset=20) + bytes(8), ErrorCode.BAD_ARGUMENT),
    (chunk_header(1, 0, 1, (2, 3), 24)[:12], ErrorCode.BAD_LENGTH),
    (b"\0\0\0\1\0", ErrorCode.BAD_LENGTH)])
def test_hostile_put_input_allocates_nothing(bench, data, code):
    """ICD-4-PUT-INPUT, ICD-7-OVERFLOW: declared sizes are checked against the model with
    overflow-safe arithmetic before anything is allocated."""
    tms = bench.call(200, 1, data)
    assert kinds(tms) == [(1, 2)] and failure(tms[0])[0] == code
    assert bench.service.inference.staged_bytes() == 0


def test_symbolic_dims_take_any_value_within_a_cap(tmp_path):
    """ICD-7-OVERFLOW: a model input with a symbolic dim accepts any dims whose size is
    exact and at most MAX_DYNAMIC_INPUT_BYTES."""
    from runtime.link.services.inference import MAX_DYNAMIC_INPUT_BYTES
    bench = Bench(tmp_path)
    bench.backend.input_specs = lambda: [(("N", 3), np.dtype(np.float32))]
    assert kinds(bench.call(200, 1, chunk_header(1, 0, 1, (5, 3), 60) + bytes(60)))[-1] == (1, 7)
    n = MAX_DYNAMIC_INPUT_BYTES // 12 + 1
    tms = bench.call(200, 1, chunk_header(2, 0, 1, (n, 3), n * 12))
    assert failure(tms[0])[0] == ErrorCode.BAD_LENGTH
    tms = bench.call(200, 1, chunk_header(3, 0, 1, (0xFFFFFFFF, 3), 0))
    assert failure(tms[0])[0] == ErrorCode.BAD_LENGTH
    assert bench.service.inference.staged_bytes() == 60


def test_staging_is_bounded(bench):
    """ICD-4-PUT-INPUT: each controller stages at most STAGED_PER_SOURCE requests; the state
    of at most MAX_CONTROLLERS controllers is kept (the least recently heard is forgotten),
    so at most STAGED_REQUESTS requests of the model's inputs are staged in all."""
    from runtime.link.services import MAX_CONTROLLERS, STAGED_PER_SOURCE, STAGED_REQUESTS
    n_sources = MAX_CONTROLLERS + 4
    for source in range(n_sources):
        for request_id in range(10):
            bench.call(200, 1, split_tensor(request_id, 0, X, 24)[0].pack(), source=source)
    inference = bench.service.inference
    assert sorted(inference.staged) == list(range(4, n_sources))  # the first 4 were forgotten
    assert all(list(r) == list(range(10 - STAGED_PER_SOURCE, 10)) for r in inference.staged.values())
    assert inference.staged_requests() == STAGED_REQUESTS
    assert inference.staged_bytes() == STAGED_REQUESTS * X.nbytes


def test_requests_are_scoped_per_source(bench):
    """ICD-4-PER-SOURCE (issue 12): two controllers staging under the same request_id
    each get their own inputs run."""
    bench.put_inputs(7, X, source=0x42)
    bench.put_inputs(7, X + 10, source=0x43)
    for source, expected in ((0x43, X + 10), (0x42, X)):
        tms = bench.call(200, 2, struct.pack(">I", 7), source=source)
        out = b"".join(TensorChunk.unpack(t.source_data).data for t in tms if (t.service, t.subtype) == (200, 3)
                       and TensorChunk.unpack(t.source_data).index == 0)
        assert out == (expected * 2).tobytes()
        done = struct.unpack(">IHIIHI", [t for t in tms if (t.service, t.subtype) == (200, 4)][0].source_data)
        assert done[5] == zlib.crc32(expected.tobytes())
    # results too: another source cannot fetch them
    assert failure(bench.call(200, 5, struct.pack(">I", 7), source=0x44)[-1]) == (ErrorCode.UNKNOWN_REQUEST, 7)


def test_ranged_resend_sends_only_the_ranges(bench):
    """ICD-4-RESEND: TC[200,5] with ranges re-sends exactly those bytes, then TM[200,4]."""
    bench.put_inputs(3)
    first = bench.call(200, 2, struct.pack(">I", 3))
    ranges = [(1, 100, 9000), (0, 4, 8), (1, 23990, 10)]
    data = struct.pack(">I", 3) + b"".join(struct.pack(">BII", *r) for r in ranges)
    tms = bench.call(200, 5, data)
    assert kinds(tms)[-2:] == [(200, 4), (1, 7)]
    assert tms[-2].source_data == [t for t in first if (t.service, t.subtype) == (200, 4)][0].source_data
    chunks = [TensorChunk.unpack(t.source_data) for t in tms if (t.service, t.subtype) == (200, 3)]
    outputs = {0: (X * 2).tobytes(), 1: np.arange(3000, dtype="<i8").tobytes()}
    got = {}
    for c in chunks:
        assert c.data == outputs[c.index][c.offset:c.offset + len(c.data)]
        got.setdefault(c.index, []).append((c.offset, c.offset + len(c.data)))
    assert sum(b - a for spans in got.values() for a, b in spans) == 9000 + 8 + 10
    assert sorted(got[0]) == [(4, 12)]


@pytest.mark.parametrize("ranges, code, detail", [
    ([(2, 0, 1)], ErrorCode.BAD_ARGUMENT, 2), ([(0, 20, 5)], ErrorCode.BAD_ARGUMENT, 20),
    ([(1, 0xFFFFFFFF, 0xFFFFFFFF)], ErrorCode.BAD_ARGUMENT, 0xFFFFFFFF)])
def test_ranged_resend_out_of_range(bench, ranges, code, detail):
    """ICD-4-RESEND, ICD-7-OVERFLOW: a range past an output fails (at completion, where
    the result is looked up); nothing is sent."""
    bench.put_inputs(3)
    bench.call(200, 2, struct.pack(">I", 3))
    data = struct.pack(">I", 3) + b"".join(struct.pack(">BII", *r) for r in ranges)
    tms = bench.call(200, 5, data)
    assert kinds(tms) == [(1, 1), (1, 8)] and failure(tms[1]) == (code, detail)


def test_no_model(tmp_path):
    """ICD-4-PUT-INPUT: with no model, inputs are refused with NO_MODEL, and so is a run."""
    bench = Bench(tmp_path, served=False)
    (chunk,) = split_tensor(1, 0, X, 4000)
    assert failure(bench.call(200, 1, chunk.pack())[0])[0] == ErrorCode.NO_MODEL
    assert failure(bench.call(200, 2, struct.pack(">I", 1))[-1])[0] == ErrorCode.NO_MODEL


def test_incomplete_input(bench):
    chunk = split_tensor(3, 0, X, 10)[1]
    bench.call(200, 1, chunk.pack())
    assert failure(bench.call(200, 2, struct.pack(">I", 3))[-1]) == (ErrorCode.BAD_ARGUMENT, 0)


def test_uncorrectable_upset_fails_the_run(bench):
    bench.put_inputs(4)
    bench.backend.fail_next = UNCORRECTABLE
    tms = bench.call(200, 2, struct.pack(">I", 4))
    assert kinds(tms) == [(1, 1), (200, 4), (1, 8)]
    assert struct.unpack(">IHIIHI", tms[1].source_data)[1] == ErrorCode.UNCORRECTABLE_UPSET
    assert failure(tms[-1])[0] == ErrorCode.UNCORRECTABLE_UPSET
    assert bench.service.housekeeping()["inferences_failed"] == 1


def test_scrub_that_finds_lost_weights_fails_with_uncorrectable_upset(bench):
    def scrub():
        raise UNCORRECTABLE
    bench.backend.scrub = scrub
    tms = bench.call(8, 1, struct.pack(">H", Function.SCRUB_NOW))
    assert kinds(tms) == [(1, 1), (1, 8)]
    assert failure(tms[-1])[0] == ErrorCode.UNCORRECTABLE_UPSET


def test_alive_carries_icd_version(bench):
    """ICD-4-ALIVE: TM[17,2] data is icd_version 2."""
    (alive,) = [t for t in bench.call(17, 1) if t.service == 17]
    assert alive.source_data == bytes([2])


def test_housekeeping_structure_2(bench):
    """ICD-5-HK: structure 2 = structure 1's fields, icd_version u8, then 4 u32."""
    bench.backend.counters.update(checksum_mismatches=5, ops_reexecuted=4)
    (chunk,) = split_tensor(1, 0, np.zeros((3, 3), np.float32), 4000)
    bench.call(200, 1, chunk.pack())  # refused: wrong dims
    (hk,) = [t for t in bench.call(3, 27, b"\0\2") if t.service == 3]
    assert len(hk.source_data) == 2 + 4 * 16 + 2 + 1 + 4 * 4
    values = struct.unpack(">H16I2BB4I", hk.source_data)
    fields = dict(zip(("structure",) + HK_U32_FIELDS + HK_U8_FIELDS + ("icd_version",) + HK2_U32_FIELDS,
                      values))
    assert fields["structure"] == 2 and fields["icd_version"] == 2
    assert (fields["checksum_mismatches"], fields["ops_reexecuted"]) == (5, 4)
    assert (fields["slot_integrity_failures"], fields["inputs_refused"]) == (0, 1)
    assert fields["tc_rejected"] == 1 and fields["frames_ok"] == 2


def test_housekeeping_structure_1(bench):
    """ICD-5-HK: structure 1 unchanged from v1."""
    bench.call(17, 1)
    bench.service.receive(b"\x05\x01\x02\0")  # one bad frame
    bench.backend.counters.update(scrub_passes=3, upsets_corrected=2)
    (hk,) = [t for t in bench.call(3, 27, b"\0\1") if t.service == 3]
    assert hk.subtype == 25 and len(hk.source_data) == 2 + 4 * 16 + 2
    values = struct.unpack(">H16I2B", hk.source_data)
    fields = dict(zip(("structure",) + HK_U32_FIELDS + HK_U8_FIELDS, values))
    assert fields["structure"] == 1
    assert fields["frames_ok"] == 2 and fields["frames_bad_format"] == 1
    assert fields["scrub_passes"] == 3 and fields["upsets_corrected"] == 2
    assert fields["active_slot"] == NO_ACTIVE_SLOT and fields["protection_mode"] == 0
    assert HK_U32_FIELDS[:3] == ("uptime_s", "inferences_ok", "inferences_failed")
    assert HK_U32_FIELDS[-1] == "duplicates_ignored"


def test_functions(bench):
    """ICD-6-FUNCTIONS: SET_PROTECTION, SCRUB_NOW, RESET_COUNTERS."""
    bench.call(8, 1, struct.pack(">HB", Function.SET_PROTECTION, 3))
    assert bench.backend.mode == "tmr"
    assert bench.service.housekeeping()["protection_mode"] == 3
    assert kinds(bench.call(8, 1, struct.pack(">H", Function.SCRUB_NOW))) == [(1, 1), (1, 7)]
    assert bench.backend.scrubs == 1
    bench.call(8, 1, struct.pack(">H", Function.RESET_COUNTERS))
    hk = bench.service.housekeeping()
    assert hk["scrub_passes"] == 0 and hk["frames_ok"] == 0 and hk["uptime_s"] == 0


def test_other_apid_ignored(bench):
    tc = TcPacket(17, 1, apid=0x0A1, seq_count=1, source_id=0x42)
    assert bench.send(tc) == []
    assert bench.service.housekeeping()["tc_rejected"] == 1


def test_backend_events_are_sent(bench):
    bench.backend.events.append((EventId.VOTE_DISAGREEMENT, 7, 2))
    (event,) = [parse_tm(p) for p in FrameDecoder().feed(bench.service.poll())]
    assert (event.service, event.subtype) == (5, Severity.LOW)
    assert struct.unpack(">HII", event.source_data) == (EventId.VOTE_DISAGREEMENT, 7, 2)


# -- authentication -----------------------------------------------------------------

def test_authenticated_tc_accepted(tmp_path):
    bench = Bench(tmp_path, key=KEY)
    assert kinds(bench.call(17, 1)) == [(1, 1), (17, 2), (1, 7)]


def test_icd_authenticated_vector(tmp_path):
    bench = Bench(tmp_path, key=KEY)
    vector = bytes.fromhex("18a0c002001e2f1101004200000000000000079ad337b3e10c997994061c15fe1a380fcdfe")
    tms = [parse_tm(p) for p in FrameDecoder().feed(bench.service.receive(frame(vector)))]
    assert kinds(tms) == [(1, 1), (17, 2), (1, 7)]


def expect_auth_failure(bench, tms, code):
    assert kinds(tms) == [(1, 2), (5, Severity.MEDIUM)]
    assert failure(tms[0])[0] == code
    assert struct.unpack(">HII", tms[1].source_data) == (EventId.AUTH_FAILURE, 0x42, code)
    assert bench.service.housekeeping()["auth_rejected"] >= 1


def test_wrong_mac(tmp_path):
    bench = Bench(tmp_path, key=KEY)
    raw = bytearray(sign(bench.tc(17, 1), bytes(32), 500))
    tms = [parse_tm(p) for p in FrameDecoder().feed(bench.service.receive(frame(bytes(raw))))]
    expect_auth_failure(bench, tms, ErrorCode.AUTH_FAILED)


def test_missing_trailer(tmp_path):
    bench = Bench(tmp_path, key=KEY)
    expect_auth_failure(bench, bench.send(bench.tc(17, 1), sign_it=False), ErrorCode.AUTH_FAILED)


def test_replay(tmp_path):
    bench = Bench(tmp_path, key=KEY)
    raw = sign(bench.tc(17, 1), KEY, 500)
    bench.service.receive(frame(raw))
    other = sign(bench.tc(17, 1), KEY, 500)  # another TC with the same counter
    tms = [parse_tm(p) for p in FrameDecoder().feed(bench.service.receive(frame(other)))]
    expect_auth_failure(bench, tms, ErrorCode.REPLAY)
    older = sign(bench.tc(17, 1), KEY, 499)
    tms = [parse_tm(p) for p in FrameDecoder().feed(bench.service.receive(frame(older)))]
    expect_auth_failure(bench, tms, ErrorCode.REPLAY)


def test_identical_retry_is_a_duplicate_and_skips_the_counter(tmp_path):
    """ICD-7-DUPLICATE, ICD-7-AUTH: the identical signed packet again gets its reports
    again without executing and without a REPLAY failure, even after later TCs moved
    the counter on; the same TC signed with a new counter is a new TC."""
    bench = Bench(tmp_path, key=KEY)
    bench.put_inputs(2)
    run = bench.raw(bench.tc(200, 2, struct.pack(">I", 2)))
    bench.send_raw(run)
    bench.call(17, 1)
    assert kinds(bench.send_raw(run)) == [(1, 1), (200, 4), (1, 7)]
    assert bench.backend.runs == 1
    assert bench.service.housekeeping()["duplicates_ignored"] == 1
    resigned = bench.send(bench.tc(200, 2, struct.pack(">I", 2), seq=bench.seq - 1))
    assert failure(resigned[-1]) == (ErrorCode.UNKNOWN_REQUEST, 2)  # executed: inputs were consumed


# -- model slots ----------------------------------------------------------------------

def upload(bench, slot, model, sha=None, chunk=1000):
    sha = sha or hashlib.sha256(model).digest()
    assert kinds(bench.call(201, 1, struct.pack(">BI", slot, len(model)) + sha))[-1] == (1, 7)
    for offset in range(0, len(model), chunk):
        assert kinds(bench.call(201, 2, struct.pack(">BI", slot, offset) + model[offset:offset + chunk]))[-1] == (1, 7)
    return bench.call(201, 3, bytes([slot]))


def slot_status(bench, slot):
    (tm,) = [t for t in bench.call(201, 4, bytes([slot])) if t.service == 201]
    assert tm.subtype == 5
    number, state, size = struct.unpack_from(">BBI", tm.source_data)
    return number, SlotState(state), size, tm.source_data[6:]


def test_upload_commit_activate(bench, tmp_path):
    """ICD-4-SLOTS: begin, chunks, commit, status, ACTIVATE_SLOT."""
    model = bytes(range(256)) * 20
    assert slot_status(bench, 1) == (1, SlotState.EMPTY, 0, bytes(32))
    assert kinds(upload(bench, 1, model))[-1] == (1, 7)
    assert slot_status(bench, 1) == (1, SlotState.COMMITTED, len(model), hashlib.sha256(model).digest())
    assert (tmp_path / "slots" / "slot1.onnx").read_bytes() == model
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 1))
    assert kinds(tms) == [(1, 1), (1, 7), (5, Severity.INFO)]
    assert struct.unpack(">HII", tms[-1].source_data) == (EventId.MODEL_ACTIVATED, 1, 0)
    assert bench.backend.loaded == [model]
    assert slot_status(bench, 1)[1] == SlotState.ACTIVE
    assert bench.service.housekeeping()["active_slot"] == 1
    assert ModelSlots(tmp_path / "slots").active == 1  # survives a restart


def test_upload_never_touches_active_slot(bench):
    """ICD-7-UPLOAD-ATOMIC: an upload never touches the active slot."""
    upload(bench, 0, b"first model")
    bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 0))
    tms = bench.call(201, 1, struct.pack(">BI", 0, 5) + bytes(32))
    assert failure(tms[-1]) == (ErrorCode.SLOT_BUSY, 0)
    assert bench.slots.model_bytes(0) == b"first model"


def test_commit_hash_mismatch(bench, tmp_path):
    tms = upload(bench, 2, b"model", sha=bytes(32))
    assert kinds(tms) == [(1, 1), (1, 8), (5, Severity.MEDIUM)]
    assert failure(tms[1])[0] == ErrorCode.HASH_MISMATCH
    assert struct.unpack(">HII", tms[-1].source_data) == (EventId.MODEL_REJECTED, 2, ErrorCode.HASH_MISMATCH)
    assert slot_status(bench, 2)[1] == SlotState.EMPTY
    assert list((tmp_path / "slots").iterdir()) == []


def test_commit_rejects_invalid_model(bench):
    tms = upload(bench, 2, b"bad model")
    assert failure(tms[1])[0] == ErrorCode.MODEL_INVALID
    assert slot_status(bench, 2)[1] == SlotState.EMPTY


def test_activate_needs_committed_slot(bench):
    tms = bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 3))
    assert failure(tms[1]) == (ErrorCode.BAD_ARGUMENT, 3)


def test_upload_resumes(bench):
    model = bytes(range(200)) * 30
    sha = hashlib.sha256(model).digest()
    bench.call(201, 1, struct.pack(">BI", 1, len(model)) + sha)
    bench.call(201, 2, struct.pack(">BI", 1, 0) + model[:2500])
    bench.call(201, 2, struct.pack(">BI", 1, 4000) + model[4000:])  # a gap 2500..4000
    assert slot_status(bench, 1)[1:3] == (SlotState.RECEIVING, 2500)
    bench.call(201, 1, struct.pack(">BI", 1, len(model)) + sha)  # same model: keeps progress
    assert slot_status(bench, 1)[2] == 2500
    assert failure(bench.call(201, 3, b"\1")[1]) == (ErrorCode.BAD_ARGUMENT, 2500)
    bench.call(201, 2, struct.pack(">BI", 1, 2500) + model[2500:4000])
    assert kinds(bench.call(201, 3, b"\1")) == [(1, 1), (1, 7)]


def test_chunk_past_end(bench):
    bench.call(201, 1, struct.pack(">BI", 1, 10) + bytes(32))
    tms = bench.call(201, 2, struct.pack(">BI", 1, 8) + b"abc")
    assert failure(tms[-1]) == (ErrorCode.BAD_ARGUMENT, 8)


def test_power_cut_leaves_the_previous_model_serving(bench, tmp_path):
    """ICD-7-UPLOAD-ATOMIC: a power cut leaves the previous model serving."""
    upload(bench, 0, b"model zero")
    bench.call(8, 1, struct.pack(">HB", Function.ACTIVATE_SLOT, 0))
    folder = tmp_path / "slots"
    # Cut during an upload to slot 1 and during a rewrite of the active-slot record.
    bench.call(201, 1, struct.pack(">BI", 1, 100) + bytes(32))
    bench.call(201, 2, struct.pack(">BI", 1, 0) + b"half")
    (folder / "active.tmp").write_text("1\n")
    restarted = ModelSlots(folder)
    assert restarted.active == 0 and restarted.model_bytes(0) == b"model zero"
    assert restarted.status(1).state == SlotState.EMPTY
    assert sorted(p.name for p in folder.iterdir()) == ["active", "slot0.onnx", "slot0.sha256"]


def test_chunk_parser_sizes_cannot_overflow():
    """ICD-7-OVERFLOW: dims whose product overflows 64 bits do not wrap to a small size
    in the chunk parser either (the controller parses TM[200,3] with it)."""
    from runtime.link.tensors import ChunkError
    with pytest.raises(ChunkError, match="make"):
        TensorChunk.unpack(struct.pack(">IBBB3III", 1, 0, 1, 3, *(0xFFFFFFFF,) * 3, 0, 0))

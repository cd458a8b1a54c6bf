"""The controller against PayloadService (fake backend) over a pty pair, replies
dropped on purpose: retries with the same sequence count, resends of lost outputs."""
import hashlib
import struct

import numpy as np
import pytest

from runtime.link.auth import Authenticator, CounterStore
from runtime.link.catalogue import ErrorCode, SlotState
from runtime.link.controller import CommandFailed, Controller, LinkTimeout
from runtime.link.packets import parse_tm
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport

from .fakes import FakeBackend, Responder

KEY = bytes(range(32))
X = np.arange(6, dtype=np.float32).reshape(2, 3)


@pytest.fixture
def make_link(tmp_path):
    opened = []

    def make(drop=lambda n: False, key=None, timeout=0.3, retries=3):
        master, path = open_pty_pair()
        backend = FakeBackend()
        auth = Authenticator(key, CounterStore()) if key else None  # a fresh runtime: 0
        service = PayloadService(backend, ModelSlots(tmp_path / f"slots{len(opened)}"), authenticator=auth)
        responder = Responder(FdStream(master), service, drop)
        responder.start()
        link = PacketLink(open_transport(path), parse_tm)
        opened.append((responder, link))
        return Controller(link, key=key, timeout=timeout, retries=retries), service, backend
    yield make
    for responder, link in opened:
        responder.stop.set()
        responder.join()
        link.close()
        responder.stream.close()


def test_ping_and_hk(make_link):
    controller, _, _ = make_link()
    assert controller.ping() >= 0
    hk = controller.hk()
    assert hk["frames_ok"] == 2 and hk["duplicates_ignored"] == 0
    assert controller.sent_attempts == 2


@pytest.mark.parametrize("dropped, attempts", [(0, 1), (1, 2), (2, 2)])  # acceptance, alive, completion
def test_ping_retried_after_a_dropped_reply(make_link, dropped, attempts):
    controller, service, _ = make_link(drop=lambda n: n == dropped)
    controller.ping()
    assert controller.sent_attempts == attempts  # a lost acceptance report needs no retry
    # The retry kept its sequence count, so the runtime saw a duplicate, not a new TC.
    assert controller.hk()["duplicates_ignored"] == attempts - 1


def test_hk_retried_when_the_tc_reply_is_lost_twice(make_link):
    controller, service, _ = make_link(drop=lambda n: n < 6)  # both attempts' replies lost
    hk = controller.hk()
    assert controller.sent_attempts == 3
    # The duplicates re-sent the report of the one execution.
    assert hk["duplicates_ignored"] == 0 and hk["frames_ok"] == 1
    assert service.housekeeping()["duplicates_ignored"] == 2


def test_timeout_after_all_retries(make_link):
    controller, _, _ = make_link(drop=lambda n: True, timeout=0.1, retries=2)
    with pytest.raises(LinkTimeout, match=r"ARE_YOU_ALIVE \(TC\[17,1\]\) seq \d+: no completion from APID 0x0A0 "
                                          r"on the link after 3 attempts of 0.1 s"):
        controller.ping()
    assert controller.sent_attempts == 3


def test_authenticated_link_with_retry(make_link):
    controller, service, _ = make_link(drop=lambda n: n == 1, key=KEY)
    controller.ping()
    assert service.housekeeping()["auth_rejected"] == 0
    assert service.housekeeping()["duplicates_ignored"] == 1


def test_infer(make_link):
    controller, _, backend = make_link()
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[0], X * 2)
    np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
    assert result.resends == 0 and result.corrected_during_run == 1 and backend.runs == 1


def test_infer_recovers_lost_output_chunks(make_link):
    # Reply frames: 0-1 reports of the input chunk, 2 acceptance of the run, then output chunks.
    controller, _, backend = make_link(drop=lambda n: n in (3, 5))
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
    assert result.resends == 1 and backend.runs == 1


def test_infer_failure_raises(make_link):
    controller, _, _ = make_link()
    with pytest.raises(CommandFailed, match="SHAPE_MISMATCH") as info:
        controller.infer([np.zeros((3, 2), np.float32)])
    assert info.value.code == ErrorCode.SHAPE_MISMATCH and info.value.stage == "acceptance"  # ICD-4-PUT-INPUT


def test_upload_activate_and_resume(make_link):
    controller, service, backend = make_link()
    model = bytes(range(256)) * 40  # three chunks
    status = controller.upload(1, model)
    assert status.state == SlotState.COMMITTED and status.sha256 == hashlib.sha256(model).digest()
    controller.activate(1)
    assert backend.loaded == [model] and controller.hk()["active_slot"] == 1
    # An interrupted upload: the runtime has the first 4000 bytes; resume sends the rest.
    other = bytes(reversed(model))
    service.slots.begin(2, len(other), hashlib.sha256(other).digest())
    service.slots.write(2, 0, other[:4000])
    before = controller.sent_attempts
    assert controller.upload(2, other).state == SlotState.COMMITTED
    assert controller.sent_attempts - before == 1 + 1 + 2 + 1 + 1  # status, begin, 2 chunks, commit, status


def test_set_protection_and_scrub(make_link):
    controller, _, backend = make_link()
    controller.set_protection("dwc")
    controller.scrub()
    assert backend.mode == "dwc" and backend.scrubs == 1
    assert controller.hk()["protection_mode"] == 2
    controller.set_protection("abft")
    assert backend.mode == "abft" and controller.hk()["protection_mode"] == 4


def test_controller_through_a_noisy_line(tmp_path):
    from fault_injection.line import LineImpairment, SerialLine, open_endpoint
    master, service_path = open_pty_pair()
    service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"))
    responder = Responder(FdStream(master), service)
    responder.start()
    runtime_end = open_transport(service_path)
    controller_end, controller_path = open_endpoint("pty", 115200)
    line = SerialLine(controller_end, runtime_end, LineImpairment(ber=1e-5, drop=2e-5, seed=1),
                      LineImpairment(ber=1e-5, drop=2e-5, seed=2)).start()
    link = PacketLink(open_transport(controller_path), parse_tm)
    try:
        controller = Controller(link, timeout=0.3, retries=8)
        for _ in range(10):
            controller.ping()
            result = controller.infer([X])
            np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
        assert controller.hk()["inferences_ok"] == 10
        counters = line.counters()
        assert sum(c["bits_flipped"] + c["bytes_dropped"] for c in counters.values()) > 0
    finally:
        link.close()
        line.stop()
        responder.stop.set()
        responder.join()
        controller_end.close()
        runtime_end.close()
        responder.stream.close()


def crc16_invisible_error(raw: bytes, at_bit: int) -> bytes:
    """`raw` with the bits of x^at_bit * g(x) flipped, g = x^16 + x^12 + x^5 + 1 the
    CRC-16/CCITT generator, bits counted from the last bit the CRC covers (bit 0 = least
    significant bit of the byte before the CRC). CRC is linear and g divides the error
    polynomial, so the packet's CRC-16 still checks: the error is invisible to it."""
    packet = bytearray(raw)
    covered = len(packet) - 2
    for power in (0, 5, 12, 16):
        bit = at_bit + power
        packet[covered - 1 - bit // 8] ^= 1 << (bit % 8)
    return bytes(packet)


def test_controller_catches_an_uplink_error_crc16_does_not_see(make_link):
    """ICD-4-CONTROLLER-CHECK, ICD-4-RESULT (issue 12): an uplink error that CRC-16 misses
    changes a staged input; the result's output CRC matches what the runtime computed,
    but input_crc32 differs from the inputs sent, so the controller does not accept it
    and runs the inputs again."""
    from runtime.link.packets import parse_tc
    controller, service, backend = make_link()
    handle, hit = service.handle, []

    def corrupt_first_put_input(tc):
        if (tc.service, tc.subtype) == (200, 1) and not hit:
            corrupted = parse_tc(crc16_invisible_error(tc.pack(), at_bit=3))  # CRC-16 still valid
            assert corrupted.app_data != tc.app_data
            hit.append(corrupted)
            tc = corrupted
        return handle(tc)
    service.handle = corrupt_first_put_input
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[0], X * 2)
    assert hit and result.input_reruns == 1 and backend.runs == 2


def test_uplink_error_that_corrupts_every_run_raises(make_link):
    """ICD-4-CONTROLLER-CHECK: a result whose input_crc32 never matches is never accepted."""
    from runtime.link.controller import InputCorrupted
    from runtime.link.packets import parse_tc
    controller, service, _ = make_link(retries=1)
    handle = service.handle
    service.handle = lambda tc: handle(parse_tc(crc16_invisible_error(tc.pack(), 3))
                                       if (tc.service, tc.subtype) == (200, 1) else tc)
    with pytest.raises(InputCorrupted, match="CRC-16 does not catch"):
        controller.infer([X])


def test_lost_output_chunks_are_recovered_by_their_byte_ranges(make_link):
    """ICD-4-RESEND: the controller asks TC[200,5] for the missing byte ranges only."""
    # replies: 0-1 input chunk reports, 2 run acceptance, 3 output 0, 4.. output 1's chunks
    controller, service, backend = make_link(drop=lambda n: n in (4, 6))
    asked = []
    handle = service.handle

    def spy(tc):
        if (tc.service, tc.subtype) == (200, 5):
            asked.append(tc.app_data)
        return handle(tc)
    service.handle = spy
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
    (data,) = asked
    ranges = [struct.unpack_from(">BII", data, at) for at in range(4, len(data), 9)]
    assert ranges and sum(r[2] for r in ranges) < X.nbytes * 2 + 3000 * 8  # not everything
    assert all(r[0] == 1 for r in ranges)


def test_lost_result_report_alone_is_asked_alone(make_link):
    """ICD-4-RESEND: with every output chunk received but TM[200,4] lost, the controller
    asks an empty range and gets TM[200,4] without the outputs again."""
    from runtime.link.tensors import max_chunk_data
    outputs = FakeBackend().outputs(X)
    n_chunks = sum(-(-o.nbytes // max_chunk_data(o.ndim, telemetry=True)) for o in outputs)
    # replies: 0-1 input chunk reports, 2 run acceptance, the output chunks, TM[200,4]
    controller, service, _ = make_link(drop=lambda n: n == 3 + n_chunks)
    asked = []
    handle = service.handle
    service.handle = lambda tc: (asked.append(tc.app_data) if (tc.service, tc.subtype) == (200, 5) else None,
                                 handle(tc))[1]
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[1], outputs[1])
    assert [a[4:] for a in asked] == [struct.pack(">BII", 0, 0, 0)]


@pytest.mark.parametrize("key", [None, KEY])
def test_lost_chunk_of_a_window_is_sent_again(make_link, key):
    """ICD-7-DUPLICATE, ICD-7-AUTH: a put-input chunk lost on the uplink inside a window
    is re-sent (re-signed with a fresh counter when authenticated, since later chunks
    moved the counter on) and the inference completes right."""
    controller, service, backend = make_link(key=key)
    big = np.arange(3000, dtype=np.float32).reshape(2, 1500)
    backend.input_specs = lambda: [((2, 1500), np.dtype(np.float32))]
    handle, seen = service.handle, []

    def lose_second_chunk(tc):
        if (tc.service, tc.subtype) == (200, 1):
            seen.append(tc)
            if len(seen) == 2:
                return []  # lost on the line
        return handle(tc)
    service.handle = lose_second_chunk
    result = controller.infer([big])
    np.testing.assert_array_equal(result.outputs[0], big * 2)
    assert len(seen) == 4 and service.housekeeping()["auth_rejected"] == 0  # 3 chunks + 1 re-sent

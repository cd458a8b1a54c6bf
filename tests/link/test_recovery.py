"""Controller recovery costs on a lossy line (issue 12, "Recovery costs"): a chunk lost
inside a window is re-sent as soon as a later chunk's report shows it lost, without a
timeout; `chunk_bytes` caps input chunks and re-sent output ranges."""
import struct

import numpy as np
import pytest

from runtime.link.controller import Controller
from runtime.link.transport import PacketLink

from .test_controller import make_link  # noqa: F401  (the fixture: controller, service, fake backend)

X = np.arange(6, dtype=np.float32).reshape(2, 3)


def count_timeouts(controller: Controller) -> list:
    """Wraps the controller's receive; the returned list grows by one per timeout."""
    timeouts, receive = [], controller.link.receive

    def counted(timeout):
        tm = receive(timeout)
        if tm is None:
            timeouts.append(timeout)
        return tm
    controller.link.receive = counted
    return timeouts


def lose_put_input(service, which: int) -> list:
    """The `which`-th TC[200,1] the runtime would receive is lost on the uplink."""
    handle, seen = service.handle, []

    def lossy(tc):
        if (tc.service, tc.subtype) == (200, 1):
            seen.append(tc)
            if len(seen) == which:
                return []
        return handle(tc)
    service.handle = lossy
    return seen


def test_a_chunk_lost_inside_a_window_is_sent_again_without_waiting_for_a_timeout(make_link):
    """ICD §7 (the runtime answers each TC; a retry is the identical packet): the reports
    of chunk 3 arrive while chunk 2 has none, so chunk 2 is re-sent at once."""
    controller, service, backend = make_link(timeout=2.0)
    controller.chunk_bytes = 4  # 24 input bytes: 6 chunks in one window
    timeouts = count_timeouts(controller)
    seen = lose_put_input(service, 2)
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[0], X * 2)
    assert timeouts == [] and len(seen) == 7 and backend.runs == 1
    assert controller.sent_attempts == 6 + 1 + 1  # 6 chunks, the lost one again, the run


def test_the_last_chunk_of_a_window_lost_needs_one_timeout(make_link):
    """ICD §7: nothing follows the last chunk to show it lost: one timeout, then the retry."""
    controller, service, _ = make_link(timeout=0.3)
    controller.chunk_bytes = 4
    timeouts = count_timeouts(controller)
    seen = lose_put_input(service, 6)
    np.testing.assert_array_equal(controller.infer([X]).outputs[0], X * 2)
    assert len(timeouts) == 1 and len(seen) == 7


def test_chunk_bytes_caps_input_chunks_and_re_sent_output_ranges(make_link):
    """ICD §4 TC[200,1] and TC[200,5] with ranges: inputs go in chunks of at most
    chunk_bytes data bytes, and the bytes of a lost output chunk are asked back in
    ranges of at most chunk_bytes, so each re-sent TM[200,3] is that small too."""
    # replies: 0-1 the input chunk's reports, 2 run acceptance, 3 output 0, 4.. output 1's chunks
    controller, service, backend = make_link(drop=lambda n: n == 5)
    controller.chunk_bytes = 1000
    asked, handle = [], service.handle

    def spy(tc):
        packets = handle(tc)
        if (tc.service, tc.subtype) == (200, 5):
            asked.append((tc.app_data, [p for p in packets if (p[7], p[8]) == (200, 3)]))
        return packets
    service.handle = spy
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
    ((data, chunks),) = asked
    ranges = [struct.unpack_from(">BII", data, at) for at in range(4, len(data), 9)]
    assert len(ranges) > 1 and all(r[0] == 1 and r[2] <= 1000 for r in ranges)
    assert len(chunks) == len(ranges)
    assert backend.runs == 1


def test_a_re_send_request_stays_within_chunk_bytes(make_link):
    """ICD §4 TC[200,5] with ranges: with chunk_bytes 100 a TC[200,5] carries at most 11
    ranges (99 bytes), so a lost 4043-byte output chunk (41 ranges of 100 bytes) comes
    back over 4 rounds, each asking only what is still missing."""
    controller, service, backend = make_link(drop=lambda n: n == 5)
    controller.chunk_bytes = 100
    asked, handle = [], service.handle

    def spy(tc):
        if (tc.service, tc.subtype) == (200, 5):
            asked.append(tc.app_data)
        return handle(tc)
    service.handle = spy
    result = controller.infer([X])
    np.testing.assert_array_equal(result.outputs[1], np.arange(3000))
    assert [(len(a) - 4) // 9 for a in asked] == [11, 11, 11, 8] and backend.runs == 1


def test_input_chunks_follow_chunk_bytes(make_link):
    """ICD §4 TC[200,1]: 24 input bytes with chunk_bytes 8 are three chunks."""
    controller, service, _ = make_link()
    controller.chunk_bytes = 8
    seen = lose_put_input(service, 0)  # loses nothing, counts
    controller.infer([X])
    assert len(seen) == 3


def test_chunk_bytes_below_one_is_refused():
    with pytest.raises(ValueError, match="chunk_bytes 0, expected >= 1"):
        Controller(PacketLink(None), chunk_bytes=0)


def test_upload_chunks_follow_chunk_bytes(make_link):
    """ICD-4-SLOTS: `chunk_bytes` caps the data of TC[201,2] too (radrt link upload --chunk-bytes)."""
    controller, service, _ = make_link()
    controller.chunk_bytes = 1000
    sizes = []
    handle = service.handle
    service.handle = lambda tc: (sizes.append(len(tc.app_data) - 5) if (tc.service, tc.subtype) == (201, 2)
                                 else None, handle(tc))[1]
    model = bytes(range(256)) * 10
    assert controller.upload(1, model).bytes == len(model)
    assert sizes == [1000, 1000, 560]

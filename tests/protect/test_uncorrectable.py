"""A detection that cannot be repaired raises in the call that saw it, and counts once.

Issue 9 §6: under dwc, two upsets in one block of both weight copies were
detected and yet that same run() returned a wrong output (the third replica
reads copy 0 and outvotes the good run); `uncorrectable` then grew on every
scrub pass over the same lost block.
"""
import pytest

from runtime import UncorrectableUpsetError
from runtime.errors import InvalidArgumentError

from .test_protection import golden, session, spoil_source, weight_site_offset


def hit(sess, copies_bits):
    """Flip `bit` of the first Conv's weight byte in each listed copy, and the model's own
    array of it (the last-resort source), so the block is lost."""
    for copy, bit in copies_bits:
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, bit)
    spoil_source(sess, offset)


def test_dwc_both_copies_hit_in_one_block_raises_in_that_run():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "dwc")
    hit(sess, [(0, 6), (1, 3)])  # the two replicas disagree; no copy verifies
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.run(None, feeds)
    h = sess.health()
    assert h["uncorrectable"] == 1 and h["upsets_detected"] == 2 and h["upsets_corrected"] == 0
    assert [e for e in sess.drain_events() if e[0] == "UPSET_UNCORRECTABLE"] == [("UPSET_UNCORRECTABLE", 0x10, 0)]
    for _ in range(5):  # every later call raises; the lost block is not counted again
        with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
            sess.run(None, feeds)
        with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
            sess.scrub()
    assert sess.health() == dict(h, scrub_passes=5)  # the passes happen, skipping the lost block
    assert not [e for e in sess.drain_events() if e[0] == "UPSET_UNCORRECTABLE"]


def test_tmr_vote_of_three_hit_copies_that_does_not_verify_raises_in_that_run():
    # Copies 0 and 1 share a flipped bit, copy 2 has another: the run disagrees,
    # the scrub's vote keeps the shared flip and does not verify. Re-running on
    # those weights would agree on a wrong output.
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    hit(sess, [(0, 6), (1, 6), (2, 3)])
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.run(None, feeds)
    assert sess.health()["uncorrectable"] == 1
    with pytest.raises(UncorrectableUpsetError):
        sess.run(None, feeds)
    assert sess.health()["uncorrectable"] == 1


@pytest.mark.parametrize("mode", ["scrub", "dwc", "tmr"])
def test_background_scrub_passes_count_a_lost_block_once_and_the_next_run_raises(mode):
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", mode)
    hit(sess, [(c, 2) for c in range(3 if mode == "tmr" else 2)])
    for _ in range(50):  # what the background scrubber does on each wake-up
        sess._scrub_step(1 << 20)
    h = sess.health()
    assert h["uncorrectable"] == 1 and h["scrub_passes"] == 50
    assert h["upsets_detected"] == (3 if mode == "tmr" else 2)
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.run(None, feeds)
    assert sess.health()["uncorrectable"] == 1


def test_distinct_lost_blocks_are_each_counted():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "dwc", scrub_block_size=64)
    weights = sess._engine.weights
    for copy in (0, 1):
        for block in (1, 4, 7):
            sess.inject(f"weights/copy{copy}", block * 64 + 9, copy)
    for block in (1, 4, 7):
        spoil_source(sess, block * 64 + 9)
    with pytest.raises(UncorrectableUpsetError, match=r"weights block 1 .*\(3 blocks lost\)"):
        sess.scrub()
    assert weights.lost_blocks == {1, 4, 7}
    assert sess.health()["uncorrectable"] == 3
    with pytest.raises(UncorrectableUpsetError):
        sess.scrub()
    assert sess.health()["uncorrectable"] == 3


def test_set_protection_refuses_to_switch_from_lost_weights():
    sess = session("small_cnn", "dwc")
    hit(sess, [(0, 6), (1, 3)])
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.set_protection("tmr")
    assert sess.protection == "dwc" and sess.health()["uncorrectable"] == 1


def test_a_scrubber_that_dies_is_raised_by_the_next_run(monkeypatch):
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "tmr", scrub_interval_s=0.001)

    def broken(max_bytes):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(sess, "_scrub_step", broken)
    sess._scrubber.join(timeout=30)  # the thread ends on its first wake-up
    assert isinstance(sess._scrubber.failure, ZeroDivisionError)
    with pytest.raises(RuntimeError, match="background scrubber stopped on ZeroDivisionError: boom"):
        sess.run(None, feeds)
    with pytest.raises(RuntimeError, match="background scrubber stopped"):
        sess.scrub()


def test_armed_upsets_are_never_dropped_silently():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    sess.inject("activations/r1", 0, 6, at_op=0)
    with pytest.raises(InvalidArgumentError, match=r"1 upset\(s\) armed with inject\(\) .* switching protection"):
        sess.set_protection("dwc")
    assert sess.protection == "tmr"
    assert sess.run(None, feeds)[0].tobytes() == want.tobytes()  # it lands, and is outvoted
    sess.set_protection("dwc")

"""Protection modes under injected single-event upsets (issue: protection).

Models: light SqueezeNet with re-drawn weights, and a small CNN built here
(Conv, Relu, MaxPool, Gemm, Softmax). Flips are drawn with a fixed seed over
every site kind the mode exposes.
"""
import threading

import numpy as np
import onnx
import pytest
from onnx import helper

import runtime.session
from runtime import InferenceSession, UncorrectableUpsetError
from runtime.errors import InvalidArgumentError
from runtime.feeds import random_feeds
from runtime.randomize import randomize_weights
from runtime.zoo import light_model_path

from ..helpers import make_model

RNG = np.random.default_rng(11)


def small_cnn() -> bytes:
    w1 = (RNG.standard_normal((8, 1, 3, 3)) * 0.5).astype(np.float32)
    w2 = (RNG.standard_normal((10, 8 * 4 * 4)) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"])]
    return make_model(nodes, [("x", [1, 1, 8, 8])], [("y", [1, 10])],
                      [("w1", w1), ("b1", RNG.standard_normal(8).astype(np.float32) * 0.1),
                       ("w2", w2), ("b2", RNG.standard_normal(10).astype(np.float32) * 0.1)])


_SQUEEZENET = None


def squeezenet() -> bytes:
    global _SQUEEZENET
    if _SQUEEZENET is None:
        _SQUEEZENET = randomize_weights(onnx.load(light_model_path("squeezenet")), seed=5).SerializeToString()
    return _SQUEEZENET


MODELS = {"small_cnn": small_cnn(), "squeezenet": None}


def model_bytes(name):
    return squeezenet() if name == "squeezenet" else MODELS[name]


def session(name, mode, **kw):
    kw.setdefault("scrub_interval_s", None)  # scrub on demand only, unless a test asks
    return InferenceSession(model_bytes(name), protection=mode, **kw)


def golden(name):
    sess = session(name, "none")
    feeds = random_feeds(sess, seed=1)
    (y,) = sess.run(None, feeds)
    return feeds, y


def draw_flips(sess, n, seed, kinds=("weights", "activations", "compute", "input")):
    """n random single-bit flips: (site name, byte offset, bit, at_op)."""
    rng = np.random.default_rng(seed)
    sites = [s for s in sess.fault_sites() if s.kind in kinds]
    nsteps = len(sess.compiled.plan.steps)
    flips = []
    for i in range(n):
        kind = kinds[i % len(kinds)]  # every kind gets its share
        pool = [s for s in sites if s.kind == kind]
        site = pool[rng.integers(len(pool))]
        at_op = int(rng.integers(nsteps)) if kind == "activations" else None
        if kind == "activations" and i % 7 == 0:
            at_op = nsteps - 1  # the last op too
        flips.append((site.name, int(rng.integers(site.nbytes)), int(rng.integers(8)), at_op))
    return flips


@pytest.mark.parametrize("name, n", [("small_cnn", 240), ("squeezenet", 160)])
def test_tmr_corrects_every_single_flip_bit_for_bit(name, n):
    feeds, want = golden(name)
    sess = session(name, "tmr")
    for site, offset, bit, at_op in draw_flips(sess, n, seed=3):
        sess.inject(site, offset, bit, at_op)
        (got,) = sess.run(None, feeds)
        assert got.tobytes() == want.tobytes(), (site, offset, bit, at_op)
    h = sess.health()
    assert h["uncorrectable"] == 0
    assert h["upsets_corrected"] > 0 and h["vote_disagreements"] > 0


@pytest.mark.parametrize("vote_points", ["outputs"])
def test_tmr_voting_only_at_outputs_also_corrects(vote_points):
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr", vote_points=vote_points)
    for site, offset, bit, at_op in draw_flips(sess, 80, seed=4):
        sess.inject(site, offset, bit, at_op)
        assert sess.run(None, feeds)[0].tobytes() == want.tobytes()


@pytest.mark.parametrize("name", ["small_cnn", "squeezenet"])
def test_dwc_corrects_every_single_flip(name):
    feeds, want = golden(name)
    sess = session(name, "dwc")
    for site, offset, bit, at_op in draw_flips(sess, 80, seed=5):
        sess.inject(site, offset, bit, at_op)
        assert sess.run(None, feeds)[0].tobytes() == want.tobytes(), (site, offset, bit, at_op)
    assert sess.health()["reexecutions"] > 0


@pytest.mark.parametrize("name", ["small_cnn", "squeezenet"])
def test_unprotected_runs_are_changed_by_some_flips(name):
    feeds, want = golden(name)
    sess = session(name, "none")
    changed = 0
    for site, offset, bit, at_op in draw_flips(sess, 120, seed=6):
        sess.inject(site, offset, bit, at_op)
        changed += sess.run(None, feeds)[0].tobytes() != want.tobytes()
        if site.startswith("weights"):
            sess.inject(site, offset, bit)  # undo: weights stay flipped otherwise
    assert changed > 0


def weight_site_offset(sess, copy):
    """A byte of the first Conv's weights (read by every inference), as a site offset."""
    plan = sess.compiled.plan
    name, placement, _ = plan.weights[0]
    return f"weights/copy{copy}", placement.offset + 5


def spoil_source(sess, offset):
    """Flip a bit of the last-resort source (the plan's array holding weights byte `offset`)
    so that a block hit in every copy is lost, not rebuilt from the model."""
    plan = sess.compiled.plan
    for k, (name, p, arr) in enumerate(plan.weights):
        if p.offset <= offset < p.offset + p.nbytes:
            arr = np.array(arr, copy=True)
            arr.reshape(-1).view(np.uint8)[offset - p.offset] ^= 0x10
            plan.weights[k] = (name, p, arr)
            return
    raise AssertionError(f"no weight array holds byte {offset}")


def test_scrub_repairs_the_working_copy_and_the_mirror():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "scrub")
    for copy in (0, 1):
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, 6)
        if copy == 0:
            assert sess.run(None, feeds)[0].tobytes() != want.tobytes()  # scrub mode computes once
        assert sess.scrub() == 1
        assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    h = sess.health()
    assert h["upsets_detected"] == 2 and h["upsets_corrected"] == 2 and h["scrub_passes"] == 2


def test_scrub_with_both_copies_hit_in_one_block_rebuilds_it_from_the_model():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "scrub")
    for copy in (0, 1):
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, copy)
    assert sess.scrub() == 2  # both block-copies rewritten from the plan's verified arrays
    assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    assert sess.health()["uncorrectable"] == 0


def test_scrub_with_both_copies_and_the_model_source_hit_is_reported_uncorrectable():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "scrub")
    for copy in (0, 1):
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, copy)
    spoil_source(sess, offset)
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.scrub()  # the call that found the loss raises
    assert sess.health()["uncorrectable"] == 1
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.run(None, feeds)
    assert any(e[0] == "UPSET_UNCORRECTABLE" for e in sess.drain_events())


@pytest.mark.parametrize("bits", [(3, 3), (3, 5)], ids=["same-bit", "other-bit"])
def test_tmr_two_weight_copies_hit_in_one_block_are_corrected_from_the_third(bits):
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    for copy, bit in zip((0, 1), bits):
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, bit)
    (got,) = sess.run(None, feeds)
    assert got.tobytes() == want.tobytes()
    h = sess.health()
    assert h["upsets_corrected"] >= 2 and h["reexecutions"] == 1 and h["uncorrectable"] == 0


def test_tmr_all_three_copies_hit_the_same_bit_is_uncorrectable_not_hidden():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    for copy in (0, 1, 2):
        site, offset = weight_site_offset(sess, copy)
        sess.inject(site, offset, 2)
    spoil_source(sess, offset)
    with pytest.raises(UncorrectableUpsetError, match="weights block 0"):
        sess.scrub()
    with pytest.raises(UncorrectableUpsetError):
        sess.run(None, feeds)
    assert sess.health()["uncorrectable"] == 1


def test_background_scrubber_repairs_while_runs_go_on():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr", scrub_interval_s=0.001, scrub_chunk_bytes=1 << 20)
    errors = []

    def runner():
        for _ in range(300):
            got = sess.run(None, feeds)[0]
            if got.tobytes() != want.tobytes():
                errors.append(got)

    t = threading.Thread(target=runner)
    t.start()
    site, offset = weight_site_offset(sess, 1)
    for i in range(40):
        sess.inject(site, offset, i % 8)
    t.join()
    for _ in range(2000):  # bounded: wait for the scrubber to finish a pass
        if sess.scrub() == 0:
            break
    assert not errors
    assert sess.health()["scrub_passes"] > 0
    assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    sess.close()


def test_clean_tmr_runs_never_disagree():
    feeds, want = golden("squeezenet")
    sess = session("squeezenet", "tmr")
    for _ in range(5):
        assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    assert sess.health() == dict.fromkeys(runtime.session.HEALTH_COUNTERS, 0)


def test_protection_switches_between_runs():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "none")
    for mode in ("tmr", "scrub", "dwc", "none", "tmr"):
        sess.set_protection(mode)
        assert sess.protection == mode
        assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
        assert {s.kind for s in sess.fault_sites()} >= {"weights", "activations", "compute", "input"}


@pytest.mark.parametrize("mode", ["scrub", "tmr", "dwc", "abft"])
def test_a_weight_upset_taken_under_none_does_not_survive_a_switch_to_protection(mode):
    """An upset of the single weight copy of `none` is repaired (from the model's arrays,
    checked against the load-time baseline) when protection is switched on; the new
    copies were made from the upset copy, with a baseline taken from it, so the protected
    mode returned the wrong answer silently (found by a fresh tester)."""
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "none")
    site = next(s for s in sess.fault_sites() if s.name == "weights/copy0")
    rng = np.random.default_rng(5)
    while True:   # a weight bit whose flip changes the output
        offset, bit = int(rng.integers(site.nbytes)), int(rng.integers(8))
        sess.inject(site.name, offset, bit)
        if sess.run(None, feeds)[0].tobytes() != want.tobytes():
            break
        sess.inject(site.name, offset, bit)   # undo
    sess.set_protection(mode)
    assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    assert sess.health()["upsets_corrected"] >= 1 and sess.health()["uncorrectable"] == 0


def test_fault_sites_describe_the_replicas():
    sess = session("small_cnn", "tmr")
    sites = sess.fault_sites()
    names = {s.name for s in sites}
    assert len(names) == len(sites)
    assert {"weights/copy0", "weights/copy1", "weights/copy2", "activations/r2", "input/r1"} <= names
    compute = [s for s in sites if s.kind == "compute"]
    assert {s.replica for s in compute} == {0, 1, 2}
    assert all(s.op_index is not None for s in compute)
    assert len(compute) == 3 * len(sess.compiled.plan.steps)


@pytest.mark.parametrize("args, message", [
    (("nope", 0, 0), "fault site 'nope' does not exist"),
    (("weights/copy0", -1, 0), r"byte_offset must be from 0 to \d+, got -1"),
    (("weights/copy0", 0, 8), "bit must be from 0 to 7, got 8"),
    (("weights/copy0", 0, 0, 2), "takes no at_op"),
    (("activations/r0", 0, 0), "at_op is required: an op index from 0 to"),
    (("compute/op0/r0", 0, 0, 1), "at_op must be None or 0, got 1"),
    (("input/r0", 0, 0, -2), r"at_op must be from -1 to \d+, got -2"),
])
def test_bad_injections_are_named(args, message):
    sess = session("small_cnn", "tmr")
    with pytest.raises(InvalidArgumentError, match=message):
        sess.inject(*args)


def test_stuck_at_models():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    sess.inject("compute/op0/r1", 0, 7, model="stuck1")
    assert sess.run(None, feeds)[0].tobytes() == want.tobytes()
    with pytest.raises(InvalidArgumentError, match="model 'flop' is not one of flip, stuck0, stuck1"):
        sess.inject("compute/op0/r1", 0, 7, model="flop")


def test_scrub_in_none_mode_is_a_clear_error():
    with pytest.raises(InvalidArgumentError, match="protection 'none'"):
        session("small_cnn", "none").scrub()


def test_unknown_protection_and_vote_points():
    with pytest.raises(InvalidArgumentError, match="protection 'quad' is not one of"):
        session("small_cnn", "quad")
    with pytest.raises(InvalidArgumentError, match="vote_points 'sometimes' is not one of"):
        session("small_cnn", "tmr", vote_points="sometimes")


def test_paused_run_resumes_to_the_same_bits_and_applies_upsets_at_their_moment():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    nsteps = len(sess.compiled.plan.steps)
    for k in range(nsteps + 1):
        with sess.paused_run(feeds) as p:
            p.advance_to(k)
            if k:
                sess.inject("activations/r1", 0, 3, at_op=k - 1)
            if k < nsteps:
                sess.inject(f"compute/op{k}/r2", 0, 3)
            assert p.finish()[0].tobytes() == want.tobytes()
    with sess.paused_run(feeds) as p:
        p.advance_to(2)
        sess.inject("compute/op1/r0", 0, 3)
        with pytest.raises(InvalidArgumentError, match="cannot land in a run already at op 2"):
            p.finish()

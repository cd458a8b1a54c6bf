"""The memory map and the masked causes it decides without running: every decided fault
is run the naive way (fresh session, from op 0, classified) and must come out `masked`;
>= 300 faults per cause on digits and on a light model (squeezenet)."""
import random

import numpy as np
import pytest
from onnx import helper

from fault_injection.campaign import prepare, run_campaign
from fault_injection.executor import run_fault_here
from fault_injection.memory_map import MemoryMap, packing_padding
from fault_injection.outcome import NEVER_READ, OVERWRITTEN, PADDING, Golden, Tolerance
from fault_injection.plan import Fault
from fault_injection.store import CampaignStore
from runtime import InferenceSession
from tests.helpers import make_model

PER_CAUSE = 300


def naive(model_bytes, protect, feeds, fault, golden, tolerance):
    """The reference: a fresh session, the upset armed, the whole run from op 0."""
    sess = InferenceSession(model_bytes, protection=protect, scrub_interval_s=None)
    try:
        with sess.paused_run(feeds) as paused:
            paused.advance_to(0)
            return run_fault_here(sess, paused, fault, golden, tolerance)
    finally:
        sess.close()


def padding_faults(mm, kind, site, n, rng):
    pads = [b for s, e in mm.padding_spans(kind) for b in range(s, e)]
    assert all(mm.is_padding(kind, b) for b in pads)
    faults = []
    for i in range(n):
        at_op = rng.randrange(mm.n_ops) if kind == "activations" else None
        faults.append(Fault(i, site, kind, rng.choice(pads), rng.randrange(8), "flip", None, 0, at_op))
    return faults


def dead_activation_faults(mm, site, n, rng):
    faults = []
    while len(faults) < n:
        byte, at_op = rng.randrange(mm.region_bytes["arena"]), rng.randrange(mm.n_ops)
        if not mm.is_padding("activations", byte) and not mm.live(byte, at_op):
            faults.append(Fault(len(faults), site, "activations", byte, rng.randrange(8), "flip", None, 0, at_op))
    return faults


def check_against_naive(model, protect, faults, expected_cause):
    setup, sess, (golden,), _, _ = prepare(model, ["weights"], "flip", protect, seed=0, faults=1, input_count=1)
    mm = MemoryMap.of_session(sess, setup.model_bytes)
    sess.close()
    for f in faults:
        assert mm.static_cause(f) == expected_cause, f
        v = naive(setup.model_bytes, protect, setup.inputs[0], f, golden, setup.tolerance)
        assert v.outcome == "masked", (f, v)


@pytest.mark.parametrize("model", ["digits", "squeezenet"])
def test_overwritten_activation_upsets_are_masked_in_a_full_run(model):
    setup, sess, *_ = prepare(model, ["weights"], "flip", "none", seed=0, faults=1)
    mm = MemoryMap(sess.compiled.plan, "none")
    sess.close()
    faults = dead_activation_faults(mm, "activations/r0", PER_CAUSE, random.Random(5))
    check_against_naive(model, "none", faults, OVERWRITTEN)


def test_overwritten_holds_under_tmr_too():
    setup, sess, *_ = prepare("digits", ["weights"], "flip", "tmr", seed=0, faults=1)
    mm = MemoryMap(sess.compiled.plan, "tmr")
    sess.close()
    faults = dead_activation_faults(mm, "activations/r1", 100, random.Random(6))
    faults = [Fault(f.fault_id, f.site, f.kind, f.byte_offset, f.bit, f.model, None, 1, f.at_op) for f in faults]
    check_against_naive("digits", "tmr", faults, OVERWRITTEN)


def test_digits_weights_padding_is_packing_padding_and_masked():
    setup, sess, *_ = prepare("digits", ["weights"], "flip", "none", seed=0, faults=1)
    plan = sess.compiled.plan
    mm = MemoryMap.of_session(sess, setup.model_bytes)
    sess.close()
    # Independently: the fc layer packs B (256 x 10) into panels of the GEMM's width NR (48
    # floats with AVX-512, 16 with AVX, 12 with NEON, 8 portable): 256 x width floats of
    # which 256 x 10 are weights; the others are zeros whatever the weights.
    fc = next(a for k, p, a in plan.weights if k == ("constant", 3, 0))
    width = fc.size // 256
    assert fc.size % 256 == 0 and width in {-(-10 // nr) * nr for nr in (48, 16, 12, 8)}
    assert int((fc == 0).sum()) == 256 * (width - 10)
    alignment = plan.region_bytes["weights"] - sum(p.nbytes for _, p, _ in plan.weights)
    assert mm.padding_bytes("weights") >= 256 * (width - 10) * 4 + alignment
    faults = padding_faults(mm, "weights", "weights/copy0", PER_CAUSE, random.Random(7))
    check_against_naive("digits", "none", faults, PADDING)


def test_squeezenet_alignment_padding_is_masked():
    setup, sess, *_ = prepare("squeezenet", ["weights"], "flip", "none", seed=0, faults=1)
    mm = MemoryMap(sess.compiled.plan, "none")
    sess.close()
    rng = random.Random(8)
    faults = (padding_faults(mm, "weights", "weights/copy0", PER_CAUSE // 2, rng)
              + padding_faults(mm, "activations", "activations/r0", PER_CAUSE // 2, rng))
    check_against_naive("squeezenet", "none", faults, PADDING)


@pytest.mark.parametrize("protect", ["none", "scrub", "dwc", "tmr"])
def test_unread_input_is_never_read_and_masked(protect):
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
                       [("x", (1, 8)), ("unused", (1, 8))], [("y", (1, 8))])
    sess = InferenceSession(model, protection=protect, scrub_interval_s=None)
    feeds = {"x": np.linspace(-1, 1, 8, dtype=np.float32)[None], "unused": np.ones((1, 8), np.float32)}
    golden = Golden(sess.run(None, feeds))
    mm = MemoryMap(sess.compiled.plan, protect)
    inputs = [s for s in sess.fault_sites() if s.kind == "input"]
    sess.close()
    unused = next(p for name, p, _ in sess.compiled.plan.inputs if name == "unused")
    rng = random.Random(9)
    for i in range(PER_CAUSE):
        site = rng.choice(inputs)
        f = Fault(i, site.name, "input", unused.offset + rng.randrange(unused.nbytes), rng.randrange(8), "flip",
                  None, site.replica)
        assert mm.static_cause(f) == NEVER_READ
        assert naive(model, protect, feeds, f, golden, Tolerance()).outcome == "masked"
    read = Fault(0, "input/r0", "input", 3, 6, "flip", None, 0)
    assert mm.static_cause(read) is None


def test_abft_and_weights_under_protection_are_left_to_the_run():
    """abft seals the input copy and every mode but none checks weight blocks: not decided."""
    setup, sess, *_ = prepare("digits", ["weights"], "flip", "abft", seed=0, faults=1)
    mm = MemoryMap.of_session(sess, setup.model_bytes)
    sess.close()
    pad = mm.padding_spans("weights")[0][0]
    assert mm.static_cause(Fault(0, "weights/copy0", "weights", pad, 0, "flip", None, 0)) is None
    assert mm.static_cause(Fault(0, "input/r0", "input", 0, 0, "flip", None, 0)) is None


def test_packing_padding_is_empty_without_packed_constants():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [("x", (1, 8))], [("y", (1, 8))])
    sess = InferenceSession(model, scrub_interval_s=None)
    assert packing_padding(model, sess.compiled.plan) == []
    sess.close()


def test_campaign_records_static_causes_and_matches_a_campaign_run_in_full(tmp_path, monkeypatch):
    run_campaign("digits", ["weights", "activations"], "flip", "none", seed=2, db=tmp_path / "a.db", faults=300)
    with CampaignStore.open_existing(tmp_path / "a.db") as store:
        rows = {r["fault_id"]: r for r in store.rows()}
    causes = [r["cause"] for r in rows.values()]
    # (padding is 72% of digits' weights with AVX-512 panels, 28% with AVX2's)
    assert causes.count(PADDING) > 10 and causes.count(OVERWRITTEN) > 10
    # The same campaign with the map switched off runs every fault: same outcomes.
    monkeypatch.setattr("fault_injection.campaign.MemoryMap.static_cause", lambda self, f, reads=True: None)
    run_campaign("digits", ["weights", "activations"], "flip", "none", seed=2, db=tmp_path / "b.db", faults=300)
    with CampaignStore.open_existing(tmp_path / "b.db") as store:
        full = {r["fault_id"]: r["outcome"] for r in store.rows()}
    assert full == {i: r["outcome"] for i, r in rows.items()}

"""The `random` and `zero` fault models and the masked cause `unchanged` (issue 13 item 5).

The word a random/zero upset writes is read back from the site memory; campaigns go
through the CLI (fi run -> fi report -> fi replay); every `unchanged` record is
checked against the golden memory of a fresh session and against the naive run.
"""
import json
import re

import numpy as np
import pytest

from fault_injection.models import digits_model_path, load_heldout
from fault_injection.outcome import MASKED_CAUSES, UNCHANGED
from fault_injection.plan import _draw
from fault_injection.store import CampaignStore
from fault_injection.vocabulary import FaultModel
from runtime import InferenceSession
from runtime.errors import InvalidArgumentError

from .cli import radrt


def session(protect="none"):
    sess = InferenceSession(str(digits_model_path()), protection=protect, scrub_interval_s=None)
    sess.run(None, feeds(0))
    return sess


def feeds(i):
    images, _ = load_heldout()
    return {"input": images[i:i + 1]}


def test_random_and_zero_set_exactly_their_word():
    sess = session()
    n = next(s.nbytes for s in sess.fault_sites() if s.name == "weights/copy0")
    before = np.frombuffer(sess.read_site("weights/copy0", 0, n), np.uint8).copy()
    sess.inject("weights/copy0", 102, 5, model="random", value=0xA1B2C3D4)
    after = np.frombuffer(sess.read_site("weights/copy0", 0, n), np.uint8)
    expected = before.copy()
    expected[100:104] = [0xD4, 0xC3, 0xB2, 0xA1]  # little-endian word at 102 rounded down to 100
    assert np.array_equal(after, expected)
    sess.inject("weights/copy0", 203, 0, model="zero")
    expected[200:204] = 0
    assert np.array_equal(np.frombuffer(sess.read_site("weights/copy0", 0, n), np.uint8), expected)
    with pytest.raises(InvalidArgumentError, match="value 5 is only for model 'random'"):
        sess.inject("weights/copy0", 0, 0, model="zero", value=5)
    with pytest.raises(InvalidArgumentError, match="value must be"):
        sess.inject("weights/copy0", 0, 0, model="random", value=2 ** 32)


def test_random_on_an_activation_lands_after_its_op():
    sess = session()
    with sess.paused_run(feeds(1)) as paused:
        paused.advance_to(3)  # the arena after op 2
        golden = np.frombuffer(sess.read_site("activations/r0", 64, 8), np.uint8).copy()
        sess.inject("activations/r0", 65, 0, at_op=2, model="random", value=0x01020304)
        assert sess.read_site("activations/r0", 64, 8) == golden.tobytes()  # armed, not landed yet
        paused.finish()


def test_fault_model_vocabulary():
    assert FaultModel.parse("random").bits(6, 3) == [(b, i) for b in range(4, 8) for i in range(8)]
    assert str(FaultModel.parse("zero")) == "zero"
    with pytest.raises(InvalidArgumentError, match="expected flip, mbu:N, stuck0, stuck1, random, zero or accumulate:N"):
        FaultModel.parse("random:3")
    assert UNCHANGED in MASKED_CAUSES


@pytest.mark.parametrize("model", ["random", "zero"])
def test_word_fault_campaign_then_report_and_replay(tmp_path, model):
    code, out, err = radrt("fi", "run", "digits", "--fault-model", model, "--sites",
                           "weights,activations,compute,input", "--faults", "30", "--input-count", "4",
                           "--protect", "tmr", "--seed", "2", "--db", "w.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    with CampaignStore.open_existing(tmp_path / "w.db") as store:
        rows = list(store.rows())
    assert len(rows) == 30 and all(r["fault_model"] == model for r in rows)
    assert [r["value"] for r in rows] == [_draw(2, r["fault_id"], "value", 2 ** 32) if model == "random" else None
                                          for r in rows]
    code, out, err = radrt("fi", "report", "w.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    picks = {r["outcome"]: r for r in rows}  # one fault per outcome seen
    for r in picks.values():
        code, out, err = radrt("fi", "replay", "w.db", r["fault_id"], cwd=tmp_path)
        assert (code, err) == (0, ""), err
        assert re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups() == (r["outcome"],) * 2


@pytest.mark.parametrize("model", ["stuck0", "zero"])
def test_unchanged_faults_are_masked_by_golden_memory_and_by_the_naive_run(tmp_path, model):
    code, out, err = radrt("fi", "run", "digits", "--fault-model", model, "--sites", "weights,input,activations",
                           "--faults", "60", "--input-count", "3", "--seed", "4", "--db", "u.db", "--json",
                           cwd=tmp_path)
    assert (code, err) == (0, ""), err
    with CampaignStore.open_existing(tmp_path / "u.db") as store:
        rows = list(store.rows())
    fresh = session()
    weights = [r for r in rows if r["kind"] == "weights"]
    for r in weights:  # golden memory of a fresh session: is the bit / word already 0?
        if model == "stuck0":
            already = (fresh.read_site(r["site"], r["byte_offset"], 1)[0] >> r["bit"]) & 1 == 0
        else:
            already = fresh.read_site(r["site"], r["byte_offset"] - r["byte_offset"] % 4, 4) == bytes(4)
        assert (r["cause"] == UNCHANGED) == already, r
    unchanged = [r for r in rows if r["cause"] == UNCHANGED]
    assert any(r["kind"] == "weights" for r in unchanged) and any(r["kind"] != "weights" for r in unchanged)
    for r in unchanged:  # the naive run: fresh session, the upset, a full run: bit-identical output
        assert r["outcome"] == "masked"
        sess = session()
        golden = sess.run(None, feeds(r["input_index"]))[0]
        at_op = r["at_op"] if r["kind"] == "activations" else None
        sess.inject(r["site"], r["byte_offset"], r["bit"], at_op=at_op,
                    model="stuck0" if model == "stuck0" else "zero")
        assert sess.run(None, feeds(r["input_index"]))[0].tobytes() == golden.tobytes(), r
    r = unchanged[0]
    code, out, err = radrt("fi", "replay", "u.db", r["fault_id"], cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert "cause: unchanged" in out and "recorded: masked" in out
    code, out, err = radrt("fi", "report", "u.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    report = (tmp_path / "rep" / "report.md").read_text()  # no upset: out of the rates, counted
    counted = int(re.search(r"\| changed no bit \(excluded: no upset\) \| (\d+) \|  \| masked \|", report).group(1))
    assert 0 < counted <= len(unchanged)  # those on padding are counted with padding
    assert f"; {counted} changed no bit (cause `unchanged`: no upset), excluded from the rates" in report


# -- accumulate:N: upsets over one scrub interval, then a scrub pass ----------------------
def test_accumulate_plan_lists_its_upsets_in_time_order():
    from fault_injection.plan import Site, plan_faults
    sites = [Site("weights/copy0", "weights", 64), Site("input/r0", "input", 16, replica=0),
             Site("activations/r0", "activations", 32, replica=0),
             Site("compute/op1/r0", "compute", 8, op_index=1, replica=0)]
    faults = plan_faults(sites, 20, seed=9, model="accumulate:6", n_ops=3)
    assert faults[:7] == plan_faults(sites, 7, seed=9, model="accumulate:6", n_ops=3)
    time = {"weights": -2, "input": -1}
    for f in faults:
        upsets = json.loads(f.upsets)
        assert len(upsets) == 6
        times = [time.get(u["kind"], u["at_op"] if u["kind"] == "activations" else u["op_index"]) for u in upsets]
        assert times == sorted(times)
        first = {"site": f.site, "kind": f.kind, "byte_offset": f.byte_offset, "bit": f.bit,
                 "op_index": f.op_index, "replica": f.replica, "at_op": f.at_op}
        assert first in upsets
        assert [u.model for u in f.upset_faults()] == ["flip"] * 6
    assert len({u["kind"] for f in faults for u in json.loads(f.upsets)}) == 4


def test_accumulate_campaign_under_dwc_gives_due_and_replays_it(tmp_path):
    code, out, err = radrt("fi", "run", "digits", "--fault-model", "accumulate:8", "--sites",
                           "weights,activations,compute,input", "--protect", "dwc", "--faults", "30",
                           "--input-count", "5", "--seed", "0", "--db", "a.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    outcomes = json.loads(out)["outcomes"]
    assert outcomes["due"] >= 1 and outcomes["corrected"] >= 1, outcomes
    with CampaignStore.open_existing(tmp_path / "a.db") as store:
        rows = list(store.rows())
    assert all(len(json.loads(r["upsets"])) == 8 for r in rows)
    due = next(r for r in rows if r["outcome"] == "due")
    assert "UncorrectableUpsetError" in due["error"]
    corrected = next(r for r in rows if r["outcome"] == "corrected")
    code, out, err = radrt("fi", "report", "a.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    for r in (due, corrected):
        code, out, err = radrt("fi", "replay", "a.db", r["fault_id"], cwd=tmp_path)
        assert (code, err) == (0, ""), err
        assert re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups() == (r["outcome"],) * 2


def test_accumulate_weights_upsets_are_scrubbed_after_the_run():
    """The naive method for one accumulate fault under scrub: its weight flips, a full run,
    one scrub pass repairing one block-copy per distinct (copy, block) hit."""
    from fault_injection.executor import PausePoints, run_fault_here
    from fault_injection.outcome import Golden, Tolerance
    from fault_injection.plan import Fault
    sess = session("scrub")
    golden = Golden(sess.run(None, feeds(0)))
    upsets = [{"site": "weights/copy0", "kind": "weights", "byte_offset": b, "bit": 3, "op_index": None,
               "replica": 0, "at_op": None} for b in (10, 20, 5000)]
    fault = Fault(0, "weights/copy0", "weights", 10, 3, "accumulate:3", None, 0, None, 0, None,
                  json.dumps(upsets))
    before = sess.health()
    with sess.paused_run(feeds(0)) as paused:
        paused.advance_to(PausePoints(sess.compiled.plan)(fault))
        verdict = run_fault_here(sess, paused, fault, golden, Tolerance())
    after = sess.health()
    assert after["scrub_passes"] - before["scrub_passes"] == 1
    assert after["upsets_corrected"] - before["upsets_corrected"] == 2  # blocks 0 and 1 of copy 0
    assert verdict.outcome in ("sdc", "critical_sdc", "tolerable")  # the run read the flipped weights
    assert sess.run(None, feeds(0))[0].tobytes() == golden.outputs[0].tobytes()

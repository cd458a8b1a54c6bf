import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from fault_injection.outcome import Verdict
from fault_injection.plan import Site, plan_faults
from fault_injection.store import CampaignDatabaseError, CampaignMismatchError, CampaignStore, InjectionRecord
from fault_injection.vocabulary import OUTCOMES

SITES = [Site("conv1.w", "weights", 288, op_index=0), Site("fc.w", "weights", 1024, op_index=2),
         Site("arena", "activations", 512, replica=0)]
FAULTS = plan_faults(SITES, 400, seed=1, n_ops=3)
CAMPAIGN = dict(config={"model": "digits", "kinds": ["weights", "activations"], "fault_model": "flip",
                        "count": 400, "protection": "none"},
                model_sha256="a" * 64, golden_sha256="b" * 64, seed=1)


def open_store(path, **changes):
    return CampaignStore.open(path, **dict(CAMPAIGN, **changes), version="test")


def result(fault, outcome=None):
    outcome = outcome or list(OUTCOMES)[fault.fault_id % len(OUTCOMES)]
    return InjectionRecord(fault, Verdict(outcome, 0.5 if outcome == "sdc" else 0.0, fault.fault_id % 2 == 0),
                           duration_s=0.001, worker="w1", layer=layer_of(fault))


def layer_of(fault):
    """The layer an executor records: here the site's op, else the injection time point."""
    return fault.op_index if fault.op_index is not None else fault.at_op


def test_create_and_reopen(tmp_path):
    path = tmp_path / "c.db"
    with open_store(path) as store:
        assert store.info.config == CAMPAIGN["config"]
        assert (store.info.model_sha256, store.info.golden_sha256, store.info.seed) == ("a" * 64, "b" * 64, 1)
        assert store.info.code_version == "test" and store.info.created.endswith("+00:00")
        assert store.record_stream((result(f) for f in FAULTS[:50]), batch=16) == 50
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # The same campaign with its configuration keys in another order: resumes.
    reordered = dict(reversed(list(CAMPAIGN["config"].items())))
    with open_store(path, config=reordered) as store:
        assert store.count() == 50
        assert store.pending(range(60)) == list(range(50, 60))
        assert store.info.code_version == "test"


@pytest.mark.parametrize("change, match", [
    (dict(model_sha256="c" * 64), r"holds a campaign on model sha256 aaaaaaaaaaaaaaaa\.\.\., not cccccccccccccccc"),
    (dict(config={"model": "digits", "kinds": ["weights"]}),
     r"holds another campaign configuration: count: 400 recorded, absent now; fault_model: \"flip\" recorded, "
     r"absent now; kinds: \[\"weights\", \"activations\"\] recorded, \[\"weights\"\] now; protection: "),
    (dict(seed=2), r"holds a campaign with seed 1, not 2"),
    (dict(golden_sha256="d" * 64), r"the golden output changed"),
])
def test_another_campaign_is_refused_and_nothing_touched(tmp_path, change, match):
    path = tmp_path / "c.db"
    with open_store(path) as store:
        store.record(result(f) for f in FAULTS[:10])
        before = list(store.rows()), store.info
    with pytest.raises(CampaignMismatchError, match=match):
        open_store(path, **change)
    with CampaignStore.open_existing(path) as store:
        assert (list(store.rows()), store.info) == before


def test_a_fault_cannot_be_recorded_twice(tmp_path):
    with open_store(tmp_path / "c.db") as store:
        store.record(result(f) for f in FAULTS[:5])
        with pytest.raises(ValueError, match=r"fault 3 is already recorded; nothing of this batch \(3 records\)"):
            store.record(result(f) for f in FAULTS[5:7] + [FAULTS[3]])
        assert store.count() == 5 and store.pending(range(8)) == [5, 6, 7]


def test_a_bad_record_rolls_back_its_batch(tmp_path):
    with open_store(tmp_path / "c.db") as store:
        with pytest.raises(ValueError, match="fault 2: outcome 'oops' is not one of"):
            store.record([result(FAULTS[0]), result(FAULTS[1]), result(FAULTS[2], "oops")])
        assert store.count() == 0
        with pytest.raises(ValueError, match="batch must be >= 1"):
            store.record_stream([], batch=0)


def test_rows_round_trip(tmp_path):
    f = FAULTS[7]
    with open_store(tmp_path / "c.db") as store:
        store.record([InjectionRecord(f, Verdict("critical_sdc", float("inf"), True, None), 0.25, "w2", 2),
                      InjectionRecord(FAULTS[8], Verdict.crash("exit -11"))])
        first, second = store.rows()
    assert first == dict(fault_id=7, site=f.site, kind=f.kind, op_index=f.op_index, replica=f.replica,
                         at_op=f.at_op, byte_offset=f.byte_offset, bit=f.bit, fault_model="flip",
                         outcome="critical_sdc", max_abs_error=float("inf"), top1_changed=1, duration_s=0.25,
                         worker="w2", error=None, layer=2, cause=None, input_index=f.input_index, value=None,
                         golden_class=None, faulty_class=None, iou=None, upsets=None)
    assert (second["outcome"], second["error"], second["top1_changed"], second["max_abs_error"]) == \
        ("crash", "exit -11", None, None)


def test_summaries(tmp_path):
    with open_store(tmp_path / "c.db") as store:
        store.record_stream(result(f) for f in FAULTS)
        counts = store.outcome_counts()
        assert set(counts) == set(OUTCOMES) and sum(counts.values()) == 400
        expected_per_outcome = {o: sum(1 for f in FAULTS if list(OUTCOMES)[f.fault_id % 8] == o) for o in OUTCOMES}
        assert counts == expected_per_outcome
        by_kind = store.counts_by("kind")
        assert set(by_kind) == {"weights", "activations"}
        assert sum(by_kind["activations"].values()) == sum(f.kind == "activations" for f in FAULTS)
        by_layer = store.counts_by("layer")
        # The layer column the executor recorded (layer_of here).
        assert set(by_layer) <= {0, 1, 2}
        assert sum(by_layer[2].values()) == sum(layer_of(f) == 2 for f in FAULTS)
        by_bit = store.counts_by("bit")
        assert set(by_bit) <= set(range(32))
        assert sum(by_bit[31].values()) == sum(f.byte_offset % 4 == 3 and f.bit == 7 for f in FAULTS)
        assert set(store.counts_by("bit", word_bytes=1)) == set(range(8))
        assert list(store.counts_by("fault_model")) == ["flip"]
        with pytest.raises(ValueError, match="group 'colour' is not one of"):
            store.counts_by("colour")


def test_open_existing_rejects_what_is_not_a_campaign(tmp_path):
    with pytest.raises(CampaignDatabaseError, match="does not exist"):
        CampaignStore.open_existing(tmp_path / "none.db")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(str(other))
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(CampaignMismatchError, match="is not a radrt campaign database"):
        CampaignStore.open_existing(other)
    with pytest.raises(CampaignMismatchError, match="is not a radrt campaign database"):
        open_store(other)


BATCH = 7
# Enough faults that the writer is still writing when it is killed.
MANY_FAULTS = plan_faults(SITES, 20000, seed=1, n_ops=3)


def _writer(path, started):
    """Record every fault, batch after batch, until killed."""
    store = open_store(path)
    started.set()
    store.record_stream((result(f) for f in MANY_FAULTS), batch=BATCH)
    store.close()


def test_a_killed_writer_loses_nothing_committed_and_resumes_without_duplicates(tmp_path):
    path = tmp_path / "c.db"
    open_store(path).close()
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    proc = ctx.Process(target=_writer, args=(path, started))
    proc.start()
    assert started.wait(30)
    with CampaignStore.open_existing(path) as watcher:
        deadline = time.monotonic() + 30
        while watcher.count() < 3 * BATCH and time.monotonic() < deadline:
            time.sleep(0.0005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL

    with open_store(path) as store:
        assert store.integrity_ok()
        done = store.count()
        # Killed mid-stream; whole batches only, in order: the one in flight left nothing.
        assert 3 * BATCH <= done < len(MANY_FAULTS)
        assert done % BATCH == 0
        recorded = [r["fault_id"] for r in store.rows()]
        assert recorded == list(range(done))
        todo = store.pending(f.fault_id for f in MANY_FAULTS)
        assert todo == list(range(done, len(MANY_FAULTS)))
        store.record_stream(result(MANY_FAULTS[i]) for i in todo)
        assert store.pending(range(len(MANY_FAULTS))) == []
        assert [r["fault_id"] for r in store.rows()] == list(range(len(MANY_FAULTS)))
        assert store.integrity_ok()

"""PausedRun.snapshot()/restore(): one paused prefix serves many runs, each as if fresh.

After an upset run and a restore, the next run from the same pause point must give the
fresh run's outputs, health counters and events, bit for bit, in every protection mode.
"""
import numpy as np
import pytest

from runtime.errors import InvalidArgumentError

from .test_protection import golden, session


@pytest.mark.parametrize("mode", ["none", "dwc", "tmr", "abft"])
def test_restore_gives_back_the_paused_state_after_an_upset_run(mode):
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", mode)
    n = len(sess.compiled.plan.steps)
    k = n // 2
    with sess.paused_run(feeds) as p:
        p.advance_to(k)
        health0, state = sess.health(), p.snapshot()
        regions0 = [r.regions[name].bytes.copy() for r in sess._engine.replicas
                    for name in ("arena", "input", "output")]
        for bit in range(3):  # three upset runs from the same prefix
            sess.inject(f"compute/op{k}/r0", 0, 7 - bit)
            sess.inject("activations/r0", 64, bit, at_op=k)
            p.finish()
            p.restore(state)
            assert p.at == k and sess.health() == health0
            regions = [r.regions[name].bytes for r in sess._engine.replicas for name in ("arena", "input", "output")]
            assert all(np.array_equal(a, b) for a, b in zip(regions0, regions))
        sess.drain_events()
        assert p.finish()[0].tobytes() == want.tobytes()
    assert sess.health() == health0 and sess.drain_events() == []


def test_advance_to_applies_the_upsets_armed_for_its_ops():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "none")
    out0 = sess.compiled.plan.steps[0].outs[0]
    arena = sess._engine.replicas[0].regions[out0.region].bytes
    with sess.paused_run(feeds) as p:
        p.advance_to(1)
        clean = arena[out0.offset:out0.offset + 4].copy()
    with sess.paused_run(feeds) as p:
        sess.inject("compute/op0/r0", 2, 5)
        p.advance_to(1)
        got = arena[out0.offset:out0.offset + 4].copy()
        p.finish()
    clean[2] ^= 1 << 5  # the flip, and nothing else
    assert got.tobytes() == clean.tobytes()


def test_snapshot_refuses_armed_upsets_and_restore_a_foreign_state():
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "none")
    with sess.paused_run(feeds) as p:
        sess.inject("activations/r0", 0, 1, at_op=2)
        with pytest.raises(InvalidArgumentError, match="1 upset.*snapshot"):
            p.snapshot()
        p.finish()
        with pytest.raises(InvalidArgumentError, match="expected a PausedState"):
            p.restore("state")
    with pytest.raises(InvalidArgumentError, match="snapshot: the paused run is not open"):
        p.snapshot()


def test_step_is_advance_to_the_next_op():
    feeds, want = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    n = len(sess.compiled.plan.steps)
    with sess.paused_run(feeds) as p:
        sess.inject("compute/op1/r2", 0, 3)
        for k in range(n):
            p.step()
            assert p.at == k + 1
        with pytest.raises(InvalidArgumentError, match=f"step: the run is at its end \\(op {n}\\)"):
            p.step()
        assert p.finish()[0].tobytes() == want.tobytes()  # the upset was voted out
    assert sess.health()["vote_disagreements"] == 1


def test_restore_of_the_written_ranges_only():
    """Ops [k, n) write only their outputs and scratch: putting back those ranges (and
    the upset byte) restores every region as a full restore would; a region name that a
    run does not write is refused."""
    feeds, _ = golden("small_cnn")
    sess = session("small_cnn", "tmr")
    plan = sess.compiled.plan
    k = len(plan.steps) // 2
    written = {}
    for step in plan.steps[k:]:
        for p in [q for q in step.outs if q is not None] + ([step.scratch] if step.scratch else []):
            written.setdefault(p.region, []).append((p.offset, p.offset + p.nbytes))
    written.setdefault("arena", []).append((64, 65))
    with sess.paused_run(feeds) as p:
        p.advance_to(k)
        state = p.snapshot()
        saved = [r.regions[name].bytes.copy() for r in sess._engine.replicas for name in ("arena", "input", "output")]
        sess.inject("activations/r1", 64, 2, at_op=k)
        p.finish()
        p.restore(state, written)
        now = [r.regions[name].bytes for r in sess._engine.replicas for name in ("arena", "input", "output")]
        assert all(np.array_equal(a, b) for a, b in zip(saved, now))
        with pytest.raises(InvalidArgumentError, match="region 'weights' is not one a run writes"):
            p.restore(state, {"weights": [(0, 1)]})

"""The executor against the naive method, fault by fault: outcome AND masked cause equal.

The naive method (`executor.naive_verdict`) runs every fault in a fresh session from
op 0 to the end and finds the convergence point by comparing every live tensor of
every replica with a fault-free run in lockstep; the executor restores a snapshot at
the pause point, tracks only the bytes that differ and stops at convergence. Both
must give the same Verdict (outcome, error, top-1 change, cause) for every fault.
"""
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from fault_injection.campaign import prepare
from fault_injection.executor import Executor, PausePoints, golden_weights, naive_verdict
from fault_injection.models import load_heldout
from fault_injection.outcome import LATENT, NEVER_READ, PADDING, Golden, Verdict, cause_kind
from fault_injection.plan import Fault
from runtime.errors import InvalidArgumentError

KINDS = ["weights", "activations", "compute", "input"]


def executor_verdicts(setup, sess, feeds, goldens, faults, workers=2):
    ex = Executor(sess, feeds, goldens, setup.tolerance, workers, setup.timeout_s, make_session=setup.session,
                  run_s=setup.run_s)
    records = list(ex.run(faults))
    assert sorted(r.fault.fault_id for r in records) == [f.fault_id for f in faults]  # none lost, none twice
    return {r.fault.fault_id: r.verdict for r in records}


def naive_verdicts(setup, feeds, goldens, faults):
    reference = setup.session()
    return {f.fault_id: naive_verdict(setup.session, feeds[f.input_index], f, goldens[f.input_index],
                                      setup.tolerance, reference) for f in faults}


def padding_weight_fault(sess, fault_id):
    """A weights flip in a byte no tensor of the plan holds (alignment padding)."""
    plan = sess.compiled.plan
    held = np.zeros(plan.region_bytes["weights"], bool)
    for _, p, _ in plan.weights:
        held[p.offset:p.offset + p.nbytes] = True
    return Fault(fault_id, "weights/copy0", "weights", int(np.flatnonzero(~held)[0]), 3, "flip")


@pytest.mark.parametrize("protect", ["none", "tmr"])
def test_digits_600_faults_over_two_inputs_equal_the_naive_method(protect):
    setup, sess, (golden,), faults, _ = prepare("digits", KINDS, "flip", protect, seed=11, faults=600, input_count=1)
    images, _ = load_heldout()
    name = sess.get_inputs()[0].name
    feeds = [setup.inputs[0], {name: images[1:2].copy()}]
    goldens = [golden, Golden(setup.session().run(None, feeds[1]))]
    faults = [replace(f, input_index=f.fault_id % 2) for f in faults]
    faults.append(padding_weight_fault(sess, len(faults)))
    fast = executor_verdicts(setup, sess, feeds, goldens, faults)
    naive = naive_verdicts(setup, feeds, goldens, faults)
    assert fast == naive
    causes = Counter(cause_kind(v.cause) for v in naive.values() if v.outcome == "masked")
    assert causes["converged"] > 0 and causes[NEVER_READ] > 0
    assert None not in causes  # every masked outcome carries its cause
    assert fast[len(faults) - 1].cause == NEVER_READ
    if protect == "none":  # weights read and masked stay wrong in memory: nothing scrubs them
        assert causes[LATENT] > 0
        latent = [f for f in faults if fast[f.fault_id].cause == LATENT]
        assert all(f.kind == "weights" for f in latent)
    else:  # every upset that reached a vote is corrected
        assert Counter(v.outcome for v in fast.values())["corrected"] > 0
        assert not any(v.outcome in ("sdc", "critical_sdc", "tolerable") for v in fast.values())


def test_convergence_point_by_hand_on_digits():
    """digits is Conv, Conv, MaxPool, Gemm, each reading only the previous op's output. A
    low-bit upset of op 0's output (after op 0) is live until op 1 reads it; the run has
    converged at boundary j + 1 for the first op j >= 1 whose output is bit-exact again."""
    setup, sess, (golden,), _, _ = prepare("digits", ["activations"], "flip", "none", seed=1, faults=1, input_count=1)
    plan = sess.compiled.plan
    assert [s.node.op_type for s in plan.steps] == ["Conv", "Conv", "MaxPool", "Gemm"]
    out0 = plan.steps[0].outs[0]
    faults = [Fault(i, "activations/r0", "activations", out0.offset + 4 * (i // 3), i % 3, "flip", replica=0,
                    at_op=0) for i in range(120)]

    def op_outputs(fault):
        s = setup.session()
        arena = s._engine.replicas[0].regions
        outs = []
        with s.paused_run(setup.inputs[0]) as p:
            if fault is not None:
                s.inject(fault.site, fault.byte_offset, fault.bit, at_op=0)
            for step in plan.steps:
                p.advance_to(step.index + 1)
                o = step.outs[0]
                outs.append(arena[o.region].bytes[o.offset:o.offset + o.nbytes].copy())
        return outs

    clean = op_outputs(None)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], faults, workers=1)
    seen = Counter()
    for f in faults:
        outs = op_outputs(f)
        exact = [j for j in (1, 2, 3) if np.array_equal(outs[j], clean[j])]
        if exact:
            assert fast[f.fault_id].outcome == "masked"
            assert fast[f.fault_id].cause == f"converged at op {exact[0] + 1}"
            seen[exact[0] + 1] += 1
        else:
            assert fast[f.fault_id].outcome != "masked"
    assert seen[2] > 0 and seen[3] > 0


def test_squeezenet_sample_equals_the_naive_method():
    setup, sess, (golden,), faults, _ = prepare("squeezenet", KINDS, "flip", "none", seed=5, faults=24, input_count=1)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], faults)
    assert fast == naive_verdicts(setup, [setup.inputs[0]], [golden], faults)


def test_squeezenet_tmr_sample_equals_the_naive_method():
    """Under tmr a disagreeing vote no longer sends the run to its end: it is tracked until it
    converges, then the engine's finish() counts and scrubs (re-executing when a weight copy
    was repaired) on the golden outputs; the verdicts stay the naive ones."""
    setup, sess, (golden,), faults, _ = prepare("squeezenet", KINDS, "flip", "tmr", seed=5, faults=24, input_count=1)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], faults)
    assert fast == naive_verdicts(setup, [setup.inputs[0]], [golden], faults)
    assert Counter(v.outcome for v in fast.values())["corrected"] > 0


@pytest.mark.parametrize("protect", ["dwc", "scrub", "abft"])
def test_digits_other_modes_equal_the_naive_method(protect):
    """dwc and scrub run compute faults as the activations faults they equal (no check between
    ops); abft runs them as they are."""
    setup, sess, (golden,), faults, _ = prepare("digits", KINDS, "flip", protect, seed=12, faults=200, input_count=1)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], faults, workers=1)
    assert fast == naive_verdicts(setup, [setup.inputs[0]], [golden], faults)


def test_a_corrected_tmr_upset_stops_where_the_replicas_converged():
    """A compute upset under tmr is outvoted by its op's vote: the run stops at the next
    boundary (the replicas equal the golden run again) and is still `corrected`, with the
    counters a full run records."""
    from fault_injection.executor import _Worker
    setup, sess, (golden,), faults, _ = prepare("digits", ["compute"], "flip", "tmr", seed=3, faults=20, input_count=1)
    points = PausePoints(sess.compiled.plan)
    worker = _Worker(setup.session, sess, [setup.inputs[0]], [golden], setup.tolerance, points.static_cause, points)
    fast = {}
    try:
        for f in faults:
            fast[f.fault_id] = worker.run(f)
            assert fast[f.fault_id].outcome == "corrected", f
            assert worker.convergence.stop == f.op_index + 1, f
    finally:
        worker._close()
    assert fast == naive_verdicts(setup, [setup.inputs[0]], [golden], faults)


def test_latent_weight_is_undone_between_faults():
    """Two runs of the same latent weights fault in one worker: the second sees the golden
    weights again (the first was undone), so both are the same masked latent verdict,
    and the worker's weights equal the plan's afterwards."""
    setup, sess, (golden,), faults, _ = prepare("digits", ["weights"], "flip", "none", seed=2, faults=200, input_count=1)
    points = PausePoints(sess.compiled.plan)
    naive = naive_verdicts(setup, [setup.inputs[0]], [golden], faults)
    latent = next(f for f in faults if naive[f.fault_id].cause == LATENT and not points.never_read(f))
    again = replace(latent, fault_id=latent.fault_id + 1000)
    from fault_injection.executor import run_in_process
    verdicts = list(run_in_process(sess, [setup.inputs[0]], [golden], setup.tolerance, [latent, again], setup.session))
    assert verdicts == [naive[latent.fault_id]] * 2
    assert np.array_equal(sess._engine.weights.copies[0].bytes, golden_weights(sess.compiled.plan))


def test_a_static_cause_is_recorded_without_running(monkeypatch):
    """The executor asks `static_cause` first: a fault it names is `masked` with that cause
    and never runs; the others run (here through a stand-in that marks them)."""
    from fault_injection import executor
    setup, sess, (golden,), faults, _ = prepare("digits", ["weights", "compute", "input"], "flip", "none", seed=4,
                                               faults=6, input_count=1)  # (activations: see the next test)
    ran = Verdict("sdc", error="ran")
    monkeypatch.setattr(executor, "run_fault_here", lambda *args, **kwargs: ran)
    ex = Executor(sess, [setup.inputs[0]], [golden], setup.tolerance, 1, setup.timeout_s,
                  static_cause=lambda f: PADDING if f.fault_id % 2 else None)
    verdicts = {r.fault.fault_id: r.verdict for r in ex.run(faults)}
    assert verdicts == {i: Verdict("masked", 0.0, False, None, PADDING, golden.top1, golden.top1) if i % 2 else ran for i in range(6)}


def test_an_upset_in_bytes_no_live_tensor_holds_is_decided_without_running(monkeypatch):
    """An activations upset in arena bytes that no tensor live after it holds is never read:
    the worker records what the run would (masked, converged at its pause point) without
    running it, and the naive method agrees."""
    from fault_injection import executor
    setup, sess, (golden,), faults, _ = prepare("digits", ["activations"], "flip", "none", seed=4, faults=60,
                                               input_count=1)
    live, _ = executor.plan_tables(sess)
    dead = [f for f in faults if not live.live_overlaps(f.at_op + 1, "arena", f.byte_offset, f.byte_offset + 1)]
    assert dead and len(dead) < len(faults)
    naive = naive_verdicts(setup, [setup.inputs[0]], [golden], dead)
    ran = Verdict("sdc", error="ran")
    monkeypatch.setattr(executor, "run_fault_here", lambda *args, **kwargs: ran)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], dead, workers=1)
    assert fast == naive
    assert all(v.cause == f"converged at op {f.at_op + 1}" for f, v in zip(dead, map(fast.get, (f.fault_id for f in dead))))


def test_a_run_that_raises_is_a_crash_and_the_worker_rebuilds_its_session(monkeypatch):
    """A run that fails (here: the injection raises for fault 2) is `crash` with the error's
    text; the worker then rebuilds its session and every other fault gets the naive verdict."""
    from fault_injection import executor
    setup, sess, (golden,), faults, _ = prepare("digits", KINDS, "flip", "tmr", seed=8, faults=40, input_count=1)
    real = executor.inject_fault

    def failing(s, fault, paused_at):
        if fault.fault_id == 2:
            raise RuntimeError("injector failed")
        real(s, fault, paused_at)

    monkeypatch.setattr(executor, "inject_fault", failing)
    fast = executor_verdicts(setup, sess, [setup.inputs[0]], [golden], faults, workers=1)
    monkeypatch.setattr(executor, "inject_fault", real)
    assert fast.pop(2) == Verdict.crash("RuntimeError: injector failed")
    naive = naive_verdicts(setup, [setup.inputs[0]], [golden], faults)
    del naive[2]
    assert fast == naive


def test_bad_arguments_are_refused():
    setup, sess, (golden,), faults, _ = prepare("digits", ["weights"], "flip", "none", seed=2, faults=2, input_count=1)
    with pytest.raises(InvalidArgumentError, match="workers 0"):
        Executor(sess, [setup.inputs[0]], [golden], setup.tolerance, 0)
    with pytest.raises(InvalidArgumentError, match="one golden per input"):
        Executor(sess, [setup.inputs[0], setup.inputs[0]], [golden], setup.tolerance, 1)
    with pytest.raises(InvalidArgumentError, match="input_index 3 is not one of the campaign's 1 inputs"):
        list(Executor(sess, [setup.inputs[0]], [golden], setup.tolerance, 1).run([replace(faults[0], input_index=3)]))

"""Fault-injection throughput per worker, and the executor's equality with the naive method.

    .venv/bin/python benchmarks/fi_throughput.py [--rounds 3] [--equal N] [--out benchmarks/fi_throughput.md]

For digits, squeezenet and resnet50 (light models, runtime.zoo) in protection none and
tmr, one seeded fault list (single-bit flips over weights, activations, compute and
input sites; the site mix is printed) is executed, round after round, by:

- tool: fault_injection.executor.Executor with 1 worker process (fork, golden record,
  snapshot restore, early convergence, IPC and watchdog included);
- plain loop: in this process, per fault, a paused run from op 0, inject, full run,
  classify, undo the weight bytes (the 11,684/s loop of issue 13);
- fork per fault: the former executor (one forked child per fault from the paused
  prefix, the verdict through a pipe);
- full run: 1 / the median latency of fault-free sess.run().

The methods are interleaved within each round (the machine is shared: a load change
hits all of them); the record gives each method's median rate over rounds and the
ratios. Then `--equal N` faults per model and mode are run by the tool and by
executor.naive_verdict (fresh session per fault, full run, lockstep golden
comparison) and compared verdict by verdict (outcome and masked cause). With
`--naive-fork` each naive verdict runs in a forked child of one session built by the
campaign setup and never run: the child's session is byte for byte a fresh one, without
loading and compiling the model per fault (resnet50: ~10-20 s each on these machines).
"""
import argparse
import datetime
import os
import pickle
import sys
import time
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.record import cpu_model  # noqa: E402
from fault_injection.campaign import prepare  # noqa: E402
from fault_injection.executor import (Executor, PausePoints, golden_weights, inject_fault,  # noqa: E402
                                      naive_verdict, run_fault_here)
from fault_injection.outcome import cause_kind, classify, health_delta  # noqa: E402
from runtime.errors import UncorrectableUpsetError  # noqa: E402

KINDS = ["weights", "activations", "compute", "input"]
FAULTS = {"digits": 3000, "squeezenet": 150, "resnet50": 30}  # per method per round


def tool(setup, sess, golden, faults):
    t0 = time.perf_counter()
    records = list(Executor(sess, [setup.inputs[0]], [golden], setup.tolerance, 1, setup.timeout_s,
                            make_session=setup.session, run_s=setup.run_s).run(faults))
    return len(records) / (time.perf_counter() - t0), records


def plain_loop(setup, sess, golden, faults):
    image = golden_weights(sess.compiled.plan)
    copies = sess._engine.weights.copies
    t0 = time.perf_counter()
    for f in faults:
        before = sess.health()
        outputs, raised = None, None
        try:
            with sess.paused_run(setup.inputs[0]) as p:
                inject_fault(sess, f, 0)
                outputs = p.finish()
        except UncorrectableUpsetError as e:
            raised = e
        classify(golden, outputs, health=health_delta(before, sess.health()), raised=raised,
                 tolerance=setup.tolerance)
        if f.kind == "weights":
            lo, hi = f.byte_offset, f.byte_offset + 1
            for c in copies:
                c.bytes[lo:hi] = image[lo:hi]
        if sess._engine.weights.lost_blocks:
            sess = setup.session()
            copies = sess._engine.weights.copies
    return len(faults) / (time.perf_counter() - t0)


def fork_per_fault(setup, sess, golden, faults):
    """The former executor's loop, one child at a time (per worker)."""
    points = PausePoints(sess.compiled.plan)
    t0 = time.perf_counter()
    with sess.paused_run(setup.inputs[0]) as paused:
        for f in sorted(faults, key=lambda f: (points(f), f.fault_id)):
            paused.advance_to(points(f))
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                v = run_fault_here(sess, paused, f, golden, setup.tolerance, points.never_read(f))
                os.write(wfd, pickle.dumps(v))
                os._exit(0)
            os.close(wfd)
            while os.read(rfd, 1 << 16):
                pass
            os.close(rfd)
            os.waitpid(pid, 0)
    return len(faults) / (time.perf_counter() - t0)


def naive_in_fork(setup, pristine, reference, fault, golden):
    """executor.naive_verdict of `fault` in a forked child whose sessions (`pristine`, built
    by setup.session() and never run, and the lockstep `reference`) are copies of the
    parent's: a fresh session per fault, the parent's untouched."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            verdict = naive_verdict(lambda: pristine, setup.inputs[0], fault, golden, setup.tolerance, reference)
            os.write(wfd, pickle.dumps(verdict))
        finally:
            os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not chunks:
        raise RuntimeError(f"naive run of fault {fault.fault_id} died (wait status {status})")
    return pickle.loads(b"".join(chunks))


def full_run_rate(setup, sess, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, setup.inputs[0])
        times.append(time.perf_counter() - t0)
    return 1.0 / float(np.median(times))


def measure(model, mode, rounds, equal, naive_fork=False):
    n = FAULTS[model]
    setup, sess, (golden,), faults, _ = prepare(model, KINDS, "flip", mode, seed=7, faults=max(n, equal),
                                               input_count=1)
    sample = faults[:n]
    rates = {"tool": [], "plain loop": [], "fork per fault": [], "full run": []}
    outcomes = Counter()
    for r in range(rounds):
        rates["full run"].append(full_run_rate(setup, sess, 5 if model == "resnet50" else 20))
        rate, records = tool(setup, sess, golden, sample)
        rates["tool"].append(rate)
        rates["plain loop"].append(plain_loop(setup, sess, golden, sample))
        rates["fork per fault"].append(fork_per_fault(setup, sess, golden, sample[:max(10, n // 10)]))
        if r == 0:
            outcomes = Counter(f"{rec.verdict.outcome}/{cause_kind(rec.verdict.cause)}" if rec.verdict.cause
                               else rec.verdict.outcome for rec in records)
        print(model, mode, "round", r, {k: round(v[-1], 1) for k, v in rates.items()}, flush=True)
    med = {k: float(np.median(v)) for k, v in rates.items()}
    mix = Counter(f.kind for f in sample)
    same = None
    if equal:
        check = faults[:equal]
        fast = {rec.fault.fault_id: rec.verdict for rec in tool(setup, sess, golden, check)[1]}
        reference = setup.session()
        if naive_fork:
            pristine = setup.session()
            naive = {f.fault_id: naive_in_fork(setup, pristine, reference, f, golden) for f in check}
        else:
            naive = {f.fault_id: naive_verdict(setup.session, setup.inputs[0], f, golden, setup.tolerance,
                                               reference) for f in check}
        same = sum(fast[i] == naive[i] for i in naive), len(naive)
        print(model, mode, "equal to naive:", same, flush=True)
    return med, mix, outcomes, same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--equal", type=int, default=500, help="faults per model and mode checked against naive")
    ap.add_argument("--equal-for", action="append", default=[], metavar="MODEL=N",
                    help="another --equal for one model (e.g. resnet50=100: its naive runs take seconds each)")
    ap.add_argument("--models", default="digits,squeezenet,resnet50")
    ap.add_argument("--modes", default="none,tmr")
    ap.add_argument("--naive-fork", action="store_true",
                    help="each naive verdict in a forked child of a never-run session (no compile per fault)")
    ap.add_argument("--out", default=os.path.join(HERE, "fi_throughput.md"))
    args = ap.parse_args()
    equal_for = {}
    for item in args.equal_for:
        model, _, count = item.partition("=")
        if not count.isdigit():
            ap.error(f"--equal-for {item!r}: expected MODEL=N")
        equal_for[model] = int(count)
    load0 = os.getloadavg()
    rows = []
    for model in args.models.split(","):
        for mode in args.modes.split(","):
            equal = equal_for.get(model, args.equal if model != "digits" else 0)  # digits: the suite checks 1,202
            rows.append((model, mode) + measure(model, mode, args.rounds, equal, args.naive_fork))
    load1 = os.getloadavg()
    lines = ["# Benchmark record: fault-injection throughput per worker (issue 13)", "",
             f"- date: {datetime.datetime.utcnow().isoformat(timespec='minutes')} UTC",
             f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); the machine is shared with other "
             f"sessions: load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end",
             f"- command: `.venv/bin/python benchmarks/fi_throughput.py --rounds {args.rounds} --equal {args.equal} "
             f"--models {args.models} --modes {args.modes}{' --naive-fork' if args.naive_fork else ''}"
             f"{''.join(f' --equal-for {e}' for e in args.equal_for)}`",
             "- faults: seeded single-bit flips over weights, activations, compute and input sites; "
             "median over rounds of injections/s of one worker; methods interleaved per round", "",
             "| model | protect | tool /s | plain loop /s | fork per fault /s | full run /s | tool / full run "
             "| tool / plain loop | site mix | tool outcomes (first round) | equal to naive |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, mode, med, mix, outcomes, same in rows:
        eq = f"{same[0]}/{same[1]}" if same else ("tests (digits)" if model == "digits" else "not run")
        lines.append(f"| {model} | {mode} | {med['tool']:.1f} | {med['plain loop']:.1f} | "
                     f"{med['fork per fault']:.1f} | {med['full run']:.1f} | {med['tool'] / med['full run']:.2f} | "
                     f"{med['tool'] / med['plain loop']:.2f} | "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(mix.items()))} | "
                     f"{', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))} | {eq} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

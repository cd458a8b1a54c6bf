"""What each part of `abft` costs, per model: the same steps timed one by one.

    python benchmarks/abft_parts.py [MODEL ...] [--repeat N]

For each step of the compiled model, in one process, interleaved, medians over N runs
of the whole walk:
  - none: the unchecked kernel;
  - checked GEMM: the Conv/Gemm/MatMul kernel with its fused checks (checksums, output
    seal, packed-weights seal) minus the unchecked kernel;
  - second run: the extra execution (and first-run seal) of ops checked by duplication;
  - moved: the kernel of Concat/Transpose/Split/copies (run once, as in none);
  - step checks: the one C call after each step (output seals of non-GEMM ops, verification
    of every buffer the step read against its producer's seal, the sums invariant).
Prints a Markdown table: milliseconds and shares of the none total. Python overhead of
the engine's loop is not in these parts (it is in `radrt bench`'s abft / none).
(MODEL: a light model name, weights re-drawn with seed 0; default: all nine.)
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from runtime._core import lib  # noqa: E402
from runtime.feeds import random_feeds  # noqa: E402
from runtime.session import InferenceSession  # noqa: E402
from runtime.zoo import LIGHT_MODELS, model_bytes  # noqa: E402


def parts(name: str, repeat: int):
    """Medians (ms) over `repeat` walks: the none kernels, the second runs, the step checks."""
    data = model_bytes(name)
    none = InferenceSession(data, scrub_interval_s=None)
    abft = InferenceSession(data, protection="abft", scrub_interval_s=None)
    feeds = random_feeds(none, seed=0)
    none.run(None, feeds)
    abft.run(None, feeds)
    calls = none._engine.replicas[0].calls
    steps = abft._engine.steps
    abft._engine.begin(feeds)
    samples = {k: [] for k in ("none", "second run", "step checks")}
    clock = time.perf_counter
    for _ in range(repeat):
        t = dict.fromkeys(samples, 0.0)
        for (fn, args), s in zip(calls, steps):
            t0 = clock()
            fn(*args)
            t1 = clock()
            t["none"] += t1 - t0
            if s.kind == "twice":
                t0 = clock()
                s.fn(*s.args)
                lib.radrt_seal_all(s.first.array, s.first.n)
                t["second run"] += clock() - t0
            elif s.kind == "gemm":
                lib.radrt_abft_reset(s.ck)
            s.fn(*s.args)
            after, after_args = s.after
            t2 = clock()
            verdict = after(*after_args)
            t["step checks"] += clock() - t2
            assert verdict == lib.RADRT_STEP_OK, (name, s.index, verdict)
        for k in samples:
            samples[k].append(t[k])
    return {k: statistics.median(v) * 1e3 for k, v in samples.items()}


def gemm_overhead(name: str, repeat: int) -> float:
    """Checked minus unchecked time of the GEMM steps alone (ms, median)."""
    data = model_bytes(name)
    none = InferenceSession(data, scrub_interval_s=None)
    abft = InferenceSession(data, protection="abft", scrub_interval_s=None)
    feeds = random_feeds(none, seed=0)
    none.run(None, feeds)
    abft.run(None, feeds)
    calls = none._engine.replicas[0].calls
    pairs = [(calls[s.index], s) for s in abft._engine.steps if s.kind == "gemm"]
    diffs = []
    for _ in range(repeat):
        d = 0.0
        for (fn, args), s in pairs:
            t0 = time.perf_counter()
            fn(*args)
            t1 = time.perf_counter()
            lib.radrt_abft_reset(s.ck)
            s.fn(*s.args)
            d += time.perf_counter() - t1 - (t1 - t0)
        diffs.append(d)
    return statistics.median(diffs) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list(LIGHT_MODELS))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| model | none ms | checked GEMMs (checksums, seals) | second runs of other ops | step checks (seals, "
          "reads verified) | sum / none |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in args.models:
        p = parts(name, args.repeat)
        g = gemm_overhead(name, args.repeat)
        base = p["none"]
        extra = g + p["second run"] + p["step checks"]
        print(f"| {name} | {base:.2f} | {g:.2f} ({100 * g / base:.1f} %) | {p['second run']:.2f} "
              f"({100 * p['second run'] / base:.1f} %) | {p['step checks']:.2f} ({100 * p['step checks'] / base:.1f} %) "
              f"| {(base + extra) / base:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

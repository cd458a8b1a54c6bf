"""`radrt bench`: latency of radrt (per protection mode) and onnxruntime in one process.

For each model every runtime gets the same inputs; after warm-up runs, they
are timed in turn (radrt in each mode, then onnxruntime, and again) `repeat`
times so that machine noise hits all alike; medians are reported with the
ratio to onnxruntime and, for protected modes, the ratio to `none`. The
geometric mean of ratios over models closes the table. onnxruntime runs with
one intra-op and one inter-op thread and all graph optimisations on. In
`scrub` mode the background scrubber runs during the timing.

MODEL is a path to an .onnx file or the name of a light model shipped in the
onnx wheel (e.g. `resnet50`), whose weights are re-drawn with seed 0 first.
"""
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

from .errors import InvalidArgumentError
from .feeds import random_feeds
from .protect import check_mode
from .session import InferenceSession
from .zoo import model_bytes

WARMUP = 2


@dataclass
class BenchRow:
    model: str
    mode: str
    radrt_ms: float
    ort_ms: Optional[float]
    ratio: Optional[float]  # radrt / onnxruntime
    vs_none: Optional[float]  # radrt in this mode / radrt unprotected


def ort_session(data: bytes, spec: str = "the model"):
    """An onnxruntime session (1 thread, all optimisations) for --vs-ort.

    Raises InvalidArgumentError (argument --vs-ort) when onnxruntime is not
    installed or refuses the model, naming onnxruntime and its first message line.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise InvalidArgumentError(f"--vs-ort needs onnxruntime: pip install 'radrt[reference]' ({e})",
                                   argument="--vs-ort") from e
    # Fatal only (4): onnxruntime logs a refused model at error level (3) in colour on
    # several lines; radrt reports the refusal in its one line below.
    ort.set_default_logger_severity(4)
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own classes (Fail, InvalidGraph, ...) are not exported
        raise InvalidArgumentError(f"--vs-ort: onnxruntime {ort.__version__} refuses {spec}: "
                                   f"{type(e).__name__}: {_first_line(e)} (radrt accepts it; time it "
                                   f"without --vs-ort)", argument="--vs-ort", value=spec) from e


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_model(spec: str, data: bytes, repeat: int, vs_ort: bool,
                modes: Sequence[str] = ("none",)) -> List[BenchRow]:
    sessions = {m: InferenceSession(data, protection=m) for m in modes}
    feeds = random_feeds(next(iter(sessions.values())), seed=0)
    runners = {m: (lambda s=s: s.run(None, feeds)) for m, s in sessions.items()}
    if vs_ort:
        ort = ort_session(data, f"model '{spec}'")
        runners["onnxruntime"] = lambda: ort.run(None, feeds)
    times: Dict[str, List[float]] = {k: [] for k in runners}
    for _ in range(WARMUP):
        for fn in runners.values():
            fn()
    for _ in range(repeat):
        for key, fn in runners.items():
            times[key].append(_time(fn))
    for s in sessions.values():
        s.close()
    median_ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    ort_ms = median_ms.get("onnxruntime")
    name = os.path.splitext(os.path.basename(spec))[0]
    return [BenchRow(name, m, round(median_ms[m], 3), round(ort_ms, 3) if ort_ms else None,
                     round(median_ms[m] / ort_ms, 3) if ort_ms else None,
                     round(median_ms[m] / median_ms["none"], 3) if "none" in median_ms else None)
            for m in modes]


def geomean(xs: List[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def _fmt(x: Optional[float], width: int) -> str:
    return f"{x:{width}.2f}" if x is not None else " " * (width - 1) + "-"


def run_bench(args) -> int:
    import json
    modes = [check_mode(m) for m in (args.protect or ["none"])]
    models = [(spec, model_bytes(spec)) for spec in args.models]
    if not args.json:
        print(f"{'model':<16}{'mode':<7}{'radrt ms':>10}{'ort ms':>10}{'ratio':>8}{'vs none':>9}")
    rows = []
    for spec, data in models:
        for row in bench_model(spec, data, args.repeat, args.vs_ort, modes):
            rows.append(row)
            if args.json:
                print(json.dumps(asdict(row)), flush=True)
            else:
                print(f"{row.model:<16}{row.mode:<7}{row.radrt_ms:10.2f}{_fmt(row.ort_ms, 10)}"
                      f"{_fmt(row.ratio, 8)}{_fmt(row.vs_none, 9)}", flush=True)
    if not args.json:
        for mode in modes:
            ratios = [r.ratio for r in rows if r.mode == mode and r.ratio]
            if ratios:
                print(f"geometric mean radrt/onnxruntime, {mode}: {geomean(ratios):.2f} over {len(ratios)} models")
            vs_none = [r.vs_none for r in rows if r.mode == mode and r.vs_none and mode != "none"]
            if vs_none:
                print(f"geometric mean {mode}/none: {geomean(vs_none):.2f}")
    return 0

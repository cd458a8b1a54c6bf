"""`radrt bench`: latency of radrt against onnxruntime in the same process.

For each model both runtimes get the same inputs; after warm-up runs, the two
are timed alternately (radrt, onnxruntime, radrt, ...) `repeat` times so that
machine noise hits both alike, and the medians and their ratio are reported,
plus the geometric mean of ratios over models. onnxruntime runs with one
intra-op and one inter-op thread and all graph optimisations on.

MODEL is a path to an .onnx file or the name of a light model shipped in the
onnx wheel (e.g. `resnet50`), whose weights are re-drawn with seed 0 first.
"""
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass
from typing import List, Optional

import numpy as np
import onnx

from .cli import random_feeds
from .randomize import randomize_weights
from .session import InferenceSession
from .zoo import LIGHT_MODELS, light_model_path

WARMUP = 2


@dataclass
class BenchRow:
    model: str
    mode: str
    radrt_ms: float
    ort_ms: Optional[float]
    ratio: Optional[float]


def model_bytes(spec: str) -> bytes:
    short = spec[len("light_"):] if spec.startswith("light_") else spec
    if short in LIGHT_MODELS and not os.path.exists(spec):
        return randomize_weights(onnx.load(light_model_path(short)), seed=0).SerializeToString()
    try:
        with open(spec, "rb") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"model '{spec}': not a readable file ({e.strerror}) nor a light model "
                         f"name ({', '.join(LIGHT_MODELS)})") from e


def ort_session(data: bytes):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_model(spec: str, data: bytes, repeat: int, vs_ort: bool, mode: str = "none") -> BenchRow:
    sess = InferenceSession(data)
    feeds = random_feeds(sess, seed=0)
    ort = ort_session(data) if vs_ort else None
    run_radrt = lambda: sess.run(None, feeds)  # noqa: E731
    run_ort = (lambda: ort.run(None, feeds)) if ort else None  # noqa: E731
    for _ in range(WARMUP):
        run_radrt()
        if run_ort:
            run_ort()
    radrt_t, ort_t = [], []
    for _ in range(repeat):
        radrt_t.append(_time(run_radrt))
        if run_ort:
            ort_t.append(_time(run_ort))
    r_ms = statistics.median(radrt_t) * 1e3
    o_ms = statistics.median(ort_t) * 1e3 if ort_t else None
    return BenchRow(os.path.splitext(os.path.basename(spec))[0], mode, round(r_ms, 3),
                    round(o_ms, 3) if o_ms else None, round(r_ms / o_ms, 3) if o_ms else None)


def geomean(xs: List[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def run_bench(args) -> int:
    import json
    models = [(spec, model_bytes(spec)) for spec in args.models]
    if not args.json:
        print(f"{'model':<16}{'mode':<6}{'radrt ms':>10}" + (f"{'ort ms':>10}{'ratio':>8}" if args.vs_ort else ""))
    rows = []
    for spec, data in models:
        row = bench_model(spec, data, args.repeat, args.vs_ort)
        rows.append(row)
        if args.json:
            print(json.dumps(asdict(row)), flush=True)
        else:
            ort = f"{row.ort_ms:10.2f}{row.ratio:8.2f}" if row.ort_ms else ""
            print(f"{row.model:<16}{row.mode:<6}{row.radrt_ms:10.2f}{ort}", flush=True)
    ratios = [r.ratio for r in rows if r.ratio]
    if ratios and not args.json:
        print(f"geometric mean ratio radrt/onnxruntime over {len(ratios)} models: {geomean(ratios):.2f}")
    return 0

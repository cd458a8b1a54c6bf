"""int8 light models, radrt (protection none) against onnxruntime (one intra-op thread, all
graph optimisations), in the three forms onnxruntime's quantizers write: static QDQ and
static QOperator (per channel, calibrated on 4 seeded random inputs) and dynamic. Runs
interleaved, medians of 7, geometric mean of the ratios.

    .venv/bin/python -m benchmarks.int8_models
"""
import math
import pathlib
import statistics
import tempfile
import time

import numpy as np

from runtime import InferenceSession
from runtime.bench import ort_session
from tests.test_quantize import quantized

REPEAT = 7
rows = []
print("| model | form | radrt ms | onnxruntime ms | ratio |")
print("|---|---|---:|---:|---:|")
for name in ["squeezenet", "shufflenet", "inception_v1", "resnet50"]:
    for form in ("qdq", "qoperator", "dynamic"):
        with tempfile.TemporaryDirectory() as d:
            data, inp, shape = quantized(name, pathlib.Path(d), form != "dynamic", form)
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        r, o = InferenceSession(data, scrub_interval_s=None), ort_session(data)
        r.run(None, {inp: x})
        o.run(None, {inp: x})
        tr, to = [], []
        for _ in range(REPEAT):
            t = time.perf_counter()
            r.run(None, {inp: x})
            tr.append(time.perf_counter() - t)
            t = time.perf_counter()
            o.run(None, {inp: x})
            to.append(time.perf_counter() - t)
        mr, mo = statistics.median(tr), statistics.median(to)
        rows.append(mr / mo)
        print(f"| {name} | {form} | {mr * 1e3:.1f} | {mo * 1e3:.1f} | {mr / mo:.2f} |", flush=True)
print(f"\ngeometric mean {math.exp(sum(map(math.log, rows)) / len(rows)):.2f}")

"""What protection costs on int8 models: radrt none, abft, tmr, and abft as it was before
the integer products had exact checksums (each run twice and compared: "abft-twice",
rebuilt here by compiling those steps without their AbftSpec), on the light models in
onnxruntime's three quantized forms (static QDQ and QOperator per channel, dynamic). Runs
interleaved, medians of 7; ratios to none in the same process.

    .venv/bin/python -m benchmarks.int8_abft
"""
import math
import pathlib
import statistics
import tempfile
import time
from unittest import mock

import numpy as np

import runtime.ops.integer
from runtime import InferenceSession
from tests.test_quantize import quantized

REPEAT = 7
MODES = ("none", "abft", "abft-twice", "tmr")
ratios = {m: [] for m in MODES[1:]}
print("| model | form | none ms | abft | abft-twice | tmr |")
print("|---|---|---:|---:|---:|---:|")
for name in ["squeezenet", "shufflenet", "inception_v1", "resnet50"]:
    for form in ("qdq", "qoperator", "dynamic"):
        with tempfile.TemporaryDirectory() as d:
            data, inp, shape = quantized(name, pathlib.Path(d), form != "dynamic", form)
        x = {inp: np.random.default_rng(0).random(shape, dtype=np.float32)}
        sessions = {}
        for mode in MODES:
            if mode == "abft-twice":
                with mock.patch.object(runtime.ops.integer, "AbftSpec", lambda **_: None):
                    sessions[mode] = InferenceSession(data, protection="abft", scrub_interval_s=None)
            else:
                sessions[mode] = InferenceSession(data, protection=mode, scrub_interval_s=None)
        golden = sessions["none"].run(None, x)[0]
        for mode, s in sessions.items():
            assert s.run(None, x)[0].tobytes() == golden.tobytes(), (name, form, mode)
        times = {m: [] for m in MODES}
        for _ in range(REPEAT):
            for mode, s in sessions.items():
                t = time.perf_counter()
                s.run(None, x)
                times[mode].append(time.perf_counter() - t)
        med = {m: statistics.median(v) for m, v in times.items()}
        for m in MODES[1:]:
            ratios[m].append(med[m] / med["none"])
        print(f"| {name} | {form} | {med['none'] * 1e3:.1f} | " +
              " | ".join(f"{med[m] / med['none']:.2f}" for m in MODES[1:]) + " |", flush=True)
print("\ngeometric means over none: " + ", ".join(
    f"{m} {math.exp(sum(map(math.log, v)) / len(v)):.2f}" for m, v in ratios.items()))

"""Bits exposed per model: weights + activation arena under radrt (protection none), for the
float32 model, its float16 conversion and its int8 quantizations by onnxruntime (static QDQ
and QOperator, per channel; dynamic); and the weight bits the model file itself stores.

    .venv/bin/python -m benchmarks.exposed_bits
"""
import pathlib
import tempfile

import onnx
from onnx import numpy_helper

from runtime import InferenceSession
from runtime.zoo import model_bytes
from tests.test_half import to_float16
from tests.test_quantize import quantized


def stored_weight_bits(data):
    m = onnx.load_from_string(data)
    return sum(numpy_helper.to_array(t).nbytes * 8 for t in m.graph.initializer)


def radrt_bits(data):
    s = InferenceSession(data, scrub_interval_s=None)
    rb = s.compiled.plan.region_bytes
    return rb["weights"] * 8, rb["arena"] * 8


print("| model | form | weights stored in the file (bits) | radrt weight region (bits) | radrt arena (bits) |")
print("|---|---|---:|---:|---:|")
for name in ["squeezenet", "shufflenet", "inception_v1", "resnet50"]:
    f32 = model_bytes(name)
    f16 = to_float16(f32, keep_io_types=True)
    with tempfile.TemporaryDirectory() as d:
        q8, _, _ = quantized(name, pathlib.Path(d), True)
        qop, _, _ = quantized(name, pathlib.Path(d), True, "qoperator")
        dyn, _, _ = quantized(name, pathlib.Path(d), False, "dynamic")
    for form, data in (("float32", f32), ("float16", f16), ("int8 QDQ per-channel", q8),
                       ("int8 QOperator per-channel", qop), ("int8 dynamic", dyn)):
        w, a = radrt_bits(data)
        print(f"| {name} | {form} | {stored_weight_bits(data):,} | {w:,} | {a:,} |", flush=True)

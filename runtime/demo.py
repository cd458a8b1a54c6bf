"""`radrt demo`: a real CNN from the onnx wheel, weights re-drawn, run by radrt and onnxruntime.

Prints one table: what was run, latency medians of both runtimes (runs
interleaved), their ratio, the largest difference and whether top-1 agrees.
Exit code 1 when the outputs disagree beyond tolerance.
"""
import statistics
import time

import numpy as np
import onnx

from .cli import random_feeds
from .randomize import randomize_weights
from .session import InferenceSession
from .zoo import light_model_path

REPEATS = 5


def _ort_session(model_bytes: bytes):
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def run_demo(args) -> int:
    path = light_model_path(args.model)
    model = randomize_weights(onnx.load(path), seed=0)
    data = model.SerializeToString()
    sess = InferenceSession(data)
    feeds = random_feeds(sess, seed=0)
    ort_sess = _ort_session(data)
    print(f"radrt demo: light_{args.model} from the onnx wheel, weights re-drawn (seed 0), "
          f"{len(sess.compiled.plan.steps)} kernel steps")
    if ort_sess is None:
        print("onnxruntime is not installed (pip install 'radrt[reference]'): running radrt alone")
    radrt_times, ort_times = [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        (y,) = sess.run(None, feeds)
        radrt_times.append(time.perf_counter() - t0)
        if ort_sess is not None:
            t0 = time.perf_counter()
            (ref,) = ort_sess.run(None, feeds)
            ort_times.append(time.perf_counter() - t0)
    r_ms = statistics.median(radrt_times) * 1e3
    print(f"{'runtime':<14}{'median ms':>10}{'top-1':>8}")
    print(f"{'radrt':<14}{r_ms:>10.2f}{int(y.argmax()):>8}")
    if ort_sess is None:
        return 0
    o_ms = statistics.median(ort_times) * 1e3
    print(f"{'onnxruntime':<14}{o_ms:>10.2f}{int(ref.argmax()):>8}")
    diff = float(np.max(np.abs(y - ref)))
    ok = np.allclose(y, ref, rtol=1e-3, atol=1e-5)
    print(f"ratio radrt/onnxruntime {r_ms / o_ms:.2f}, max |difference| {diff:.2e}, "
          f"top-1 {'agrees' if y.argmax() == ref.argmax() else 'DIFFERS'}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1

"""float16 ukis-csmask models: radrt (none) against onnxruntime (one thread), runs interleaved, medians of 7.

    .venv/bin/python -m benchmarks.float16_ukis
"""
import math
import statistics
import time

import numpy as np
import onnxruntime as ort

from runtime import InferenceSession
from runtime.zoo import ukis_model_path

so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
rows = []
for bands in (4, 6):
    for lvl in ("l1c", "l2a"):
        p = ukis_model_path(bands, lvl)
        x = np.random.default_rng(0).random((1, bands, 256, 256), dtype=np.float32)
        o = ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
        r = InferenceSession(p, scrub_interval_s=None)
        o.run(None, {"input": x}); r.run(None, {"input": x})
        to, tr = [], []
        for _ in range(7):
            t = time.perf_counter()
            o.run(None, {"input": x})
            to.append(time.perf_counter() - t)
            t = time.perf_counter()
            r.run(None, {"input": x})
            tr.append(time.perf_counter() - t)
        mo, mr = statistics.median(to), statistics.median(tr)
        rows.append((bands, lvl, mr * 1e3, mo * 1e3, mr / mo))
        print(f"| {bands} bands {lvl} | {mr*1e3:.1f} | {mo*1e3:.1f} | {mr/mo:.2f} |", flush=True)
print("geomean", math.exp(sum(math.log(r[4]) for r in rows) / len(rows)))

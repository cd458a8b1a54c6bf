"""What fusing ABFT into the depthwise Conv saves: shufflenet under none, abft (depthwise
convs checked by their fused checksums, run once) and abft with the depthwise convs run
twice and compared (how abft checked them before: their AbftSpec withheld at compile),
interleaved in one process, medians in ms. All three return the same bits.

Usage: python benchmarks/abft_depthwise.py [repeats] [model]
"""
import sys
import time

import numpy as np
import onnx

import runtime.ops.conv as conv_op
from runtime import InferenceSession
from runtime._core import lib
from runtime.randomize import randomize_weights
from runtime.zoo import light_model_path


def sessions(model: bytes):
    out = {"none": InferenceSession(model, protection="none", scrub_interval_s=None),
           "abft": InferenceSession(model, protection="abft", scrub_interval_s=None)}
    spec = conv_op.AbftSpec
    conv_op.AbftSpec = lambda **kw: None if kw["side"] == lib.RADRT_ABFT_DEPTHWISE else spec(**kw)
    try:
        out["abft, depthwise run twice"] = InferenceSession(model, protection="abft", scrub_interval_s=None)
    finally:
        conv_op.AbftSpec = spec
    return out


def main(repeats: int = 300, name: str = "shufflenet") -> None:
    m = onnx.load(light_model_path(name))
    randomize_weights(m, seed=0)
    sess = sessions(m.SerializeToString())
    for label in ("abft", "abft, depthwise run twice"):
        steps = sess[label]._engine.steps
        print(f"{label}: steps by check kind",
              {k: sum(1 for s in steps if s.kind == k) for k in ("gemm", "moved", "twice")})
    inp = sess["none"].get_inputs()[0]
    x = np.random.default_rng(0).random([d if isinstance(d, int) else 1 for d in inp.shape], dtype=np.float32)
    outs = {label: s.run(None, {inp.name: x})[0].tobytes() for label, s in sess.items()}
    assert len(set(outs.values())) == 1, "the modes disagree"
    times = {label: [] for label in sess}
    for _ in range(repeats):
        for label, s in sess.items():
            t0 = time.perf_counter()
            s.run(None, {inp.name: x})
            times[label].append(time.perf_counter() - t0)
    med = {label: 1e3 * float(np.median(t)) for label, t in times.items()}
    print("  ".join(f"{label} {v:.3f} ms ({v / med['none']:.3f}x)" for label, v in med.items()))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, sys.argv[2] if len(sys.argv) > 2 else "shufflenet")

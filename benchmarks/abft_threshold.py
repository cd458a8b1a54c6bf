"""What an ABFT checksum cannot see, and what that does to the model's output.

For every Conv checked by fused ABFT (csrc/kernels/gemm.h) in a model, on one input:
  - the round-off threshold of each checksum (one per output position and group),
    tol_j = lambda * u * (2 sqrt(K + 2) + sqrt(M + 1)) * mag_j + FLT_MIN (K + 1), with
    mag_j = sum_k wabs_k |im2col(x)_kj| + bias_abs computed here in float64 (a Conv of |x|
    with the summed |W| of the group);
  - the smallest single-output error the checksum detects is about tol_j: an error of
    0.99 tol_j in one output element (an upset in the GEMM's arithmetic the check misses)
    is written into that element, the rest of the network runs unprotected, and the
    final output's change is measured against fault_injection's tolerance
    (|dy| <= 1e-5 + 1e-4 |y|) and as max |dy| / max |y|.
Weights, activations between ops and the input are sealed exactly (no threshold), so
this is the only part of `abft` that rests on a threshold.

Usage: python benchmarks/abft_threshold.py [MODEL ...] [--samples N]
(MODEL: digits or a light model name; weights of light models re-drawn with seed 0.)
"""
import argparse

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from fault_injection.models import digits_model_path, load_heldout
from runtime import InferenceSession
from runtime.ops import ABFT_LAMBDA
from runtime.randomize import randomize_weights
from runtime.zoo import light_model_path

U = 2.0 ** -24


def model_and_input(name):
    if name == "digits":
        return open(digits_model_path(), "rb").read(), load_heldout()[0][:1]
    m = randomize_weights(onnx.load(light_model_path(name)), seed=0)
    sess = InferenceSession(m.SerializeToString(), scrub_interval_s=None)
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    return m.SerializeToString(), np.random.default_rng(0).random(shape, dtype=np.float32)


def magnitudes(node, x, w, bias):
    """mag per (group, output position): a Conv of |x| with each group's summed |W| (float64 via ORT in float32
    is enough for a threshold estimate)."""
    group = int(node.attr("group", 1))
    cout = w.shape[0]
    wabs = np.abs(w.astype(np.float64)).reshape(group, cout // group, *w.shape[1:]).sum(axis=1)
    attrs = {k: v for k, v in node.attrs.items() if k in ("strides", "pads", "dilations", "auto_pad", "group")}
    conv = helper.make_node("Conv", ["x", "w"], ["y"], **attrs)
    g = helper.make_graph([conv], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(wabs.astype(np.float32), "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    y = ort.InferenceSession(model.SerializeToString(), so).run(None, {"x": np.abs(x)})[0]
    babs = 0.0 if bias is None else np.abs(bias.astype(np.float64)).reshape(group, -1).sum(axis=1)
    return y.astype(np.float64) + (np.reshape(babs, (1, group, 1, 1)) if bias is not None else 0.0)


def study(name, samples, rng):
    data, x = model_and_input(name)
    sess = InferenceSession(data, scrub_interval_s=None)
    feeds = {sess.get_inputs()[0].name: x}
    golden = sess.run(None, feeds)[0].astype(np.float64)
    plan = sess.compiled.plan
    arena = sess._engine.replicas[0].regions
    rows = []
    for step in plan.steps:
        spec = step.prepared.abft
        if spec is None or step.node.op_type != "Conv":
            continue
        node = step.node
        with sess.paused_run(feeds) as p:
            p.advance_to(step.index + 1)
            xin = arena[step.ins[0].region].array(step.ins[0], np.float32, sess.compiled.graph.values[
                sess.compiled.graph.alias.get(node.inputs[0], node.inputs[0])].shape).copy()
            out_p = step.outs[0]
            y_shape = step.prepared.outputs[0].shape
            y = arena[out_p.region].array(out_p, np.float32, y_shape)
            w = sess.compiled.graph.values[node.inputs[1]].value
            bias = sess.compiled.graph.values[node.inputs[2]].value if len(node.inputs) > 2 and node.inputs[2] else None
        mag = magnitudes(node, xin, np.asarray(w), None if bias is None else np.asarray(bias))
        cout, group = y_shape[1], spec.groups
        m_rows = cout // group
        tol = ABFT_LAMBDA * U * (2 * np.sqrt(spec.K + 2) + np.sqrt(m_rows + 1)) * mag + np.finfo(np.float32).tiny * (spec.K + 1)
        rms = float(np.sqrt(np.mean(np.square(y.astype(np.float64))))) or 1.0
        worst_rel, worst_fi = 0.0, 0.0
        for _ in range(samples):
            c = int(rng.integers(cout))
            pos = tuple(int(rng.integers(d)) for d in y_shape[2:])
            t = float(tol[(0, c // m_rows) + pos])
            with sess.paused_run(feeds) as p:
                p.advance_to(step.index + 1)
                view = arena[out_p.region].array(out_p, np.float32, y_shape)
                view[(0, c) + pos] += np.float32(0.99 * t)
                out = p.finish()[0].astype(np.float64)
            dy = np.abs(out - golden)
            worst_rel = max(worst_rel, float(dy.max() / (np.abs(golden).max() or 1.0)))
            worst_fi = max(worst_fi, float((dy / (1e-5 + 1e-4 * np.abs(golden))).max()))
        rows.append((node.name, spec.K, m_rows, float(np.median(tol) / rms), float(tol.max() / rms), worst_rel, worst_fi))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=["digits", "squeezenet"])
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    print(f"lambda {ABFT_LAMBDA}; tol relative to the rms of the Conv's output; an error of 0.99 tol in one "
          f"output element, {args.samples} samples per Conv: final output max |dy| / max |y|, and the largest "
          f"|dy| / (1e-5 + 1e-4 |y|) (> 1: outside fault_injection's tolerance)")
    print(f"{'model':<12}{'conv':<24}{'K':>6}{'M':>6}{'tol/rms median':>16}{'max':>10}{'dy/|y|':>10}{'dy/fi-tol':>11}")
    for name in args.models:
        for conv, k, m, med, mx, rel, fi in study(name, args.samples, rng):
            print(f"{name:<12}{conv[:23]:<24}{k:>6}{m:>6}{med:>16.2e}{mx:>10.2e}{rel:>10.2e}{fi:>11.2f}")


if __name__ == "__main__":
    main()

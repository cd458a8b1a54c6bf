"""Time radrt's Conv/Gemm kernels against onnxruntime (one intra-op thread).

One-node models, runs interleaved, medians; prints GFLOP/s and the
radrt/onnxruntime time ratio. Usage: python benchmarks/conv_kernels.py [repeats]
"""
import sys
import time

import numpy as np
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

import runtime


def one_node(op, x_shape, weights, attrs):
    inits = [numpy_helper.from_array(w, n) for n, w in weights.items()]
    node = helper.make_node(op, ["x"] + list(weights), ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def cases(rng):
    def conv(cin, cout, hw, k, stride=1, group=1):
        w = rng.standard_normal((cout, cin // group, k, k)).astype(np.float32) * 0.05
        b = rng.standard_normal(cout).astype(np.float32)
        oh = (hw + 2 * (k // 2) - k) // stride + 1
        flops = 2 * cout * oh * oh * (cin // group) * k * k
        return (f"Conv {cin}->{cout} {k}x{k}/{stride} g{group} @{hw}", "Conv", (1, cin, hw, hw),
                {"w": w, "b": b}, dict(pads=[k // 2] * 4, strides=[stride] * 2, group=group), flops)

    yield conv(64, 64, 56, 3)
    yield conv(256, 64, 56, 1)
    yield conv(64, 256, 56, 1)
    yield conv(128, 128, 28, 3)
    yield conv(512, 512, 7, 3)
    yield conv(3, 64, 224, 7, stride=2)
    yield conv(256, 256, 14, 3, group=256)
    w = rng.standard_normal((1000, 2048)).astype(np.float32) * 0.05
    yield "Gemm 1x2048 * 2048x1000", "Gemm", (1, 2048), {"w": w}, dict(transB=1), 2 * 2048 * 1000
    w = rng.standard_normal((1024, 1024)).astype(np.float32)
    yield "Gemm 256x1024 * 1024x1024", "Gemm", (256, 1024), {"w": w}, {}, 2 * 256 * 1024 * 1024


def main(repeats=30):
    rng = np.random.default_rng(0)
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    print(f"{'case':34s} {'radrt ms':>9s} {'ort ms':>8s} {'radrt GF/s':>10s} {'ort GF/s':>9s} {'ratio':>6s}")
    ratios = []
    for name, op, x_shape, weights, attrs, flops in cases(rng):
        m = one_node(op, x_shape, weights, attrs).SerializeToString()
        ours = runtime.InferenceSession(m)
        ref = onnxruntime.InferenceSession(m, so, providers=["CPUExecutionProvider"])
        feed = {"x": rng.standard_normal(x_shape).astype(np.float32)}
        np.testing.assert_allclose(ours.run(None, feed)[0], ref.run(None, feed)[0], rtol=1e-3, atol=1e-3)
        t_ours, t_ref = [], []
        for _ in range(repeats):
            for sess, times in ((ours, t_ours), (ref, t_ref)):
                t = time.perf_counter()
                sess.run(None, feed)
                times.append(time.perf_counter() - t)
        a, b = np.median(t_ours), np.median(t_ref)
        ratios.append(a / b)
        print(f"{name:34s} {a * 1e3:9.3f} {b * 1e3:8.3f} {flops / a / 1e9:10.1f} {flops / b / 1e9:9.1f} {a / b:6.2f}")
    print(f"geometric mean ratio: {np.exp(np.mean(np.log(ratios))):.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)

"""Cost of the ABFT checksums fused into the GEMM (csrc/kernels/gemm.h).

For the shapes of benchmarks/conv_kernels.py, the op is prepared once and its kernel
call timed without and with a radrt_abft (runs interleaved, medians, one thread);
prints both times and their ratio, and the checksum verdict of the last checked run.
Usage: python benchmarks/abft_gemm.py [repeats]
"""
import sys
import time

import numpy as np

from benchmarks.conv_kernels import cases
from runtime._core import ffi, lib
from runtime.load import Node
from runtime.ops import TensorInfo, abft_struct, lookup


def prepared_call(op, x, weights, attrs):
    """The Prepared op and its bound buffers: (prep, call(abft) -> (fn, args), keep-alive)."""
    names = ["x"] + list(weights)
    node = Node(op, "op1", names, ["y"], dict(attrs), 17)
    infos = [TensorInfo(x.shape, np.dtype(np.float32))] + [TensorInfo(w.shape, w.dtype, w) for w in weights.values()]
    prep = lookup(op)(node, infos)
    bufs = [x] + list(weights.values())
    out = np.empty(prep.outputs[0].shape, np.float32)
    scratch = np.zeros(max(prep.scratch_bytes, 1), np.uint8)
    ptr = lambda a: ffi.cast("void *", ffi.from_buffer(a))
    consts = [ptr(c) for c in prep.constants]

    def call(abft):
        return prep.invoke(lib, [ptr(b) for b in bufs], [ptr(out)], consts, ptr(scratch), abft=abft)

    return prep, call, consts, (bufs, out, scratch)


def main(repeats=30):
    rng = np.random.default_rng(0)
    print(f"{'case':34s} {'unchecked ms':>12s} {'abft ms':>8s} {'ratio':>6s}  checked/exceeded worst")
    ratios = []
    for name, op, x_shape, weights, attrs, _ in cases(rng):
        x = rng.standard_normal(x_shape).astype(np.float32)
        prep, call, consts, keep = prepared_call(op, x, weights, attrs)
        if prep.abft is None:
            print(f"{name:34s} {'':>12s} {'n/a':>8s}         (no ABFT spec: depthwise or runtime weights)")
            continue
        ck, ck_keep = abft_struct(ffi, prep.abft, consts)
        fn, plain = call(None)
        _, checked = call(ck)
        t_plain, t_checked = [], []
        for _ in range(repeats):
            for args, times in ((plain, t_plain), (checked, t_checked)):
                t = time.perf_counter()
                fn(*args)
                times.append(time.perf_counter() - t)
        a, b = np.median(t_plain), np.median(t_checked)
        ratios.append(b / a)
        print(f"{name:34s} {a * 1e3:12.3f} {b * 1e3:8.3f} {b / a:6.3f}  "
              f"{ck.checked}/{ck.exceeded} {ck.worst:.4f}")
    print(f"geometric mean abft/unchecked: {np.exp(np.mean(np.log(ratios))):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)

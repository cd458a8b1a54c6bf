"""Where onnxruntime's uint8 x int8 products are an exact oracle, and where they are not.

On x86-64 without VNNI (AVX2; AVX-512 without VNNI) onnxruntime's MLAS multiplies uint8
activations by int8 weights with vpmaddubsw, which adds each pair of adjacent products
into an int16 with saturation; onnxruntime's quantization guide says so and advises
`reduce_range` (7-bit weights) on such CPUs. The ONNX spec, and radrt, sum the products
exactly in int32. With VNNI (vpdpbusd) onnxruntime is exact. So a test compares an int8
weight product with onnxruntime bit for bit only where no pair can saturate on this CPU
(`ort_is_exact`); its own spec reference still checks every case.

    probe: 2 x 255 x 127 = 64,770 exactly; 32,767 where the pair saturates.
"""
import functools

import numpy as np
from onnx import TensorProto, helper, numpy_helper

INT16_MAX = 32767


@functools.lru_cache(maxsize=None)
def ort_saturates_u8s8() -> bool:
    """True when this CPU's onnxruntime saturates a pair of uint8 x int8 products at int16."""
    import onnxruntime as ort
    consts = dict(as_=np.float32(1.0), az=np.uint8(0), b=np.full((2, 1), 127, np.int8), bs=np.float32(1.0),
                  bz=np.int8(0), ys=np.float32(1000.0), yz=np.uint8(0))
    node = helper.make_node("QLinearMatMul", ["a", "as_", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("a", TensorProto.UINT8, (1, 2))],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, (1, 1))],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    y = int(sess.run(None, {"a": np.full((1, 2), 255, np.uint8)})[0][0, 0])
    assert y in (65, 33), f"onnxruntime probe gave {y}: expected 65 (exact) or 33 (int16 pairs saturated)"
    return y == 33


def ort_is_exact(activations: np.ndarray, weights: np.ndarray) -> bool:
    """True when onnxruntime's product of these operands equals the exact one on this CPU:
    weights that are not int8, a CPU where onnxruntime does not saturate, or operands so
    small that no pair of products leaves int16 (int8 activations are shifted to uint8,
    +128, on that path: bounded by 255)."""
    if weights.dtype != np.int8 or not ort_saturates_u8s8():
        return True
    a_max = 255 if activations.dtype == np.int8 else int(activations.max(initial=0))
    return 2 * a_max * int(np.abs(weights.astype(np.int32)).max(initial=0)) <= INT16_MAX


def weights_bound() -> int:
    """The largest |int8 weight| onnxruntime multiplies by any uint8 exactly on this CPU."""
    return INT16_MAX // (2 * 255) if ort_saturates_u8s8() else 127

"""Sign on run-time data (C: csrc/kernels/sign.c): float32, float64 and every
integer type, output of the input's type. 1 for x > 0, -1 for x < 0, 0 for +-0
(-0.0 gives +0.0), and NaN passed through (sign and payload kept), as numpy and
onnxruntime's float32 Sign do (onnxruntime's float64 Sign clears a NaN's sign bit);
the ONNX spec does not name NaN. Constant inputs fold through this kernel.
"""
from . import Prepared, count, node_error, output_info, register
from .argmax import SUPPORTED, element_type
from .typed import TYPE_CODES


@register("Sign")
def sign(node, ins):
    if len(ins) != 1 or ins[0] is None:
        raise node_error(node, f"expected 1 input, got {len([i for i in ins if i is not None])}")
    x = ins[0]
    dtype = element_type(node, x, SUPPORTED)
    y = output_info(node, x.shape, dtype)
    n = count(node, x.shape, "input 0")
    code = TYPE_CODES[dtype]
    return Prepared([y], lambda lib, i, o, c, scratch: (lib.radrt_sign, (i[0], o[0], code, n)), flops=n)

"""Elementwise activations (C: csrc/kernels/activation.c)."""
from . import Prepared, TensorInfo, register, require_float32


@register("Relu")
def relu(node, ins):
    x = ins[0]
    require_float32(node, x)
    n = x.size
    return Prepared([TensorInfo(x.shape, x.dtype)],
                    lambda lib, i, o, c, scratch: (lib.radrt_relu, (i[0], o[0], n)), flops=n)

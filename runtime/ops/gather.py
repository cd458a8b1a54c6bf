"""Gather along one axis (C: csrc/kernels/gather.c), any element type.

Constant indices are checked here. Runtime indices are checked by the
kernel, element by element, before use: an out-of-range index never reads
outside the data. Its output slice is zero-filled, the kernel returns how
many indices were out of range, and the step raises `GatherIndexError` right
after the call, so the run fails loudly instead of returning a wrong result.
"""
import numpy as np

from . import Prepared, count, node_error, normalize_axis, output_info, register
from ..errors import GatherIndexError  # noqa: F401  (raised below; defined with its exit code in errors.py)


@register("Gather")
def gather(node, ins):
    data, indices = ins[0], ins[1]
    if data.rank == 0:
        raise node_error(node, "input 0 (data) is a scalar, expected rank >= 1")
    axis = normalize_axis(node, int(node.attr("axis", 0)), data.rank)
    if np.dtype(indices.dtype) not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise node_error(node, f"input 1 (indices) has dtype {np.dtype(indices.dtype).name}, "
                               f"expected int32 or int64")
    dim = data.shape[axis]
    if indices.value is not None:
        bad = (indices.value < -dim) | (indices.value >= dim)
        if bad.any():
            raise node_error(node, f"index {int(indices.value[bad].reshape(-1)[0])} is out of range "
                                   f"for axis {axis} of size {dim} (data shape {data.shape})")
    # Every count below is checked (dims >= 0, int64): the kernel memsets and copies
    # inner_bytes per index and must never see a negative or wrapped length.
    count(node, data.shape, "input 0 (data)")
    out = output_info(node, tuple(data.shape[:axis]) + tuple(indices.shape) + tuple(data.shape[axis + 1:]),
                      data.dtype)
    outer = count(node, data.shape[:axis], "input 0 (data) outer dims")
    inner_bytes = count(node, data.shape[axis + 1:], "input 0 (data) inner dims") * np.dtype(data.dtype).itemsize
    is64 = int(np.dtype(indices.dtype) == np.dtype(np.int64))
    args_tail = (outer, dim, inner_bytes, count(node, indices.shape, "input 1 (indices)"))
    runtime_indices = indices.value is None

    def invoke(lib, i, o, consts, scratch):
        args = (i[0], i[1], is64, o[0]) + args_tail
        if not runtime_indices:
            return lib.radrt_gather, args
        kernel = lib.radrt_gather

        def checked(*a):
            bad = kernel(*a)
            if bad < 0:  # sizes are checked above, so the kernel's own guard never fires
                raise node_error(node, f"internal: the Gather kernel refused sizes {args_tail}")
            if bad:
                raise GatherIndexError(f"Gather node '{node.name}': {bad} of {indices.size} runtime "
                                       f"indices are out of range for axis {axis} of size {dim} "
                                       f"(expected values in [{-dim}, {dim - 1}])", node=node.name,
                                       attribute="input 1 (indices)", value=bad)
        return checked, args

    return Prepared([out], invoke)

"""Gemm and MatMul on the packed GEMM core (C: csrc/kernels/gemm.c, matmul.c).

A constant B (the usual weight matrix) is packed at prepare time into the
panels the micro-kernel reads, so run time packs only the activations. The
bias/beta*C term and a fused activation clamp are the GEMM epilogue.

Helpers here (`pack_a`, `pack_b`) are shared with Conv and
ConvTranspose.

ABFT (csrc/kernels/gemm.h): when every product reads the same constant B and
the bias is absent or constant with the same sum along every row, the step
gets an AbftSpec of side ROWS: B's row sums (constants 1 and 2) and the bias
row sum. Otherwise (runtime B, several distinct B matrices, a runtime or
non-uniform bias) none.
"""

import numpy as np

from . import (AbftSpec, Prepared, count, fused_clamp, node_error, output_info, register, require_float32,
               weight_checksums)
from .. import sizes

FLOAT_BYTES = 4


def _core():
    from .._core import ffi, lib
    return ffi, lib


def _pack(matrix: np.ndarray, kind: str) -> np.ndarray:
    ffi, lib = _core()
    m = np.ascontiguousarray(matrix, dtype=np.float32)
    rows, cols = m.shape
    floats = (lib.radrt_gemm_packed_a_floats if kind == "a" else lib.radrt_gemm_packed_b_floats)(rows, cols)
    out = np.zeros(sizes.c_scratch_floats(None, floats, f"packed {kind.upper()} matrix") // 4, np.float32)
    if kind == "a":
        lib.radrt_gemm_pack_a(ffi.from_buffer("float[]", m), cols, 1, rows, cols,
                              ffi.from_buffer("float[]", out))
    else:
        lib.radrt_gemm_pack_b(ffi.from_buffer("float[]", m), cols, 1, rows, cols,
                              ffi.from_buffer("float[]", out))
    return out


def pack_a(matrix: np.ndarray) -> np.ndarray:
    """A (M x K) in the micro-kernel's row-panel layout."""
    return _pack(matrix, "a")


def pack_b(matrix: np.ndarray) -> np.ndarray:
    """B (K x N) in the micro-kernel's column-panel layout."""
    return _pack(matrix, "b")


def _scratch_bytes(node, m, n, k, a_packed, b_packed) -> int:
    _, lib = _core()
    for what, v in (("M", m), ("N", n), ("K", k)):
        sizes.checked_count(v, f"GEMM size {what}", node)
    return sizes.c_scratch_floats(node, lib.radrt_sgemm_scratch_floats(m, n, k, int(a_packed), int(b_packed)),
                                  "GEMM packing scratch")


def _abft_bias_sums(bias_value, bias_rs, m, n):
    """(sum, sum of |.|) along each row of the (m, n) broadcast bias as float32-rounded
    floats, or None when rows differ in sum (or there is no constant value)."""
    if bias_value is None:
        return None
    full = np.broadcast_to(np.asarray(bias_value, np.float64), (m, n))
    sums, abs_sums = full.sum(axis=1), np.abs(full).sum(axis=1)
    if bias_rs != 0 and not (np.all(sums == sums[0]) and np.all(abs_sums == abs_sums[0])):
        return None
    return float(np.float32(sums[0])), float(np.float32(abs_sums[0]))


def _matmul_prepared(node, out_shape, m, n, k, batch_a, batch_b, a_strides, b_info, bias,
                     alpha, beta, extra_flops=0, bias_value=None):
    """Prepared for `batch` products Y[i] = epilogue(A[batch_a[i]] @ B[batch_b[i]]).

    batch_a/batch_b: element offsets of each product's A and B; a_strides:
    (rs, cs) of A; b_info: the B TensorInfo with (rs, cs) for a runtime B, or
    its matrices when constant (packed here); bias: None or (input index,
    rs, cs) of the epilogue bias, which has the same offset in every batch;
    bias_value: the bias's constant value (None for a runtime bias).
    """
    out = output_info(node, out_shape, np.float32)
    lo, hi = fused_clamp(node)
    batch = len(batch_a)
    constants, unread, b_single = [], (), None
    b_matrices, b_rs, b_cs = b_info
    if b_matrices is not None and batch:
        # One packed copy per distinct B matrix, in order of first use.
        distinct = {}
        for off in batch_b:
            distinct.setdefault(off, len(distinct))
        packed = [pack_b(b_matrices(off)) for off in distinct]
        stride = packed[0].size
        constants = [np.concatenate(packed)]
        b_single = b_matrices(batch_b[0]) if len(distinct) == 1 else None
        batch_b = [distinct[off] * stride for off in batch_b]
        unread = (1,)
    b_packed = b_matrices is not None and batch > 0
    scratch = _scratch_bytes(node, m, n, k, False, b_packed)
    a_rs, a_cs = a_strides
    bias_input, bias_rs, bias_cs = bias if bias is not None else (None, 0, 0)
    offsets = (np.asarray(batch_a, np.int64), np.asarray(batch_b, np.int64))

    abft = None
    bias_sums = (0.0, 0.0) if bias is None else _abft_bias_sums(bias_value, bias_rs, m, n)
    if b_packed and b_single is not None and bias_sums is not None:
        _, lib = _core()
        constants.extend(weight_checksums(np.asarray(b_single, np.float32)[None], axis=2))
        work = sizes.c_scratch_floats(node, lib.radrt_abft_work_floats(m, n, lib.RADRT_ABFT_ROWS), "ABFT work") // 4
        abft = AbftSpec(side=lib.RADRT_ABFT_ROWS, K=k, groups=1, wsum=1, wabs=2, bias_sum=(bias_sums[0],),
                        bias_abs=(bias_sums[1],), work_floats=work, checksums=batch * m)

    arrays = []  # the C offset arrays, made once and shared by every binding

    def invoke(lib, ins, outs, consts, scratch_ptr, abft=None):
        ffi, _ = _core()
        if not arrays:
            arrays.extend(ffi.new("int64_t[]", o.tolist() or [0]) for o in offsets)
        a_off, b_off = arrays
        p = ffi.new("radrt_matmul_params *", dict(
            M=m, N=n, K=k, batch=batch, a_offsets=a_off, b_offsets=b_off,
            a_rs=a_rs, a_cs=a_cs, b_rs=b_rs, b_cs=b_cs, b_packed=int(b_packed),
            ep=dict(alpha=alpha, beta=beta, bias=ffi.NULL, bias_rs=bias_rs, bias_cs=bias_cs,
                    act_min=lo, act_max=hi)))
        b_ptr = consts[0] if b_packed else ins[1]
        c_ptr = ins[bias_input] if bias_input is not None else ffi.NULL
        return lib.radrt_matmul, (p, ins[0], b_ptr, c_ptr, outs[0], scratch_ptr,
                                  ffi.NULL if abft is None else abft)

    flops = 2 * batch * m * n * k + extra_flops
    return Prepared([out], invoke, flops=flops,
                    constants=constants, scratch_bytes=scratch, unread_inputs=unread, abft=abft)


@register("Gemm")
def gemm(node, ins):
    if len(ins) < 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected inputs A and B, got {len(ins)} inputs")
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    require_float32(node, *[i for i in (a, b, c) if i is not None])
    for idx, info in ((0, a), (1, b)):
        if info.rank != 2:
            raise node_error(node, f"input {idx} has shape {info.shape}, expected rank 2")
    trans_a, trans_b = int(node.attr("transA", 0)), int(node.attr("transB", 0))
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
    if k != kb:
        raise node_error(node, f"A {a.shape} (transA={trans_a}) and B {b.shape} (transB={trans_b}) "
                               f"have inner dimensions {k} and {kb}, expected equal")
    a_strides = (1, m) if trans_a else (k, 1)
    b_strides = (1, k) if trans_b else (n, 1)
    if b.value is not None:
        bm = b.value.T if trans_b else b.value
        b_info = (lambda off: bm, 0, 0)
    else:
        b_info = (None,) + b_strides
    bias = None
    if c is not None and beta != 0.0:
        try:
            strides = np.broadcast_to(np.empty(c.shape, np.float32), (m, n)).strides
        except ValueError:
            raise node_error(node, f"input 2 (C) has shape {c.shape}, expected one that broadcasts "
                                   f"unidirectionally to ({m}, {n})") from None
        bias = (2, strides[0] // FLOAT_BYTES, strides[1] // FLOAT_BYTES)
    elif c is not None:
        try:
            np.broadcast_to(np.empty(c.shape, np.float32), (m, n))
        except ValueError:
            raise node_error(node, f"input 2 (C) has shape {c.shape}, expected one that broadcasts "
                                   f"unidirectionally to ({m}, {n})") from None
    prepared = _matmul_prepared(node, (m, n), m, n, k, [0], [0], a_strides, b_info, bias,
                                alpha, beta, bias_value=c.value if bias is not None else None)
    if c is not None and bias is None:
        prepared.unread_inputs = tuple(prepared.unread_inputs) + (2,)
    return prepared


@register("MatMul")
def matmul(node, ins):
    if len(ins) != 2 or ins[0] is None or ins[1] is None:
        raise node_error(node, f"expected 2 inputs, got {len(ins)}")
    a, b = ins
    require_float32(node, a, b)
    if a.rank == 0 or b.rank == 0:
        raise node_error(node, f"inputs have shapes {a.shape} and {b.shape}, expected rank >= 1")
    a_shape = (1,) + a.shape if a.rank == 1 else a.shape
    b_shape = b.shape + (1,) if b.rank == 1 else b.shape
    m, k = a_shape[-2:]
    kb, n = b_shape[-2:]
    if k != kb:
        raise node_error(node, f"inputs have shapes {a.shape} and {b.shape}: inner dimensions "
                               f"{k} and {kb} differ")
    try:
        batch_shape = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise node_error(node, f"batch dimensions of {a.shape} and {b.shape} do not broadcast") from None
    out_shape = tuple(batch_shape) + (m, n)
    if a.rank == 1:
        out_shape = out_shape[:-2] + (n,)
    if b.rank == 1:
        out_shape = out_shape[:-1]
    output_info(node, out_shape, np.float32)
    # Two int64 offsets per product, built below: bounded by the budget too.
    sizes.check_bytes(node, sizes.checked_mul(16, count(node, batch_shape, "batch dims"),
                                              what="batch offset tables", node=node), "batch offset tables")

    def offsets(shape):
        """Element offset of each batch's matrix in an operand of this shape."""
        idx = np.arange(count(node, shape[:-2], "batch dims"), dtype=np.int64).reshape(shape[:-2]) \
            * (shape[-2] * shape[-1])
        return np.broadcast_to(idx, batch_shape).reshape(-1).tolist()

    batch_a, batch_b = offsets(a_shape), offsets(b_shape)
    if b.value is not None:
        flat = np.ascontiguousarray(b.value, np.float32).reshape(-1)
        b_info = (lambda off: flat[off:off + k * n].reshape(k, n), 0, 0)
    else:
        b_info = (None, n, 1)
    return _matmul_prepared(node, out_shape, m, n, k, batch_a, batch_b, (k, 1), b_info, None, 1.0, 0.0)

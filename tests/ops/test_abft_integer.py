"""Exact ABFT of the integer products (csrc/kernels/integer.h), through the prepares of
QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger and QGemm with constant weights:
a checked call stores the unchecked call's bits and compares every checksum, none
exceeded, on any data (hypothesis over shapes, groups and depthwise, types, zero points,
scales that saturate at both ends: there is no threshold, so no false alarm is
possible); an upset of one packed weight bit that changes the output is always counted.
Whole models under abft: tests/protect/test_abft.py and tests/test_quantize.py."""
import numpy as np
from hypothesis import given, settings, strategies as st

from runtime._core import ffi, lib
from runtime.load import Node
from runtime.ops import TensorInfo, abft_struct, lookup


def prepare(op, arrays, constant, attrs, domain=""):
    """Prepared of one `op` node over `arrays` (None: an omitted optional input;
    constant[i]: input i is an initializer)."""
    node = Node(op, "n1", [f"i{j}" if a is not None else "" for j, a in enumerate(arrays)], ["y"], dict(attrs), 13,
                domain=domain)
    infos = [None if a is None else TensorInfo(np.shape(a), np.asarray(a).dtype, np.asarray(a) if c else None)
             for a, c in zip(arrays, constant)]
    return lookup(op, domain)(node, infos)


def invoke(prep, arrays, consts, checked):
    """(output, radrt_abft or None) of one invoke on numpy buffers; consts: the prepared
    constants (possibly upset copies)."""
    bufs = [None if a is None else np.ascontiguousarray(a) for a in arrays]
    out = np.zeros(prep.outputs[0].shape, prep.outputs[0].dtype)
    scratch = np.zeros(max(prep.scratch_bytes, 1), np.uint8)
    ptr = lambda a: ffi.NULL if a is None else ffi.cast("void *", ffi.from_buffer(a))
    cptrs = [ptr(c) for c in consts]
    ck = keep = None
    if checked:
        ck, keep = abft_struct(ffi, prep.abft, cptrs)
    fn, args = prep.invoke(lib, [ptr(a) for a in bufs], [ptr(out)], cptrs, ptr(scratch), abft=ck)
    fn(*args)
    del keep
    return out, ck


def check(prep, arrays, rng, weights_checked=True):
    """The clean checked call equals the unchecked one and counts every checksum with
    none exceeded; 12 single-bit upsets of the packed weight rows: each that changes
    the output is counted (weights_checked; a depthwise conv predicts from the weights
    as it reads them, which the engine verifies by their seal instead)."""
    assert prep.abft is not None and prep.abft.side == lib.RADRT_ABFT_EXACT
    plain, _ = invoke(prep, arrays, prep.constants, False)
    got, ck = invoke(prep, arrays, prep.constants, True)
    assert got.tobytes() == plain.tobytes()
    assert (ck.checked, ck.exceeded) == (prep.abft.checksums, 0)
    rows = prep.constants[0]
    for _ in range(12 if weights_checked else 0):
        upset = [c.copy() for c in prep.constants]
        flat = upset[0].view(np.uint8).reshape(-1)
        flat[rng.integers(rows.nbytes)] ^= np.uint8(1 << int(rng.integers(8)))
        out, ck = invoke(prep, arrays, upset, True)
        if out.tobytes() != plain.tobytes():
            assert ck.exceeded > 0


def ints(rng, dtype, shape):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), requant=st.booleans(), x_type=st.sampled_from([np.uint8, np.int8]),
       w_type=st.sampled_from([np.uint8, np.int8]), y_type=st.sampled_from([np.uint8, np.int8]),
       layout=st.sampled_from(["dense", "grouped", "depthwise", "pointwise"]), per_channel=st.booleans(),
       batch=st.integers(1, 2))
def test_integer_conv_checksums_are_exact(seed, requant, x_type, w_type, y_type, layout, per_channel, batch):
    rng = np.random.default_rng(seed)
    group = {"dense": 1, "grouped": 2, "depthwise": 4, "pointwise": 1}[layout]
    cin = group if layout == "depthwise" else group * int(rng.integers(1, 5))
    cin = 32 if layout == "pointwise" else cin
    cout = group * int(rng.integers(1, 4))
    k = (1, 1) if layout == "pointwise" else tuple(int(v) for v in rng.integers(1, 4, 2))
    x = ints(rng, x_type, (batch, cin, int(rng.integers(k[0], 9)), int(rng.integers(k[1], 9))))
    w = ints(rng, w_type, (cout, cin // group) + k)
    n_ch = cout if per_channel else 1
    x_zp = ints(rng, x_type, ())
    w_zp = ints(rng, w_type, (n_ch,) if per_channel else ())
    attrs = dict(group=group)
    if layout != "pointwise":
        attrs.update(pads=[int(v) for v in rng.integers(0, 2, 4)], strides=[int(v) for v in rng.integers(1, 3, 2)])
    if requant:
        scales = [np.float32(rng.choice([0.01, 0.5])), (rng.choice([0.001, 0.03, 0.3], n_ch)).astype(np.float32),
                  np.float32(rng.choice([0.005, 0.1, 2.0]))]
        if not per_channel:
            scales[1] = scales[1].reshape(())
        bias = (ints(rng, np.int16, (cout,)).astype(np.int32) * 4) if rng.random() < 0.5 else None
        arrays = [x, scales[0], x_zp, w, scales[1], w_zp, scales[2], ints(rng, y_type, ()), bias]
        prep = prepare("QLinearConv", arrays, [False] + [True] * 8, attrs)
    else:
        arrays = [x, w, x_zp, w_zp]
        prep = prepare("ConvInteger", arrays, [False, True, False, True], attrs)
    check(prep, arrays, rng, weights_checked=not (cin // group == 1 and group > 1))   # depthwise: see check


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), op=st.sampled_from(["MatMulInteger", "QLinearMatMul", "QGemm"]),
       a_type=st.sampled_from([np.uint8, np.int8]), b_type=st.sampled_from([np.uint8, np.int8]),
       per_column=st.booleans())
def test_integer_matmul_checksums_are_exact(seed, op, a_type, b_type, per_column):
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(1, 40, 3))
    batch = (int(rng.integers(1, 3)),) if op != "QGemm" else ()
    a = ints(rng, a_type, batch + (m, k))
    b = ints(rng, b_type, (k, n))
    n_col = n if per_column else 1
    a_zp, b_zp = ints(rng, a_type, ()), ints(rng, b_type, (n_col,) if per_column else ())
    a_scale = np.float32(rng.choice([0.01, 0.5]))
    b_scale = rng.choice([0.001, 0.03, 0.3], n_col).astype(np.float32).reshape((n_col,) if per_column else ())
    y = [np.float32(rng.choice([0.005, 0.1, 2.0])), ints(rng, a_type, ())]
    attrs, domain = {}, ""
    if op == "MatMulInteger":
        arrays, const = [a, b, a_zp, b_zp], [False, True, False, True]
    elif op == "QLinearMatMul":
        arrays, const = [a, a_scale, a_zp, b, b_scale, b_zp] + y, [False] + [True] * 7
    else:
        trans_b = bool(rng.integers(2))
        bias = ints(rng, np.int16, (n,)).astype(np.int32) if rng.random() < 0.5 else None
        arrays = [a, a_scale, a_zp, b.T.copy() if trans_b else b, b_scale, b_zp, bias]
        arrays += y if rng.random() < 0.5 else []   # float output without y_scale
        const = [False] + [True] * (len(arrays) - 1)
        attrs, domain = dict(transB=int(trans_b), alpha=float(rng.choice([1.0, 0.5]))), "com.microsoft"
    check(prepare(op, arrays, const, attrs, domain), arrays, rng)

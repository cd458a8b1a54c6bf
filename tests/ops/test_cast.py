"""Cast and CastLike between float32 and the other supported element types."""
import numpy as np
import pytest
from onnx import TensorProto

import runtime
from runtime.errors import UnsupportedOpError

from .oneop import model

ONNX_TYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
              np.dtype(np.float64): TensorProto.DOUBLE, np.dtype(np.int8): TensorProto.INT8,
              np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int16): TensorProto.INT16,
              np.dtype(np.uint16): TensorProto.UINT16, np.dtype(np.int32): TensorProto.INT32,
              np.dtype(np.uint32): TensorProto.UINT32, np.dtype(np.int64): TensorProto.INT64,
              np.dtype(np.uint64): TensorProto.UINT64, np.dtype(np.bool_): TensorProto.BOOL}
OTHERS = [t for t in ONNX_TYPES if t != np.float32]
INTEGERS = [t for t in OTHERS if np.issubdtype(t, np.integer)]


def cast_model(x, to, like=False):
    to = np.dtype(to)
    if like:
        return model("CastLike", inputs=[("x", x)], initializers=[("like", np.zeros((1,), to))], opset=21,
                     name="node0", output_types=[ONNX_TYPES[to]])
    return model("Cast", inputs=[("x", x)], attrs={"to": ONNX_TYPES[to]}, opset=21, name="node0",
                 output_types=[ONNX_TYPES[to]])


def run(x, to, like=False):
    return runtime.InferenceSession(cast_model(x, to, like)).run(None, {"x": x})[0]


def in_range_floats(dtype, n=257, seed=0):
    """float32 values that every type represents after truncation toward zero."""
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.choice(np.float32([0.0, -0.0, 1.0, -2.5, 1e-30, np.inf]), n)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    lo, hi = (max(info.min, -1e6), min(info.max, 1e6)) if info else (-1e4, 1e4)
    return rng.uniform(lo, hi, n).astype(np.float32)


@pytest.mark.parametrize("like", [False, True], ids=["Cast", "CastLike"])
@pytest.mark.parametrize("dtype", OTHERS, ids=str)
def test_float32_to_type_matches_numpy(dtype, like):
    x = in_range_floats(dtype)
    got = run(x, dtype, like)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, x.astype(dtype))


@pytest.mark.parametrize("dtype", OTHERS, ids=str)
def test_type_to_float32_matches_numpy(dtype):
    x = in_range_floats(dtype).astype(dtype)
    if dtype in (np.int64, np.uint64, np.int32, np.uint32):
        x = np.concatenate([x, np.array([np.iinfo(dtype).max, np.iinfo(dtype).min, 16777217], dtype)])
    got = run(x, np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))


def test_float16_round_trip_is_bit_exact_for_every_half():
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    as_float = run(halves, np.float32)
    np.testing.assert_array_equal(as_float.view(np.uint32), halves.astype(np.float32).view(np.uint32))
    back = run(as_float, np.float16)
    nan = np.isnan(halves)
    assert (back.view(np.uint16)[~nan] == halves.view(np.uint16)[~nan]).all()
    assert np.isnan(back[nan]).all()


def test_float32_to_float16_rounds_like_numpy():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[~np.isnan(x)]
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    np.testing.assert_array_equal(run(x, np.float16).view(np.uint16), want.view(np.uint16))


def test_float64_to_float32_rounds_like_numpy():
    x = np.random.default_rng(2).standard_normal(1000) * 1e3
    x = np.concatenate([x, [1e300, -1e300, np.inf, 1e-300]])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(run(x, np.float32), x.astype(np.float32))


def test_float_to_int_truncates_toward_zero():
    x = np.float32([-2.9, -2.5, -0.7, -0.0, 0.7, 2.5, 2.9])
    np.testing.assert_array_equal(run(x, np.int32), np.int32([-2, -2, 0, 0, 0, 2, 2]))


@pytest.mark.parametrize("dtype", INTEGERS, ids=str)
def test_float_to_int_saturates_and_maps_nan_to_zero(dtype):
    info = np.iinfo(dtype)
    x = np.float32([np.nan, np.inf, -np.inf, 1e30, -1e30, float(info.max) * 4, -1.5])
    want = [0, info.max, info.min, info.max, info.min, info.max, max(info.min, -1)]
    np.testing.assert_array_equal(run(x, dtype), np.array(want, dtype))


def test_float_to_bool_is_nonzero():
    x = np.float32([0.0, -0.0, 1.0, -1e-40, np.nan, np.inf])
    np.testing.assert_array_equal(run(x, np.bool_), [False, False, True, True, True, True])


def test_same_type_cast_is_a_copy():
    x = np.arange(10, dtype=np.int64)
    np.testing.assert_array_equal(run(x, np.int64), x)


def test_cast_between_two_non_float32_types_is_unsupported():
    x = np.zeros((3,), np.int64)
    with pytest.raises(UnsupportedOpError, match=r"Cast node 'node0': cast from int64 to int32 is not supported"):
        runtime.InferenceSession(cast_model(x, np.int32))


def test_unsupported_target_type_is_named():
    m = model("Cast", inputs=[("x", np.zeros((2,), np.float32))], attrs={"to": TensorProto.BFLOAT16}, opset=21,
              name="node0", output_types=[TensorProto.BFLOAT16])
    with pytest.raises(UnsupportedOpError, match=r"Cast node 'node0': cast to element type 16 is not supported"):
        runtime.InferenceSession(m)


@pytest.mark.parametrize("dtype", OTHERS, ids=str)
def test_runs_are_bit_identical(dtype):
    x = in_range_floats(dtype, n=1003, seed=3)
    sess = runtime.InferenceSession(cast_model(x, dtype))
    assert sess.run(None, {"x": x})[0].tobytes() == sess.run(None, {"x": x})[0].tobytes()

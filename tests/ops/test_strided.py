"""Transpose, Slice, Expand, Tile (one strided copy each) vs onnxruntime and numpy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from runtime.errors import CompileError
from tests.ops.oneop import (assert_deterministic, check_frozen_node_case, compare, node_case_names, one_node,
                             run_radrt)

DTYPES = [np.float32, np.int64, np.bool_, np.uint8, np.float16]


def data(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 10).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_dtypes(dtype):
    x = data((2, 3, 4, 5), dtype)
    m = one_node("Transpose", x, attrs={"perm": [0, 2, 3, 1]})
    np.testing.assert_array_equal(run_radrt(m, x)[0], x.transpose(0, 2, 3, 1))


def test_transpose_default_reverses():
    x = data((3, 4, 5))
    np.testing.assert_array_equal(run_radrt(one_node("Transpose", x), x)[0], x.T)


def test_channel_shuffle():
    x = data((1, 4, 6, 7, 7))  # ShuffleNet: (1, g, c, h, w) -> (1, c, g, h, w)
    m = one_node("Transpose", x, attrs={"perm": [0, 2, 1, 3, 4]})
    np.testing.assert_array_equal(run_radrt(m, x)[0], x.transpose(0, 2, 1, 3, 4))


def test_transpose_large_2d_tiles():
    x = data((67, 131))  # not a multiple of the 16x16 tile
    np.testing.assert_array_equal(run_radrt(one_node("Transpose", x), x)[0], x.T)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_transpose_property(shape, rnd):
    perm = list(range(len(shape)))
    rnd.shuffle(perm)
    x = data(tuple(shape))
    compare(one_node("Transpose", x, attrs={"perm": perm}), x, exact=True)


def test_transpose_bad_perm():
    x = data((2, 3))
    with pytest.raises(CompileError, match=r"Transpose node 'transpose1': perm \[0, 0\] is not a permutation"):
        run_radrt(one_node("Transpose", x, attrs={"perm": [0, 0]}), x)


@pytest.mark.parametrize("name", node_case_names("test_slice", "test_expand", "test_tile"))
def test_node_cases_with_constant_inputs(name):
    check_frozen_node_case(name)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(-8, 8), st.integers(-8, 8),
                          st.sampled_from([1, 2, 3, -1, -2])), min_size=1, max_size=4))
def test_slice_property(spec):
    shape = tuple(s[0] for s in spec)
    x = data(shape)
    starts = np.array([s[1] for s in spec], np.int64)
    ends = np.array([s[2] for s in spec], np.int64)
    steps = np.array([s[3] for s in spec], np.int64)
    axes = np.arange(len(spec), dtype=np.int64)
    compare(one_node("Slice", x, [starts, ends, axes, steps]), x, exact=True)


def test_slice_int64_extremes_and_negative_step():
    x = data((5, 6), np.int64)
    starts, ends = np.array([2**63 - 1, 0]), np.array([-2**63, 6])
    steps = np.array([-2, 1])
    m = one_node("Slice", x, [starts, ends, np.array([0, 1]), steps])
    np.testing.assert_array_equal(run_radrt(m, x)[0], x[::-2])


def test_slice_opset9_attributes():
    x = data((4, 5))
    m = one_node("Slice", x, attrs={"starts": [1, -3], "ends": [3, 100], "axes": [0, 1]}, opset=9)
    np.testing.assert_array_equal(run_radrt(m, x)[0], x[1:3, -3:])


def test_slice_runtime_starts_compile_on_their_value():
    x = data((4, 5))
    starts = np.array([1], np.int64)
    m = one_node("Slice", x, runtime_inputs=(starts, np.array([3], np.int64)))
    (y,) = run_radrt(m, x, starts, np.array([3], np.int64))
    np.testing.assert_array_equal(y, x[1:3])


def test_slice_zero_step():
    x = data((4,))
    m = one_node("Slice", x, [np.array([0]), np.array([3]), np.array([0]), np.array([0])])
    with pytest.raises(CompileError, match="step of axis 0 is 0"):
        run_radrt(m, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_expand_and_tile_dtypes(dtype):
    x = data((3, 1, 2), dtype)
    np.testing.assert_array_equal(run_radrt(one_node("Expand", x, [np.array([2, 3, 4, 2])]), x)[0],
                                  np.broadcast_to(x, (2, 3, 4, 2)))
    np.testing.assert_array_equal(run_radrt(one_node("Tile", x, [np.array([2, 3, 1])]), x)[0],
                                  np.tile(x, (2, 3, 1)))


def test_expand_bad_shape():
    x = data((3, 2))
    with pytest.raises(CompileError, match=r"cannot be broadcast to \(4, 2\)"):
        run_radrt(one_node("Expand", x, [np.array([4, 2])]), x)


def test_deterministic():
    x = data((2, 8, 9, 3))
    assert_deterministic(one_node("Transpose", x, attrs={"perm": [0, 3, 1, 2]}), x)
    assert_deterministic(one_node("Slice", x, [np.array([7]), np.array([0]), np.array([1]), np.array([-3])]), x)

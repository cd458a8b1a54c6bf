"""Gather: constant and runtime indices, negative indices, bounds checks."""
import numpy as np
import pytest

from runtime.errors import CompileError, ModelLoadError
from runtime.ops.gather import GatherIndexError
from tests.ops.oneop import (assert_deterministic, compare, one_node, run_radrt)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.uint8])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_runtime_indices(dtype, index_dtype, axis):
    x = np.arange(3 * 4 * 5).reshape(3, 4, 5).astype(dtype)
    idx = np.array([[0, -1], [2, 1]], index_dtype)
    m = one_node("Gather", x, runtime_inputs=(idx,), attrs={"axis": axis})
    np.testing.assert_array_equal(run_radrt(m, x, idx)[0], np.take(x, idx, axis=axis))
    compare(m, x, idx, exact=True)
    assert_deterministic(m, x, idx)


def test_gather_constant_indices_scalar():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    m = one_node("Gather", x, [np.array(-2, np.int64)], attrs={"axis": 1})
    np.testing.assert_array_equal(run_radrt(m, x)[0], x[:, -2])


def test_gather_constant_index_out_of_range():
    x = np.zeros((3, 4), np.float32)
    m = one_node("Gather", x, [np.array([0, 4], np.int64)], attrs={"axis": 1})
    with pytest.raises(CompileError, match=r"Gather node 'gather1': index 4 is out of range for axis 1 of size 4"):
        run_radrt(m, x)


@pytest.mark.parametrize("bad", [3, -4, 2**40, -2**62])
def test_gather_runtime_index_out_of_range_raises(bad):
    x = np.ones((3, 2), np.float32)
    idx = np.array([0, bad], np.int64)
    m = one_node("Gather", x, runtime_inputs=(idx,))
    with pytest.raises(GatherIndexError, match=r"Gather node 'gather1': 1 of 2 runtime indices are out of "
                                               r"range for axis 0 of size 3 \(expected values in \[-3, 2\]\)"):
        run_radrt(m, x, idx)


def test_gather_bad_index_dtype():
    x = np.zeros((3,), np.float32)
    m = one_node("Gather", x, [np.array([0.0], np.float32)])
    # the schema's Tind refuses it at load; compile checks it again (dtype float32, expected int32 or int64)
    with pytest.raises(ModelLoadError, match=r"input 1 \(indices\) 'c0' has type tensor\(float\), Gather-13 allows "
                                             r"tensor\(int32\) or tensor\(int64\)"):
        run_radrt(m, x)

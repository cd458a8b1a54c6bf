"""Concat and Split vs numpy and onnxruntime, any element type."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from runtime.errors import CompileError
from tests.ops.oneop import (assert_deterministic, check_frozen_node_case, compare, model, node_case_names,
                             one_node, run_radrt)


def concat_model(shapes, axis, dtype=np.float32):
    """Concat of graph inputs x0, x1, ... of these shapes."""
    inputs = [(f"x{k}", np.zeros(sh, dtype)) for k, sh in enumerate(shapes)]  # they type the graph inputs
    return model("Concat", inputs=inputs, attrs={"axis": axis}, opset=13, name="concat1", output_types=[None])


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.int8])
def test_channel_concat(dtype):
    xs = [np.arange(np.prod(s)).reshape(s).astype(dtype) for s in [(1, 3, 4, 4), (1, 5, 4, 4), (1, 1, 4, 4)]]
    out = run_radrt(concat_model([x.shape for x in xs], 1, dtype), *xs)[0]
    np.testing.assert_array_equal(out, np.concatenate(xs, axis=1))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_concat_property(shape, draw):
    axis = draw.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = draw.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    shapes = []
    for n in sizes:
        s = list(shape)
        s[axis] = n
        shapes.append(tuple(s))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    compare(concat_model(shapes, axis), *xs, exact=True)


def test_concat_mismatch():
    a, b = np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 4), np.float32)
    with pytest.raises(CompileError, match=r"Concat node 'concat1': input 1 has shape \(1, 2, 4\), "
                                           r"expected \(1, 2, 3\) except along axis 1"):
        run_radrt(concat_model([a.shape, b.shape], 1), a, b)


@pytest.mark.parametrize("name", node_case_names("test_split_equal", "test_split_variable",
                                                 "test_split_zero", "test_split_1d", "test_split_2d"))
def test_split_node_cases_with_constant_inputs(name):
    check_frozen_node_case(name)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_split_sizes(dtype):
    x = np.arange(2 * 7 * 3).reshape(2, 7, 3).astype(dtype)
    m = one_node("Split", x, [np.array([2, 0, 5])], attrs={"axis": 1}, opset=13, n_outputs=3)
    outs = run_radrt(m, x)
    for got, want in zip(outs, np.split(x, [2, 2], axis=1)):
        np.testing.assert_array_equal(got, want)
    compare(m, x, exact=True)
    assert_deterministic(m, x)


def test_split_bad_sizes():
    x = np.zeros((2, 7), np.float32)
    m = one_node("Split", x, [np.array([2, 4])], attrs={"axis": 1}, opset=13, n_outputs=2)
    with pytest.raises(CompileError, match=r"Split node 'split1': split sizes \[2, 4\] must be 2 "
                                           r"non-negative values summing to 7"):
        run_radrt(m, x)

"""The memory budget (issue 9 §4): `max_memory_bytes` refuses, before anything is
allocated, a tensor, a compile-time table, a scratch buffer or a plan above it.

Cases that used to allocate many GiB run in a child process under an address-space
cap (RLIMIT_AS, 3 GiB): if a check regresses, the child gets a MemoryError or dies
and the test fails, instead of the machine swapping.
"""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import runtime
from runtime import sizes
from runtime.errors import CompileError, InvalidArgumentError, MemoryBudgetError
from runtime.plan import plan_memory
from runtime.compile import compile_graph
from runtime.load import load_model
from tests.isolated import CASES, GIB, run_isolated
from tests.test_sizes import build

CAP = 3 * GIB  # address space of the child processes
BUDGET = 1 * GIB  # explicit budget, so results do not depend on this machine's memory


def capped_session(tmp_path, model: onnx.ModelProto, **kwargs) -> str:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return run_isolated(f"""
        import runtime
        report(lambda: runtime.InferenceSession({str(path)!r}, **{kwargs!r}) and "created")
    """, address_space_bytes=CAP)


def relu_model(shape):
    return build([helper.make_node("Relu", ["x"], ["y"], name="relu1")],
                 [("x", TensorProto.FLOAT, shape)], [("y", TensorProto.FLOAT, shape)])


def pad_model(x_shape, pads):
    return build([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad1")],
                 [("x", TensorProto.FLOAT, x_shape)], [("y", TensorProto.FLOAT, None)],
                 [("pads", np.array(pads, np.int64))], opset=13)


# ---- the cases --------------------------------------------------------------------------

def test_memory_large_regions_memset(tmp_path):
    """Relu on a declared (3,1000,1000,1000) input: 12 GB input and output regions were
    aligned_alloc'ed and memset."""
    result = capped_session(tmp_path, relu_model((3, 1000, 1000, 1000)), max_memory_bytes=BUDGET)
    assert result.startswith("MemoryBudgetError | Relu node 'relu1': input 'x' (shape (3, 1000, 1000, 1000)) "
                             "needs 12000000000 bytes, above the memory budget of 1073741824 bytes"), result


def test_memory_large_expand(tmp_path):
    """Expand to (1e9, 3): 12 GB output."""
    m = build([helper.make_node("Expand", ["x", "shape"], ["y"], name="expand1")],
              [("x", TensorProto.FLOAT, (1, 3))], [("y", TensorProto.FLOAT, None)],
              [("shape", np.array([10 ** 9, 3], np.int64))], opset=13)
    result = capped_session(tmp_path, m, max_memory_bytes=BUDGET)
    assert result.startswith("MemoryBudgetError | Expand node 'expand1': output 'y' (shape (1000000000, 3)) "
                             "needs 12000000000 bytes"), result


def test_memory_pad_table_huge(tmp_path):
    """Pads of 2e9: the 2e9-entry index table was built before anything checked it."""
    result = capped_session(tmp_path, pad_model((2, 3), [0, 10 ** 9, 0, 10 ** 9]), max_memory_bytes=BUDGET)
    assert result.startswith("MemoryBudgetError | Pad node 'pad1': output 'y' (shape (2, 2000000003)) needs "
                             "16000000024 bytes, above the memory budget of 1073741824 bytes"), result


def test_pad_table_of_an_empty_tensor_is_bounded_too(tmp_path):
    """A (0, 3) input padded by 1e9: the output has 0 bytes, its index table would not."""
    result = capped_session(tmp_path, pad_model((0, 3), [0, 10 ** 9, 0, 10 ** 9]), max_memory_bytes=BUDGET)
    assert result.startswith("MemoryBudgetError | Pad node 'pad1': pad index tables needs"), result


def test_pool_padded_plane_scratch_is_budgeted(tmp_path):
    m = build([helper.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[1, 1 << 34],
                                pads=[0, 0, 0, (1 << 34) - 4])],
              [("x", TensorProto.FLOAT, (1, 1, 1, 4))], [("y", TensorProto.FLOAT, None)])
    result = capped_session(tmp_path, m, max_memory_bytes=BUDGET)
    assert result.startswith("MemoryBudgetError | MaxPool node 'pool1': padded plane scratch needs"), result


@pytest.mark.skipif(not CASES.is_dir(), reason="shared/cases/trust/models is not beside the repo")
@pytest.mark.parametrize("case", ["memory_large_regions_memset", "memory_pad_table_huge"])
def test_shared_case_models_under_a_cap(case):
    result = run_isolated(f"""
        import runtime
        report(lambda: runtime.InferenceSession({str(CASES / case / 'model.onnx')!r},
                                                max_memory_bytes={BUDGET}))
    """, address_space_bytes=CAP)
    assert result.startswith("MemoryBudgetError |"), result


@pytest.mark.skipif(sizes.default_max_memory_bytes() >= 24 * 10 ** 9,
                    reason="this machine's default budget (50% of RAM) holds the 24 GB the case needs")
def test_memory_large_regions_with_the_default_budget(tmp_path):
    assert capped_session(tmp_path, relu_model((3, 1000, 1000, 1000))).startswith("MemoryBudgetError |")


# ---- the plan's total, per protection mode ------------------------------------------------

def gemm_model():
    """A 512 KiB weight matrix (256 x 512 float32)."""
    w = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)
    return build([helper.make_node("Gemm", ["x", "w"], ["y"], name="gemm1")],
                 [("x", TensorProto.FLOAT, (1, 256))], [("y", TensorProto.FLOAT, None)], [("w", w)])


def test_total_counts_weight_copies_and_replicas():
    data = gemm_model().SerializeToString()
    plan = runtime.InferenceSession(data).compiled.plan
    r = plan.region_bytes
    assert plan.total_bytes("none") == r["weights"] + r["arena"] + r["input"] + r["output"]
    assert plan.total_bytes("tmr") == 3 * r["weights"] + 3 * (r["arena"] + r["input"] + r["output"])
    assert plan.total_bytes("dwc") == 2 * r["weights"] + 3 * (r["arena"] + r["input"] + r["output"])
    budget = plan.total_bytes("none") + 1000  # fits one copy, not three
    s = runtime.InferenceSession(data, max_memory_bytes=budget)
    with pytest.raises(MemoryBudgetError) as info:
        runtime.InferenceSession(data, max_memory_bytes=budget, protection="tmr")
    message = str(info.value)
    assert f"needs {plan.total_bytes('tmr')} bytes in protection 'tmr'" in message
    assert f"memory budget of {budget} bytes" in message and info.value.value == plan.total_bytes("tmr")
    # switching protection checks the budget too, and leaves the session as it was
    with pytest.raises(MemoryBudgetError):
        s.set_protection("tmr")
    assert s.protection == "none"
    x = np.ones((1, 256), np.float32)
    np.testing.assert_array_equal(s.run(None, {"x": x})[0], runtime.InferenceSession(data).run(None, {"x": x})[0])


def test_plan_total_names_the_largest_buffer_and_its_node():
    loaded = load_model(relu_model((1000, 1000)).SerializeToString())
    g = compile_graph(loaded, max_memory_bytes=10 ** 9)
    with pytest.raises(MemoryBudgetError) as info:
        plan_memory(g, max_memory_bytes=5 * 10 ** 6)
    e = info.value
    assert e.node == "relu1" and e.value == 8 * 10 ** 6
    assert "largest buffer: 'y' of node 'relu1', 4000000 bytes" in str(e)
    assert isinstance(e, CompileError)


def test_a_tensor_at_the_budget_passes_one_byte_over_does_not():
    assert sizes.check_bytes(None, 100, "t", budget=100) == 100
    with pytest.raises(MemoryBudgetError, match="t needs 101 bytes, above the memory budget of 100 bytes"):
        sizes.check_bytes(None, 101, "t", budget=100)
    with sizes.memory_budget(100):
        with pytest.raises(MemoryBudgetError):
            sizes.check_tensor("n1", (26,), np.float32, "output 'y'")
    assert sizes.current_budget() is None


# ---- the argument -------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, 1.5, "1000", True, float("nan"), [1]])
def test_max_memory_bytes_must_be_a_positive_int(bad):
    with pytest.raises(InvalidArgumentError) as info:
        runtime.InferenceSession(relu_model((2, 3)).SerializeToString(), max_memory_bytes=bad)
    assert info.value.argument == "max_memory_bytes"


def test_default_budget_is_half_of_physical_memory():
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert sizes.default_max_memory_bytes() == int(physical * 0.5)
    s = runtime.InferenceSession(relu_model((2, 3)).SerializeToString())
    assert s.compiled.plan.max_memory_bytes == int(physical * 0.5)
    s = runtime.InferenceSession(relu_model((2, 3)).SerializeToString(), max_memory_bytes=np.int64(10 ** 6))
    assert s.compiled.plan.max_memory_bytes == 10 ** 6


def test_symbolic_inputs_are_budgeted_when_compiled_for_a_feed():
    m = build([helper.make_node("Relu", ["x"], ["y"], name="relu1")],
              [("x", TensorProto.FLOAT, ("n", 3))], [("y", TensorProto.FLOAT, None)])
    s = runtime.InferenceSession(m.SerializeToString(), max_memory_bytes=4096)
    assert s.run(None, {"x": np.ones((2, 3), np.float32)})[0].shape == (2, 3)
    with pytest.raises(MemoryBudgetError):
        s.run(None, {"x": np.ones((1000, 3), np.float32)})

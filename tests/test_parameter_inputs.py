"""Parameters fed at run time (pads, axes, starts, scales, sizes, repeats, shape, k):
the session compiles on the fed value (compile.parameter_inputs), once per distinct
signature, in a bounded cache; against numpy and onnxruntime."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper

from runtime import InferenceSession
from runtime.compile import parameter_inputs
from runtime.errors import CompileError, InvalidArgumentError
from runtime.load import load_model
from runtime.session import COMPILE_CACHE_SIZE, MAX_PARAMETER_ELEMENTS


def model(nodes, inputs, outputs, opset=18) -> bytes:
    def vi(name, elem, shape):
        return helper.make_tensor_value_info(name, elem, shape)
    g = helper.make_graph(nodes, "g", [vi(*i) for i in inputs], [vi(*o) for o in outputs])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


F, I64 = TensorProto.FLOAT, TensorProto.INT64
PAD = model([helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")],
            [("x", F, [2, 3]), ("pads", I64, [4])], [("y", F, None)])


def test_pad_compiles_on_each_fed_value_and_keeps_a_bounded_cache():
    sess = InferenceSession(PAD, scrub_interval_s=None)
    with pytest.raises(CompileError, match=r"parameter inputs \(pads; 'pads' reaches Pad node"):
        sess.compiled
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for _ in range(COMPILE_CACHE_SIZE + 2):
            pads = rng.integers(0, 3, 4)
            (y,) = sess.run(None, {"x": x, "pads": pads})
            want = np.pad(x, [(pads[0], pads[2]), (pads[1], pads[3])])
            assert np.array_equal(y, want)
    assert len(sess._compile_cache) == COMPILE_CACHE_SIZE


def test_parameter_input_traced_through_arithmetic_but_not_through_shape():
    nodes = [helper.make_node("Concat", ["a", "b"], ["pads"], axis=0),
             helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
             helper.make_node("Shape", ["z"], ["zs"]),
             helper.make_node("Expand", ["p", "zs"], ["y"])]
    m = model(nodes, [("x", F, [1, 2]), ("a", I64, [2]), ("b", I64, [2]), ("z", F, [3, 1, 1])], [("y", F, None)])
    found = parameter_inputs(load_model(m))
    assert set(found) == {"a", "b"}
    assert len(found["a"]) == 1 and found["a"][0].startswith("Pad node") and found["a"][0].endswith("input 1")
    x = np.array([[1.0, 2.0]], np.float32)
    (y,) = InferenceSession(m, scrub_interval_s=None).run(
        None, {"x": x, "a": np.array([0, 1]), "b": np.array([0, 0]), "z": np.zeros((3, 1, 1), np.float32)})
    assert np.array_equal(y, np.broadcast_to(np.array([[0.0, 1.0, 2.0]], np.float32), (3, 1, 3)))


def test_a_large_parameter_input_is_refused_by_name():
    n = MAX_PARAMETER_ELEMENTS + 1
    m = model([helper.make_node("Reshape", ["x", "shape"], ["y"])], [("x", F, [None]), ("shape", I64, [None])],
              [("y", F, None)])
    sess = InferenceSession(m, scrub_interval_s=None)
    with pytest.raises(InvalidArgumentError, match=rf"input 'shape' reaches a compile-time parameter .*"
                                                   rf"holds {n} elements, expected at most {MAX_PARAMETER_ELEMENTS}"):
        sess.run(None, {"x": np.zeros(1, np.float32), "shape": np.ones(n, np.int64)})


@pytest.mark.parametrize("protect", ["tmr", "abft"])
def test_protected_sessions_recompile_on_a_new_value(protect):
    sess = InferenceSession(PAD, protection=protect, scrub_interval_s=None)
    x = np.ones((2, 3), np.float32)
    for pads in ([1, 0, 0, 0], [0, 0, 2, 1], [1, 0, 0, 0]):
        (y,) = sess.run(None, {"x": x, "pads": np.array(pads)})
        assert y.shape == (2 + pads[0] + pads[2], 3 + pads[1] + pads[3]) and y.sum() == 6
    assert sess.health()["uncorrectable"] == 0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_slice_with_fed_starts_ends_axes_steps_matches_the_spec(data):
    """Against the spec's clamping rules (Slice-13: a negative-step start clamps to
    [0, dim - 1], its end to [-1, dim - 1]), written out here; onnxruntime agrees.
    onnx's reference evaluator does not (it slices as numpy, which gives an empty
    result for x[-2:-2:-2] of one element where the spec gives that element)."""
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                              unique_by=lambda a: a % rank))
    starts = [data.draw(st.integers(-7, 7)) for _ in axes]
    ends = [data.draw(st.integers(-7, 7)) for _ in axes]
    steps = [data.draw(st.sampled_from([-2, -1, 1, 2, 3])) for _ in axes]
    m = model([helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
              [("x", F, shape), ("s", I64, [len(axes)]), ("e", I64, [len(axes)]), ("a", I64, [len(axes)]),
               ("t", I64, [len(axes)])], [("y", F, None)])
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    feeds = {"x": x, "s": np.array(starts), "e": np.array(ends), "a": np.array(axes), "t": np.array(steps)}
    (y,) = InferenceSession(m, scrub_interval_s=None).run(None, feeds)
    want = x
    for a, s, e, t in zip(axes, starts, ends, steps):
        dim = shape[a % rank]
        s, e = s + dim if s < 0 else s, e + dim if e < 0 else e
        s, e = (min(max(s, 0), dim), min(max(e, 0), dim)) if t > 0 else \
            (min(max(s, 0), dim - 1), min(max(e, -1), dim - 1))
        want = np.take(want, list(range(s, e, t)), axis=a % rank)
    assert y.shape == want.shape and np.array_equal(y, want)
    ort = pytest.importorskip("onnxruntime")
    (ref,) = ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, feeds)
    assert np.array_equal(y, ref)


def test_resize_with_fed_scales_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    m = model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
              [("x", F, [1, 2, 3, 4]), ("scales", F, [4])], [("y", F, None)])
    x = np.random.default_rng(0).random((1, 2, 3, 4), dtype=np.float32)
    sess = InferenceSession(m, scrub_interval_s=None)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    ref = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
    for scales in ([1, 1, 2, 2], [1, 1, 0.5, 1.5], [1, 1, 3, 1]):
        feeds = {"x": x, "scales": np.array(scales, np.float32)}
        (got,) = sess.run(None, feeds)
        (want,) = ref.run(None, feeds)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_cached_signature_is_budget_checked_for_the_current_mode():
    """A signature compiled under none and cached, taken again after set_protection("tmr"):
    its memory plan is checked against the budget for tmr's replicas, not reused unchecked."""
    from runtime.errors import MemoryBudgetError
    pad = model([helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant")],
                [("x", F, [64, 64]), ("pads", I64, [4])], [("y", F, None)])
    x = np.ones((64, 64), np.float32)
    small, big = np.array([0, 0, 0, 0]), np.array([0, 0, 0, 256])
    probe = InferenceSession(pad, scrub_interval_s=None)
    probe.run(None, {"x": x, "pads": big})
    tmr_big = probe.compiled.plan.total_bytes("tmr")
    probe.run(None, {"x": x, "pads": small})
    tmr_small = probe.compiled.plan.total_bytes("tmr")
    assert tmr_small < tmr_big
    sess = InferenceSession(pad, scrub_interval_s=None, max_memory_bytes=(tmr_small + tmr_big) // 2)
    sess.run(None, {"x": x, "pads": big})      # fits under none; cached
    sess.run(None, {"x": x, "pads": small})
    sess.set_protection("tmr")                 # the small signature fits tmr
    with pytest.raises(MemoryBudgetError, match="protection 'tmr'"):
        sess.run(None, {"x": x, "pads": big})  # the cached big one does not

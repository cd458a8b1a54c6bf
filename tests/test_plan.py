"""Stage 3 (plan): buffers alive at the same time never share bytes, and reuse saves memory."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from runtime import InferenceSession
from runtime.plan import ALIGN

from .helpers import make_model, relu_chain


def check_plan(sess):
    """Assert the arena invariant for a compiled session; return the plan."""
    plan = sess.compiled.plan
    alias = sess.compiled.graph.alias
    live = {}
    for s in plan.steps:
        for p in s.outs + [s.scratch]:
            if p is not None and p.region == "arena":
                live.setdefault(p, [s.index, s.index])
        for p in s.ins + [s.scratch]:
            if p is not None and p.region == "arena":
                live[p][1] = max(live[p][1], s.index)
    items = list(live.items())
    for i, (p, (f1, l1)) in enumerate(items):
        assert p.offset % ALIGN == 0
        assert p.offset + p.nbytes <= plan.region_bytes["arena"]
        for q, (f2, l2) in items[i + 1:]:
            if not (l1 < f2 or l2 < f1):
                assert p.offset + p.nbytes <= q.offset or q.offset + q.nbytes <= p.offset, (p, q)
    assert all(alias.get(n, n) for n in sess.compiled.graph.outputs)
    return plan


def test_chain_reuses_two_buffers():
    sess = InferenceSession(relu_chain(n=6, shape=(64, 64)))
    plan = check_plan(sess)
    buf = 64 * 64 * 4
    assert plan.region_bytes["arena"] == 2 * buf  # ping-pong between two buffers
    assert plan.arena_unshared_bytes == 5 * buf
    assert plan.region_bytes["output"] == buf and plan.region_bytes["input"] == buf


@st.composite
def relu_dags(draw):
    """A random DAG of Relu nodes: node i reads one earlier value; some values are outputs."""
    n = draw(st.integers(2, 12))
    sizes = [draw(st.sampled_from([1, 5, 16, 33])) for _ in range(n + 1)]
    nodes, names = [], ["x"]
    for i in range(n):
        src = draw(st.integers(0, i))
        nodes.append(helper.make_node("Relu", [names[src]], [f"v{i}"], name=f"r{i}"))
        names.append(f"v{i}")
    outs = sorted(set(draw(st.lists(st.integers(1, n), min_size=1, max_size=3))))
    return nodes, [names[o] for o in outs]


@given(relu_dags())
@settings(max_examples=60, deadline=None)
def test_random_dags_never_overlap_live_buffers_and_compute_right(dag):
    nodes, outs = dag
    sess = InferenceSession(make_model(nodes, [("x", [7])], [(o, [7]) for o in outs]))
    check_plan(sess)
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    for y in sess.run(None, {"x": x}):
        np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_output_that_is_an_input_or_a_second_view_gets_a_copy():
    nodes = [helper.make_node("Identity", ["x"], ["same"]),
             helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["r2"])]
    data = make_model(nodes, [("x", [2, 3])], [("same", [2, 3]), ("r", [2, 3]), ("r2", [3, 2])],
                      initializers=[("shape", np.array([3, 2], np.int64))])
    sess = InferenceSession(data)
    check_plan(sess)
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    same, r, r2 = sess.run(None, {"x": x})
    np.testing.assert_array_equal(same, x)
    np.testing.assert_array_equal(r, np.maximum(x, 0))
    np.testing.assert_array_equal(r2, np.maximum(x, 0).reshape(3, 2))
    assert [s.node.op_type for s in sess.compiled.plan.steps] == ["Relu", "Copy", "Copy"]


def test_model_value_names_never_meet_the_plans_own_buffers():
    """The plan's own buffers (kernel constants, scratch, output copies) are keyed apart from
    model values: a value named like one of them ('conv/const0', '#scratch0', 'y#output')
    keeps its own bytes. Before, 'conv/const0' read the Conv's packed weights (error 1.37)."""
    import onnxruntime as ort
    rng = np.random.default_rng(0)
    w = ("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    odd = [(name, rng.standard_normal((1, 4, 1, 1)).astype(np.float32))
           for name in ("conv/const0", "conv/const1", "#scratch0", "y#output")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "conv/const0"], ["a0"], name="add0"),
             helper.make_node("Mul", ["a0", "conv/const1"], ["a1"], name="mul1"),
             helper.make_node("Add", ["a1", "#scratch0"], ["a2"], name="add2"),
             helper.make_node("Sub", ["a2", "y#output"], ["y"], name="sub3")]
    model = make_model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])], [w] + odd)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    for disabled in ((), ("fuse_mul_add",)):
        (got,) = InferenceSession(model, disabled_passes=disabled).run(None, {"x": x})
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        (want,) = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _greedy_by_scan(names, values, first, last):
    """The arena placement before the per-step index: every placed buffer scanned."""
    from runtime.plan import Placement, _align
    placed, out = [], {}
    for b in sorted(names, key=lambda b: (-values[b].nbytes, first[b])):
        size = _align(max(values[b].nbytes, 1))
        offset = 0
        for o, e in sorted((o, e) for o, e, f, l in placed if not (l < first[b] or last[b] < f)):
            if offset + size <= o:
                break
            offset = max(offset, e)
        placed.append((offset, offset + size, first[b], last[b]))
        out[b] = Placement("arena", offset, values[b].nbytes)
    return out


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 300), st.integers(0, 150)), min_size=1,
                max_size=120))
def test_indexed_arena_placement_equals_the_full_scan(buffers):
    """The step index only speeds up finding overlapping lifetimes (linear compile of a
    long chain instead of quadratic); the placement is the one the full scan gives,
    with lifetimes short (indexed) and long (scanned) mixed."""
    from types import SimpleNamespace
    from runtime.plan import _greedy_arena
    names = [f"b{i}" for i in range(len(buffers))]
    values = {n: SimpleNamespace(nbytes=s) for n, (s, _, _) in zip(names, buffers)}
    first = {n: f for n, (_, f, _) in zip(names, buffers)}
    last = {n: f + d for n, (_, f, d) in zip(names, buffers)}
    assert _greedy_arena(names, values, first, last) == _greedy_by_scan(names, values, first, last)

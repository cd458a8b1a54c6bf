"""LSTM, GRU and RNN (runtime/rnn.py: unrolled into kernel ops at compile time), against
onnxruntime over random attributes: directions, layouts, clip, activations,
linear_before_reset, initial states, peepholes, biases, weights as initializers or fed;
under tmr an upset in the recurrent weights is corrected."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import CompileError, UnsupportedOpError

ort = pytest.importorskip("onnxruntime")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def build(op, T, B, I, H, direction, layout, bias, h0, c0, peep, clip, acts, lbr, constant_weights, seed,
          lens=None, lens_fed=True):
    """A one-node model and its feeds. lens: sequence_lens (int32, fed or, lens_fed=False,
    an initializer); X is NaN past each entry's length (padding the op must not read)."""
    rng = np.random.default_rng(seed)
    nd = 2 if direction == "bidirectional" else 1
    G = GATES[op]
    arrays = {"X": rng.normal(0, 1, (B, T, I) if layout else (T, B, I)).astype(np.float32),
              "W": rng.normal(0, 0.5, (nd, G * H, I)).astype(np.float32),
              "R": rng.normal(0, 0.5, (nd, G * H, H)).astype(np.float32)}
    names = ["X", "W", "R"]
    state = (B, nd, H) if layout else (nd, B, H)
    if lens is not None:
        for b_, n in enumerate(lens):
            if layout:
                arrays["X"][b_, n:] = np.nan
            else:
                arrays["X"][n:, b_] = np.nan
    optional = [("B", bias, (nd, 2 * G * H)), ("sequence_lens", lens is not None, None), ("initial_h", h0, state),
                ("initial_c", c0 and op == "LSTM", state), ("P", peep and op == "LSTM", (nd, 3 * H))]
    for name, present, shape in optional:
        if present:
            arrays[name] = (np.array(lens, np.int32) if name == "sequence_lens"
                            else rng.normal(0, 0.5, shape).astype(np.float32))
            names.append(name)
        else:
            names.append("")
    while names and names[-1] == "":
        names.pop()
    attrs = dict(hidden_size=H, direction=direction, layout=layout)
    if clip is not None:
        attrs["clip"] = clip
    if acts is not None:
        attrs["activations"] = acts * nd
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    n_out = 3 if op == "LSTM" else 2
    outs = ["Y", "Y_h", "Y_c"][:n_out]
    node = helper.make_node(op, names, outs, **attrs)
    constant = {"W", "R"} if constant_weights else set()
    if lens is not None and not lens_fed:
        constant.add("sequence_lens")
    inits = [numpy_helper.from_array(arrays[n], n) for n in sorted(constant)]
    feeds = {n: a for n, a in arrays.items() if n not in constant}
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
              for n, a in feeds.items()]
    g = helper.make_graph([node], "rnn", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None)
                                                  for o in outs], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString(), feeds


def ort_run(model, feeds):
    """onnxruntime. It does not run layout=1 (batchwise): for that, the same node with
    layout=0 on transposed inputs, its outputs transposed back."""
    import onnx
    proto = onnx.load_from_string(model)
    node = proto.graph.node[0]
    if any(a.name == "layout" and a.i == 1 for a in node.attribute):
        for a in node.attribute:
            if a.name == "layout":
                a.i = 0
        feeds = dict(feeds)
        swap = {"X": (1, 0, 2), "initial_h": (1, 0, 2), "initial_c": (1, 0, 2)}
        for vi in proto.graph.input:
            if vi.name in swap:
                feeds[vi.name] = np.ascontiguousarray(feeds[vi.name].transpose(swap[vi.name]))
                dims = vi.type.tensor_type.shape.dim
                a, b = dims[0].dim_value, dims[1].dim_value
                dims[0].dim_value, dims[1].dim_value = b, a
        outs = ort_run(proto.SerializeToString(), feeds)
        return [o.transpose(2, 0, 1, 3) if o.ndim == 4 else o.transpose(1, 0, 2) for o in outs]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, feeds)


@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(["LSTM", "GRU", "RNN"]), T=st.integers(1, 5), B=st.integers(1, 3), I=st.integers(1, 4),
       H=st.integers(1, 4), direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       layout=st.integers(0, 1), bias=st.booleans(), h0=st.booleans(), c0=st.booleans(), peep=st.booleans(),
       clip=st.sampled_from([None, 0.7, 3.0]), lbr=st.integers(0, 1), constant_weights=st.booleans(),
       seed=st.integers(0, 1000))
def test_recurrent_ops_match_onnxruntime(op, T, B, I, H, direction, layout, bias, h0, c0, peep, clip, lbr,
                                         constant_weights, seed):
    model, feeds = build(op, T, B, I, H, direction, layout, bias, h0, c0, peep, clip, None, lbr,
                         constant_weights, seed)
    got = InferenceSession(model, scrub_interval_s=None).run(None, feeds)
    want = ort_run(model, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,acts", [("LSTM", ["HardSigmoid", "Relu", "Tanh"]), ("GRU", ["Sigmoid", "LeakyRelu"]),
                                     ("RNN", ["Relu"])])
def test_other_activations(op, acts):
    model, feeds = build(op, 4, 2, 3, 3, "bidirectional", 0, True, True, True, False, None, acts, 1, True, 7)
    for g, w in zip(InferenceSession(model, scrub_interval_s=None).run(None, feeds), ort_run(model, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_unsupported_parts_are_refused_by_name():
    model, feeds = build("RNN", 3, 2, 2, 2, "forward", 0, False, False, False, False, None, ["Softsign"], 0, True, 1)
    with pytest.raises(UnsupportedOpError, match="activation 'Softsign' is not supported"):
        InferenceSession(model, scrub_interval_s=None).run(None, feeds)


@st.composite
def sequence_cases(draw):
    T, B = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    lens = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    return T, B, lens


@settings(max_examples=80, deadline=None)
@given(op=st.sampled_from(["LSTM", "GRU", "RNN"]), case=sequence_cases(), I=st.integers(1, 3), H=st.integers(1, 3),
       direction=st.sampled_from(["forward", "reverse", "bidirectional"]), layout=st.integers(0, 1),
       bias=st.booleans(), h0=st.booleans(), c0=st.booleans(), peep=st.booleans(),
       clip=st.sampled_from([None, 0.7]), lbr=st.integers(0, 1), lens_fed=st.booleans(), seed=st.integers(0, 1000))
def test_sequence_lens_match_onnxruntime(op, case, I, H, direction, layout, bias, h0, c0, peep, clip, lbr,
                                         lens_fed, seed):
    """Lengths from 0 to T per batch entry, X NaN past them: Y is 0 there, Y_h (Y_c) the
    state at the last valid step (0 for an empty sequence, as onnxruntime)."""
    T, B, lens = case
    model, feeds = build(op, T, B, I, H, direction, layout, bias, h0, c0, peep, clip, None, lbr, True, seed,
                         lens=lens, lens_fed=lens_fed)
    got = InferenceSession(model, scrub_interval_s=None).run(None, feeds)
    want = ort_run(model, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_each_entry_runs_its_own_sequence(op, direction):
    """The spec's meaning, without onnxruntime: entry b of a batch with lengths L is the
    same model run alone on X[:L_b] (reverse: from L_b - 1 down to 0), its Y padded with 0."""
    T, B, I, H, lens = 5, 4, 3, 2, [5, 3, 1, 0]
    model, feeds = build(op, T, B, I, H, direction, 0, True, True, True, True, None, None, 1, True, 11, lens=lens)
    got = InferenceSession(model, scrub_interval_s=None).run(None, feeds)
    for b_, n in enumerate(lens):
        if n == 0:
            assert all(not g[..., b_, :].any() for g in got)
            continue
        one = {k: v for k, v in feeds.items() if k != "sequence_lens"}
        one["X"] = np.ascontiguousarray(feeds["X"][:n, b_:b_ + 1])
        for k in ("initial_h", "initial_c"):
            if k in one:
                one[k] = np.ascontiguousarray(feeds[k][:, b_:b_ + 1])
        alone = InferenceSession(_alone(model, n), scrub_interval_s=None).run(None, one)
        np.testing.assert_allclose(got[0][:n, :, b_:b_ + 1], alone[0], rtol=1e-5, atol=1e-6)
        assert not got[0][n:, :, b_].any()
        for g, a in zip(got[1:], alone[1:]):
            np.testing.assert_allclose(g[:, b_:b_ + 1], a, rtol=1e-5, atol=1e-6)


def _alone(model, n):
    """`model` (layout 0, weights initializers) for one batch entry of length n: the same
    weights, X [n, 1, I], initial states [D, 1, H], no sequence_lens."""
    import onnx
    m = onnx.load_from_string(model)
    m.graph.node[0].input[4] = ""
    keep = [vi for vi in m.graph.input if vi.name != "sequence_lens"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    for vi in m.graph.input:
        dims = vi.type.tensor_type.shape.dim
        if vi.name == "X":
            dims[0].dim_value, dims[1].dim_value = n, 1
        elif vi.name in ("initial_h", "initial_c"):
            dims[1].dim_value = 1
    return m.SerializeToString()


@pytest.mark.parametrize("lens, match", [
    ([3, 4], r"sequence_lens \[3, 4\]: every entry must be in \[0, 3\]"),
    ([-1, 2], r"sequence_lens \[-1, 2\]: every entry must be in \[0, 3\]"),
])
def test_sequence_lengths_outside_the_sequence_are_refused(lens, match):
    model, feeds = build("GRU", 3, 2, 2, 2, "forward", 0, False, False, False, False, None, None, 0, True, 1,
                         lens=[3, 3])
    sess = InferenceSession(model, scrub_interval_s=None)
    with pytest.raises(CompileError, match=match):
        sess.run(None, {**feeds, "sequence_lens": np.array(lens, np.int32)})


def test_tmr_corrects_an_upset_in_lstm_weights():
    model, feeds = build("LSTM", 6, 2, 4, 5, "bidirectional", 0, True, True, True, True, None, None, 0, True, 3)
    golden = InferenceSession(model, scrub_interval_s=None).run(None, feeds)
    sess = InferenceSession(model, protection="tmr", scrub_interval_s=None)
    n = sess.compiled.plan.region_bytes["weights"] // 4
    for word in np.random.default_rng(0).choice(n, 5, replace=False):
        sess.inject("weights/copy0", 4 * int(word) + 3, 6)
        got = sess.run(None, feeds)
        assert all(g.tobytes() == w.tobytes() for g, w in zip(got, golden))
    assert sess.health()["uncorrectable"] == 0

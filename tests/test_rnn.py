"""LSTM, GRU and RNN (runtime/rnn.py: unrolled into kernel ops at compile time), against
onnxruntime over random attributes: directions, layouts, clip, activations,
linear_before_reset, initial states, peepholes, biases, weights as initializers or fed;
under tmr an upset in the recurrent weights is corrected."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from runtime import InferenceSession
from runtime.errors import UnsupportedOpError

ort = pytest.importorskip("onnxruntime")
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def build(op, T, B, I, H, direction, layout, bias, h0, c0, peep, clip, acts, lbr, constant_weights, seed):
    rng = np.random.default_rng(seed)
    nd = 2 if direction == "bidirectional" else 1
    G = GATES[op]
    arrays = {"X": rng.normal(0, 1, (B, T, I) if layout else (T, B, I)).astype(np.float32),
              "W": rng.normal(0, 0.5, (nd, G * H, I)).astype(np.float32),
              "R": rng.normal(0, 0.5, (nd, G * H, H)).astype(np.float32)}
    names = ["X", "W", "R"]
    state = (B, nd, H) if layout else (nd, B, H)
    optional = [("B", bias, (nd, 2 * G * H)), ("sequence_lens", False, None), ("initial_h", h0, state),
                ("initial_c", c0 and op == "LSTM", state), ("P", peep and op == "LSTM", (nd, 3 * H))]
    for name, present, shape in optional:
        if present:
            arrays[name] = rng.normal(0, 0.5, shape).astype(np.float32)
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
    inits = [numpy_helper.from_array(arrays[n], n) for n in ("W", "R") if constant_weights]
    feeds = {n: a for n, a in arrays.items() if not (constant_weights and n in ("W", "R"))}
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, a.shape) for n, a in feeds.items()]
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


def test_variable_sequence_lengths_are_refused():
    model, feeds = build("GRU", 3, 2, 2, 2, "forward", 0, False, False, False, False, None, None, 0, True, 1)
    import onnx
    m = onnx.load_from_string(model)
    m.graph.node[0].input[4:] = ["sequence_lens"] if len(m.graph.node[0].input) > 4 else []
    while len(m.graph.node[0].input) < 5:
        m.graph.node[0].input.append("" if len(m.graph.node[0].input) < 4 else "sequence_lens")
    m.graph.input.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [2]))
    sess = InferenceSession(m.SerializeToString(), scrub_interval_s=None)
    full = sess.run(None, {**feeds, "sequence_lens": np.array([3, 3], np.int32)})
    np.testing.assert_allclose(full[0], ort_run(m.SerializeToString(), {**feeds, "sequence_lens":
                                                                        np.array([3, 3], np.int32)})[0], rtol=1e-5)
    with pytest.raises(UnsupportedOpError, match=r"sequence_lens \[3, 1\]: radrt runs full sequences only"):
        sess.run(None, {**feeds, "sequence_lens": np.array([3, 1], np.int32)})


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

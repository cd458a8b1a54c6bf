"""Unary activations and math, Clip and PRelu, against numpy and onnxruntime."""
import math
from functools import partial

import numpy as np
import pytest

import runtime
from runtime.errors import CompileError, UnsupportedOpError

from .oneop import model, ort_output, radrt_output

make_model = partial(model, opset=17, name="node0")


def sample(shape=(2, 3, 5, 7), seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def sigmoid(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)


NUMPY = {
    "Relu": lambda x: np.maximum(x, 0), "Sigmoid": sigmoid, "Tanh": np.tanh,
    "Erf": np.vectorize(math.erf, otypes=[np.float32]), "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt,
    "Neg": np.negative, "Abs": np.abs, "Reciprocal": np.reciprocal, "Floor": np.floor, "Ceil": np.ceil,
    "HardSwish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
}
POSITIVE_ONLY = {"Log", "Sqrt"}


@pytest.mark.parametrize("op", sorted(NUMPY))
def test_unary_matches_numpy_and_onnxruntime(op):
    x = sample()
    if op in POSITIVE_ONLY:
        x = np.abs(x) + np.float32(1e-3)
    if op == "Reciprocal":
        x = np.where(np.abs(x) < 0.1, np.float32(1), x).astype(np.float32)
    model = make_model(op, [("x", x)])
    got = radrt_output(model, {"x": x})
    np.testing.assert_allclose(got, NUMPY[op](x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, ort_output(model, {"x": x}), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", sorted(NUMPY))
def test_unary_special_values(op):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -0.5, 0.5, 1e30, -1e30, 2.5, -2.5], np.float32)
    with np.errstate(all="ignore"):
        want = NUMPY[op](x).astype(np.float32)
    got = radrt_output(make_model(op, [("x", x)]), {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    if op in ("Floor", "Ceil", "Neg", "Abs"):
        assert got.tobytes() == want.tobytes()  # exact, signed zeros included


def test_leaky_relu_and_hard_sigmoid_attributes():
    x = sample()
    got = radrt_output(make_model("LeakyRelu", [("x", x)], alpha=0.2), {"x": x})
    np.testing.assert_allclose(got, np.where(x < 0, 0.2 * x, x), rtol=1e-6)
    got = radrt_output(make_model("LeakyRelu", [("x", x)]), {"x": x})
    np.testing.assert_allclose(got, np.where(x < 0, 0.01 * x, x), rtol=1e-6)
    got = radrt_output(make_model("HardSigmoid", [("x", x)], alpha=0.3, beta=0.4), {"x": x})
    np.testing.assert_allclose(got, np.clip(0.3 * x + 0.4, 0, 1), rtol=1e-6, atol=1e-7)
    got = radrt_output(make_model("HardSigmoid", [("x", x)]), {"x": x})
    np.testing.assert_allclose(got, np.clip(0.2 * x + 0.5, 0, 1), rtol=1e-6, atol=1e-7)


def test_clip_with_constant_bounds():
    x = sample()
    lo, hi = np.array(-1.5, np.float32), np.array(2.0, np.float32)
    got = radrt_output(make_model("Clip", [("x", x)], [("lo", lo), ("hi", hi)]), {"x": x})
    np.testing.assert_array_equal(got, np.clip(x, -1.5, 2.0))
    only_max = make_model("Clip", [("x", x)], [("hi", hi)], node_inputs=["x", "", "hi"])
    np.testing.assert_array_equal(radrt_output(only_max, {"x": x}), np.minimum(x, 2.0))
    no_bounds = make_model("Clip", [("x", x)])
    np.testing.assert_array_equal(radrt_output(no_bounds, {"x": x}), x)


def test_clip_min_greater_than_max_gives_max():
    x = sample()
    lo, hi = np.array(2.0, np.float32), np.array(1.0, np.float32)
    got = radrt_output(make_model("Clip", [("x", x)], [("lo", lo), ("hi", hi)]), {"x": x})
    np.testing.assert_array_equal(got, np.full_like(x, 1.0))


def test_clip_opset6_attributes_and_defaults():
    x = np.array([-np.inf, -3.0, 0.5, 3.0, np.inf, np.nan], np.float32)
    got = radrt_output(make_model("Clip", [("x", x)], opset=6, min=-1.0, max=1.0), {"x": x})
    np.testing.assert_array_equal(got, np.array([-1, -1, 0.5, 1, 1, np.nan], np.float32))
    fmax = np.finfo(np.float32).max
    got = radrt_output(make_model("Clip", [("x", x)], opset=6), {"x": x})
    np.testing.assert_array_equal(got, np.array([-fmax, -3, 0.5, 3, fmax, np.nan], np.float32))


def test_clip_runtime_bound_compiles_on_its_value():
    """A bound fed at run time: the session compiles on the fed value (runtime.session)."""
    x = sample()
    sess = runtime.InferenceSession(make_model("Clip", [("x", x), ("lo", np.array(0.0, np.float32))]))
    for lo in (0.0, -1.5, 2.0):
        (y,) = sess.run(None, {"x": x, "lo": np.array(lo, np.float32)})
        np.testing.assert_array_equal(y, np.maximum(x, np.float32(lo)))


def test_clip_non_scalar_bound_is_rejected():
    x, lo = sample(), np.zeros((2,), np.float32)
    with pytest.raises(CompileError, match=r"Clip node 'node0': input 1 \(min\) has shape \(2,\), expected a scalar"):
        runtime.InferenceSession(make_model("Clip", [("x", x)], [("lo", lo)]))


@pytest.mark.parametrize("slope_shape", [(5, 1, 1), (1,), (7,), (2, 5, 4, 7), (1, 5, 1, 7)])
@pytest.mark.parametrize("constant", [True, False])
def test_prelu_broadcasts_slope(slope_shape, constant):
    x = sample((2, 5, 4, 7))
    slope = np.random.default_rng(1).uniform(0, 1, slope_shape).astype(np.float32)
    if constant:
        model, feeds = make_model("PRelu", [("x", x)], [("slope", slope)]), {"x": x}
    else:
        model, feeds = make_model("PRelu", [("x", x), ("slope", slope)]), {"x": x, "slope": slope}
    got = radrt_output(model, feeds)
    np.testing.assert_allclose(got, np.where(x < 0, x * slope, x), rtol=1e-6)
    np.testing.assert_allclose(got, ort_output(model, feeds), rtol=1e-5, atol=1e-6)


def test_prelu_slope_that_does_not_broadcast_to_x_is_rejected():
    x, slope = sample((2, 5, 4, 7)), np.ones((2, 1, 1, 1, 1), np.float32)
    with pytest.raises(CompileError, match=r"PRelu node 'node0': slope of shape \(2, 1, 1, 1, 1\) does not "
                                           r"broadcast to X of shape \(2, 5, 4, 7\)"):
        runtime.InferenceSession(make_model("PRelu", [("x", x)], [("slope", slope)]))
    with pytest.raises(CompileError, match=r"slope of shape \(3,\) does not broadcast"):
        runtime.InferenceSession(make_model("PRelu", [("x", x)], [("slope", np.ones(3, np.float32))]))


def test_non_float32_input_is_unsupported():
    x = np.zeros((3,), np.float64)
    with pytest.raises(UnsupportedOpError, match=r"Sigmoid node 'node0': input 0 has dtype float64"):
        runtime.InferenceSession(make_model("Sigmoid", [("x", x)], output_types=[None]))


@pytest.mark.parametrize("op", sorted(NUMPY) + ["LeakyRelu", "HardSigmoid", "Clip", "PRelu"])
def test_runs_are_bit_identical(op):
    x = sample((3, 8, 9, 9), seed=7)
    if op in POSITIVE_ONLY:
        x = np.abs(x)
    inits = [("slope", np.full((8, 1, 1), 0.25, np.float32))] if op == "PRelu" else []
    sess = runtime.InferenceSession(make_model(op, [("x", x)], inits))
    first = sess.run(None, {"x": x})[0]
    # Unaligned sizes and offsets must not change a value either.
    assert first.tobytes() == sess.run(None, {"x": x})[0].tobytes()
    odd = x.reshape(-1)[1:1 + 1001].copy()
    sess_odd = runtime.InferenceSession(make_model(op, [("x", odd)], [("slope", np.float32([0.25]))]
                                                   if op == "PRelu" else []))
    assert sess_odd.run(None, {"x": odd})[0].tobytes() == first.reshape(-1)[1:1 + 1001].tobytes()


@pytest.mark.parametrize("op,reference,max_ulp", [
    ("Exp", np.exp, 1.0),
    ("Sigmoid", lambda x: 1 / (1 + np.exp(-x)), 2.5),
    ("Tanh", np.tanh, 6.0),
])
def test_vectorised_transcendentals_stay_within_their_ulp_bounds(op, reference, max_ulp):
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(-110, 95, 100_000), rng.uniform(-1, 1, 50_000),
                        rng.uniform(-1e-3, 1e-3, 10_000)]).astype(np.float32)
    got = radrt_output(make_model(op, [("x", x)]), {"x": x}).astype(np.float64)
    with np.errstate(over="ignore"):
        want = reference(x.astype(np.float64))
        want32 = want.astype(np.float32)
    assert (np.isinf(got) == np.isinf(want32)).all() and ((got == 0) == (want32 == 0)).all()
    finite = np.isfinite(want32) & (want32 != 0)
    ulps = np.abs(got - want)[finite] / np.spacing(np.abs(want32[finite])).astype(np.float64)
    assert ulps.max() <= max_ulp

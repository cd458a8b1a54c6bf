import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import runtime
from fault_injection.models import digits_model_path, load_heldout
from fault_injection.models import train_digits as td

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_files_are_small_and_well_formed():
    path = digits_model_path()
    assert path.stat().st_size < 2 * 1024 * 1024
    assert path.with_name("digits_heldout.npz").stat().st_size < 2 * 1024 * 1024
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert model.ir_version == 8
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu", "Conv", "Relu", "MaxPool", "Flatten", "Gemm"]
    images, labels = load_heldout()
    assert images.dtype == np.float32 and images.shape == (450, 1, 8, 8)
    assert labels.dtype == np.int64 and labels.shape == (450,)
    assert images.min() >= 0.0 and images.max() <= 1.0
    # Stratified: every class is held out in proportion (about 45 of each).
    assert np.bincount(labels, minlength=10).min() >= 40


def test_radrt_classifies_the_heldout_set_like_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    images, labels = load_heldout()
    path = str(digits_model_path())
    rad = runtime.InferenceSession(path)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rad_pred, ort_pred = [], []
    for img in images:
        (r,) = rad.run(None, {"input": img[None]})
        (o,) = ref.run(None, {"input": img[None]})
        np.testing.assert_allclose(r, o, rtol=1e-4, atol=1e-5)
        rad_pred.append(int(r.argmax()))
        ort_pred.append(int(o.argmax()))
    assert rad_pred == ort_pred
    accuracy = float(np.mean(np.array(rad_pred) == labels))
    assert accuracy >= 0.95


def test_radrt_is_deterministic_on_the_model():
    images, _ = load_heldout()
    sess = runtime.InferenceSession(str(digits_model_path()))
    first = sess.run(None, {"input": images[:1]})[0].tobytes()
    assert all(sess.run(None, {"input": images[:1]})[0].tobytes() == first for _ in range(3))


def test_accessors_do_not_import_sklearn():
    code = ("import sys; from fault_injection.models import digits_model_path, load_heldout; load_heldout();"
            "import runtime; runtime.InferenceSession(str(digits_model_path()));"
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stratified_split_is_fixed_and_disjoint():
    labels = np.repeat(np.arange(10), 20)
    train, held = td.stratified_split(labels, 3, 0.25)
    assert set(train).isdisjoint(held) and len(train) + len(held) == 200
    assert np.all(np.bincount(labels[held]) == 5)
    again = td.stratified_split(labels, 3, 0.25)
    assert np.array_equal(train, again[0]) and np.array_equal(held, again[1])


def test_backward_pass_matches_numerical_gradients():
    rng = np.random.default_rng(0)
    params = td.init_params(rng)
    params = {k: v + rng.normal(0, 0.05, v.shape) for k, v in params.items()}  # non-zero biases
    x = rng.random((3, 1, 8, 8))
    y = np.array([1, 4, 7])
    _, grads = td.loss_and_grads(params, x, y)
    eps = 1e-6
    for name, value in params.items():
        flat = value.reshape(-1)
        for idx in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            saved = flat[idx]
            flat[idx] = saved + eps
            up = td.loss_and_grads(params, x, y)[0]
            flat[idx] = saved - eps
            down = td.loss_and_grads(params, x, y)[0]
            flat[idx] = saved
            numeric = (up - down) / (2 * eps)
            assert grads[name].reshape(-1)[idx] == pytest.approx(numeric, rel=1e-4, abs=1e-7), name


def test_numpy_forward_matches_the_exported_graph():
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    params = td.init_params(rng)
    params = {k: (v + rng.normal(0, 0.05, v.shape)).astype(np.float32) for k, v in params.items()}
    model = td.to_onnx(params, accuracy=0.0, n_heldout=0)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.random((1, 1, 8, 8)).astype(np.float32)
    expected = td.forward(params, x)[0]
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], expected, rtol=1e-4, atol=1e-5)

"""The nine real CNN architectures shipped in the onnx wheel.

1. onnx's own BackendTest drives radrt through `runtime.backend` on each model
   with its shipped expected output and the model's tolerance.
2. The shipped weights are all 0.02, which proves little, so each model is also
   run with every weight re-drawn (seeded) against onnxruntime on random inputs.
"""
import numpy as np
import onnx
import onnx.backend.test
import pytest

import runtime.backend
from runtime import InferenceSession
from runtime.feeds import random_feeds
from runtime.randomize import randomize_weights
from runtime.zoo import LIGHT_MODELS, light_model_path

_backend_test = onnx.backend.test.BackendTest(runtime.backend, __name__)
for _name in LIGHT_MODELS:
    _backend_test.include(f"^test_{_name}_cpu$")
OnnxBackendRealModelTest = next(case for key, case in _backend_test.test_cases.items() if "Real" in key)


@pytest.fixture(autouse=True)
def _onnx_home(tmp_path, monkeypatch):
    # The BackendTest runner writes its dummy inputs under $ONNX_HOME.
    monkeypatch.setenv("ONNX_HOME", str(tmp_path))


def _ort(model_bytes):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_randomized_weights_match_onnxruntime(name):
    data = randomize_weights(onnx.load(light_model_path(name)), seed=7).SerializeToString()
    sess = InferenceSession(data)
    feeds = random_feeds(sess, seed=3)
    (got,) = sess.run(None, feeds)
    (want,) = _ort(data).run(None, feeds)
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5 * float(np.abs(want).max()))
    assert got.argmax() == want.argmax()

"""`radrt fi serve`'s accelerated upsets (fault_injection/upsets.py) on the flight server's
backend: seeded, counted, injected through the session, and nothing without a rate.
(The HIL scene, tests/link/test_serve.py, runs it end to end through `radrt fi serve`.)"""
import numpy as np
import pytest

from fault_injection.models import digits_model_path, load_heldout
from fault_injection.upsets import UpsetBackend
from runtime.errors import InvalidArgumentError
from runtime.link.server import SessionBackend, serve


def serve_images(backend, n=30):
    backend.load_model(digits_model_path().read_bytes())
    images, _ = load_heldout()
    outputs = [backend.run([images[i:i + 1].astype(np.float32)])[0] for i in range(n)]
    health = backend.health()
    backend.unload_model()
    return outputs, health


def test_upsets_are_seeded_counted_and_reach_the_session():
    first, second = UpsetBackend("tmr", 2.0, 7), UpsetBackend("tmr", 2.0, 7)
    out_a, health = serve_images(first)
    out_b, _ = serve_images(second)
    assert 30 < first.upsets_injected == second.upsets_injected < 100  # Poisson(60), same seed
    assert all(a.tobytes() == b.tobytes() for a, b in zip(out_a, out_b))
    assert health["upsets_detected"] > 0  # tmr saw them: they landed in the session


def test_without_a_rate_the_backend_is_the_flight_one():
    quiet, flight = UpsetBackend("none", 0.0, 7), SessionBackend("none")
    out_q, health = serve_images(quiet)
    out_f, _ = serve_images(flight)
    assert quiet.upsets_injected == 0 and health["upsets_detected"] == 0
    assert all(a.tobytes() == b.tobytes() for a, b in zip(out_q, out_f))


def test_serve_refuses_a_backend_built_for_another_protection(tmp_path):
    with pytest.raises(InvalidArgumentError, match="backend: protection 'none' differs from protect='tmr'"):
        serve("loop://", None, protect="tmr", slots_dir=str(tmp_path / "slots"), backend=UpsetBackend("none", 1.0))

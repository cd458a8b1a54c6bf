"""`radrt serve` as a process: the HIL scene, a kill -9 during an upload, key-file rules."""
import os
import signal
import subprocess
import sys
import time
import zlib

import numpy as np
import onnx
import pytest

from fault_injection.hil import run_hil
from fault_injection.models import digits_model_path, load_heldout
from runtime import InferenceSession
from runtime.link.controller import Controller
from runtime.link.packets import parse_tm
from runtime.link.slots import SlotState
from runtime.link.transport import FdStream, PacketLink, open_pty_pair
from runtime.randomize import randomize_weights

from .test_firmware import needs_cc


@needs_cc
def test_hil_200_inferences_over_a_noisy_line_with_upsets_are_all_right():
    s = run_hil(records=200, ber=1e-5, upset_rate=0.5, baud=115200, protect="tmr", seed=3)
    assert s["passed"], s
    assert s["records_ok"] == 200 and s["sdc"] == 0 and s["run_failed"] == 0
    assert s["upsets_injected"] > 50 and s["upsets_corrected"] > 0 and s["uncorrectable"] == 0
    assert s["server_exit"] == 0


@needs_cc
def test_radrt_serve_protects_with_abft_through_the_link():
    """`radrt serve --protect abft` (ICD v2 mode code 4) over the HIL line, with upsets."""
    s = run_hil(records=60, ber=1e-5, upset_rate=0.5, baud=115200, protect="abft", seed=4)
    assert s["passed"], s
    assert s["records_ok"] == 60 and s["sdc"] == 0 and s["run_failed"] == 0
    assert s["upsets_injected"] > 10 and s["uncorrectable"] == 0
    assert s["server_exit"] == 0


def start_server(port, slots, *extra):
    return subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--port", port, "--slots", str(slots),
                             "--protect", "tmr", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def stop(server):
    server.send_signal(signal.SIGTERM)
    _, err = server.communicate(timeout=30)
    return server.returncode, err


@pytest.fixture
def pty_controller():
    master, path = open_pty_pair()
    ctl = Controller(PacketLink(FdStream(master), parse_tm), timeout=3.0, retries=3)
    yield ctl, path
    ctl.link.close()


def digits_output(model_bytes, image):
    sess = InferenceSession(model_bytes, scrub_interval_s=None)
    return sess.run(None, {sess.get_inputs()[0].name: image})[0]


def test_kill_9_during_an_upload_restarts_serving_the_previous_model(tmp_path, pty_controller):
    ctl, port = pty_controller
    slots = tmp_path / "slots"
    image = load_heldout()[0][:1]
    model_a = digits_model_path().read_bytes()
    model_b = randomize_weights(onnx.load(digits_model_path()), seed=3).SerializeToString()

    server = start_server(port, slots, "--model", str(digits_model_path()))
    try:
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_a, image))
        # Begin an upload of model B and send its first chunk only, then kill -9.
        import hashlib
        import struct
        ctl.command(201, 1, struct.pack(">BI", 1, len(model_b)) + hashlib.sha256(model_b).digest())
        ctl.command(201, 2, struct.pack(">BI", 1, 0) + model_b[:1000])
        assert ctl.slot_status(1).state == SlotState.RECEIVING
    finally:
        server.kill()
        server.wait()
    server = start_server(port, slots, "--model", str(digits_model_path()))
    try:
        assert ctl.slot_status(1).state == SlotState.EMPTY
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_a, image))
        ctl.upload(1, model_b)
        assert ctl.slot_status(1).state == SlotState.COMMITTED
        ctl.activate(1)
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_b, image))
    finally:
        code, _ = stop(server)
    assert code == 0
    # After a restart the activated slot serves, not --model.
    server = start_server(port, slots, "--model", str(digits_model_path()))
    try:
        np.testing.assert_array_equal(ctl.infer([image]).outputs[0], digits_output(model_b, image))
    finally:
        stop(server)


def test_key_file_readable_by_others_is_refused(tmp_path):
    key = tmp_path / "key"
    key.write_text(bytes(range(32)).hex())
    os.chmod(key, 0o644)
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "serve", "--port", "loop://", "--slots",
                           str(tmp_path / "s"), "--key-file", str(key)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"key file '{key}' has mode -rw-r--r--" in done.stderr and "chmod 600" in done.stderr


def test_without_a_key_the_server_says_once_that_it_is_unauthenticated(tmp_path):
    server = start_server("loop://", tmp_path / "s", "--model", str(digits_model_path()))
    time.sleep(3)
    code, err = stop(server)
    assert code == 0
    assert err.count("NOT authenticated") == 1


def test_authenticated_serve_accepts_signed_and_rejects_unsigned(tmp_path):
    key = bytes(range(32))
    key_file = tmp_path / "key"
    key_file.write_text(key.hex())
    os.chmod(key_file, 0o600)
    # A fresh runtime (no counter file): the controller's counter (µs since the epoch)
    # is inside the 2^56 window from 0 (ICD-7-COUNTER-WINDOW).
    master, port = open_pty_pair()
    server = start_server(port, tmp_path / "s", "--model", str(digits_model_path()), "--key-file", str(key_file))
    try:
        signed = Controller(PacketLink(FdStream(master), parse_tm), key=key, timeout=3.0)
        signed.ping()
        hk = signed.hk()
        unsigned = Controller(signed.link, timeout=1.0, retries=0)
        with pytest.raises(Exception, match="AUTH_FAILED|5"):
            unsigned.ping()
        assert signed.hk()["auth_rejected"] == hk["auth_rejected"] + 1
    finally:
        stop(server)
        os.close(master)


def test_radrt_link_commands_against_radrt_serve(tmp_path):
    from fault_injection.line import LineImpairment, SerialLine
    a_master, a_path = open_pty_pair()
    b_master, b_path = open_pty_pair()
    line = SerialLine(FdStream(a_master), FdStream(b_master), LineImpairment(), LineImpairment()).start()
    server = start_server(a_path, tmp_path / "slots", "--model", str(digits_model_path()))
    image = load_heldout()[0][:1]
    np.save(tmp_path / "x.npy", image)

    def link(*args):
        done = subprocess.run([sys.executable, "-m", "runtime.cli", "link", *args, "--port", b_path, "--json",
                               "--state-dir", str(tmp_path / "state")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        import json
        return json.loads(done.stdout)

    try:
        assert link("ping")["round_trip_ms"] > 0
        assert link("mode", "dwc") == {"protection": "dwc"}
        hk = link("hk")
        assert hk["protection_mode"] == "dwc" and hk["protection_mode_code"] == 2
        result = link("infer", "--input", str(tmp_path / "x.npy"))
        want = digits_output(digits_model_path().read_bytes(), image)
        assert result["outputs"][0]["argmax"] == int(want.argmax())
        assert result["crc32"] == f"{zlib.crc32(want.tobytes()):08x}"
        assert result["input_crc32"] == f"{zlib.crc32(image.astype(np.float32).tobytes()):08x}"
        small = link("infer", "--input", str(tmp_path / "x.npy"), "--chunk-bytes", "64")  # 256 B in 4 chunks
        assert small["crc32"] == result["crc32"] and small["input_reruns"] == 0
        assert link("hk")["frames_ok"] >= 4 + 4 + 2
        assert link("scrub") == {"scrubbed": True}
        assert link("hk")["scrub_passes"] >= 1
        assert link("slot", "--slot", "0")["state"] == "EMPTY"
    finally:
        code, _ = stop(server)
        line.stop()
    assert code == 0

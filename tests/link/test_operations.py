"""Operations a ground crew can read: the runtime's event log (text and JSON), `radrt
link hk` with names, failures that name the TC and say what to do, transfer progress.

Unit tests first (formatter, HK naming, messages, progress callbacks over a fake
runtime), then the CLI end to end: `radrt serve --log-format json` and `radrt link ...`
as subprocesses over ptys.
"""
import io
import json
import logging
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fault_injection.models import digits_model_path
from runtime.link.cli import HK_ORDER, TransferProgress, hk_named
from runtime.link.catalogue import HK2_U32_FIELDS, HK_U8_FIELDS, HK_U32_FIELDS, ErrorCode, EventId
from runtime.link.controller import HINTS, CommandFailed, Controller, LinkTimeout
from runtime.link.oplog import EVENTS, ICD_EVENTS, JsonFormatter, TextFormatter, log_event, log_icd_event
from runtime.link.packets import SequenceCounter, parse_tm
from runtime.link.services import PayloadService
from runtime.link.slots import ModelSlots
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport

from .fakes import FakeBackend, Responder

X = np.arange(6, dtype=np.float32).reshape(2, 3)
RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


# -- the event log -----------------------------------------------------------------------

def _logger(formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"radrt.test.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_log_line_has_the_record_keys_and_the_event_fields():
    """Issue 12 item 6 (brief item 1): one JSON object per line with time (ISO 8601 UTC), level, logger,
    event, message and the event's fields."""
    logger, stream = _logger(JsonFormatter())
    log_event(logger, None, "model_activated", slot=1)
    log_event(logger, "warning", "upload_committed", slot=0, bytes=16255, sha256=b"\x01\xab")
    logger.info("a plain record, not through log_event")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert first["level"] == "INFO" and first["event"] == "model_activated" and first["slot"] == 1
    assert first["message"] == "slot 1 now serves" and first["logger"] == logger.name
    assert second["level"] == "WARNING" and second["sha256"] == "01ab" and second["bytes"] == 16255
    assert third["event"] == "log_message" and third["message"] == "a plain record, not through log_event"


def test_text_log_line_is_readable():
    """Issue 12 item 6 (brief item 1): text mode is `TIME LEVEL LOGGER EVENT: message [fields]`."""
    logger, stream = _logger(TextFormatter())
    log_event(logger, None, "mode_change", mode="tmr", mode_code=3, previous="dwc")
    line = stream.getvalue().rstrip("\n")
    assert re.fullmatch(rf"\S+Z INFO {re.escape(logger.name)} mode_change: protection dwc -> tmr "
                        r"\[mode=tmr mode_code=3 previous=dwc\]", line), line


def test_field_named_like_a_record_key_is_refused():
    """Issue 12 item 6: a field may not overwrite a record key (time) in the JSON line."""
    logger, _ = _logger(JsonFormatter())
    with pytest.raises(ValueError, match=r"log_event\('model_activated'\): field names \['time'\] are record keys"):
        log_event(logger, None, "model_activated", slot=1, time=3)


@pytest.mark.parametrize("event_id", list(EventId))
def test_every_icd_event_is_logged_with_named_fields(event_id):
    """ICD-9-EVENTS (§9): each event's aux1/aux2 are logged under their meaning, at the level of
    its severity (high → ERROR, medium → WARNING, info → INFO, low → DEBUG)."""
    logger, stream = _logger(JsonFormatter())
    log_icd_event(logger, event_id, 1, ErrorCode.REPLAY)
    record = json.loads(stream.getvalue())
    name, aux1, aux2 = ICD_EVENTS[event_id]
    assert record["event"] == name and name in EVENTS and record["event_id"] == int(event_id)
    assert record[aux1] == 1
    if aux2 == "code":
        assert record["code"] == 6 and record["code_name"] == "REPLAY"
    elif aux2:
        assert record[aux2] == int(ErrorCode.REPLAY)
    want = {EventId.UPSET_UNCORRECTABLE: "ERROR", EventId.SLOT_CORRUPT: "ERROR", EventId.MODEL_REJECTED: "WARNING",
            EventId.AUTH_FAILURE: "WARNING", EventId.MODEL_ACTIVATED: "INFO"}.get(event_id, "DEBUG")
    assert record["level"] == want
    assert "{" not in record["message"]  # every template field was given


def test_every_event_name_the_runtime_logs_is_in_the_catalogue():
    """The names are a stable interface (oplog.EVENTS documents each): a name used in
    runtime/ that the catalogue lacks fails here."""
    used = set()
    for path in RUNTIME.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"log_event\(\s*[\w.]+,\s*[^,]+,\s*\"(\w+)\"", text))
        used |= set(re.findall(r"[\"']event[\"']:\s*[\"'](\w+)[\"']", text))  # extra={"event": ...}
    assert {"runtime_started", "runtime_stopped", "no_model", "auth_disabled", "counters_reset", "mode_change",
            "upload_begun", "upload_committed", "slot_verification_failed", "counter_window"} <= used
    assert used - set(EVENTS) == set()


def test_the_runtime_logs_what_its_tcs_change(fake_link, caplog):
    """ICD-6-FUNCTIONS, ICD-4-SLOTS, ICD-9-EVENTS: one record per significant change, with
    its event name and fields: upload begun and committed, model activated, mode change,
    counters reset."""
    controller, _ = fake_link
    caplog.set_level(logging.INFO, logger="radrt.link")
    model = b"model bytes" * 100
    controller.upload(1, model)
    controller.activate(1)
    controller.set_protection("dwc")
    controller.reset_counters()
    records = [(r.event, r.fields) for r in caplog.records if hasattr(r, "event")]
    names = [name for name, _ in records]
    assert names == ["upload_begun", "upload_committed", "model_activated", "mode_change", "counters_reset"]
    assert records[1][1]["bytes"] == len(model) and records[2][1]["slot"] == 1
    assert records[3][1] == {"mode": "dwc", "mode_code": 2, "previous": "none"}


# -- housekeeping with names --------------------------------------------------------------

def test_hk_names_enumerations_and_keeps_the_codes():
    """ICD-5-HK (§5): protection_mode 3 is tmr, active_slot 255 means none; counters stay numbers."""
    raw = dict.fromkeys(HK_U32_FIELDS, 7)
    raw.update(active_slot=255, protection_mode=3)
    named = hk_named(raw)
    assert named["protection_mode"] == "tmr" and named["protection_mode_code"] == 3
    assert named["active_slot"] == "none" and named["active_slot_code"] == 255
    assert named["inferences_ok"] == 7
    assert list(named)[:len(HK_U32_FIELDS)] == list(HK_U32_FIELDS)
    raw.update(active_slot=1, protection_mode=4)
    assert hk_named(raw)["active_slot"] == 1 and hk_named(raw)["protection_mode"] == "abft"


def test_hk_structure_2_fields_follow_in_icd_order_and_unknown_ones_are_kept():
    """ICD-5-HK (§5) structure 2: structure 1's fields, then icd_version and the new counters.
    A field or mode code this controller does not know is shown, never dropped."""
    fields = HK_U32_FIELDS + HK_U8_FIELDS + ("icd_version",) + HK2_U32_FIELDS
    raw = {f: 0 for f in reversed(fields)}
    raw.update(protection_mode=9, future_counter=5)
    named = hk_named(raw)
    order = [k for k in named if not k.endswith("_code")]
    assert order == list(HK_ORDER) + ["future_counter"]
    assert named["protection_mode"] == "unknown mode code 9" and named["future_counter"] == 5


# -- failures that say what to do -------------------------------------------------------------

@pytest.fixture
def fake_link(tmp_path):
    master, path = open_pty_pair()
    service = PayloadService(FakeBackend(), ModelSlots(tmp_path / "slots"))
    responder = Responder(FdStream(master), service)
    responder.start()
    link = PacketLink(open_transport(path), parse_tm)
    yield Controller(link, timeout=1.0, retries=1), service
    responder.stop.set()
    responder.join()
    link.close()
    responder.stream.close()


def test_activating_an_empty_slot_names_the_tc_the_slot_and_what_to_do(fake_link):
    """ICD-6-FUNCTIONS (§6) ACTIVATE_SLOT: only a committed slot; the failure names the function, the
    request, the code with its number, the detail's meaning and the commands to run."""
    controller, _ = fake_link
    with pytest.raises(CommandFailed) as info:
        controller.activate(1)
    e = info.value
    assert e.code == ErrorCode.BAD_ARGUMENT and e.detail == 1 and e.stage == "completion"
    assert str(e) == (f"ACTIVATE_SLOT (TC[8,1]), request seq {e.seq_count}, failed at completion: "
                      "BAD_ARGUMENT (code 4), detail 1 = slot 1. What to do: only a committed slot can be "
                      "activated: radrt link slot --slot 1 shows its state; upload a model into it first: "
                      "radrt link upload MODEL --slot 1")
    assert e.as_dict()["code_name"] == "BAD_ARGUMENT" and e.as_dict()["tc"] == "ACTIVATE_SLOT (TC[8,1])"


def test_inference_without_a_model_says_to_upload_and_activate(fake_link):
    """ICD-8-CODES NO_MODEL (ICD-4-PUT-INPUT: the first input chunk is refused at acceptance), with
    the hint the brief asks for."""
    controller, service = fake_link
    service.backend.served = False
    with pytest.raises(CommandFailed, match=r"^PUT_INPUT_CHUNK \(TC\[200,1\]\), request seq \d+, failed at "
                                            r"acceptance: "
                                            r"NO_MODEL \(code 7\), detail 0\. What to do: upload a model and "
                                            r"activate it: radrt link upload/activate$"):
        controller.infer([X])


def test_every_error_code_has_a_hint():
    """ICD-8-CODES: an operator is told what to do about each code."""
    assert set(HINTS) == set(ErrorCode)


def test_unknown_error_code_is_shown_with_its_number():
    """ICD-8-CODES (u16): a code this controller does not know is named by its number."""
    e = CommandFailed(17, 1, "acceptance", 99, 5, seq_count=3)
    assert str(e).startswith("ARE_YOU_ALIVE (TC[17,1]), request seq 3, failed at acceptance: unknown code 99 "
                             "(code 99), "
                             "detail 5. What to do: a code this controller does not know")


def test_dead_link_says_where_it_looked_and_what_to_check():
    """ICD-7-ACK retries: after the last attempt the message names APID, port, baud rate
    and the attempts, with the timeout rounded for a person."""
    master, path = open_pty_pair()  # nothing answers on the other end
    link = PacketLink(open_transport(path), parse_tm)
    try:
        controller = Controller(link, timeout=0.1222222, retries=1, port_name=path, baud=115200)
        controller.sequence = SequenceCounter(0)
        with pytest.raises(LinkTimeout) as info:
            controller.ping()
    finally:
        link.close()
        os.close(master)
    assert str(info.value) == (f"ARE_YOU_ALIVE (TC[17,1]) seq 0: no completion from APID 0x0A0 on {path} after 2 "
                               "attempts of 0.12 s: check the port, the baud rate (115200) and the APID; "
                               "is `radrt serve` running?")


# -- progress --------------------------------------------------------------------------------

def test_upload_reports_progress_up_to_the_model_size_and_from_the_resumed_bytes(fake_link):
    """ICD-4-SLOTS TC[201,2]: progress(n) with the bytes the runtime already has, then with
    each chunk acknowledged, adding up to the model's size; a resumed upload starts at
    what the runtime has."""
    import hashlib
    controller, service = fake_link
    model = bytes(range(256)) * 40
    calls = []
    controller.upload(1, model, progress=calls.append)
    assert calls[0] == 0 and sum(calls) == len(model) and len(calls) == 1 + 3
    other = bytes(reversed(model))
    service.slots.begin(0, len(other), hashlib.sha256(other).digest())
    service.slots.write(0, 0, other[:4000])
    calls.clear()
    controller.upload(0, other, progress=calls.append)
    assert calls[0] == 4000 and sum(calls) == len(other)


def test_infer_reports_input_progress(fake_link):
    """ICD-4-PUT-INPUT TC[200,1]: progress(n) with each input chunk's bytes as it is staged."""
    controller, _ = fake_link
    calls = []
    controller.infer([X], progress=calls.append)
    assert calls == [X.nbytes]


def test_progress_lines_when_not_a_terminal():
    """Issue 12 item 6 (brief item 4): without a terminal, one plain line each time another 10% is done."""
    out = io.StringIO()
    ticks = iter(range(100))  # one second per call
    progress = TransferProgress("upload slot 1", 100_000, out, clock=lambda: float(next(ticks)))
    progress(0)
    for _ in range(40):
        progress(2_500)
    progress.close()
    lines = out.getvalue().splitlines()
    percents = [int(re.match(r"radrt link upload slot 1: (\d+)% \d+/100000 bytes", line).group(1))
                for line in lines]
    assert percents == list(range(0, 101, 10))
    assert lines[4] == "radrt link upload slot 1: 40% 40000/100000 bytes, 2.4 KiB/s, ETA 24 s"


def test_progress_bar_on_a_terminal():
    """Issue 12 item 6 (brief item 4): on a terminal, a tqdm bar (the ground extra) instead of lines."""
    pytest.importorskip("tqdm")
    master, path = open_pty_pair()
    try:
        with open(path, "w") as terminal:
            progress = TransferProgress("upload slot 1", 100_000, terminal)
            for _ in range(4):
                progress(25_000)
            progress.close()
        drawn = b""
        while select.select([master], [], [], 0.5)[0]:  # a pty hands its buffer over in pieces
            try:
                piece = os.read(master, 65536)
            except OSError:  # EIO: drained, and the terminal side is closed
                break
            if not piece:
                break
            drawn += piece
        drawn = drawn.decode()
    finally:
        os.close(master)
    assert "radrt link upload slot 1" in drawn and "100%" in drawn
    assert "% 100000/100000 bytes" not in drawn  # not the plain lines


class LargeInputBackend(FakeBackend):
    """One float32 input of 129 x 128 (66,048 bytes: more than 64 KiB)."""

    def input_specs(self):
        return [((129, 128), np.dtype(np.float32))]


def test_link_infer_shows_progress_for_inputs_over_64_kib(tmp_path, capsys):
    """Issue 12 item 6 (brief item 4): `radrt link infer` with more than 64 KiB of inputs prints progress
    (stderr not a terminal: plain lines), and the inference still checks out."""
    import argparse
    from runtime.link.cli import _link_op
    big = np.arange(129 * 128, dtype=np.float32).reshape(129, 128)
    np.save(tmp_path / "big.npy", big)
    master, path = open_pty_pair()
    service = PayloadService(LargeInputBackend(), ModelSlots(tmp_path / "slots"))
    responder = Responder(FdStream(master), service)
    responder.start()
    link = PacketLink(open_transport(path), parse_tm)
    try:
        result = _link_op(Controller(link, timeout=1.0, retries=1),
                          argparse.Namespace(link_command="infer", input=[str(tmp_path / "big.npy")]))
    finally:
        responder.stop.set()
        responder.join()
        link.close()
        os.close(master)
    assert result["outputs"][0]["shape"] == [129, 128]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3 and all(line.startswith("radrt link infer: 66048 input bytes: ") for line in lines)
    assert lines[-1].startswith("radrt link infer: 66048 input bytes: 100% 66048/66048 bytes")


# -- the CLI end to end ----------------------------------------------------------------------

def _radrt(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_unknown_log_format_is_refused():
    """Issue 12 item 6: --log-format is text or json; another value is a one-line error."""
    done = _radrt("serve", "--port", "loop://", "--log-format", "xml", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "radrt serve: --log-format: invalid choice: 'xml' (choose from 'text', 'json')"


def test_dead_port_gives_the_link_timeout_hint(tmp_path):
    """`radrt link ping` on a port nobody serves: exit 1, the hint line on stderr, and
    with --json the error as a dict on stdout."""
    master, path = open_pty_pair()
    try:
        done = _radrt("link", "ping", "--port", path, "--timeout", "0.3", "--retries", "1", "--json",
                      "--state-dir", str(tmp_path / "state"))
    finally:
        os.close(master)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"radrt link ping: ARE_YOU_ALIVE (TC[17,1]) seq 0: no completion from APID 0x0A0 "
                                   f"on {path} after 2 attempts of 0.3 s: check the port, the baud rate (115200) "
                                   f"and the APID; is `radrt serve` running?")
    error = json.loads(done.stdout)
    assert error["error"] == "LinkTimeout" and error["tc"] == "ARE_YOU_ALIVE (TC[17,1])"


def test_ground_crew_session_against_radrt_serve(tmp_path):
    """`radrt serve --log-format json` and `radrt link` over ptys: hk with names (ICD-5-HK),
    activating an empty slot says what to do (ICD-6-FUNCTIONS), upload progress when stderr is
    not a terminal, and every line serve logs is JSON with the events of the session."""
    from fault_injection.line import LineImpairment, SerialLine
    from .test_serve import start_server, stop
    a_master, a_path = open_pty_pair()
    b_master, b_path = open_pty_pair()
    line = SerialLine(FdStream(a_master), FdStream(b_master), LineImpairment(), LineImpairment()).start()
    server = start_server(a_path, tmp_path / "slots", "--model", str(digits_model_path()), "--log-format", "json")
    model = digits_model_path()

    def link(*args):
        return _radrt("link", *args, "--port", b_path, "--state-dir", str(tmp_path / "state"))

    try:
        text = link("hk")
        assert text.returncode == 0, text.stderr
        assert "protection_mode: tmr\n" in text.stdout and "active_slot: none\n" in text.stdout
        assert "_code" not in text.stdout
        hk = json.loads(link("hk", "--json").stdout)
        assert hk["protection_mode"] == "tmr" and hk["protection_mode_code"] == 3
        assert hk["active_slot"] == "none" and hk["active_slot_code"] == 255 and hk["inferences_failed"] == 0
        assert hk["icd_version"] == 2 and hk["inputs_refused"] == 0  # structure 2 by default
        hk1 = json.loads(link("hk", "--structure", "1", "--json").stdout)
        assert hk1["protection_mode"] == "tmr" and "icd_version" not in hk1

        refused = link("activate", "--slot", "1")
        assert refused.returncode == 1
        assert refused.stderr.startswith("radrt link activate: ACTIVATE_SLOT (TC[8,1]), request seq ")
        assert "BAD_ARGUMENT (code 4), detail 1 = slot 1." in refused.stderr
        assert "radrt link upload MODEL --slot 1" in refused.stderr

        upload = link("upload", str(model), "--slot", "1")
        assert upload.returncode == 0, upload.stderr
        size = model.stat().st_size
        progress = upload.stderr.splitlines()
        assert progress[0] == f"radrt link upload slot 1: 0% 0/{size} bytes"
        assert progress[-1].startswith(f"radrt link upload slot 1: 100% {size}/{size} bytes")
        assert "state: COMMITTED" in upload.stdout
        assert link("activate", "--slot", "1").returncode == 0
        assert link("mode", "dwc").returncode == 0
        slot = json.loads(link("slot", "--slot", "1", "--json").stdout)
        assert slot["state"] == "ACTIVE" and slot["state_code"] == 3
        hk = json.loads(link("hk", "--json").stdout)
        assert hk["active_slot"] == 1 and hk["protection_mode"] == "dwc"
    finally:
        code, err = stop(server)
        line.stop()
    assert code == 0
    records = [json.loads(line) for line in err.splitlines()]  # every line parses
    events = [r["event"] for r in records]
    for r in records:
        assert {"time", "level", "logger", "event", "message"} <= set(r)
    started = records[events.index("runtime_started")]
    assert started["port"] == a_path and started["baud"] == 115200 and started["apid"] == "0x0A0"
    assert started["protection"] == "tmr" and started["auth"] is False and started["slot"] is None
    assert "auth_disabled" in events and events[-1] == "runtime_stopped"
    assert records[-1]["active_slot"] == 1 and records[-1]["frames_ok"] > 0
    activated = [r for r in records if r["event"] == "model_activated"]
    assert [r["slot"] for r in activated] == [1]
    assert [r["slot"] for r in records if r["event"] == "model_rejected"] == [1]
    modes = [r for r in records if r["event"] == "mode_change"]
    assert [(m["previous"], m["mode"]) for m in modes] == [("tmr", "dwc")]
    assert [r["slot"] for r in records if r["event"] == "upload_committed"] == [1]
    assert events.index("upload_begun") < events.index("upload_committed") < events.index("model_activated")

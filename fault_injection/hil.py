"""Hardware-in-the-loop scene on ptys: firmware stub ↔ noisy line ↔ `radrt fi serve`.

    python -m fault_injection.hil --records 200 --ber 1e-5 --upset-rate 0.5

1. The line emulator (fault_injection.line) joins two ptys, throttled to the baud
   rate, flipping bits at `ber` in both directions.
2. `radrt fi serve` (a separate process, protection `tmr` by default: `radrt serve`
   with accelerated upsets, fault_injection/upsets.py) serves the shipped digits
   classifier on one pty, with `--upset-rate` upsets per inference injected into its
   weights and activations.
3. The firmware stub (`firmware_stubs/payload_fw`, built if needed) on the other pty
   pings (ICD v2: icd_version 2), reads housekeeping structure 2, sends `records`
   held-out images, accepts a result only when its output CRC-32 and input_crc32 both
   match (re-asking lost output bytes by range), and checks every result's label and
   CRC-32 against the fault-free outputs computed here.
4. Afterwards a Python controller reads the runtime's housekeeping over the same
   line, and the runtime is stopped with SIGTERM (it finishes, flushes, exits 0).

`run_hil` returns a summary: records passed, SDCs (results that differ from the
fault-free ones), results refused for a wrong input_crc32 (uplink errors caught, not
SDCs), upsets injected and corrected, link errors recovered, latency.
"""
import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from runtime import InferenceSession
from runtime.link.packets import parse_tm
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport

from .line import LineImpairment, SerialLine
from .models import digits_model_path, load_heldout

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware_stubs"


def build_firmware() -> Path:
    subprocess.run(["make", "-s", "-C", str(FIRMWARE)], check=True)
    return FIRMWARE / "payload_fw"


def fault_free(images: np.ndarray):
    """(label, crc32) of each record's fault-free outputs."""
    sess = InferenceSession(str(digits_model_path()), scrub_interval_s=None)
    name = sess.get_inputs()[0].name
    expected = []
    for image in images:
        outputs = sess.run(None, {name: image[None]})
        blob = b"".join(np.ascontiguousarray(o).tobytes() for o in outputs)
        expected.append((int(outputs[0].argmax()), zlib.crc32(blob)))
    return expected


def _summary_fields(line: str) -> dict:
    return {k: (int(v) if v.isdigit() else v) for k, v in re.findall(r"(\w+)=(\S+)", line)}


def run_hil(records: int = 200, ber: float = 1e-5, upset_rate: float = 0.5, baud: int = 115200,
            protect: str = "tmr", seed: int = 1, timeout_s: float = 600.0) -> dict:
    firmware = build_firmware()
    images, _ = load_heldout()
    images = images[:records]
    expected = fault_free(images)
    with tempfile.TemporaryDirectory(prefix="radrt-hil-") as tmp:
        inputs, expect = Path(tmp, "inputs.npy"), Path(tmp, "expect.txt")
        np.save(inputs, images[:, None].astype(np.float32))  # record i = one (1, 1, 8, 8) input
        expect.write_text("".join(f"{label} {crc:08x}\n" for label, crc in expected))
        a_master, a_path = open_pty_pair()
        b_master, b_path = open_pty_pair()
        impairments = [LineImpairment(ber, seed=[seed, d]) for d in (0, 1)]
        line = SerialLine(FdStream(a_master), FdStream(b_master), impairments[0], impairments[1],
                          baud=baud).start()
        server = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "fi", "serve", "--port", a_path, "--baud", str(baud),
             "--model", str(digits_model_path()), "--protect", protect, "--slots", str(Path(tmp, "slots")),
             "--upset-rate", str(upset_rate), "--upset-seed", str(seed)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            t0 = time.monotonic()
            fw = subprocess.run([str(firmware), "--port", b_path, "--baud", str(baud), "--inputs", str(inputs),
                                 "--expect", str(expect), "--timeout-ms", "1500", "--retries", "6"],
                                capture_output=True, text=True, timeout=timeout_s)
            elapsed = time.monotonic() - t0
            hk = _read_hk(b_path, baud)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                _, server_log = server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                _, server_log = server.communicate()
            line.stop()
    summary_line = next((ln for ln in fw.stdout.splitlines() if ln.startswith("payload_fw:")), fw.stdout.strip())
    fields = _summary_fields(summary_line)
    injected = re.search(r"(\d+) upsets injected", server_log or "")
    counters = line.counters()
    return {
        "passed": fw.returncode == 0 and server.returncode == 0,
        "records": records, "records_ok": fields.get("ok", 0),
        "sdc": fields.get("label_errors", 0) + fields.get("crc_errors", 0),
        "run_failed": fields.get("run_failed", 0),
        "input_crc_errors": fields.get("input_crc_errors", 0),
        "upsets_injected": int(injected.group(1)) if injected else None,
        "upsets_corrected": hk.get("upsets_corrected"), "uncorrectable": hk.get("uncorrectable"),
        "vote_disagreements": hk.get("vote_disagreements"), "reexecutions": hk.get("reexecutions"),
        "link_bits_flipped": sum(c["bits_flipped"] for c in counters.values()),
        "link_errors_recovered": fields.get("retries", 0) + fields.get("resends", 0),
        "ranged_resends": fields.get("ranged_resends", 0),
        "frames_dropped_by_firmware": fields.get("frames_dropped", 0),
        "frames_bad_crc_at_runtime": hk.get("frames_bad_crc"),
        "ms_per_inference": round(elapsed * 1e3 / max(records, 1), 1),
        "server_exit": server.returncode, "firmware_summary": summary_line,
    }


def _read_hk(port: str, baud: int) -> dict:
    """Housekeeping over the firmware's end of the line, once the firmware is done."""
    from runtime.link.controller import CommandFailed, Controller, LinkTimeout
    link = PacketLink(open_transport(port, baud), parse_tm)
    try:
        return Controller(link, timeout=1.5, retries=6).hk()
    except (CommandFailed, LinkTimeout):
        return {}
    finally:
        link.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fault_injection.hil", description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--ber", type=float, default=1e-5)
    ap.add_argument("--upset-rate", type=float, default=0.5)
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--protect", default="tmr")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    summary = run_hil(args.records, args.ber, args.upset_rate, args.baud, args.protect, args.seed)
    print(json.dumps(summary) if args.json else "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0 if summary["passed"] and summary["sdc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

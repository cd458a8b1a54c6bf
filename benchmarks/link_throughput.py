"""Payload-link throughput: an inference request/response over the emulated UART.

    .venv/bin/python benchmarks/link_throughput.py [--out benchmarks/link.md]

`radrt serve` (protection none: the link is what is measured) serves a one-op model
(Relu over float32 (1, 16, 32, 32): 64 KiB in, 64 KiB out) on one pty; the line
emulator joins it to a second pty, throttled to the baud rate (10 bits per byte,
8N1) with a bit error rate; the Python controller sends the input chunks (TC[200,1],
each acknowledged), runs it and collects the outputs (re-sending with TC[200,5] what a
bad CRC lost). Effective throughput = tensor bytes moved (in + out) / elapsed time,
as a fraction of the raw line rate baud/10 bytes per second.
"""
import argparse
import datetime
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.record import cpu_model  # noqa: E402
from fault_injection.line import LineImpairment, SerialLine  # noqa: E402
from runtime.link.controller import Controller  # noqa: E402
from runtime.link.packets import parse_tm  # noqa: E402
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport  # noqa: E402
from runtime.link.controller import reply_timeout  # noqa: E402

SHAPE = (1, 16, 32, 32)


def relu_model(path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    with open(path, "wb") as f:
        f.write(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
                .SerializeToString())


def measure(baud: int, ber: float, repeats: int, tmp: str):
    model = os.path.join(tmp, "relu.onnx")
    relu_model(model)
    a_master, a_path = open_pty_pair()
    b_master, b_path = open_pty_pair()
    line = SerialLine(FdStream(a_master), FdStream(b_master), LineImpairment(ber, seed=[1, 0]),
                      LineImpairment(ber, seed=[1, 1]), baud=baud, piece=256).start()
    server = subprocess.Popen([sys.executable, "-m", "runtime.cli", "serve", "--port", a_path, "--baud",
                               str(baud), "--model", model, "--protect", "none", "--slots",
                               os.path.join(tmp, f"slots-{baud}-{ber}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctl = Controller(PacketLink(open_transport(b_path, baud), parse_tm), timeout=reply_timeout(baud), retries=8)
    try:
        ctl.ping()
        x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
        fractions, resends = [], 0
        for _ in range(repeats):
            t0 = time.monotonic()
            result = ctl.infer([x])
            elapsed = time.monotonic() - t0
            assert np.array_equal(result.outputs[0], np.maximum(x, 0))
            resends += result.resends
            fractions.append((x.nbytes * 2) / elapsed / (baud / 10))
        return float(np.median(fractions)), ctl.sent_attempts, resends
    finally:
        ctl.link.close()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        line.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "link.md"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for baud in (115200, 921600):
            for ber in (0.0, 1e-5):
                fraction, sent, resends = measure(baud, ber, args.repeats, tmp)
                rows.append((baud, ber, fraction, sent, resends))
                print(rows[-1], flush=True)
    lines = [
        "# Benchmark record: payload-link throughput",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_model()}; ptys joined by the line emulator, throttled to the baud rate (8N1)",
        f"- command: `.venv/bin/python benchmarks/link_throughput.py --repeats {args.repeats}`",
        f"- one inference = {np.prod(SHAPE) * 4} bytes in + the same out (Relu over float32 {SHAPE}), "
        "controller in Python (reply timeout: twice a full frame's time on the line + 0.2 s, at least "
        "0.5 s), `radrt serve` with protection none; median of the repeats",
        "",
        "| baud | BER | payload / raw line rate | TCs sent (incl. retries) | output re-sends |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {b} | {e:g} | {f:.1%} | {s} | {r} |" for b, e, f, s, r in rows]
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

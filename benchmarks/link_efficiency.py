"""Link efficiency (payload bytes / line rate) and runtime RSS through a fuzz storm.

    .venv/bin/python benchmarks/link_efficiency.py [--inferences 5] [--label NAME] [--part all]
        [--baud 115200] [--config LINE:CHUNK_BYTES ...] [--budget S] [--resend-rounds N]

How it works. `radrt serve` (protection none: the link is what is measured) runs as a
subprocess on one pty and serves a one-op model (Relu over float32 (1, 16, 32, 32):
16384 elements, 64 KiB in and 64 KiB out per inference). The line emulator
(fault_injection/line.py) joins that pty to a second one, throttled to the baud rate
(8N1, 10 bits a byte) and impaired per direction (bit errors, byte drops, bursts,
seeded). The Python Controller (runtime/link/controller.py, timeouts from
reply_timeout(baud)) runs N inferences on the other pty and checks every output.

Efficiency of a configuration = (input + output bytes of the inferences completed) /
(baud / 10 bytes per s x wall time of the N inferences). Counted per configuration:
TCs sent (retries included), retries (attempts beyond the first of each TC), output
re-sends (TC[200,5]) and the output bytes they asked for (a TC[200,5] without ranges
asks for every output byte).

Configurations: baud {115200, 921600} x line {BER 0, BER 1e-5, BER 1e-4 + byte drops
1e-5 + 16-bit bursts 1e-5 per byte}, each with the controller's `chunk_bytes` (--config).
`selective_repeat_bound` gives the best efficiency any controller could reach for a
chunk size on such a line; `theoretical_max` the error-free maximum, from the frames.

RSS part: the same server, then two storms of 100,000 fuzzed frames each
(tests/link/test_storm.py's generator, seeds 12 and 13) sent over an unthrottled, clean
line; VmRSS of the runtime process sampled every 0.1 s. Before = after a ping and one
inference (warm); after each storm, a ping and a checked inference.

Results are appended to benchmarks/link_efficiency.md as one dated section per run.
"""
import argparse
import datetime
import math
import os
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from benchmarks.record import cpu_model  # noqa: E402
from fault_injection.line import LineImpairment, SerialLine  # noqa: E402
from runtime.link.catalogue import Service  # noqa: E402
from runtime.link.controller import CommandFailed, Controller, LinkTimeout, reply_timeout  # noqa: E402
from runtime.link.framing import frame  # noqa: E402
from runtime.link.packets import TcPacket, TmPacket, parse_tm  # noqa: E402
from runtime.link.tensors import max_chunk_data, split_tensor  # noqa: E402
from runtime.link.transport import FdStream, PacketLink, open_pty_pair, open_transport  # noqa: E402

SHAPE = (1, 16, 32, 32)
TENSOR_BYTES = int(np.prod(SHAPE)) * 4
BAUDS = (115200, 921600)
# (name, ber, drop per byte, burst starts per byte, burst bits)
IMPAIRMENTS = (("BER 0", 0.0, 0.0, 0.0, 16),
               ("BER 1e-5", 1e-5, 0.0, 0.0, 16),
               ("BER 1e-4 + drop 1e-5 + bursts 1e-5 x 16 bits", 1e-4, 1e-5, 1e-5, 16))
STORM_FRAMES = 100_000


def relu_model(path: str) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    with open(path, "wb") as f:
        f.write(helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)])
                .SerializeToString())


def theoretical_max(x: np.ndarray) -> dict:
    """Payload bytes / line bytes of one inference of `x` with no errors, counted from
    the frames themselves (COBS included) at the chunk sizes the controller and the
    runtime use: each TC[200,1] chunk gets TM[1,1] + TM[1,7]; TC[200,2] gets TM[1,1],
    the TM[200,3] chunks, TM[200,4] (20 data bytes in ICD v2) and TM[1,7]. The exchange
    is stop-and-wait (the controller awaits each TC's completion), so the uplink and
    the downlink take turns and their bytes add up."""
    y = np.maximum(x, 0)
    tc_data = max_chunk_data(x.ndim, telemetry=False)
    tm_data = max_chunk_data(y.ndim, telemetry=True)
    verification = len(frame(TmPacket(1, 7, bytes(4)).pack()))
    up = down = 0
    chunks_in = split_tensor(1, 0, x, tc_data)
    for chunk in chunks_in:
        up += len(frame(TcPacket(200, 1, chunk.pack()).pack()))
        down += 2 * verification
    up += len(frame(TcPacket(200, 2, bytes(4)).pack()))
    down += 2 * verification + len(frame(TmPacket(200, 4, bytes(20)).pack()))
    chunks_out = split_tensor(1, 0, y, tm_data)
    down += sum(len(frame(TmPacket(200, 3, c.pack()).pack())) for c in chunks_out)
    overlapped = 2 * verification * len(chunks_in)  # the chunks' reports, under the uplink
    return {"tc_chunk_data": tc_data, "tm_chunk_data": tm_data, "chunks": (len(chunks_in), len(chunks_out)),
            "line_bytes": up + down, "efficiency": (x.nbytes + y.nbytes) / (up + down),
            "windowed": (x.nbytes + y.nbytes) / (up + down - overlapped)}


def selective_repeat_bound(chunk_bytes: int, ber: float, drop: float = 0.0, burst_rate: float = 0.0) -> float:
    """Best efficiency of one inference (64 KiB in, 64 KiB out) on a line that loses
    frames at random, for a controller that re-sends exactly what was lost, never waits
    a timeout, and overlaps the chunks' reports with the uplink: each frame of n line
    bytes survives with p(n) = exp(-n x (8 x ber + drop + burst_rate)) (a byte drop or a
    burst start inside a frame loses it) and is sent 1 / p(n) times on average.
    Uplink: input chunks of `chunk_bytes` (46 bytes of TC, chunk header and COBS each).
    Downlink: the runtime's 17 chunks of up to 4043 bytes once (55 bytes each), then
    the lost fraction of the outputs asked back in ranges of `chunk_bytes`."""
    hazard = 8 * ber + drop + burst_rate

    def survive(n: float) -> float:
        return math.exp(-n * hazard)

    tc_data = max_chunk_data(len(SHAPE), telemetry=False)
    tm_data = max_chunk_data(len(SHAPE), telemetry=True)
    piece = min(chunk_bytes, tc_data)
    up = TENSOR_BYTES + math.ceil(TENSOR_BYTES / piece) * 46
    up_sent = up / survive(piece + 46)
    first = TENSOR_BYTES + math.ceil(TENSOR_BYTES / tm_data) * 55
    lost = TENSOR_BYTES * (1 - survive(tm_data + 55))
    again = lost * (min(chunk_bytes, tm_data) + 55) / min(chunk_bytes, tm_data) / survive(min(chunk_bytes, tm_data) + 55)
    return 2 * TENSOR_BYTES / (up_sent + first + again)


class CountingController(Controller):
    """The Controller, counting distinct TCs and what TC[200,5] asked to re-send (every
    TC goes through `commands`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.distinct_tcs = 0
        self.resends = 0
        self.resent_bytes = 0

    def commands(self, tcs, *args, **kwargs):
        self.distinct_tcs += len(tcs)
        for service, subtype, data in tcs:
            if (service, subtype) == (Service.INFERENCE, 5):
                self.resends += 1
                ranges = data[4:]
                if not ranges:
                    self.resent_bytes += TENSOR_BYTES  # no range: every output
                for at in range(0, len(ranges), 9):
                    self.resent_bytes += struct.unpack_from(">BII", ranges, at)[2]
        return super().commands(tcs, *args, **kwargs)


class Bench:
    """A line, a `radrt serve` subprocess on one side and a controller on the other."""

    def __init__(self, tmp: str, baud: int, impairment=("clean", 0.0, 0.0, 0.0, 16), throttle=True,
                 retries: int = 8, chunk_bytes=None, resend_rounds: int = 8):
        model = os.path.join(tmp, "relu.onnx")
        if not os.path.exists(model):
            relu_model(model)
        _, ber, drop, burst_rate, burst_bits = impairment
        a_master, a_path = open_pty_pair()
        b_master, b_path = open_pty_pair()
        self.line = SerialLine(FdStream(a_master), FdStream(b_master),
                               LineImpairment(ber, drop, burst_rate, burst_bits, seed=[1, 0]),
                               LineImpairment(ber, drop, burst_rate, burst_bits, seed=[1, 1]),
                               baud=baud if throttle else None, piece=256).start()
        slots = tempfile.mkdtemp(dir=tmp)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "serve", "--port", a_path, "--baud", str(baud), "--model",
             model, "--protect", "none", "--slots", slots], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.stream = open_transport(b_path, baud)
        options = {"chunk_bytes": chunk_bytes} if chunk_bytes else {}  # only the patched controller has it
        self.ctl = CountingController(PacketLink(self.stream, parse_tm), timeout=reply_timeout(baud),
                                      retries=retries, resend_rounds=resend_rounds, **options)
        self.timeouts = 0  # receives that waited a whole timeout for nothing
        receive = self.ctl.link.receive

        def counted(timeout):
            tm = receive(timeout)
            self.timeouts += tm is None
            return tm
        self.ctl.link.receive = counted

    def close(self) -> None:
        self.ctl.link.close()
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(timeout=60)
        self.line.stop()


def efficiency(tmp: str, baud: int, impairment, inferences: int, budget_s: float, chunk_bytes=None,
               resend_rounds: int = 8) -> dict:
    bench = Bench(tmp, baud, impairment, chunk_bytes=chunk_bytes, resend_rounds=resend_rounds)
    try:
        ctl = bench.ctl
        ctl.ping()
        start_commands, start_sent, start_timeouts = ctl.distinct_tcs, ctl.sent_attempts, bench.timeouts
        x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
        expected = np.maximum(x, 0)
        completed = failed = wrong = 0
        t0 = time.monotonic()
        for _ in range(inferences):
            try:
                result = ctl.infer([x])
            except (LinkTimeout, CommandFailed):
                failed += 1
            else:
                if np.array_equal(result.outputs[0], expected):
                    completed += 1
                else:
                    wrong += 1
            if time.monotonic() - t0 > budget_s:
                break
        elapsed = time.monotonic() - t0
        line = bench.line.counters()
        return {"baud": baud, "impairment": impairment[0], "chunk_bytes": chunk_bytes or "max", "attempted": completed + failed + wrong,
                "completed": completed, "failed": failed, "wrong": wrong, "seconds": elapsed,
                "efficiency": completed * 2 * TENSOR_BYTES / (baud / 10 * elapsed),
                "commands": ctl.distinct_tcs - start_commands, "tcs_sent": ctl.sent_attempts - start_sent,
                "retries": (ctl.sent_attempts - start_sent) - (ctl.distinct_tcs - start_commands),
                "resends": ctl.resends, "resent_bytes": ctl.resent_bytes,
                "timeouts": bench.timeouts - start_timeouts,
                "bits_flipped": line["a_to_b"]["bits_flipped"] + line["b_to_a"]["bits_flipped"],
                "bytes_dropped": line["a_to_b"]["bytes_dropped"] + line["b_to_a"]["bytes_dropped"]}
    finally:
        bench.close()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid} has no VmRSS line")


def rss_storm(tmp: str, storms: int = 2) -> dict:
    """`storms` storms of STORM_FRAMES fuzzed frames (seeds 12, 13, ...), each followed by a
    ping and a checked inference; VmRSS before, after each storm, and sampled throughout.
    The first storm fills the runtime's bounded caches (results, staged inputs, duplicate
    windows); the second shows whether anything keeps growing."""
    from tests.link.test_storm import storm_bytes  # the suite's seeded generator (ground code)

    bench = Bench(tmp, 921600, throttle=False)
    stop = threading.Event()
    samples, drained = [], [0]
    try:
        ctl = bench.ctl
        x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
        ctl.ping()
        ctl.infer([x])
        pid = bench.server.pid
        before = rss_kib(pid)

        def sample():
            while not stop.is_set():
                samples.append(rss_kib(pid))
                time.sleep(0.1)

        threading.Thread(target=sample, daemon=True).start()
        after, sizes, send_s = [], [], []
        for storm in range(storms):
            blob, _ = storm_bytes(seed=12 + storm, frames=STORM_FRAMES, input_shape=SHAPE)
            sizes.append(len(blob))
            done = threading.Event()

            def drain():  # the runtime's replies: read and dropped, so its writes never block
                while not done.is_set():
                    drained[0] += len(bench.stream.read(65536, 0.1))

            drainer = threading.Thread(target=drain, daemon=True)
            drainer.start()
            t0 = time.monotonic()
            for at in range(0, len(blob), 4096):
                bench.stream.write(blob[at:at + 4096])
            send_s.append(time.monotonic() - t0)
            time.sleep(2.0)  # the runtime catches up with the last frames
            done.set()
            drainer.join()
            ctl.link.decoder.feed(b"\x00")  # whatever half-frame the drainer cut is dropped
            ctl.ping()
            result = ctl.infer([x])
            assert np.array_equal(result.outputs[0], np.maximum(x, 0)), "inference after the storm is wrong"
            after.append(rss_kib(pid))
        hk = ctl.hk()
        stop.set()
        return {"frames": STORM_FRAMES, "storms": storms, "bytes": sizes, "send_s": send_s,
                "before_kib": before, "after_kib": after, "max_kib": max(samples + after),
                "reply_bytes": drained[0], "hk": hk}
    finally:
        stop.set()
        bench.close()


def write_record(path: str, label: str, inferences: int, rows, rss, command: str) -> None:
    theory = theoretical_max(np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32))
    lines = ["", f"## {label}", "",
             f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
             f"- CPU: {cpu_model()} ({os.cpu_count()} cores, shared with other sessions)",
             f"- command: `{command}`"]
    if rows:
        lines += [f"- {inferences} inferences per configuration (fewer when a configuration's time budget "
                  f"ran out: see 'done'); line seed [1, 0] / [1, 1]; model Relu over float32 {SHAPE}",
                  f"- theoretical maximum at these chunk sizes (TC chunk data {theory['tc_chunk_data']} B, "
                  f"TM chunk data {theory['tm_chunk_data']} B, {theory['chunks'][0]} chunks up and "
                  f"{theory['chunks'][1]} down, no errors): {theory['efficiency']:.1%} when every report "
                  f"waits for its TC ({theory['line_bytes']} line bytes per inference), "
                  f"{theory['windowed']:.1%} when the chunks' reports travel while later chunks go up",
                  "",
                  "| baud | line | chunk bytes | efficiency | done / tried | wrong | s | TCs | TCs sent | retries | "
                  "re-sends | re-sent bytes | timeouts | bits flipped | bytes dropped |",
                  "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['baud']} | {r['impairment']} | {r['chunk_bytes']} | {r['efficiency']:.1%} | {r['completed']} / "
                  f"{r['attempted']} | {r['wrong']} | {r['seconds']:.1f} | {r['commands']} | {r['tcs_sent']} | "
                  f"{r['retries']} | {r['resends']} | {r['resent_bytes']} | {r.get('timeouts', '')} | "
                  f"{r['bits_flipped']} | "
                  f"{r['bytes_dropped']} |" for r in rows]
        lines.append("")
    if rss:
        hk = rss["hk"]
        steps = ", ".join(f"after storm {i + 1} {kib} KiB ({(kib - rss['before_kib']) / rss['before_kib']:+.1%})"
                          for i, kib in enumerate(rss["after_kib"]))
        last_two = rss["after_kib"][-2:]
        lines += [f"RSS of `radrt serve` through {rss['storms']} storms of {rss['frames']:,} fuzzed frames each "
                  f"({', '.join(f'{b:,}' for b in rss['bytes'])} bytes, sent in "
                  f"{', '.join(f'{t:.1f}' for t in rss['send_s'])} s over an unthrottled clean pty line; "
                  f"a ping and a checked inference after each): before {rss['before_kib']} KiB, {steps}, "
                  f"max {rss['max_kib']} KiB ({(rss['max_kib'] - rss['before_kib']) / rss['before_kib']:+.1%}); "
                  f"last storm alone {(last_two[-1] - last_two[0]) / last_two[0]:+.1%}. "
                  f"HK at the end: frames_ok {hk['frames_ok']}, frames_bad_crc {hk['frames_bad_crc']}, "
                  f"frames_bad_format {hk['frames_bad_format']}, frames_oversize {hk['frames_oversize']}, "
                  f"tc_rejected {hk['tc_rejected']}, duplicates_ignored {hk['duplicates_ignored']}, "
                  f"inferences_ok {hk['inferences_ok']}.", ""]
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inferences", type=int, default=5, help="inferences per configuration (default 5)")
    ap.add_argument("--budget", type=float, default=150.0,
                    help="seconds per configuration after which no new inference starts (default 150)")
    ap.add_argument("--part", choices=("all", "efficiency", "rss"), default="all")
    ap.add_argument("--resend-rounds", type=int, default=8, help="the controller's TC[200,5] rounds (default 8)")
    ap.add_argument("--baud", type=int, action="append", help="only these rates (default both)")
    ap.add_argument("--config", action="append", metavar="LINE:CHUNK_BYTES",
                    help="a line (0, 1, 2: BER 0, 1e-5, 1e-4 with drops and bursts) and the controller's "
                         "chunk_bytes (0: its default, the largest); repeatable (default: every line at 0)")
    ap.add_argument("--label", default="run", help="section title in the record")
    ap.add_argument("--out", default=os.path.join(HERE, "link_efficiency.md"))
    args = ap.parse_args()
    rows, rss = [], None
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("all", "efficiency"):
            configs = [tuple(int(v) for v in c.split(":")) for c in args.config or []]
            for baud in args.baud or BAUDS:
                for line, chunk_bytes in configs or [(line, 0) for line in range(len(IMPAIRMENTS))]:
                    rows.append(efficiency(tmp, baud, IMPAIRMENTS[line], args.inferences, args.budget,
                                           chunk_bytes or None, args.resend_rounds))
                    print(rows[-1], flush=True)
        if args.part in ("all", "rss"):
            rss = rss_storm(tmp)
            print(rss, flush=True)
    command = ".venv/bin/python benchmarks/link_efficiency.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    write_record(args.out, args.label, args.inferences, rows, rss, command.strip())
    print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`radrt serve` and `radrt link ...`: the two ends of the payload link from the command line.

Errors and exit codes are runtime.cli's; a link command the runtime refused
or that timed out prints one line and exits 1 (the line names the TC, the code and
what to do: controller.CommandFailed, LinkTimeout, InputCorrupted, IcdMismatch; with
--json, stdout gets the same as a dict with key "error").

What `radrt link` prints is a dict (one `key: value` line each, or one JSON object
with --json): housekeeping enumerations are names (`protection_mode: tmr`,
`active_slot: none`), with the raw codes kept in --json (`protection_mode_code`).
Uploads, and inferences with more than 64 KiB of inputs, show their progress on stderr:
a tqdm bar on a terminal (tqdm: the `ground` extra), else a line each 10%.
"""
import json
import os
import sys
import time
import zlib

import numpy as np

from ..options import float_option, int_option
from ..errors import InvalidArgumentError
from ..protect import MODES
from .catalogue import HK_STRUCTURE_ID, HK_STRUCTURES, hk_names
from .oplog import LOG_FORMATS, configure_logging
from .packets import DEFAULT_APID
from .transport import DEFAULT_BAUD

_apid = int_option("--apid", 0, 0x7FF, base=0)  # 11 bits (CCSDS)
_source = int_option("--source", 0, 0xFFFF, base=0)  # PUS source ID, 16 bits
_baud = int_option("--baud", 1)


def add_commands(sub) -> None:
    s = sub.add_parser("serve", help="serve inference over the payload link (ICD v2, docs/icd.md) until stopped")
    add_serve_options(s)
    s.set_defaults(fn=cmd_serve)

    link = sub.add_parser("link", help="controller side: talk to a radrt serve")
    ops = link.add_subparsers(dest="link_command", required=True)
    common = []
    for name, text in (("ping", "are-you-alive round trip"), ("hk", "housekeeping report"),
                       ("infer", "one inference"), ("upload", "upload a model into a slot (resumable)"),
                       ("activate", "make a committed slot serve"), ("mode", "set the protection mode"),
                       ("scrub", "one full scrub pass now"), ("slot", "status of a slot")):
        p = ops.add_parser(name, help=text)
        common.append(p)
        p.set_defaults(fn=cmd_link)
    by_name = {p.prog.split()[-1]: p for p in common}
    by_name["infer"].add_argument("--input", action="append", default=[], metavar="[NAME=]FILE.npy",
                                  help="inputs in model input order")
    by_name["upload"].add_argument("model")
    for name in ("upload", "activate", "slot"):
        by_name[name].add_argument("--slot", type=int_option("--slot", 0, 255), required=True)
    by_name["mode"].add_argument("mode", choices=MODES)
    by_name["hk"].add_argument("--structure", type=int, choices=sorted(HK_STRUCTURES), default=HK_STRUCTURE_ID,
                               help=f"HK structure ID (default {HK_STRUCTURE_ID}; 1 for an ICD v1 runtime)")
    for p in common:
        p.add_argument("--port", required=True)
        p.add_argument("--baud", type=_baud, default=DEFAULT_BAUD)
        p.add_argument("--apid", type=_apid, default=DEFAULT_APID)
        p.add_argument("--source", type=_source, default=0x42, help="PUS source ID (default 0x0042)")
        p.add_argument("--key-file", help="HMAC key shared with the runtime")
        p.add_argument("--counter-file", help="persisted auth counter; each TC uses max(persisted + 1, ns since "
                                              "the Unix epoch) (ICD §7; default: the clock, not persisted)")
        p.add_argument("--state-dir", default=os.path.join(os.path.expanduser("~"), ".radrt"),
                       help="where the controller keeps its packet sequence count between calls "
                            "(default ~/.radrt): a retried or repeated call must not reuse one")
        p.add_argument("--timeout", type=float_option("--timeout", 0.0, 3600.0), help="seconds per attempt (default: from the baud rate, "
                                                     "twice a full frame's time + 0.2 s, at least 0.5 s)")
        p.add_argument("--retries", type=int_option("--retries", 0), default=3)
        p.add_argument("--chunk-bytes", type=int_option("--chunk-bytes", 64, 4096),
                       help="largest data of an input chunk and of a re-sent output range (default: the "
                            "largest a packet holds, best on a clean line; 512-1024 on a line with bit "
                            "errors around 1e-5: benchmarks/link_efficiency.md)")
        p.add_argument("--json", action="store_true")


def add_serve_options(s) -> None:
    """The options of `radrt serve` (also those of ground wrappers of it: `radrt fi serve`)."""
    s.add_argument("--port", required=True, help="serial port: /dev/ttyUSB0, a pty path, loop://, socket://host:port")
    s.add_argument("--model", help="model served at boot when no slot is active")
    s.add_argument("--baud", type=_baud, default=DEFAULT_BAUD)
    s.add_argument("--protect", default="tmr", choices=MODES, help="protection mode (default tmr)")
    s.add_argument("--slots", default="radrt-slots", help="folder of the A/B model slots (default radrt-slots)")
    s.add_argument("--key-file", help="HMAC key (hex or raw bytes, mode 600): every TC must be authenticated")
    s.add_argument("--counter-file", help="where the last accepted auth counter is persisted "
                                          "(default SLOTS/auth_counter)")
    s.add_argument("--apid", type=_apid, default=DEFAULT_APID, help="APID (default 0x0A0)")
    s.add_argument("--slot-verify-period", type=float_option("--slot-verify-period", 0.0, 1e9), default=600.0,
                   metavar="SECONDS", help="re-verify the SHA-256 of every committed slot at rest this often "
                                           "(default 600; a corrupt slot is never served, ICD §7)")
    s.add_argument("--log-format", default="text", choices=LOG_FORMATS,
                   help="stderr log: text lines, or one JSON object per line (default text)")


def cmd_serve(args, backend=None) -> int:
    """`radrt serve`; a ground wrapper passes its own SessionBackend (server.serve)."""
    from .server import serve
    if args.key_file:
        _read_key(args.key_file)  # a bad key file is a one-line error before serving
    configure_logging(args.log_format, sys.stderr)
    return serve(args.port, args.model, baud=args.baud, protect=args.protect, slots_dir=args.slots,
                 key_file=args.key_file, counter_file=args.counter_file, apid=args.apid,
                 slot_verify_period_s=args.slot_verify_period, backend=backend)


def _controller(args):
    from .auth import controller_counter
    from .controller import Controller, reply_timeout
    from .packets import parse_tm
    from .transport import PacketLink, open_transport
    key = _read_key(args.key_file) if args.key_file else None
    counter = controller_counter(args.counter_file)  # max(persisted + 1, µs since the epoch): auth.py
    link = PacketLink(open_transport(args.port, args.baud), parse_tm)
    timeout = args.timeout if args.timeout is not None else reply_timeout(args.baud)
    return Controller(link, apid=args.apid, source_id=args.source, key=key, counter=counter,
                      timeout=timeout, retries=args.retries, port_name=args.port, baud=args.baud,
                      chunk_bytes=args.chunk_bytes)


def _read_key(path: str) -> bytes:
    from .server import read_key_file
    try:
        return read_key_file(path)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"--key-file: {e}", argument="--key-file", value=path) from e


def cmd_link(args) -> int:
    from .auth import CounterStore
    from .controller import CommandFailed, IcdMismatch, InputCorrupted, LinkTimeout
    from .controller import PersistedSequence
    # Each call goes on from where the last one stopped (counts reserved before use), so
    # it never repeats a packet the runtime would take for a duplicate (ICD §7).
    os.makedirs(args.state_dir, exist_ok=True)
    seq_store = CounterStore(os.path.join(args.state_dir, f"seq-{args.apid:03x}-{args.source:04x}"))
    ctl = _controller(args)
    ctl.sequence = PersistedSequence(seq_store)
    try:
        result = _link_op(ctl, args)
    except (CommandFailed, LinkTimeout, InputCorrupted, IcdMismatch) as e:
        print(f"radrt link {args.link_command}: {e}", file=sys.stderr)
        if args.json:
            print(json.dumps(e.as_dict() if hasattr(e, "as_dict") else
                             {"error": type(e).__name__, "message": str(e)}))
        return 1
    finally:
        ctl.sequence.close()
        ctl.link.close()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            if not key.endswith("_code"):  # the names are printed; --json keeps both
                print(f"{key}: {value}")
    return 0


def _link_op(ctl, args) -> dict:
    op = args.link_command
    if op == "ping":
        return {"round_trip_ms": round(ctl.ping() * 1e3, 2)}
    if op == "hk":
        return hk_named(ctl.hk(args.structure))
    if op == "infer":
        inputs = [_load_input(item) for item in args.input]
        if not inputs:
            raise InvalidArgumentError("give the model's inputs with --input FILE.npy (in input order)",
                                       argument="--input")
        total = sum(a.nbytes for a in inputs)
        bar = TransferProgress(f"infer: {total} input bytes", total) if total > LARGE_INPUT_BYTES else None
        try:
            r = ctl.infer(inputs, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        blob = b"".join(np.ascontiguousarray(o).tobytes() for o in r.outputs)
        return {"request_id": r.request_id, "latency_us": r.latency_us,
                "corrected_during_run": r.corrected_during_run, "resends": r.resends,
                "input_reruns": r.input_reruns, "input_crc32": f"{r.input_crc32:08x}",
                "crc32": f"{zlib.crc32(blob):08x}",
                "outputs": [{"shape": list(o.shape), "dtype": str(o.dtype),
                             "argmax": int(np.argmax(o)) if o.size else None} for o in r.outputs]}
    if op == "upload":
        with open(args.model, "rb") as f:
            model = f.read()
        bar = TransferProgress(f"upload slot {args.slot}", len(model))
        try:
            status = ctl.upload(args.slot, model, progress=bar)
        finally:
            bar.close()
        return _slot_dict(status)
    if op == "slot":
        return _slot_dict(ctl.slot_status(args.slot))
    if op == "activate":
        ctl.activate(args.slot)
        return {"activated": args.slot}
    if op == "mode":
        ctl.set_protection(args.mode)
        return {"protection": args.mode}
    ctl.scrub()
    return {"scrubbed": True}


def _slot_dict(status) -> dict:
    return {"slot": status.slot, "state": status.state.name, "state_code": int(status.state),
            "bytes": status.bytes, "sha256": status.sha256.hex()}


# HK enumerations (ICD §5), named by catalogue.hk_names; every other field is a number.
HK_ENUMS = ("protection_mode", "active_slot")
HK_ORDER = HK_STRUCTURES[max(HK_STRUCTURES)].names  # the latest structure holds every field


def hk_named(raw: dict) -> dict:
    """A housekeeping report (Controller.hk(): field → number) for people: fields in
    ICD §5 order (structure 1, then structure 2's; fields this table does not know
    follow, never dropped), enumerations as names (protection_mode "tmr", active_slot
    "none" while no slot serves) with their code kept as FIELD_code."""
    names = hk_names(raw)
    named = {}
    for field in [f for f in HK_ORDER if f in raw] + [f for f in raw if f not in HK_ORDER]:
        if field in HK_ENUMS:
            named[field] = "none" if names[field] is None else names[field]
            named[f"{field}_code"] = raw[field]
        else:
            named[field] = raw[field]
    return named


LARGE_INPUT_BYTES = 64 << 10  # `link infer` shows progress above this many input bytes


class TransferProgress:
    """progress(n): n more bytes of a `total`-byte transfer are done (the Controller's
    upload/infer callback). On stderr: a tqdm bar when stderr is a terminal and tqdm is
    installed (the `ground` extra), else a plain line each time another 10% is done:
    `radrt link upload slot 1: 40% 52428/131072 bytes, 9.8 KiB/s, ETA 8 s`. The rate
    is measured from the first call (`clock`: seconds)."""

    def __init__(self, label: str, total: int, stream=None, clock=time.monotonic):
        self.label, self.total, self.clock = label, total, clock
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.bar = None
        self.started: float = 0.0
        self.first_done = 0
        self.next_tenth = 0
        if self.stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # the ground extra is not installed: plain lines
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(desc=f"radrt link {label}", total=total, unit="B", unit_scale=True,
                                unit_divisor=1024, file=self.stream, leave=True)

    def __call__(self, n: int) -> None:
        # An inference whose input_crc32 came back wrong stages its inputs again: the
        # bar stays full (the re-run shows in `input_reruns`).
        n = min(n, self.total - self.done)
        self.done += n
        now = self.clock()
        if not self.started:
            self.started, self.first_done = now, self.done
        if self.bar is not None:
            self.bar.update(n)
            return
        done, total = self.done, self.total
        tenth = done * 10 // total if total else 10
        if tenth < self.next_tenth:
            return
        self.next_tenth = tenth + 1
        line = f"radrt link {self.label}: {100 * done // total if total else 100}% {done}/{total} bytes"
        elapsed = now - self.started
        if elapsed > 0 and done > self.first_done:
            rate = (done - self.first_done) / elapsed
            line += f", {rate / 1024:.1f} KiB/s, ETA {(total - done) / rate:.0f} s"
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _load_input(item: str) -> np.ndarray:
    path = item.partition("=")[2] or item
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InvalidArgumentError(f"--input {item!r}: cannot read '{path}' as a .npy array ({e})",
                                   argument="--input", value=item) from e

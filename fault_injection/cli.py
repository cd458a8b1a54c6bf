"""`radrt fi run | replay | report | estimate`: fault-injection campaigns from the command line
(and `radrt fi serve`: upsets.py).

Errors and exit codes are runtime.cli's (one line `radrt fi CMD: message`);
option values are checked by argparse types that name the option.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from runtime.errors import InvalidArgumentError, RadrtError
from runtime.options import float_option, int_option
from runtime.protect import MODES

from .outcome import CRITERIA, DEFAULT_IOU_THRESHOLD, Tolerance
from .upsets import add_serve_command
from .vocabulary import OUTCOMES, FaultModel


def _sites_option(text: str) -> str:
    from .campaign import INJECTABLE_KINDS
    bad = [k for k in text.split(",") if k not in INJECTABLE_KINDS]
    if bad:
        raise argparse.ArgumentTypeError(f"--sites: site kind {bad[0]!r} is not one of "
                                         f"{', '.join(INJECTABLE_KINDS)} (comma-separated), got {text!r}")
    return text


def _fault_model_option(text: str) -> str:
    try:
        FaultModel.parse(text)
    except RadrtError as e:
        raise argparse.ArgumentTypeError(f"--fault-model: {e}") from None
    return text


def _db_option(text: str) -> str:
    """--db: a database file to create or resume; its folder must exist (checked before
    the golden run, so a typo fails at once, not after the campaign's setup)."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"--db: '{text}' is a directory, expected a database file path")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"--db: folder '{folder}' of '{text}' does not exist")
    return text


def _scheduler_option(text: str) -> str:
    from .campaign import check_scheduler_address
    try:
        return check_scheduler_address(text)
    except RadrtError as e:
        raise argparse.ArgumentTypeError(f"--scheduler: {e}") from None


def add_commands(sub) -> None:
    fi = sub.add_parser("fi", help="fault-injection campaigns").add_subparsers(dest="fi_command", required=True)

    s = fi.add_parser("run", help="run (or resume) a campaign into an SQLite database")
    s.add_argument("model", help="an .onnx path, a light model name, or 'digits' (the shipped classifier)")
    s.add_argument("--sites", default="weights,activations,compute", type=_sites_option,
                   help="site kinds, comma-separated: weights, activations, compute, input")
    s.add_argument("--fault-model", default="flip", type=_fault_model_option,
                   help="flip, mbu:N, stuck0, stuck1, random (a random 32-bit word) or zero (the word set to 0)")
    s.add_argument("--protect", default="none", choices=MODES, help="protection mode: " + ", ".join(MODES))
    size = s.add_mutually_exclusive_group(required=True)
    size.add_argument("--faults", type=int_option("--faults", 1), help="number of injections")
    size.add_argument("--margin", type=float_option("--margin", 0.0, 1.0, high_open=True),
                      help="error margin in (0, 1): Leveugle sample size")
    s.add_argument("--confidence", type=float_option("--confidence", 0.0, 1.0, high_open=True), default=0.95,
                   help="with --margin (default 0.95)")
    s.add_argument("--seed", type=int_option("--seed", 0), default=0)
    s.add_argument("--db", required=True, type=_db_option, help="campaign database (created, or resumed)")
    s.add_argument("--workers", type=int_option("--workers", 1), default=1, help="local worker processes at a time")
    s.add_argument("--scheduler", type=_scheduler_option,
                   help="Dask scheduler address [PROTOCOL://]HOST:PORT, e.g. tcp://10.0.0.5:8786 "
                        "(tls://... with --tls-ca/--tls-cert/--tls-key for an encrypted, authenticated link)")
    s.add_argument("--tls-ca", metavar="PEM", help="with a tls:// --scheduler: the CA that signed the cluster's certificates")
    s.add_argument("--tls-cert", metavar="PEM", help="with a tls:// --scheduler: this client's certificate")
    s.add_argument("--tls-key", metavar="PEM", help="with a tls:// --scheduler: this client's private key")
    s.add_argument("--inputs", metavar="DIR|FILE.npz",
                   help="the campaign's inputs: a .npz of one array per model input stacked on a first sample "
                        "axis, or a folder of one .npz per sample (default: digits' held-out set for digits, "
                        "else one random input)")
    s.add_argument("--input-count", type=int_option("--input-count", 1), metavar="N",
                   help="use the first N inputs only")
    s.add_argument("--criterion", default="auto", choices=CRITERIA,
                   help="when an SDC is critical: top1 (classifier: class changed), iou (segmentation: mean IoU "
                        "of the argmax masks below --iou-threshold), none; auto picks from the output shape")
    s.add_argument("--iou-threshold", type=float_option("--iou-threshold", 0.0, 1.0), default=DEFAULT_IOU_THRESHOLD,
                   help=f"with criterion iou: critical below this mean IoU (default {DEFAULT_IOU_THRESHOLD})")
    s.add_argument("--stratify", choices=["layer"],
                   help="draw the faults stratified per layer (equal allocation) instead of uniformly")
    s.add_argument("--json", action="store_true", help="print the final summary as JSON")
    s.set_defaults(fn=cmd_run)

    s = fi.add_parser("replay", help="re-run one recorded fault and compare outcomes")
    s.add_argument("db")
    s.add_argument("fault_id", type=int_option("fault_id", 0))
    s.add_argument("--inputs", metavar="DIR|FILE.npz", help="the inputs the campaign ran on, when it ran with --inputs")
    s.set_defaults(fn=cmd_replay)

    s = fi.add_parser("report", help="Markdown report with plots of one or more campaigns")
    s.add_argument("dbs", nargs="+", metavar="DB")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(fn=cmd_report)

    s = fi.add_parser("estimate", help="expected sdc / due / corrected per mission from campaigns and an upset rate")
    s.add_argument("dbs", nargs="+", metavar="DB")
    rate = s.add_mutually_exclusive_group(required=True)
    rate.add_argument("--orbit", metavar="PRESET", help="an orbit preset of fault_injection/orbits.json, e.g. leo-alsat1")
    rate.add_argument("--upset-rate", type=float_option("--upset-rate", 0.0, 1.0), metavar="PER_BIT_PER_DAY",
                      help="upsets per bit per day")
    s.add_argument("--years", type=float_option("--years", 0.0, 1000.0, low_open=True), default=1.0,
                   help="mission duration in years (default 1)")
    s.add_argument("--json", action="store_true", help="print the estimates as JSON")
    s.set_defaults(fn=cmd_estimate)

    add_serve_command(fi)


PROGRESS_EVERY_S = 30.0  # a progress line at least this often when stderr is not a terminal


def _progress_lines():
    """Progress for a log file or pipe: one line on stderr at each further 10% of the
    campaign, or after PROGRESS_EVERY_S seconds without one, and at the end."""
    state = {"tenth": -1, "at": time.monotonic()}

    def update(done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        now = time.monotonic()
        if tenth > state["tenth"] or done == total or now - state["at"] >= PROGRESS_EVERY_S:
            state["tenth"], state["at"] = tenth, now
            pct = 100.0 * done / total if total else 100.0
            print(f"radrt fi run: {done} of {total} injections recorded ({pct:.0f}%)", file=sys.stderr,
                  flush=True)
    return update


def _progress_bar():
    try:
        from tqdm import tqdm
    except ImportError:
        return _progress_lines()
    bar = tqdm(unit="inj", file=sys.stderr)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
    return update


def _tls_files(args):
    from .campaign import TlsFiles
    given = [o for o, v in (("--tls-ca", args.tls_ca), ("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)) if v]
    if not given:
        return None
    if len(given) < 3:
        missing = sorted({"--tls-ca", "--tls-cert", "--tls-key"} - set(given))
        raise InvalidArgumentError(f"{', '.join(given)} given without {', '.join(missing)}: a tls:// scheduler "
                                   f"needs all three PEM files", argument=missing[0])
    return TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)


def cmd_run(args) -> int:
    from .campaign import run_campaign
    progress = _progress_bar() if sys.stderr.isatty() else _progress_lines()
    summary = run_campaign(args.model, args.sites.split(","), args.fault_model, args.protect,
                           args.seed, args.db, faults=args.faults, margin=args.margin,
                           confidence=args.confidence, workers=args.workers,
                           scheduler=args.scheduler, progress=progress, tls=_tls_files(args),
                           inputs=args.inputs, input_count=args.input_count,
                           tolerance=Tolerance(criterion=args.criterion, iou_threshold=args.iou_threshold),
                           stratify=args.stratify)
    if args.json:
        print(json.dumps({k: summary[k] for k in ("total", "outcomes", "injections_per_s", "db", "inputs",
                                                    "criterion")}))
        return 0
    print(f"campaign {args.db}: {summary['total']} of {summary['planned']} injections recorded "
          f"({summary['executed_now']} now, {summary['injections_per_s']} /s); inputs: {summary['inputs']}; "
          f"criterion: {summary['criterion']}")
    print_outcomes(summary["outcomes"], summary["total"])
    return 0


def print_outcomes(counts, total: int) -> None:
    from .stats import proportion
    print(f"{'outcome':<14}{'count':>7}{'rate':>9}   95% interval")
    for outcome in OUTCOMES:
        n = counts.get(outcome, 0)
        if total:
            p = proportion(n, total)
            print(f"{outcome:<14}{n:>7}{p.rate:>9.3%}   [{p.low:.3%}, {p.high:.3%}]")


def cmd_replay(args) -> int:
    from .campaign import replay
    fault, row, verdict = replay(args.db, args.fault_id, args.inputs)
    print(f"fault {fault.fault_id}: {fault.model} at {fault.site} byte {fault.byte_offset} bit {fault.bit}"
          + (f", after op {fault.at_op}" if fault.at_op is not None else "")
          + (f", value 0x{fault.value:08x}" if fault.value is not None else "") + f", input {fault.input_index}")
    stored = row["outcome"] if row else None
    cause = f"cause: {verdict.cause}; " if verdict.cause else ""
    print(f"replayed outcome: {verdict.outcome} ({cause}max |error| {verdict.max_abs_error}); "
          f"recorded: {stored or 'not yet recorded'}")
    if verdict.error:
        print(f"error: {verdict.error}")
    return 0 if stored in (None, verdict.outcome) else 1


def cmd_estimate(args) -> int:
    from .estimate import format_estimate, mission_estimate
    if args.orbit is not None:
        from .orbits import orbit_rate
        preset = orbit_rate(args.orbit)
        rate, rate_text = preset.upsets_per_bit_per_day, f"orbit {preset.name}: {preset.description}"
    else:
        rate, rate_text = args.upset_rate, "--upset-rate"
    estimates = [mission_estimate(db, rate, args.years) for db in args.dbs]
    if args.json:
        print(json.dumps({"rate_source": rate_text, "estimates": estimates}, indent=1))
        return 0
    for i, est in enumerate(estimates):
        if i:
            print()
        print("\n".join(format_estimate(est, rate_text)))
    return 0


def cmd_report(args) -> int:
    from .report import write_report
    path = write_report(args.dbs, args.out)
    print(f"wrote {path}")
    return 0


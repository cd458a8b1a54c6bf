"""`radrt soak`: a mission soak at an accelerated orbit rate (a ground tool, never in flight).

    radrt soak digits --orbit leo-alsat1 --accelerate 3e6 --hours 0.01 --protect tmr

How it works:
1. Time. `--hours H` is the wall-clock duration of the soak: upsets arrive during the
   first H hours of wall-clock time, at X (`--accelerate`) times the orbit's rate, so
   the soak covers H x X hours of mission time. Rates in the summary are per
   mission-year (365.25 days of mission time). The background scrubber runs in wall
   time, so a scrub interval S seconds acts as S x X seconds of mission time against
   the accelerated upsets (both are printed).
2. Exposure. The exposed bits are every bit of the session's fault sites of the
   chosen kinds (`--sites`, default weights, activations, input): each weight copy,
   each replica's arena and each replica's input copy (`InferenceSession.fault_sites`,
   8 bits per byte, padding included: an upset cannot avoid it either). Compute
   (logic) upsets have no per-bit orbit rate and are not injected.
3. The schedule, drawn before the soak from `numpy.random.default_rng(seed)`, in this
   order: the upset count N ~ Poisson(rate x bits x X x H hours) (rate: the preset's
   upsets/bit/day, fault_injection.orbits), the N arrival times uniform over [0, H)
   hours, sorted (a Poisson process given its count), then per upset, by
   fault_injection.upsets.BitDraw (the draw `radrt fi serve --upset-rate` uses too),
   one bit uniform over all exposed bits and its op: activations uniform over the
   plan's ops (lands right after that op), input uniform over -1 (right after the
   inputs are copied in) and the ops. The same seed gives the same schedule (its
   SHA-256 is in the summary).
4. The loop. Inferences run back to back over the inputs, in order, cycling (digits:
   the shipped held-out set; other models: 4 seeded random inputs, runtime.feeds
   seeds 0-3; or `--inputs DIR|FILE.npz`, read as `radrt fi run` reads them,
   fault_injection.inputs), each on its own golden output computed
   fault-free first. Before each inference every upset whose arrival time has passed
   is injected through `InferenceSession.inject`: a weight bit flips at once (and
   stays until scrubbed), an arena or input bit is armed for this inference at its
   op. So an upset arriving during an inference lands at the next boundary: the
   session lock serialises injection with runs, as it does the scrubber. The soak
   ends at the first inference boundary after H hours with no upset left to land.
5. Outcomes. Each inference is classified by fault_injection.outcome.classify against
   its input's golden output, with the health counters' change since the previous
   inference ended (so every scrub repair and vote is counted in exactly one
   inference, the next one: `corrected` means output exact after a repair). After a
   `due` (UncorrectableUpsetError) or a `crash` (any other exception) the soak does
   what flight software does: it drops the session and loads the model again (a new
   InferenceSession: fresh weight copies from the model file), counts a recovery and
   goes on; upsets armed in the dropped session are lost with it. A segfault or a
   hang stops the soak itself (it runs in process: use `radrt fi run` to study those).
   Ctrl-C ends the soak at the next inference boundary with the summary of the part
   that ran (the time covered is up to the previous boundary: every upset that
   arrived before it landed and was read) and the command exits 130; a second
   Ctrl-C interrupts at once, without a summary.
6. The check. Without `--campaign`, the number of upsets injected is tested against
   the expected count (rate x bits x mission time): confirmed when it lies in the
   expectation's central 95% Poisson range (stats.poisson_range). With `--campaign
   DB` (a `radrt fi run` database of the same model, protection and fault model
   `flip`), the campaign's AVF per site kind times the upsets injected per kind
   gives the expected count of each outcome among the soak's *first reads*: the
   inferences that ran right after upsets landed, as a campaign runs one inference
   after each upset. The estimate is confirmed when the first reads' sdc (with
   critical_sdc) and due counts lie in the central 95% Poisson ranges of their
   expectations, refuted otherwise. Several upsets landing before one inference make
   one first read (keep upsets per inference well below 1: both are printed). Later
   inferences that read a persistent weight upset again (no scrubber, or before it
   passes) count in the per-inference outcomes, not in the check: the gap between the
   two is what persistence costs, which a one-upset-one-run campaign cannot see.
   Upsets at a kind the campaign never injected (a small site the sample missed) may
   have had any outcome: the range's high end then counts them all. The campaign's
   AVF is taken as exact (its own sampling error is not added).
Rates per mission-year carry Garwood's exact Poisson intervals (stats.poisson_interval).
"""
import argparse
import hashlib
import json
import math
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from runtime.errors import InvalidArgumentError, RadrtError, UncorrectableUpsetError
from runtime.options import float_option, int_option
from runtime.protect import MODES
from runtime.protect.scrubber import DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S

from .inputs import campaign_inputs
from .orbits import orbit_rate
from .upsets import BitDraw, Upset
from .vocabulary import OUTCOMES

SOAK_KINDS = ("weights", "activations", "input")  # site kinds with a per-bit orbit rate
RANDOM_INPUTS = 4            # seeded random inputs for a model without a held-out set
SECONDS_PER_DAY = 86400.0
DAYS_PER_YEAR = 365.25       # a mission-year (Julian year)
CONFIDENCE = 0.95
MAX_UPSETS = 1_000_000       # expected upsets of one soak: bounds the schedule's memory
MAX_HOURS = 8760.0           # a year of wall clock
EX_INTERRUPTED = 130         # runtime.cli's exit code for Ctrl-C, after the partial summary
JUDGED = ("sdc", "due")      # outcomes the campaign check judges ("sdc" includes critical_sdc)


@dataclass(frozen=True)
class ScheduledUpset:
    """One upset of the schedule: its arrival `t_s` (wall seconds after the soak starts)
    and the upset (upsets.Upset: where it lands)."""
    t_s: float
    upset: Upset

    def as_dict(self) -> dict:
        return {"t_s": self.t_s, **asdict(self.upset)}


def exposed_sites(sess, kinds: Sequence[str]) -> list:
    """The session's fault sites of `kinds`, in fault_sites() order."""
    return [s for s in sess.fault_sites() if s.kind in kinds]


def exposed_bits(sess, kinds: Sequence[str]) -> Dict[str, int]:
    """{kind: exposed bits} over `kinds` (8 x bytes of every site of that kind)."""
    bits = dict.fromkeys(kinds, 0)
    for s in exposed_sites(sess, kinds):
        bits[s.kind] += 8 * s.nbytes
    return bits


def draw_schedule(sites: Sequence, n_ops: int, upsets_per_s: float, duration_s: float,
                  seed: int) -> List[ScheduledUpset]:
    """The soak's upsets, drawn from `seed` in the order the module docstring gives.

    sites: FaultSite-like (name, kind, nbytes) of kinds weights/activations/input;
    upsets_per_s: the accelerated arrival rate over all their bits (per wall second)."""
    rng = np.random.default_rng(seed)
    count = int(rng.poisson(upsets_per_s * duration_s))
    times = np.sort(rng.uniform(0.0, duration_s, count))
    draw = BitDraw(sites, n_ops)
    return [ScheduledUpset(float(t), draw.draw(rng)) for t in times]


def schedule_sha256(schedule: Sequence[ScheduledUpset]) -> str:
    """SHA-256 of the schedule as canonical JSON lines (times as repr floats)."""
    h = hashlib.sha256()
    for u in schedule:
        h.update((json.dumps(u.as_dict(), sort_keys=True) + "\n").encode())
    return h.hexdigest()


def campaign_avf(db: str, model_sha256: str, model: str, protect: str, kinds: Sequence[str]) -> dict:
    """{kind: {outcome: count}} of a `radrt fi run` database over the soak's `kinds` it
    injected (kinds it did not inject are left out), checked to fit the soak.

    InvalidArgumentError naming --campaign and the value when it is another model,
    protection or fault model, or injected none of `kinds`."""
    from .store import CampaignStore
    try:
        store = CampaignStore.open_existing(db)
    except RadrtError as e:
        raise InvalidArgumentError(f"--campaign: {e}", argument="campaign", value=db) from e
    try:
        info = store.info
        by_kind = store.counts_by("kind")
    finally:
        store.close()
    config = info.config
    where = f"--campaign '{db}'"
    if info.model_sha256 != model_sha256:
        raise InvalidArgumentError(f"{where} is a campaign of model '{config.get('model')}' (SHA-256 "
                                   f"{info.model_sha256[:12]}...), not of '{model}' (SHA-256 {model_sha256[:12]}...)",
                                   argument="campaign", value=db)
    if config.get("protect") != protect:
        raise InvalidArgumentError(f"{where} ran protection '{config.get('protect')}'; this soak runs "
                                   f"--protect {protect}", argument="campaign", value=db)
    if config.get("fault_model") != "flip":
        raise InvalidArgumentError(f"{where} injected fault model '{config.get('fault_model')}'; the soak's "
                                   f"upsets are single-bit flips: expected a campaign of 'flip'",
                                   argument="campaign", value=db)
    covered = {k: dict(by_kind[k]) for k in kinds if sum(by_kind.get(k, {}).values())}
    if not covered:
        raise InvalidArgumentError(f"{where} has no injections at site kinds {', '.join(kinds)} (it has "
                                   f"{', '.join(sorted(by_kind)) or 'none'}); expected a campaign over some "
                                   f"of the kinds the soak injects (--sites)", argument="campaign", value=db)
    return covered


def _judged_count(counts: Dict[str, float], what: str) -> float:
    return counts.get("sdc", 0) + counts.get("critical_sdc", 0) if what == "sdc" else counts.get(what, 0)


def check_against_campaign(avf_counts: dict, injected: Dict[str, int], outcomes: Dict[str, int],
                           confidence: float = CONFIDENCE) -> dict:
    """Expected outcome counts = sum over the campaign's kinds of AVF(kind, outcome) x upsets
    injected of that kind; each JUDGED outcome's count in `outcomes` (the soak's first
    reads) against the central Poisson
    range of its expectation (the module docstring). Upsets at kinds the campaign did not
    inject (`uncovered`) may have had any outcome: the range then runs from the low end
    for the expectation without them to the high end for it plus all of them."""
    from .stats import poisson_range
    expected = dict.fromkeys(OUTCOMES, 0.0)
    for kind, per_outcome in avf_counts.items():
        n = sum(per_outcome.values())
        for outcome, k in per_outcome.items():
            expected[outcome] += k / n * injected.get(kind, 0)
    uncovered = {k: n for k, n in injected.items() if k not in avf_counts}
    extra = sum(uncovered.values())
    items = []
    for what in JUDGED:
        mean = _judged_count(expected, what)
        low = poisson_range(mean, confidence)[0]
        high = poisson_range(mean + extra, confidence)[1]
        observed = _judged_count(outcomes, what)
        items.append({"what": what, "observed": observed, "expected": mean, "uncovered_upsets": extra,
                      "low": low, "high": high, "within": low <= observed <= high})
    return {"against": "campaign", "expected_outcomes": expected, "uncovered": uncovered, "items": items,
            "verdict": "confirmed" if all(i["within"] for i in items) else "refuted"}


def check_upset_count(expected: float, injected: int, confidence: float = CONFIDENCE) -> dict:
    """The upsets injected against the expected Poisson count of the orbit rate."""
    from .stats import poisson_range
    low, high = poisson_range(expected, confidence)
    item = {"what": "upsets", "observed": injected, "expected": expected, "low": low, "high": high,
            "within": low <= injected <= high}
    return {"against": "upset rate", "items": [item], "verdict": "confirmed" if item["within"] else "refuted"}


def per_mission_year(count: int, mission_years: float, confidence: float = CONFIDENCE) -> dict:
    """count / mission_years with Garwood's exact interval, per mission-year."""
    from .stats import poisson_interval
    low, high = poisson_interval(count, confidence)
    return {"count": count, "per_year": count / mission_years, "low": low / mission_years,
            "high": high / mission_years}


class _StopOnSigint:
    """Ctrl-C during the soak loop asks it to stop at the next inference boundary (a
    second Ctrl-C interrupts at once). Installed only in the main thread (Python runs
    signal handlers there only); elsewhere Ctrl-C keeps its default."""

    def __init__(self):
        self.requested = False
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


class _Log:
    """--log FILE: one JSON object per line (upset, inference, reload)."""

    def __init__(self, path: Optional[str]):
        self._file = open(path, "w") if path else None

    def write(self, **event) -> None:
        if self._file:
            self._file.write(json.dumps(event) + "\n")

    def close(self) -> None:
        if self._file:
            self._file.close()


def run_soak(model: str, orbit: str, accelerate: float, hours: float, protect: str = "none",
             inputs: Optional[str] = None, scrub_interval_s: Optional[float] = None, seed: int = 0,
             sites: Sequence[str] = SOAK_KINDS, campaign: Optional[str] = None, log: Optional[str] = None,
             clock: Callable[[], float] = time.monotonic) -> dict:
    """Run one soak (the module docstring) and return its summary (a JSON-able dict).

    model: 'digits', a light model name or an .onnx path; orbit: a preset of
    fault_injection/orbits.json; accelerate: X > 0; hours: wall-clock hours > 0;
    scrub_interval_s: background scrubber period in wall seconds (None: the session's
    default; refused with protection 'none', which has no scrubber).

    Raises InvalidArgumentError naming the option and value for a bad argument, an
    unknown preset or a campaign that does not fit, before anything runs.
    """
    from runtime import InferenceSession

    from .campaign import resolve_model
    from .outcome import Golden, Tolerance, classify, health_delta

    rate = orbit_rate(orbit)
    for option, value, high in (("--accelerate", accelerate, math.inf), ("--hours", hours, MAX_HOURS)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 < value <= high:
            raise InvalidArgumentError(f"{option} must be a number in (0, {high:g}], got {value!r}",
                                       argument=option, value=value)
    kinds = list(dict.fromkeys(sites))
    if not kinds or any(k not in SOAK_KINDS for k in kinds):
        raise InvalidArgumentError(f"--sites {','.join(kinds)!r}: expected some of {', '.join(SOAK_KINDS)}",
                                   argument="sites", value=",".join(kinds))
    if protect == "none" and scrub_interval_s is not None:
        raise InvalidArgumentError("--scrub-interval: protection 'none' keeps one weight copy and runs no "
                                   "scrubber; choose a protected mode or leave it out",
                                   argument="scrub_interval", value=scrub_interval_s)
    interval_s = DEFAULT_INTERVAL_S if scrub_interval_s is None else scrub_interval_s
    data = resolve_model(model)

    def new_session(input_shapes=None):
        return InferenceSession(data, protection=protect, scrub_interval_s=interval_s, input_shapes=input_shapes)

    sess = new_session()
    avf_counts = (campaign_avf(campaign, hashlib.sha256(data).hexdigest(), model, protect, kinds)
                  if campaign is not None else None)
    feeds_list = campaign_inputs(model, sess, inputs, random_count=RANDOM_INPUTS).feeds
    # A reloaded session is compiled for these shapes at once: upsets land before its first run.
    shapes = {name: arr.shape for name, arr in feeds_list[0].items()}
    goldens = []
    for feeds in feeds_list:
        golden = Golden(sess.run(None, feeds))
        if Golden(sess.run(None, feeds)).sha256 != golden.sha256:
            raise RuntimeError(f"model '{model}': two fault-free runs differ; kernels must be deterministic")
        goldens.append(golden)

    bits = exposed_bits(sess, kinds)
    total_bits = sum(bits.values())
    duration_s = hours * 3600.0
    upsets_per_s = rate.upsets_per_bit_per_day / SECONDS_PER_DAY * total_bits * accelerate
    planned = upsets_per_s * duration_s
    if planned > MAX_UPSETS:
        raise InvalidArgumentError(f"--accelerate {accelerate:g} x --hours {hours:g} would inject "
                                   f"{planned:.3g} upsets on average; at most {MAX_UPSETS:g} per soak",
                                   argument="accelerate", value=accelerate)
    schedule = draw_schedule(exposed_sites(sess, kinds), len(sess.compiled.plan.steps), upsets_per_s,
                             duration_s, seed)
    tolerance = Tolerance()
    injected = dict.fromkeys(kinds, 0)
    outcomes = dict.fromkeys(OUTCOMES, 0)
    first_reads = dict.fromkeys(OUTCOMES, 0)  # outcomes of the inferences right after upsets landed
    health_total: Dict[str, int] = {}
    recoveries = inferences = 0
    covered_s, interrupted = 0.0, False  # arrivals up to covered_s have all landed
    pending = deque(schedule)
    out = _Log(log)
    stop = _StopOnSigint()
    try:
        sess.reset_health()
        health_mark = sess.health()
        wall_start = time.monotonic()
        start = clock()
        while True:
            if stop.requested:
                interrupted = True
                break
            now = clock() - start
            landed = 0
            while pending and pending[0].t_s <= now:
                u = pending.popleft()
                u.upset.inject(sess)
                injected[u.upset.kind] += 1
                landed += 1
                out.write(event="upset", inference=inferences, **u.as_dict())
            covered_s = min(now, duration_s)
            if now >= duration_s and not landed:
                break
            index = inferences % len(feeds_list)
            outputs, raised = None, None
            try:
                outputs = sess.run(None, feeds_list[index])
            except Exception as e:  # classify: UncorrectableUpsetError -> due, anything else -> crash
                raised = e
            health_now = sess.health()
            verdict = classify(goldens[index], outputs, health=health_delta(health_mark, health_now),
                               raised=raised, tolerance=tolerance)
            health_mark = health_now
            outcomes[verdict.outcome] += 1
            if landed:
                first_reads[verdict.outcome] += 1
            out.write(event="inference", index=inferences, input=index, outcome=verdict.outcome, upsets=landed,
                      max_abs_error=verdict.max_abs_error, error=verdict.error)
            inferences += 1
            if raised is not None:
                sess.close()
                _add(health_total, sess.health())
                sess = new_session(shapes)
                health_mark = sess.health()
                recoveries += 1
                out.write(event="reload", after_inference=inferences - 1,
                          reason="due" if isinstance(raised, UncorrectableUpsetError) else "crash")
        wall_s = time.monotonic() - wall_start
    finally:
        stop.restore()
        sess.close()
        out.close()
    _add(health_total, sess.health())
    if covered_s <= 0.0:  # interrupted before any time was covered: nothing to summarise
        raise KeyboardInterrupt

    mission_years = covered_s * accelerate / SECONDS_PER_DAY / DAYS_PER_YEAR
    expected_upsets = upsets_per_s * covered_s
    upsets_total = sum(injected.values())
    rates = {"upsets": per_mission_year(upsets_total, mission_years)}
    for outcome in OUTCOMES:
        rates[outcome] = per_mission_year(outcomes[outcome], mission_years)
    check = (check_against_campaign(avf_counts, injected, first_reads) if avf_counts is not None
             else check_upset_count(expected_upsets, upsets_total))
    if campaign is not None:
        check["campaign"] = str(campaign)
    return {"model": model, "protect": protect, "orbit": rate.name,
            "upsets_per_bit_per_day": rate.upsets_per_bit_per_day, "accelerate": accelerate,
            "soak_hours": hours, "interrupted": interrupted, "covered_hours": covered_s / 3600.0,
            "wall_seconds": wall_s, "mission_hours": covered_s * accelerate / 3600.0,
            "mission_years": mission_years, "seed": seed, "sites": kinds,
            "scrub_interval_s": interval_s if protect != "none" else None,
            "mission_scrub_interval_s": interval_s * accelerate if protect != "none" else None,
            "exposed_bits": bits, "upsets_per_wall_second": upsets_per_s, "expected_upsets": expected_upsets,
            "upsets": {"total": upsets_total, **injected}, "schedule_sha256": schedule_sha256(schedule),
            "inputs": len(feeds_list), "inferences": inferences, "outcomes": outcomes,
            "first_reads": first_reads,
            "recoveries": recoveries, "health": health_total, "per_mission_year": rates,
            "confidence": CONFIDENCE, "check": check}


def _add(total: Dict[str, int], counters: Dict[str, int]) -> None:
    for k, v in counters.items():
        total[k] = total.get(k, 0) + int(v)


# -- command line ----------------------------------------------------------------------

def _orbit_option(text: str) -> str:
    try:
        orbit_rate(text)
    except RadrtError as e:
        raise argparse.ArgumentTypeError(f"--orbit: {e}") from None
    return text


def _sites_option(text: str) -> List[str]:
    kinds = text.split(",")
    bad = [k for k in kinds if k not in SOAK_KINDS]
    if bad:
        raise argparse.ArgumentTypeError(f"--sites: site kind {bad[0]!r} is not one of {', '.join(SOAK_KINDS)} "
                                         f"(comma-separated), got {text!r}")
    return kinds


def add_commands(sub) -> None:
    """Adds `radrt soak` (entry point group radrt.commands)."""
    s = sub.add_parser("soak", help="mission soak: serve inferences while upsets arrive at an accelerated "
                                    "orbit rate; every output checked against its golden output",
                       description="Serves inferences back to back with the chosen protection (and its "
                                   "background scrubber), while upsets arrive as a Poisson process at the "
                                   "orbit preset's rate x exposed bits x --accelerate. --hours is the "
                                   "wall-clock duration; the soak covers --hours x --accelerate hours of "
                                   "mission time.")
    s.add_argument("model", help="an .onnx path, a light model name, or 'digits' (the shipped classifier)")
    s.add_argument("--orbit", required=True, type=_orbit_option,
                   help="orbit preset of fault_injection/orbits.json (upsets per bit per day), e.g. leo-alsat1")
    s.add_argument("--accelerate", required=True, type=float_option("--accelerate", 0.0, math.inf),
                   metavar="X", help="acceleration factor > 0: upsets arrive X times faster than in orbit")
    s.add_argument("--hours", required=True, type=float_option("--hours", 0.0, MAX_HOURS), metavar="H",
                   help="wall-clock duration of the soak in hours (> 0); mission time covered = H x X hours")
    s.add_argument("--protect", default="none", choices=MODES, help="protection mode: " + ", ".join(MODES))
    s.add_argument("--inputs", metavar="DIR|FILE.npz",
                   help="inputs, as for `radrt fi run --inputs` (default: digits' "
                        f"held-out set, else {RANDOM_INPUTS} seeded random inputs)")
    s.add_argument("--sites", type=_sites_option, default=list(SOAK_KINDS),
                   help="site kinds upsets arrive in, comma-separated (default weights,activations,input)")
    s.add_argument("--scrub-interval", type=float_option("--scrub-interval", MIN_INTERVAL_S, MAX_INTERVAL_S,
                                                         low_open=False),
                   metavar="S", help=f"background scrubber period in wall seconds (default {DEFAULT_INTERVAL_S}; "
                                     "protected modes only)")
    s.add_argument("--seed", type=int_option("--seed", 0), default=0, help="seed of the upset schedule")
    s.add_argument("--campaign", metavar="DB",
                   help="a `radrt fi run` database of the same model and protection: check its estimate")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.add_argument("--log", metavar="FILE", help="write every upset, inference and reload as JSON lines")
    s.set_defaults(fn=cmd_soak)


def cmd_soak(args) -> int:
    if args.log:
        folder = Path(args.log).parent
        if not folder.is_dir():
            raise InvalidArgumentError(f"--log: folder '{folder}' of '{args.log}' does not exist",
                                       argument="log", value=args.log)
    summary = run_soak(args.model, args.orbit, args.accelerate, args.hours, args.protect, args.inputs,
                       args.scrub_interval, args.seed, args.sites, args.campaign, args.log)
    if args.json:
        print(json.dumps(summary))
    else:
        print_summary(summary)
    if summary["interrupted"]:
        print(f"radrt soak: interrupted after {summary['covered_hours']:.4g} h of {summary['soak_hours']:g} h; "
              f"the summary covers that part", file=sys.stderr)
        return EX_INTERRUPTED
    return 0


def _rate_line(name: str, r: dict) -> str:
    return f"{name:<14}{r['count']:>8}{r['per_year']:>14.4g}   [{r['low']:.4g}, {r['high']:.4g}]"


def print_summary(s: dict, file=None) -> None:
    file = file or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=file)

    p(f"soak {s['model']} --protect {s['protect']} --orbit {s['orbit']} "
      f"({s['upsets_per_bit_per_day']:.3g} upsets/bit/day) --accelerate {s['accelerate']:g}")
    if s["interrupted"]:
        p(f"INTERRUPTED after {s['covered_hours']:.4g} h of the {s['soak_hours']:g} h soak (wall clock): "
          f"the figures below cover that part")
    p(f"soak duration (wall clock): {s['covered_hours']:.4g} h; mission time covered: {s['mission_hours']:.4g} h "
      f"= {s['mission_years']:.4g} mission-years")
    if s["scrub_interval_s"] is not None:
        p(f"background scrubber: every {s['scrub_interval_s']:g} s wall = {s['mission_scrub_interval_s']:.4g} s "
          f"of mission time")
    p("exposed bits: " + ", ".join(f"{k} {v}" for k, v in s["exposed_bits"].items())
      + f"; {s['upsets_per_wall_second']:.4g} upsets per wall second")
    up = s["upsets"]
    p(f"upsets injected: {up['total']} (" + ", ".join(f"{k} {up[k]}" for k in s["sites"])
      + f"); expected {s['expected_upsets']:.4g}")
    p(f"inferences: {s['inferences']} over {s['inputs']} inputs; recoveries (model reloaded): {s['recoveries']}")
    first = s["first_reads"]
    p(f"first reads (inferences right after upsets landed): {sum(first.values())}, "
      f"{up['total'] / max(s['inferences'], 1):.3g} upsets per inference; "
      + ", ".join(f"{o} {n}" for o, n in first.items() if n))
    p("health: " + ", ".join(f"{k} {v}" for k, v in s["health"].items()))
    p(f"{'':<14}{'count':>8}{'per m-year':>14}   {s['confidence']:.0%} interval (Garwood)")
    rates = s["per_mission_year"]
    p(_rate_line("upsets", rates["upsets"]))
    for outcome in OUTCOMES:
        p(_rate_line(outcome, rates[outcome]))
    check = s["check"]
    against = (f"campaign {check['campaign']}" if check["against"] == "campaign"
               else "the orbit rate x exposed bits x mission time")
    p(f"estimate of {against}: {check['verdict'].upper()}")
    for item in check["items"]:
        what = ("first-read " if check["against"] == "campaign" else "") + (
            "sdc+critical_sdc" if item["what"] == "sdc" else item["what"])
        extra = (f" (+ up to {item['uncovered_upsets']} upsets at kinds the campaign did not inject: "
                 f"{', '.join(k for k, n in check['uncovered'].items() if n)})" if item.get("uncovered_upsets") else "")
        p(f"  {what}: observed {item['observed']}, expected {item['expected']:.4g}{extra}, "
          f"{s['confidence']:.0%} Poisson range [{item['low']}, {item['high']}]: "
          f"{'within' if item['within'] else 'OUTSIDE'}")

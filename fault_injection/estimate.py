"""Exposure-weighted AVF and mission estimates: expected outcomes per mission-year.

    doc = exposure_document(sess, feeds, memory_map)       # at `fi run`, stored in the DB
    est = mission_estimate("c.db", orbit_rate("leo-alsat1").upsets_per_bit_per_day, years=5)

Exposure (recorded once per campaign, `meta` table, key "exposure"): the bits the
protection mode keeps per site kind (every weight copy, every replica's arena and
input copy), the padding among them (fault_injection.memory_map: bytes in no tensor),
and the duration of each op: the median over TIMING_RUNS fault-free runs stepped op
by op (PausedRun.advance_to), so d_k includes op k's vote or check in protected modes.

AVF. The campaign draws faults uniformly over the bits of its sites (and, for
activations, uniformly over the time points at_op 0 .. n_ops - 1); an upset in orbit
strikes every bit alike *at every moment*, so each recorded fault i gets an importance
weight w_i = (probability of its bit and moment in orbit) / (probability of its draw):
- weights, input: w = 1 (the bits are exposed for the whole run; the draw is uniform
  over bits already); 0 on padding, which is excluded from the rate and shown apart;
- activations: an arena upset landing after op a stands for the upsets that strike
  while op a runs, so w = n_ops * d_a / D, D = sum_k d_k (time share of op a over the
  draw's 1 / n_ops); 0 on arena padding. Dead bytes stay in: their upsets are masked
  (overwritten) in orbit too;
- compute: an ALU upset strikes op k in proportion to its run time and lands anywhere
  in its output, so w = (d_k / D) / (b_k / B), b_k its output bytes, B = sum_k b_k (the
  draw picks op k in proportion to b_k).
A stratified campaign (`--stratify layer`) multiplies each weight by W_h n / n_h
(`strata_factors`), undoing the stratified draw. AVF(kind, outcome) = sum w_i y_i / sum w_i with a Wilson interval at Kish's effective
sample size (fault_injection.stats.weighted_proportion). This is exact for a board that
infers back to back (duty cycle 1); between inferences arena upsets are overwritten by
the next run, so a lower duty cycle scales activations (and compute) down by it.

Mission estimate (per site kind of memory, the vocabulary's FIT-style figure):

    expected outcomes per mission = rate [upsets/bit/day] x 365.25 x years
                                    x exposed bits of real data x AVF(kind, outcome)

with the interval from AVF's interval (the rate and the bit count are taken as exact).
Outcomes: SDC (sdc + critical_sdc), critical_sdc, due, corrected. Totals add the kinds;
their interval adds the bounds (conservative). Compute faults have an AVF but no
upsets-per-bit rate (logic, not memory): shown as AVF only.
"""
import math
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

from runtime.errors import InvalidArgumentError

from .outcome import UNCHANGED
from .stats import Proportion, weighted_proportion
from .store import CampaignStore

EXPOSURE_KEY = "exposure"
STRATA_KEY = "strata"   # a stratified campaign's strata (fault_injection.campaign.prepare)
TIMING_RUNS = 5
DAYS_PER_YEAR = 365.25
MEMORY_KINDS = ("weights", "activations", "input")
# Outcome groups of an estimate: name -> outcomes counted.
ESTIMATE_OUTCOMES = {"sdc": ("sdc", "critical_sdc"), "critical_sdc": ("critical_sdc",),
                     "due": ("due",), "corrected": ("corrected",)}
# Fault models whose one draw is one upset event (a particle strike flipping one bit, or
# adjacent bits for mbu): the only ones an orbit's upset rate can be multiplied with.
UPSET_MODELS = ("flip", "mbu")
COMPUTE_NOTE = "compute: AVF only; an upset rate per bit does not apply to logic (no orbit rate for ALU upsets)"


def op_durations(sess, feeds, runs: int = TIMING_RUNS) -> List[float]:
    """Seconds per op: the median over `runs` fault-free runs stepped op by op."""
    n_ops = len(sess.compiled.plan.steps)
    samples: List[List[float]] = [[] for _ in range(n_ops)]
    for _ in range(runs):
        with sess.paused_run(feeds) as paused:
            for k in range(n_ops):
                t0 = time.perf_counter()
                paused.advance_to(k + 1)
                samples[k].append(time.perf_counter() - t0)
            paused.finish()
    return [statistics.median(s) for s in samples]


def exposure_document(sess, feeds, memory_map, runs: int = TIMING_RUNS) -> dict:
    """What estimates need from the session (JSON-able; see the module docstring)."""
    durations = op_durations(sess, feeds, runs)
    sites = sess.fault_sites()
    doc = {"op_durations_s": durations, "timing_runs": runs, "protection": sess.protection,
           "padding_spans": {k: [list(s) for s in memory_map.padding_spans(k)] for k in MEMORY_KINDS},
           "exposed_bits": {}, "padding_bits": {}}
    first_compute = next((s.replica for s in sites if s.kind == "compute"), None)
    doc["op_output_bytes"] = {str(s.op_index): s.nbytes for s in sites
                              if s.kind == "compute" and s.replica == first_compute}
    for kind in MEMORY_KINDS:
        kind_sites = [s for s in sites if s.kind == kind]
        pad = memory_map.padding_bytes(kind) if kind_sites else 0
        doc["exposed_bits"][kind] = 8 * sum(s.nbytes - pad for s in kind_sites)
        doc["padding_bits"][kind] = 8 * pad * len(kind_sites)
    return doc


def record_exposure(store: CampaignStore, sess, feeds, memory_map) -> dict:
    """Measure and store the exposure once per campaign (a resumed campaign keeps its own)."""
    doc = store.get_meta(EXPOSURE_KEY)
    if doc is None:
        doc = exposure_document(sess, feeds, memory_map)
        store.put_meta(EXPOSURE_KEY, doc)
    return doc


class Exposure:
    """A stored exposure document, with the importance weight of each recorded fault."""

    def __init__(self, doc: dict, source: str = "campaign", strata: Optional[dict] = None):
        self.strata = strata
        try:
            self.durations = [float(d) for d in doc["op_durations_s"]]
            self.padding = {k: [tuple(s) for s in doc["padding_spans"][k]] for k in MEMORY_KINDS}
            self.exposed_bits = {k: int(doc["exposed_bits"][k]) for k in MEMORY_KINDS}
            self.padding_bits = {k: int(doc["padding_bits"][k]) for k in MEMORY_KINDS}
            self.output_bytes = {int(k): int(v) for k, v in doc["op_output_bytes"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgumentError(f"{source}: the stored exposure data are incomplete ({e!r}); "
                                       f"run the campaign again with this radrt") from e
        self.run_time = math.fsum(self.durations)
        if not self.durations or self.run_time <= 0:
            raise InvalidArgumentError(f"{source}: the stored op durations sum to {self.run_time} s; expected > 0")
        self.output_total = sum(self.output_bytes.values())

    def on_padding(self, row: dict) -> bool:
        spans = self.padding.get(row["kind"], ())
        return any(s <= row["byte_offset"] < e for s, e in spans)

    def weight(self, row: dict) -> float:
        """The importance weight of a recorded fault (module docstring); 0 for one on
        padding and for one that changed no bit (cause `unchanged`: no upset)."""
        kind = row["kind"]
        if row.get("cause") == UNCHANGED or (kind in MEMORY_KINDS and self.on_padding(row)):
            return 0.0
        if kind == "activations":
            return len(self.durations) * self.durations[row["at_op"]] / self.run_time
        if kind == "compute":
            k = row["op_index"]
            return (self.durations[k] / self.run_time) / (self.output_bytes[k] / self.output_total)
        return 1.0


def load_exposure(store: CampaignStore) -> Optional[Exposure]:
    doc = store.get_meta(EXPOSURE_KEY)
    return None if doc is None else Exposure(doc, f"'{store.path}'", store.get_meta(STRATA_KEY))


def strata_factors(rows: Sequence[dict], strata: dict) -> Dict[int, float]:
    """{fault id: W_h n / n_h} for a stratified campaign: the ratio of a fault's
    probability under the uniform draw to its probability under the stratified one
    (n_h: recorded faults of its stratum h, n: all recorded), so the importance
    weights of a stratified campaign estimate the same AVF as a uniform one."""
    by_fault = strata["by_fault"]
    count: Dict[str, int] = {}
    for r in rows:
        h = by_fault[r["fault_id"]]
        count[h] = count.get(h, 0) + 1
    n = len(rows)
    return {r["fault_id"]: strata["strata"][by_fault[r["fault_id"]]]["W"] * n / count[by_fault[r["fault_id"]]]
            for r in rows}


def weighted_avf(rows: Sequence[dict], exposure: Exposure, confidence: float = 0.95
                 ) -> Dict[str, Dict[str, Proportion]]:
    """{kind: {outcome group: AVF}} over the recorded faults of each kind (padding
    excluded), exposure-weighted; a kind whose faults all hit padding is left out."""
    by_kind: Dict[str, List[dict]] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    weights_of = dict(zip((r["fault_id"] for r in rows), _row_weights(rows, exposure)))
    result = {}
    for kind, kind_rows in by_kind.items():
        weights = [weights_of[r["fault_id"]] for r in kind_rows]
        if not any(w > 0 for w in weights):
            continue
        result[kind] = {name: weighted_proportion(weights, [r["outcome"] in outcomes for r in kind_rows],
                                                  confidence)
                        for name, outcomes in ESTIMATE_OUTCOMES.items()}
    return result


def _row_weights(rows: Sequence[dict], exposure: Exposure) -> List[float]:
    """Each row's importance weight times its stratum factor (a stratified campaign)."""
    factor = strata_factors(rows, exposure.strata) if exposure.strata else {}
    return [exposure.weight(r) * factor.get(r["fault_id"], 1.0) for r in rows]


def layer_sdc(rows: Sequence[dict], exposure: Exposure, confidence: float = 0.95
              ) -> Dict[int, Tuple[Proportion, float]]:
    """{op index: (exposure-weighted SDC AVF of the faults that reached the op, its share
    of the whole campaign's weighted SDC)}, over the rows with a layer. The weights are
    those of the per-kind AVF (module docstring) times the strata factor, so a layer
    sampled more densely (`--stratify layer`) does not gain share for it; within a layer
    the kinds mix in the proportions the draw gave them. A layer whose rows all weigh 0
    (padding, unchanged) is left out; shares are 0 when no layer has an SDC."""
    by_layer: Dict[int, Tuple[List[float], List[bool]]] = {}
    for r, w in zip(rows, _row_weights(rows, exposure)):
        if r.get("layer") is None:
            continue
        ws, ys = by_layer.setdefault(r["layer"], ([], []))
        ws.append(w)
        ys.append(r["outcome"] in ESTIMATE_OUTCOMES["sdc"])
    total = math.fsum(w for ws, ys in by_layer.values() for w, y in zip(ws, ys) if y)
    result = {}
    for layer, (ws, ys) in by_layer.items():
        if any(w > 0 for w in ws):
            part = math.fsum(w for w, y in zip(ws, ys) if y)
            result[layer] = (weighted_proportion(ws, ys, confidence), part / total if total else 0.0)
    return result


def check_rate(rate, what: str = "--upset-rate") -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
        raise InvalidArgumentError(f"{what} {rate!r}: expected upsets per bit per day, a finite number >= 0",
                                   argument="upset_rate", value=rate)
    return float(rate)


def is_upset_model(fault_model) -> bool:
    """Whether a campaign's fault model ("flip", "mbu:3", "stuck-at-0", ...) is an upset (UPSET_MODELS)."""
    return str(fault_model).partition(":")[0] in UPSET_MODELS


def check_upset_model(fault_model, db) -> None:
    """InvalidArgumentError unless the campaign's fault model is an upset (is_upset_model)."""
    if not is_upset_model(fault_model):
        raise InvalidArgumentError(f"'{db}': fault model {fault_model!r} is not an upset; an orbit estimate "
                                   f"multiplies upsets per bit per day, so it needs a campaign of fault model "
                                   f"flip or mbu:N", argument="fault_model", value=fault_model)


def mission_estimate(db, upsets_per_bit_per_day: float, years: float = 1.0, confidence: float = 0.95) -> dict:
    """The estimate of one campaign database (module docstring), as a JSON-able dict:
    {db, model, protect, injections, rate, years, kinds: {kind: {exposed_bits,
    padding_bits, injections, padding_injections, avf: {group: Proportion.as_dict()},
    expected: {group: {mean, low, high}}}}, total: {group: {mean, low, high}},
    compute: {group: AVF} or None, notes}. InvalidArgumentError for a database
    without exposure data (written before this radrt), of a fault model that is not an
    upset (stuck-at, random, zero, accumulate: UPSET_MODELS are flip and mbu:N), or a bad
    rate or years."""
    rate = check_rate(upsets_per_bit_per_day)
    if isinstance(years, bool) or not isinstance(years, (int, float)) or not math.isfinite(years) or years <= 0:
        raise InvalidArgumentError(f"--years {years!r}: expected a mission duration in years > 0",
                                   argument="years", value=years)
    store = CampaignStore.open_existing(db)
    try:
        exposure = load_exposure(store)
        rows = list(store.rows())
        info = store.info
    finally:
        store.close()
    if exposure is None:
        raise InvalidArgumentError(f"'{db}' holds no exposure data (exposed bits, op durations): it was written "
                                   f"by a radrt before `fi estimate`; run the campaign into a new database",
                                   argument="db", value=str(db))
    check_upset_model(info.config.get("fault_model"), db)
    avf = weighted_avf(rows, exposure, confidence)
    per_bit_mission = rate * DAYS_PER_YEAR * years
    kinds = {}
    total = {g: {"mean": 0.0, "low": 0.0, "high": 0.0} for g in ESTIMATE_OUTCOMES}
    for kind in MEMORY_KINDS:
        if kind not in avf:
            continue
        bits = exposure.exposed_bits[kind]
        kind_rows = [r for r in rows if r["kind"] == kind]
        expected = {}
        for g, p in avf[kind].items():
            expected[g] = {"mean": per_bit_mission * bits * p.rate, "low": per_bit_mission * bits * p.low,
                           "high": per_bit_mission * bits * p.high}
            for key in ("mean", "low", "high"):
                total[g][key] += expected[g][key]
        kinds[kind] = {"exposed_bits": bits, "padding_bits": exposure.padding_bits[kind],
                       "injections": len(kind_rows),
                       "padding_injections": sum(1 for r in kind_rows if exposure.on_padding(r)),
                       "avf": {g: p.as_dict() for g, p in avf[kind].items()}, "expected": expected}
    unmeasured = [k for k in MEMORY_KINDS if k not in kinds and exposure.exposed_bits[k]]
    notes = [COMPUTE_NOTE]
    if unmeasured:
        notes.append(f"not measured by this campaign (no estimate): {', '.join(unmeasured)} "
                     f"({', '.join(str(exposure.exposed_bits[k]) for k in unmeasured)} exposed bits)")
    return {"db": str(db), "model": info.config.get("model"), "protect": info.config.get("protect"),
            "injections": len(rows), "upsets_per_bit_per_day": rate, "years": years,
            "kinds": kinds, "total": total,
            "compute": {g: p.as_dict() for g, p in avf["compute"].items()} if "compute" in avf else None,
            "notes": notes}


def format_count(x: float) -> str:
    """An expected count: 3 significant digits, scientific below 0.01."""
    return "0" if x == 0 else (f"{x:.3g}" if abs(x) >= 0.01 else f"{x:.2e}")


def format_estimate(est: dict, rate_text: str) -> List[str]:
    """The estimate as text lines (the CLI's and the report's)."""
    years = est["years"]
    lines = [f"campaign {est['db']}: model {est['model']}, protection {est['protect']}, "
             f"{est['injections']} injections",
             f"upset rate {est['upsets_per_bit_per_day']:.3g} per bit per day ({rate_text}), "
             f"{years:g} mission-year{'s' if years != 1 else ''}",
             f"{'kind':<12}{'exposed bits':>14}  {'outcome':<13}{'AVF [95% interval]':<28}"
             f"{'expected per mission [95% interval]'}"]
    for kind, k in est["kinds"].items():
        for g in ESTIMATE_OUTCOMES:
            a, e = k["avf"][g], k["expected"][g]
            lines.append(f"{kind:<12}{k['exposed_bits']:>14,}  {g:<13}"
                         f"{100 * a['rate']:.3g}% [{100 * a['low']:.3g}%, {100 * a['high']:.3g}%]".ljust(67)
                         + f"{format_count(e['mean'])} [{format_count(e['low'])}, {format_count(e['high'])}]")
        if k["padding_bits"]:
            lines.append(f"{'':<12}padding: {k['padding_bits']:,} bits in no tensor, excluded "
                         f"({k['padding_injections']} of {k['injections']} injections landed there)")
    for g in ESTIMATE_OUTCOMES:
        t = est["total"][g]
        lines.append(f"{'total':<12}{'':>14}  {g:<13}{'':<28}"
                     f"{format_count(t['mean'])} [{format_count(t['low'])}, {format_count(t['high'])}]")
    if est["compute"]:
        c = est["compute"]
        lines.append("compute AVF: " + ", ".join(f"{g} {100 * c[g]['rate']:.3g}% [{100 * c[g]['low']:.3g}%, "
                                                 f"{100 * c[g]['high']:.3g}%]" for g in ESTIMATE_OUTCOMES))
    lines += [f"note: {n}" for n in est["notes"]]
    return lines

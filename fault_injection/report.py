"""The report of fault-injection campaigns: Markdown tables and PNG plots.

    write_report(["none.db", "tmr.db"], "out/")   # -> out/report.md, out/*.png
    python -m fault_injection.report none.db tmr.db --out out/

Per campaign (n = 1, 2, ... in the order given): its configuration, the outcome
breakdown (all eight outcomes of the vocabulary, zero rows included, each with its
95% Wilson interval), the rates per site kind, padding (bytes in no tensor: their
share of each site and the injections that hit them, excluded from every rate when
the database records its exposure), the exposure-weighted AVF per site kind
(fault_injection.estimate), masked injections by cause, the SDC rate per named layer,
"which layers to protect" (each layer's share of the SDCs against its share of the
run time, largest first), SDC rate per bit position, the mission estimate for the
LEO preset, and three plots:
`outcomes_<n>.png` (outcome rates), `layers_<n>.png` (SDC rate per layer, named) and
`bits_<n>.png` (SDC rate per bit position of a float32 word). With several campaigns
(e.g. one per protection mode), a side-by-side table with each one's expected SDC /
DUE / corrected per mission-year, and `comparison.png`. Last, "How to read this": the
outcomes' definitions, what the intervals mean, and the error margin each campaign's
sample size achieves.

"SDC" throughout is sdc + critical_sdc: every silent wrong output. A plot whose data
is empty (no injections, no injection with an op index) is left out and the report
says so; rates of an empty campaign read "n/a".

matplotlib is imported only when plots are drawn, and only its object-oriented API
(Figure + Agg canvas) is used: no pyplot, no global backend switch, no display.
"""
import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from runtime.errors import InvalidArgumentError

from .estimate import (ESTIMATE_OUTCOMES, MEMORY_KINDS, Exposure, format_count, format_estimate, is_upset_model,
                       layer_sdc, load_exposure, mission_estimate, weighted_avf)
from .orbits import orbit_rate
from .outcome import MASKED_CAUSES, UNCHANGED, cause_kind
from .stats import Proportion, achieved_margin, normal_quantile, proportion, stratified_rate
from .store import EXPECTED_DATABASE, CampaignInfo, CampaignMismatchError, CampaignStore
from .vocabulary import OUTCOMES, SITE_KINDS

CONFIDENCE = 0.95
SDC_OUTCOMES = ("sdc", "critical_sdc")
WORD_BITS = 32  # float32 word: bits 0-22 mantissa, 23-30 exponent, 31 sign

# Fixed colours per outcome, so every plot of every report reads alike.
_OUTCOME_COLOURS = {
    "masked": "#4c9a5a", "tolerable": "#a6d49b", "sdc": "#f0a030", "critical_sdc": "#d62728",
    "corrected": "#3a75b0", "due": "#8c6bb1", "crash": "#555555", "hang": "#a0785a",
}


class ReportError(InvalidArgumentError):
    """A campaign database cannot be reported: missing, not a campaign, or inconsistent.

    A RadrtError (CLI exit code 2) and a ValueError."""


@dataclass(frozen=True)
class Campaign:
    """What the report needs from one campaign database, read once. Counts exclude
    injections on padding (bytes in no tensor) when the database records its exposure
    (fault_injection.estimate); `padding` counts those per site kind. They also exclude
    the faults that left every bit as it was (cause `unchanged`: a stuck-at, zero or
    random fault on bits already at that value is no upset); `unchanged` counts them."""
    path: Path
    info: CampaignInfo
    outcome_counts: Dict[str, int]
    by_kind: Dict[str, Dict[str, int]]
    by_layer: Dict[Optional[int], Dict[str, int]]
    by_bit: Dict[int, Dict[str, int]]
    layers: Dict[int, Tuple[str, str]]   # op index -> (node name, op type)
    rows: Tuple[dict, ...] = ()
    exposure: Optional[Exposure] = None
    padding: Dict[str, int] = field(default_factory=dict)      # site kind -> injections on padding
    causes: Dict[Optional[str], int] = field(default_factory=dict)  # masked cause kind -> count
    unchanged: int = 0                                          # faults that changed no bit

    def layer_name(self, op_index: int) -> str:
        """`name (OpType)` of an op of the campaign's plan."""
        if op_index not in self.layers:
            raise ReportError(f"'{self.path}': injections name op {op_index}, which the campaign's layer "
                              f"table does not list ({len(self.layers)} ops)")
        name, op_type = self.layers[op_index]
        return f"{name} ({op_type})"

    @property
    def total(self) -> int:
        return sum(self.outcome_counts.values())

    @property
    def protect(self) -> str:
        return str(self.info.config.get("protect", "?"))

    def rate(self, outcomes: Sequence[str]) -> Optional[Proportion]:
        """The rate of `outcomes` among all injections; None without injections."""
        if not self.total:
            return None
        return proportion(sum(self.outcome_counts[o] for o in outcomes), self.total, CONFIDENCE)


def _tally(rows, key) -> Dict[object, Dict[str, int]]:
    result: Dict[object, Dict[str, int]] = {}
    for r in rows:
        per = result.setdefault(key(r), {})
        per[r["outcome"]] = per.get(r["outcome"], 0) + 1
    return result


def load_campaign(path: Union[str, Path]) -> Campaign:
    """Read one database (CampaignStore checks the file and its rows); a database
    that cannot be read is ReportError naming it."""
    path = Path(path)
    try:
        store = CampaignStore.open_existing(path)
    except CampaignMismatchError as e:  # SQLite, but not a campaign
        raise ReportError(f"{e}; {EXPECTED_DATABASE}") from e
    except InvalidArgumentError as e:
        raise ReportError(str(e)) from e
    with store:
        try:
            exposure = load_exposure(store)
        except InvalidArgumentError as e:
            raise ReportError(str(e)) from e
        rows = tuple(store.rows())
        layers = store.layers()
        info = store.info
    on_padding = [exposure is not None and r["kind"] in MEMORY_KINDS and exposure.on_padding(r) for r in rows]
    real = [r for r, pad in zip(rows, on_padding) if not pad and r["cause"] != UNCHANGED]
    unchanged = sum(1 for r, pad in zip(rows, on_padding) if not pad and r["cause"] == UNCHANGED)
    padding: Dict[str, int] = {}
    for r, pad in zip(rows, on_padding):
        if pad:
            padding[r["kind"]] = padding.get(r["kind"], 0) + 1
    counts = {o: 0 for o in OUTCOMES}
    for r in real:
        counts[r["outcome"]] += 1
    causes: Dict[Optional[str], int] = {}
    for r in rows:
        if r["outcome"] == "masked":
            try:
                kind = cause_kind(r["cause"])
            except InvalidArgumentError as e:
                raise ReportError(f"'{path}': injection row fault_id {r['fault_id']}: {e}") from e
            causes[kind] = causes.get(kind, 0) + 1
    word = WORD_BITS // 8
    return Campaign(path, info, counts, _tally(real, lambda r: r["kind"]), _tally(real, lambda r: r["layer"]),
                    _tally(real, lambda r: (r["byte_offset"] % word) * 8 + r["bit"]), layers, rows, exposure,
                    padding, causes, unchanged)


# -- formatting --------------------------------------------------------------------------
def format_percent(x: float) -> str:
    """A rate in percent: two decimals, or two significant digits below 0.1%."""
    v = 100.0 * x
    return f"{v:.2f}%" if v == 0 or v >= 0.1 else f"{v:.2g}%"


def format_interval(p: Optional[Proportion]) -> str:
    return "n/a" if p is None else f"[{format_percent(p.low)}, {format_percent(p.high)}]"


def format_rate(p: Optional[Proportion]) -> str:
    """Rate and interval in one cell: `12.50% [9.60%, 16.13%]`."""
    return "n/a" if p is None else f"{format_percent(p.rate)} {format_interval(p)}"


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence], align: Sequence[str]) -> List[str]:
    """A Markdown table; align: 'l' or 'r' per column."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _config_text(config: dict, key: str) -> str:
    value = config.get(key)
    if value is None:
        return "not recorded"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _tolerance_text(config: dict) -> str:
    tol = config.get("tolerance")
    if not isinstance(tol, dict):
        return "not recorded"
    return f"rtol {tol.get('rtol', '?')}, atol {tol.get('atol', '?')}"


def _injections_text(c: Campaign) -> str:
    recorded = len(c.rows)
    planned = c.info.config.get("faults")
    if not isinstance(planned, int) or isinstance(planned, bool):
        return f"{recorded} recorded (planned count not recorded)"
    text = f"{recorded} recorded of {planned} planned"
    if recorded < planned:
        text += f" (incomplete: {planned - recorded} not run yet)"
    if sum(c.padding.values()):
        text += f"; {sum(c.padding.values())} on padding, excluded from the rates"
    if c.unchanged:
        text += f"; {c.unchanged} changed no bit (cause `unchanged`: no upset), excluded from the rates"
    return text


def labels(campaigns: Sequence[Campaign]) -> List[str]:
    """Column labels: the protection modes, or the file names when a mode repeats (the
    paths as given when file names repeat too)."""
    for candidate in ([c.protect for c in campaigns], [c.path.name for c in campaigns]):
        if len(set(candidate)) == len(candidate):
            return candidate
    return [str(c.path) for c in campaigns]


# -- plots -------------------------------------------------------------------------------
def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ReportError("the report's plots need matplotlib: pip install 'radrt[campaign]'") from e
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _error_bars(props: Sequence[Proportion]) -> Tuple[List[float], List[float]]:
    # Clamped at 0: the rate lies inside its Wilson interval, up to rounding.
    return ([max(0.0, 100 * (p.rate - p.low)) for p in props],
            [max(0.0, 100 * (p.high - p.rate)) for p in props])


def plot_outcomes(c: Campaign, label: str, path: Path) -> None:
    props = [c.rate([o]) for o in OUTCOMES]
    fig = _figure(8.0, 4.5)
    ax = fig.add_subplot()
    x = range(len(OUTCOMES))
    ax.bar(x, [100 * p.rate for p in props], yerr=_error_bars(props), capsize=4,
           color=[_OUTCOME_COLOURS[o] for o in OUTCOMES], edgecolor="black", linewidth=0.5)
    for i, p in enumerate(props):
        ax.annotate(str(p.k), (i, 100 * p.high), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), list(OUTCOMES), rotation=20, ha="right")
    ax.set_ylabel("share of injections (%)")
    ax.set_ylim(0, min(100.0, max(100 * p.high for p in props)) * 1.12 + 0.5)
    ax.set_title(f"Outcomes: {label} ({c.total} injections; counts above bars, 95% Wilson intervals)",
                 fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")


def _group_rate(per_outcome: Dict[str, int], outcomes: Sequence[str]) -> Proportion:
    return proportion(sum(per_outcome.get(o, 0) for o in outcomes), sum(per_outcome.values()), CONFIDENCE)


def _sdc_by(counts: Dict[object, Dict[str, int]]) -> Dict[object, Proportion]:
    """SDC rate per group; the group None (no op: input or link sites) is left out."""
    return {g: _group_rate(per_outcome, SDC_OUTCOMES) for g, per_outcome in counts.items()
            if g is not None and sum(per_outcome.values())}


def _note_no_sdc(ax, props: Sequence[Proportion]) -> None:
    """Without any SDC the bars have no height: say what the whiskers alone mean, in
    headroom above the tallest whisker."""
    top = max(100 * p.high for p in props)
    if any(p.k for p in props):
        ax.set_ylim(0, top * 1.05)
        return
    ax.set_ylim(0, top * 1.25)
    ax.text(0.5, 0.97, "no SDC observed: the whiskers are the 95% upper bounds", transform=ax.transAxes,
            ha="center", va="top", fontsize=9, bbox={"facecolor": "white", "edgecolor": "#999999"})


def plot_layers(c: Campaign, by_layer: Dict[int, Proportion], label: str, path: Path,
                what: str = "SDC rate") -> None:
    layers = sorted(by_layer)
    props = [by_layer[k] for k in layers]
    fig = _figure(min(18.0, max(8.0, 0.3 * len(layers))), 5.5)
    ax = fig.add_subplot()
    x = range(len(layers))
    ax.bar(x, [100 * p.rate for p in props], yerr=_error_bars(props), capsize=2 if len(layers) > 40 else 4,
           color=_OUTCOME_COLOURS["sdc"], edgecolor="black", linewidth=0.5)
    ax.set_xticks(list(x), [f"{k}: {c.layer_name(k)}" for k in layers], rotation=60, ha="right",
                  fontsize=7 if len(layers) > 20 else 8)
    ax.set_xlabel("layer (op index: node name (op type)), the op the upset first reached")
    ax.set_ylabel(f"{what} (%)")
    _note_no_sdc(ax, props)
    ax.set_title(f"{what} per layer: {label} (sdc + critical_sdc, 95% Wilson intervals)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")


def plot_bits(by_bit: Dict[int, Proportion], label: str, path: Path) -> None:
    bits = sorted(by_bit)
    props = [by_bit[b] for b in bits]
    fig = _figure(9.0, 4.5)
    ax = fig.add_subplot()
    for (lo, hi), name, shade in (((0, 22), "mantissa (0-22)", "#e8eef7"), ((23, 30), "exponent (23-30)", "#f7ece0"),
                                  ((31, 31), "sign (31)", "#f2e0e0")):
        ax.axvspan(lo - 0.5, hi + 0.5, color=shade, zorder=0)
        ax.text((lo + hi) / 2, 1.01, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8)
    ax.bar(bits, [100 * p.rate for p in props], yerr=_error_bars(props), capsize=2,
           color=_OUTCOME_COLOURS["sdc"], edgecolor="black", linewidth=0.5, zorder=2)
    ax.set_xlim(-0.7, WORD_BITS - 0.3)
    ax.set_xticks(range(0, WORD_BITS, 1), [str(b) if b % 2 == 0 or b == 31 else "" for b in range(WORD_BITS)])
    ax.set_xlabel("bit position in the float32 word (start bit of the fault)")
    ax.set_ylabel("SDC rate (%)")
    _note_no_sdc(ax, props)
    ax.set_title(f"Bit-position sensitivity: {label} (sdc + critical_sdc, 95% Wilson intervals)",
                 fontsize=10, pad=16)
    fig.savefig(path, format="png")


def plot_comparison(campaigns: Sequence[Campaign], names: Sequence[str], path: Path) -> None:
    fig = _figure(9.0, 4.8)
    ax = fig.add_subplot()
    width = 0.8 / len(campaigns)
    colours = ["#4878a8", "#e07b39", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#ff9da7"]
    top = 0.0
    for j, (c, name) in enumerate(zip(campaigns, names)):
        if not c.total:
            continue
        props = [c.rate([o]) for o in OUTCOMES]
        xs = [i - 0.4 + width * (j + 0.5) for i in range(len(OUTCOMES))]
        ax.bar(xs, [100 * p.rate for p in props], width, yerr=_error_bars(props), capsize=2,
               color=colours[j % len(colours)], edgecolor="black", linewidth=0.4, label=f"{name} ({c.total})")
        top = max(top, max(100 * p.high for p in props))
    ax.set_xticks(range(len(OUTCOMES)), list(OUTCOMES), rotation=20, ha="right")
    ax.set_ylabel("share of injections (%)")
    ax.set_ylim(0, min(100.0, top) * 1.08 + 0.5)
    ax.set_title("Outcomes side by side (95% Wilson intervals; legend: campaign (injections))", fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, format="png")


# -- sections ----------------------------------------------------------------------------
def _campaign_section(n: int, c: Campaign, label: str, out_dir: Path) -> List[str]:
    cfg = c.info.config
    lines = [f"## Campaign {n}: {label}", ""]
    lines += _table(["setting", "value"], [
        ("database", f"`{c.path}`"),
        ("model", _config_text(cfg, "model")),
        ("model SHA-256", f"`{c.info.model_sha256[:12]}`"),
        ("protection", _config_text(cfg, "protect")),
        ("sites", _config_text(cfg, "sites")),
        ("fault model", _config_text(cfg, "fault_model")),
        ("injections", _injections_text(c)),
        ("seed", c.info.seed),
        ("tolerance", _tolerance_text(cfg)),
        ("code version", c.info.code_version),
        ("created", c.info.created),
    ], "ll")
    lines += ["", "### Outcomes", ""]
    rows = []
    for o in OUTCOMES:
        p = c.rate([o])
        rows.append((o, c.outcome_counts[o], "n/a" if p is None else format_percent(p.rate), format_interval(p)))
    on_padding = sum(c.padding.values()) + c.unchanged
    if on_padding:
        rows.append(("total over real data", c.total, "n/a" if not c.total else "100.00%", ""))
    if c.unchanged:
        rows.append(("changed no bit (excluded: no upset)", c.unchanged, "", "masked"))
    if sum(c.padding.values()):
        pad_outcomes = {}
        for r in c.rows:
            if r["kind"] in MEMORY_KINDS and c.exposure.on_padding(r):
                pad_outcomes[r["outcome"]] = pad_outcomes.get(r["outcome"], 0) + 1
        rows.append(("on padding (excluded, see Padding)", sum(c.padding.values()), "",
                     ", ".join(f"{o} {pad_outcomes[o]}" for o in OUTCOMES if o in pad_outcomes)))
    rows.append(("total", len(c.rows), "n/a" if not c.rows else ("100.00%" if not on_padding else ""), ""))
    lines += _table(["outcome", "count", "rate", "95% interval"], rows, "lrrl")

    lines += ["", "### Per site kind", ""]
    kinds = [k for k in SITE_KINDS if sum(c.by_kind.get(k, {}).values())]
    kinds += sorted(k for k in c.by_kind if k not in SITE_KINDS)
    if kinds:
        rows = []
        for kind in kinds:
            counts = c.by_kind[kind]
            rows.append((kind, sum(counts.values()), *(format_rate(_group_rate(counts, outcomes))
                                                       for outcomes in (SDC_OUTCOMES, ["corrected"], ["due"]))))
        lines += _table(["site kind", "injections", "SDC (sdc + critical_sdc)", "corrected", "due"], rows, "lrlll")
    else:
        lines.append("No injections recorded.")
    lines += _padding_lines(c)
    lines += _stratified_section(c)
    lines += _avf_section(c)
    lines += _causes_section(c)

    lines += ["", "### Plots", ""]
    if not c.total:
        lines.append("No plots: the campaign has no injections recorded yet.")
        return lines
    plot_outcomes(c, label, out_dir / f"outcomes_{n}.png")
    lines += [f"![Outcome rates of campaign {n}](outcomes_{n}.png)", ""]
    by_layer = _sdc_by(c.by_layer)
    weighted = layer_sdc(c.rows, c.exposure, CONFIDENCE) if c.exposure is not None else {}
    if by_layer:
        lines += ["### Per layer", ""]
        if weighted:
            lines += ["The op each upset first reached. SDC rate: the share of its injections that ended in an "
                      "SDC; AVF: the same exposure-weighted (activations by live time, compute by run time) and, "
                      "for a stratified campaign, undoing the per-layer allocation; share of SDC: the layer's "
                      "part of the campaign's weighted SDCs.", ""]
        rows = [(f"{k}: {c.layer_name(k)}", sum(c.by_layer[k].values()), format_rate(by_layer[k]),
                 *((format_rate(weighted[k][0]), format_percent(weighted[k][1])) if k in weighted
                   else (("n/a", "n/a") if weighted else ())))
                for k in sorted(by_layer)]
        header = ["layer (op: name (op type))", "injections", "SDC rate (sdc + critical_sdc)"]
        lines += _table(header + (["AVF sdc (exposure-weighted)", "share of SDC"] if weighted else []), rows,
                        "lrl" + ("lr" if weighted else ""))
        lines.append("")
        lines += _protect_first(c, weighted)
        plot_layers(c, {k: weighted[k][0] for k in by_layer if k in weighted} if weighted else by_layer,
                    label, out_dir / f"layers_{n}.png", "AVF sdc, exposure-weighted" if weighted else "SDC rate")
        lines += [f"![SDC rate per layer of campaign {n}](layers_{n}.png)", ""]
    else:
        lines += ["No per-layer plot: no injection reached an op (every upset was never read).", ""]
    never_read = sum(sum(v.values()) for k, v in c.by_layer.items() if k is None)
    if never_read:
        lines += [f"{never_read} injections hit bytes no op reads (alignment padding): recorded `masked`, "
                  f"cause `never read`, and not in the per-layer table or plot.", ""]
    by_bit = _sdc_by(c.by_bit)
    plot_bits(by_bit, label, out_dir / f"bits_{n}.png")
    lines.append(f"![SDC rate per bit position of campaign {n}](bits_{n}.png)")
    if by_bit:
        lines += ["", "### Per bit position (float32 word: 0-22 mantissa, 23-30 exponent, 31 sign)", ""]
        lines += _table(["bit", "injections", "SDC (sdc + critical_sdc)"],
                        [(b, sum(c.by_bit[b].values()), format_rate(by_bit[b])) for b in sorted(by_bit)], "rrl")
    lines += [""] + _estimate_section(c)
    return lines


def _padding_lines(c: Campaign) -> List[str]:
    """Padding: bytes in no tensor, its share of each site, and the injections excluded."""
    if c.exposure is None:
        return ["", "Padding not separated: this database records no exposure data (written before "
                    "`fi estimate`); rates include upsets on bytes in no tensor."]
    lines = ["", "#### Padding (bytes in no tensor: alignment and packing), excluded from the rates above", ""]
    rows = []
    for kind in MEMORY_KINDS:
        real, pad = c.exposure.exposed_bits[kind], c.exposure.padding_bits[kind]
        if real + pad:
            rows.append((kind, f"{pad // 8:,}", format_percent(pad / (real + pad)), c.padding.get(kind, 0)))
    lines += _table(["site kind", "padding bytes (all copies)", "share of the site", "injections there"], rows,
                    "lrrr")
    return lines


def _stratified_section(c: Campaign) -> List[str]:
    """A stratified campaign: the whole-model rates as sum_h W_h p_h (Cochran ch. 5)."""
    strata = c.exposure.strata if c.exposure is not None else None
    if not strata or not c.rows:
        return []
    by_stratum: Dict[str, List[dict]] = {}
    for r in c.rows:
        by_stratum.setdefault(strata["by_fault"][r["fault_id"]], []).append(r)
    lines = ["", f"### Stratified estimate (strata: {strata['by']}, allocation {strata['allocation']})", "",
             "Whole-model rate = sum over strata of W_h p_h, W_h the stratum's share of the fault space; "
             "variance sum W_h^2 p_h (1 - p_h) / n_h (Cochran, Sampling Techniques, ch. 5); normal 95% interval. "
             "Over the whole fault space (padding included, as drawn); a stratum without any event adds no "
             "variance, so read the per-layer Wilson intervals beside it.",
             ""]
    rows = []
    for name, outcomes in (("SDC (sdc + critical_sdc)", SDC_OUTCOMES), ("corrected", ("corrected",)),
                           ("due", ("due",))):
        est = stratified_rate({h: (strata["strata"][h]["W"], sum(r["outcome"] in outcomes for r in rs), len(rs))
                               for h, rs in by_stratum.items()}, CONFIDENCE)
        rows.append((name, format_percent(est.rate), format_percent(est.se),
                     f"[{format_percent(est.low)}, {format_percent(est.high)}]"))
    lines += _table(["outcome", "stratified rate", "standard error", "95% interval"], rows, "lrrl")
    lines += ["", f"{len(by_stratum)} strata with injections, "
                  f"{min(len(rs) for rs in by_stratum.values())} to {max(len(rs) for rs in by_stratum.values())} "
                  f"injections each."]
    return lines


def _avf_section(c: Campaign) -> List[str]:
    """Exposure-weighted AVF per site kind (fault_injection.estimate)."""
    if c.exposure is None or not c.rows:
        return []
    avf = weighted_avf(c.rows, c.exposure, CONFIDENCE)
    if not avf:
        return []
    lines = ["", "### AVF per site kind (exposure-weighted: activations by live time, compute by op run time)", ""]
    rows = [(kind, *(format_rate(avf[kind][g]) for g in ESTIMATE_OUTCOMES),
             f"{avf[kind]['sdc'].n_eff:.1f}") for kind in SITE_KINDS if kind in avf]
    lines += _table(["site kind", *(f"AVF {g}" for g in ESTIMATE_OUTCOMES), "effective n"], rows, "lllllr")
    return lines


def _causes_section(c: Campaign) -> List[str]:
    masked = sum(c.causes.values())
    if not masked:
        return []
    lines = ["", "### Masked, by cause", ""]
    rows = [(cause, n, format_percent(n / masked)) for cause, n in
            sorted(((k, v) for k, v in c.causes.items() if k is not None), key=lambda kv: -kv[1])]
    if c.causes.get(None):
        rows.append(("not determined (output exact, cause not recorded)", c.causes[None],
                     format_percent(c.causes[None] / masked)))
    lines += _table(["cause", "masked injections", "share of masked"], rows, "lrr")
    return lines


def protect_first_rows(c: Campaign, weighted: Optional[Dict[int, Tuple[Proportion, float]]] = None
                       ) -> List[Tuple[int, int, float, Optional[float]]]:
    """(op, SDC count, share of all SDC, share of run time or None) per layer with an SDC,
    sorted by SDC share, largest first: the order in which to protect layers. With
    `weighted` (estimate.layer_sdc) the share is the exposure-weighted one, else counts."""
    sdc = {k: sum(v.get(o, 0) for o in SDC_OUTCOMES) for k, v in c.by_layer.items() if k is not None}
    total = sum(sdc.values())
    if not total:
        return []
    run = c.exposure.run_time if c.exposure is not None else None
    rows = []
    for k, n in sdc.items():
        if n:
            time_share = (c.exposure.durations[k] / run
                          if run and 0 <= k < len(c.exposure.durations) else None)
            share = weighted[k][1] if weighted and k in weighted else n / total
            rows.append((k, n, share, time_share))
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def _protect_first(c: Campaign, weighted: Optional[Dict[int, Tuple[Proportion, float]]] = None) -> List[str]:
    rows = protect_first_rows(c, weighted)
    if not rows:
        return ["No layer produced an SDC: nothing to rank for protection.", ""]
    lines = ["#### Which layers to protect", "",
             "Layers by their share of the campaign's SDCs" + (" (exposure-weighted)" if weighted else "")
             + ", against their share of the run time (what "
             "protecting them costs, e.g. in tmr or abft re-execution). Protect from the top; a layer whose SDC "
             "share is far above its time share is cheap to protect for what it gains.", ""]
    lines += _table(["rank", "layer (op: name (op type))", "SDCs", "share of SDCs", "share of run time",
                     "SDC share / time share"],
                    [(i, f"{k}: {c.layer_name(k)}", n, format_percent(share),
                      "n/a" if t is None else format_percent(t),
                      "n/a" if not t else f"{share / t:.2f}") for i, (k, n, share, t) in enumerate(rows, 1)],
                    "rlrrrr")
    return lines + [""]


ESTIMATE_PRESET = "leo-alsat1"


def _estimable(c: Campaign) -> bool:
    """The campaign has injections, exposure data and an upset fault model (estimate.is_upset_model)."""
    return c.exposure is not None and bool(c.total) and is_upset_model(c.info.config.get("fault_model"))


def _estimate_section(c: Campaign) -> List[str]:
    """The mission estimate for the LEO preset, when the database records its exposure."""
    lines = [f"### Mission estimate ({ESTIMATE_PRESET}, one mission-year)", ""]
    if c.exposure is None:
        return lines + ["No estimate: this database records no exposure data."]
    if not c.total:
        return lines + ["No estimate: no injections recorded yet."]
    if not _estimable(c):
        return lines + [f"No estimate: fault model {c.info.config.get('fault_model')} is not an upset; an orbit's "
                        f"rate counts upsets, so only flip and mbu:N campaigns are estimated."]
    preset = orbit_rate(ESTIMATE_PRESET)
    est = mission_estimate(c.path, preset.upsets_per_bit_per_day, 1.0, CONFIDENCE)
    lines += ["```"] + format_estimate(est, f"orbit {preset.name}") + ["```", "",
              f"Source of the rate: {preset.source}. Expected count = rate x 365.25 x exposed bits x AVF "
              f"(`radrt fi estimate`; other orbits and durations: `--orbit`, `--upset-rate`, `--years`)."]
    return lines


def _differences(campaigns: Sequence[Campaign]) -> List[str]:
    """What makes the campaigns not like for like (besides protection)."""
    different = []
    for key in ("model", "sites", "fault_model", "faults"):
        if len({repr(c.info.config.get(key)) for c in campaigns}) > 1:
            different.append(key.replace("_", " "))
    if len({c.info.model_sha256 for c in campaigns}) > 1:
        different.append("model SHA-256")
    if len({c.info.seed for c in campaigns}) > 1:
        different.append("seed (so the fault lists differ)")
    return different


def _comparison_section(campaigns: Sequence[Campaign], names: Sequence[str], out_dir: Path) -> List[str]:
    lines = ["## Comparison", ""]
    different = _differences(campaigns)
    if different:
        lines += [f"Note: the campaigns differ in {', '.join(different)}; rates do not compare fault for "
                  f"fault.", ""]
    rows = [(o, *(format_rate(c.rate([o])) for c in campaigns)) for o in OUTCOMES]
    rows.append(("SDC (sdc + critical_sdc)", *(format_rate(c.rate(SDC_OUTCOMES)) for c in campaigns)))
    rows.append(("injections", *(c.total for c in campaigns)))
    if any(c.padding for c in campaigns):
        rows.append(("injections on padding (excluded)", *(sum(c.padding.values()) for c in campaigns)))
    if any(_estimable(c) for c in campaigns):
        rate = orbit_rate(ESTIMATE_PRESET).upsets_per_bit_per_day
        for g in ("sdc", "due", "corrected"):
            cells = []
            for c in campaigns:
                if not _estimable(c):
                    cells.append("n/a")
                    continue
                t = mission_estimate(c.path, rate, 1.0, CONFIDENCE)["total"][g]
                cells.append(f"{format_count(t['mean'])} [{format_count(t['low'])}, {format_count(t['high'])}]")
            rows.append((f"expected {g} per mission-year ({ESTIMATE_PRESET}, memory sites)", *cells))
    lines += _table(["outcome (rate, 95% interval)", *names], rows, "l" + "r" * len(campaigns))
    lines.append("")
    if any(c.total for c in campaigns):
        plot_comparison(campaigns, names, out_dir / "comparison.png")
        lines.append("![Outcome rates side by side](comparison.png)")
    else:
        lines.append("No comparison plot: no campaign has injections recorded yet.")
    return lines


def margin_sentence(c: Campaign, label: str) -> str:
    """The error margin the campaign's sample size achieves (Leveugle et al. 2009,
    worst case p = 0.5), over its fault space when the configuration records it."""
    cfg = c.info.config
    confidence = cfg.get("confidence", CONFIDENCE)
    n = len(c.rows)
    head = f"- {label}: {n} injections"
    if not n:
        return head + ": no margin yet."
    space = cfg.get("fault_space")
    if space is None:
        margin = normal_quantile(confidence) * math.sqrt(0.25 / n)
        text = f"{head} (fault space size not recorded; margin for an infinite population)"
    else:
        try:
            margin = achieved_margin(n, space, confidence)
        except ValueError as e:
            raise ReportError(f"'{c.path}': fault_space {space!r} in the configuration: {e}") from e
        text = f"{head} out of a fault space of {space} faults"
    text += f": every rate is within ±{format_percent(margin)} of the fault space's rate at " \
            f"{100 * confidence:g}% confidence"
    # A --faults campaign records margin None: it planned a count, not a margin.
    if cfg.get("margin") is not None:
        text += f" (planned margin ±{format_percent(cfg['margin'])})"
    return text + "."


def _how_to_read(campaigns: Sequence[Campaign], names: Sequence[str]) -> List[str]:
    lines = ["## How to read this", "",
             "Each injection flips (or forces) bits at one address of one site and runs the model once; "
             "its result against the fault-free (golden) run is one of these outcomes:", ""]
    lines += [f"- `{o}`: {text}" for o, text in OUTCOMES.items()]
    lines += ["",
              "SDC means sdc + critical_sdc: every silent wrong output. A rate is the share of a "
              "campaign's injections with that outcome. The interval beside it is the 95% Wilson score "
              "interval: if the campaign were repeated with fresh random faults, about 95% of such intervals "
              "would contain the rate over the whole fault space. It stays meaningful near 0% and 100%, "
              "where a protected runtime's rates live: 0 of n gives [0, ~3.8/n], not a zero-width "
              "interval. Non-overlapping intervals of two campaigns mean a real difference; overlapping "
              "ones may or may not.",
              "",
              "Layers are the ops of the compiled plan, by index, node name and op type: the op an "
              "upset first reached (weights and input: the first op that reads the upset bytes; compute: "
              "the op whose output it is; activations: the op after which it was hit). Bit positions "
              "assume float32 words starting on 4-byte boundaries: 0-22 mantissa, 23-30 exponent, "
              "31 sign; a multi-bit fault counts at its start bit.",
              "",
              "Causes recorded with a `masked` outcome:", ""]
    lines += [f"- `{cause}`: {text}" for cause, text in MASKED_CAUSES.items()]
    lines += ["",
              "Error margin achieved by each campaign's sample size, for any rate (worst case p = 0.5, "
              "Leveugle et al., DATE 2009):", ""]
    lines += [margin_sentence(c, name) for c, name in zip(campaigns, names)]
    return lines


def write_report(db_paths: Sequence[Union[str, Path]], out_dir: Union[str, Path]) -> Path:
    """Write `report.md` and its PNG plots into out_dir (created if needed) for the
    campaign databases given; returns the path of report.md."""
    if not db_paths:
        raise ReportError("no campaign database given; expected one or more .db files")
    given = [Path(p) for p in db_paths]
    seen = set()
    for p in given:
        key = p.resolve()
        if key in seen:
            raise ReportError(f"campaign database '{p}' is given twice")
        seen.add(key)
    campaigns = [load_campaign(p) for p in given]
    names = labels(campaigns)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"output '{out_dir}' exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)

    lines = ["# radrt fault-injection report", ""]
    lines += [f"{len(campaigns)} campaign{'s' if len(campaigns) > 1 else ''}: "
              + ", ".join(f"{n}. {name} (`{c.path.name}`)" for n, (c, name) in enumerate(zip(campaigns, names), 1)),
              ""]
    for n, (c, name) in enumerate(zip(campaigns, names), 1):
        lines += _campaign_section(n, c, name, out_dir) + [""]
    if len(campaigns) > 1:
        lines += _comparison_section(campaigns, names, out_dir) + [""]
    lines += _how_to_read(campaigns, names)
    report = out_dir / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("databases", nargs="+", metavar="DB", help="campaign database (.db) to report")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for report.md and its PNG plots")


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 written, 2 a database that cannot be reported (message on stderr)."""
    try:
        path = write_report(args.databases, args.out)
    except ReportError as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fault_injection.report",
                                     description="Markdown + PNG report of fault-injection campaigns.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

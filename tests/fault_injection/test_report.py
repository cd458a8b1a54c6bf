import hashlib
import math
import sqlite3
import struct
from collections import Counter

import pytest

from fault_injection.outcome import Verdict
from fault_injection.plan import Site, fault_space_size, plan_faults
from fault_injection.report import ReportError, format_percent, main, write_report
from fault_injection.stats import achieved_margin, normal_quantile, wilson_interval
from fault_injection.store import CampaignStore, InjectionRecord
from fault_injection.vocabulary import OUTCOMES

N_OPS = 6
SITES = ([Site(f"conv{i}.w", "weights", 64 * (i + 1), op_index=i) for i in range(N_OPS)]
         + [Site(f"conv{i}.out/r0", "compute", 128, op_index=i, replica=0) for i in range(N_OPS)]
         + [Site("arena/r0", "activations", 512, replica=0), Site("input/r0", "input", 64, replica=0)])
FAULTS = plan_faults(SITES, 600, seed=7, n_ops=N_OPS)
SPACE = fault_space_size(SITES, n_ops=N_OPS)


def _chance(fault, salt: str) -> float:
    """A deterministic number in [0, 1) per fault, so the synthetic outcomes are fixed."""
    digest = hashlib.sha256(f"{salt}/{fault.fault_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def outcome_unprotected(fault) -> str:
    """Like a real unprotected CNN: the exponent's high bits and the sign do harm, low
    mantissa bits are masked or tolerable; a few runs fail loudly."""
    bit = (fault.byte_offset % 4) * 8 + fault.bit
    r = _chance(fault, "none")
    if r < 0.01:
        return "crash"
    if r < 0.02:
        return "hang"
    if bit == 30:
        return "critical_sdc" if r < 0.6 else "sdc"
    if bit >= 23:
        return "sdc" if r < 0.35 else "masked"
    if bit >= 16:
        return "tolerable" if r < 0.5 else "masked"
    return "masked"


def outcome_tmr(fault) -> str:
    """TMR votes every single upset out: weight and compute upsets are repaired, the
    rest never reaches the output."""
    return "corrected" if fault.kind in ("weights", "compute") else "masked"


LAYERS = [(i, f"conv{i}", "Conv") for i in range(N_OPS)]


def layer_of(fault):
    """The layer the executor would record: the site's op, the activation's time point;
    the input's first 32 bytes are read by op 0, the rest is padding (never read)."""
    if fault.kind == "input":
        return 0 if fault.byte_offset < 32 else None
    return fault.op_index if fault.op_index is not None else fault.at_op


def make_campaign(path, protect, outcome_of, faults=FAULTS, planned=len(FAULTS), **extra):
    config = {"model": "tiny-cnn", "protect": protect, "sites": ["weights", "compute", "activations", "input"],
              "fault_model": "flip", "faults": planned, "seed": 7, "tolerance": {"rtol": 1e-4, "atol": 1e-5},
              **extra}
    with CampaignStore.open(path, config=config, model_sha256="ab12cd34ef56" + "0" * 52,
                            golden_sha256="f" * 64, seed=7, version="radrt test", layers=LAYERS) as store:
        store.record_stream(InjectionRecord(f, Verdict(outcome_of(f)), layer=layer_of(f)) for f in faults)
    return Counter(outcome_of(f) for f in faults)


def rate_text(k, n):
    low, high = wilson_interval(k, n)
    return f"{format_percent(k / n)} [{format_percent(low)}, {format_percent(high)}]"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert width >= 600 and height >= 300 and len(data) > 10_000, (path, width, height, len(data))


@pytest.fixture(scope="module")
def two_campaigns(tmp_path_factory):
    d = tmp_path_factory.mktemp("campaigns")
    counts_none = make_campaign(d / "none.db", "none", outcome_unprotected, fault_space=SPACE, margin=0.05)
    counts_tmr = make_campaign(d / "tmr.db", "tmr", outcome_tmr)
    return d, counts_none, counts_tmr


def test_format_percent():
    assert [format_percent(x) for x in (0, 0.5, 0.001, 0.000123, 1)] == ["0.00%", "50.00%", "0.10%", "0.012%",
                                                                         "100.00%"]


def test_one_campaign(two_campaigns, tmp_path):
    d, counts, _ = two_campaigns
    report = write_report([d / "none.db"], tmp_path / "out")
    assert report == tmp_path / "out" / "report.md"
    text = report.read_text()
    n = len(FAULTS)
    assert counts["sdc"] and counts["critical_sdc"] and counts["masked"] and counts["crash"]
    for line in ("| model | tiny-cnn |", "| model SHA-256 | `ab12cd34ef56` |", "| protection | none |",
                 "| sites | weights, compute, activations, input |", "| fault model | flip |",
                 f"| injections | {n} recorded of {n} planned |", "| seed | 7 |",
                 "| tolerance | rtol 0.0001, atol 1e-05 |", "| code version | radrt test |"):
        assert line in text
    # Every outcome in the vocabulary's order, zero rows included, with its Wilson interval.
    rows = [line for line in text.splitlines() if line.split(" | ")[0].lstrip("| ") in OUTCOMES]
    assert [r.split(" | ")[0].lstrip("| ") for r in rows[:len(OUTCOMES)]] == list(OUTCOMES)
    for outcome in OUTCOMES:
        k = counts[outcome]
        low, high = wilson_interval(k, n)
        expected = (f"| {outcome} | {k} | {format_percent(k / n)} | "
                    f"[{format_percent(low)}, {format_percent(high)}] |")
        assert expected in text
    assert "| corrected | 0 | 0.00% | [0.00%, 0.64%] |" in text  # 3.84 / (600 + 3.84)
    assert f"| total | {n} | 100.00% |  |" in text
    # Per site kind: SDC (sdc + critical_sdc), corrected, due.
    for kind in ("weights", "compute", "activations", "input"):
        of_kind = [f for f in FAULTS if f.kind == kind]
        sdc = sum(outcome_unprotected(f) in ("sdc", "critical_sdc") for f in of_kind)
        assert (f"| {kind} | {len(of_kind)} | {rate_text(sdc, len(of_kind))} | {rate_text(0, len(of_kind))} "
                f"| {rate_text(0, len(of_kind))} |") in text
    for png in ("outcomes_1.png", "layers_1.png", "bits_1.png"):
        assert f"]({png})" in text
        assert_png(tmp_path / "out" / png)
    assert not (tmp_path / "out" / "comparison.png").exists() and "## Comparison" not in text
    # Layers by name and op type; upsets never read are counted, not in the per-layer table.
    for i in range(N_OPS):
        of_layer = [f for f in FAULTS if layer_of(f) == i]
        sdc = sum(outcome_unprotected(f) in ("sdc", "critical_sdc") for f in of_layer)
        assert f"| {i}: conv{i} (Conv) | {len(of_layer)} | {rate_text(sdc, len(of_layer))} |" in text
    never_read = sum(layer_of(f) is None for f in FAULTS)
    assert never_read and f"{never_read} injections hit bytes no op reads" in text
    # How to read this: the definitions and the margin over the recorded fault space.
    for outcome, meaning in OUTCOMES.items():
        assert f"- `{outcome}`: {meaning}" in text
    assert "95% Wilson score interval" in text
    margin = achieved_margin(n, SPACE)
    assert (f"- none: {n} injections out of a fault space of {SPACE} faults: every rate is within "
            f"±{format_percent(margin)} of the fault space's rate at 95% confidence "
            f"(planned margin ±5.00%).") in text


def test_two_campaigns_side_by_side(two_campaigns, tmp_path):
    d, counts_none, counts_tmr = two_campaigns
    assert set(counts_tmr) == {"corrected", "masked"}
    text = write_report([d / "none.db", d / "tmr.db"], tmp_path).read_text()
    n = len(FAULTS)
    assert "## Campaign 1: none" in text and "## Campaign 2: tmr" in text
    assert "| outcome (rate, 95% interval) | none | tmr |" in text
    for outcome in OUTCOMES:
        assert f"| {outcome} | {rate_text(counts_none[outcome], n)} | {rate_text(counts_tmr[outcome], n)} |" in text
    sdc_none = counts_none["sdc"] + counts_none["critical_sdc"]
    assert f"| SDC (sdc + critical_sdc) | {rate_text(sdc_none, n)} | {rate_text(0, n)} |" in text
    assert f"| injections | {n} | {n} |" in text
    assert "differ in" not in text  # same model, sites, fault list
    for png in ("outcomes_1.png", "layers_1.png", "bits_1.png", "outcomes_2.png", "layers_2.png", "bits_2.png",
                "comparison.png"):
        assert_png(tmp_path / png)
    # tmr has no fault_space in its configuration: the margin of an infinite population.
    infinite = normal_quantile(0.95) * math.sqrt(0.25 / n)
    assert (f"- tmr: {n} injections (fault space size not recorded; margin for an infinite population): "
            f"every rate is within ±{format_percent(infinite)}") in text


def test_repeated_modes_are_labelled_by_file_name_and_differences_noted(two_campaigns, tmp_path):
    d, _, _ = two_campaigns
    make_campaign(tmp_path / "none-half.db", "none", outcome_unprotected, faults=FAULTS[:300], planned=300)
    text = write_report([d / "none.db", tmp_path / "none-half.db"], tmp_path / "out").read_text()
    assert "| outcome (rate, 95% interval) | none.db | none-half.db |" in text
    assert "## Campaign 2: none-half.db" in text
    assert "the campaigns differ in faults;" in text
    assert "| injections | 600 | 300 |" in text


def test_incomplete_and_empty_campaigns_still_report(tmp_path):
    make_campaign(tmp_path / "partial.db", "dwc", outcome_tmr, faults=FAULTS[:40], planned=600)
    make_campaign(tmp_path / "empty.db", "scrub", outcome_tmr, faults=[])
    text = write_report([tmp_path / "partial.db", tmp_path / "empty.db"], tmp_path / "out").read_text()
    assert "| injections | 40 recorded of 600 planned (incomplete: 560 not run yet) |" in text
    assert "| injections | 0 recorded of 600 planned (incomplete: 600 not run yet) |" in text
    assert "| masked | 0 | n/a | n/a |" in text and "| total | 0 | n/a |  |" in text
    assert "No plots: the campaign has no injections recorded yet." in text
    assert "| masked | " + rate_text(sum(outcome_tmr(f) == "masked" for f in FAULTS[:40]), 40) + " | n/a |" in text
    assert "| injections | 40 | 0 |" in text
    assert "- scrub: 0 injections: no margin yet." in text
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.png")) == ["bits_1.png", "comparison.png", "layers_1.png",
                                                          "outcomes_1.png"]


def test_errors_name_the_path_and_what_was_expected(two_campaigns, tmp_path):
    d, _, _ = two_campaigns
    expected = r"expected a radrt campaign database \(SQLite, written by radrt fi run\)"
    with pytest.raises(ReportError, match=r"campaign database '.*nope\.db' does not exist"):
        write_report([tmp_path / "nope.db"], tmp_path / "out")
    text_file = tmp_path / "notes.db"
    text_file.write_text("not a database")
    with pytest.raises(ReportError, match=rf"'.*notes\.db' is not an SQLite database \(its first bytes are "
                                          rf"b'not a database'\); {expected}"):
        write_report([text_file], tmp_path / "out")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(ReportError, match=rf"'.*empty\.db' is empty \(0 bytes\); {expected}"):
        write_report([empty], tmp_path / "out")
    assert empty.read_bytes() == b""  # not turned into a database
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(ReportError, match=rf"'.*other\.db' is not a radrt campaign database .*; {expected}"):
        write_report([other], tmp_path / "out")
    no_row = tmp_path / "norow.db"
    make_campaign(no_row, "none", outcome_tmr, faults=[])
    with sqlite3.connect(no_row) as conn:
        conn.execute("DELETE FROM campaign")
    with pytest.raises(ReportError, match=rf"'.*norow\.db': the campaign table is empty; {expected}"):
        write_report([no_row], tmp_path / "out")
    with pytest.raises(ReportError, match=r"campaign database '.*none\.db' is given twice"):
        write_report([d / "none.db", d / "none.db"], tmp_path / "out")
    with pytest.raises(ReportError, match="no campaign database given"):
        write_report([], tmp_path / "out")
    with pytest.raises(ReportError, match=r"output '.*notes\.db' exists and is not a directory"):
        write_report([d / "none.db"], text_file)
    assert not (tmp_path / "out").exists()


def test_main(two_campaigns, tmp_path, capsys):
    d, _, _ = two_campaigns
    assert main([str(d / "none.db"), str(d / "tmr.db"), "--out", str(tmp_path / "r")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'r' / 'report.md'}"
    assert main([str(tmp_path / "missing.db"), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("report: campaign database '") and err.rstrip().endswith("missing.db' does not exist")

"""Stratified sampling per layer: the draw (equal allocation, prefix property, faults
inside their stratum), the stratified estimate against a hand computation, and
`fi run --stratify layer` -> `fi report` / `fi estimate` through the CLI."""
import json
import math
import re
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from fault_injection.plan import Segment, Site, plan_faults_stratified
from fault_injection.stats import stratified_rate
from runtime.errors import InvalidArgumentError

Z95 = 1.959963984540054


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


W = Site("weights/copy0", "weights", 1000, None, 0)
A = Site("activations/r0", "activations", 64, None, 0)
STRATA = {0: [Segment(W, 0, 8 * 900)], 1: [Segment(W, 8 * 900, 8 * 1000)],
          2: [Segment(A, 0, 512, 2)], "unread": [Segment(W, 8 * 999 + 4, 8 * 1000)]}


def test_equal_allocation_prefix_property_and_faults_inside_their_stratum():
    drawn = plan_faults_stratified(STRATA, 103, seed=3)
    counts = Counter(h for _, h in drawn)
    # 4 strata, 103 faults: 26, 26, 26, 25, except the 4-position stratum, full at 4
    assert counts["unread"] == 4
    assert sorted(counts[h] for h in (0, 1, 2)) == [33, 33, 33]
    assert plan_faults_stratified(STRATA, 40, seed=3) == drawn[:40]
    assert len({(f.site, f.byte_offset, f.bit, f.at_op) for f, _ in drawn}) == 103
    for f, h in drawn:
        pos = f.byte_offset * 8 + f.bit
        assert any(seg.site.name == f.site and seg.start <= pos < seg.end and seg.at_op == f.at_op
                   for seg in STRATA[h]), (f, h)
    with pytest.raises(InvalidArgumentError, match="exceeds the fault space"):
        plan_faults_stratified(STRATA, 900 * 8 + 800 + 512 + 4 + 1, seed=3)


def test_stratified_rate_by_hand():
    est = stratified_rate({"a": (0.7, 3, 10), "b": (0.2, 0, 10), "c": (0.1, 5, 5)})
    rate = 0.7 * 0.3 + 0.1 * 1.0
    se = math.sqrt(0.49 * 0.3 * 0.7 / 10)
    assert est.rate == pytest.approx(rate, rel=1e-15) and est.se == pytest.approx(se, rel=1e-15)
    assert (est.low, est.high) == (pytest.approx(rate - Z95 * se), pytest.approx(rate + Z95 * se))
    with pytest.raises(InvalidArgumentError, match="no stratum"):
        stratified_rate({"a": (1.0, 0, 0)})


def test_fi_run_stratify_layer_then_report_and_estimate(tmp_path):
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations,compute", "--faults", "200",
                           "--stratify", "layer", "--seed", "2", "--db", "s.db", "--json", cwd=tmp_path)
    assert code == 0, err
    conn = sqlite3.connect(tmp_path / "s.db")
    strata = json.loads(conn.execute("SELECT value_json FROM meta WHERE key = 'strata'").fetchone()[0])
    rows = conn.execute("SELECT fault_id, outcome, kind, layer FROM injection").fetchall()
    conn.close()
    by = strata["by_fault"]
    counts = Counter(by[i] for i, *_ in rows)
    # digits has 4 ops; the weights' alignment gaps form the 'unread' stratum: 5 strata of 40
    assert set(counts) == {"0", "1", "2", "3", "unread"} and set(counts.values()) == {40}
    assert sum(s["W"] for s in strata["strata"].values()) == pytest.approx(1.0)
    for i, _, kind, layer in rows:   # the stratum is the layer the upset first reaches
        if kind != "weights" or by[i] != "unread":
            assert str(layer) == by[i]
    sdc = Counter(by[i] for i, o, *_ in rows if o in ("sdc", "critical_sdc"))
    rate = sum(strata["strata"][h]["W"] * sdc[h] / counts[h] for h in counts)
    se = math.sqrt(sum(strata["strata"][h]["W"] ** 2 * (sdc[h] / counts[h]) * (1 - sdc[h] / counts[h]) / counts[h]
                       for h in counts))
    code, out, err = radrt("fi", "report", "s.db", "--out", "rep", cwd=tmp_path)
    assert code == 0, err
    report = (tmp_path / "rep" / "report.md").read_text()
    line = re.search(r"^\| SDC \(sdc \+ critical_sdc\) \| ([\d.]+)% \| ([\d.]+)% \|", report.split(
        "### Stratified estimate", 1)[1], re.M)
    assert float(line.group(1)) == pytest.approx(100 * rate, abs=0.005)
    assert float(line.group(2)) == pytest.approx(100 * se, abs=0.005)
    code, out, err = radrt("fi", "estimate", "s.db", "--upset-rate", "1e-6", "--json", cwd=tmp_path)
    assert code == 0, err
    # weights AVF by hand: weight W_h n / n_h per fault (undoing the stratified draw), padding out
    conn = sqlite3.connect(tmp_path / "s.db")
    doc = json.loads(conn.execute("SELECT value_json FROM meta WHERE key = 'exposure'").fetchone()[0])
    wrows = conn.execute("SELECT fault_id, byte_offset, outcome FROM injection WHERE kind = 'weights'").fetchall()
    conn.close()
    num = den = 0.0
    for i, b, o in wrows:
        if any(s <= b < e for s, e in doc["padding_spans"]["weights"]):
            continue
        w = strata["strata"][by[i]]["W"] * len(rows) / counts[by[i]]
        den += w
        num += w * (o in ("sdc", "critical_sdc"))
    got = json.loads(out)["estimates"][0]["kinds"]["weights"]["avf"]["sdc"]["rate"]
    assert got == pytest.approx(num / den, rel=1e-12)
    # resuming without --stratify names the key that differs
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations,compute", "--faults", "200",
                           "--seed", "2", "--db", "s.db", cwd=tmp_path)
    assert code == 2 and 'stratify: "layer" recorded, absent now' in err

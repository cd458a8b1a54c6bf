"""Mission estimates through the CLI (fi run -> fi estimate), against a hand computation
from the database's rows and exposure data; the weighted AVF against hand-made numbers."""
import json
import math
import sqlite3
import subprocess
import sys

import onnx
import onnx.numpy_helper
import pytest

from fault_injection.estimate import Exposure, layer_sdc
from fault_injection.orbits import orbit_rate
from fault_injection.models import digits_model_path
from fault_injection.stats import weighted_proportion
from runtime import InferenceSession
from runtime.errors import InvalidArgumentError

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile (tables)


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


def wilson_by_hand(p, n, z):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_weighted_proportion_by_hand():
    w = [1.0, 3.0, 0.5, 0.0, 2.5]
    y = [True, False, True, True, False]
    p = weighted_proportion(w, y)
    assert p.rate == pytest.approx(1.5 / 7.0, rel=1e-15)
    n_eff = 49.0 / (1 + 9 + 0.25 + 6.25)
    assert p.n_eff == pytest.approx(n_eff, rel=1e-15)
    assert (p.k, p.n) == (2, 4)   # the zero-weight observation does not count
    low, high = wilson_by_hand(1.5 / 7.0, n_eff, Z95)
    assert (p.low, p.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    # Equal weights: the plain Wilson interval.
    eq = weighted_proportion([2.0] * 10, [True] * 3 + [False] * 7)
    assert (eq.rate, eq.n_eff) == (pytest.approx(0.3), pytest.approx(10.0))
    with pytest.raises(InvalidArgumentError, match="no observation has a positive weight"):
        weighted_proportion([0.0], [True])
    with pytest.raises(InvalidArgumentError, match="weight -1"):
        weighted_proportion([-1.0, 1.0], [True, False])


def test_exposure_weights_by_hand():
    doc = {"op_durations_s": [1.0, 3.0, 4.0], "padding_spans": {"weights": [[100, 164]], "input": [],
                                                                 "activations": [[0, 8]]},
           "exposed_bits": {"weights": 800, "activations": 64, "input": 0},
           "padding_bits": {"weights": 512, "activations": 64, "input": 0},
           "op_output_bytes": {"0": 10, "1": 10, "2": 20}}
    e = Exposure(doc)
    assert e.weight({"kind": "weights", "byte_offset": 99}) == 1.0
    assert e.weight({"kind": "weights", "byte_offset": 100}) == 0.0
    assert e.weight({"kind": "activations", "byte_offset": 9, "at_op": 1}) == pytest.approx(3 * 3.0 / 8.0)
    assert e.weight({"kind": "activations", "byte_offset": 7, "at_op": 1}) == 0.0
    # A fault that changed no bit (stuck-at on a bit already at that value) is no upset.
    assert e.weight({"kind": "weights", "byte_offset": 99, "cause": "unchanged"}) == 0.0
    # compute: (d_k / D) / (b_k / B): op 2 runs half the time and holds half the output bytes.
    assert e.weight({"kind": "compute", "op_index": 2, "byte_offset": 0}) == pytest.approx(1.0)
    assert e.weight({"kind": "compute", "op_index": 0, "byte_offset": 0}) == pytest.approx((1 / 8) / (10 / 40))


def test_layer_sdc_undoes_the_stratified_allocation_by_hand():
    """Two layers drawn 10 and 10 (equal allocation) though layer 0 holds 90% of the fault
    space: layer 0 has 1 SDC in 10, layer 1 has 5 in 10. Uniform-draw share of SDC:
    0.9 * 0.1 / (0.9 * 0.1 + 0.1 * 0.5) = 0.643, not the raw 1 / 6."""
    doc = {"op_durations_s": [1.0, 1.0], "padding_spans": {"weights": [], "input": [], "activations": []},
           "exposed_bits": {"weights": 800, "activations": 0, "input": 0},
           "padding_bits": {"weights": 0, "activations": 0, "input": 0}, "op_output_bytes": {"0": 4, "1": 4}}
    rows = [{"fault_id": i, "kind": "weights", "byte_offset": 0, "layer": i // 10, "cause": None,
             "outcome": "sdc" if i in (0, 10, 11, 12, 13, 14) else "masked"} for i in range(20)]
    strata = {"by": "layer", "allocation": "equal", "by_fault": {i: str(i // 10) for i in range(20)},
              "strata": {"0": {"W": 0.9}, "1": {"W": 0.1}}}
    got = layer_sdc(rows, Exposure(doc, strata=strata))
    assert got[0][1] == pytest.approx(0.09 / 0.14) and got[1][1] == pytest.approx(0.05 / 0.14)
    assert (got[0][0].rate, got[1][0].rate) == (pytest.approx(0.1), pytest.approx(0.5))
    assert (got[0][0].k, got[0][0].n) == (1, 10)
    # Unstratified, the same rows: the raw shares.
    raw = layer_sdc(rows, Exposure(doc))
    assert raw[0][1] == pytest.approx(1 / 6) and raw[1][1] == pytest.approx(5 / 6)


def hand_estimate(db, rate, years):
    conn = sqlite3.connect(db)
    doc = json.loads(conn.execute("SELECT value_json FROM meta WHERE key = 'exposure'").fetchone()[0])
    rows = conn.execute("SELECT kind, byte_offset, at_op, op_index, outcome FROM injection").fetchall()
    conn.close()
    d = doc["op_durations_s"]
    D = sum(d)
    out = {}
    for kind in ("weights", "activations"):
        ws, hits = [], []
        for k, b, at_op, _, outcome in rows:
            if k != kind:
                continue
            pad = any(s <= b < e for s, e in doc["padding_spans"][kind])
            ws.append(0.0 if pad else (len(d) * d[at_op] / D if kind == "activations" else 1.0))
            hits.append(outcome in ("sdc", "critical_sdc"))
        p = sum(w for w, h in zip(ws, hits) if h) / sum(ws)
        n_eff = sum(ws) ** 2 / sum(w * w for w in ws)
        low, high = wilson_by_hand(p, n_eff, Z95)
        scale = rate * 365.25 * years * doc["exposed_bits"][kind]
        out[kind] = (scale * p, scale * max(0.0, low), scale * high, p, sum(1 for w in ws if w == 0))
    return out, doc


def test_fi_run_then_estimate_matches_a_hand_computation(tmp_path):
    db = tmp_path / "none.db"
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations", "--faults", "300",
                           "--seed", "4", "--db", db, "--json", cwd=tmp_path)
    assert code == 0, err
    code, out, err = radrt("fi", "estimate", db, "--upset-rate", "1e-6", "--years", "2", "--json", cwd=tmp_path)
    assert code == 0, err
    est = json.loads(out)["estimates"][0]
    hand, doc = hand_estimate(db, 1e-6, 2.0)
    for kind in ("weights", "activations"):
        mean, low, high, p, on_padding = hand[kind]
        got = est["kinds"][kind]
        assert got["avf"]["sdc"]["rate"] == pytest.approx(p, rel=1e-12)
        assert got["expected"]["sdc"]["mean"] == pytest.approx(mean, rel=1e-12)
        assert got["expected"]["sdc"]["low"] == pytest.approx(low, rel=1e-9, abs=1e-15)
        assert got["expected"]["sdc"]["high"] == pytest.approx(high, rel=1e-9)
        assert got["padding_injections"] == on_padding
    # digits: the weights' padding is its fc layer's packing to the GEMM panel width (48
    # columns with AVX-512, 16 with AVX2: see test_memory_map), the exposed bits are the
    # rest of the one weight copy.
    region = InferenceSession(str(digits_model_path()), scrub_interval_s=None).compiled.plan.region_bytes
    assert doc["exposed_bits"]["weights"] + doc["padding_bits"]["weights"] == region["weights"] * 8
    assert doc["padding_bits"]["weights"] > 0
    assert est["total"]["sdc"]["mean"] == pytest.approx(hand["weights"][0] + hand["activations"][0], rel=1e-12)
    assert hand["weights"][4] > 0   # weight faults on padding: counted, excluded from the rate

    code, out, err = radrt("fi", "estimate", db, "--orbit", "leo-alsat1", cwd=tmp_path)
    assert code == 0, err
    leo, _ = hand_estimate(db, orbit_rate("leo-alsat1").upsets_per_bit_per_day, 1.0)
    line = next(ln for ln in out.splitlines() if ln.startswith("weights") and " sdc " in ln)
    assert f"{leo['weights'][0]:.3g}" in line
    assert "compute: AVF only" in out and "input" in out   # input not measured: said so

    # Inside the South Atlantic Anomaly: the same campaign at the SAA preset's rate.
    code, out, err = radrt("fi", "estimate", db, "--orbit", "leo-alsat1-saa", "--json", cwd=tmp_path)
    assert code == 0, err
    saa = json.loads(out)["estimates"][0]["kinds"]["weights"]["expected"]["sdc"]["mean"]
    assert saa == pytest.approx(leo["weights"][0] * 10.4, rel=1e-12)


def test_estimate_refuses_bad_arguments(tmp_path):
    code, _, err = radrt("fi", "estimate", tmp_path / "missing.db", "--orbit", "leo-alsat1", cwd=tmp_path)
    assert code == 2 and "does not exist" in err
    code, _, err = radrt("fi", "estimate", tmp_path / "x.db", "--orbit", "mars", cwd=tmp_path)
    assert code == 2 and "'mars' is not one of" in err and "leo-alsat1" in err
    code, _, err = radrt("fi", "estimate", tmp_path / "x.db", "--upset-rate", "-1", cwd=tmp_path)
    assert code == 2 and "--upset-rate" in err


def test_estimate_and_report_refuse_a_fault_model_that_is_not_an_upset(tmp_path):
    code, out, err = radrt("fi", "run", "digits", "--fault-model", "stuck1", "--faults", "20", "--seed", "3",
                           "--db", "s.db", cwd=tmp_path)
    assert code == 0, err
    code, _, err = radrt("fi", "estimate", "s.db", "--orbit", "leo-alsat1", cwd=tmp_path)
    assert code == 2 and "fault model 'stuck1' is not an upset" in err and "flip or mbu:N" in err
    code, _, err = radrt("fi", "report", "s.db", "--out", "rep", cwd=tmp_path)
    assert code == 0, err
    assert "No estimate: fault model stuck1 is not an upset" in (tmp_path / "rep" / "report.md").read_text()


def test_inspect_prints_the_exposed_bits_a_campaign_records(tmp_path):
    model = digits_model_path()
    region = InferenceSession(str(model), scrub_interval_s=None).compiled.plan.region_bytes
    code, out, err = radrt("inspect", model, "--protect", "tmr", cwd=tmp_path)
    assert code == 0, err
    # tmr: three weight copies, three replicas of the arena and of the input.
    expected = {"weights": 3 * region["weights"] * 8, "activations": 3 * region["arena"] * 8,
                "input": 3 * region["input"] * 8}
    # The README's figures are an AVX-512 build's (weights packed to 48-column panels; the
    # arena holds the zero-framed input copy the padded convs pack from since 07922ad).
    assert expected["input"] == 3 * 8 * 8 * 4 * 8          # one 8x8 float32 image, three times
    assert expected["weights"] >= 3 * 8 * sum(onnx.numpy_helper.to_array(t).nbytes
                                              for t in onnx.load(str(model)).graph.initializer)
    for kind, bits in expected.items():
        assert f"  {kind:<12} {bits:>14,} bits  (3 sites)" in out
    assert f"{sum(expected.values()):,} bits" in out
    db = tmp_path / "tmr.db"
    code, _, err = radrt("fi", "run", "digits", "--sites", "weights", "--protect", "tmr", "--faults", "20",
                         "--db", db, "--json", cwd=tmp_path)
    assert code == 0, err
    doc = json.loads(sqlite3.connect(db).execute("SELECT value_json FROM meta WHERE key = 'exposure'").fetchone()[0])
    for kind in expected:
        assert doc["exposed_bits"][kind] + doc["padding_bits"][kind] == expected[kind]

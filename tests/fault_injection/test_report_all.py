"""`fi report` over every kind of campaign `fi run` writes, all in one report: each site
kind alone, --faults and --margin, each protection mode, --stratify, 1 and 2 workers."""
import json
import re
import sqlite3
import subprocess
import sys

from runtime.protect import MODES

VARIANTS = {
    **{f"site-{kind}": ("--sites", kind, "--faults", "16") for kind in ("weights", "activations", "compute", "input")},
    "margin": ("--margin", "0.3"),
    **{f"protect-{mode}": ("--protect", mode, "--faults", "16") for mode in MODES},
    "stratify": ("--stratify", "layer", "--faults", "20"),
    "workers-2": ("--workers", "2", "--faults", "16"),
}
LAYERS = ("0: conv1 (Conv)", "1: conv2 (Conv)", "2: pool (MaxPool)", "3: fc (Gemm)")


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


def test_one_report_of_every_campaign_kind(tmp_path):
    for name, options in VARIANTS.items():
        code, _, err = radrt("fi", "run", "digits", *options, "--seed", "6", "--db", f"{name}.db", cwd=tmp_path)
        assert code == 0, (name, err)
    dbs = [f"{name}.db" for name in VARIANTS]
    code, out, err = radrt("fi", "report", *dbs, "--out", "all", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    report = (tmp_path / "all" / "report.md").read_text()
    for n, name in enumerate(VARIANTS, 1):
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        total = conn.execute("SELECT COUNT(*) FROM injection").fetchone()[0]
        pads = json.loads(conn.execute("SELECT value_json FROM meta WHERE key = 'exposure'").fetchone()[0])
        layers = {layer for kind, b, layer in conn.execute("SELECT kind, byte_offset, layer FROM injection")
                  if layer is not None and not any(s <= b < e for s, e in pads["padding_spans"].get(kind, []))}
        conn.close()
        section = report.split(f"## Campaign {n}:", 1)[1].split("## Campaign", 1)[0]
        assert re.search(rf"^\| total \| {total} \|", section, re.M), name
        conn = sqlite3.connect(tmp_path / f"{name}.db")
        real = [(kind, b, bit, o) for kind, b, bit, o in conn.execute(
                "SELECT kind, byte_offset, bit, outcome FROM injection")
                if not any(s <= b < e for s, e in pads["padding_spans"].get(kind, []))]
        conn.close()
        per_bit = {}
        for _, b, bit, o in real:   # bit position in the float32 word, over real data
            n_k = per_bit.setdefault((b % 4) * 8 + bit, [0, 0])
            n_k[0] += 1
            n_k[1] += o in ("sdc", "critical_sdc")
        bits = section.split("### Per bit position", 1)[1]
        for pos, (n_all, _) in per_bit.items():
            assert re.search(rf"^\| {pos} \| {n_all} \| ", bits, re.M), (name, pos)
        for op in layers:   # every layer reached (off padding) appears by name in the per-layer table
            assert f"| {LAYERS[op]} |" in section, (name, op)
        assert "### Mission estimate (leo-alsat1, one mission-year)" in section
        assert "No estimate: this database records no exposure data." not in section
    assert "## Comparison" in report and "expected sdc per mission-year (leo-alsat1, memory sites)" in report
    assert "### Stratified estimate" in report
    for name in VARIANTS:   # each alone too
        code, _, err = radrt("fi", "report", f"{name}.db", "--out", f"one-{name}", cwd=tmp_path)
        assert (code, err) == (0, ""), (name, err)

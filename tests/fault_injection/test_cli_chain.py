"""The README's campaign workflow, through the real `radrt` command: fi run -> fi report -> fi replay.

Each step is a fresh interpreter running runtime.cli, with the options the README
("Command line", "Fault-injection campaigns") documents. A `--faults` campaign
(planned by count, so its configuration records no margin) and a `--margin`
campaign are reported alone and side by side; the report's outcome table must
hold the counts `fi run --json` printed.
"""
import json
import re
import subprocess
import sys

import pytest

from fault_injection.vocabulary import OUTCOMES


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


PROGRESS = re.compile(r"radrt fi run: \d+ of \d+ injections recorded \(\d+%\)")


def without_progress(err: str) -> str:
    """stderr without `fi run`'s progress lines (printed when stderr is not a terminal)."""
    return "".join(ln for ln in err.splitlines(keepends=True) if not PROGRESS.fullmatch(ln.strip()))


def fi_run(tmp_path, db, *size):
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations,compute",
                           "--fault-model", "flip", "--protect", "tmr", *size, "--seed", "1",
                           "--db", db, "--json", cwd=tmp_path)
    assert (code, without_progress(err)) == (0, ""), err
    return json.loads(out)


def outcome_table(report: str, heading: str) -> dict:
    """{outcome: count} from the Outcomes table that follows `heading`, with the injections
    on padding (bytes in no tensor, excluded from the rates; their outcomes in the row) added."""
    section = report.split(heading, 1)[1].split("### Per site kind", 1)[0]
    counts = {}
    for o in list(OUTCOMES) + ["total"]:
        m = re.search(rf"^\| {o} \| (\d+) \|", section, re.M)
        assert m, f"no row for {o!r} under {heading!r}"
        counts[o] = int(m.group(1))
    padding = re.search(r"^\| on padding \(excluded, see Padding\) \| (\d+) \|  \| (.*) \|$", section, re.M)
    if padding:
        split = dict(part.split(" ") for part in padding.group(2).split(", "))
        assert sum(int(n) for n in split.values()) == int(padding.group(1))
        for o, n in split.items():
            counts[o] += int(n)
    return counts


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    by_count = fi_run(tmp, "c.db", "--faults", "40")
    by_margin = fi_run(tmp, "m.db", "--margin", "0.3")
    return tmp, by_count, by_margin


def test_fi_run_then_report_of_a_faults_campaign(campaigns):
    tmp, summary, _ = campaigns
    assert summary["total"] == 40 and sum(summary["outcomes"].values()) == 40
    code, out, err = radrt("fi", "report", "c.db", "--out", "rep", cwd=tmp)
    assert (code, err) == (0, ""), err
    assert out.strip() == "wrote rep/report.md"
    report = (tmp / "rep" / "report.md").read_text()
    assert "| injections | 40 recorded of 40 planned" in report
    counts = outcome_table(report, "## Campaign 1: tmr")
    assert counts == {**{o: summary["outcomes"].get(o, 0) for o in OUTCOMES}, "total": 40}
    # a --faults campaign planned no margin: the sentence gives the achieved one only
    line = next(ln for ln in report.splitlines() if ln.startswith("- tmr: 40 injections"))
    assert "planned margin" not in line and "±" in line
    for plot in ("outcomes_1.png", "layers_1.png", "bits_1.png"):
        assert (tmp / "rep" / plot).stat().st_size > 0


def test_fi_report_side_by_side_with_a_margin_campaign(campaigns):
    tmp, by_count, by_margin = campaigns
    code, out, err = radrt("fi", "report", "c.db", "m.db", "--out", "both", cwd=tmp)
    assert (code, err) == (0, ""), err
    report = (tmp / "both" / "report.md").read_text()
    n = by_margin["total"]
    assert outcome_table(report, "## Campaign 1:")["total"] == 40
    assert outcome_table(report, "## Campaign 2:")["total"] == n
    margins = [ln for ln in report.splitlines() if re.match(r"- \S+: \d+ injections", ln)]
    assert len(margins) == 2
    assert "planned margin" not in margins[0] and margins[1].endswith("(planned margin ±30.00%).")


def test_fi_replay_of_a_recorded_fault_gives_its_outcome(campaigns):
    tmp, _, _ = campaigns
    for fault_id in (0, 39):
        code, out, err = radrt("fi", "replay", "c.db", fault_id, cwd=tmp)
        assert (code, err) == (0, ""), err
        assert out.startswith(f"fault {fault_id}: flip at ")
        replayed, recorded = re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups()
        assert replayed == recorded and replayed in OUTCOMES


def test_abft_campaign_run_report_replay_through_the_cli(tmp_path):
    """`fi run --protect abft` then report and replay, as a reliability engineer chains them:
    no sdc, and every replayed fault gives its recorded outcome."""
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations,compute,input",
                           "--fault-model", "flip", "--protect", "abft", "--faults", "60", "--seed", "2",
                           "--db", "a.db", "--json", cwd=tmp_path)
    assert (code, without_progress(err)) == (0, ""), err
    summary = json.loads(out)
    assert summary["total"] == 60
    assert summary["outcomes"]["sdc"] == summary["outcomes"]["critical_sdc"] == 0
    assert summary["outcomes"]["corrected"] > 0
    code, out, err = radrt("fi", "report", "a.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    counts = outcome_table((tmp_path / "rep" / "report.md").read_text(), "## Campaign 1: abft")
    assert counts == {**{o: summary["outcomes"].get(o, 0) for o in OUTCOMES}, "total": 60}
    for fault_id in (0, 30, 59):
        code, out, err = radrt("fi", "replay", "a.db", fault_id, cwd=tmp_path)
        assert (code, err) == (0, ""), err
        replayed, recorded = re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups()
        assert replayed == recorded

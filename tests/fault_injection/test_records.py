"""Right records, a report that never crashes, clear errors (issue 13 items 2, 6, 8 in part).

Everything goes through the real `radrt` command in fresh interpreters, as a user
chains it: `fi run` -> `fi report` -> `fi replay`, and the error cases a user meets
(a damaged database, resuming with other options, an edited database).
"""
import json
import re
import sqlite3
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fault_injection.inputs import campaign_inputs
from fault_injection.outcome import Golden, cause_kind, classify
from fault_injection.store import CampaignStore
from runtime import InferenceSession
from runtime.protect import MODES

PROGRESS = re.compile(r"radrt fi run: \d+ of \d+ injections recorded \(\d+%\)")


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, p.stderr


def without_progress(err: str) -> str:
    return "".join(ln for ln in err.splitlines(keepends=True) if not PROGRESS.fullmatch(ln.strip()))


def rows(db):
    with CampaignStore.open_existing(db) as store:
        return list(store.rows())


def replayed_and_recorded(out: str):
    return re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups()


# -- 1. input faults land at the first op that reads their bytes ----------------------------
def two_input_model(path):
    """x (1, 5) is read by op 0 (scale_x); y (1, 5) first by op 2 (add_y). The input
    region holds x at byte 0 and y at byte 64: the bytes between are alignment padding."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 5])
    w = numpy_helper.from_array(np.linspace(0.5, 1.5, 5, dtype=np.float32).reshape(1, 5), "w")
    nodes = [helper.make_node("Mul", ["x", "w"], ["a"], name="scale_x"),
             helper.make_node("Tanh", ["a"], ["b"], name="squash_x"),
             helper.make_node("Add", ["b", "y"], ["c"], name="add_y"),
             helper.make_node("Sigmoid", ["c"], ["out"], name="squash_sum")]
    model = helper.make_model(helper.make_graph(nodes, "two_inputs", [x, y], [out], [w]),
                              opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def input_layout(sess):
    """{input name: byte offset in the input region}, from the plan's readers."""
    layout = {}
    for step in sess.compiled.plan.steps:
        for name, p in zip(step.node.inputs, step.ins):
            if p is not None and p.region == "input":
                layout[name] = p.offset
    return layout


def expected_outcome(sess, feeds, golden, byte_offset, bit):
    """The naive reference: the same upset in the caller's array, a fresh fault-free run."""
    for name, start in input_layout(sess).items():
        arr = feeds[name]
        if start <= byte_offset < start + arr.nbytes:
            hit = {k: v.copy() for k, v in feeds.items()}
            hit[name].reshape(-1).view(np.uint8)[byte_offset - start] ^= 1 << bit
            return classify(golden, sess.run(None, hit)).outcome, 2 if name == "y" else 0
    return "masked", None  # padding: never read


def test_input_faults_land_at_their_first_reader_or_are_masked_never_read(tmp_path):
    two_input_model(tmp_path / "two.onnx")
    code, out, err = radrt("fi", "run", "two.onnx", "--sites", "input", "--faults", "60", "--seed", "3",
                           "--db", "none.db", "--json", cwd=tmp_path)
    assert (code, without_progress(err)) == (0, ""), err
    assert json.loads(out)["outcomes"]["crash"] == 0

    sess = InferenceSession(str(tmp_path / "two.onnx"), scrub_interval_s=None)
    feeds = campaign_inputs(str(tmp_path / "two.onnx"), sess).feeds[0]
    golden = Golden(sess.run(None, feeds))
    assert input_layout(sess) == {"x": 0, "y": 64}
    recorded = rows(tmp_path / "none.db")
    assert len(recorded) == 60
    by_layer = {}
    for row in recorded:
        outcome, layer = expected_outcome(sess, feeds, golden, row["byte_offset"], row["bit"])
        assert (row["outcome"], row["layer"]) == (outcome, layer), row
        if layer is None:  # bytes of no input (64-byte alignment between x and y): decided without running
            assert row["cause"] == "padding", row
        else:  # read, then masked: the run re-converged to the golden one (executor)
            assert (cause_kind(row["cause"]) == "converged") == (outcome == "masked"), row
        by_layer.setdefault(layer, []).append(row["fault_id"])
    # the draw covers all three cases: read by op 0, first read by op 2, never read
    assert set(by_layer) == {0, 2, None}
    assert any(r["outcome"] != "masked" for r in recorded if r["layer"] == 2)

    for fault_id, cause in ((by_layer[2][0], False), (by_layer[None][0], True)):
        code, out, err = radrt("fi", "replay", "none.db", fault_id, cwd=tmp_path)
        assert (code, err) == (0, ""), err
        replayed, stored = replayed_and_recorded(out)
        assert replayed == stored
        assert ("cause: padding" in out) == cause, out

    code, out, err = radrt("fi", "run", "two.onnx", "--sites", "input", "--faults", "40", "--protect", "tmr",
                           "--db", "tmr.db", "--json", cwd=tmp_path)
    assert (code, without_progress(err)) == (0, ""), err
    outcomes = json.loads(out)["outcomes"]
    assert outcomes["crash"] == outcomes["sdc"] == outcomes["critical_sdc"] == outcomes["tolerable"] == 0
    assert outcomes["corrected"] > 0  # an upset read by op 0 or 2 is voted out


# -- 2. a report for every campaign `fi run` can write -------------------------------------
VARIANTS = (
    [("--sites", kind, "--faults", "12") for kind in ("weights", "activations", "compute", "input")]
    + [("--fault-model", model, "--faults", "12") for model in ("mbu:3", "stuck0", "stuck1")]
    + [("--margin", "0.3")]
    + [("--protect", mode, "--faults", "12") for mode in MODES]
    + [("--stratify", "layer", "--faults", "15"), ("--workers", "2", "--faults", "12")]
)


@pytest.mark.parametrize("options", VARIANTS, ids=[" ".join(v) for v in VARIANTS])
def test_every_fi_run_variant_reports_and_replays(tmp_path, options):
    code, out, err = radrt("fi", "run", "digits", *options, "--db", "c.db", "--seed", "5", "--json", cwd=tmp_path)
    assert (code, without_progress(err)) == (0, ""), err
    total = json.loads(out)["total"]
    code, out, err = radrt("fi", "report", "c.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    report = (tmp_path / "rep" / "report.md").read_text()
    assert f"| total | {total} |" in report
    assert (tmp_path / "rep" / "outcomes_1.png").stat().st_size > 0
    recorded = rows(tmp_path / "c.db")
    # every layer an upset on real data reached (not padding; not a fault that changed no bit)
    layers = {r["layer"] for r in recorded if r["layer"] is not None and r["cause"] not in ("padding", "unchanged")}
    with CampaignStore.open_existing(tmp_path / "c.db") as store:
        names = store.layers()
    assert [n for n, _ in names.values()] == ["conv1", "conv2", "pool", "fc"]
    for op in layers:  # each named, with its op type
        name, op_type = names[op]
        assert f"| {op}: {name} ({op_type}) |" in report
    if layers:
        assert (tmp_path / "rep" / "layers_1.png").stat().st_size > 0
    assert "no op (input or link sites)" not in report
    code, out, err = radrt("fi", "replay", "c.db", recorded[-1]["fault_id"], cwd=tmp_path)
    assert (code, err) == (0, ""), err
    replayed, stored = replayed_and_recorded(out)
    assert replayed == stored == recorded[-1]["outcome"]


def test_weight_faults_are_in_the_per_layer_table(tmp_path):
    code, _, err = radrt("fi", "run", "digits", "--sites", "weights", "--faults", "40", "--db", "w.db",
                         cwd=tmp_path)
    assert code == 0, err
    recorded = rows(tmp_path / "w.db")
    # packing padding (zeros a layer's packed panels hold) is read by its layer but holds no
    # weight: excluded from the per-layer rates like alignment padding (layer None)
    read = [r for r in recorded if r["layer"] is not None and r["cause"] != "padding"]
    never = [r for r in recorded if r["layer"] is None]
    assert read and all(r["cause"] in ("never read", "padding") and r["outcome"] == "masked" for r in never)
    code, _, err = radrt("fi", "report", "w.db", "--out", "rep", cwd=tmp_path)
    assert code == 0, err
    report = (tmp_path / "rep" / "report.md").read_text()
    table = report.split("### Per layer", 1)[1].split("![", 1)[0]
    counted = sum(int(n) for n in re.findall(r"^\| \d+: \w+ \(\w+\) \| (\d+) \|", table, re.M))
    assert counted == len(read)
    if never:
        assert f"{len(never)} injections hit bytes no op reads" in report


# -- 3. errors ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    code, _, err = radrt("fi", "run", "digits", "--faults", "20", "--db", "c.db", cwd=tmp)
    assert code == 0, err
    return tmp


def one_line_error(code, out, err, command):
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"radrt {command}: ") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("damage", ["truncated", "garbage", "zeroed-page"])
def test_a_damaged_database_is_one_line_naming_the_file(small_campaign, tmp_path, damage):
    data = (small_campaign / "c.db").read_bytes()
    assert len(data) > 8192
    if damage == "truncated":
        data = data[:len(data) // 2 + 100]
    elif damage == "garbage":
        data = b"not a database at all" * 100
    else:
        data = data[:4096] + bytes(4096) + data[8192:]
    (tmp_path / "bad.db").write_bytes(data)
    for argv, command in ((("fi", "run", "digits", "--faults", "20", "--db", "bad.db"), "fi run"),
                          (("fi", "report", "bad.db", "--out", "rep"), "fi report"),
                          (("fi", "replay", "bad.db", "0"), "fi replay")):
        line = one_line_error(*radrt(*argv, cwd=tmp_path), command)
        assert "'bad.db'" in line
        assert ("not an SQLite database" if damage == "garbage" else "truncated or damaged") in line


def test_resuming_with_other_options_names_each_key_that_differs(small_campaign, tmp_path):
    (tmp_path / "c.db").write_bytes((small_campaign / "c.db").read_bytes())
    line = one_line_error(*radrt("fi", "run", "digits", "--faults", "25", "--sites", "weights,compute",
                                 "--db", "c.db", cwd=tmp_path), "fi run")
    assert "faults: 20 recorded, 25 now" in line
    assert 'sites: ["weights", "activations", "compute"] recorded, ["weights", "compute"] now' in line
    assert "protect" not in line and "{" not in line  # only what differs, no JSON blobs


def edited_copy(small_campaign, tmp_path, sql):
    db = tmp_path / "c.db"
    db.write_bytes((small_campaign / "c.db").read_bytes())
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute(sql)
    conn.commit()
    conn.close()
    return db


def test_an_unknown_outcome_in_the_database_is_refused_naming_the_row(small_campaign, tmp_path):
    edited_copy(small_campaign, tmp_path, "UPDATE injection SET outcome = 'fine' WHERE fault_id = 7")
    for argv, command in ((("fi", "run", "digits", "--faults", "20", "--db", "c.db"), "fi run"),
                          (("fi", "report", "c.db", "--out", "rep"), "fi report"),
                          (("fi", "replay", "c.db", "7"), "fi replay")):
        line = one_line_error(*radrt(*argv, cwd=tmp_path), command)
        assert "fault_id 7 has outcome 'fine'" in line


def test_a_row_that_is_not_its_planned_fault_is_refused_on_resume(small_campaign, tmp_path):
    edited_copy(small_campaign, tmp_path, "UPDATE injection SET byte_offset = byte_offset + 1 WHERE fault_id = 4")
    line = one_line_error(*radrt("fi", "run", "digits", "--faults", "20", "--db", "c.db", cwd=tmp_path),
                          "fi run")
    assert "fault_id 4 has byte_offset" in line and "the campaign's fault 4 has" in line


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    code, out, err = radrt("fi", "run", "digits", "--faults", "30", "--db", "p.db", cwd=tmp_path)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert all(PROGRESS.fullmatch(ln) for ln in lines), err
    done = [int(re.search(r"(\d+) of", ln).group(1)) for ln in lines]
    assert done[0] == 0 and done[-1] == 30 and done == sorted(done)
    assert len(lines) >= 11  # every 10%

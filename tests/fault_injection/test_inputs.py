"""Campaigns over many inputs and application criteria (issue 13 item 3), through the CLI.

fi run -> fi report -> fi replay on digits' held-out set (--input-count), on a
--inputs FILE.npz and on a folder; every figure recorded (input digests, golden
classes, the input each fault drew, mean IoU) is recomputed independently here.
"""
import hashlib
import json
import re
import sqlite3

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fault_injection.models import digits_model_path, load_heldout
from fault_injection.outcome import Golden, Tolerance, classify, mean_iou
from fault_injection.plan import _draw
from fault_injection.store import CampaignStore
from runtime import InferenceSession
from runtime.errors import InvalidArgumentError

from .cli import radrt


def store_of(db):
    with CampaignStore.open_existing(db) as store:
        return store.info.config, list(store.rows()), store.inputs()


def digest(feeds):
    """fault_injection.inputs.feeds_sha256, written out again."""
    h = hashlib.sha256()
    for name in sorted(feeds):
        a = np.ascontiguousarray(feeds[name])
        h.update(f"{name};{a.dtype.str};{a.shape};".encode() + a.tobytes())
    return h.hexdigest()


def replayed(out):
    return re.search(r"replayed outcome: (\w+) .*recorded: (\w+)", out).groups()


def test_digits_campaign_over_held_out_inputs_then_report_and_replay(tmp_path):
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations", "--faults", "40",
                           "--input-count", "12", "--seed", "5", "--db", "d.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    summary = json.loads(out)
    assert summary["inputs"] == "12 (digits held-out set)" and summary["criterion"] == "top1"
    config, rows, inputs = store_of(tmp_path / "d.db")
    assert config["input_count"] == 12 and config["criterion"] == "top1"
    images, _ = load_heldout()
    sess = InferenceSession(str(digits_model_path()), scrub_interval_s=None)
    golden_class = []
    for i, row in enumerate(inputs):
        feeds = {"input": images[i:i + 1]}
        out_i = sess.run(None, feeds)[0]
        golden_class.append(int(np.argmax(out_i)))
        assert row == {"input_index": i, "feeds_sha256": digest(feeds), "golden_sha256": Golden([out_i]).sha256,
                       "golden_class": golden_class[-1]}
    assert config["inputs_sha256"] == hashlib.sha256("".join(r["feeds_sha256"] for r in inputs).encode()).hexdigest()
    # each fault's input is its own uniform draw from the seed; the row's classes are that input's
    assert [r["input_index"] for r in rows] == [_draw(5, r["fault_id"], "input", 12) for r in rows]
    assert len({r["input_index"] for r in rows}) > 6
    for r in rows:
        assert r["golden_class"] == golden_class[r["input_index"]]
        assert (r["faulty_class"] != r["golden_class"]) == (r["outcome"] == "critical_sdc"), r
    code, out, err = radrt("fi", "report", "d.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert "| injections | 40 recorded of 40 planned" in (tmp_path / "rep" / "report.md").read_text()
    far = max(rows, key=lambda r: (r["input_index"], r["outcome"] != "masked"))
    code, out, err = radrt("fi", "replay", "d.db", far["fault_id"], cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert f"input {far['input_index']}" in out and replayed(out) == (far["outcome"], far["outcome"])


def test_inputs_file_and_folder_campaigns_resume_and_replay(tmp_path):
    images, _ = load_heldout()
    np.savez(tmp_path / "five.npz", input=images[20:25])
    np.savez(tmp_path / "four.npz", input=images[20:24])
    (tmp_path / "dir").mkdir()
    for i in range(3):
        np.savez(tmp_path / "dir" / f"s{i:02d}.npz", input=images[20 + i:21 + i])
    code, out, err = radrt("fi", "run", "digits", "--inputs", "five.npz", "--faults", "20", "--sites", "weights",
                           "--db", "f.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    config, rows, inputs = store_of(tmp_path / "f.db")
    assert config["inputs"] == "file" and config["input_count"] == 5
    assert [r["feeds_sha256"] for r in inputs] == [digest({"input": images[i:i + 1]}) for i in range(20, 25)]
    # resuming onto other inputs is refused naming the key
    code, out, err = radrt("fi", "run", "digits", "--inputs", "four.npz", "--faults", "20", "--sites", "weights",
                           "--db", "f.db", cwd=tmp_path)
    assert code == 2 and "input_count: 5 recorded, 4 now" in err and "inputs_sha256" in err, err
    # the same samples as a folder are the same campaign: resume executes nothing
    code, out, err = radrt("fi", "run", "digits", "--inputs", "dir", "--faults", "20", "--sites", "weights",
                           "--db", "g.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert [r["feeds_sha256"] for r in store_of(tmp_path / "g.db")[2]] == [r["feeds_sha256"] for r in inputs[:3]]
    code, out, err = radrt("fi", "replay", "f.db", 3, cwd=tmp_path)
    assert code == 2 and "--inputs" in err, err
    code, out, err = radrt("fi", "replay", "f.db", 3, "--inputs", "five.npz", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert replayed(out) == (rows[3]["outcome"], rows[3]["outcome"])


def test_bad_inputs_are_named(tmp_path):
    sess = InferenceSession(str(digits_model_path()), scrub_interval_s=None)
    from fault_injection.inputs import campaign_inputs
    images, _ = load_heldout()
    np.savez(tmp_path / "shape.npz", input=images[:3, :, :4])
    with pytest.raises(InvalidArgumentError, match=r"shape.npz: array 'input' has shape \(3, 1, 4, 8\), "
                                                   r"expected \(\?, 1, 8, 8\)"):
        campaign_inputs("digits", sess, str(tmp_path / "shape.npz"))
    np.savez(tmp_path / "dtype.npz", input=images[:3].astype(np.float64))
    with pytest.raises(InvalidArgumentError, match="array 'input' has dtype float64, the model input 'input' "
                                                   "expects float32"):
        campaign_inputs("digits", sess, str(tmp_path / "dtype.npz"))
    np.savez(tmp_path / "name.npz", image=images[:3])
    with pytest.raises(InvalidArgumentError, match="no array for model input 'input'"):
        campaign_inputs("digits", sess, str(tmp_path / "name.npz"))
    (tmp_path / "d").mkdir()
    np.savez(tmp_path / "d" / "a.npz", input=images[:1])
    np.save(tmp_path / "d" / "b.npy", images[:1])
    with pytest.raises(InvalidArgumentError, match="'b.npy' is not an .npz file"):
        campaign_inputs("digits", sess, str(tmp_path / "d"))
    with pytest.raises(InvalidArgumentError, match="--input-count 451: expected 1 to 450"):
        campaign_inputs("digits", sess, None, 451)


def test_schema_2_database_is_refused_naming_its_writer(tmp_path):
    code, _, err = radrt("fi", "run", "digits", "--faults", "2", "--input-count", "1", "--db", "o.db", cwd=tmp_path)
    assert code == 0, err
    with sqlite3.connect(tmp_path / "o.db") as conn:
        conn.execute("UPDATE campaign SET schema = 2, code_version = 'radrt 0.9.0'")
    code, _, err = radrt("fi", "report", "o.db", "--out", "r", cwd=tmp_path)
    assert code == 2 and "schema version 2, written by radrt 0.9.0" in err and "re-run the campaign" in err, err


# -- application criteria: mean IoU of a segmentation mask --------------------------------
def test_mean_iou_by_hand():
    golden = np.array([[0, 0], [1, 1]])
    faulty = np.array([[0, 1], [1, 1]])
    # class 0: |A∩B| = 1, |A∪B| = 2; class 1: 2 of 3
    assert mean_iou(golden, faulty) == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-15)
    # a class absent from both masks does not count
    assert mean_iou(np.array([0, 0, 2]), np.array([0, 2, 2])) == pytest.approx((1 / 2 + 1 / 2) / 2, abs=1e-15)

    def scores(mask):  # (1, 3, H, W) with the mask as argmax
        return np.stack([(mask == c).astype(np.float32) for c in range(3)])[None]
    g = Golden([scores(golden)])
    v = classify(g, [scores(faulty)], tolerance=Tolerance(iou_threshold=0.6))
    assert (v.outcome, v.iou) == ("critical_sdc", pytest.approx(7 / 12))
    v = classify(g, [scores(faulty)], tolerance=Tolerance(iou_threshold=0.5))
    assert (v.outcome, v.iou) == ("sdc", pytest.approx(7 / 12))
    with pytest.raises(InvalidArgumentError, match="--criterion top1: the model's first output is float32 "
                                                   r"\(1, 3, 2, 2\), not a classifier"):
        Tolerance(criterion="top1").resolved(g)


def mask_model(path):
    """Conv 1x1 to C=2: class 0 where 2x - 1 > 0 (x > 0.5), class 1 elsewhere."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 6, 6])
    w = numpy_helper.from_array(np.array([2.0, -2.0], np.float32).reshape(2, 1, 1, 1), "w")
    b = numpy_helper.from_array(np.array([-1.0, 1.0], np.float32), "b")
    model = helper.make_model(helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="mask")],
                                                "cloud_mask", [x], [y], [w, b]),
                              opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)


def test_segmentation_campaign_records_mean_iou(tmp_path):
    mask_model(tmp_path / "mask.onnx")
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "tiles.npz", x=rng.random((4, 1, 6, 6), dtype=np.float32))
    code, out, err = radrt("fi", "run", "mask.onnx", "--inputs", "tiles.npz", "--sites", "input,weights",
                           "--faults", "30", "--iou-threshold", "0.9", "--db", "m.db", "--json", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["criterion"] == "iou"
    config, rows, _ = store_of(tmp_path / "m.db")
    assert (config["criterion"], config["iou_threshold"]) == ("iou", 0.9)
    tiles = np.load(tmp_path / "tiles.npz")["x"]
    for r in rows:  # the naive method: a fresh session, the upset, a full run, IoU by numpy
        sess = InferenceSession(str(tmp_path / "mask.onnx"), scrub_interval_s=None)
        feeds = {"x": tiles[r["input_index"]:r["input_index"] + 1]}
        golden = np.argmax(sess.run(None, feeds)[0], axis=1)
        sess.inject(r["site"], r["byte_offset"], r["bit"])
        mask = np.argmax(sess.run(None, feeds)[0], axis=1)
        ious = [((golden == c) & (mask == c)).sum() / ((golden == c) | (mask == c)).sum()
                for c in (0, 1) if ((golden == c) | (mask == c)).any()]
        assert r["iou"] == pytest.approx(float(np.mean(ious)), abs=1e-12), r
        if r["outcome"] in ("sdc", "tolerable", "critical_sdc"):
            assert (r["outcome"] == "critical_sdc") == (r["iou"] < 0.9), r
    assert any(r["iou"] < 1.0 for r in rows)
    code, out, err = radrt("fi", "report", "m.db", "--out", "rep", cwd=tmp_path)
    assert (code, err) == (0, ""), err
    code, out, err = radrt("fi", "run", "mask.onnx", "--criterion", "top1", "--faults", "3", "--db", "t.db",
                           cwd=tmp_path)
    assert code == 2 and "--criterion top1: the model's first output is float32 (1, 2, 6, 6)" in err, err


def test_samples_must_share_their_shapes(tmp_path):
    from fault_injection.inputs import campaign_inputs
    mask_model(tmp_path / "mask.onnx")
    model = onnx.load(tmp_path / "mask.onnx")
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "h"
    onnx.save(model, tmp_path / "free.onnx")
    sess = InferenceSession(str(tmp_path / "free.onnx"), scrub_interval_s=None)
    (tmp_path / "d").mkdir()
    np.savez(tmp_path / "d" / "a.npz", x=np.zeros((1, 1, 6, 6), np.float32))
    np.savez(tmp_path / "d" / "b.npz", x=np.zeros((1, 1, 4, 6), np.float32))
    with pytest.raises(InvalidArgumentError, match=r"sample 1 has 'x' of shape \(1, 1, 4, 6\), sample 0 "
                                                   r"\(1, 1, 6, 6\)"):
        campaign_inputs("free.onnx", sess, str(tmp_path / "d"))

"""The radrt command's error policy (issue 9 §5): one line `radrt CMD: message`, an exit code per class.

Through the real entry point (a subprocess running `radrt`'s main) for the
cases in ../shared/cases/trust/models/unclear_cli_messages, and through
main(argv) with capsys for every error path of runtime/cli.py,
fault_injection/cli.py and runtime/link/cli.py.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import runtime
from runtime import cli
from runtime.errors import (CompileError, InvalidArgumentError, MemoryBudgetError, ModelLoadError, RadrtError,
                            SizeOverflowError, UncorrectableUpsetError, UnknownArgumentError, UnsupportedOpError)

from .helpers import make_model, relu_chain

CASES = Path(__file__).resolve().parents[1] / ".." / "shared" / "cases" / "trust"
SHARED = CASES / "shared_models"


def radrt(*argv, cwd=None):
    """Run the real command in a fresh interpreter: (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "relu.onnx"
    path.write_bytes(relu_chain())
    return path


def main(capsys, *argv):
    """cli.main(argv) in this process: (exit code, stdout, stderr); argparse's errors exit."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


# -- through the real command ---------------------------------------------------------------------
def test_bench_repeat_zero_names_the_option(model):
    code, _, err = radrt("bench", model, "--repeat", "0")
    assert (code, err) == (2, "radrt bench: --repeat must be >= 1, got 0\n")


def test_run_negative_seed_names_the_option(model):
    code, _, err = radrt("run", model, "--seed", "-1")
    assert (code, err) == (2, "radrt run: --seed must be >= 0, got -1\n")


def test_version_is_the_installed_package_version():
    from importlib.metadata import version
    code, out, _ = radrt("--version")
    assert (code, out) == (0, f"radrt {version('radrt')}\n")


def test_missing_model_is_a_model_load_error_line(tmp_path):
    code, _, err = radrt("run", tmp_path / "nope.onnx")
    assert code == 3
    assert one_line(err).startswith(f"radrt run: model file '{tmp_path / 'nope.onnx'}': cannot read it")


def test_cli_messages_case():
    """unclear_cli_messages: each of cli.sh's commands gives one line and no traceback."""
    if not SHARED.exists():
        pytest.skip(f"shared cases folder {CASES} is absent")
    code, _, err = radrt("bench", SHARED / "base.onnx", "--repeat", "0")
    assert (code, one_line(err)) == (2, "radrt bench: --repeat must be >= 1, got 0")
    code, _, err = radrt("run", SHARED / "base.onnx", "--seed", "-1")
    assert (code, one_line(err)) == (2, "radrt run: --seed must be >= 0, got -1")
    # opset 99: radrt's own model checks refuse it (exit 3) before onnxruntime sees it.
    code, _, err = radrt("bench", SHARED / "opset99_relu.onnx", "--vs-ort", "--repeat", "2")
    line = one_line(err)
    assert code == 3 and line.startswith("radrt bench: ") and "99" in line, (code, line)
    # 100000000x3x8x8 floats: out of memory or refused by the memory budget: exit 4.
    code, _, err = radrt("inspect", SHARED / "base_dyn.onnx", "--input-shape", "x=100000000,3,8,8")
    assert code == 4 and one_line(err).startswith("radrt inspect: "), (code, err)
    # Conv strides='ab': an invalid model, refused at load naming the attribute (exit 3).
    code, _, err = radrt("run", SHARED / "attr_conv_strides_string.onnx")
    assert code == 3 and one_line(err).startswith("radrt run: ") and "strides" in err, (code, err)


# -- exit codes by class ----------------------------------------------------------------------
@pytest.mark.parametrize("error, code", [
    (InvalidArgumentError("bad value", argument="x"), 2),
    (UnknownArgumentError("unknown keyword", argument="x"), 2),
    (ModelLoadError("model 'm': bad"), 3),
    (UnsupportedOpError("unsupported op Foo"), 3),
    (CompileError("node 'n': shapes"), 4),
    (SizeOverflowError("node 'n': overflow"), 4),
    (MemoryBudgetError("node 'n': 10 GB"), 4),
    (UncorrectableUpsetError("weights block 3 lost"), 5),
    (RadrtError("base"), 1),
])
def test_each_radrt_error_class_maps_to_its_exit_code(monkeypatch, capsys, model, error, code):
    def fail(args):
        raise error
    monkeypatch.setattr(cli, "cmd_run", fail)
    got, out, err = main(capsys, "run", model)
    assert got == code == error.exit_code
    assert one_line(err) == f"radrt run: {error}" and out == ""


def test_a_bug_is_an_internal_error_line_with_exit_70(monkeypatch, capsys, model):
    def fail(args):
        {}["missing"]
    monkeypatch.setattr(cli, "cmd_run", fail)
    code, _, err = main(capsys, "run", model)
    assert code == 70
    assert one_line(err) == ("radrt run: internal error: KeyError: 'missing' "
                             "(run with --debug for the traceback)")


def test_debug_prints_the_traceback_too(monkeypatch, capsys, model):
    def fail(args):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(cli, "cmd_run", fail)
    code, _, err = main(capsys, "--debug", "run", model)
    assert code == 70
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == "radrt run: internal error: ZeroDivisionError: boom"
    monkeypatch.setattr(cli, "cmd_run", lambda args: (_ for _ in ()).throw(CompileError("node 'c': x")))
    code, _, err = main(capsys, "--debug", "run", model)
    assert code == 4 and "Traceback" in err and err.splitlines()[-1] == "radrt run: node 'c': x"


def test_memory_error_is_one_line_naming_it(monkeypatch, capsys, model):
    def fail(args):
        raise MemoryError("region 'activations/r0': cannot allocate 104000000000 bytes")
    monkeypatch.setattr(cli, "cmd_inspect", fail)
    code, _, err = main(capsys, "inspect", model)
    assert code == 4
    assert one_line(err) == ("radrt inspect: out of memory (MemoryError): region 'activations/r0': "
                             "cannot allocate 104000000000 bytes")


def test_multi_line_messages_become_one_line(monkeypatch, capsys, model):
    monkeypatch.setattr(cli, "cmd_run", lambda args: (_ for _ in ()).throw(ModelLoadError("a\nb\n  c")))
    code, _, err = main(capsys, "run", model)
    assert (code, one_line(err)) == (3, "radrt run: a b c")


# -- real error paths of runtime/cli.py ----------------------------------------------------------
@pytest.mark.parametrize("argv, code, line", [
    (["run", "{m}", "--seed", "abc"], 2, "radrt run: --seed must be an integer >= 0, got 'abc'"),
    (["randomize-weights", "{m}", "{m}.out", "--seed", "-3"], 2,
     "radrt randomize-weights: --seed must be >= 0, got -3"),
    (["bench", "{m}", "--repeat", "x"], 2, "radrt bench: --repeat must be an integer >= 1, got 'x'"),
    (["bench", "{m}", "--protect", "quad"], 2,
     "radrt bench: --protect: invalid choice: 'quad' (choose from 'none', 'scrub', 'dwc', 'tmr', 'abft')"),
    (["run", "{m}", "--protect", "TMR"], 2,
     "radrt run: --protect: invalid choice: 'TMR' (choose from 'none', 'scrub', 'dwc', 'tmr', 'abft')"),
    (["inspect", "{m}", "--input-shape", "x=2,a"], 2,
     "radrt inspect: --input-shape 'x=2,a': expected NAME=D1,D2,... with integer dims"),
    (["inspect", "{m}", "--input-shape", "x=2,-3"], 2, "radrt inspect: --input-shape 'x=2,-3': dims must be >= 0"),
    (["run", "{m}", "--input", "x"], 2, "radrt run: --input 'x': expected NAME=FILE.npy"),
    (["nope"], 2, "radrt: command: invalid choice: 'nope'"),
    (["run"], 2, "radrt run: the following arguments are required: model"),
])
def test_option_errors_name_the_option(capsys, model, argv, code, line):
    got, out, err = main(capsys, *[a.replace("{m}", str(model)) for a in argv])
    assert got == code and one_line(err).startswith(line), err


def test_errors_raised_by_commands(capsys, model, tmp_path):
    code, _, err = main(capsys, "run", model, "--input", f"x={tmp_path / 'missing.npy'}")
    assert code == 2 and one_line(err).startswith(f"radrt run: --input 'x={tmp_path / 'missing.npy'}': cannot read")
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float64))
    code, _, err = main(capsys, "run", model, "--input", f"x={tmp_path / 'x.npy'}")
    assert (code, one_line(err)) == (2, "radrt run: input 'x': dtype float64 does not match the model's float32 "
                                        "(tensor(float))")
    code, _, err = main(capsys, "run", model, "--input", f"z={tmp_path / 'x.npy'}")
    assert code == 2 and one_line(err).startswith("radrt run: input 'z' is not an input of the model")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    sym = tmp_path / "sym.onnx"
    sym.write_bytes(make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))
    code, _, err = main(capsys, "inspect", sym)
    assert code == 4 and one_line(err).startswith("radrt inspect: ") and "symbolic" in err
    code, _, err = main(capsys, "inspect", sym, "--input-shape", "q=1,3")
    assert (code, one_line(err)) == (2, "radrt inspect: input_shapes names 'q', which is not a runtime input of "
                                        "the model (inputs: ['x'])")
    bad = tmp_path / "foo.onnx"
    bad.write_bytes(make_model([helper.make_node("Foo", ["x"], ["y"], domain="")], [("x", [2])], [("y", [2])]))
    code, _, err = main(capsys, "run", bad)
    assert (code, one_line(err)) == (3, "radrt run: Foo node 'Foo_0': 'Foo' is not an op of the default ONNX domain")
    code, _, err = main(capsys, "bench", "nope-model")
    assert code == 3 and one_line(err).startswith("radrt bench: model 'nope-model': not a readable file")


def test_bench_vs_ort_when_onnxruntime_refuses_the_model(monkeypatch, capsys, model):
    import onnxruntime
    real = onnxruntime.InferenceSession
    # onnxruntime's own exception, as a model it refuses raises it
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda data, *a, **k: real(b"not a model", *a, **k))
    code, _, err = main(capsys, "bench", model, "--vs-ort", "--repeat", "1")
    line = err.splitlines()[-1]
    assert code == 2 and len(err.splitlines()) == 1
    assert line.startswith(f"radrt bench: --vs-ort: onnxruntime {onnxruntime.__version__} refuses model '{model}': ")
    assert line.endswith("(radrt accepts it; time it without --vs-ort)")


def test_readme_commands_still_work(capsys, model, tmp_path):
    assert main(capsys, "inspect", model)[0] == 0
    code, out, _ = main(capsys, "run", model, "--protect", "tmr", "--json", "--seed", "3")
    assert code == 0 and '"health"' in out
    assert main(capsys, "randomize-weights", model, tmp_path / "r.onnx", "--seed", "1")[0] == 0
    code, out, _ = main(capsys, "bench", model, "--vs-ort", "--repeat", "1", "--protect", "none",
                        "--protect", "dwc", "--json")
    assert code == 0 and out.count('"mode"') == 2


# -- red team rows 20, 27, 29 ------------------------------------------------------------------
def gather_fed_indices(tmp_path) -> Path:
    """data (3, 2) constant, Gather axis 0 with a fed int64 index input i (2,)."""
    nodes = [helper.make_node("Gather", ["d", "i"], ["y"], name="g")]
    i = helper.make_tensor_value_info("i", TensorProto.INT64, [2])
    path = tmp_path / "gather.onnx"
    path.write_bytes(make_model(nodes, [i], [("y", [2, 2])], [("d", np.arange(6, dtype=np.float32).reshape(3, 2))]))
    return path


def test_gather_index_out_of_range_is_an_invalid_argument_exit_2(capsys, tmp_path):
    from runtime.errors import GatherIndexError
    assert issubclass(GatherIndexError, InvalidArgumentError) and issubclass(GatherIndexError, IndexError)
    assert GatherIndexError.exit_code == 2 and "GatherIndexError" in runtime.errors.__doc__
    path = gather_fed_indices(tmp_path)
    np.save(tmp_path / "i.npy", np.array([0, 7], np.int64))
    code, _, err = main(capsys, "run", path, "--input", f"i={tmp_path / 'i.npy'}")
    assert (code, one_line(err)) == (2, "radrt run: Gather node 'g': 1 of 2 runtime indices are out of range "
                                        "for axis 0 of size 3 (expected values in [-3, 2])")
    # random inputs: integers in [0, 10) with seed 0 -> out of range for size 3; the line says why
    code, _, err = main(capsys, "run", path)
    line = one_line(err)
    assert code == 2 and line.endswith("; the inputs were drawn at random (integers in [0, 10), seed 0): "
                                       "give index inputs with --input NAME=FILE.npy"), line
    np.save(tmp_path / "ok.npy", np.array([2, -3], np.int64))
    code, out, _ = main(capsys, "run", path, "--input", f"i={tmp_path / 'ok.npy'}")
    assert code == 0 and "y: float32 (2, 2)" in out and "input i: int64 (2,) from --input" in out


def test_run_on_a_symbolic_model_says_which_shape_it_drew(capsys, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    path = tmp_path / "dyn.onnx"
    path.write_bytes(make_model([helper.make_node("Relu", ["x"], ["y"])], [x], [y]))
    code, out, err = main(capsys, "run", path)
    assert (code, err) == (0, "") and "input x: float32 (1, 3) random (seed 0), symbolic dims 'N' set to 1" in out
    code, out, _ = main(capsys, "run", path, "--json")
    assert json.loads(out)["inputs"] == [{"name": "x", "shape": [1, 3], "dtype": "float32", "random": True}]


def test_an_input_given_twice_is_refused(capsys, model, tmp_path):
    np.save(tmp_path / "a.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((2, 3), np.float32))
    code, _, err = main(capsys, "run", model, "--input", f"x={tmp_path / 'a.npy'}", "--input", f"x={tmp_path / 'b.npy'}")
    assert (code, one_line(err)) == (2, f"radrt run: --input 'x={tmp_path / 'b.npy'}': input 'x' is given twice; "
                                        f"give each input once")
    code, _, err = main(capsys, "inspect", model, "--input-shape", "x=2,3", "--input-shape", "x=5,3")
    assert (code, one_line(err)) == (2, "radrt inspect: --input-shape 'x=5,3': input 'x' is given twice "
                                        "(also x=2,3); give each input once")


def test_bench_repeat_has_an_upper_bound(capsys, model):
    code, _, err = main(capsys, "bench", model, "--repeat", "99999999999999999999")
    assert (code, one_line(err)) == (2, "radrt bench: --repeat must be <= 10000, got 99999999999999999999")


def test_bench_vs_ort_refusal_is_one_line_without_onnxruntime_log(tmp_path):
    """LRN size 2: onnxruntime refuses it and used to print its coloured log on stderr first."""
    nodes = [helper.make_node("LRN", ["x"], ["y"], size=2)]
    path = tmp_path / "lrn2.onnx"
    path.write_bytes(make_model(nodes, [("x", [1, 4, 3, 3])], [("y", [1, 4, 3, 3])], opset=13))
    code, _, err = radrt("bench", path, "--vs-ort", "--repeat", "1")
    assert code == 2 and one_line(err).startswith(f"radrt bench: --vs-ort: onnxruntime ")


# -- fault_injection/cli.py -----------------------------------------------------------------
@pytest.mark.parametrize("extra, line", [
    (["--faults", "0"], "radrt fi run: --faults must be >= 1, got 0"),
    (["--margin", "1"], "radrt fi run: --margin must be a number in (0, 1), got '1'"),
    (["--margin", "nan"], "radrt fi run: --margin must be a number in (0, 1), got 'nan'"),
    (["--faults", "3", "--confidence", "0"], "radrt fi run: --confidence must be a number in (0, 1), got '0'"),
    (["--faults", "3", "--workers", "0"], "radrt fi run: --workers must be >= 1, got 0"),
    (["--faults", "3", "--seed", "-1"], "radrt fi run: --seed must be >= 0, got -1"),
    (["--faults", "3", "--protect", "quad"], "radrt fi run: --protect: invalid choice: 'quad'"),
    (["--faults", "3", "--fault-model", "mbu:99"],
     "radrt fi run: --fault-model: fault model 'mbu:99': mbu needs a bit count from 2 to 64"),
    (["--faults", "3", "--sites", "weights,ram"], "radrt fi run: --sites: site kind 'ram' is not one of"),
])
def test_fi_run_options(capsys, tmp_path, extra, line):
    code, _, err = main(capsys, "fi", "run", "digits", "--db", tmp_path / "c.db", *extra)
    assert code == 2 and one_line(err).startswith(line)
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize("extra, line", [
    (["--db", "/nonexistent/dir/x.db"],
     "radrt fi run: --db: folder '/nonexistent/dir' of '/nonexistent/dir/x.db' does not exist"),
    (["--db", "{tmp}"], "radrt fi run: --db: '{tmp}' is a directory, expected a database file path"),
    (["--db", "{tmp}/c.db", "--scheduler", "notaurl"],
     "radrt fi run: --scheduler: address 'notaurl' has no valid HOST:PORT (port 1 to 65535)"),
    (["--db", "{tmp}/c.db", "--scheduler", "tcp://10.0.0.5"],
     "radrt fi run: --scheduler: address 'tcp://10.0.0.5' has no valid HOST:PORT"),
    (["--db", "{tmp}/c.db", "--scheduler", "tcp://10.0.0.5:99999"],
     "radrt fi run: --scheduler: address 'tcp://10.0.0.5:99999' has no valid HOST:PORT"),
    (["--db", "{tmp}/c.db", "--scheduler", "udp://10.0.0.5:8786"],
     "radrt fi run: --scheduler: protocol 'udp' of 'udp://10.0.0.5:8786' is not one of tcp, tls"),
])
def test_fi_run_db_and_scheduler_are_checked_before_the_campaign(capsys, tmp_path, extra, line):
    """Red team rows 18, 19: these were internal errors (sqlite3/Dask exceptions), exit 70."""
    code, _, err = main(capsys, "fi", "run", "digits", "--faults", "5",
                        *[a.replace("{tmp}", str(tmp_path)) for a in extra])
    assert code == 2 and one_line(err).startswith(line.replace("{tmp}", str(tmp_path))), err
    assert not (tmp_path / "c.db").exists()


def test_fi_database_that_cannot_be_opened_is_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite" * 100)
    code, _, err = main(capsys, "fi", "report", bad, "--out", tmp_path / "r")
    expected = (f"'{bad}' is not an SQLite database (its first bytes are b'not sqlitenot sq'); expected a "
                f"radrt campaign database (SQLite, written by radrt fi run)")
    assert (code, one_line(err)) == (2, f"radrt fi report: {expected}")
    code, _, err = main(capsys, "fi", "replay", bad, "0")
    assert (code, one_line(err)) == (2, f"radrt fi replay: {expected}")


def test_fi_errors_from_the_commands(capsys, tmp_path):
    code, _, err = main(capsys, "fi", "report", tmp_path / "nope.db", "--out", tmp_path / "r")
    assert (code, one_line(err)) == (2, f"radrt fi report: campaign database '{tmp_path / 'nope.db'}' does not exist")
    code, _, err = main(capsys, "fi", "replay", tmp_path / "nope.db", "3")
    assert (code, one_line(err)) == (2, f"radrt fi replay: campaign database '{tmp_path / 'nope.db'}' does not exist")
    code, _, err = main(capsys, "fi", "replay", tmp_path / "nope.db", "-1")
    assert (code, one_line(err)) == (2, "radrt fi replay: fault_id must be >= 0, got -1")


# -- runtime/link/cli.py ------------------------------------------------------------------------
@pytest.mark.parametrize("argv, line", [
    (["link", "ping", "--port", "loop://", "--apid", "0x900"], "radrt link ping: --apid must be from 0 to 2047, got 2304"),
    (["link", "ping", "--port", "loop://", "--source", "70000"],
     "radrt link ping: --source must be from 0 to 65535, got 70000"),
    (["link", "ping", "--port", "loop://", "--retries", "-1"], "radrt link ping: --retries must be >= 0, got -1"),
    (["link", "ping", "--port", "loop://", "--timeout", "0"], "radrt link ping: --timeout must be a number in (0, 3600]"),
    (["link", "upload", "m.onnx", "--slot", "300", "--port", "loop://"],
     "radrt link upload: --slot must be from 0 to 255, got 300"),
    (["serve", "--port", "loop://", "--baud", "0"], "radrt serve: --baud must be >= 1, got 0"),
    (["fi", "serve", "--port", "loop://", "--upset-rate", "-1"],
     "radrt fi serve: --upset-rate must be a number in [0, 1e+06]"),
    (["fi", "serve", "--port", "loop://", "--baud", "0"], "radrt fi serve: --baud must be >= 1, got 0"),
    (["serve", "--port", "loop://", "--upset-rate", "1"], "radrt: unrecognized arguments: --upset-rate 1"),
])
def test_link_options(capsys, argv, line):
    code, _, err = main(capsys, *argv)
    assert code == 2 and one_line(err).startswith(line)


def test_link_errors_from_the_commands(capsys, tmp_path):
    state = ["--state-dir", str(tmp_path / "state")]
    code, _, err = main(capsys, "link", "infer", "--port", "loop://", *state)
    assert (code, one_line(err)) == (2, "radrt link infer: give the model's inputs with --input FILE.npy "
                                        "(in input order)")
    code, _, err = main(capsys, "link", "infer", "--port", "loop://", "--input", tmp_path / "no.npy", *state)
    assert code == 2 and one_line(err).startswith(f"radrt link infer: --input '{tmp_path / 'no.npy'}': cannot read")
    key = tmp_path / "key"
    key.write_bytes(b"")
    os.chmod(key, 0o600)
    code, _, err = main(capsys, "link", "ping", "--port", "loop://", "--key-file", key, *state)
    assert (code, one_line(err)) == (2, f"radrt link ping: --key-file: key file '{key}' is empty")
    code, _, err = main(capsys, "serve", "--port", "loop://", "--key-file", key, "--slots", tmp_path / "slots")
    assert (code, one_line(err)) == (2, f"radrt serve: --key-file: key file '{key}' is empty")
    code, _, err = main(capsys, "link", "ping", "--port", "loop://", "--timeout", "0.05", "--retries", "0", *state)
    assert code == 1 and one_line(err).startswith("radrt link ping: ")


def test_every_error_class_has_a_documented_exit_code():
    doc = cli.__doc__
    for code in ("0", "1", "2", "3", "4", "5", "70", "130"):
        assert f"\n    {code} " in doc, code
    assert runtime.errors.InvalidArgumentError.exit_code == 2


def test_interrupt_is_one_line_with_exit_130(monkeypatch, capsys, model):
    def stop(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_run", stop)
    code, _, err = main(capsys, "run", model)
    assert (code, one_line(err)) == (130, "radrt run: interrupted")


def test_bench_vs_ort_without_onnxruntime_names_the_install(monkeypatch, capsys, model):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as on a board
    code, _, err = main(capsys, "bench", model, "--vs-ort", "--repeat", "1")
    assert code == 2
    assert one_line(err).startswith("radrt bench: --vs-ort needs onnxruntime: pip install 'radrt[reference]'")


def test_a_device_or_fifo_given_as_a_model_path_is_refused_by_every_command(capsys, tmp_path):
    """Red team row 15's siblings: bench and fi run read the model through runtime.zoo."""
    import os
    fifo = tmp_path / "m.fifo"
    os.mkfifo(fifo)
    for argv in (["run", fifo], ["bench", fifo], ["fi", "run", fifo, "--faults", "3", "--db", tmp_path / "c.db"]):
        code, _, err = main(capsys, *argv)
        assert code == 3 and one_line(err).endswith(f"'{fifo}': is a FIFO, expected a regular file holding a "
                                                    f"serialized ONNX ModelProto"), err
    if Path("/dev/zero").exists():
        code, _, err = main(capsys, "bench", "/dev/zero")
        assert (code, one_line(err)) == (3, "radrt bench: model '/dev/zero': is a character device, expected a "
                                            "regular file holding a serialized ONNX ModelProto")


def test_inspect_columns_stay_aligned_with_contrib_op_names(capsys, tmp_path):
    """A contrib op ("com.microsoft::QLinearSoftmax", wider than the default op column)
    beside a default-domain one: every step row starts its node, shape and MFLOP columns
    where the header does."""
    from onnx import numpy_helper
    consts = [numpy_helper.from_array(a, n) for n, a in [
        ("sx", np.array(0.1, np.float32)), ("zx", np.array(0, np.uint8)),
        ("sy", np.array(1 / 256, np.float32)), ("zy", np.array(0, np.uint8))]]
    nodes = [helper.make_node("QLinearSoftmax", ["x", "sx", "zx", "sy", "zy"], ["p"], name="softmax_node",
                              domain="com.microsoft", opset=13),
             helper.make_node("Reshape", ["p", "shape"], ["y"], name="reshape_node")]
    consts.append(numpy_helper.from_array(np.array([2, 5, 1], np.int64), "shape"))
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 5, 1])], consts)
    m = helper.make_model(g, ir_version=8, opset_imports=[helper.make_opsetid("", 13),
                                                          helper.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "contrib.onnx"
    path.write_bytes(m.SerializeToString())
    code, out, _ = main(capsys, "inspect", path)
    assert code == 0
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    header, rows = lines[head], []
    for line in lines[head + 1:]:
        if not line.strip():
            break
        rows.append(line)
    assert any("com.microsoft::QLinearSoftmax" in r for r in rows), out
    columns = [header.index(c) for c in ("node", "output shape")]
    for r in rows:
        fields = r.split()
        # the node name and the first shape token start exactly under their headers
        assert r.index(fields[2]) == columns[0] and r.index(fields[3], columns[0]) == columns[1], (header, r)
        assert len(r) == len(header), (header, r)

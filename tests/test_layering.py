"""Flight code stays flight code (issue 13 item 9): `runtime/` never imports the ground
tools (`fault_injection`, `tests`, `benchmarks`), and the ground commands reach `radrt`
only through the entry point group `radrt.commands`.

1. Every module under runtime/ is parsed (ast): no import statement, and no
   importlib.import_module / __import__ call with a literal name, may name a ground package.
2. Fresh interpreters import the flight modules and parse flight commands, and run
   `radrt run`: no fault_injection module may be in sys.modules afterwards.
3. Registration as a user sees it: `radrt --help` lists `fi`, `demo` and `soak`; plugins that are
   broken, silent or registered twice (fake distributions on PYTHONPATH) fail their own
   command in one line naming the plugin, and leave the flight commands untouched.
"""
import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import List

import pytest

from .helpers import relu_chain

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "runtime"
GROUND_PACKAGES = ("fault_injection", "tests", "benchmarks")


def ground_imports(source: str, filename: str) -> List[str]:
    """`file:line name` of each import of a ground package in `source`."""
    found = []

    def check(name, node):
        if name and name.split(".")[0] in GROUND_PACKAGES:
            found.append(f"{filename}:{node.lineno} {name}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check(alias.name, node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            check(node.module, node)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                check(node.args[0].value, node)
    return found


def test_the_scanner_finds_each_way_of_importing_a_ground_module():
    source = textwrap.dedent("""
        import os
        import fault_injection.cli
        from fault_injection import campaign
        from tests.helpers import relu_chain
        from .fault_injection import nothing_ground
        import importlib
        importlib.import_module("fault_injection.demo")
        __import__("benchmarks.record")
        """)
    assert ground_imports(source, "x.py") == ["x.py:3 fault_injection.cli", "x.py:4 fault_injection",
                                              "x.py:5 tests.helpers", "x.py:8 fault_injection.demo",
                                              "x.py:9 benchmarks.record"]


def test_no_flight_module_imports_a_ground_one():
    modules = sorted(RUNTIME.rglob("*.py"))
    assert len(modules) > 40 and RUNTIME / "link" / "server.py" in modules
    found = [hit for path in modules
             for hit in ground_imports(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert found == [], "flight code imports ground code:\n" + "\n".join(found)


def python(code: str, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


GROUND_LOADED = "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'fault_injection')))"


def test_flight_modules_and_flight_commands_load_no_ground_module(tmp_path):
    model = tmp_path / "relu.onnx"
    model.write_bytes(relu_chain())
    code = textwrap.dedent(f"""
        import json, sys
        import runtime, runtime.cli, runtime.link.server, runtime.link.cli
        from runtime.cli import build_parser, main
        for argv in (["inspect", "m.onnx"], ["run", "m.onnx"], ["serve", "--port", "loop://"],
                     ["link", "ping", "--port", "loop://"], ["bench", "squeezenet"]):
            build_parser(argv).parse_args(argv)
        assert main(["run", {str(model)!r}]) == 0
        {GROUND_LOADED}
        """)
    p = python(code)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == []
    # The same check sees a ground command load its package (so it can fail).
    p = python("import json, sys\nfrom runtime.cli import build_parser\n"
               "build_parser(['fi', 'run']).parse_args(['fi', 'report', 'x.db', '--out', 'r'])\n" + GROUND_LOADED)
    assert p.returncode == 0, p.stderr
    assert "fault_injection.cli" in json.loads(p.stdout.splitlines()[-1])


def radrt(*argv, env=None):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True, text=True,
                       timeout=300, env=env)
    return p.returncode, p.stdout, p.stderr


def test_the_ground_commands_are_registered_through_the_entry_point():
    from runtime.cli import command_plugins
    assert command_plugins() == {"demo": ["fault_injection.demo:add_commands"],
                                 "fi": ["fault_injection.cli:add_commands"],
                                 "soak": ["fault_injection.soak:add_commands"]}
    code, out, err = radrt("--help")
    assert code == 0 and err == ""
    assert "{inspect,run,randomize-weights,bench,serve,link,demo,fi,soak}" in out
    code, out, _ = radrt("fi", "--help")
    assert code == 0 and "{run,replay,report,estimate,serve}" in out
    code, out, _ = radrt("demo", "--help")
    assert code == 0 and "--model" in out
    code, out, _ = radrt("soak", "--help")
    assert code == 0 and "--accelerate" in out


PLUGIN_MODULE = '''
def add_nothing(sub):
    pass


def add_fi(sub):
    sub.add_parser("fi")
'''


def fake_distribution(root: Path, name: str, entry_points: str) -> None:
    """An installed distribution as importlib.metadata sees one: NAME-1.0.dist-info."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[radrt.commands]\n" + entry_points)


@pytest.fixture
def broken_plugins(tmp_path):
    """Two more distributions registering radrt commands badly."""
    (tmp_path / "radrt_test_plugin.py").write_text(PLUGIN_MODULE)
    fake_distribution(tmp_path, "radrt_broken", "broken = radrt_no_such_module:add_commands\n"
                                                "silent = radrt_test_plugin:add_nothing\n")
    fake_distribution(tmp_path, "radrt_second_fi", "fi = radrt_test_plugin:add_fi\n"
                                                   "serve = radrt_test_plugin:add_fi\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path))


GROUP = "entry point group radrt.commands"


def test_a_broken_plugin_fails_its_own_command_in_one_line_naming_itself(broken_plugins):
    code, out, err = radrt("broken", "--any", "words", "-h", env=broken_plugins)
    assert (code, out) == (70, "")
    assert err == (f"radrt broken: command plugin 'broken' (radrt_no_such_module:add_commands, {GROUP}) "
                   f"cannot be loaded: ModuleNotFoundError: No module named 'radrt_no_such_module'\n")
    code, _, err = radrt("silent", env=broken_plugins)
    assert (code, err) == (70, f"radrt silent: command plugin 'silent' (radrt_test_plugin:add_nothing, {GROUP}) "
                               f"did not add the command 'silent'; expected add_commands to add it\n")
    code, _, err = radrt("fi", "report", "x.db", "--out", "r", env=broken_plugins)
    assert code == 70 and err.startswith("radrt fi: command plugin 'fi' (")
    assert "registered 2 times; expected one registration per command" in err and len(err.splitlines()) == 1
    assert "fault_injection.cli:add_commands" in err and "radrt_test_plugin:add_fi" in err


def test_help_lists_a_broken_plugin_as_unavailable_and_flight_commands_ignore_it(broken_plugins, tmp_path):
    code, out, err = radrt("--help", env=broken_plugins)
    assert code == 0 and err == (f"radrt: command plugin 'serve' (radrt_test_plugin:add_fi, {GROUP}) ignored: "
                                 f"'serve' is a command of radrt itself\n")
    assert "demo" in out and "unavailable: command plugin 'broken'" in " ".join(out.split())
    assert "serve inference over the payload link" in " ".join(out.split())
    model = tmp_path / "relu.onnx"
    model.write_bytes(relu_chain())
    code, out, err = radrt("run", model, env=broken_plugins)
    assert (code, err) == (0, "") and "latency" in out
    code, _, err = radrt("--debug", "broken", env=broken_plugins)
    assert code == 70 and "Traceback" in err and "ModuleNotFoundError" in err

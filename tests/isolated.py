"""Run a snippet of Python in a child process, optionally under an address-space cap.

A crash (a signal) or an OOM kill then shows as a failed test, not a dead pytest.
The snippet prints one line `RESULT <text>`; `run_isolated` returns that text, or
fails the calling test with the child's exit status and stderr.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / ".." / "shared" / "cases" / "trust" / "models"
GIB = 1 << 30

_PRELUDE = """
import resource, sys
limit = {limit}
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
def report(fn):
    try:
        out = fn()
    except Exception as e:  # the class name is the result
        print("RESULT", type(e).__name__, "|", str(e).replace("\\n", " "))
    else:
        print("RESULT ok", "|", out)
"""


def run_isolated(code: str, address_space_bytes: int = 0, cwd=None, timeout: float = 300) -> str:
    """`code` may call report(fn): the result is 'ClassName | message' or 'ok | value'."""
    script = _PRELUDE.format(limit=int(address_space_bytes)) + textwrap.dedent(code)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"child exited with status {proc.returncode} (negative: killed by signal)\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-4000:]}")
    return lines[-1][len("RESULT "):]

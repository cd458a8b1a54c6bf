"""`radrt` through a fresh interpreter, as a user runs it (shared by the CLI-chain tests)."""
import re
import subprocess
import sys

PROGRESS = re.compile(r"radrt fi run: \d+ of \d+ injections recorded \(\d+%\)")


def radrt(*argv, cwd):
    """(exit code, stdout, stderr without `fi run`'s progress lines)."""
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    return p.returncode, p.stdout, "".join(ln for ln in p.stderr.splitlines(keepends=True)
                                           if not PROGRESS.fullmatch(ln.strip()))

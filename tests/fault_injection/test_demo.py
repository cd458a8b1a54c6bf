"""`radrt demo` end to end, as `make demo` runs it: every scene, exit 0, the cloud-mask
PNGs written (or the scene skipped with its note when ukis-csmask is absent), radrt
agreeing with onnxruntime, the protected modes correcting, the link scene all right."""
import re
import subprocess
import sys

from runtime.errors import ModelLoadError
from runtime.zoo import ukis_model_path


def test_radrt_demo_runs_every_scene(tmp_path):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", "demo", "--out", str(tmp_path / "pics")],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = p.stdout
    try:
        ukis_model_path(6, "l2a")
    except ModelLoadError:
        assert "cloud-mask scene skipped" in out
    else:
        assert "radrt tmr vs onnxruntime: same class on" in out and ": OK" in out
        assert "tmr: bit-identical" in out
        for name in ("tile_false_colour.png", "tile_truth.png", "mask_tmr.png", "mask_storm_none.png"):
            assert (tmp_path / "pics" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "top-1 agrees: OK" in out
    assert "a campaign:" in out
    assert re.search(r"results right\s+100 of 100", out) or "payload link scene skipped" in out

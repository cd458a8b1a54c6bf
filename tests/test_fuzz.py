"""Structure fuzzer (issue 9, Proof): the harness itself, then a fixed range of models.

The harness tests prove that the driver sees what it must report (a child killed
by a signal, a hang, an allocation above the budget, a MemoryError under the
address-space cap) and that the generator is deterministic per seed and builds
valid models before it mutates them. `test_fuzz_models` runs FUZZ_TEST_MODELS
models (`make fuzz` runs 100,000) and must find nothing.
"""
import json
import random
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from tests.fuzz.generator import build, generate

REPO = Path(__file__).resolve().parents[1]
FUZZ_TEST_MODELS = 3000


def run_driver(out: Path, *args: str, timeout: float = 600):
    """Runs the driver CLI in a subprocess; returns (exit code, summary dict, stdout)."""
    proc = subprocess.run([sys.executable, "-m", "tests.fuzz.driver", "--out", str(out), "--quiet",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    summary = json.loads((out / "summary.json").read_text())
    return proc.returncode, summary, proc.stdout + proc.stderr


def test_generator_is_deterministic_per_seed():
    for seed in range(60):
        assert generate(seed) == generate(seed)
    assert len({generate(seed)[0] for seed in range(60)}) == 60


def test_generator_base_models_are_valid_onnx():
    # Before mutation every model passes onnx's full check, so each mutation is what
    # makes a model invalid (or extreme), not an accident of the builders.
    for seed in range(300):
        model, _ = build(random.Random(seed))
        onnx.checker.check_model(model, full_check=True)


def test_generator_mutates_most_models():
    mutated = sum(bool(generate(seed)[1]["mutations"]) for seed in range(300))
    assert mutated > 0.8 * 300


def test_driver_reports_crash_hang_and_unbudgeted_allocation(tmp_path):
    code, s, out = run_driver(tmp_path / "a", "--models", "8", "--seed", "0", "--workers", "2",
                              "--timeout", "3", "--budget-mb", "64", "--slack-mb", "32",
                              "--inject-crash", "1", "--inject-hang", "3", "--inject-alloc", "5")
    assert code == 1, out
    assert s["models"] == 8
    by_seed = {}
    for f in (tmp_path / "a" / "log").glob("*.jsonl"):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            by_seed[r["seed"]] = r
    assert sorted(by_seed) == list(range(8))
    assert by_seed[1]["outcome"] == "crash" and by_seed[1]["exc_type"] == "SIGABRT"
    assert by_seed[3]["outcome"] == "hang"
    assert by_seed[5]["outcome"] == "over_budget" and by_seed[5]["over_stage"] == "load"
    crash = [sig for sig in s["findings"] if sig.startswith("crash:SIGABRT")]
    assert len(crash) == 1 and s["findings"][crash[0]]["seeds"] == [1]
    assert (Path(s["findings"][crash[0]]["repro"]) / "model.onnx").stat().st_size > 0


def test_driver_reports_memory_error_under_the_address_space_cap(tmp_path):
    code, s, out = run_driver(tmp_path, "--seeds", "5", "--budget-mb", "64", "--slack-mb", "32",
                              "--mem-cap-mb", "128", "--inject-alloc", "5")
    assert code == 1, out
    assert s["by_outcome"] == {"memory_error": 1}


def test_driver_passes_valid_models(tmp_path):
    seeds = [seed for seed in range(40) if not generate(seed)[1]["mutations"]][:4]
    assert len(seeds) == 4
    code, s, out = run_driver(tmp_path, "--seeds", ",".join(map(str, seeds)))
    assert s["by_outcome"] == {"ok": 4} and code == 0, out


def test_fuzz_models(tmp_path):
    code, s, out = run_driver(tmp_path, "--models", str(FUZZ_TEST_MODELS), "--seed", "0",
                              "--workers", "2", "--timeout", "10", timeout=1800)
    assert s["models"] == FUZZ_TEST_MODELS
    assert s["findings_total"] == 0 and code == 0, (tmp_path / "summary.txt").read_text()[:4000]

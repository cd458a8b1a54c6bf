"""`radrt soak` (fault_injection/soak.py) and the Poisson statistics it prints (stats.py).

Through the real command (fresh interpreters running runtime.cli): the bookkeeping of a
short accelerated soak checked against its --log and against figures computed here
from the orbit table and the session's fault sites; the schedule reproduced by --seed;
the chain `fi run` -> `soak --campaign`; the one-line errors. In process: the recovery
after a due and a crash, and a fully deterministic soak (protection none, no scrubber
thread, a fake clock). Soaks last about a second of wall clock each.
"""
import itertools
import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fault_injection import soak as soak_module
from fault_injection.models import digits_model_path
from fault_injection.orbits import TABLE
from fault_injection.stats import poisson_cdf, poisson_interval, poisson_range
from fault_injection.vocabulary import OUTCOMES
from runtime import InferenceSession
from runtime.errors import UncorrectableUpsetError

from ..helpers import relu_chain

LEO = json.loads(Path(TABLE).read_text())["presets"]["leo-alsat1"]["upsets_per_bit_per_day"]
HELD_OUT = 450  # images in fault_injection/models/digits_heldout.npz


def radrt(*argv, cwd):
    p = subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, argv)], capture_output=True,
                       text=True, cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def radrt_here(capsys, *argv):
    """`radrt ARGV` through runtime.cli.main in this process (fast, for the error paths)."""
    from runtime.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def soak(cwd, *argv):
    code, out, err = radrt("soak", *argv, cwd=cwd)
    assert (code, err) == (0, ""), err
    return out


def read_log(path):
    events = [json.loads(line) for line in Path(path).read_text().splitlines()]
    return {kind: [e for e in events if e["event"] == kind] for kind in ("upset", "inference", "reload")}


def naive_poisson_cdf(k, mean):
    return sum(math.exp(-mean) * mean ** i / math.factorial(i) for i in range(k + 1))


def naive_poisson_range(mean, alpha=0.05):
    """The central range by direct summation of the pmf (small means only)."""
    low = next(n for n in itertools.count() if naive_poisson_cdf(n, mean) > alpha / 2)
    high = next(n for n in itertools.count() if naive_poisson_cdf(n, mean) >= 1 - alpha / 2)
    return low, high


def weight_bits(protect):
    sess = InferenceSession(str(digits_model_path()), protection=protect, scrub_interval_s=None)
    return sum(8 * s.nbytes for s in sess.fault_sites() if s.kind == "weights")


# -- statistics -------------------------------------------------------------------------

def test_garwood_interval_closed_forms_and_table_values():
    # k = 0: high = -ln(0.025); k = 1: low = -ln(0.975) (exact, from the Poisson tails).
    assert poisson_interval(0) == (0.0, pytest.approx(-math.log(0.025), rel=1e-10))
    assert poisson_interval(1)[0] == pytest.approx(-math.log(0.975), rel=1e-10)
    # chi2.ppf(0.025, 20) / 2 and chi2.ppf(0.975, 22) / 2 (published chi-square quantiles
    # 9.590777 and 36.780712), and k = 100 (81.36399, 121.62679; Ulm 1990 tables).
    assert poisson_interval(10) == (pytest.approx(9.590777 / 2, rel=1e-6), pytest.approx(36.780712 / 2, rel=1e-6))
    assert poisson_interval(100) == (pytest.approx(81.36399, rel=1e-6), pytest.approx(121.62679, rel=1e-6))
    # Its defining tail equations, by direct summation.
    for k in (2, 7, 25):
        low, high = poisson_interval(k, 0.9)
        assert 1 - naive_poisson_cdf(k - 1, low) == pytest.approx(0.05, rel=1e-9)
        assert naive_poisson_cdf(k, high) == pytest.approx(0.05, rel=1e-9)


def test_poisson_range_and_cdf_match_direct_summation():
    for mean in (0.0, 0.02, 1.0, 3.7, 10.0, 42.5):
        assert poisson_range(mean) == naive_poisson_range(mean), mean
        assert poisson_cdf(3, mean) == pytest.approx(naive_poisson_cdf(3, mean), rel=1e-12, abs=1e-300)


# -- one soak through the command line, read by several tests ------------------------------

TMR_WEIGHTS = ("--orbit", "leo-alsat1", "--protect", "tmr", "--sites", "weights", "--accelerate", "1.5e7",
               "--hours", "0.0002")


@pytest.fixture(scope="module")
def tmr_soak(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("soak")
    out = soak(tmp, "digits", *TMR_WEIGHTS, "--seed", "3", "--json", "--log", tmp / "a.jsonl")
    return tmp, json.loads(out), read_log(tmp / "a.jsonl")


def test_exposure_and_expected_upsets_from_the_orbit_table(tmr_soak):
    _, s, _ = tmr_soak
    bits = weight_bits("tmr")
    mission_days = 0.0002 * 1.5e7 / 24
    assert s["exposed_bits"] == {"weights": bits}
    assert (s["mission_hours"], s["mission_years"]) == (pytest.approx(3000.0), pytest.approx(mission_days / 365.25))
    assert s["expected_upsets"] == pytest.approx(LEO * bits * mission_days, rel=1e-12)
    # The documented first draw of the schedule: the count, Poisson(expected), from the seed.
    assert s["upsets"]["total"] == np.random.default_rng(3).poisson(s["expected_upsets"]) > 0
    assert s["scrub_interval_s"] == 0.1 and s["mission_scrub_interval_s"] == pytest.approx(1.5e6)


def test_every_upset_and_inference_counted_once(tmr_soak):
    _, s, log = tmr_soak
    assert s["upsets"] == {"total": len(log["upset"]), "weights": len(log["upset"])}
    assert all(u["site"].startswith("weights/copy") and u["at_op"] is None for u in log["upset"])
    times = [u["t_s"] for u in log["upset"]]
    assert times == sorted(times) and times[-1] < 0.0002 * 3600
    inferences = log["inference"]
    assert [e["index"] for e in inferences] == list(range(s["inferences"]))
    assert [e["input"] for e in inferences] == [i % HELD_OUT for i in range(s["inferences"])]
    assert sum(s["outcomes"].values()) == s["inferences"] and s["inputs"] == HELD_OUT
    assert s["outcomes"] == {o: sum(e["outcome"] == o for e in inferences) for o in OUTCOMES}
    # First reads: the inferences right after upsets landed; each upset lands before exactly one.
    assert sum(e["upsets"] for e in inferences) == s["upsets"]["total"]
    assert s["first_reads"] == {o: sum(e["outcome"] == o and e["upsets"] > 0 for e in inferences) for o in OUTCOMES}
    assert 0 < sum(s["first_reads"].values()) <= s["upsets"]["total"]
    assert s["recoveries"] == len(log["reload"]) == s["outcomes"]["due"] + s["outcomes"]["crash"]
    # Every upset landed before an inference that ran (the soak ends with none pending).
    assert max(u["inference"] for u in log["upset"]) < s["inferences"]


def test_tmr_with_scrubbing_never_lets_a_single_copy_weight_upset_through(tmr_soak):
    _, s, log = tmr_soak
    # The guarantee needs no bit upset in two copies at once: check the schedule has none.
    copies_per_bit = {}
    for u in log["upset"]:
        copies_per_bit.setdefault((u["byte_offset"], u["bit"]), set()).add(u["site"])
    assert all(len(c) == 1 for c in copies_per_bit.values())
    assert {o: s["outcomes"][o] for o in ("tolerable", "sdc", "critical_sdc", "due", "crash")} == dict.fromkeys(
        ("tolerable", "sdc", "critical_sdc", "due", "crash"), 0)
    assert s["health"]["uncorrectable"] == 0


def test_rates_per_mission_year_and_the_upset_count_check(tmr_soak):
    _, s, _ = tmr_soak
    years = s["mission_years"]
    n = s["upsets"]["total"]
    low, high = poisson_interval(n)
    assert s["per_mission_year"]["upsets"] == {"count": n, "per_year": pytest.approx(n / years),
                                               "low": pytest.approx(low / years), "high": pytest.approx(high / years)}
    assert s["per_mission_year"]["sdc"]["count"] == 0
    (item,) = s["check"]["items"]
    expected_range = naive_poisson_range(s["expected_upsets"])
    assert (item["what"], item["observed"], (item["low"], item["high"])) == ("upsets", n, expected_range)
    assert s["check"]["verdict"] == ("confirmed" if expected_range[0] <= n <= expected_range[1] else "refuted")


def test_the_seed_reproduces_the_schedule(tmr_soak):
    tmp, s, log = tmr_soak
    again = json.loads(soak(tmp, "digits", *TMR_WEIGHTS, "--seed", "3", "--json", "--log", tmp / "b.jsonl"))
    other = json.loads(soak(tmp, "digits", *TMR_WEIGHTS, "--seed", "4", "--json"))
    assert (again["schedule_sha256"], again["upsets"]) == (s["schedule_sha256"], s["upsets"])
    # Which inference an upset precedes depends on the machine's speed; nothing else does.
    strip = [{k: v for k, v in u.items() if k != "inference"} for u in log["upset"]]
    assert [{k: v for k, v in u.items() if k != "inference"} for u in read_log(tmp / "b.jsonl")["upset"]] == strip
    assert other["schedule_sha256"] != s["schedule_sha256"]


def test_text_summary_names_wall_and_mission_time(tmp_path):
    out = soak(tmp_path, "digits", "--orbit", "leo-alsat1", "--accelerate", "1e6", "--hours", "0.0001",
               "--protect", "scrub")
    assert "soak duration (wall clock): 0.0001 h; mission time covered: 100 h = 0.01141 mission-years" in out
    assert "background scrubber: every 0.1 s wall = 1e+05 s of mission time" in out
    assert "estimate of the orbit rate x exposed bits x mission time: " in out


# -- fi run -> soak --campaign ------------------------------------------------------------

@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("campaign")
    code, out, err = radrt("fi", "run", "digits", "--sites", "weights,activations,input", "--protect", "tmr",
                           "--faults", "120", "--seed", "1", "--db", tmp / "c.db", "--json", cwd=tmp)
    assert code == 0, err
    return tmp, tmp / "c.db"


def test_campaign_estimate_confirmed_or_refuted_with_its_numbers(campaign):
    tmp, db = campaign
    s = json.loads(soak(tmp, "digits", "--orbit", "leo-alsat1", "--protect", "tmr", "--accelerate", "1e7",
                        "--hours", "0.0002", "--campaign", db, "--json"))
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT kind, outcome, COUNT(*) FROM injection GROUP BY kind, outcome").fetchall()
    per_kind = {}
    for kind, outcome, n in rows:
        per_kind.setdefault(kind, {})[outcome] = n
    expected = dict.fromkeys(OUTCOMES, 0.0)
    for kind, counts in per_kind.items():
        for outcome, n in counts.items():
            expected[outcome] += n / sum(counts.values()) * s["upsets"][kind]
    check = s["check"]
    assert check["against"] == "campaign" and check["campaign"] == str(db)
    assert check["expected_outcomes"] == pytest.approx(expected)
    uncovered = sum(s["upsets"][k] for k in ("weights", "activations", "input") if k not in per_kind)
    for item in check["items"]:
        names = ("sdc", "critical_sdc") if item["what"] == "sdc" else (item["what"],)
        mean = sum(expected[o] for o in names)
        observed = sum(s["first_reads"][o] for o in names)
        low, high = naive_poisson_range(mean)[0], naive_poisson_range(mean + uncovered)[1]
        assert (item["observed"], item["expected"], item["low"], item["high"]) == (
            observed, pytest.approx(mean), low, high)
        assert item["within"] == (low <= observed <= high)
    assert [i["what"] for i in check["items"]] == ["sdc", "due"]
    assert check["verdict"] == ("confirmed" if all(i["within"] for i in check["items"]) else "refuted")


# -- errors: one line naming the option and the value ---------------------------------------

BASE = ("--orbit", "leo-alsat1", "--accelerate", "1e6", "--hours", "0.0001")


@pytest.mark.parametrize("argv, words", [
    (("--orbit", "mars-polar", "--accelerate", "1", "--hours", "1"), ["--orbit", "'mars-polar'", "leo-alsat1"]),
    (("--orbit", "leo-alsat1", "--accelerate", "0", "--hours", "1"), ["--accelerate", "'0'", "(0, inf]"]),
    (("--orbit", "leo-alsat1", "--accelerate", "-2", "--hours", "1"), ["--accelerate", "'-2'"]),
    (("--orbit", "leo-alsat1", "--accelerate", "1", "--hours", "0"), ["--hours", "'0'", "(0, 8760]"]),
    (("--orbit", "leo-alsat1", "--accelerate", "1", "--hours", "-1"), ["--hours", "'-1'"]),
    (BASE + ("--sites", "weights,compute"), ["--sites", "'compute'"]),
    (BASE + ("--scrub-interval", "1"), ["--scrub-interval", "'none'"]),
    (BASE + ("--campaign", "missing.db"), ["--campaign", "missing.db", "does not exist"]),
    (("--orbit", "leo-alsat1", "--accelerate", "1e12", "--hours", "1"), ["--accelerate 1e+12", "upsets"]),
])
def test_bad_options_fail_in_one_line(capsys, argv, words):
    code, out, err = radrt_here(capsys, "soak", "digits", *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("radrt soak: ") or err.startswith("radrt soak: error: "), err
    for word in words:
        assert word in err, (word, err)


def test_campaign_of_another_protection_or_model_is_refused(campaign, capsys, monkeypatch):
    tmp, db = campaign
    monkeypatch.chdir(tmp)
    code, _, err = radrt_here(capsys, "soak", "digits", *BASE, "--protect", "dwc", "--campaign", db)
    assert code == 2 and err == f"radrt soak: --campaign '{db}' ran protection 'tmr'; this soak runs --protect dwc\n"
    (tmp / "relu.onnx").write_bytes(relu_chain())
    code, _, err = radrt("fi", "run", "relu.onnx", "--sites", "activations", "--protect", "tmr", "--faults", "4",
                         "--db", "relu.db", cwd=tmp)
    assert code == 0, err
    code, _, err = radrt_here(capsys, "soak", "digits", *BASE, "--protect", "tmr", "--campaign", "relu.db")
    assert code == 2 and err.startswith("radrt soak: --campaign 'relu.db' is a campaign of model 'relu.onnx'")
    assert len(err.splitlines()) == 1


def test_a_model_without_held_out_set_soaks_on_seeded_random_inputs(tmp_path):
    (tmp_path / "relu.onnx").write_bytes(relu_chain())
    s = json.loads(soak(tmp_path, "relu.onnx", "--orbit", "leo-alsat1", "--protect", "tmr", "--sites",
                        "activations,input", "--accelerate", "1e12", "--hours", "0.0001", "--json"))
    assert s["inputs"] == soak_module.RANDOM_INPUTS and s["upsets"]["total"] > 0
    assert s["upsets"]["total"] == s["upsets"]["activations"] + s["upsets"]["input"]


# -- in process: recovery, and a soak with nothing left to chance ----------------------------

def fake_clock(step_s=0.001):
    """A clock that advances `step_s` per reading: the soak then runs a fixed schedule."""
    ticks = itertools.count()
    return lambda: next(ticks) * step_s


def fake_clock_inferences(hours, step_s=0.001):
    """Inferences of a soak on fake_clock without upsets: one per reading before the end
    (the first reading is the start)."""
    return next(i for i in itertools.count(1) if i * step_s >= hours * 3600) - 1


def test_due_and_crash_reload_the_model_and_the_soak_goes_on(tmp_path, monkeypatch):
    made, calls = [], itertools.count()
    real_init, real_run = InferenceSession.__init__, InferenceSession.run

    def init(self, *args, **kwargs):
        made.append(kwargs.get("protection"))
        real_init(self, *args, **kwargs)

    def run(self, *args, **kwargs):
        n = next(calls)  # the first 2 x 450 runs are the golden runs
        if n == 2 * HELD_OUT + 5:
            raise UncorrectableUpsetError("test: weight block 3 lost")
        if n == 2 * HELD_OUT + 9:
            raise RuntimeError("test: kernel failure")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(InferenceSession, "__init__", init)
    monkeypatch.setattr(InferenceSession, "run", run)
    s = soak_module.run_soak("digits", "leo-alsat1", 1.0, 0.00005, "scrub", log=str(tmp_path / "l.jsonl"),
                             clock=fake_clock())
    log = read_log(tmp_path / "l.jsonl")
    assert s["upsets"]["total"] == 0 and s["inferences"] == fake_clock_inferences(0.00005)
    assert (s["outcomes"]["due"], s["outcomes"]["crash"], s["recoveries"]) == (1, 1, 2)
    assert s["outcomes"]["masked"] == s["inferences"] - 2
    assert made == ["scrub"] * 3
    assert [(r["after_inference"], r["reason"]) for r in log["reload"]] == [(5, "due"), (9, "crash")]
    # Inputs go on in order after a reload.
    assert [e["input"] for e in log["inference"][4:11]] == [4, 5, 6, 7, 8, 9, 10]


def test_soak_without_scrubber_and_a_fake_clock_is_deterministic():
    def once():
        s = soak_module.run_soak("digits", "leo-alsat1", 3e6, 0.0001, "none", seed=5,
                                 sites=("weights", "activations"), clock=fake_clock())
        s.pop("wall_seconds")
        return s
    first = once()
    # Upsets landing at the end add one inference after the arrival window.
    assert first["upsets"]["total"] > 0
    assert first["inferences"] in (fake_clock_inferences(0.0001), fake_clock_inferences(0.0001) + 1)
    assert once() == first


def test_inputs_file_gives_the_samples_and_a_bad_one_is_named(tmp_path, capsys):
    from fault_injection.models import load_heldout
    images = load_heldout()[0][:3]
    np.savez(tmp_path / "three.npz", input=images)
    s = soak_module.run_soak("digits", "leo-alsat1", 1.0, 0.00002, "none", inputs=str(tmp_path / "three.npz"),
                             log=str(tmp_path / "l.jsonl"), clock=fake_clock())
    assert s["inputs"] == 3 and s["outcomes"]["masked"] == s["inferences"] == fake_clock_inferences(0.00002)
    assert [e["input"] for e in read_log(tmp_path / "l.jsonl")["inference"]][:5] == [0, 1, 2, 0, 1]
    np.savez(tmp_path / "named.npz", x=images)
    np.savez(tmp_path / "shaped.npz", input=images.reshape(3, 1, 4, 16))
    np.save(tmp_path / "bare.npy", images)
    for name, words in (("named.npz", f"{tmp_path / 'named.npz'}: no array for model input 'input' "
                                      f"(model inputs: input)"),
                        ("bare.npy", f"--inputs {tmp_path / 'bare.npy'}: expected a folder of .npz files or "
                                     f"one .npz file"),
                        ("shaped.npz", f"{tmp_path / 'shaped.npz'}: array 'input' has shape (3, 1, 4, 16), "
                                       f"expected (?, 1, 8, 8)")):
        code, _, err = radrt_here(capsys, "soak", "digits", *BASE, "--inputs", tmp_path / name)
        assert code == 2 and err == f"radrt soak: {words}\n"


def test_bit_draw_maps_each_bit_index_to_exactly_one_bit():
    from types import SimpleNamespace as Site

    from fault_injection.upsets import BitDraw, Upset

    class Scripted:  # a Generator whose integers() returns the script, checking its bounds
        def __init__(self, script):
            self.script = list(script)

        def integers(self, low, high=None):
            value, (lo, hi) = self.script.pop(0), ((0, low) if high is None else (low, high))
            assert lo <= value < hi
            return value

    sites = [Site(name="weights/copy0", kind="weights", nbytes=1),
             Site(name="activations/r0", kind="activations", nbytes=2),
             Site(name="input/r0", kind="input", nbytes=1)]
    draw = BitDraw(sites, n_ops=5)
    assert draw.bits == 32
    assert draw.draw(Scripted([7])) == Upset("weights", "weights/copy0", 0, 7, None)
    assert draw.draw(Scripted([8, 4])) == Upset("activations", "activations/r0", 0, 0, 4)
    assert draw.draw(Scripted([23, 0])) == Upset("activations", "activations/r0", 1, 7, 0)
    assert draw.draw(Scripted([24, -1])) == Upset("input", "input/r0", 0, 0, -1)
    landed = {(u.site, u.byte_offset, u.bit) for u in (draw.draw(Scripted([i, 0])) for i in range(32))}
    assert len(landed) == 32


def test_ctrl_c_ends_the_soak_with_the_summary_of_the_part_that_ran(tmp_path):
    import signal
    import time
    log = tmp_path / "l.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "runtime.cli", "soak", "digits", "--orbit", "leo-alsat1",
                          "--accelerate", "1e6", "--hours", "1", "--protect", "tmr", "--json", "--log", log],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    while not (log.exists() and log.stat().st_size > 0) and p.poll() is None:
        time.sleep(0.05)  # wait for the soak loop (not a timing assertion)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    s = json.loads(out)
    assert p.returncode == 130 and err.startswith("radrt soak: interrupted after ") and s["interrupted"]
    assert 0 < s["covered_hours"] < 1 and s["mission_hours"] == pytest.approx(s["covered_hours"] * 1e6)
    bits = sum(s["exposed_bits"].values())
    assert s["expected_upsets"] == pytest.approx(LEO * bits * s["mission_hours"] / 24, rel=1e-9)
    events = read_log(log)
    assert s["inferences"] == sum(s["outcomes"].values()) == len(events["inference"])
    assert s["upsets"]["total"] == len(events["upset"])


def test_ctrl_c_stops_at_the_next_inference_boundary(tmp_path):
    import signal
    ticks = itertools.count()

    def clock():  # Ctrl-C at the 100th reading, during the 99th inference's boundary
        tick = next(ticks)
        if tick == 100:
            signal.raise_signal(signal.SIGINT)
        return tick * 0.001

    s = soak_module.run_soak("digits", "leo-alsat1", 3e6, 0.001, "none", seed=2, log=str(tmp_path / "l.jsonl"),
                             clock=clock)
    events = read_log(tmp_path / "l.jsonl")
    # The boundary at tick 100 completes its inference; the next boundary stops.
    assert s["interrupted"] and s["inferences"] == 100 == len(events["inference"])
    assert s["covered_hours"] == pytest.approx(0.1 / 3600)
    assert s["upsets"]["total"] == len(events["upset"]) and all(u["t_s"] <= 0.1 for u in events["upset"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_before_any_time_passed_raises():
    import signal

    def clock():
        signal.raise_signal(signal.SIGINT)
        return 0.0
    with pytest.raises(KeyboardInterrupt):
        soak_module.run_soak("digits", "leo-alsat1", 1.0, 0.001, "none", clock=clock)

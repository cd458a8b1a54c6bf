"""Structure fuzzer driver: every model in its own forked child, classified by what escapes.

    python -m tests.fuzz.driver --models N --seed S --workers 2 --out DIR
    python -m tests.fuzz.driver --seeds 17,4242 --out DIR      # re-run given seeds

How it works. The driver imports radrt, numpy and onnx once, then keeps up to
`--workers` children in flight; each child is a fork(), so it starts warm and
no fault of one model can leak into the next (a heap corrupted by model k
cannot abort model k+1 and get blamed on it). A child, for model id `seed`:

1. caps its address space (RLIMIT_AS = its size at fork + --mem-cap-mb) and
   arms faulthandler: a fatal signal dumps the Python stack to a file, and a
   watchdog thread dumps it and exits after --timeout seconds;
2. generates the model (`generator.generate(seed)`), opens
   `InferenceSession(model_bytes, max_memory_bytes=BUDGET)` (the keyword is
   left out when radrt refuses it with a TypeError), feeds random inputs of the
   declared dtypes and shapes (symbolic or negative dims fed as 2; a feed above
   --max-feed-elements is the user's memory, not radrt's, so the run is
   skipped), runs once, frees the session and calls malloc_trim(0), so that
   a heap overflow is caught by glibc's checks in this child (see below);
3. writes one JSON result line to a pipe and _exit()s. It marks each stage
   ('@stage load|feed|run|close') in its stack file, so a crash names its stage.

Before forking, the parent runs 200 valid models itself (warm_up) and freezes
the gc, so each child starts with every cache filled and copies few pages.
A model that crashes or hangs in run() is re-run once step by step through
the public paused_run() API, marking each plan step, so the finding names the
kernel it died in (signature suffix [OpType]).

Outcomes. ok, ok_unfed (loaded, feed too large to make) and radrt_error (an
instance of runtime.errors.RadrtError) are fine. Findings: other_exception
(any other exception), memory_error (MemoryError), over_budget (the child's
peak RSS grew more than budget + feed and returned output bytes + --slack-mb), crash (killed by a
signal or died without a result), hang (the watchdog fired, or the parent
killed it after --timeout + 5 s). harness_error: the generator failed (a bug
here, reported and counted as a finding so it gets fixed).

glibc's checking malloc (libc_malloc_debug.so, MALLOC_CHECK_=3) is preloaded
when present: the driver re-executes itself with it unless --no-malloc-check.
It puts a guard byte after every heap block and checks it in free(): a kernel
writing past its region aborts (SIGABRT) when the session is freed, where a
plain heap usually survives a single run.

Output in DIR: log/<outcome>.jsonl (one line per model), summary.json and
summary.txt (counts by outcome, error class, op, mutation; findings by
signature = outcome, exception type or signal, innermost frame in runtime/),
and under repros/ (or --repro-dir) one folder per signature with the
smallest model seen (model.onnx, result.json, repro.py). Exit status 1 when
any finding was recorded.

Test hooks: --inject-crash SEED makes that child call os.abort(),
--inject-hang SEED makes it sleep past the watchdog, --inject-alloc SEED makes
it allocate budget + slack + 64 MiB just before loading the model.
"""
import argparse
import ctypes
import faulthandler
import gc
import inspect
import json
import os
import random
import re
import resource
import select
import signal
import sys
import time
import traceback
import warnings
from collections import Counter, defaultdict
from pathlib import Path

# Single-threaded numeric libraries: forked children must not inherit thread pools.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import onnx.reference  # noqa: E402,F401  (radrt folds with it; import before forking, once)

import runtime  # noqa: E402
from runtime.errors import RadrtError  # noqa: E402

from .generator import build, generate  # noqa: E402

FINDINGS = ("other_exception", "memory_error", "over_budget", "crash", "hang", "harness_error")
OUTCOMES = ("ok", "ok_unfed", "radrt_error") + FINDINGS
MiB = 1 << 20


class Config:
    def __init__(self, args):
        self.timeout = args.timeout
        self.budget = args.budget_mb * MiB
        self.mem_cap = args.mem_cap_mb * MiB
        self.slack = args.slack_mb * MiB
        self.max_feed_elements = args.max_feed_elements
        self.inject_crash = set(args.inject_crash)
        self.inject_hang = set(args.inject_hang)
        self.inject_alloc = set(args.inject_alloc)
        self.tmp = Path(args.out) / "tmp"
        self.pass_budget = _accepts_budget(self.budget)


def _accepts_budget(budget: int) -> bool:
    """Whether InferenceSession takes max_memory_bytes (a named parameter, or accepted by a
    probe on a valid model once unknown keywords raise TypeError)."""
    if "max_memory_bytes" in inspect.signature(runtime.InferenceSession).parameters:
        return True
    model, _ = build(random.Random(-1))
    try:
        runtime.InferenceSession(model.SerializeToString(), max_memory_bytes=budget).close()
    except TypeError:
        return False
    return True


# ---- the child ----------------------------------------------------------------------------

def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _feed_dim(d) -> int:
    return d if isinstance(d, int) and d >= 0 else 2


def _feeds(sess, rng, max_elements):
    """Random feeds for the session's inputs, or None when one would exceed max_elements."""
    feeds, nbytes = {}, 0
    for arg in sess.get_inputs():
        shape = [_feed_dim(d) for d in arg.shape]
        count = 1
        for d in shape:
            count *= d
        if count > max_elements:
            return None, 0
        dtype = np.dtype(arg.dtype)
        if dtype.kind == "f":
            a = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            a = rng.random(shape) < 0.5
        else:
            a = rng.integers(0, 3, size=shape).astype(dtype)
        feeds[arg.name] = a
        nbytes += a.nbytes
    return feeds, nbytes


def _exc_result(e: BaseException) -> dict:
    tb = traceback.extract_tb(e.__traceback__)
    return {"exc_type": type(e).__name__, "message": str(e)[:300],
            "frame": _runtime_frame([(f.filename, f.name) for f in tb]),
            "traceback": "".join(traceback.format_list(tb[-4:]))[-1500:]}


def _runtime_frame(frames) -> str:
    """Innermost frame (filename, function) inside the runtime package, as 'runtime/x.py:func'."""
    for filename, func in reversed(frames):
        m = re.search(r"(runtime/.*\.py)$", filename.replace(os.sep, "/"))
        if m:
            return f"{m.group(1)}:{func}"
    return "outside-runtime"


_markers = None  # the child's stack file: '@stage NAME' / '@step K OP 'NAME'' lines


def _mark(line: str) -> None:
    if _markers is not None:
        _markers.write(line + "\n")
        _markers.flush()


def _run_stepwise(sess, feeds) -> None:
    """run(), one plan step at a time through the public paused_run() API, marking each
    step first, so that a crash or hang names the kernel (diagnostic re-runs only)."""
    with sess.paused_run(feeds) as paused:
        for k, step in enumerate(sess.compiled.plan.steps):
            _mark(f"@step {k} {step.node.op_type} '{step.node.name}'")
            paused.advance_to(k + 1)
        _mark("@step finish")
        paused.finish()


def run_one(seed: int, cfg: Config, diagnose: bool = False) -> dict:
    """Everything a child does for one model; returns the result dict."""
    t0 = time.monotonic()
    res = {"seed": seed, "stage": "generate"}
    try:
        model, meta = generate(seed)
    except Exception as e:  # a generator bug: reported, not blamed on radrt
        res.update(outcome="harness_error", **_exc_result(e))
        return res
    res.update(meta=meta, model_bytes=len(model))
    if seed in cfg.inject_crash:
        os.abort()
    if seed in cfg.inject_hang:
        time.sleep(cfg.timeout * 10)
    rss0 = _status_kib("VmRSS") * 1024
    peaks = {}  # stage -> peak RSS growth (bytes) by the end of that stage

    def stage(name):
        if res["stage"] != "generate":
            peaks[res["stage"]] = _status_kib("VmHWM") * 1024 - rss0
        res["stage"] = name
        _mark(f"@stage {name}")

    feed_bytes, sess = 0, None
    try:
        stage("load")
        if seed in cfg.inject_alloc:  # test hook: an allocation above budget + slack
            hog = np.ones(cfg.budget + cfg.slack + 64 * MiB, np.uint8)
            del hog
        kwargs = {"max_memory_bytes": cfg.budget} if cfg.pass_budget else {}
        sess = runtime.InferenceSession(model, **kwargs)
        stage("feed")
        feeds, feed_bytes = _feeds(sess, np.random.default_rng(seed), cfg.max_feed_elements)
        if feeds is None:
            res["outcome"] = "ok_unfed"
        else:
            stage("run")
            if diagnose:
                _run_stepwise(sess, feeds)
            else:
                # The returned outputs are copies the caller owns (the output region is
                # reused by the next run): like the feeds, they are outside the budget.
                feed_bytes += sum(o.nbytes for o in sess.run(None, feeds))
            res["outcome"] = "ok"
        stage("close")
        sess.close()
    except RadrtError as e:
        res.update(outcome="radrt_error", error_class=type(e).__name__, message=str(e)[:300])
    except MemoryError as e:
        res.update(outcome="memory_error", **_exc_result(e))
    except BaseException as e:  # anything else escaping radrt is a finding
        res.update(outcome="other_exception", **_exc_result(e))
    failed_at = res["stage"]
    del sess
    gc.collect()
    ctypes.CDLL(None).malloc_trim(0)
    stage("freed")
    res["stage"] = failed_at if res["outcome"] != "ok" else "freed"
    limit = cfg.budget + feed_bytes + cfg.slack
    res["peak_mib"] = round(max(peaks.values()) / MiB, 1)
    res["seconds"] = round(time.monotonic() - t0, 3)
    over = [st for st, peak in peaks.items() if peak > limit]
    if over and res["outcome"] not in FINDINGS:
        res.update(outcome="over_budget", over_stage=over[0], budget_mib=cfg.budget // MiB)
    return res


def _child(seed: int, cfg: Config, wfd: int, diagnose: bool) -> None:
    global _markers
    code = 0
    try:
        warnings.simplefilter("ignore")  # numpy overflow warnings on extreme values: noise here
        fh = _markers = open(cfg.tmp / f"{seed}.stack", "w")
        faulthandler.enable(file=fh)
        faulthandler.dump_traceback_later(cfg.timeout, exit=True, file=fh)
        vm = _status_kib("VmSize") * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + cfg.mem_cap, vm + cfg.mem_cap))
        res = run_one(seed, cfg, diagnose)
        faulthandler.cancel_dump_traceback_later()
        os.write(wfd, (json.dumps(res) + "\n").encode())
    except BaseException:
        traceback.print_exc()
        code = 3
    finally:
        os._exit(code)


# ---- the parent ---------------------------------------------------------------------------

class Running:
    def __init__(self, seed, pid, rfd, deadline):
        self.seed, self.pid, self.rfd, self.deadline = seed, pid, rfd, deadline
        self.data = b""
        self.killed = False


def _spawn(seed: int, cfg: Config, diagnose: bool = False) -> Running:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        _child(seed, cfg, wfd, diagnose)
    os.close(wfd)
    return Running(seed, pid, rfd, time.monotonic() + cfg.timeout + 5)


def _stack_frame(path: Path) -> str:
    """Innermost runtime frame of a faulthandler dump ('File "...", line N in func')."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "no-stack"
    blocks = [b for b in text.split("\n\n") if 'File "' in b]  # first: the crashing thread
    frames = re.findall(r'File "([^"]+)", line \d+ in (\S+)', blocks[0] if blocks else "")
    return _runtime_frame(list(reversed(frames)))  # faulthandler lists the innermost first


def _finish(r: Running, status: int, cfg: Config) -> dict:
    stack = cfg.tmp / f"{r.seed}.stack"
    line = r.data.decode(errors="replace").strip()
    if line and not r.killed and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        res = json.loads(line)
    else:
        res = {"seed": r.seed}
        text = stack.read_text(errors="replace") if stack.exists() else ""
        if r.killed or "Timeout (" in text:
            res.update(outcome="hang", frame=_stack_frame(stack), exc_type=f"timeout>{cfg.timeout}s")
        else:
            sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
            what = signal.Signals(sig).name if sig else f"exit{os.WEXITSTATUS(status)}"
            res.update(outcome="crash", exc_type=what, frame=_stack_frame(stack))
        stages = re.findall(r"^@stage (\S+)", text, re.M)
        steps = re.findall(r"^@step (.*)$", text, re.M)
        res["stage"] = stages[-1] if stages else "start"
        if res["outcome"] == "crash" and res["frame"] == "outside-runtime" and res["stage"] != "generate":
            # glibc's checks abort in a later free()/malloc(): some kernel wrote past its buffer
            res["frame"] = "heap-corruption-detected-later"
        if steps:
            res["step"] = steps[-1]
        res["stack"] = text[-1500:]
        try:
            res["meta"] = generate(r.seed)[1]
        except Exception:  # the child reported it already as a harness error, if it got that far
            pass
    stack.unlink(missing_ok=True)
    return res


def _diagnose(res: dict, cfg: Config) -> dict:
    """Re-runs a model that crashed or hung in run() step by step, to name the kernel."""
    r = _spawn(res["seed"], cfg, diagnose=True)
    while True:
        pid, status = os.waitpid(r.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > r.deadline and not r.killed:
            os.kill(r.pid, signal.SIGKILL)
            r.killed = True
        time.sleep(0.05)
    r.data = os.read(r.rfd, 1 << 16)
    os.close(r.rfd)
    again = _finish(r, status, cfg)
    step = again.get("step", "")
    res["step"] = step if again["outcome"] == res["outcome"] else f"not reproduced stepwise ({again['outcome']})"
    return res


def signature(res: dict) -> str:
    o = res["outcome"]
    if o == "radrt_error":
        return f"radrt_error:{res['error_class']}"
    if o in ("ok", "ok_unfed"):
        return o
    if o == "over_budget":
        return f"over_budget@{res.get('over_stage')}"
    sig = f"{o}:{res.get('exc_type')}@{res.get('frame')}"
    step = res.get("step", "").split()
    if len(step) >= 2:  # '@step K OP NAME': the kernel it died in
        sig += f"[{step[1]}]"
    return sig


def warm_up(n: int = 200) -> None:
    """Runs n unmutated (valid) models in the parent, so that every lazy import, schema
    cache and first-call set-up happens once here and not again in each forked child."""
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    for k in range(1, n + 1):
        model, _ = build(random.Random(-k))
        generate(k)
        try:
            sess = runtime.InferenceSession(model.SerializeToString())
            feeds, _ = _feeds(sess, rng, 1 << 16)
            if feeds is not None:
                sess.run(None, feeds)
            sess.close()
        except Exception:  # warm-up only: the children classify every model, this one too
            pass


def run_seeds(seeds, cfg: Config, workers: int, sink) -> None:
    """Runs every seed in a forked child, at most `workers` at once; calls sink(result)."""
    cfg.tmp.mkdir(parents=True, exist_ok=True)
    warm_up()
    gc.collect()
    gc.freeze()  # children's gc.collect() must not touch (and so copy) every inherited page
    todo = list(reversed(seeds))
    running = {}
    while todo or running:
        while todo and len(running) < workers:
            r = _spawn(todo.pop(), cfg)
            running[r.rfd] = r
        ready, _, _ = select.select(list(running), [], [], 0.5)
        for fd in ready:
            r = running[fd]
            chunk = os.read(fd, 1 << 16)
            r.data += chunk
            if not chunk:
                os.close(fd)
                del running[fd]
                _, status = os.waitpid(r.pid, 0)
                res = _finish(r, status, cfg)
                if res["outcome"] in ("crash", "hang") and res.get("stage") == "run":
                    res = _diagnose(res, cfg)
                sink(res)
        now = time.monotonic()
        for r in running.values():
            if now > r.deadline and not r.killed:
                os.kill(r.pid, signal.SIGKILL)
                r.killed = True


REPRO_PY = '''# Fuzz finding {sig}: seed {seed}. Run: python repro.py (radrt installed; from any folder).
# Regenerate the model: python -m tests.fuzz.driver --seeds {seed} --out /tmp/fz (in the radrt repo)
# Heap overflows abort reliably under glibc's checking malloc:
#   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0 MALLOC_CHECK_=3 python repro.py
import os, numpy as np, runtime
here = os.path.dirname(os.path.abspath(__file__))
sess = runtime.InferenceSession(os.path.join(here, "model.onnx"))
rng = np.random.default_rng({seed})
feeds = {{}}
for a in sess.get_inputs():
    shape = [d if isinstance(d, int) and d >= 0 else 2 for d in a.shape]
    feeds[a.name] = (rng.standard_normal(shape) if a.dtype.kind == "f" else
                     rng.integers(0, 3, size=shape)).astype(a.dtype)
print([o.shape for o in sess.run(None, feeds)])
'''


class Report:
    """Accumulates results: the JSON-lines logs, counts, and the smallest model per finding."""

    def __init__(self, out: Path, repro_dir: Path):
        self.out, self.repro_dir = out, repro_dir
        (out / "log").mkdir(parents=True, exist_ok=True)
        self.logs = {o: open(out / "log" / f"{o}.jsonl", "w") for o in OUTCOMES}
        self.by_outcome, self.by_error = Counter(), Counter()
        self.by_op, self.by_mutation = defaultdict(Counter), defaultdict(Counter)
        self.findings = {}  # signature -> {"count", "seeds", "example"}
        self.n = 0

    def add(self, res: dict) -> None:
        self.n += 1
        o = res["outcome"]
        self.logs[o].write(json.dumps(res) + "\n")
        self.by_outcome[o] += 1
        sig = signature(res)
        if o == "radrt_error":
            self.by_error[res["error_class"]] += 1
        meta = res.get("meta") or {}
        for op in meta.get("ops", []):
            self.by_op[op][o] += 1
        for m in meta.get("mutations", []) or ["(none)"]:
            self.by_mutation[m.split(":")[0]][o] += 1
        if o in FINDINGS:
            f = self.findings.setdefault(sig, {"count": 0, "seeds": [], "example": res,
                                               "messages": Counter()})
            f["count"] += 1
            f["messages"][re.sub(r"\d+", "N", res.get("message", ""))[:160]] += 1
            if len(f["seeds"]) < 20:
                f["seeds"].append(res["seed"])
            if res.get("model_bytes", 1 << 30) < f["example"].get("model_bytes", 1 << 30):
                f["example"] = res

    def write(self, elapsed: float, budget_passed: bool) -> dict:
        for f in self.logs.values():
            f.close()
        for sig, f in self.findings.items():
            seed = f["example"]["seed"]
            d = self.repro_dir / re.sub(r"[^A-Za-z0-9_.@-]+", "_", sig)[:120]
            d.mkdir(parents=True, exist_ok=True)
            try:
                (d / "model.onnx").write_bytes(generate(seed)[0])
            except Exception:  # a harness_error signature has no model
                pass
            (d / "result.json").write_text(json.dumps(f["example"], indent=1) + "\n")
            (d / "repro.py").write_text(REPRO_PY.format(sig=sig, seed=seed))
            f["repro"] = str(d)
        summary = {
            "models": self.n, "seconds": round(elapsed, 1),
            "models_per_s": round(self.n / max(elapsed, 1e-9), 1),
            "max_memory_bytes_passed": budget_passed,
            "by_outcome": dict(self.by_outcome), "findings_total": sum(
                self.by_outcome[o] for o in FINDINGS),
            "by_error_class": dict(self.by_error),
            "findings": {s: {"count": f["count"], "seeds": f["seeds"], "repro": f["repro"],
                             "messages": dict(f["messages"].most_common(5))}
                         for s, f in sorted(self.findings.items(), key=lambda kv: -kv[1]["count"])},
            "by_op": {op: dict(c) for op, c in sorted(self.by_op.items())},
            "by_mutation": {m: dict(c) for m, c in sorted(self.by_mutation.items())},
        }
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        lines = [f"{self.n} models in {elapsed:.0f} s ({summary['models_per_s']} models/s)",
                 "outcomes: " + ", ".join(f"{k}={v}" for k, v in self.by_outcome.most_common()),
                 "radrt errors: " + ", ".join(f"{k}={v}" for k, v in self.by_error.most_common()),
                 f"findings: {summary['findings_total']}"]
        for s, f in summary["findings"].items():
            lines.append(f"  {f['count']:6d}  {s}  seeds {f['seeds'][:5]}  {f['repro']}")
            lines.extend(f"          {n:6d}  {m}" for m, n in f["messages"].items() if m)
        (self.out / "summary.txt").write_text("\n".join(lines) + "\n")
        return summary


MALLOC_DEBUG = "/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"


def _reexec_with_malloc_check() -> None:
    """Re-runs this command with glibc's checking malloc: every heap block gets a guard byte
    that free() verifies, so a kernel writing past its buffer aborts in the child that did it
    (a plain heap often survives one overflow and fails much later, or never)."""
    lib = os.environ.get("RADRT_FUZZ_MALLOC_DEBUG", MALLOC_DEBUG)
    if os.environ.get("MALLOC_CHECK_") == "3" or not os.path.exists(lib):
        return
    env = dict(os.environ, MALLOC_CHECK_="3",
               LD_PRELOAD=" ".join(filter(None, [os.environ.get("LD_PRELOAD"), lib])))
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "tests.fuzz.driver"] + sys.argv[1:], env)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.fuzz.driver", description=__doc__.split("\n")[0])
    p.add_argument("--models", type=int, default=1000, help="models to run (ids SEED .. SEED+N-1)")
    p.add_argument("--seed", type=int, default=0, help="first model id")
    p.add_argument("--seeds", default=None, help="comma-separated model ids instead of a range")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", required=True, help="output folder (logs, summary, repros)")
    p.add_argument("--repro-dir", default=None, help="where finding repros go (default OUT/repros)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per model before it is a hang")
    p.add_argument("--budget-mb", type=int, default=256, help="max_memory_bytes given to radrt")
    p.add_argument("--mem-cap-mb", type=int, default=2048, help="RLIMIT_AS above the child's size at fork")
    p.add_argument("--slack-mb", type=int, default=96, help="peak RSS growth allowed beyond budget + feeds")
    p.add_argument("--max-feed-elements", type=int, default=1 << 22)
    p.add_argument("--inject-crash", type=int, action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--inject-hang", type=int, action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--inject-alloc", type=int, action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--no-malloc-check", action="store_true",
                   help="do not re-run under glibc's checking malloc (libc_malloc_debug)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not args.no_malloc_check and argv is None:
        _reexec_with_malloc_check()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else \
        list(range(args.seed, args.seed + args.models))
    out = Path(args.out)
    cfg = Config(args)
    report = Report(out, Path(args.repro_dir) if args.repro_dir else out / "repros")
    t0 = time.monotonic()

    def sink(res):
        report.add(res)
        if not args.quiet and report.n % 1000 == 0:
            print(f"{report.n}/{len(seeds)} models, {time.monotonic() - t0:.0f} s, "
                  f"findings {sum(report.by_outcome[o] for o in FINDINGS)}", flush=True)

    run_seeds(seeds, cfg, args.workers, sink)
    summary = report.write(time.monotonic() - t0, cfg.pass_budget)
    try:
        cfg.tmp.rmdir()
    except OSError:
        pass
    print((out / "summary.txt").read_text(), end="")
    return 1 if summary["findings_total"] else 0


if __name__ == "__main__":
    sys.exit(main())

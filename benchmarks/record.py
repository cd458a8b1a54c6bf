"""Write the benchmark record: `radrt bench --vs-ort` on the nine light models, per protection mode.

    .venv/bin/python benchmarks/record.py [--repeat N] [--out benchmarks/light_models.md]

Runs each model with radrt (modes none, scrub with the background scrubber running,
dwc, tmr, abft) and onnxruntime (1 intra-op thread) interleaved, and writes a dated
Markdown table with the machine's CPU model line, the medians, the ratios to
onnxruntime and to unprotected, their geometric means, the memory each mode holds
(planned regions, and the resident-set growth of making and running a session),
and the throughput of the protection primitives (CRC32C, seal, vote, scrub).
"""
import argparse
import datetime
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from runtime.bench import bench_model, geomean  # noqa: E402
from runtime.protect.modes import MODES  # noqa: E402
from runtime.zoo import model_bytes  # noqa: E402
from runtime.zoo import LIGHT_MODELS  # noqa: E402


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features() -> str:
    """The vector ISA the C core was built for here (-march=native), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith(("flags", "Features"))), [])
    except OSError:
        return "unknown"
    wanted = ("avx512f", "avx2", "fma", "sse4_2", "asimd", "crc32")
    return ", ".join(w for w in wanted if w in flags) or "baseline"


MEMORY_PROBE = """
import gc, os, sys
from runtime.zoo import model_bytes
from runtime.feeds import random_feeds
from runtime.session import InferenceSession
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
data = model_bytes(sys.argv[1])
gc.collect()
base = rss()
sess = InferenceSession(data, protection=sys.argv[2], scrub_interval_s=None)
sess.run(None, random_feeds(sess, seed=0))
gc.collect()
plan = sess.compiled.plan
print(plan.region_bytes["weights"], plan.total_bytes(sys.argv[2]), rss() - base)
"""


def memory_rows(name: str):
    """Per mode, in a fresh interpreter each: planned region bytes (weights x copies + arenas x
    replicas) and the resident-set growth of making the session and running it once (MiB)."""
    import subprocess
    rows, weights = {}, 0.0
    for mode in MODES:
        out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, name, mode], capture_output=True, text=True,
                             check=True, cwd=os.path.dirname(HERE)).stdout.split()
        weights = int(out[0]) / 2**20
        rows[mode] = (int(out[1]) / 2**20, int(out[2]) / 2**20)
    return weights, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", default=os.path.join(HERE, "light_models.md"))
    args = ap.parse_args()
    import onnxruntime

    from benchmarks import protect_c
    modes = ("none", "scrub", "dwc", "tmr", "abft")
    rows, by_mode = [], {}
    for name in LIGHT_MODELS:
        per_mode = {r.mode: r for r in bench_model(name, model_bytes(name), args.repeat, True, modes)}
        row = per_mode["none"]
        by_mode[row.model] = per_mode
        print(f"{row.model:<16}{row.radrt_ms:10.2f}{row.ort_ms:10.2f}{row.ratio:8.2f}  "
              + " ".join(f"{m} {per_mode[m].vs_none:.2f}" for m in modes[1:]), flush=True)
        rows.append(row)
    g = geomean([r.ratio for r in rows])
    primitives = protect_c.main()
    lines = [
        "# Benchmark record: light models, radrt vs onnxruntime",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores; {cpu_features()})",
        f"- onnxruntime {onnxruntime.__version__}, 1 intra-op and 1 inter-op thread, all graph optimisations",
        f"- command: `.venv/bin/python benchmarks/record.py --repeat {args.repeat}` "
        f"(same as `radrt bench {' '.join(LIGHT_MODELS)} --vs-ort --protect none --protect scrub "
        f"--protect dwc --protect tmr --protect abft --repeat {args.repeat}`)",
        "- weights re-drawn with seed 0, inputs uniform [0, 1) with seed 0, batch 1; `scrub` runs its "
        "background scrubber (0.1 s period, 1 MiB per copy per wake-up) during the timing",
        f"- medians of {args.repeat} runs each, runs interleaved; shared machine, so read the ratios",
        "",
        "| model | radrt ms | onnxruntime ms | ratio | scrub / none | dwc / none | tmr / none | abft / none |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {r.model} | {r.radrt_ms:.2f} | {r.ort_ms:.2f} | {r.ratio:.2f} | "
              + " | ".join(f"{by_mode[r.model][m].vs_none:.2f}" for m in modes[1:]) + " |" for r in rows]
    lines += ["", f"Geometric mean of ratios radrt/onnxruntime (unprotected): **{g:.2f}**; worst: "
              f"{max(rows, key=lambda r: r.ratio).model} at {max(r.ratio for r in rows):.2f}."]
    for m in modes[1:]:
        vs = [by_mode[r.model][m].vs_none for r in rows]
        lines.append(f"Geometric mean {m} / none: **{geomean(vs):.2f}** (worst {max(vs):.2f}).")
    lines += ["", "Memory per mode (MiB): planned regions (weights x copies + (arena + input + output) x "
              "replicas) / resident-set growth of making the session and running it once, in a fresh "
              "interpreter (the model's bytes already in memory; includes the compiled graph and the plan's "
              "own arrays of the weights, about 1 x weights in every mode):", "",
              "| model | weights | " + " | ".join(MODES) + " |", "| --- | ---: | " + " | ".join("---:" for _ in MODES) + " |"]
    for r in rows:
        weights, mem = memory_rows(r.model)
        lines.append(f"| {r.model} | {weights:.1f} | " + " | ".join(f"{mem[m][0]:.1f} / {mem[m][1]:.1f}" for m in MODES) + " |")
    lines += ["", "Protection primitives (`benchmarks/protect_c.py`, 64 MiB buffers, median of 7; "
              "GB/s = bytes read per second):", "", "| primitive | ms | GB/s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {ms:.2f} | {gbs:.2f} |" for name, ms, gbs in primitives]
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"geometric mean {g:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

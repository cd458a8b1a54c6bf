"""Write the benchmark record: `radrt bench --vs-ort` on the nine light models.

    .venv/bin/python benchmarks/record.py [--repeat N] [--out benchmarks/light_models.md]

Runs each model with radrt and onnxruntime (1 intra-op thread) interleaved, and
writes a dated Markdown table with the machine's CPU model line, the medians,
the ratios and their geometric mean.
"""
import argparse
import datetime
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from runtime.bench import bench_model, geomean  # noqa: E402
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", default=os.path.join(HERE, "light_models.md"))
    args = ap.parse_args()
    import onnxruntime
    rows = []
    for name in LIGHT_MODELS:
        row = bench_model(name, model_bytes(name), args.repeat, vs_ort=True)
        print(f"{row.model:<16}{row.radrt_ms:10.2f}{row.ort_ms:10.2f}{row.ratio:8.2f}", flush=True)
        rows.append(row)
    g = geomean([r.ratio for r in rows])
    lines = [
        "# Benchmark record: light models, radrt vs onnxruntime",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores)",
        f"- onnxruntime {onnxruntime.__version__}, 1 intra-op and 1 inter-op thread, all graph optimisations",
        f"- command: `.venv/bin/python benchmarks/record.py --repeat {args.repeat}` "
        f"(same as `radrt bench {' '.join(LIGHT_MODELS)} --vs-ort --repeat {args.repeat}`)",
        "- weights re-drawn with seed 0, inputs uniform [0, 1) with seed 0, batch 1, protection none",
        f"- medians of {args.repeat} runs each, runs interleaved; shared machine, so read the ratios",
        "",
        "| model | radrt ms | onnxruntime ms | ratio |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {r.model} | {r.radrt_ms:.2f} | {r.ort_ms:.2f} | {r.ratio:.2f} |" for r in rows]
    lines += ["", f"Geometric mean of ratios: **{g:.2f}**; worst: {max(rows, key=lambda r: r.ratio).model} "
              f"at {max(r.ratio for r in rows):.2f}.", ""]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"geometric mean {g:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Markdown table of fault-injection campaigns from `radrt fi run --json` summaries.

    python benchmarks/campaign_table.py SUMMARY.json ...

Each SUMMARY is the JSON `radrt fi run ... --json` printed, saved as MODEL-MODE-FAULTMODEL.json.
Prints one row per campaign: counts per outcome with their 95 % Wilson intervals (as
percentages, fault_injection.stats), and injections per second.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from fault_injection.stats import wilson_interval  # noqa: E402
from fault_injection.vocabulary import OUTCOMES  # noqa: E402

SHOWN = ("masked", "tolerable", "corrected", "due", "sdc", "critical_sdc", "crash", "hang")


def cell(k: int, n: int) -> str:
    lo, hi = wilson_interval(k, n)
    return f"{k} [{100 * lo:.2f}, {100 * hi:.2f}]"


def main(paths) -> int:
    assert set(SHOWN) == set(OUTCOMES), "the outcome vocabulary changed"
    print("| model | mode | fault model | injections | " + " | ".join(SHOWN) + " | injections/s |")
    print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in SHOWN) + " | ---: |")
    for path in paths:
        model, mode, fault_model = os.path.basename(path)[:-len(".json")].split("-", 2)
        with open(path) as f:
            s = json.load(f)
        n = s["total"]
        print(f"| {model} | {mode} | {fault_model} | {n} | " + " | ".join(cell(s["outcomes"].get(o, 0), n) for o in SHOWN)
              + f" | {s['injections_per_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Campaign throughput: injections per second, with and without prefix reuse.

    .venv/bin/python benchmarks/campaign.py [--faults N] [--out benchmarks/campaigns.md]

For each model and protection mode, the same seeded fault list (weights,
activations, compute; single-bit flips) runs twice: once with the executor's 2
local worker processes (snapshot restore at each fault's first op, early
convergence: the default), once with the naive method (`prefix_reuse=False`: a
fresh session per fault, a full run, in this process). Both must give the same
per-fault outcomes; the speed-up is the ratio of their rates. Per-worker rates
against a plain loop and full runs: benchmarks/fi_throughput.py.
"""
import argparse
import datetime
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks.record import cpu_model  # noqa: E402
from fault_injection.campaign import run_campaign  # noqa: E402
from fault_injection.store import CampaignStore  # noqa: E402

SITES = ["weights", "activations", "compute"]


def outcomes(db):
    store = CampaignStore.open_existing(db)
    try:
        return {r["fault_id"]: r["outcome"] for r in store.rows()}
    finally:
        store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faults", type=int, default=400)
    ap.add_argument("--out", default=os.path.join(HERE, "campaigns.md"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("digits", "squeezenet", "resnet50"):
            for mode in ("none", "tmr"):
                rates = {}
                for reuse in (True, False):
                    db = os.path.join(tmp, f"{model}-{mode}-{reuse}.sqlite")
                    s = run_campaign(model, SITES, "flip", mode, seed=1, db=db, faults=args.faults,
                                     workers=2, prefix_reuse=reuse)
                    rates[reuse] = s["injections_per_s"]
                    sdc = s["outcomes"]["sdc"] + s["outcomes"]["critical_sdc"]
                same = outcomes(os.path.join(tmp, f"{model}-{mode}-True.sqlite")) == \
                    outcomes(os.path.join(tmp, f"{model}-{mode}-False.sqlite"))
                rows.append((model, mode, rates[True], rates[False], rates[True] / rates[False], sdc, same))
                print(rows[-1], flush=True)
    lines = [
        "# Benchmark record: fault-injection campaign throughput",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores), 2 local workers",
        f"- command: `.venv/bin/python benchmarks/campaign.py --faults {args.faults}`",
        f"- {args.faults} single-bit flips (seed 1) over weights, activations and compute; light models "
        "with weights re-drawn (seed 0)",
        "",
        "| model | protection | injections/s (prefix reuse) | injections/s (naive) | speed-up | SDC+critical | same outcomes |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {m} | {p} | {a:.1f} | {b:.1f} | {r:.2f} | {sdc} | {'yes' if same else 'NO'} |"
              for m, p, a, b, r, sdc, same in rows]
    lines.append("")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
